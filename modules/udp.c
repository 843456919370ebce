/*
 * udp.c - module "udp": UDP port forwarding (GOST's handler.type "udp"
 * with forwarder.nodes) and the plain UDP listener. A session per client
 * address holds a connected socket to the chosen node; replies go back
 * from the service socket. Forwarder nodes must be IP addresses.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/log.h"
#include "../src/select.h"
#include "../src/udp_nat.h"
#include "../src/dial.h"
#include "../src/worker.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct udp_listener_conf {
    uint64_t    ttl_ms;
    uint64_t    read_buffer_size;
    int64_t     max_sessions;
};

struct udp_state {
    struct tp_udp_nat       nat;
    struct event           *ev;
    struct tp_svc_worker   *sw;
    uint64_t                truncated;
};

#define OFF(f) offsetof(struct udp_listener_conf, f)

static const struct tp_schema udp_listener_schema[] = {
    { "ttl", TP_T_DURATION, OFF(ttl_ms), 0, "30s" },
    { "read_buffer_size", TP_T_SIZE, OFF(read_buffer_size), 0, "65535" },
    { "max_sessions", TP_T_INT, OFF(max_sessions), 0, "65536",
      .min = 1, .max = 10000000 },
    { NULL }
};

const struct tp_module tp_mod_udp;

static int
udp_handler_init(void *conf, const struct tp_service *svc, struct tp_err *err)
{
    struct sockaddr_storage ss;
    socklen_t               len;

    (void) conf;
    for (size_t i = 0; i < svc->forwarder.nnodes; i++) {
        const struct tp_node *n = &svc->forwarder.nodes[i];
        if (tp_ip_literal(n->addr.host, n->addr.port, &ss, &len) != 0) {
            snprintf(err->msg, sizeof(err->msg), "%s: service \"%s\": "
                     "forwarder node \"%s\": a UDP target must be an IP "
                     "address", svc->name, svc->name, n->addr.host);
            return -1;
        }
    }
    return 0;
}

static void
udp_session_log(struct tp_udp_sess *s, const char *why)
{
    struct udp_state *st = s->nat->arg;
    char              cl[TP_SOCKADDR_STRLEN], od[TP_SOCKADDR_STRLEN];

    tp_log_info("#%d-%llu %s udp %s -> %s up=%llu/%u down=%llu/%u ms=%llu "
                "end=%s", st->sw->w->slot, (unsigned long long) s->id,
                st->sw->svc->name, tp_sockaddr_str(&s->client.sa, cl,
                                                   sizeof(cl)),
                tp_sockaddr_str(&s->odst.sa, od, sizeof(od)),
                (unsigned long long) s->up_bytes, s->up_pkts,
                (unsigned long long) s->down_bytes, s->down_pkts,
                (unsigned long long) (tp_now_ms() - s->start_ms), why);
}

static void
udp_reply(struct tp_udp_sess *s)
{
    struct udp_state *st = s->nat->arg;
    ssize_t           n;

    while ((n = recv(s->pf.fd, s->nat->buf, s->nat->bufsize, 0)) >= 0) {
        s->down_bytes += (uint64_t) n;
        s->down_pkts++;
        tp_udp_nat_touch(s);
        sendto(st->sw->fd, s->nat->buf, (size_t) n, 0, &s->client.sa,
               tp_sa_len(&s->client));
    }
}

static struct tp_udp_sess *
udp_session_new(struct udp_state *st, const struct sockaddr *client)
{
    struct tp_service *svc = (struct tp_service *) st->sw->svc;
    struct tp_node    *n;
    struct sockaddr_storage ss;
    socklen_t          len;
    int                fd;
    struct tp_udp_sess *s;

    n = tp_select_node(&svc->forwarder.selector, svc->forwarder.nodes,
                       svc->forwarder.nnodes, &svc->forwarder.rr,
                       tp_now_ms());
    tp_ip_literal(n->addr.host, n->addr.port, &ss, &len);
    tp_sockaddr_unmap(&ss, &len);
    fd = tp_socket_egress(ss.ss_family, SOCK_DGRAM, svc->sockopts.mark);
    if (fd < 0
        || tp_socket_bind_source(fd, ss.ss_family, SOCK_DGRAM, &svc->sockopts,
                                 &st->sw->w->source_next) != 0
        || connect(fd, (struct sockaddr *) &ss, len) != 0) {
        tp_log_warn("%s: udp session to %s: %s", svc->name, n->addr.host,
                    strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return NULL;
    }
    s = tp_udp_nat_add(&st->nat, client, (struct sockaddr *) &ss, fd);
    if (s == NULL) {
        close(fd);
    }
    return s;
}

static void
udp_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct udp_state        *st = arg;
    struct sockaddr_storage  peer;
    socklen_t                plen;
    ssize_t                  n;
    struct tp_udp_sess      *s;

    (void) what;
    for (int i = 0; i < 64; i++) {
        plen = sizeof(peer);
        n = recvfrom(fd, st->nat.buf, st->nat.bufsize, MSG_TRUNC,
                     (struct sockaddr *) &peer, &plen);
        if (n < 0) {
            return;
        }
        if ((size_t) n > st->nat.bufsize) {
            st->truncated++;
            tp_log_warn("%s: dropped a %zd-byte datagram larger than "
                        "read_buffer_size", st->sw->svc->name, n);
            continue;
        }
        tp_sockaddr_unmap(&peer, &plen);
        s = tp_udp_nat_lookup(&st->nat, (struct sockaddr *) &peer, NULL);
        if (s == NULL && (s = udp_session_new(st, (struct sockaddr *) &peer))
                         == NULL) {
            continue;
        }
        s->up_bytes += (uint64_t) n;
        s->up_pkts++;
        tp_udp_nat_touch(s);
        send(s->pf.fd, st->nat.buf, (size_t) n, 0);
    }
}

static int
udp_start(struct tp_svc_worker *sw)
{
    static const struct udp_listener_conf dflt = { 30000, 65535, 65536 };
    const struct udp_listener_conf *hc = &dflt;
    struct udp_state               *st = calloc(1, sizeof(*st));

    if (sw->svc->listener.mod == &tp_mod_udp) {
        hc = sw->svc->listener.conf;
    }
    st->sw = sw;
    if (tp_udp_nat_init(&st->nat, sw->w, false, hc->ttl_ms,
                        (size_t) hc->max_sessions,
                        (size_t) hc->read_buffer_size) != 0) {
        free(st);
        return -1;
    }
    st->nat.arg = st;
    st->nat.on_readable = udp_reply;
    st->nat.on_close = udp_session_log;
    st->ev = event_new(sw->w->base, sw->fd, EV_READ | EV_PERSIST, udp_read_cb,
                       st);
    event_add(st->ev, NULL);
    sw->hstate = st;
    return 0;
}

/* Draining: no new sessions; existing ones live until their ttl, their
 * replies still going out through the service socket. */
static void
udp_stop(struct tp_svc_worker *sw)
{
    struct udp_state *st = sw->hstate;

    event_del(st->ev);
}

static void
udp_free(struct tp_svc_worker *sw)
{
    struct udp_state *st = sw->hstate;

    event_free(st->ev);
    tp_udp_nat_free(&st->nat);
    free(st);
    sw->hstate = NULL;
}

static const struct tp_handler_ops udp_handler_ops = {
    .socktype = SOCK_DGRAM,
    .uses_forwarder = true,
    .dgram_start = udp_start,
    .dgram_stop = udp_stop,
    .dgram_free = udp_free,
};

static const struct tp_listener_ops udp_listener_ops = {
    .socktype = SOCK_DGRAM,
};

const struct tp_module tp_mod_udp = {
    .name = "udp",
    .role = {
        [TP_ROLE_HANDLER] = {
            .init = udp_handler_init,
            .ops = &udp_handler_ops,
        },
        [TP_ROLE_LISTENER] = {
            .schema = udp_listener_schema,
            .conf_size = sizeof(struct udp_listener_conf),
            .ops = &udp_listener_ops,
        },
    },
};
