/*
 * dial.c - direct and chained dialing on the worker's loop. A chain dial
 * is a small state machine: reach node 0 over TCP, then for each hop run
 * its dialer handshake (TLS) and its connector (CONNECT to the next node or
 * to the target). Connectors and dialers call tp_dial_step() (or
 * tp_dial_unreachable()) when their step ends. A failure is charged to the
 * node that caused it (a refusal reported by a proxy to the node it was
 * asked to reach; nobody when that was the final target), reported to its
 * selector, and the whole chain is tried again through nodes that have not
 * failed in this dial, at most once per node, each attempt bounded by the
 * timeout.
 */
#include "tproxyd.h"
#include "dial.h"
#include "conf.h"
#include "log.h"
#include "route.h"
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
static int64_t node_mark(const struct tp_dial *d, size_t hop);

static int64_t
service_mark(const struct tp_dial *d)
{
    return d->so != NULL ? d->so->mark : 0;
}

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

int
tp_socket_bind_source(int fd, int family, int type,
    const struct tp_sockopts *so, unsigned *next)
{
    int one = 1, err = 0;

    if (so == NULL || so->source_sa == NULL) {
        return 0;
    }
    if (type == SOCK_STREAM) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
    }
    for (size_t i = 0; i < so->nsource; i++) {
        size_t             k = (*next + i) % so->nsource;
        const union tp_sa *a = &so->source_sa[k];

        if (a->sa.sa_family != family) {
            continue;
        }
        if (bind(fd, &a->sa, tp_sa_len(a)) == 0) {
            *next = (unsigned) (k + 1);
            return 0;
        }
        err = errno;
    }
    if (err == 0) {
        return 0;           /* none of this family: the system's choice */
    }
    errno = err;
    return -1;
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
    if (d->udp != NULL) {
        d->udp->ops->free(d->udp);
        d->udp = NULL;
    }
    if (d->bev != NULL) {
        bufferevent_free(d->bev);
        d->bev = NULL;
    }
}

/* One allocation; the chain part only for a chain dial. */
static struct tp_dial *
dial_alloc(bool chain)
{
    struct tp_dial *d = calloc(1, sizeof(*d)
                                  + (chain ? sizeof(struct tp_dial_hops) : 0));

    if (d != NULL && chain) {
        d->ch = (struct tp_dial_hops *) (d + 1);
    }
    return d;
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
    struct bufferevent   *bev = err ? NULL : d->bev;
    struct tp_udp_tunnel *udp = err ? NULL : d->udp;
    tp_dial_cb            cb = d->cb;
    tp_dial_udp_cb        ucb = d->ucb;
    void                 *arg = d->arg;
    char                  msg[sizeof(d->why)];

    snprintf(msg, sizeof(msg), "%s", why ? why : "");
    if (d->udp_mode) {
        d->udp = NULL;
        dial_free(d);
        ucb(arg, udp, err, msg);
        return;
    }
    if (bev != NULL) {
        bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
        d->bev = NULL;
    }
    dial_free(d);
    cb(arg, bev, err, msg);
}

int64_t
tp_dial_mark(const struct tp_dial *d)
{
    return d->chain ? node_mark(d, d->hop) : service_mark(d);
}

static int64_t
node_mark(const struct tp_dial *d, size_t hop)
{
    const struct tp_node *n = d->ch->nodes[hop];

    if (n->sockopts.mark) {
        return n->sockopts.mark;
    }
    if (d->chain->hops[hop].sockopts.mark) {
        return d->chain->hops[hop].sockopts.mark;
    }
    return service_mark(d);
}

static const char *
node_label(const struct tp_node *n)
{
    return n->name != NULL ? n->name : n->addr.host;
}

/*
 * This attempt failed. Charge it to the node of hop `blame` (nobody when
 * blame is past the last hop: the final target failed), then try again
 * through other nodes, or end the dial with the failure. The reason is
 * prefixed with the node that reported it.
 */
static void
dial_retry(struct tp_dial *d, int err, const char *why, size_t blame)
{
    struct tp_node *node;
    size_t          total = 0;

    d->err = err ? err : EIO;
    if (d->chain == NULL) {
        dial_finish(d, d->err, why);
        return;
    }
    snprintf(d->why, sizeof(d->why), "node \"%.40s\": %.150s",
             node_label(d->ch->nodes[d->hop]), why ? why : strerror(d->err));
    if (blame >= d->nhops) {
        dial_finish(d, d->err, d->why);
        return;
    }
    node = d->ch->nodes[blame];
    tp_select_failed(&d->chain->hops[blame].selector, node, tp_now_ms());
    for (size_t i = 0; i < d->nhops; i++) {
        total += d->chain->hops[i].nnodes;
    }
    if (d->ch->nfailed == nitems(d->ch->failed)
        || ++d->attempts >= (int) total) {
        dial_finish(d, d->err, d->why);
        return;
    }
    d->ch->failed[d->ch->nfailed++] = node;
    if (blame == d->hop) {
        tp_log_info("chain \"%s\" hop %zu: %s; trying another node",
                    d->chain->name, d->hop, d->why);
    } else {
        tp_log_info("chain \"%s\" hop %zu: %s; counted against hop %zu "
                    "node \"%s\", trying another node", d->chain->name,
                    d->hop, d->why, blame, node_label(node));
    }
    dial_clear(d);
    dial_attempt(d);
}

/* What the proxy of hop d->hop was asked to reach failed (or timed out). */
static void
dial_beyond(struct tp_dial *d, int err, const char *why)
{
    dial_retry(d, err, why, d->hop + 1);
}

static void
hop_next_target(struct tp_dial *d, struct tp_target *t)
{
    if (d->hop + 1 < d->nhops) {
        const struct tp_node *n = d->ch->nodes[d->hop + 1];
        tp_target_from_name(t, n->addr.host, n->addr.port);
    } else {
        *t = d->target;
    }
}

/* Hop d->hop's connector: ask its node for the next node or the target. */
static void
hop_connector(struct tp_dial *d)
{
    const struct tp_node          *n = d->ch->nodes[d->hop];
    const struct tp_connector_ops *ops;
    struct tp_target               next;

    if (n->connector.mod == NULL) {
        dial_retry(d, EINVAL, "the node has no connector", d->hop);
        return;
    }
    ops = n->connector.mod->role[TP_ROLE_CONNECTOR].ops;
    d->phase = PH_CONNECTOR;
    d->awaiting_next = false;
    hop_next_target(d, &next);
    if (d->udp_mode && d->hop + 1 == d->nhops) {
        if (ops->udp == NULL) {
            snprintf(d->why, sizeof(d->why), "connector \"%s\" of the "
                     "last hop cannot carry UDP", n->connector.mod->name);
            dial_finish(d, EPROTONOSUPPORT, d->why);
            return;
        }
        ops->udp(d, n->connector.conf, d->udp_any ? NULL : &next);
        return;
    }
    ops->connect(d, n->connector.conf, &next);
}

/* d->bev reaches hop d->hop's node: its dialer (TLS), then its connector. */
static void
hop_start(struct tp_dial *d)
{
    const struct tp_node       *n = d->ch->nodes[d->hop];
    const struct tp_dialer_ops *ops;

    ops = n->dialer.mod ? n->dialer.mod->role[TP_ROLE_DIALER].ops : NULL;
    if (ops != NULL && ops->handshake != NULL) {
        d->phase = PH_DIALER;
        ops->handshake(d, n->dialer.conf, n->addr.host);
        return;
    }
    hop_connector(d);
}

/* The step of the current phase is done: start the next one. */
static void
chain_advance(struct tp_dial *d)
{
    switch (d->phase) {
    case PH_CONNECT:
        hop_start(d);
        return;
    case PH_DIALER:
        hop_connector(d);
        return;
    default:
        tp_select_ok(d->ch->nodes[d->hop]);
        if (++d->hop == d->nhops) {
            dial_finish(d, 0, NULL);
            return;
        }
        hop_start(d);
        return;
    }
}

static void
step_end(struct tp_dial *d)
{
    if (d->pctx_free != NULL) {
        d->pctx_free(d->pctx);
    }
    d->pctx = NULL;
    d->pctx_free = NULL;
}

void
tp_dial_step(struct tp_dial *d, int err, const char *why)
{
    step_end(d);
    if (err != 0) {
        dial_retry(d, err, why, d->hop);
        return;
    }
    if (d->chain == NULL) {
        dial_finish(d, 0, NULL);
        return;
    }
    chain_advance(d);
}

void
tp_dial_unreachable(struct tp_dial *d, int err, const char *why)
{
    step_end(d);
    if (d->chain != NULL) {
        tp_select_ok(d->ch->nodes[d->hop]);     /* it answered */
    }
    dial_beyond(d, err ? err : EHOSTUNREACH, why);
}

static void
connect_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tp_dial *d = arg;
    int             e;
    char            msg[128];

    (void) bev;
    bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
    if (what & BEV_EVENT_CONNECTED) {
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
    int64_t mark = d->chain ? node_mark(d, 0) : service_mark(d);
    int     fd = tp_socket_egress(sa->sa_family, SOCK_STREAM, mark);
    char    msg[128];

    if (fd < 0) {
        snprintf(msg, sizeof(msg), "socket: %s", strerror(errno));
        tp_dial_step(d, errno, msg);
        return;
    }
    /* The service's source addresses are for its own egress, not for
     * the connection to a proxy node. */
    if (d->chain == NULL
        && tp_socket_bind_source(fd, sa->sa_family, SOCK_STREAM, d->so,
                                 &d->w->source_next) != 0) {
        int e = errno;
        close(fd);
        snprintf(msg, sizeof(msg), "bind sockopts.source: %s", strerror(e));
        tp_dial_step(d, e, msg);
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
        bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
        tp_dial_step(d, e, msg);
    }
}

static void
dns_done(struct tp_dial *d, int result, struct evutil_addrinfo *res)
{
    char msg[160];

    if (result != 0 || res == NULL) {
        if (result == EVUTIL_EAI_CANCEL) {
            return;
        }
        snprintf(msg, sizeof(msg), "resolve: %s", evutil_gai_strerror(result));
        tp_dial_step(d, EHOSTUNREACH, msg);
        return;
    }
    if (d->chain == NULL && d->target.untrusted
        && tp_sockaddr_is_local_only(res->ai_addr)) {
        evutil_freeaddrinfo(res);
        tp_dial_step(d, EACCES, "resolve: a sniffed name may not lead to a "
                     "loopback or unspecified address");
        return;
    }
    dial_sockaddr(d, res->ai_addr, res->ai_addrlen);
    evutil_freeaddrinfo(res);
}

static void
dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct tp_dial *d = arg;

    /* A cancelled query may answer after its dial was freed: not a word
     * about d then. */
    if (result == EVUTIL_EAI_CANCEL) {
        return;
    }
    if (d->in_dns) {
        /* Answered inside evdns_getaddrinfo (hosts file): finish there. */
        d->dns_sync = true;
        d->dns_result = result;
        d->dns_res = res;
        return;
    }
    d->dns = NULL;
    dns_done(d, result, res);
}

static void
dial_connect(struct tp_dial *d, const struct tp_target *t)
{
    struct evutil_addrinfo            hints;
    struct evdns_getaddrinfo_request *req;
    char                              port[8];

    if (t->host[0] == '\0') {
        dial_sockaddr(d, (const struct sockaddr *) &t->ss, t->sslen);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    snprintf(port, sizeof(port), "%u", t->port);
    d->in_dns = true;
    d->dns_sync = false;
    req = evdns_getaddrinfo(d->w->dns, t->host, port, &hints, dns_cb, d);
    d->in_dns = false;
    if (d->dns_sync) {
        dns_done(d, d->dns_result, d->dns_res);
        return;
    }
    if (req == NULL) {
        tp_dial_step(d, EHOSTUNREACH, "resolve: cannot start a query");
        return;
    }
    d->dns = req;
}

static void
dial_attempt(struct tp_dial *d)
{
    struct tp_target t;
    struct timeval   tv;
    uint64_t         now = tp_now_ms();

    d->hop = 0;
    d->phase = PH_CONNECT;
    d->awaiting_next = false;
    tv.tv_sec = (time_t) (d->timeout_ms / 1000);
    tv.tv_usec = (suseconds_t) (d->timeout_ms % 1000) * 1000;
    evtimer_add(d->timer, &tv);
    if (d->chain == NULL) {
        dial_connect(d, &d->target);
        return;
    }
    for (size_t i = 0; i < d->nhops; i++) {
        struct tp_hop *hop = &d->chain->hops[i];
        d->ch->nodes[i] = tp_select_node_skip(&hop->selector, hop->nodes,
                                          hop->nnodes, &hop->rr, now,
                                          d->ch->failed, d->ch->nfailed);
        if (d->ch->nodes[i] == NULL) {
            if (d->err == 0) {
                snprintf(d->why, sizeof(d->why), "chain \"%s\" hop %zu has "
                         "no nodes", d->chain->name, i);
            }
            dial_finish(d, d->err ? d->err : EHOSTUNREACH, d->why);
            return;
        }
    }
    tp_target_from_name(&t, d->ch->nodes[0]->addr.host,
                        d->ch->nodes[0]->addr.port);
    dial_connect(d, &t);
}

static void
dial_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    static const char *const phases[] = {
        "connecting", "in the dialer handshake", "waiting for the proxy"
    };
    struct tp_dial *d = arg;
    char            msg[96];

    (void) fd; (void) what;
    if (d->chain == NULL) {
        dial_finish(d, ETIMEDOUT, "timed out");
        return;
    }
    snprintf(msg, sizeof(msg), "timed out %s", phases[d->phase]);
    step_end(d);
    if (d->phase == PH_CONNECTOR && d->awaiting_next) {
        dial_beyond(d, ETIMEDOUT, msg);
        return;
    }
    dial_retry(d, ETIMEDOUT, msg, d->hop);
}

size_t
tp_chain_hops(const struct tp_chain *chain, const struct tp_target *t)
{
    const struct sockaddr *ip = t->host[0] ? NULL
                                : (const struct sockaddr *) &t->ss;

    if (chain == NULL) {
        return 0;
    }
    for (size_t i = 0; i < chain->nhops; i++) {
        if (chain->hops[i].bypass != NULL
            && tp_bypass_match(chain->hops[i].bypass, t->host, ip)) {
            return i;
        }
    }
    return chain->nhops;
}

void
tp_dial_start(struct tp_dial **owner, struct tp_worker *w,
    const struct tp_target *t, const struct tp_chain *chain,
    const struct tp_sockopts *so,
    uint64_t timeout_ms, tp_dial_cb cb, void *arg)
{
    size_t          nhops = tp_chain_hops(chain, t);
    struct tp_dial *d = dial_alloc(nhops > 0);

    if (d == NULL) {
        *owner = NULL;
        cb(arg, NULL, ENOMEM, "out of memory");
        return;
    }
    d->owner = owner;
    *owner = d;
    d->w = w;
    d->target = *t;
    d->nhops = nhops;
    d->chain = d->nhops > 0 ? chain : NULL;
    d->so = so;
    d->timeout_ms = timeout_ms;
    d->cb = cb;
    d->arg = arg;
    d->timer = evtimer_new(w->base, dial_timeout_cb, d);
    if (d->chain != NULL && d->nhops > TP_DIAL_MAX_HOPS) {
        snprintf(d->why, sizeof(d->why), "chain \"%s\" has more than %d "
                 "hops", d->chain->name, TP_DIAL_MAX_HOPS);
        dial_finish(d, EINVAL, d->why);
        return;
    }
    dial_attempt(d);
}

void
tp_dial_udp_start(struct tp_dial **owner, struct tp_worker *w,
    const struct tp_target *t, const struct tp_chain *chain,
    const struct tp_sockopts *so,
    uint64_t timeout_ms, tp_dial_udp_cb cb, void *arg)
{
    struct tp_dial *d = dial_alloc(chain != NULL);

    if (d == NULL) {
        *owner = NULL;
        cb(arg, NULL, ENOMEM, "out of memory");
        return;
    }
    d->owner = owner;
    *owner = d;
    d->w = w;
    d->udp_mode = true;
    d->udp_any = t == NULL;
    if (t != NULL) {
        d->target = *t;
    }
    d->chain = chain;
    d->nhops = chain ? chain->nhops : 0;     /* hop bypass: TCP only */
    d->so = so;
    d->timeout_ms = timeout_ms;
    d->ucb = cb;
    d->arg = arg;
    d->timer = evtimer_new(w->base, dial_timeout_cb, d);
    if (chain == NULL || chain->nhops == 0
        || chain->nhops > TP_DIAL_MAX_HOPS) {
        snprintf(d->why, sizeof(d->why), "UDP needs a chain of 1 to %d hops",
                 TP_DIAL_MAX_HOPS);
        dial_finish(d, EINVAL, d->why);
        return;
    }
    dial_attempt(d);
}

void
tp_dial_cancel(struct tp_dial *d)
{
    dial_free(d);
}
