/*
 * socks5.c - module "socks5" (RFC 1928, RFC 1929): the connector asks an
 * upstream SOCKS5 proxy for a tunnel (no auth or username/password; IPv4,
 * IPv6 or a name the proxy resolves), the handler makes tproxyd a SOCKS5
 * server (CONNECT, optional username/password). Bytes are parsed by
 * socks5_wire.c; this file owns the state machines, timeouts and replies.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/conn.h"
#include "../src/dial.h"
#include "../src/log.h"
#include "../src/worker.h"
#include "socks5_wire.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

struct socks5_connector_conf {
    struct tp_auth      auth;           /* username NULL: no auth offered */
};

struct socks5_handler_conf {
    struct tp_auth      auth;           /* username NULL: no auth asked */
    uint64_t            read_timeout_ms;
    bool                udp;            /* answer UDP ASSOCIATE */
};

static const struct tp_schema socks5_connector_schema[] = {
    { "auth", TP_T_GROUP, offsetof(struct socks5_connector_conf, auth), 0,
      NULL, tp_schema_auth },
    { NULL }
};

static const struct tp_schema socks5_handler_schema[] = {
    { "auth", TP_T_GROUP, offsetof(struct socks5_handler_conf, auth), 0,
      NULL, tp_schema_auth },
    { "read_timeout", TP_T_DURATION,
      offsetof(struct socks5_handler_conf, read_timeout_ms), 0, "15s" },
    { "udp", TP_T_BOOL, offsetof(struct socks5_handler_conf, udp), 0,
      "true" },
    { NULL }
};

/* Both roles' configs start with their struct tp_auth. */
static int
socks5_auth_init(void *conf, const struct tp_service *svc, struct tp_err *err)
{
    const struct tp_auth *a = conf;

    if (a->password != NULL && a->username == NULL) {
        snprintf(err->msg, sizeof(err->msg), "%s%s%ssocks5: auth.password is "
                 "set but auth.username is missing", svc ? "service \"" : "",
                 svc ? svc->name : "", svc ? "\": " : "");
        return -1;
    }
    return 0;
}

static const char *const socks5_rep_names[] = {
    "succeeded", "general failure", "not allowed by ruleset",
    "network unreachable", "host unreachable", "connection refused",
    "TTL expired", "command not supported", "address type not supported"
};

static const char *
socks5_rep_name(uint8_t rep)
{
    return rep < nitems(socks5_rep_names) ? socks5_rep_names[rep]
                                          : "unassigned code";
}

/* "48 54 54 50" - the first bytes of something that is not SOCKS5. */
static void
hex_head(const uint8_t *p, size_t n, char *buf, size_t size)
{
    size_t off = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && i < 8 && off + 4 < size; i++) {
        off += (size_t) snprintf(buf + off, size - off, "%s%02x",
                                 i ? " " : "", p[i]);
    }
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

enum { S5C_METHOD, S5C_AUTH, S5C_REPLY };

struct socks5_dial {
    struct tp_dial                      *d;
    const struct socks5_connector_conf  *cf;
    struct tp_proxy_addr                 to;
    int                                  state;
    bool                                 udp;   /* UDP ASSOCIATE */
};

static void s5u_open(struct socks5_dial *s, const struct tp_proxy_addr *bnd);

static void
s5c_end(struct socks5_dial *s, int err, const char *why)
{
    struct tp_dial *d = s->d;

    bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
    tp_dial_step(d, err, why);
}

static void
s5c_send_request(struct socks5_dial *s)
{
    struct socks5_request r;
    uint8_t               buf[SOCKS5_REQUEST_MAX];
    int                   n;

    r.cmd = s->udp ? SOCKS5_CMD_UDP_ASSOCIATE : SOCKS5_CMD_CONNECT;
    r.addr = s->to;         /* UDP: 0.0.0.0:0, "not known yet" */
    n = socks5_request_encode(buf, sizeof(buf), &r);
    bufferevent_write(s->d->bev, buf, (size_t) n);
    s->state = S5C_REPLY;
    s->d->awaiting_next = !s->udp;      /* UDP: only the proxy answers */
}

static int
s5c_method(struct socks5_dial *s, const uint8_t *p, size_t len)
{
    struct socks5_auth a;
    uint8_t            m, buf[SOCKS5_AUTH_MAX];
    char               why[96], hx[40];
    int                n = socks5_method_decode(p, len, &m);

    if (n == TP_AGAIN) {
        return 0;
    }
    if (n < 0) {
        hex_head(p, len, hx, sizeof(hx));
        snprintf(why, sizeof(why), "socks5: not a SOCKS5 server (answered "
                 "%s)", hx);
        s5c_end(s, EPROTO, why);
        return -1;
    }
    evbuffer_drain(bufferevent_get_input(s->d->bev), (size_t) n);
    if (m == SOCKS5_METHOD_NO_AUTH) {
        s5c_send_request(s);
        return 1;
    }
    if (m == SOCKS5_METHOD_USERPASS && s->cf->auth.username != NULL) {
        snprintf(a.user, sizeof(a.user), "%s", s->cf->auth.username);
        snprintf(a.pass, sizeof(a.pass), "%s", s->cf->auth.password
                 ? s->cf->auth.password : "");
        n = socks5_auth_encode(buf, sizeof(buf), &a);
        bufferevent_write(s->d->bev, buf, (size_t) n);
        s->state = S5C_AUTH;
        return 1;
    }
    if (m == SOCKS5_METHOD_NONE_OK) {
        s5c_end(s, EACCES, s->cf->auth.username
                ? "socks5: the proxy accepts neither no-auth nor "
                  "username/password"
                : "socks5: the proxy requires authentication (no auth "
                  "configured)");
        return -1;
    }
    snprintf(why, sizeof(why), "socks5: the proxy chose method 0x%02x, "
             "which was not offered", m);
    s5c_end(s, EPROTO, why);
    return -1;
}

static int
s5c_auth(struct socks5_dial *s, const uint8_t *p, size_t len)
{
    uint8_t status;
    char    why[128];
    int     n = socks5_auth_status_decode(p, len, &status);

    if (n == TP_AGAIN) {
        return 0;
    }
    if (n < 0) {
        s5c_end(s, EPROTO, "socks5: malformed username/password reply");
        return -1;
    }
    if (status != SOCKS5_AUTH_SUCCESS) {
        snprintf(why, sizeof(why), "socks5: authentication failed (user "
                 "\"%.64s\", status 0x%02x)", s->cf->auth.username, status);
        s5c_end(s, EACCES, why);
        return -1;
    }
    evbuffer_drain(bufferevent_get_input(s->d->bev), (size_t) n);
    s5c_send_request(s);
    return 1;
}

static int
s5c_rep_errno(uint8_t rep)
{
    switch (rep) {
    case SOCKS5_REP_NET_UNREACH:   return ENETUNREACH;
    case SOCKS5_REP_HOST_UNREACH:  return EHOSTUNREACH;
    case SOCKS5_REP_CONN_REFUSED:  return ECONNREFUSED;
    case SOCKS5_REP_TTL_EXPIRED:   return ETIMEDOUT;
    case SOCKS5_REP_NOT_ALLOWED:   return EACCES;
    default:                       return ECONNABORTED;
    }
}

static int
s5c_reply(struct socks5_dial *s, const uint8_t *p, size_t len)
{
    struct socks5_reply r;
    struct tp_dial     *d = s->d;
    char                why[128], hx[40];
    int                 n = socks5_reply_decode(p, len, &r);

    if (n == TP_AGAIN) {
        return 0;
    }
    if (n < 0) {
        hex_head(p, len, hx, sizeof(hx));
        snprintf(why, sizeof(why), "socks5: malformed reply (%s)", hx);
        s5c_end(s, EPROTO, why);
        return -1;
    }
    if (r.rep != SOCKS5_REP_SUCCEEDED) {
        snprintf(why, sizeof(why), "socks5: server replied 0x%02x %s",
                 r.rep, socks5_rep_name(r.rep));
        bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
        /* Policy and protocol refusals are the proxy's; the others say
         * what it was asked to reach failed. */
        if (r.rep == SOCKS5_REP_NOT_ALLOWED
            || r.rep == SOCKS5_REP_CMD_UNSUPPORTED
            || r.rep == SOCKS5_REP_ATYP_UNSUPPORTED) {
            tp_dial_step(d, s5c_rep_errno(r.rep), why);
        } else {
            tp_dial_unreachable(d, s5c_rep_errno(r.rep), why);
        }
        return -1;
    }
    evbuffer_drain(bufferevent_get_input(d->bev), (size_t) n);
    if (s->udp) {
        bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
        s5u_open(s, &r.addr);
        return -1;
    }
    s5c_end(s, 0, NULL);
    return -1;
}

static void
s5c_read_cb(struct bufferevent *bev, void *arg)
{
    struct socks5_dial *s = arg;
    struct evbuffer    *in = bufferevent_get_input(bev);
    int                 more = 1;

    while (more > 0) {
        size_t         len = evbuffer_get_length(in);
        const uint8_t *p;

        if (len == 0) {
            return;
        }
        if (len > SOCKS5_REPLY_MAX) {
            len = SOCKS5_REPLY_MAX;
        }
        p = evbuffer_pullup(in, (ssize_t) len);
        switch (s->state) {
        case S5C_METHOD: more = s5c_method(s, p, len); break;
        case S5C_AUTH:   more = s5c_auth(s, p, len); break;
        default:         more = s5c_reply(s, p, len); break;
        }
    }
}

static void
s5c_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct socks5_dial *s = arg;
    char                why[96];
    int                 e = EVUTIL_SOCKET_ERROR();

    (void) bev;
    if (what & BEV_EVENT_EOF) {
        s5c_end(s, ECONNRESET, "socks5: the proxy closed the connection "
                "before its reply");
        return;
    }
    snprintf(why, sizeof(why), "socks5: %s", strerror(e ? e : ECONNRESET));
    s5c_end(s, e ? e : ECONNRESET, why);
}

static void
s5c_start(struct tp_dial *d, const void *conf, const struct tp_target *to,
    bool udp)
{
    const struct socks5_connector_conf *cf = conf;
    struct socks5_dial                 *s = calloc(1, sizeof(*s));
    uint8_t                             greet[4] = { SOCKS5_VERSION, 1, 0, 0 };
    char                                why[300];

    if (s == NULL) {
        tp_dial_step(d, ENOMEM, "socks5: out of memory");
        return;
    }
    s->d = d;
    s->cf = cf;
    s->udp = udp;
    d->pctx = s;
    d->pctx_free = free;
    if (udp) {
        s->to.family = AF_INET;
    } else if (target_to_addr(to, &s->to) != TP_OK) {
        snprintf(why, sizeof(why), "socks5: cannot carry target \"%s\"",
                 to->host);
        tp_dial_unreachable(d, EINVAL, why);
        return;
    }
    if (cf->auth.username != NULL) {
        greet[1] = 2;
        greet[3] = SOCKS5_METHOD_USERPASS;
    }
    s->state = S5C_METHOD;
    bufferevent_setcb(d->bev, s5c_read_cb, NULL, s5c_event_cb, s);
    bufferevent_enable(d->bev, EV_READ | EV_WRITE);
    bufferevent_write(d->bev, greet, 2u + greet[1]);
}

static void
socks5_connect(struct tp_dial *d, const void *conf, const struct tp_target *to)
{
    s5c_start(d, conf, to, false);
}

/* ----------------------------------------------------- connector: UDP */

/*
 * UDP ASSOCIATE (RFC 1928 section 7): datagrams go to the proxy's relay
 * address (BND, or the control connection's peer when BND is 0.0.0.0/::)
 * straight from a UDP socket of ours, with the SOCKS5 UDP header; the
 * association lives as long as the TCP control connection. The relay must
 * be reachable directly, so the node is normally the chain's first hop.
 */
struct socks5_utun {
    struct tp_udp_tunnel     t;             /* first: the user's handle */
    struct bufferevent      *ctl;           /* the control connection */
    int                      fd;            /* connected to the relay */
    struct event            *ev;
    bool                     broken;
    int                      depth;         /* inside a user callback */
    bool                     dead;          /* freed inside a callback */
};

static void
s5u_release(struct socks5_utun *u)
{
    if (u->ev != NULL) {
        event_free(u->ev);
    }
    if (u->fd >= 0) {
        close(u->fd);
    }
    bufferevent_free(u->ctl);
    free(u);
}

static void
s5u_free(struct tp_udp_tunnel *t)
{
    struct socks5_utun *u = (struct socks5_utun *) t;

    bufferevent_setcb(u->ctl, NULL, NULL, NULL, NULL);
    if (u->depth > 0) {
        u->dead = true;
        return;
    }
    s5u_release(u);
}

static void
s5u_break(struct socks5_utun *u, int err, const char *why)
{
    bufferevent_setcb(u->ctl, NULL, NULL, NULL, NULL);
    if (u->ev != NULL) {
        event_del(u->ev);
    }
    if (u->broken) {
        return;
    }
    u->broken = true;
    u->depth++;
    u->t.closed(u->t.arg, err, why);
    u->depth--;
    if (u->dead) {
        s5u_release(u);
    }
}

static int
s5u_send(struct tp_udp_tunnel *t, const struct sockaddr *dst,
    const uint8_t *data, size_t len)
{
    struct socks5_utun       *u = (struct socks5_utun *) t;
    struct socks5_udp_header  h;
    uint8_t                   hdr[SOCKS5_UDP_HEADER_MAX];
    struct iovec              iov[2];
    int                       n;

    if (u->broken) {
        errno = EPIPE;
        return -1;
    }
    memset(&h, 0, sizeof(h));
    if (tp_proxy_addr_from_sockaddr((const struct sockaddr_storage *) dst,
                                    &h.addr) != TP_OK
        || (n = socks5_udp_encode(hdr, sizeof(hdr), &h)) < 0) {
        errno = EINVAL;
        return -1;
    }
    iov[0].iov_base = hdr;
    iov[0].iov_len = (size_t) n;
    iov[1].iov_base = (void *) data;
    iov[1].iov_len = len;
    return writev(u->fd, iov, 2) < 0 ? -1 : 0;
}

/* Replies from the relay: header off, to the user with their source. */
static void
s5u_dgram_cb(evutil_socket_t fd, short what, void *arg)
{
    struct socks5_utun       *u = arg;
    struct socks5_udp_header  h;
    struct sockaddr_storage   src;
    socklen_t                 sl;
    uint8_t                   buf[65536];
    ssize_t                   n;
    int                       hl;

    (void) what;
    for (int i = 0; i < 64 && !u->broken; i++) {
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0) {
            return;
        }
        hl = socks5_udp_decode(buf, (size_t) n, &h);
        if (hl < 0 || h.frag != 0
            || tp_proxy_addr_to_sockaddr(&h.addr, &src, &sl) != TP_OK) {
            continue;           /* fragments, names, junk: dropped */
        }
        u->depth++;
        u->t.recv(u->t.arg, (struct sockaddr *) &src, buf + hl,
                  (size_t) n - (size_t) hl);
        u->depth--;
        if (u->dead) {
            s5u_release(u);
            return;
        }
    }
}

static void
s5u_ctl_read_cb(struct bufferevent *bev, void *arg)
{
    (void) arg;
    evbuffer_drain(bufferevent_get_input(bev),
                   evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
s5u_ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void) bev; (void) what;
    s5u_break(arg, ECONNRESET, "socks5: the UDP association's control "
              "connection closed");
}

static const struct tp_udp_tunnel_ops socks5_utun_ops = {
    .send = s5u_send,
    .free = s5u_free,
};

/* The relay address: BND, or when that is unspecified, the address the
 * control connection goes to (its socket's peer, or the node's IP). */
static int
s5u_relay_addr(struct tp_dial *d, const struct tp_proxy_addr *bnd,
    struct sockaddr_storage *ss, socklen_t *sl)
{
    static const uint8_t zero[16];
    struct bufferevent  *b = d->bev, *under;
    struct tp_node      *n = d->nodes[d->hop];
    uint16_t             port = bnd->port;
    int                  fd;

    if (tp_proxy_addr_to_sockaddr(bnd, ss, sl) != TP_OK) {
        return -1;
    }
    if (memcmp(bnd->ip, zero, bnd->family == AF_INET ? 4 : 16) != 0) {
        return 0;
    }
    while ((under = bufferevent_get_underlying(b)) != NULL) {
        b = under;
    }
    fd = d->hop == 0 ? bufferevent_getfd(b) : -1;
    *sl = sizeof(*ss);
    if (fd >= 0 && getpeername(fd, (struct sockaddr *) ss, sl) == 0) {
        tp_sockaddr_unmap(ss, sl);
    } else if (tp_ip_literal(n->addr.host, port, ss, sl) != 0) {
        return -1;
    }
    ((struct sockaddr_in *) ss)->sin_port = htons(port);
    if (ss->ss_family == AF_INET6) {
        ((struct sockaddr_in6 *) ss)->sin6_port = htons(port);
    }
    return 0;
}

/* A UDP ASSOCIATE succeeded (BND in r): make the tunnel, end the step. */
static void
s5u_open(struct socks5_dial *s, const struct tp_proxy_addr *bnd)
{
    struct tp_dial          *d = s->d;
    struct socks5_utun      *u;
    struct sockaddr_storage  ss;
    socklen_t                sl;
    char                     why[128];
    int                      fd;

    if (s5u_relay_addr(d, bnd, &ss, &sl) != 0) {
        s5c_end(s, EPROTO, "socks5: no usable UDP relay address");
        return;
    }
    fd = tp_socket_egress(ss.ss_family, SOCK_DGRAM, tp_dial_mark(d));
    if (fd < 0 || connect(fd, (struct sockaddr *) &ss, sl) != 0
        || (u = calloc(1, sizeof(*u))) == NULL) {
        int e = errno;

        snprintf(why, sizeof(why), "socks5: UDP socket to the relay: %s",
                 strerror(e));
        if (fd >= 0) {
            close(fd);
        }
        s5c_end(s, e, why);
        return;
    }
    u->t.ops = &socks5_utun_ops;
    u->t.route = "socks5-udp";
    u->fd = fd;
    u->ctl = d->bev;
    d->bev = NULL;
    u->ev = event_new(d->w->base, fd, EV_READ | EV_PERSIST, s5u_dgram_cb, u);
    event_add(u->ev, NULL);
    bufferevent_setcb(u->ctl, s5u_ctl_read_cb, NULL, s5u_ctl_event_cb, u);
    bufferevent_enable(u->ctl, EV_READ);
    d->udp = &u->t;
    tp_dial_step(d, 0, NULL);
}

static void
socks5_udp(struct tp_dial *d, const void *conf, const struct tp_target *to)
{
    (void) to;              /* any destination: each datagram names its own */
    s5c_start(d, conf, NULL, true);
}

/* --------------------------------------------------------------- handler */

enum { S5H_GREETING, S5H_AUTH, S5H_REQUEST };

struct socks5_serve {
    struct tp_conn                      *c;
    const struct socks5_handler_conf    *hc;
    int                                  state;
};

static void
s5h_reply(struct tp_conn *c, uint8_t rep)
{
    struct socks5_reply r;
    uint8_t             buf[SOCKS5_REPLY_MAX];
    int                 n;

    memset(&r, 0, sizeof(r));
    r.rep = rep;
    r.addr.family = AF_INET;
    n = socks5_reply_encode(buf, sizeof(buf), &r);
    bufferevent_write(c->cbev, buf, (size_t) n);
}

static uint8_t
s5h_errno_rep(int err)
{
    switch (err) {
    case ECONNREFUSED:  return SOCKS5_REP_CONN_REFUSED;
    case ENETUNREACH:   return SOCKS5_REP_NET_UNREACH;
    case EHOSTUNREACH:
    case ETIMEDOUT:     return SOCKS5_REP_HOST_UNREACH;
    case EACCES:
    case EPERM:         return SOCKS5_REP_NOT_ALLOWED;
    default:            return SOCKS5_REP_GENERAL_FAILURE;
    }
}

static void
s5h_dialed(struct tp_conn *c, int err)
{
    s5h_reply(c, err ? s5h_errno_rep(err) : SOCKS5_REP_SUCCEEDED);
    if (err != 0) {
        /* conn.c closes (and resets) right after: let the reply go. */
        tp_conn_detach_flushed(c);
    }
}

static void
s5h_refuse(struct tp_conn *c, const uint8_t *msg, size_t n, enum tp_end why,
    const char *detail)
{
    if (n > 0) {
        bufferevent_write(c->cbev, msg, n);
    }
    tp_conn_detach_flushed(c);
    tp_conn_close(c, why, detail);
}

/* The request is in: set the target and hand the flow to the core. */
static void
s5h_forward(struct tp_conn *c, const struct tp_proxy_addr *a)
{
    struct sockaddr_storage ss;
    socklen_t               len;

    if (a->family == AF_UNSPEC) {
        tp_target_from_name(&c->dst, a->host, a->port);
    } else {
        tp_proxy_addr_to_sockaddr(a, &ss, &len);
        tp_target_from_sockaddr(&c->dst, (struct sockaddr *) &ss, len);
    }
    event_free(c->timer);
    c->timer = NULL;
    c->hctx_free(c->hctx);
    c->hctx = NULL;
    c->hctx_free = NULL;
    bufferevent_setcb(c->cbev, NULL, NULL, NULL, NULL);
    c->dialed = s5h_dialed;
    tp_conn_forward(c);
}

/* ------------------------------------------------------- handler: UDP */

/*
 * UDP ASSOCIATE, server side: a relay socket on the address the client
 * reached us at (its BND goes in the reply), datagrams accepted only from
 * the client's IP (and port, if the request named one), sent on from one
 * dual-stack socket to any destination (or through the service's chain:
 * a UDP tunnel, tp_dial_udp_start()); replies come back with the SOCKS5
 * UDP header naming their source. The association ends with the control
 * connection, or after the service's idle_timeout.
 */
struct s5h_udp {
    struct tp_conn          *c;
    int                      rfd;           /* client side (relay) */
    int                      ofd;           /* remote side, dual-stack */
    int                      ofam;
    struct tp_dial          *dial;          /* through the chain: opening */
    struct tp_udp_tunnel    *tun;           /*   and open */
    struct s5h_pending      *pending;       /* datagrams while opening */
    int                      npending;
    struct event            *rev, *oev, *idle;
    struct sockaddr_storage  peer;          /* the client's UDP address */
    socklen_t                peerlen;
    uint16_t                 want_port;     /* from the request, or 0 */
    uint64_t                 last_ms;
};

static void s5h_udp_flush(struct s5h_udp *u, struct tp_udp_tunnel *t);

static void
s5h_udp_free(void *arg)
{
    struct s5h_udp *u = arg;

    if (u->dial != NULL) {
        tp_dial_cancel(u->dial);
    }
    s5h_udp_flush(u, NULL);
    if (u->tun != NULL) {
        u->tun->ops->free(u->tun);
    }
    if (u->rev != NULL) {
        event_free(u->rev);
    }
    if (u->oev != NULL) {
        event_free(u->oev);
    }
    if (u->idle != NULL) {
        event_free(u->idle);
    }
    if (u->rfd >= 0) {
        close(u->rfd);
    }
    if (u->ofd >= 0) {
        close(u->ofd);
    }
    free(u);
}

#define S5H_PENDING_MAX     8

/* A datagram that came while the tunnel through the chain was opening. */
struct s5h_pending {
    struct s5h_pending      *next;
    struct sockaddr_storage  dst;
    size_t                   len;
    uint8_t                  data[];
};

static void
s5h_udp_queue(struct s5h_udp *u, const struct sockaddr_storage *dst,
    const uint8_t *data, size_t len)
{
    struct s5h_pending *p, **tail = &u->pending;

    if (u->npending >= S5H_PENDING_MAX
        || (p = malloc(sizeof(*p) + len)) == NULL) {
        return;                 /* dropped, as UDP may be */
    }
    p->next = NULL;
    p->dst = *dst;
    p->len = len;
    memcpy(p->data, data, len);
    while (*tail != NULL) {
        tail = &(*tail)->next;
    }
    *tail = p;
    u->npending++;
}

/* Send (tunnel open) or drop (tunnel NULL) what was queued. */
static void
s5h_udp_flush(struct s5h_udp *u, struct tp_udp_tunnel *t)
{
    while (u->pending != NULL) {
        struct s5h_pending *p = u->pending;

        u->pending = p->next;
        if (t != NULL
            && t->ops->send(t, (struct sockaddr *) &p->dst, p->data,
                            p->len) == 0) {
            u->c->relay.a.bytes += p->len;
        }
        free(p);
    }
    u->npending = 0;
}

/* A v4 address on a dual-stack socket is written v4-mapped. */
static socklen_t
s5h_udp_map(int fam, struct sockaddr_storage *ss, socklen_t len)
{
    struct sockaddr_in   in4;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;

    if (fam != AF_INET6 || ss->ss_family != AF_INET) {
        return ss->ss_family == fam ? len : 0;
    }
    in4 = *(struct sockaddr_in *) ss;
    memset(in6, 0, sizeof(*in6));
    in6->sin6_family = AF_INET6;
    in6->sin6_port = in4.sin_port;
    in6->sin6_addr.s6_addr[10] = 0xff;
    in6->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&in6->sin6_addr.s6_addr[12], &in4.sin_addr, 4);
    return sizeof(*in6);
}

/* Same IP as the control connection's client (and port, if asked). */
static bool
s5h_udp_from_client(const struct s5h_udp *u, struct sockaddr_storage *src,
    socklen_t *sl)
{
    const struct sockaddr_storage *cl = &u->c->client;

    tp_sockaddr_unmap(src, sl);
    if (src->ss_family != cl->ss_family
        || (u->want_port && tp_sockaddr_port((struct sockaddr *) src)
                            != u->want_port)) {
        return false;
    }
    if (src->ss_family == AF_INET) {
        return ((struct sockaddr_in *) src)->sin_addr.s_addr
               == ((const struct sockaddr_in *) cl)->sin_addr.s_addr;
    }
    return memcmp(&((struct sockaddr_in6 *) src)->sin6_addr,
                  &((const struct sockaddr_in6 *) cl)->sin6_addr, 16) == 0;
}

/* From the client: header off, on to the destination. */
static void
s5h_udp_client_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s5h_udp           *u = arg;
    struct socks5_udp_header  h;
    struct sockaddr_storage   src, dst;
    socklen_t                 sl, dl;
    uint8_t                   buf[65536];
    ssize_t                   n;
    int                       hl;

    (void) what;
    for (int i = 0; i < 64; i++) {
        sl = sizeof(src);
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *) &src, &sl);
        if (n < 0) {
            return;
        }
        hl = socks5_udp_decode(buf, (size_t) n, &h);
        if (!s5h_udp_from_client(u, &src, &sl) || hl < 0 || h.frag != 0
            || tp_proxy_addr_to_sockaddr(&h.addr, &dst, &dl) != TP_OK) {
            continue;           /* strangers, fragments, names: dropped */
        }
        memcpy(&u->peer, &src, sl);
        u->peerlen = sl;
        if (u->c->dst.sslen == 0) {
            tp_target_from_sockaddr(&u->c->dst, (struct sockaddr *) &dst, dl);
        }
        if (u->ofd < 0 && u->tun == NULL) {     /* the chain is opening */
            s5h_udp_queue(u, &dst, buf + hl, (size_t) n - (size_t) hl);
            continue;
        }
        if (u->ofd < 0) {
            if (u->tun->ops->send(u->tun, (struct sockaddr *) &dst, buf + hl,
                                  (size_t) n - (size_t) hl) != 0) {
                continue;
            }
        } else if ((dl = s5h_udp_map(u->ofam, &dst, dl)) == 0
                   || sendto(u->ofd, buf + hl, (size_t) n - (size_t) hl, 0,
                             (struct sockaddr *) &dst, dl) < 0) {
            continue;
        }
        u->c->relay.a.bytes += (uint64_t) n - (uint64_t) hl;
        u->last_ms = tp_now_ms();
    }
}

/* A datagram from src (a remote), with a header naming it, to the client;
 * data sits in a buffer with SOCKS5_UDP_HEADER_MAX bytes free before it. */
static void
s5h_udp_to_client(struct s5h_udp *u, const struct sockaddr *from,
    uint8_t *data, size_t len)
{
    struct socks5_udp_header h;
    struct sockaddr_storage  src;
    socklen_t                sl;
    uint8_t                  hdr[SOCKS5_UDP_HEADER_MAX];
    int                      hl;

    memset(&h, 0, sizeof(h));
    sl = from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in);
    memcpy(&src, from, sl);
    tp_sockaddr_unmap(&src, &sl);
    if (u->peerlen == 0
        || tp_proxy_addr_from_sockaddr(&src, &h.addr) != TP_OK
        || (hl = socks5_udp_encode(hdr, sizeof(hdr), &h)) < 0) {
        return;
    }
    memcpy(data - hl, hdr, (size_t) hl);
    sendto(u->rfd, data - hl, len + (size_t) hl, 0,
           (struct sockaddr *) &u->peer, u->peerlen);
    u->c->relay.b.bytes += len;
    u->last_ms = tp_now_ms();
}

/* From a remote (direct): back to the client. */
static void
s5h_udp_remote_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s5h_udp          *u = arg;
    struct sockaddr_storage  src;
    socklen_t                sl;
    uint8_t                  buf[SOCKS5_UDP_HEADER_MAX + 65536];
    ssize_t                  n;

    (void) what;
    for (int i = 0; i < 64; i++) {
        sl = sizeof(src);
        n = recvfrom(fd, buf + SOCKS5_UDP_HEADER_MAX, 65536, 0,
                     (struct sockaddr *) &src, &sl);
        if (n < 0) {
            return;
        }
        s5h_udp_to_client(u, (struct sockaddr *) &src,
                          buf + SOCKS5_UDP_HEADER_MAX, (size_t) n);
    }
}

/* From a remote, through the chain's tunnel: back to the client. */
static void
s5h_udp_tun_recv(void *arg, const struct sockaddr *src, const uint8_t *data,
    size_t len)
{
    uint8_t buf[SOCKS5_UDP_HEADER_MAX + 65536];

    if (len > 65536) {
        return;
    }
    memcpy(buf + SOCKS5_UDP_HEADER_MAX, data, len);
    s5h_udp_to_client(arg, src, buf + SOCKS5_UDP_HEADER_MAX, len);
}

static void
s5h_udp_tun_closed(void *arg, int err, const char *why)
{
    struct s5h_udp *u = arg;
    char            detail[256];

    (void) err;
    snprintf(detail, sizeof(detail), "(socks5 UDP through the chain: %s)",
             why);
    tp_conn_close(u->c, TP_END_UPSTREAM_RESET, detail);
}

static void
s5h_udp_dialed(void *arg, struct tp_udp_tunnel *t, int err, const char *why)
{
    struct s5h_udp *u = arg;
    char            detail[256];

    if (t == NULL) {
        snprintf(detail, sizeof(detail), "(socks5 UDP: %s)", why);
        tp_conn_close(u->c, err == ETIMEDOUT ? TP_END_DIAL_TIMEOUT
                                             : TP_END_DIAL_FAILED, detail);
        return;
    }
    u->tun = t;
    t->recv = s5h_udp_tun_recv;
    t->closed = s5h_udp_tun_closed;
    t->arg = u;
    s5h_udp_flush(u, t);
}

static void
s5h_udp_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s5h_udp *u = arg;
    uint64_t        ms = u->c->sw->svc->idle_timeout_ms;
    uint64_t        idle = tp_now_ms() - u->last_ms;
    struct timeval  tv;

    (void) fd; (void) what;
    if (idle >= ms) {
        tp_conn_close(u->c, TP_END_IDLE_TIMEOUT, "(socks5: UDP association)");
        return;
    }
    tv.tv_sec = (time_t) ((ms - idle) / 1000);
    tv.tv_usec = (suseconds_t) ((ms - idle) % 1000) * 1000;
    evtimer_add(u->idle, &tv);
}

static void
s5h_udp_ctl_read_cb(struct bufferevent *bev, void *arg)
{
    (void) arg;
    evbuffer_drain(bufferevent_get_input(bev),
                   evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
s5h_udp_ctl_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void) bev;
    tp_conn_close(arg, what & BEV_EVENT_EOF ? TP_END_DONE
                                            : TP_END_CLIENT_RESET,
                  "(socks5: UDP association)");
}

/* The relay socket, on the local address of the control connection. */
static int
s5h_udp_sockets(struct s5h_udp *u, struct sockaddr_storage *bnd,
    socklen_t *bl)
{
    struct bufferevent  *b = u->c->cbev, *under;
    int64_t              mark = u->c->sw->svc->sockopts.mark;
    struct sockaddr_in6  any6;
    int                  off = 0;

    while ((under = bufferevent_get_underlying(b)) != NULL) {
        b = under;
    }
    *bl = sizeof(*bnd);
    if (getsockname(bufferevent_getfd(b), (struct sockaddr *) bnd, bl) != 0) {
        return -1;
    }
    tp_sockaddr_unmap(bnd, bl);
    ((struct sockaddr_in *) bnd)->sin_port = 0;
    if (bnd->ss_family == AF_INET6) {
        ((struct sockaddr_in6 *) bnd)->sin6_port = 0;
    }
    u->rfd = socket(bnd->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (u->rfd < 0 || bind(u->rfd, (struct sockaddr *) bnd, *bl) != 0
        || getsockname(u->rfd, (struct sockaddr *) bnd, bl) != 0) {
        return -1;
    }
    if (u->c->sw->svc->handler.chain != NULL) {
        return 0;               /* remotes are reached through the chain */
    }
    u->ofam = AF_INET6;
    u->ofd = tp_socket_egress(AF_INET6, SOCK_DGRAM, mark);
    memset(&any6, 0, sizeof(any6));
    any6.sin6_family = AF_INET6;
    if (u->ofd >= 0 && (setsockopt(u->ofd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
                                   sizeof(off)) != 0
                        || bind(u->ofd, (struct sockaddr *) &any6,
                                sizeof(any6)) != 0)) {
        close(u->ofd);
        u->ofd = -1;
    }
    if (u->ofd < 0) {
        u->ofam = AF_INET;
        u->ofd = tp_socket_egress(AF_INET, SOCK_DGRAM, mark);
    }
    return u->ofd < 0 ? -1 : 0;
}

static void
s5h_udp_start(struct tp_conn *c, const struct tp_proxy_addr *from)
{
    struct s5h_udp          *u = calloc(1, sizeof(*u));
    struct socks5_reply      r;
    struct sockaddr_storage  bnd;
    socklen_t                bl;
    uint8_t                  buf[SOCKS5_REPLY_MAX];
    struct timeval           tv = { 1, 0 };

    if (u == NULL) {
        tp_conn_close(c, TP_END_RESOURCE, "(out of memory)");
        return;
    }
    u->c = c;
    u->rfd = u->ofd = -1;
    u->want_port = from->port;
    u->last_ms = tp_now_ms();
    c->hctx_free(c->hctx);
    c->hctx = u;
    c->hctx_free = s5h_udp_free;
    memset(&r, 0, sizeof(r));
    if (s5h_udp_sockets(u, &bnd, &bl) != 0
        || tp_proxy_addr_from_sockaddr(&bnd, &r.addr) != TP_OK) {
        s5h_reply(c, SOCKS5_REP_GENERAL_FAILURE);
        s5h_refuse(c, NULL, 0, TP_END_RESOURCE, "(socks5: UDP sockets)");
        return;
    }
    event_free(c->timer);
    c->timer = NULL;
    c->state = TP_ST_DIAL;     /* not TP_ST_RELAY: no relay core owns cbev */
    bufferevent_write(c->cbev, buf,
                      (size_t) socks5_reply_encode(buf, sizeof(buf), &r));
    u->rev = event_new(c->w->base, u->rfd, EV_READ | EV_PERSIST,
                       s5h_udp_client_cb, u);
    event_add(u->rev, NULL);
    if (c->sw->svc->idle_timeout_ms > 0) {
        u->idle = evtimer_new(c->w->base, s5h_udp_idle_cb, u);
        evtimer_add(u->idle, &tv);
    }
    bufferevent_setcb(c->cbev, s5h_udp_ctl_read_cb, NULL,
                      s5h_udp_ctl_event_cb, c);
    if (u->ofd >= 0) {
        u->oev = event_new(c->w->base, u->ofd, EV_READ | EV_PERSIST,
                           s5h_udp_remote_cb, u);
        event_add(u->oev, NULL);
        return;
    }
    /* Last: a dial that fails at once closes c. */
    c->route = c->sw->svc->handler.chain->name;
    tp_dial_udp_start(&u->dial, c->w, NULL, c->sw->svc->handler.chain,
                      c->sw->svc->sockopts.mark, c->sw->svc->connect_timeout_ms,
                      s5h_udp_dialed, u);
}

static int
s5h_greeting(struct socks5_serve *s, const uint8_t *p, size_t len)
{
    struct socks5_greeting g;
    struct tp_conn        *c = s->c;
    uint8_t                m, buf[SOCKS5_METHOD_LEN];
    int                    n = socks5_greeting_decode(p, len, &g);

    if (n == TP_AGAIN) {
        return 0;
    }
    if (n < 0) {
        tp_conn_close(c, TP_END_PROTOCOL, "(socks5: bad greeting)");
        return -1;
    }
    evbuffer_drain(bufferevent_get_input(c->cbev), (size_t) n);
    m = s->hc->auth.username ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NO_AUTH;
    if (!socks5_greeting_offers(&g, m)) {
        socks5_method_encode(buf, sizeof(buf), SOCKS5_METHOD_NONE_OK);
        s5h_refuse(c, buf, sizeof(buf), TP_END_AUTH, m
                   ? "(socks5: client offers no username/password method)"
                   : "(socks5: client offers no no-auth method)");
        return -1;
    }
    socks5_method_encode(buf, sizeof(buf), m);
    bufferevent_write(c->cbev, buf, sizeof(buf));
    s->state = m == SOCKS5_METHOD_USERPASS ? S5H_AUTH : S5H_REQUEST;
    return 1;
}

static int
s5h_auth(struct socks5_serve *s, const uint8_t *p, size_t len)
{
    struct socks5_auth a;
    struct tp_conn    *c = s->c;
    const char        *pass = s->hc->auth.password ? s->hc->auth.password : "";
    uint8_t            buf[SOCKS5_AUTH_STATUS_LEN];
    char               detail[128];
    int                n = socks5_auth_decode(p, len, &a);

    if (n == TP_AGAIN) {
        return 0;
    }
    if (n < 0) {
        tp_conn_close(c, TP_END_PROTOCOL, "(socks5: bad auth request)");
        return -1;
    }
    evbuffer_drain(bufferevent_get_input(c->cbev), (size_t) n);
    if (strcmp(a.user, s->hc->auth.username) != 0 || strcmp(a.pass, pass)) {
        socks5_auth_status_encode(buf, sizeof(buf), 0x01);
        snprintf(detail, sizeof(detail), "(socks5: bad credentials for user "
                 "\"%.64s\")", a.user);
        s5h_refuse(c, buf, sizeof(buf), TP_END_AUTH, detail);
        return -1;
    }
    socks5_auth_status_encode(buf, sizeof(buf), SOCKS5_AUTH_SUCCESS);
    bufferevent_write(c->cbev, buf, sizeof(buf));
    s->state = S5H_REQUEST;
    return 1;
}

static int
s5h_request(struct socks5_serve *s, const uint8_t *p, size_t len)
{
    struct socks5_request r;
    struct tp_conn       *c = s->c;
    char                  detail[64];
    int                   n = socks5_request_decode(p, len, &r), rep;

    if (n == TP_AGAIN) {
        return 0;
    }
    if (n < 0) {
        rep = socks5_request_error_rep(p, len);
        if (rep < 0) {
            tp_conn_close(c, TP_END_PROTOCOL, "(socks5: bad request)");
            return -1;
        }
        s5h_reply(c, (uint8_t) rep);
        s5h_refuse(c, NULL, 0, TP_END_PROTOCOL, "(socks5: bad request)");
        return -1;
    }
    evbuffer_drain(bufferevent_get_input(c->cbev), (size_t) n);
    if (r.cmd == SOCKS5_CMD_UDP_ASSOCIATE && s->hc->udp) {
        s5h_udp_start(c, &r.addr);
        return -1;
    }
    if (r.cmd != SOCKS5_CMD_CONNECT) {
        s5h_reply(c, SOCKS5_REP_CMD_UNSUPPORTED);
        snprintf(detail, sizeof(detail), "(socks5: command 0x%02x is not "
                 "supported)", r.cmd);
        s5h_refuse(c, NULL, 0, TP_END_PROTOCOL, detail);
        return -1;
    }
    s5h_forward(c, &r.addr);
    return -1;
}

static void
s5h_read_cb(struct bufferevent *bev, void *arg)
{
    struct tp_conn      *c = arg;
    struct socks5_serve *s = c->hctx;
    struct evbuffer     *in = bufferevent_get_input(bev);
    int                  more = 1;

    while (more > 0) {
        size_t         len = evbuffer_get_length(in);
        const uint8_t *p;

        if (len == 0) {
            return;
        }
        if (len > SOCKS5_AUTH_MAX) {
            len = SOCKS5_AUTH_MAX;
        }
        p = evbuffer_pullup(in, (ssize_t) len);
        switch (s->state) {
        case S5H_GREETING: more = s5h_greeting(s, p, len); break;
        case S5H_AUTH:     more = s5h_auth(s, p, len); break;
        default:           more = s5h_request(s, p, len); break;
        }
    }
}

static void
s5h_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void) bev;
    tp_conn_close(arg, what & BEV_EVENT_EOF ? TP_END_PROTOCOL
                                            : TP_END_CLIENT_RESET,
                  "(socks5: client went away during the handshake)");
}

static void
s5h_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd; (void) what;
    tp_conn_close(arg, TP_END_PROTOCOL, "(socks5: handshake timed out)");
}

static void
socks5_handle(struct tp_conn *c)
{
    const struct socks5_handler_conf *hc = c->sw->svc->handler.conf;
    struct socks5_serve              *s = calloc(1, sizeof(*s));
    struct timeval                    tv;

    if (s == NULL) {
        tp_conn_close(c, TP_END_RESOURCE, "(out of memory)");
        return;
    }
    s->c = c;
    s->hc = hc;
    c->hctx = s;
    c->hctx_free = free;
    c->state = TP_ST_HANDSHAKE;
    c->timer = evtimer_new(c->w->base, s5h_timeout_cb, c);
    tv.tv_sec = (time_t) (hc->read_timeout_ms / 1000);
    tv.tv_usec = (suseconds_t) (hc->read_timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    bufferevent_setcb(c->cbev, s5h_read_cb, NULL, s5h_event_cb, c);
    bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
}

static const struct tp_connector_ops socks5_connector_ops = {
    .connect = socks5_connect,
    .udp = socks5_udp,
};

static const struct tp_handler_ops socks5_handler_ops = {
    .socktype = SOCK_STREAM,
    .uses_chain = true,
    .stream = socks5_handle,
};

const struct tp_module tp_mod_socks5 = {
    .name = "socks5",
    .role = {
        [TP_ROLE_HANDLER] = {
            .schema = socks5_handler_schema,
            .conf_size = sizeof(struct socks5_handler_conf),
            .init = socks5_auth_init,
            .ops = &socks5_handler_ops,
        },
        [TP_ROLE_CONNECTOR] = {
            .schema = socks5_connector_schema,
            .conf_size = sizeof(struct socks5_connector_conf),
            .init = socks5_auth_init,
            .ops = &socks5_connector_ops,
        },
    },
};
