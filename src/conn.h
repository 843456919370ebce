/*
 * conn.h - one relayed TCP flow: its id, state, endpoints, sniffed host,
 * route, the two streams and the counters. tp_conn_close() is the only
 * place a connection is freed and the only place its access-log line is
 * written.
 */
#ifndef TP_CONN_H
#define TP_CONN_H

#include "tproxyd.h"
#include "util.h"
#include "relay.h"

struct bufferevent;
struct event;
struct tp_dial;
struct tp_svc_worker;
struct tp_sniff_conf;

enum tp_conn_state {
    TP_ST_ACCEPTED = 0,
    TP_ST_HANDSHAKE,    /* server handler reading the client's request */
    TP_ST_SNIFF,
    TP_ST_DIAL,
    TP_ST_RELAY,
    TP_ST_CLOSED,
};

/* Why a connection ended: a short word in the access log. */
enum tp_end {
    TP_END_DONE = 0,        /* both sides closed normally */
    TP_END_CLIENT_RESET,
    TP_END_UPSTREAM_RESET,
    TP_END_DIAL_FAILED,
    TP_END_DIAL_TIMEOUT,
    TP_END_IDLE_TIMEOUT,
    TP_END_LOOP,            /* destination is our own listener */
    TP_END_NO_DST,          /* original destination unknown */
    TP_END_PROTOCOL,        /* client or upstream broke the protocol */
    TP_END_AUTH,
    TP_END_DENIED,          /* rule or policy */
    TP_END_SHUTDOWN,        /* worker stopped */
    TP_END_RESOURCE,
    TP_END_INTERNAL,
};

/* Called once the upstream is ready (err 0) or failed; before relaying. */
typedef void (*tp_conn_dialed_cb)(struct tp_conn *c, int err);

struct tp_conn {
    struct tp_conn             *prev, *next;
    struct tp_svc_worker       *sw;
    struct tp_worker           *w;
    uint64_t                    id;
    int                         state;          /* enum tp_conn_state */
    bool                        fell_back;      /* sniffed name failed */
    union tp_sa                 client;         /* v4-mapped unmapped */
    union tp_sa                 orig;           /* original destination
                                                   (AF_UNSPEC: same as dst) */
    struct tp_target           *dst;            /* where it goes; freed once
                                                   relaying (400 bytes) */
    char                       *dst_str;        /* dst, for the logs, from
                                                   then on */
    char                       *host;           /* sniffed name, or NULL */
    const char                 *route;          /* "direct" or chain name */
    const struct tp_chain      *chain;          /* NULL: direct */
    struct bufferevent         *cbev;           /* client side */
    struct bufferevent         *ubev;           /* upstream side */
    struct tp_relay             relay;
    struct tp_dial             *dial;
    struct event               *timer;          /* handshake/sniff timeout */
    const struct tp_sniff_conf *sniff;          /* set by the handler */
    tp_conn_dialed_cb           dialed;
    void                      (*phase_done)(struct tp_conn *c);
    const char                 *proto;          /* handshake's, for logs */
    void                       *hctx;           /* handler's state */
    void                      (*hctx_free)(void *hctx);
    uint64_t                    start_ms;
};

struct tp_conn *tp_conn_new(struct tp_svc_worker *sw, int fd,
    const struct sockaddr *peer, socklen_t len);
/* Server handlers: read the client's request (read_cb on c->cbev) within
 * timeout_ms. A client that goes away or stays silent is closed and logged
 * as "(proto: ...)"; on_timeout, if given, runs instead at the timeout
 * (to answer first, e.g. HTTP 408). */
void tp_conn_handshake(struct tp_conn *c, uint64_t timeout_ms,
    void (*read_cb)(struct bufferevent *bev, void *c),
    void (*on_timeout)(int fd, short what, void *c), const char *proto);
/* Route, sniff (if c->sniff), dial, then relay. *c->dst must be set. */
void tp_conn_forward(struct tp_conn *c);
/* Hand the client stream, with a reply queued in its output, to a small
 * closer that frees it once the reply is written (or after 5 s), so that
 * tp_conn_close() can follow at once and the reply still arrives. */
void tp_conn_detach_flushed(struct tp_conn *c);
/* The single teardown path; writes the access-log line. */
void tp_conn_close(struct tp_conn *c, enum tp_end why, const char *detail);
const char *tp_end_name(enum tp_end why);
/* Log with the connection's context: "#id client -> dst [state]: ..." */
void tp_conn_log(int level, const struct tp_conn *c, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
