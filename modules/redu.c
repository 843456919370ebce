/*
 * redu.c - module "redu" (GOST's name): transparent UDP under TPROXY.
 * The listener sets IP_TRANSPARENT + IP_RECVORIGDSTADDR (and the IPv6
 * pair); each datagram's original destination comes from its control
 * message. Sessions live in the worker's table (src/udp_nat.c), keyed by
 * client (nat = "full-cone") or by client and destination ("symmetric").
 * A session owns its upstream (a marked socket, or with handler.chain a
 * UDP association through the chain: see struct redu_up_ops in
 * redu_module.h and "UDP through a chain" in redu_chain.c) and
 * references to write-back sockets. A failure on one datagram is
 * counted, logged at most once a second per kind, and that datagram
 * alone dropped.
 *
 * Write-back (the client must see replies come from the remote R):
 *  - shared: one socket per R per worker, bound to R (IP_TRANSPARENT +
 *    SO_REUSEADDR), unconnected, refcounted by the sessions receiving from
 *    R, kept open while idle for reuse, closed after the ttl or when the
 *    cache (2 x max_sessions) needs room. Always there: cheap fan-in (every
 *    client of one DNS server shares it).
 *  - connected: a session also gets its own socket bound to R and
 *    connected to the client, while R has fewer than REDU_CONN_PER_REMOTE
 *    of them in this worker (and the worker fewer than max_sessions). The
 *    kernel then delivers that client's datagrams to R on it: they skip
 *    the service socket's queue (a flood there cannot starve the session),
 *    need no control message nor lookup, keep reaching this worker across
 *    a reload (the session keeps its NAT mapping), and no `socket` rule can
 *    divert them. Not for every client: bind() walks every socket bound to
 *    R (measured: 0.33 ms per bind at 10k on one address) and kernels
 *    before 6.13 walk them on every datagram to R, so the number bound to
 *    one address stays bounded (16 per worker + the shared one).
 *  - spec 5.2's pitfall (with a rule matching UDP by `socket`, a client's
 *    datagrams to R land on the unconnected shared socket) is defused: the
 *    shared sockets are read too, and what arrives there is handled as a
 *    client datagram to R, counted and reported.
 *
 * QUIC sniffing (handler.sniffing, see "QUIC sniffing" in redu_sniff.c)
 * holds a new session whose first datagram looks like a QUIC Initial
 * until its name is known (at most min(sniffing.timeout, 300 ms), 8
 * datagrams, 16 KiB); the name routes it and may become its upstream
 * address, while replies keep being written back from the original
 * destination.
 *
 * Files: redu.c (this one: the module table, the schemas, the service
 * socket, direct upstreams, sessions, the hooks), redu_writeback.c,
 * redu_sniff.c (QUIC sniffing), redu_chain.c (UDP through a chain);
 * what they share is redu_module.h, the pure helpers redu.h.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/dial.h"
#include "../src/log.h"
#include "../src/origdst.h"
#include "../src/sniff.h"
#include "../src/sockopt.h"
#include "../src/udp_nat.h"
#include "../src/worker.h"
#include "redu.h"
#include "redu_module.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define REDU_LOG_INTERVAL   1000    /* ms between warnings of one kind */
#define REDU_RCVBUF         (1 << 20) /* service socket queue: absorbs a
                                       * burst without adding much delay */
#define REDU_SNIFF_MAX_PENDING 1024 /* sessions being sniffed per worker and
                                     * service (~40 KiB each); later ones
                                     * are not sniffed */

enum redu_nat { REDU_FULLCONE = 0, REDU_SYMMETRIC };

static const char *const redu_nat_names[] = { "full-cone", "symmetric",
                                              NULL };

static const char *const redu_drop_names[REDU_D_COUNT] = {
    "truncated", "no-origdst", "loop", "session", "upstream", "write-back",
    "recv", "denied", "queue", "backoff", "foreign", "sniffing"
};

struct redu_listener_conf {
    uint64_t    ttl_ms;
    uint64_t    read_buffer_size;
    int         nat;                /* enum redu_nat */
    int64_t     max_sessions;
};

struct redu_handler_conf {
    struct tp_sniff_conf    sniffing;
};

#define OFF(f) offsetof(struct redu_listener_conf, f)

static const struct tp_schema redu_listener_schema[] = {
    { "ttl", TP_T_DURATION, OFF(ttl_ms), 0, "30s" },
    { "read_buffer_size", TP_T_SIZE, OFF(read_buffer_size), 0, "4096" },
    { "nat", TP_T_CHOICE, OFF(nat), 0, "full-cone",
      .choices = redu_nat_names },
    { "max_sessions", TP_T_INT, OFF(max_sessions), 0, "65536",
      .min = 1, .max = 10000000 },
    { NULL }
};

static const struct tp_schema redu_handler_schema[] = {
    { "sniffing", TP_T_GROUP, offsetof(struct redu_handler_conf, sniffing), 0,
      NULL, tp_schema_sniffing },
    { NULL }
};

const struct tp_module tp_mod_redu;

bool
redu_rl_allow(struct redu_rl *rl, uint64_t now_ms, uint64_t interval_ms,
    uint64_t *suppressed)
{
    if (now_ms < rl->next_ms) {
        rl->suppressed++;
        return false;
    }
    *suppressed = rl->suppressed;
    rl->suppressed = 0;
    rl->next_ms = now_ms + interval_ms;
    return true;
}

static socklen_t
sa_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in);
}

/* Count a dropped datagram; warn at most once a second per kind. */
void
redu_drop(struct redu_state *st, enum redu_drop why,
    const struct sockaddr *from, const struct sockaddr *to, const char *what,
    int err)
{
    char     a[TP_SOCKADDR_STRLEN] = "-", b[TP_SOCKADDR_STRLEN] = "-";
    uint64_t more;

    st->drops[why]++;
    st->sw->w->stats.udp_dropped++;
    if (why == REDU_D_TRUNC) {
        st->sw->w->stats.udp_truncated++;
    }
    if (TP_LOG_WARN > tp_log_sink.level
        || !redu_rl_allow(&st->rl[why], tp_now_ms(), REDU_LOG_INTERVAL,
                          &more)) {
        return;
    }
    if (from != NULL) {
        tp_sockaddr_str(from, a, sizeof(a));
    }
    if (to != NULL) {
        tp_sockaddr_str(to, b, sizeof(b));
    }
    tp_log_warn("%s: dropped a datagram %s -> %s: %s: %s%s%s "
                "(%llu more of this kind since the last warning, %llu "
                "in all)", st->sw->svc->name, a, b, redu_drop_names[why],
                what, err ? ": " : "", err ? strerror(err) : "",
                (unsigned long long) more,
                (unsigned long long) st->drops[why]);
}

/* ---------------------------------------------------------- direct */

int
direct_open(struct redu_sess *rs, const struct sockaddr *dst)
{
    const struct tp_service *svc = rs->st->sw->svc;
    int                      fd, e;

    fd = tp_socket_egress(dst->sa_family, SOCK_DGRAM, svc->sockopts.mark);
    if (fd < 0) {
        return -1;
    }
    /* Full-cone: one gateway port per session, so an address carries at
     * most ~64k sessions; sockopts.source spreads them over several. */
    if (tp_socket_bind_source(fd, dst->sa_family, SOCK_DGRAM, &svc->sockopts,
                              &rs->st->sw->w->source_next) != 0
        || (rs->st->nat.symmetric && connect(fd, dst, sa_len(dst)) != 0)) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (tp_udp_nat_set_fd(rs->s, fd) != 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return 0;
}

int
direct_send(struct redu_sess *rs, const struct sockaddr *dst,
    const uint8_t *data, size_t len)
{
    struct redu_state *st = rs->st;
    ssize_t            n;

    if (st->nat.symmetric) {
        n = send(rs->s->pf.fd, data, len, 0);
    } else {
        n = sendto(rs->s->pf.fd, data, len, 0, dst, sa_len(dst));
    }
    return n < 0 ? -1 : 0;
}

/* Replies on the upstream socket: from any remote under full-cone (the
 * socket is unconnected), from the destination only under symmetric. */
void
direct_readable(struct tp_udp_sess *s)
{
    struct redu_sess  *rs = tp_udp_sess_hdata(s);
    struct redu_state *st = rs->st;
    union tp_sa        from;
    socklen_t          flen;
    ssize_t            n;

    for (int i = 0; i < REDU_BUDGET; i++) {
        flen = sizeof(from);
        n = recvfrom(s->pf.fd, st->nat.buf, st->nat.bufsize, MSG_TRUNC,
                     &from.sa, &flen);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            /* ICMP errors (connected socket): reported once, go on. */
            redu_drop(st, REDU_D_RECV, &s->odst.sa, &s->client.sa,
                      "upstream socket", errno);
            continue;
        }
        if ((size_t) n > st->nat.bufsize) {
            redu_drop(st, REDU_D_TRUNC, &from.sa, &s->client.sa,
                      "reply larger than read_buffer_size", 0);
            continue;
        }
        redu_deliver(rs, &from, st->nat.buf, (size_t) n);
    }
}

static const struct redu_up_ops redu_direct = {
    .route = "direct",
    .open = direct_open,
    .send = direct_send,
    .readable = direct_readable,
};

/* ------------------------------------------------------- sessions */

/* "#w-id service redu client -> odst: ..." */
void
redu_sess_log(int level, const struct redu_sess *rs, const char *fmt, ...)
{
    char     msg[512], cl[TP_SOCKADDR_STRLEN], od[TP_SOCKADDR_STRLEN];
    va_list  ap;

    if (level > tp_log_sink.level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tp_log_write(level, "#%d-%llu %s redu %s -> %s: %s", rs->st->sw->w->slot,
                 (unsigned long long) rs->s->id, rs->st->sw->svc->name,
                 tp_sockaddr_str(&rs->s->client.sa, cl, sizeof(cl)),
                 tp_sockaddr_str(&rs->s->odst.sa, od, sizeof(od)), msg);
}

/* The service's bypass list refuses the flows it matches, as for TCP. */
bool
redu_denied(const struct redu_state *st, const char *host,
    const struct sockaddr *dst)
{
    const struct tp_bypass *b = st->sw->svc->bypass;

    return b != NULL && tp_bypass_match(b, host, dst);
}

/* One datagram of the session to dst (or where its name sends it). */
void
redu_send(struct redu_sess *rs, const struct sockaddr *dst,
    const uint8_t *data, size_t len)
{
    struct tp_udp_sess *s = rs->s;
    int                 rc;

    rc = rs->st->up->send(rs, redu_name_dst(rs->name, &s->odst, dst), data,
                          len);
    if (rc < 0) {
        redu_drop(rs->st, REDU_D_UP, &s->client.sa, dst, "send upstream",
                  errno);
        return;
    }
    if (rc > 0) {
        return;
    }
    s->up_bytes += len;
    s->up_pkts++;
}

static void
redu_sess_closed(struct tp_udp_sess *s, const char *why)
{
    struct redu_sess  *rs = tp_udp_sess_hdata(s);
    struct redu_state *st = rs->st;
    struct tp_worker  *w = st->sw->w;
    char               cl[TP_SOCKADDR_STRLEN], od[TP_SOCKADDR_STRLEN];
    char               named[400] = "", to[TP_SOCKADDR_STRLEN];
    char               via[200];

    if (rs->name != NULL) {
        /* host= as in the TCP access log; dial= where datagrams to the
         * original destination went (the name's address, or the original
         * one with dial_original_dst or a fallback; "-": dropped) */
        snprintf(named, sizeof(named), " host=%s dial=%s", rs->name->host,
                 tp_sockaddr_str(&rs->name->to.sa, to, sizeof(to)));
    }
    if (!rs->quiet) {
        tp_log_info("#%d-%llu %s redu %s -> %s%s nat=%s via=%s up=%llu/%u "
                    "down=%llu/%u remotes=%u ms=%llu end=%s", w->slot,
                    (unsigned long long) s->id, st->sw->svc->name,
                    tp_sockaddr_str(&s->client.sa, cl, sizeof(cl)),
                    tp_sockaddr_str(&s->odst.sa, od, sizeof(od)), named,
                    redu_nat_names[st->nat.symmetric],
                    redu_via(rs, via, sizeof(via)),
                    (unsigned long long) s->up_bytes, s->up_pkts,
                    (unsigned long long) s->down_bytes, s->down_pkts,
                    rs->nremotes,
                    (unsigned long long) (tp_now_ms() - s->start_ms), why);
    }
    w->stats.bytes_up += s->up_bytes;
    w->stats.bytes_down += s->down_bytes;
    while (rs->refs != NULL) {
        ref_drop(rs, rs->refs);
    }
    if (st->up->close != NULL && rs->sniff == NULL) {
        st->up->close(rs);
    }
    sn_free(rs);
    free(rs->name);
    rs->name = NULL;
}

/* A session for the first datagram (in the table's buffer, len bytes) of
 * client to odst; its upstream opens now, or when sniffing it ends. */
static struct tp_udp_sess *
redu_sess_new(struct redu_state *st, const struct sockaddr *client,
    const struct sockaddr *odst, size_t len)
{
    struct tp_udp_sess *s;
    struct redu_sess   *rs;
    uint64_t            more;
    int                 e;
    bool                sniff;

    sniff = redu_sniff_wanted(st->sniffing, tp_sockaddr_port(odst),
                              st->nat.buf, len);
    if (sniff && st->nsniffing >= REDU_SNIFF_MAX_PENDING) {
        st->sn_skipped++;
        sniff = false;
    }
    /* A sniffed session is routed once its name is known. */
    if (!sniff && redu_denied(st, "", odst)) {
        redu_drop(st, REDU_D_DENIED, client, odst, "the service's bypass "
                  "list refuses it", 0);
        return NULL;
    }
    if (st->backoff != NULL
        && redu_backoff_blocked(st->backoff,
                                chain_backoff_hash(st, client, odst), client,
                                st->nat.symmetric ? odst : NULL,
                                tp_now_ms())) {
        redu_drop(st, REDU_D_BACKOFF, client, odst, "the chain's "
                  "association for this client failed less than 1 s ago", 0);
        return NULL;
    }
    if (st->nat.count >= st->nat.max) {
        st->sw->w->stats.udp_evicted++;
        if (redu_rl_allow(&st->rl_full, tp_now_ms(), REDU_LOG_INTERVAL,
                          &more)) {
            tp_log_warn("%s: session table full (max_sessions %zu): "
                        "closing the least recently used session (%llu "
                        "more since the last warning)", st->sw->svc->name,
                        st->nat.max, (unsigned long long) more);
        }
    }
    s = tp_udp_nat_add(&st->nat, client, odst, -1);
    if (s == NULL) {
        redu_drop(st, REDU_D_SESSION, client, odst, "new session", ENOMEM);
        return NULL;
    }
    rs = tp_udp_sess_hdata(s);
    rs->s = s;
    rs->st = st;
    if (sniff && redu_sniff_begin(rs) != 0) {
        rs->quiet = true;
        tp_udp_nat_close(s, "out of memory");
        redu_drop(st, REDU_D_SESSION, client, odst, "new session", ENOMEM);
        return NULL;
    }
    if (!sniff && st->up->open(rs, odst) != 0) {
        e = errno;
        rs->quiet = true;
        tp_udp_nat_close(s, "upstream failed");
        redu_drop(st, REDU_D_SESSION, client, odst,
                  e == EADDRINUSE || e == EADDRNOTAVAIL
                      ? "upstream socket (bind sockopts.source)"
                      : "upstream socket", e);
        return NULL;
    }
    st->sessions++;
    st->sw->w->stats.udp_sessions++;
    return s;
}

/* A datagram (in the table's buffer) from the client to odst; s is its
 * session if the caller knows it. */
void
redu_from_client(struct redu_state *st, struct tp_udp_sess *s,
    const struct sockaddr *client, const struct sockaddr *odst, size_t len)
{
    if (s == NULL) {
        s = tp_udp_nat_lookup(&st->nat, client, odst);
        if (s == NULL && st->draining) {
            redu_drop(st, REDU_D_SESSION, client, odst, "draining", 0);
            return;
        }
        if (s == NULL
            && (s = redu_sess_new(st, client, odst, len)) == NULL) {
            return;
        }
    }
    tp_udp_nat_touch(s);
    if (redu_sniff_held(tp_udp_sess_hdata(s), odst, len)) {
        return;
    }
    redu_send(tp_udp_sess_hdata(s), odst, st->nat.buf, len);
}

/* One datagram from the service socket: 0 = go on, -1 = none left. */
static int
redu_recv_one(struct redu_state *st, int fd)
{
    struct sockaddr_storage cl, od;
    socklen_t               cllen, odlen;
    struct iovec            iov = { st->nat.buf, st->nat.bufsize };
    struct msghdr           msg;
    ssize_t                 n;
    union {
        struct cmsghdr      align;
        char                buf[2 * CMSG_SPACE(sizeof(struct sockaddr_in6))];
    } cbuf;

    memset(&msg, 0, sizeof(msg));
    msg.msg_name = &cl;
    msg.msg_namelen = sizeof(cl);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.buf;
    msg.msg_controllen = sizeof(cbuf.buf);
    n = recvmsg(fd, &msg, MSG_TRUNC);
    if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            redu_drop(st, REDU_D_RECV, NULL, NULL, "service socket", errno);
        }
        return -1;
    }
    cllen = msg.msg_namelen;
    tp_sockaddr_unmap(&cl, &cllen);
    if (tp_origdst_udp(&msg, &od, &odlen) != 0) {
        redu_drop(st, REDU_D_NODST, (struct sockaddr *) &cl, NULL,
                  "no IP_ORIGDSTADDR (not diverted by a TPROXY rule?)", 0);
        return 0;
    }
    if ((msg.msg_flags & MSG_TRUNC) || (size_t) n > st->nat.bufsize) {
        redu_drop(st, REDU_D_TRUNC, (struct sockaddr *) &cl,
                  (struct sockaddr *) &od, "larger than read_buffer_size", 0);
        return 0;
    }
    if (tp_origdst_is_self(st->sw->w->cycle, (struct sockaddr *) &od,
                           SOCK_DGRAM)) {
        st->sw->w->stats.refused_loop++;
        redu_drop(st, REDU_D_LOOP, (struct sockaddr *) &cl,
                  (struct sockaddr *) &od, "destination is tproxyd itself", 0);
        return 0;
    }
    redu_from_client(st, NULL, (struct sockaddr *) &cl,
                     (struct sockaddr *) &od, (size_t) n);
    return 0;
}

static void
redu_listener_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) what;
    for (int i = 0; i < REDU_BUDGET; i++) {
        if (redu_recv_one(arg, fd) != 0) {
            return;
        }
    }
}

/* ------------------------------------------------- module hooks */

/* Everything of a worker's state; sessions first (they hold the refs). */
static void
redu_state_free(struct redu_state *st)
{
    if (st->ev != NULL) {
        event_free(st->ev);
    }
    tp_udp_nat_free(&st->nat);
    while (st->idle_old != NULL) {
        wb_close(st, st->idle_old);
    }
    if (st->wb_sweep != NULL) {
        event_free(st->wb_sweep);
    }
    free(st->wbs);
    free(st->backoff);
    free(st);
}

static int
redu_start(struct tp_svc_worker *sw)
{
    const struct redu_listener_conf *lc = sw->svc->listener.conf;
    struct redu_state               *st = calloc(1, sizeof(*st));
    struct timeval                   tv = { 1, 0 };

    if (st == NULL) {
        tp_log_err("%s: out of memory", sw->svc->name);
        return -1;
    }
    st->sw = sw;
    st->up = &redu_direct;
    if (sw->svc->handler.chain != NULL && sw->svc->handler.chain->nhops > 0) {
        st->chain = sw->svc->handler.chain;
        st->up = &redu_chain;
        st->backoff = calloc(1, sizeof(*st->backoff));
        if (st->backoff == NULL) {
            tp_log_err("%s: out of memory", sw->svc->name);
            free(st);
            return -1;
        }
    }
    st->sniffing = &((const struct redu_handler_conf *)
                     sw->svc->handler.conf)->sniffing;
    st->max_wb = 2 * (size_t) lc->max_sessions;
    st->nwbuckets = 256;
    st->wbs = calloc(st->nwbuckets, sizeof(*st->wbs));
    st->wb_sweep = event_new(sw->w->base, -1, EV_PERSIST, wb_sweep_cb, st);
    st->ev = event_new(sw->w->base, sw->fd, EV_READ | EV_PERSIST,
                       redu_listener_cb, st);
    if (tp_udp_nat_init(&st->nat, sw->w, lc->nat == REDU_SYMMETRIC,
                        lc->ttl_ms, (size_t) lc->max_sessions,
                        (size_t) lc->read_buffer_size) != 0
        || st->wbs == NULL || st->wb_sweep == NULL || st->ev == NULL
        || event_add(st->ev, NULL) != 0 || event_add(st->wb_sweep, &tv)) {
        tp_log_err("%s: cannot start: out of memory", sw->svc->name);
        redu_state_free(st);
        return -1;
    }
    st->nat.hsize = sizeof(struct redu_sess);
    st->nat.arg = st;
    st->nat.on_readable = st->up->readable;
    st->nat.on_close = redu_sess_closed;
    sw->hstate = st;
    return 0;
}

/* Draining: no new sessions. Live ones keep their upstream and their
 * write-back sockets until their ttl. */
static void
redu_stop(struct tp_svc_worker *sw)
{
    struct redu_state *st = sw->hstate;

    st->draining = true;
    event_del(st->ev);
}

static void
redu_free(struct tp_svc_worker *sw)
{
    struct redu_state *st = sw->hstate;
    char               line[384];
    size_t             n = 0;

    for (int i = 0; i < REDU_D_COUNT && n < sizeof(line); i++) {
        n += (size_t) snprintf(line + n, sizeof(line) - n, " %s=%llu",
                               redu_drop_names[i],
                               (unsigned long long) st->drops[i]);
    }
    tp_log_info("%s: udp sessions=%llu evicted=%llu write-back sockets: "
                "shared=%llu connected=%llu, client datagrams on shared "
                "ones=%llu; dropped:%s; quic sniffing: named=%llu "
                "unnamed=%llu not-tried=%llu; chain associations: "
                "opened=%llu failed=%llu bypassed=%llu", sw->svc->name,
                (unsigned long long) st->sessions,
                (unsigned long long) st->nat.evicted,
                (unsigned long long) st->wb_sockets,
                (unsigned long long) st->conn_made,
                (unsigned long long) st->wb_rx, line,
                (unsigned long long) st->sn_found,
                (unsigned long long) st->sn_none,
                (unsigned long long) st->sn_skipped,
                (unsigned long long) st->ch_opened,
                (unsigned long long) st->ch_failed,
                (unsigned long long) st->ch_bypassed);
    redu_state_free(st);
    sw->hstate = NULL;
}

static int
redu_handler_init(void *conf, const struct tp_service *svc, struct tp_err *err)
{
    (void) conf;
    if (svc->listener.mod != &tp_mod_redu) {
        snprintf(err->msg, sizeof(err->msg), "service \"%s\": handler "
                 "\"redu\" needs listener \"redu\" (transparent, with the "
                 "original destination of each datagram)", svc->name);
        return -1;
    }
    return 0;
}

static int
redu_listener_init(void *conf, const struct tp_service *svc,
    struct tp_err *err)
{
    const struct redu_listener_conf *lc = conf;

    if (lc->read_buffer_size < 512 || lc->read_buffer_size > 65536) {
        snprintf(err->msg, sizeof(err->msg), "service \"%s\": "
                 "listener.read_buffer_size: %llu is out of range "
                 "(512..65536 bytes)", svc->name,
                 (unsigned long long) lc->read_buffer_size);
        return -1;
    }
    if (lc->ttl_ms < 1000) {
        snprintf(err->msg, sizeof(err->msg), "service \"%s\": listener.ttl: "
                 "must be at least 1s", svc->name);
        return -1;
    }
    return 0;
}

static int
redu_sockopts(const void *conf, int fd, int family, struct tp_err *err)
{
    int size = REDU_RCVBUF;

    (void) conf;
    /* Beyond net.core.rmem_max needs CAP_NET_ADMIN; else the capped size. */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    }
    if (tp_sock_transparent(fd, family, err) != 0
        || tp_sock_recvorigdst(fd, family, err) != 0) {
        return -1;
    }
    return 0;
}

static const struct tp_handler_ops redu_handler_ops = {
    .socktype = SOCK_DGRAM,
    .uses_chain = true,
    .dgram_start = redu_start,
    .dgram_stop = redu_stop,
    .dgram_free = redu_free,
};

static const struct tp_listener_ops redu_listener_ops = {
    .socktype = SOCK_DGRAM,
    .sockopts = redu_sockopts,
};

const struct tp_module tp_mod_redu = {
    .name = "redu",
    .role = {
        [TP_ROLE_HANDLER] = {
            .schema = redu_handler_schema,
            .conf_size = sizeof(struct redu_handler_conf),
            .init = redu_handler_init,
            .ops = &redu_handler_ops,
        },
        [TP_ROLE_LISTENER] = {
            .schema = redu_listener_schema,
            .conf_size = sizeof(struct redu_listener_conf),
            .init = redu_listener_init,
            .ops = &redu_listener_ops,
        },
    },
};
