/*
 * relay.c - module "relay": GOST's relay protocol v1 (TCP CONNECT with
 * optional user auth; UDP over the stream): its table, the schemas of
 * both roles and the connector. The handler is relay_server.c; bytes:
 * relay_wire.c. It lends the handler relay_udp_frame_need() (relay.h).
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/conn.h"
#include "../src/dial.h"
#include "../src/log.h"
#include "../src/worker.h"
#include "relay_wire.h"
#include "relay_module.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const struct tp_schema relay_connector_schema[] = {
    { "auth", TP_T_GROUP, offsetof(struct relay_connector_conf, auth), 0,
      NULL, tp_schema_auth },
    { "nodelay", TP_T_BOOL, offsetof(struct relay_connector_conf, nodelay), 0,
      "false" },
    { NULL }
};

static const struct tp_schema relay_handler_schema[] = {
    { "auth", TP_T_GROUP, offsetof(struct relay_handler_conf, auth), 0,
      NULL, tp_schema_auth },
    { "read_timeout", TP_T_DURATION,
      offsetof(struct relay_handler_conf, read_timeout_ms), 0, "15s" },
    { "bind", TP_T_BOOL, offsetof(struct relay_handler_conf, bind), 0,
      "false" },
    { NULL }
};

/* Both roles' configs start with their struct tp_auth. */
static int
relay_auth_init(void *conf, const struct tp_service *svc, struct tp_err *err)
{
    const struct tp_auth *a = conf;

    if (a->password != NULL && a->username == NULL) {
        snprintf(err->msg, sizeof(err->msg), "%s%s%srelay: auth.password is "
                 "set but auth.username is missing", svc ? "service \"" : "",
                 svc ? svc->name : "", svc ? "\": " : "");
        return -1;
    }
    if ((a->username && strlen(a->username) > 255)
        || (a->password && strlen(a->password) > 255)) {
        snprintf(err->msg, sizeof(err->msg), "relay: auth.username and "
                 "auth.password must be at most 255 bytes");
        return -1;
    }
    return 0;
}

static const char *const relay_status_names[] = {
    "ok", "bad request", "unauthorized", "forbidden", "timeout",
    "service unavailable", "host unreachable", "network unreachable",
    "internal server error"
};

static const char *
relay_status_name(uint8_t st)
{
    return st < nitems(relay_status_names) ? relay_status_names[st]
                                           : "unknown status";
}

/* Whose failure a status is: the server's own (true), or what it was
 * asked to reach (false). */
static bool
relay_status_is_server(uint8_t st)
{
    return st == RELAY_STATUS_BAD_REQUEST || st == RELAY_STATUS_UNAUTHORIZED
           || st == RELAY_STATUS_FORBIDDEN || st == RELAY_STATUS_INTERNAL
           || st > RELAY_STATUS_INTERNAL;
}

static int
relay_status_errno(uint8_t st)
{
    switch (st) {
    case RELAY_STATUS_UNAUTHORIZED:
    case RELAY_STATUS_FORBIDDEN:    return EACCES;
    case RELAY_STATUS_TIMEOUT:      return ETIMEDOUT;
    case RELAY_STATUS_HOST_UNREACH: return EHOSTUNREACH;
    case RELAY_STATUS_NET_UNREACH:  return ENETUNREACH;
    case RELAY_STATUS_UNAVAILABLE:  return ECONNREFUSED;
    default:                        return EPROTO;
    }
}

/*
 * Parse a response at the head of buf: TP_AGAIN, TP_ERROR (why set), or
 * the response length with *status set.
 */
static int
relay_response_head(struct evbuffer *buf, uint8_t *status, char *why,
    size_t size)
{
    struct relay_response r;
    size_t                len = evbuffer_get_length(buf), need;
    const uint8_t        *p;
    int                   n;

    p = evbuffer_pullup(buf, len < RELAY_HEADER_LEN ? (ssize_t) len
                                                    : RELAY_HEADER_LEN);
    if (len > 0 && p[0] != RELAY_VERSION) {
        snprintf(why, size, "relay: bad response version 0x%02x", p[0]);
        return TP_ERROR;
    }
    if (len < RELAY_HEADER_LEN) {
        return TP_AGAIN;
    }
    need = RELAY_HEADER_LEN + ((size_t) p[2] << 8 | p[3]);
    if (len < need) {
        return TP_AGAIN;
    }
    p = evbuffer_pullup(buf, (ssize_t) need);
    n = relay_response_decode(p, need, &r);
    if (n < 0) {
        snprintf(why, size, "relay: malformed response (version 0x%02x, "
                 "status 0x%02x)", p[0], p[1]);
        return TP_ERROR;
    }
    *status = r.status;
    return n;
}

static int
target_to_addr(const struct tp_target *t, struct tp_proxy_addr *a)
{
    if (t->host[0] != '\0') {
        return tp_proxy_addr_from_hostport(t->host, t->port, a);
    }
    return tp_proxy_addr_from_sockaddr(&t->ss, a);
}

/* ------------------------------------------------------------ connector */

/*
 * The connector writes its request at once; by default (nodelay = false,
 * as GOST) the tunnel is handed on right away and the response is taken
 * off the head of the first downstream bytes by a filter, because a GOST
 * server may hold it back until the target speaks; with nodelay = true it
 * waits for the response, so refusals are clean dial failures.
 */

/* nodelay = false: the response is stripped from the stream later. */
struct relay_lazy {
    struct bufferevent  *bev;           /* the filter */
    bool                 done;          /* response consumed */
    bool                 failed;
    char                 label[64];     /* node, for the log line */
    char                 target[TP_PROXY_ADDR_STRLEN];
};

static enum bufferevent_filter_result
relay_lazy_fail(struct relay_lazy *z, struct evbuffer *src, const char *why)
{
    if (!z->failed) {
        tp_log_info("relay: node \"%s\": %s (target %s); ending the flow",
                    z->label, why, z->target);
        z->failed = true;
        /* The filter's result is not reported by libevent: raise it. */
        bufferevent_trigger_event(z->bev, BEV_EVENT_ERROR | BEV_EVENT_READING,
                                  BEV_TRIG_DEFER_CALLBACKS);
    }
    evbuffer_drain(src, evbuffer_get_length(src));
    return BEV_ERROR;
}

static enum bufferevent_filter_result
relay_lazy_in(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *arg)
{
    struct relay_lazy *z = arg;
    uint8_t            st;
    char               why[128];
    int                n;
    size_t             len;

    (void) mode;
    if (z->failed) {
        return relay_lazy_fail(z, src, NULL);
    }
    if (!z->done) {
        n = relay_response_head(src, &st, why, sizeof(why));
        if (n == TP_AGAIN) {
            return BEV_NEED_MORE;
        }
        if (n < 0) {
            return relay_lazy_fail(z, src, why);
        }
        if (st != RELAY_STATUS_OK) {
            snprintf(why, sizeof(why), "relay: server answered 0x%02x %s", st,
                     relay_status_name(st));
            return relay_lazy_fail(z, src, why);
        }
        evbuffer_drain(src, (size_t) n);
        z->done = true;
    }
    len = evbuffer_get_length(src);
    if (len == 0) {
        return BEV_NEED_MORE;
    }
    if (lim >= 0 && (size_t) lim < len) {
        evbuffer_remove_buffer(src, dst, (size_t) lim);
    } else {
        evbuffer_add_buffer(dst, src);
    }
    return BEV_OK;
}

static void
relay_go_lazy(struct tp_dial *d, const struct tp_proxy_addr *to)
{
    struct relay_lazy  *z = calloc(1, sizeof(*z));
    struct bufferevent *f;
    struct tp_node     *n = d->chain ? d->ch->nodes[d->hop] : NULL;

    if (z == NULL) {
        tp_dial_step(d, ENOMEM, "relay: out of memory");
        return;
    }
    snprintf(z->label, sizeof(z->label), "%.63s",
             n == NULL ? "-" : n->name ? n->name : n->addr.host);
    tp_proxy_addr_str(to, z->target, sizeof(z->target));
    f = bufferevent_filter_new(d->bev, relay_lazy_in, NULL,
                               BEV_OPT_CLOSE_ON_FREE, free, z);
    if (f == NULL) {
        free(z);
        tp_dial_step(d, ENOMEM, "relay: out of memory");
        return;
    }
    z->bev = f;
    d->bev = f;
    bufferevent_enable(f, EV_READ | EV_WRITE);
    tp_dial_step(d, 0, NULL);
}

static void
relayc_end(struct tp_dial *d, int err, const char *why)
{
    bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
    tp_dial_step(d, err, why);
}

static void
relayc_read_cb(struct bufferevent *bev, void *arg)
{
    struct tp_dial  *d = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    uint8_t          st = 0;
    char             why[128];
    int              n = relay_response_head(in, &st, why, sizeof(why));

    if (n == TP_AGAIN) {
        return;
    }
    if (n < 0) {
        relayc_end(d, EPROTO, why);
        return;
    }
    evbuffer_drain(in, (size_t) n);
    if (st == RELAY_STATUS_OK) {
        relayc_end(d, 0, NULL);
        return;
    }
    snprintf(why, sizeof(why), "relay: server answered 0x%02x %s", st,
             relay_status_name(st));
    bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
    if (relay_status_is_server(st)) {
        tp_dial_step(d, relay_status_errno(st), why);
    } else {
        tp_dial_unreachable(d, relay_status_errno(st), why);
    }
}

static void
relayc_event_cb(struct bufferevent *bev, short what, void *arg)
{
    char why[96];
    int  e = EVUTIL_SOCKET_ERROR();

    (void) bev;
    if (what & BEV_EVENT_EOF) {
        relayc_end(arg, ECONNRESET, "relay: the server closed the "
                   "connection before its response");
        return;
    }
    snprintf(why, sizeof(why), "relay: %s", strerror(e ? e : ECONNRESET));
    relayc_end(arg, e ? e : ECONNRESET, why);
}

static void
relay_connect(struct tp_dial *d, const void *conf, const struct tp_target *to)
{
    const struct relay_connector_conf *cf = conf;
    struct relay_request               r;
    uint8_t                            buf[RELAY_MSG_MAX];
    char                               why[300];
    int                                n;

    memset(&r, 0, sizeof(r));
    r.cmd = RELAY_CMD_CONNECT;
    if (target_to_addr(to, &r.f.addr) != TP_OK) {
        snprintf(why, sizeof(why), "relay: cannot carry target \"%s\"",
                 to->host);
        tp_dial_unreachable(d, EINVAL, why);
        return;
    }
    r.f.present = RELAY_HAS_ADDR;
    if (cf->auth.username != NULL) {
        r.f.present |= RELAY_HAS_USERAUTH;
        snprintf(r.f.user, sizeof(r.f.user), "%s", cf->auth.username);
        snprintf(r.f.pass, sizeof(r.f.pass), "%s",
                 cf->auth.password ? cf->auth.password : "");
    }
    n = relay_request_encode(buf, sizeof(buf), &r);
    if (n < 0) {
        tp_dial_unreachable(d, EINVAL, "relay: cannot encode the request");
        return;
    }
    bufferevent_write(d->bev, buf, (size_t) n);
    if (!cf->nodelay) {
        relay_go_lazy(d, &r.f.addr);
        return;
    }
    bufferevent_setcb(d->bev, relayc_read_cb, NULL, relayc_event_cb, d);
    bufferevent_enable(d->bev, EV_READ | EV_WRITE);
    d->awaiting_next = true;
}

/* ----------------------------------------------------- connector: UDP */

/*
 * A datagram tunnel over the relay stream: UDP CONNECT (0x81, frames
 * LEN|DATA to the one destination) or, for any destination, the UDP
 * association (0x82, frames LEN|FF|ADDR|DATA; GOST needs `bind: true`).
 * The response is taken off the stream's head, as with nodelay = false.
 */
struct relay_utun {
    struct tp_udp_tunnel     t;             /* first: the user's handle */
    struct bufferevent      *bev;
    struct sockaddr_storage  dst;           /* UDP CONNECT: the remote */
    bool                     addressed;     /* association framing */
    bool                     answered;      /* response consumed */
    bool                     broken;        /* closed() was called */
    int                      depth;         /* inside a user callback */
    bool                     dead;          /* freed inside a callback */
};

static void
relay_utun_release(struct relay_utun *u)
{
    bufferevent_free(u->bev);
    free(u);
}

static void
relay_utun_free(struct tp_udp_tunnel *t)
{
    struct relay_utun *u = (struct relay_utun *) t;

    bufferevent_setcb(u->bev, NULL, NULL, NULL, NULL);
    if (u->depth > 0) {
        u->dead = true;
        return;
    }
    relay_utun_release(u);
}

/* Tell the user once; true if the tunnel was freed meanwhile. */
static bool
relay_utun_break(struct relay_utun *u, int err, const char *why)
{
    bufferevent_setcb(u->bev, NULL, NULL, NULL, NULL);
    if (u->broken) {
        return false;
    }
    u->broken = true;
    u->depth++;
    u->t.closed(u->t.arg, err, why);
    u->depth--;
    if (u->dead) {
        relay_utun_release(u);
        return true;
    }
    return false;
}

static int
relay_utun_send(struct tp_udp_tunnel *t, const struct sockaddr *dst,
    const uint8_t *data, size_t len)
{
    struct relay_utun    *u = (struct relay_utun *) t;
    struct evbuffer      *out = bufferevent_get_output(u->bev);
    struct tp_proxy_addr  a;
    uint8_t               hdr[RELAY_UDP_ADDR_HEADER_MAX];
    int                   n;

    if (u->broken) {
        errno = EPIPE;
        return -1;
    }
    if (evbuffer_get_length(out) > RELAY_UDP_OUT_MAX) {
        errno = ENOBUFS;
        return -1;
    }
    if (u->addressed) {
        n = tp_proxy_addr_from_sockaddr((const struct sockaddr_storage *) dst,
                                        &a) == TP_OK
            ? relay_udp_addr_encode(hdr, sizeof(hdr), &a, NULL, len)
            : TP_ERROR;
    } else {
        n = relay_udp_encode(hdr, sizeof(hdr), NULL, len);
    }
    if (n < 0) {
        errno = len > RELAY_UDP_MAX ? EMSGSIZE : EINVAL;
        return -1;
    }
    evbuffer_add(out, hdr, (size_t) n);
    evbuffer_add(out, data, len);
    return 0;
}

/* One frame at the head of in: 1 delivered, 0 incomplete, -1 broken or
 * freed (stop). */
static int
relay_utun_frame(struct relay_utun *u, struct evbuffer *in)
{
    size_t                   len = evbuffer_get_length(in), need;
    const uint8_t           *p, *data;
    size_t                   dlen;
    struct tp_proxy_addr     a;
    struct sockaddr_storage  src;
    socklen_t                slen;
    int                      n;

    p = evbuffer_pullup(in, len < RELAY_UDP_ADDR_HEADER_MAX
                            ? (ssize_t) len : RELAY_UDP_ADDR_HEADER_MAX);
    if (p == NULL) {
        return 0;                       /* empty, or out of memory: later */
    }
    need = relay_udp_frame_need(p, len, u->addressed);
    if (need == RELAY_UDP_FRAME_BAD) {
        relay_utun_break(u, EPROTO, "relay: malformed UDP frame");
        return -1;
    }
    if (need == 0 || len < need) {
        return 0;
    }
    if ((p = evbuffer_pullup(in, (ssize_t) need)) == NULL) {
        return 0;
    }
    n = u->addressed ? relay_udp_addr_decode(p, need, &a, &data, &dlen)
                     : relay_udp_decode(p, need, &data, &dlen);
    if (n < 0) {
        relay_utun_break(u, EPROTO, "relay: malformed UDP frame");
        return -1;
    }
    memcpy(&src, &u->dst, sizeof(src));
    if (u->addressed
        && tp_proxy_addr_to_sockaddr(&a, &src, &slen) != TP_OK) {
        evbuffer_drain(in, need);       /* a name as source: skip it */
        return 1;
    }
    u->depth++;
    u->t.recv(u->t.arg, (struct sockaddr *) &src, data, dlen);
    u->depth--;
    if (u->dead) {
        relay_utun_release(u);
        return -1;
    }
    evbuffer_drain(in, need);
    return u->broken ? -1 : 1;
}

static void
relay_utun_read_cb(struct bufferevent *bev, void *arg)
{
    struct relay_utun *u = arg;
    struct evbuffer     *in = bufferevent_get_input(bev);
    uint8_t              st;
    char                 why[128];
    int                  n;

    if (!u->answered) {
        n = relay_response_head(in, &st, why, sizeof(why));
        if (n == TP_AGAIN) {
            return;
        }
        if (n > 0 && st != RELAY_STATUS_OK) {
            snprintf(why, sizeof(why), "relay: server answered 0x%02x %s", st,
                     relay_status_name(st));
        }
        if (n < 0 || st != RELAY_STATUS_OK) {
            relay_utun_break(u, n < 0 ? EPROTO : relay_status_errno(st),
                               why);
            return;
        }
        evbuffer_drain(in, (size_t) n);
        u->answered = true;
    }
    while (relay_utun_frame(u, in) > 0) {
    }
}

static void
relay_utun_event_cb(struct bufferevent *bev, short what, void *arg)
{
    char why[96];
    int  e = EVUTIL_SOCKET_ERROR();

    (void) bev;
    if (what & BEV_EVENT_EOF) {
        relay_utun_break(arg, ECONNRESET, "relay: the server closed the "
                           "UDP stream");
        return;
    }
    snprintf(why, sizeof(why), "relay: %s", strerror(e ? e : ECONNRESET));
    relay_utun_break(arg, e ? e : ECONNRESET, why);
}

static const struct tp_udp_tunnel_ops relay_utun_ops = {
    .send = relay_utun_send,
    .free = relay_utun_free,
};

static void
relay_udp(struct tp_dial *d, const void *conf, const struct tp_target *to)
{
    const struct relay_connector_conf *cf = conf;
    struct relay_utun                 *u = calloc(1, sizeof(*u));
    struct relay_request               r;
    uint8_t                            buf[RELAY_MSG_MAX];
    int                                n;

    memset(&r, 0, sizeof(r));
    r.cmd = (to ? RELAY_CMD_CONNECT : RELAY_CMD_BIND) | RELAY_FLAG_UDP;
    r.f.present = RELAY_HAS_ADDR;
    r.f.addr.family = AF_INET;          /* 0.0.0.0:0 for the association */
    if ((to != NULL && (to->host[0] != '\0'
                        || target_to_addr(to, &r.f.addr) != TP_OK))
        || u == NULL) {
        free(u);
        tp_dial_unreachable(d, EINVAL, "relay: a UDP destination must be an "
                            "IP address");
        return;
    }
    if (cf->auth.username != NULL) {
        r.f.present |= RELAY_HAS_USERAUTH;
        snprintf(r.f.user, sizeof(r.f.user), "%s", cf->auth.username);
        snprintf(r.f.pass, sizeof(r.f.pass), "%s",
                 cf->auth.password ? cf->auth.password : "");
    }
    n = relay_request_encode(buf, sizeof(buf), &r);
    bufferevent_write(d->bev, buf, (size_t) n);
    u->t.ops = &relay_utun_ops;
    u->t.route = "relay-udp";
    u->addressed = to == NULL;
    if (to != NULL) {
        memcpy(&u->dst, &to->ss, to->sslen);
    }
    u->bev = d->bev;
    d->bev = NULL;
    bufferevent_setcb(u->bev, relay_utun_read_cb, NULL,
                      relay_utun_event_cb, u);
    bufferevent_enable(u->bev, EV_READ | EV_WRITE);
    d->udp = &u->t;
    tp_dial_step(d, 0, NULL);
}

static const struct tp_connector_ops relay_connector_ops = {
    .connect = relay_connect,
    .udp = relay_udp,
};

static const struct tp_handler_ops relay_handler_ops = {
    .socktype = SOCK_STREAM,
    .uses_chain = true,
    .stream = relay_handle,
};

const struct tp_module tp_mod_relay = {
    .name = "relay",
    .role = {
        [TP_ROLE_HANDLER] = {
            .schema = relay_handler_schema,
            .conf_size = sizeof(struct relay_handler_conf),
            .init = relay_auth_init,
            .ops = &relay_handler_ops,
        },
        [TP_ROLE_CONNECTOR] = {
            .schema = relay_connector_schema,
            .conf_size = sizeof(struct relay_connector_conf),
            .init = relay_auth_init,
            .ops = &relay_connector_ops,
        },
    },
};
