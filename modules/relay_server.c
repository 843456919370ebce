/*
 * relay_server.c - the handler of module "relay": makes tproxyd a GOST relay
 * v1 server (CONNECT, optional user auth; UDP CONNECT and, with bind = true,
 * the UDP association, direct only). It answers as soon as its own dial is
 * done. Bytes: relay_wire.c; this file owns the handler's state and replies.
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

/* Longest request a server reads: UserAuth + Addr + Network fit in 600. */
#define RELAY_REQUEST_READ_MAX  4096

/* --------------------------------------------------------------- handler */

static void
relayh_respond(struct tp_conn *c, uint8_t status)
{
    struct relay_response r;
    uint8_t               buf[RELAY_HEADER_LEN];
    int                   n;

    memset(&r, 0, sizeof(r));
    r.status = status;
    n = relay_response_encode(buf, sizeof(buf), &r);
    bufferevent_write(c->cbev, buf, (size_t) n);
}

static void
relayh_refuse(struct tp_conn *c, uint8_t status, enum tp_end why,
    const char *detail)
{
    relayh_respond(c, status);
    tp_conn_detach_flushed(c);
    tp_conn_close(c, why, detail);
}

static void
relayh_dialed(struct tp_conn *c, int err)
{
    uint8_t st = RELAY_STATUS_OK;

    if (err == ETIMEDOUT) {
        st = RELAY_STATUS_TIMEOUT;
    } else if (err == EHOSTUNREACH) {
        st = RELAY_STATUS_HOST_UNREACH;
    } else if (err != 0) {
        st = RELAY_STATUS_NET_UNREACH;      /* what GOST v3 answers */
    }
    relayh_respond(c, st);
    if (err != 0) {
        /* conn.c closes (and resets) right after: let the status go. */
        tp_conn_detach_flushed(c);
    }
}

/* ------------------------------------------------------- handler: UDP */

/*
 * The server end of a UDP stream: UDP CONNECT (frames to one destination
 * over a connected socket) or, with `bind = true`, the association (frames
 * carry the remote; one dual-stack socket for every destination). Direct
 * only; its bytes count in the access log as a relayed flow's.
 */
struct relayh_udp {
    struct tp_conn      *c;
    int                  fd;
    int                  family;        /* of fd */
    bool                 addressed;
    struct event        *ev;
    struct event        *idle;
    uint64_t             last_ms;
};

static void
relayh_udp_free(void *arg)
{
    struct relayh_udp *u = arg;

    if (u->ev != NULL) {
        event_free(u->ev);
    }
    if (u->idle != NULL) {
        event_free(u->idle);
    }
    if (u->fd >= 0) {
        close(u->fd);
    }
    free(u);
}

/* dst for a socket of family fam (v4 on a dual-stack socket: v4-mapped). */
static socklen_t
relayh_udp_dst(int fam, const struct tp_proxy_addr *a,
    struct sockaddr_storage *ss)
{
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
    socklen_t            len;

    if (tp_proxy_addr_to_sockaddr(a, ss, &len) != TP_OK) {
        return 0;
    }
    if (fam == AF_INET6 && ss->ss_family == AF_INET) {
        struct sockaddr_in in4 = *(struct sockaddr_in *) ss;
        memset(in6, 0, sizeof(*in6));
        in6->sin6_family = AF_INET6;
        in6->sin6_port = in4.sin_port;
        in6->sin6_addr.s6_addr[10] = 0xff;
        in6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&in6->sin6_addr.s6_addr[12], &in4.sin_addr, 4);
        len = sizeof(*in6);
    }
    return ss->ss_family == fam ? len : 0;
}

/* Frames from the client: out as datagrams. 0, or -1 (c closed). */
static int
relayh_udp_frames(struct relayh_udp *u, struct evbuffer *in)
{
    struct tp_proxy_addr     a;
    struct sockaddr_storage  ss;
    const uint8_t           *p, *data;
    size_t                   len, need, dlen;
    socklen_t                sl;

    for (;;) {
        len = evbuffer_get_length(in);
        p = evbuffer_pullup(in, len < RELAY_UDP_ADDR_HEADER_MAX
                                ? (ssize_t) len : RELAY_UDP_ADDR_HEADER_MAX);
        if (p == NULL) {
            return 0;                   /* empty, or out of memory: later */
        }
        need = relay_udp_frame_need(p, len, u->addressed);
        if (need == RELAY_UDP_FRAME_BAD
            || (need == 0 && len >= RELAY_UDP_ADDR_HEADER_MAX)) {
            tp_conn_close(u->c, TP_END_PROTOCOL, "(relay: bad UDP frame)");
            return -1;
        }
        if (need == 0 || len < need) {
            return 0;
        }
        if ((p = evbuffer_pullup(in, (ssize_t) need)) == NULL) {
            return 0;
        }
        if (u->addressed) {
            relay_udp_addr_decode(p, need, &a, &data, &dlen);
            sl = relayh_udp_dst(u->family, &a, &ss);
            if (sl > 0) {
                sendto(u->fd, data, dlen, 0, (struct sockaddr *) &ss, sl);
            }
        } else {
            relay_udp_decode(p, need, &data, &dlen);
            send(u->fd, data, dlen, 0);
        }
        u->c->relay.a.bytes += dlen;
        u->last_ms = tp_now_ms();
        evbuffer_drain(in, need);
    }
}

static void
relayh_udp_read_cb(struct bufferevent *bev, void *arg)
{
    struct relayh_udp *u = ((struct tp_conn *) arg)->hctx;

    relayh_udp_frames(u, bufferevent_get_input(bev));
}

static void
relayh_udp_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void) bev;
    tp_conn_close(arg, what & BEV_EVENT_EOF ? TP_END_DONE
                                            : TP_END_CLIENT_RESET, NULL);
}

/* Datagrams from remotes: framed to the client (dropped if it lags). */
static void
relayh_udp_dgram_cb(evutil_socket_t fd, short what, void *arg)
{
    struct relayh_udp       *u = arg;
    struct evbuffer         *out = bufferevent_get_output(u->c->cbev);
    uint8_t                  buf[RELAY_UDP_MAX];
    uint8_t                  hdr[RELAY_UDP_ADDR_HEADER_MAX];
    struct sockaddr_storage  ss;
    struct tp_proxy_addr     a;
    socklen_t                sl;
    ssize_t                  n;
    int                      h;

    (void) what;
    for (int i = 0; i < 64; i++) {
        sl = sizeof(ss);
        n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *) &ss, &sl);
        if (n < 0) {
            return;
        }
        if (evbuffer_get_length(out) > RELAY_UDP_OUT_MAX || n == 0) {
            continue;
        }
        if (u->addressed) {
            tp_sockaddr_unmap(&ss, &sl);
            h = tp_proxy_addr_from_sockaddr(&ss, &a) == TP_OK
                ? relay_udp_addr_encode(hdr, sizeof(hdr), &a, NULL,
                                        (size_t) n) : TP_ERROR;
        } else {
            h = relay_udp_encode(hdr, sizeof(hdr), NULL, (size_t) n);
        }
        if (h > 0) {
            evbuffer_add(out, hdr, (size_t) h);
            evbuffer_add(out, buf, (size_t) n);
            u->c->relay.b.bytes += (uint64_t) n;
            u->last_ms = tp_now_ms();
        }
    }
}

static void
relayh_udp_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct relayh_udp *u = arg;
    uint64_t           ms = u->c->sw->svc->idle_timeout_ms;
    uint64_t           idle = tp_now_ms() - u->last_ms;
    struct timeval     tv;

    (void) fd; (void) what;
    if (idle >= ms) {
        tp_conn_close(u->c, TP_END_IDLE_TIMEOUT, NULL);
        return;
    }
    tv.tv_sec = (time_t) ((ms - idle) / 1000);
    tv.tv_usec = (suseconds_t) ((ms - idle) % 1000) * 1000;
    evtimer_add(u->idle, &tv);
}

/* The socket: connected to the one destination, or dual-stack unbound. */
static int
relayh_udp_socket(struct relayh_udp *u, const struct tp_proxy_addr *dst)
{
    int64_t                  mark = u->c->sw->svc->sockopts.mark;
    struct sockaddr_storage  ss;
    struct sockaddr_in6      any6;
    socklen_t                sl;
    int                      off = 0;

    if (u->addressed) {
        u->family = AF_INET6;
        u->fd = tp_socket_egress(AF_INET6, SOCK_DGRAM, mark);
        memset(&any6, 0, sizeof(any6));
        any6.sin6_family = AF_INET6;
        if (u->fd >= 0
            && (setsockopt(u->fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
                           sizeof(off)) != 0
                || bind(u->fd, (struct sockaddr *) &any6, sizeof(any6)))) {
            close(u->fd);
            u->fd = -1;
        }
        if (u->fd < 0) {
            u->family = AF_INET;
            u->fd = tp_socket_egress(AF_INET, SOCK_DGRAM, mark);
        }
        return u->fd < 0 ? -1 : 0;
    }
    if (tp_proxy_addr_to_sockaddr(dst, &ss, &sl) != TP_OK) {
        errno = EINVAL;
        return -1;
    }
    u->family = ss.ss_family;
    u->fd = tp_socket_egress(ss.ss_family, SOCK_DGRAM, mark);
    if (u->fd >= 0 && connect(u->fd, (struct sockaddr *) &ss, sl) != 0) {
        return -1;
    }
    tp_target_from_sockaddr(u->c->dst, (struct sockaddr *) &ss, sl);
    return u->fd < 0 ? -1 : 0;
}

/* The response: OK, with the bound address for the association. */
static void
relayh_udp_respond(struct relayh_udp *u)
{
    struct relay_response   r;
    struct sockaddr_storage ss;
    socklen_t               sl = sizeof(ss);
    uint8_t                 buf[RELAY_MSG_MAX];
    int                     n;

    memset(&r, 0, sizeof(r));
    if (u->addressed && getsockname(u->fd, (struct sockaddr *) &ss, &sl) == 0) {
        tp_sockaddr_unmap(&ss, &sl);
        if (tp_proxy_addr_from_sockaddr(&ss, &r.f.addr) == TP_OK) {
            r.f.present = RELAY_HAS_ADDR;
        }
        /* [::] of the dual-stack socket: say 0.0.0.0, as GOST binds it */
        if (r.f.addr.family == AF_INET6
            && memcmp(r.f.addr.ip, &in6addr_any, 16) == 0) {
            r.f.addr.family = AF_INET;
            memset(r.f.addr.ip, 0, sizeof(r.f.addr.ip));
        }
    }
    n = relay_response_encode(buf, sizeof(buf), &r);
    bufferevent_write(u->c->cbev, buf, (size_t) n);
}

static void
relayh_udp_start(struct tp_conn *c, const struct relay_request *r, size_t n,
    bool addressed)
{
    struct relayh_udp *u = calloc(1, sizeof(*u));
    struct timeval     tv = { 1, 0 };
    char               detail[96];

    if (u == NULL) {
        tp_conn_close(c, TP_END_RESOURCE, "(out of memory)");
        return;
    }
    u->c = c;
    u->fd = -1;
    u->addressed = addressed;
    u->last_ms = tp_now_ms();
    c->hctx = u;
    c->hctx_free = relayh_udp_free;
    if (relayh_udp_socket(u, &r->f.addr) != 0) {
        snprintf(detail, sizeof(detail), "(relay: UDP socket: %s)",
                 strerror(errno));
        relayh_refuse(c, RELAY_STATUS_NET_UNREACH, TP_END_DIAL_FAILED, detail);
        return;
    }
    evbuffer_drain(bufferevent_get_input(c->cbev), n);
    event_free(c->timer);
    c->timer = NULL;
    c->state = TP_ST_DIAL;     /* not TP_ST_RELAY: no relay core owns cbev */
    relayh_udp_respond(u);
    u->ev = event_new(c->w->base, u->fd, EV_READ | EV_PERSIST,
                      relayh_udp_dgram_cb, u);
    event_add(u->ev, NULL);
    if (c->sw->svc->idle_timeout_ms > 0) {
        u->idle = evtimer_new(c->w->base, relayh_udp_idle_cb, u);
        evtimer_add(u->idle, &tv);
    }
    bufferevent_setcb(c->cbev, relayh_udp_read_cb, NULL, relayh_udp_event_cb,
                      c);
    relayh_udp_frames(u, bufferevent_get_input(c->cbev));
}

static bool
relayh_authorized(const struct relay_handler_conf *hc,
    const struct relay_request *r)
{
    const char *pass = hc->auth.password ? hc->auth.password : "";

    return hc->auth.username == NULL
           || ((r->f.present & RELAY_HAS_USERAUTH)
               && strcmp(r->f.user, hc->auth.username) == 0
               && strcmp(r->f.pass, pass) == 0);
}

/* A whole request of n bytes is in r: check it, then forward. */
static void
relayh_request(struct tp_conn *c, const struct relay_request *r, size_t n)
{
    const struct relay_handler_conf *hc = c->sw->svc->handler.conf;
    struct sockaddr_storage          ss;
    socklen_t                        len;
    uint8_t                          cmd = r->cmd & RELAY_CMD_MASK;
    bool                             udp;
    char                             detail[128];

    udp = (r->cmd & RELAY_FLAG_UDP) || ((r->f.present & RELAY_HAS_NETWORK)
                                        && r->f.network == RELAY_NETWORK_UDP);

    if (!relayh_authorized(hc, r)) {
        if (r->f.present & RELAY_HAS_USERAUTH) {
            snprintf(detail, sizeof(detail), "(relay: bad credentials for "
                     "user \"%.64s\")", r->f.user);
        } else {
            snprintf(detail, sizeof(detail), "(relay: no credentials)");
        }
        relayh_refuse(c, RELAY_STATUS_UNAUTHORIZED, TP_END_AUTH, detail);
        return;
    }
    if (udp && cmd == RELAY_CMD_BIND && hc->bind) {
        relayh_udp_start(c, r, n, true);
        return;
    }
    if (cmd == RELAY_CMD_BIND) {
        relayh_refuse(c, RELAY_STATUS_FORBIDDEN, TP_END_DENIED, udp
                      ? "(relay: UDP association needs bind = true)"
                      : "(relay: TCP BIND is not offered)");
        return;
    }
    if ((cmd != 0 && cmd != RELAY_CMD_CONNECT)
        || ((r->f.present & RELAY_HAS_NETWORK) && !udp
            && r->f.network != RELAY_NETWORK_TCP)
        || !(r->f.present & RELAY_HAS_ADDR) || r->f.addr.port == 0
        || (udp && r->f.addr.family == AF_UNSPEC)) {
        snprintf(detail, sizeof(detail), "(relay: unsupported request, "
                 "command 0x%02x)", r->cmd);
        relayh_refuse(c, RELAY_STATUS_BAD_REQUEST, TP_END_PROTOCOL, detail);
        return;
    }
    if (udp) {
        relayh_udp_start(c, r, n, false);
        return;
    }
    evbuffer_drain(bufferevent_get_input(c->cbev), n);
    if (r->f.addr.family == AF_UNSPEC) {
        tp_target_from_name(c->dst, r->f.addr.host, r->f.addr.port);
    } else {
        tp_proxy_addr_to_sockaddr(&r->f.addr, &ss, &len);
        tp_target_from_sockaddr(c->dst, (struct sockaddr *) &ss, len);
    }
    event_free(c->timer);
    c->timer = NULL;
    bufferevent_setcb(c->cbev, NULL, NULL, NULL, NULL);
    c->dialed = relayh_dialed;
    tp_conn_forward(c);
}

static void
relayh_read_cb(struct bufferevent *bev, void *arg)
{
    struct tp_conn       *c = arg;
    struct evbuffer      *in = bufferevent_get_input(bev);
    size_t                len = evbuffer_get_length(in), need;
    struct relay_request  r;
    const uint8_t        *p = evbuffer_pullup(in, len < 4 ? (ssize_t) len : 4);
    char                  detail[64];
    int                   n;

    /* Like GOST: a bad request is closed without a response. */
    if (len > 0 && p[0] != RELAY_VERSION) {
        snprintf(detail, sizeof(detail), "(relay: bad version 0x%02x)", p[0]);
        tp_conn_close(c, TP_END_PROTOCOL, detail);
        return;
    }
    if (len < RELAY_HEADER_LEN) {
        return;
    }
    need = RELAY_HEADER_LEN + ((size_t) p[2] << 8 | p[3]);
    if (need > RELAY_REQUEST_READ_MAX) {
        tp_conn_close(c, TP_END_PROTOCOL, "(relay: request too long)");
        return;
    }
    if (len < need) {
        return;
    }
    p = evbuffer_pullup(in, (ssize_t) need);
    n = relay_request_decode(p, need, &r);
    if (n < 0) {
        tp_conn_close(c, TP_END_PROTOCOL, "(relay: malformed request)");
        return;
    }
    relayh_request(c, &r, (size_t) n);
}

void
relay_handle(struct tp_conn *c)
{
    const struct relay_handler_conf *hc = c->sw->svc->handler.conf;

    tp_conn_handshake(c, hc->read_timeout_ms, relayh_read_cb, NULL, "relay");
}
