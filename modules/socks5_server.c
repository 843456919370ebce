/*
 * socks5_server.c - the handler of module "socks5": makes tproxyd a SOCKS5
 * server (CONNECT, optional username/password, UDP ASSOCIATE served directly
 * or through the service's chain). Bytes are parsed by socks5_wire.c; this
 * file owns the handler's state machines, timeouts and replies.
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
#include <unistd.h>

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
        tp_target_from_name(c->dst, a->host, a->port);
    } else {
        tp_proxy_addr_to_sockaddr(a, &ss, &len);
        tp_target_from_sockaddr(c->dst, (struct sockaddr *) &ss, len);
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
    const union tp_sa *cl = &u->c->client;

    tp_sockaddr_unmap(src, sl);
    if (src->ss_family != cl->sa.sa_family
        || (u->want_port && tp_sockaddr_port((struct sockaddr *) src)
                            != u->want_port)) {
        return false;
    }
    if (src->ss_family == AF_INET) {
        return ((struct sockaddr_in *) src)->sin_addr.s_addr
               == cl->in.sin_addr.s_addr;
    }
    return memcmp(&((struct sockaddr_in6 *) src)->sin6_addr,
                  &cl->in6.sin6_addr, 16) == 0;
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
        if (u->c->dst->sslen == 0) {
            tp_target_from_sockaddr(u->c->dst, (struct sockaddr *) &dst, dl);
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
                      &c->sw->svc->sockopts, c->sw->svc->connect_timeout_ms,
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

void
socks5_handle(struct tp_conn *c)
{
    const struct socks5_handler_conf *hc = c->sw->svc->handler.conf;
    struct socks5_serve              *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        tp_conn_close(c, TP_END_RESOURCE, "(out of memory)");
        return;
    }
    s->c = c;
    s->hc = hc;
    c->hctx = s;
    c->hctx_free = free;
    tp_conn_handshake(c, hc->read_timeout_ms, s5h_read_cb, NULL, "socks5");
}
