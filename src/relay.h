/*
 * relay.h - the one TCP relay core: moves bytes both ways between two
 * streams with bounded buffers and back-pressure, propagates half-close,
 * enforces an idle timeout and counts bytes. Used by every stream handler.
 */
#ifndef TP_RELAY_H
#define TP_RELAY_H

#include "tproxyd.h"

struct bufferevent;
struct event;
struct event_base;

enum tp_relay_end {
    TP_RELAY_DONE = 0,      /* both directions finished */
    TP_RELAY_A_RESET,       /* error on side a (client) */
    TP_RELAY_B_RESET,       /* error on side b (upstream) */
    TP_RELAY_IDLE,
};

struct tp_relay;

struct tp_relay_side {
    struct bufferevent     *bev;
    struct tp_relay_side   *peer;
    struct tp_relay        *relay;
    uint64_t                bytes;      /* read from this side */
    bool                    eof;        /* this side sent FIN */
    bool                    shut;       /* we sent FIN to this side */
    bool                    plain;      /* a plain socket: shutdown works */
};

struct tp_splice;

struct tp_relay {
    struct tp_relay_side    a, b;       /* a = client, b = upstream */
    struct event_base      *base;
    struct tp_splice       *splice;     /* zero-copy backend, when used */
    struct event           *idle;
    uint64_t                idle_ms;
    uint64_t                last_ms;    /* last byte moved */
    int                     err;        /* errno of a reset */
    void                  (*done)(struct tp_relay *r, enum tp_relay_end end);
};

/* Start relaying; bytes already buffered on either side are sent first.
 * The relay takes no ownership: done() is called exactly once and the
 * caller frees both bevs (tp_relay_stop first). */
int tp_relay_start(struct tp_relay *r, struct event_base *base,
    struct bufferevent *a, struct bufferevent *b, uint64_t idle_ms,
    void (*done)(struct tp_relay *r, enum tp_relay_end end));
void tp_relay_stop(struct tp_relay *r);
uint64_t tp_relay_now_ms(struct tp_relay *r);

#endif
