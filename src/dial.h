/*
 * dial.h - the one dial path: direct (async DNS for names, SO_MARK,
 * non-blocking connect with a timeout) or through a chain of hops, where
 * each hop's node is reached over the previous tunnel, wrapped by its
 * dialer (tcp, tls) and asked by its connector (socks5, http, relay) for
 * the next tunnel. Failed nodes are marked per the hop's selector and the
 * chain is retried through another node.
 */
#ifndef TP_DIAL_H
#define TP_DIAL_H

#include "tproxyd.h"
#include "util.h"

struct bufferevent;
struct event;
struct tp_worker;
struct tp_node;
struct tp_hop;
struct evdns_getaddrinfo_request;

/* Result: bev connected to the target (owned by the caller now), or NULL
 * with err (errno-like, ETIMEDOUT for timeouts) and why. */
typedef void (*tp_dial_cb)(void *arg, struct bufferevent *bev, int err,
                           const char *why);

struct tp_dial {
    struct tp_worker               *w;
    struct tp_target                target;
    const struct tp_chain          *chain;      /* NULL: direct */
    int64_t                         mark;       /* service-level SO_MARK */
    uint64_t                        timeout_ms;
    tp_dial_cb                      cb;
    void                           *arg;
    struct tp_dial                **owner;      /* cleared when it ends */
    struct bufferevent             *bev;        /* the stream being built */
    struct event                   *timer;
    struct evdns_getaddrinfo_request *dns;
    struct tp_node                 *nodes[16];  /* selected node per hop */
    size_t                          hop;        /* hop being worked on */
    int                             phase;      /* internal step */
    int                             attempts;
    void                           *pctx;       /* connector/dialer state */
    void                          (*pctx_free)(void *pctx);
    char                            why[160];
};

/* Starts a dial and stores it in *owner until it ends (*owner = NULL then,
 * possibly before this returns); cb is called exactly once unless
 * tp_dial_cancel() comes first. */
void tp_dial_start(struct tp_dial **owner, struct tp_worker *w,
    const struct tp_target *t, const struct tp_chain *chain, int64_t mark,
    uint64_t timeout_ms, tp_dial_cb cb, void *arg);
void tp_dial_cancel(struct tp_dial *d);
/* Connectors and dialers report the end of their step: err 0 = go on. */
void tp_dial_step(struct tp_dial *d, int err, const char *why);

/* A non-blocking socket for egress with SO_MARK applied; -1 + errno. */
int tp_socket_egress(int family, int type, int64_t mark);

#endif
