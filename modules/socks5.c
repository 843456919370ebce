/*
 * socks5.c - module "socks5" (RFC 1928, RFC 1929): its table, the schemas
 * of both roles and the connector, which asks an upstream SOCKS5 proxy for
 * a tunnel or a UDP association (no auth or username/password; IPv4, IPv6
 * or a name the proxy resolves). The handler is socks5_server.c; bytes are
 * parsed by socks5_wire.c; this file owns the connector's state machine.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/conn.h"
#include "../src/dial.h"
#include "../src/log.h"
#include "../src/worker.h"
#include "socks5_wire.h"
#include "socks5_module.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

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
    struct tp_node      *n = d->ch->nodes[d->hop];
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
