/*
 * dial.c - direct and chained dialing on the worker's loop. A chain dial
 * is a small state machine: reach node 0 over TCP, then for each hop run
 * its dialer handshake (TLS) and its connector (CONNECT to the next node or
 * to the target). Connectors and dialers call tp_dial_step() when their
 * step ends. A failed node is reported to its selector and the whole chain
 * is tried again through other nodes, up to the number of nodes.
 */
#include "tproxyd.h"
#include "dial.h"
#include "conf.h"
#include "log.h"
#include "select.h"
#include "worker.h"

#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { PH_CONNECT, PH_DIALER, PH_CONNECTOR };

static void dial_attempt(struct tp_dial *d);
static void dial_connect(struct tp_dial *d, const struct tp_target *t);

int
tp_socket_egress(int family, int type, int64_t mark)
{
    int fd = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int m = (int) mark;

    if (fd < 0) {
        return -1;
    }
    if (mark != 0 && setsockopt(fd, SOL_SOCKET, SO_MARK, &m, sizeof(m)) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static void
dial_clear(struct tp_dial *d)
{
    if (d->dns != NULL) {
        evdns_getaddrinfo_cancel(d->dns);
        d->dns = NULL;
    }
    if (d->pctx_free != NULL) {
        d->pctx_free(d->pctx);
    }
    d->pctx = NULL;
    d->pctx_free = NULL;
    if (d->bev != NULL) {
        bufferevent_free(d->bev);
        d->bev = NULL;
    }
}

static void
dial_free(struct tp_dial *d)
{
    if (d->owner != NULL) {
        *d->owner = NULL;
    }
    dial_clear(d);
    if (d->timer != NULL) {
        event_free(d->timer);
    }
    free(d);
}

static void
dial_finish(struct tp_dial *d, int err, const char *why)
{
    struct bufferevent *bev = err ? NULL : d->bev;
    tp_dial_cb          cb = d->cb;
    void               *arg = d->arg;
    char                msg[sizeof(d->why)];

    snprintf(msg, sizeof(msg), "%s", why ? why : "");
    if (bev != NULL) {
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        d->bev = NULL;
    }
    dial_free(d);
    cb(arg, bev, err, msg);
}

static int64_t
node_mark(const struct tp_dial *d, size_t hop)
{
    const struct tp_node *n = d->nodes[hop];

    if (n->sockopts.mark) {
        return n->sockopts.mark;
    }
    if (d->chain->hops[hop].sockopts.mark) {
        return d->chain->hops[hop].sockopts.mark;
    }
    return d->mark;
}

/* A step failed: blame the node of the current hop, maybe try again. */
static void
dial_fail(struct tp_dial *d, int err, const char *why)
{
    uint64_t now = tp_now_ms();
    size_t   nodes = 0;

    if (d->chain == NULL) {
        dial_finish(d, err, why);
        return;
    }
    tp_select_failed(&d->chain->hops[d->hop].selector, d->nodes[d->hop], now);
    for (size_t i = 0; i < d->chain->nhops; i++) {
        nodes += d->chain->hops[i].nnodes;
    }
    if (++d->attempts >= (int) nodes || err == ETIMEDOUT) {
        dial_finish(d, err, why);
        return;
    }
    tp_log_info("chain \"%s\" hop %zu node \"%s\": %s; trying another node",
                d->chain->name, d->hop,
                d->nodes[d->hop]->name ? d->nodes[d->hop]->name : "-", why);
    dial_clear(d);
    dial_attempt(d);
}

static void
hop_next_target(struct tp_dial *d, struct tp_target *t)
{
    if (d->hop + 1 < d->chain->nhops) {
        const struct tp_node *n = d->nodes[d->hop + 1];
        tp_target_from_name(t, n->addr.host, n->addr.port);
    } else {
        *t = d->target;
    }
}

/* Advance the chain state machine by one step. */
static void
chain_advance(struct tp_dial *d)
{
    const struct tp_node *n = d->nodes[d->hop];
    struct tp_target      next;

    if (d->phase == PH_CONNECT) {
        d->phase = PH_DIALER;
        if (n->dialer.mod != NULL) {
            const struct tp_dialer_ops *ops =
                n->dialer.mod->role[TP_ROLE_DIALER].ops;
            if (ops->handshake != NULL) {
                ops->handshake(d, n->dialer.conf, n->addr.host);
                return;
            }
        }
    }
    if (d->phase == PH_DIALER) {
        const struct tp_connector_ops *ops =
            n->connector.mod->role[TP_ROLE_CONNECTOR].ops;
        d->phase = PH_CONNECTOR;
        hop_next_target(d, &next);
        ops->connect(d, n->connector.conf, &next);
        return;
    }
    /* PH_CONNECTOR done: hop d->hop is through. */
    tp_select_ok(d->nodes[d->hop]);
    if (++d->hop == d->chain->nhops) {
        dial_finish(d, 0, NULL);
        return;
    }
    d->phase = PH_DIALER;
    chain_advance(d);
}

void
tp_dial_step(struct tp_dial *d, int err, const char *why)
{
    if (d->pctx_free != NULL) {
        d->pctx_free(d->pctx);
        d->pctx = NULL;
        d->pctx_free = NULL;
    }
    if (err != 0) {
        dial_fail(d, err, why);
        return;
    }
    if (d->chain == NULL) {
        dial_finish(d, 0, NULL);
        return;
    }
    chain_advance(d);
}

static void
connect_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tp_dial *d = arg;
    int             e;
    char            msg[128];

    (void) bev;
    if (what & BEV_EVENT_CONNECTED) {
        bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
        tp_dial_step(d, 0, NULL);
        return;
    }
    e = EVUTIL_SOCKET_ERROR();
    if (e == 0) {
        e = ECONNRESET;
    }
    snprintf(msg, sizeof(msg), "connect: %s", strerror(e));
    tp_dial_step(d, e, msg);
}

static void
dial_sockaddr(struct tp_dial *d, const struct sockaddr *sa, socklen_t len)
{
    int64_t mark = d->chain ? node_mark(d, 0) : d->mark;
    int     fd = tp_socket_egress(sa->sa_family, SOCK_STREAM, mark);
    char    msg[128];

    if (fd < 0) {
        snprintf(msg, sizeof(msg), "socket: %s", strerror(errno));
        tp_dial_step(d, errno, msg);
        return;
    }
    d->bev = bufferevent_socket_new(d->w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (d->bev == NULL) {
        close(fd);
        tp_dial_step(d, ENOMEM, "out of memory");
        return;
    }
    bufferevent_setcb(d->bev, NULL, NULL, connect_event_cb, d);
    if (bufferevent_socket_connect(d->bev, sa, (int) len) != 0) {
        int e = EVUTIL_SOCKET_ERROR() ? EVUTIL_SOCKET_ERROR() : ECONNREFUSED;
        snprintf(msg, sizeof(msg), "connect: %s", strerror(e));
        tp_dial_step(d, e, msg);
    }
}

static void
dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct tp_dial *d = arg;
    char            msg[160];

    d->dns = NULL;
    if (result != 0 || res == NULL) {
        if (result == EVUTIL_EAI_CANCEL) {
            return;
        }
        snprintf(msg, sizeof(msg), "resolve: %s", evutil_gai_strerror(result));
        tp_dial_step(d, EHOSTUNREACH, msg);
        return;
    }
    dial_sockaddr(d, res->ai_addr, res->ai_addrlen);
    evutil_freeaddrinfo(res);
}

static void
dial_connect(struct tp_dial *d, const struct tp_target *t)
{
    struct evutil_addrinfo hints;
    char                   port[8];

    if (t->host[0] == '\0') {
        dial_sockaddr(d, (const struct sockaddr *) &t->ss, t->sslen);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    snprintf(port, sizeof(port), "%u", t->port);
    d->dns = evdns_getaddrinfo(d->w->dns, t->host, port, &hints, dns_cb, d);
}

static void
dial_attempt(struct tp_dial *d)
{
    struct tp_target t;

    d->hop = 0;
    d->phase = PH_CONNECT;
    if (d->chain == NULL) {
        dial_connect(d, &d->target);
        return;
    }
    for (size_t i = 0; i < d->chain->nhops; i++) {
        struct tp_hop *hop = &d->chain->hops[i];
        d->nodes[i] = tp_select_node(&hop->selector, hop->nodes, hop->nnodes,
                                     &hop->rr, tp_now_ms());
    }
    tp_target_from_name(&t, d->nodes[0]->addr.host, d->nodes[0]->addr.port);
    dial_connect(d, &t);
}

static void
dial_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tp_dial *d = arg;

    (void) fd; (void) what;
    dial_fail(d, ETIMEDOUT, "timed out");
}

void
tp_dial_start(struct tp_dial **owner, struct tp_worker *w,
    const struct tp_target *t, const struct tp_chain *chain, int64_t mark,
    uint64_t timeout_ms, tp_dial_cb cb, void *arg)
{
    struct tp_dial *d = calloc(1, sizeof(*d));
    struct timeval  tv;

    d->owner = owner;
    *owner = d;
    d->w = w;
    d->target = *t;
    d->chain = chain && chain->nhops > 0 && chain->nhops <= nitems(d->nodes)
               ? chain : NULL;
    d->mark = mark;
    d->timeout_ms = timeout_ms;
    d->cb = cb;
    d->arg = arg;
    d->timer = evtimer_new(w->base, dial_timeout_cb, d);
    tv.tv_sec = (time_t) (timeout_ms / 1000);
    tv.tv_usec = (suseconds_t) (timeout_ms % 1000) * 1000;
    evtimer_add(d->timer, &tv);
    dial_attempt(d);
}

void
tp_dial_cancel(struct tp_dial *d)
{
    dial_free(d);
}
