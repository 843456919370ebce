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
struct tp_udp_tunnel;

/* Result: bev connected to the target (owned by the caller now), or NULL
 * with err (errno-like, ETIMEDOUT for timeouts) and why. */
typedef void (*tp_dial_cb)(void *arg, struct bufferevent *bev, int err,
                           const char *why);
/* Result of a UDP dial: the tunnel (owned by the caller now), or NULL. */
typedef void (*tp_dial_udp_cb)(void *arg, struct tp_udp_tunnel *t, int err,
                               const char *why);

#define TP_DIAL_MAX_HOPS    16
#define TP_DIAL_MAX_FAILED  32

/* What only a chain dial needs (allocated with it; a direct dial, the
 * common case, is 400 bytes smaller without it). */
struct tp_dial_hops {
    struct tp_node                 *nodes[TP_DIAL_MAX_HOPS]; /* per hop */
    /* Nodes that failed during this dial: not selected again by it. */
    const struct tp_node           *failed[TP_DIAL_MAX_FAILED];
    size_t                          nfailed;
};

struct tp_dial {
    struct tp_worker               *w;
    struct tp_target                target;
    const struct tp_chain          *chain;      /* NULL: direct */
    size_t                          nhops;      /* hops used (hop bypass) */
    const struct tp_sockopts       *so;         /* the service's, or NULL */
    uint64_t                        timeout_ms;
    tp_dial_cb                      cb;
    void                           *arg;
    struct tp_dial                **owner;      /* cleared when it ends */
    struct bufferevent             *bev;        /* the stream being built */
    struct event                   *timer;
    struct evdns_getaddrinfo_request *dns;
    struct tp_dial_hops            *ch;         /* chain dials; NULL direct */
    size_t                          hop;        /* hop being worked on */
    int                             phase;      /* internal step */
    int                             attempts;
    /* Set by a connector once it has asked for the next node or the
     * target and only waits for the answer about it: a timeout then is
     * charged like tp_dial_unreachable(), not to this node. */
    bool                            awaiting_next;
    bool                            in_dns;     /* inside evdns_getaddrinfo */
    int                             dns_result; /* answer that came inside */
    void                           *dns_res;   /* evutil_addrinfo */
    bool                            dns_sync;
    bool                            udp_mode;   /* tp_dial_udp_start() */
    bool                            udp_any;    /* no one destination */
    tp_dial_udp_cb                  ucb;
    struct tp_udp_tunnel           *udp;        /* made by the last hop */
    void                           *pctx;       /* connector/dialer state */
    void                          (*pctx_free)(void *pctx);
    int                             err;        /* last failure */
    char                            why[200];
};

/* Starts a dial and stores it in *owner until it ends (*owner = NULL then,
 * possibly before this returns); cb is called exactly once unless
 * tp_dial_cancel() comes first. timeout_ms bounds one attempt (a pass
 * through the chain, as nginx's proxy_connect_timeout bounds one try); a
 * chain dial makes at most one attempt per node of the chain. */
void tp_dial_start(struct tp_dial **owner, struct tp_worker *w,
    const struct tp_target *t, const struct tp_chain *chain,
    const struct tp_sockopts *so,
    uint64_t timeout_ms, tp_dial_cb cb, void *arg);
void tp_dial_cancel(struct tp_dial *d);
/* Connectors and dialers report the end of their step: err 0 = go on.
 * A failure (errno-like err, one-line why such as "socks5: bad reply
 * version 0x48") is charged to the node of the current hop: it is
 * reported to the hop's selector and the dial is tried again through
 * other nodes. Callbacks on d->bev must be cleared first, and d must not
 * be touched after the call (the dial may have ended). */
void tp_dial_step(struct tp_dial *d, int err, const char *why);
/* A connector's proxy worked but answered that it could not reach what
 * it was asked for (SOCKS5 REP 0x05, HTTP 502, relay 0x07 ...). When that
 * was the next hop's node, the failure is charged to that node and the
 * dial retried; when it was the final target, nobody is blamed and the
 * dial ends with err. Same rules as tp_dial_step() otherwise. */
void tp_dial_unreachable(struct tp_dial *d, int err, const char *why);

/* A datagram tunnel through the chain (it must have hops): every hop but
 * the last is dialled as for TCP, the last node's connector opens the
 * tunnel (its `udp` op) to t, or to any destination when t is NULL. Same
 * selection, retries and timeout as tp_dial_start(); cb gets the tunnel. */
void tp_dial_udp_start(struct tp_dial **owner, struct tp_worker *w,
    const struct tp_target *t, const struct tp_chain *chain,
    const struct tp_sockopts *so,
    uint64_t timeout_ms, tp_dial_udp_cb cb, void *arg);
/* SO_MARK for sockets of the current hop: the node's, else the hop's,
 * else the service's (0: none). */
int64_t tp_dial_mark(const struct tp_dial *d);

/* How many hops of `chain` a flow to `t` uses: GOST's hop bypass cuts the
 * chain before the first hop whose bypass matches (0 = go direct). */
size_t tp_chain_hops(const struct tp_chain *chain, const struct tp_target *t);

/* A non-blocking socket for egress with SO_MARK applied; -1 + errno. */
int tp_socket_egress(int family, int type, int64_t mark);
/* Binds fd to one of so's source addresses of `family`, round robin from
 * *next (the worker's counter), skipping addresses that refuse (ports
 * used up, or not on this host). TCP keeps the port for connect() to
 * choose (IP_BIND_ADDRESS_NO_PORT). 0 when bound or when no source of
 * that family is listed; -1 + errno of the last refusal. */
int tp_socket_bind_source(int fd, int family, int type,
    const struct tp_sockopts *so, unsigned *next);

#endif
