/*
 * relay.h - the one TCP relay core: moves bytes both ways between two
 * streams with bounded buffers and back-pressure, propagates half-close,
 * enforces an idle timeout and counts bytes. Used by every stream handler.
 * Two backends behind one contract: buffered (bufferevents: TLS, replayed
 * bytes) and zero-copy (splice(2) between plain sockets).
 */
#ifndef TP_RELAY_H
#define TP_RELAY_H

#include "tproxyd.h"
#include "poller.h"

struct bufferevent;
struct event;
struct event_base;

enum tp_relay_end {
    TP_RELAY_DONE = 0,      /* both directions finished */
    TP_RELAY_A_RESET,       /* error on side a (client) */
    TP_RELAY_B_RESET,       /* error on side b (upstream) */
    TP_RELAY_IDLE,
};

/* Per-worker cache of pipes: a spliced flow holds one only while bytes
 * are in flight, so idle connections cost no pipe fds. */
struct tp_pipe_pool {
    int           (*pipes)[2];
    size_t          n, cap;
};

struct tp_relay;

/* What a worker's relays share: the loop, the pipe pool, the epoll set of
 * spliced sockets, and one idle sweep (a list of relays from least to
 * most recently active, walked every second) instead of a timer each. */
struct tp_relay_env {
    struct event_base      *base;
    struct tp_poller       *poller;
    struct tp_pipe_pool     pipes;
    struct tp_relay        *oldest, *newest;
    uint64_t                min_idle_ms;    /* shortest idle_ms seen */
    struct event           *sweep;
    uint8_t                *bounce;     /* when no pipe can be had */
};

struct tp_relay_side {
    struct bufferevent     *bev;        /* buffered backend; NULL if spliced */
    struct tp_relay_side   *peer;
    struct tp_relay        *relay;
    uint64_t                bytes;      /* read from this side */
    struct bufferevent     *fin_bottom; /* FIN due once this is drained */
    int                     fd;         /* spliced backend; -1 if buffered */
    bool                    eof;        /* this side sent FIN */
    bool                    shut;       /* we sent FIN to this side */
    bool                    plain;      /* a plain socket: shutdown works */
    bool                    eof_due;    /* EOF seen, handled next turn */
};

struct tp_splice;

struct tp_relay {
    struct tp_relay_side    a, b;       /* a = client, b = upstream */
    struct tp_relay_env    *env;
    struct tp_splice       *splice;     /* zero-copy backend, when used */
    struct tp_relay        *older, *newer;  /* env's idle list */
    struct event           *fin;        /* polls layered FINs (lazy) */
    struct event           *eof_later;  /* layered EOFs, one turn later */
    uint64_t                idle_ms;
    uint64_t                last_ms;    /* last byte moved */
    void                  (*done)(struct tp_relay *r, enum tp_relay_end end);
    int                     err;        /* errno of a reset */
    bool                    listed;     /* on the idle list */
};

/* Start relaying; bytes already buffered on either side are sent first.
 * The relay owns both streams from now on. done() is called exactly once
 * (not after tp_relay_stop); then the owner calls tp_relay_free(). */
int tp_relay_start(struct tp_relay *r, struct tp_relay_env *env,
    struct bufferevent *a, struct bufferevent *b, uint64_t idle_ms,
    void (*done)(struct tp_relay *r, enum tp_relay_end end));
void tp_relay_stop(struct tp_relay *r);
/* Closes both streams; a reset side is closed with RST (SO_LINGER 0). */
void tp_relay_free(struct tp_relay *r, bool reset_a, bool reset_b);
uint64_t tp_relay_now_ms(struct tp_relay *r);
/* Bytes moved: the relay is active now (for the idle sweep). */
void tp_relay_touch(struct tp_relay *r);
/* 0, or -1 when out of memory. Every relay must have ended before free. */
int tp_relay_env_init(struct tp_relay_env *env, struct event_base *base,
    struct tp_poller *poller);
void tp_relay_env_free(struct tp_relay_env *env);
/* The socket of a side, whichever backend holds it (-1 if none). */
int tp_relay_side_fd(const struct tp_relay_side *s);

int tp_pipe_get(struct tp_pipe_pool *pool, int p[2]);
void tp_pipe_put(struct tp_pipe_pool *pool, int p[2]);
void tp_pipe_pool_free(struct tp_pipe_pool *pool);  /* by tp_relay_env_free */

#endif
