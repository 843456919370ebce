/*
 * redu.c - module "redu" (GOST's name): transparent UDP under TPROXY.
 * The listener sets IP_TRANSPARENT + IP_RECVORIGDSTADDR (and the IPv6
 * pair); each datagram's original destination comes from its control
 * message. Sessions live in the worker's table (src/udp_nat.c), keyed by
 * client (nat = "full-cone") or by client and destination ("symmetric").
 * A session owns its upstream (a marked socket, or with handler.chain a
 * UDP association through the chain: see struct redu_up_ops and "UDP
 * through a chain") and references to write-back sockets. A failure on one datagram is counted,
 * logged at most once a second per kind, and that datagram alone dropped.
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
 * QUIC sniffing (handler.sniffing, see "QUIC sniffing" below) holds a new
 * session whose first datagram looks like a QUIC Initial until its name is
 * known (at most min(sniffing.timeout, 300 ms), 8 datagrams, 16 KiB); the
 * name routes it and may become its upstream address, while replies keep
 * being written back from the original destination.
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
#include "sniff_wire.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define REDU_BUDGET         64      /* datagrams per wake-up per socket */
#define REDU_SESS_REMOTES   16      /* write-back refs per session */
#define REDU_LOG_INTERVAL   1000    /* ms between warnings of one kind */
#define REDU_CONN_PER_REMOTE 16     /* connected write-back sockets per
                                     * remote address per worker */
#define REDU_RCVBUF         (1 << 20) /* service socket queue: absorbs a
                                       * burst without adding much delay */
#define REDU_SNIFF_MAX_PENDING 1024 /* sessions being sniffed per worker and
                                     * service (~40 KiB each); later ones
                                     * are not sniffed */

enum redu_nat { REDU_FULLCONE = 0, REDU_SYMMETRIC };

static const char *const redu_nat_names[] = { "full-cone", "symmetric",
                                              NULL };

/* Why a datagram was dropped: counters and rate-limited warnings. */
enum redu_drop {
    REDU_D_TRUNC = 0,   /* larger than read_buffer_size */
    REDU_D_NODST,       /* no IP_ORIGDSTADDR: not diverted by TPROXY */
    REDU_D_LOOP,        /* aimed at tproxyd's own listener */
    REDU_D_SESSION,     /* no session: socket/connect failed, no memory */
    REDU_D_UP,          /* sending upstream failed */
    REDU_D_WB,          /* write-back socket or send failed */
    REDU_D_RECV,        /* error reading a socket (ICMP errors too) */
    REDU_D_DENIED,      /* the service's bypass list refuses the flow */
    REDU_D_QUEUE,       /* queued while the chain's association opens:
                         * over the cap */
    REDU_D_BACKOFF,     /* the chain failed for this client < 1 s ago */
    REDU_D_FOREIGN,     /* symmetric: a tunnel's reply from another remote */
    REDU_D_SNIFF,       /* held while sniffing: over the cap, or its
                         * session was dropped (name failed, denied);
                         * last: the summary line ends with it */
    REDU_D_COUNT
};

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

struct redu_sess;
struct redu_state;
struct redu_sniff;
struct redu_chain_sess;

/*
 * A session's upstream: where its datagrams leave and where replies come
 * from. "direct" is one marked socket (the table's s->fd). "chain" (see
 * "UDP through a chain" below) is a datagram tunnel through the handler's
 * chain (socks5 UDP ASSOCIATE, relay UDP), or the direct socket when the
 * chain's bypass matches the session; it finishes opening later (queueing
 * until then) and hands each reply to redu_deliver() with the remote it
 * came from.
 */
struct redu_up_ops {
    const char *route;
    /* Prepare the upstream of a session whose first datagram goes to dst
     * (symmetric: its only destination). With QUIC sniffing this comes
     * once the sniff is decided, with the address the sniffed name
     * resolved to as dst, and the held datagrams follow. 0, or -1 with
     * errno. */
    int       (*open)(struct redu_sess *rs, const struct sockaddr *dst);
    /* One datagram (data, len) to dst. 0 (sent), 1 (taken: queued until
     * the upstream is open, or dropped and counted here), or -1 with
     * errno: the datagram is dropped, the session lives on. */
    int       (*send)(struct redu_sess *rs, const struct sockaddr *dst,
                      const uint8_t *data, size_t len);
    /* s->fd is readable (NULL if the upstream does not use s->fd). */
    void      (*readable)(struct tp_udp_sess *s);
    /* Free what open made (the table closes s->fd itself); may be NULL. */
    void      (*close)(struct redu_sess *rs);
};

/* A write-back socket: bound to a remote, shared by this worker's
 * sessions that receive from it. */
struct redu_wb {
    struct redu_wb     *hnext;          /* cache hash chain */
    struct redu_wb     *older, *newer;  /* idle list (refs == 0) */
    struct redu_state  *st;
    union tp_sa         addr;           /* the remote = our source */
    uint32_t            hash;
    unsigned            refs;
    unsigned            nconn;          /* connected sockets bound to addr */
    bool                idle;           /* on the idle list */
    uint64_t            idle_ms;        /* refs dropped to 0 at */
    int                 fd;
    struct event        ev;             /* see wb_read_cb */
};

/* A session's use of a remote's write-back socket, and its own socket
 * bound to that remote and connected to the client, if it got one. */
struct redu_ref {
    struct redu_ref    *next;           /* most recent first */
    struct redu_wb     *wb;
    struct redu_sess   *rs;
    int                 cfd;            /* connected, or -1: use wb->fd */
    struct event        cev;            /* the client's datagrams on cfd */
};

/* Per session, in the table's session allocation (hdata). */
struct redu_sess {
    struct tp_udp_sess *s;
    struct redu_state  *st;
    struct redu_ref    *refs;
    struct redu_ref     first;          /* the usual single remote */
    unsigned            nrefs;
    unsigned            nremotes;       /* distinct remotes that replied */
    bool                quiet;          /* never started: no access log */
    bool                bypassed;       /* the chain's bypass: direct */
    struct redu_sniff  *sniff;          /* while undecided, else NULL */
    struct redu_name   *name;           /* sniffed name, or NULL */
    struct redu_chain_sess *ch;         /* through the chain, or NULL */
};

/* Per worker and service. */
struct redu_state {
    struct tp_udp_nat           nat;
    struct tp_svc_worker       *sw;
    const struct redu_up_ops   *up;
    struct event               *ev;     /* the service socket */
    struct event               *wb_sweep;
    struct redu_wb            **wbs;    /* write-back cache by address */
    size_t                      nwbuckets, nwb, max_wb;
    size_t                      nconn;      /* connected write-back */
    struct redu_wb             *idle_old, *idle_new;
    bool                        draining;
    uint64_t                    sessions;   /* started */
    uint64_t                    wb_sockets; /* write-back sockets made */
    uint64_t                    conn_made;  /* connected ones made */
    uint64_t                    wb_rx;      /* datagrams read from them */
    const struct tp_sniff_conf *sniffing;   /* the handler's */
    const struct tp_chain      *chain;      /* the handler's, or NULL */
    struct redu_backoff        *backoff;    /* with a chain: failed ones */
    uint64_t                    ch_opened, ch_failed, ch_bypassed;
    size_t                      nsniffing;  /* sessions being sniffed */
    uint64_t                    sn_found, sn_none, sn_skipped;
    uint64_t                    drops[REDU_D_COUNT];
    struct redu_rl              rl[REDU_D_COUNT];
    struct redu_rl              rl_full, rl_wbrx;
    char                        str[TP_SOCKADDR_STRLEN];
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

/* ------------------------------------- QUIC sniffing: pure helpers */

bool
redu_quic_initial_like(const uint8_t *p, size_t len)
{
    uint32_t version;
    unsigned type;

    if (len < 1200 || (p[0] & 0xc0) != 0xc0) {
        return false;
    }
    version = (uint32_t) p[1] << 24 | (uint32_t) p[2] << 16
              | (uint32_t) p[3] << 8 | p[4];
    type = (p[0] >> 4) & 3;
    if (p[5] > 20) {
        return false;
    }
    return (version == 0x00000001 && type == 0)
           || (version == 0x6b3343cf && type == 1);
}

uint64_t
redu_sniff_hold_ms(uint64_t timeout_ms)
{
    return timeout_ms < REDU_SNIFF_HOLD_MAX_MS ? timeout_ms
                                               : REDU_SNIFF_HOLD_MAX_MS;
}

bool
redu_sniff_wanted(const struct tp_sniff_conf *sc, uint16_t port,
    const uint8_t *p, size_t len)
{
    return sc != NULL && tp_sniff_wanted(sc, port)
           && redu_sniff_hold_ms(sc->timeout_ms) > 0 && len <= REDU_HOLD_BYTES
           && redu_quic_initial_like(p, len);
}

int
redu_hold_add(struct redu_hold *h, const struct sockaddr *dst,
    const uint8_t *p, size_t len)
{
    if (h->n >= REDU_HOLD_DGRAMS || len > sizeof(h->buf) - h->used) {
        return -1;
    }
    tp_sa_set(&h->d[h->n].dst, dst);
    h->d[h->n].off = (uint32_t) h->used;
    h->d[h->n].len = (uint32_t) len;
    memcpy(h->buf + h->used, p, len);
    h->used += len;
    h->n++;
    return 0;
}

enum redu_sniff_next
redu_sniff_next(const struct tp_sniff_conf *sc, bool named,
    bool resolve_failed)
{
    if (!named || sc->dial_original) {
        return REDU_SN_ORIGINAL;
    }
    if (!resolve_failed) {
        return REDU_SN_RESOLVE;
    }
    return sc->fallback ? REDU_SN_ORIGINAL : REDU_SN_DROP;
}

const struct sockaddr *
redu_name_dst(const struct redu_name *nm, const union tp_sa *odst,
    const struct sockaddr *dst)
{
    if (nm != NULL && nm->rewrite && tp_sockaddr_equal(dst, &odst->sa)) {
        return &nm->to.sa;
    }
    return dst;
}

const union tp_sa *
redu_name_reply_src(const struct redu_name *nm, const union tp_sa *odst,
    const union tp_sa *from)
{
    if (nm != NULL && nm->rewrite && tp_sockaddr_equal(&from->sa, &nm->to.sa)) {
        return odst;
    }
    return from;
}

bool
redu_addr_loopback(const struct sockaddr *sa)
{
    const struct sockaddr_in  *in = (const void *) sa;
    const struct sockaddr_in6 *in6 = (const void *) sa;

    if (sa->sa_family == AF_INET) {
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127
               || in->sin_addr.s_addr == htonl(INADDR_ANY);
    }
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)
           || IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)
           || (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)
               && in6->sin6_addr.s6_addr[12] == 127);
}

/* ----------------------------- UDP through a chain: pure helpers */

int
redu_queue_push(struct redu_queue *q, const struct sockaddr *dst,
    const uint8_t *p, size_t len)
{
    struct redu_qd *d;

    if (q->n >= REDU_QUEUE_DGRAMS || len > REDU_QUEUE_BYTES - q->bytes) {
        errno = ENOBUFS;
        return -1;
    }
    d = malloc(sizeof(*d) + len);
    if (d == NULL) {
        errno = ENOMEM;
        return -1;
    }
    d->next = NULL;
    tp_sa_set(&d->dst, dst);
    d->len = len;
    memcpy(d->data, p, len);
    if (q->tail != NULL) {
        q->tail->next = d;
    } else {
        q->head = d;
    }
    q->tail = d;
    q->n++;
    q->bytes += len;
    return 0;
}

struct redu_qd *
redu_queue_pop(struct redu_queue *q)
{
    struct redu_qd *d = q->head;

    if (d == NULL) {
        return NULL;
    }
    q->head = d->next;
    if (q->head == NULL) {
        q->tail = NULL;
    }
    q->n--;
    q->bytes -= d->len;
    d->next = NULL;
    return d;
}

size_t
redu_queue_clear(struct redu_queue *q)
{
    struct redu_qd *d;
    size_t          n = 0;

    while ((d = redu_queue_pop(q)) != NULL) {
        free(d);
        n++;
    }
    return n;
}

int
redu_tunnel_reply_src(const struct sockaddr *src, const union tp_sa *dst,
    bool symmetric, union tp_sa *out)
{
    static const uint8_t zero[16];
    const struct sockaddr_in6 *in6;

    *out = *dst;
    if (src == NULL
        || (src->sa_family != AF_INET && src->sa_family != AF_INET6)) {
        return 0;
    }
    in6 = (const void *) src;
    if (src->sa_family == AF_INET6 && dst->sa.sa_family == AF_INET
        && IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        union tp_sa v4;

        memset(&v4, 0, sizeof(v4));
        v4.in.sin_family = AF_INET;
        v4.in.sin_port = in6->sin6_port;
        memcpy(&v4.in.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
        return redu_tunnel_reply_src(&v4.sa, dst, symmetric, out);
    }
    if (src->sa_family != dst->sa.sa_family || tp_sockaddr_port(src) == 0
        || (src->sa_family == AF_INET
            && ((const struct sockaddr_in *) (const void *) src)
                   ->sin_addr.s_addr == htonl(INADDR_ANY))
        || (src->sa_family == AF_INET6
            && memcmp(&in6->sin6_addr, zero, 16) == 0)) {
        return 0;
    }
    if (symmetric && !tp_sockaddr_equal(src, &dst->sa)) {
        return -1;
    }
    tp_sa_set(out, src);
    return 0;
}

static bool
backoff_same(const union tp_sa *a, const struct sockaddr *b)
{
    return b == NULL ? a->sa.sa_family == AF_UNSPEC
                     : tp_sockaddr_equal(&a->sa, b);
}

bool
redu_backoff_blocked(const struct redu_backoff *b, uint32_t hash,
    const struct sockaddr *client, const struct sockaddr *dst,
    uint64_t now_ms)
{
    const struct redu_backoff_slot *e = &b->slot[hash % REDU_BACKOFF_SLOTS];

    return now_ms < e->until_ms && backoff_same(&e->client, client)
           && backoff_same(&e->dst, dst);
}

void
redu_backoff_note(struct redu_backoff *b, uint32_t hash,
    const struct sockaddr *client, const struct sockaddr *dst,
    uint64_t until_ms)
{
    struct redu_backoff_slot *e = &b->slot[hash % REDU_BACKOFF_SLOTS];

    tp_sa_set(&e->client, client);
    tp_sa_set(&e->dst, dst);
    e->until_ms = until_ms;
}

static socklen_t
sa_len(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in);
}

/* Count a dropped datagram; warn at most once a second per kind. */
static void
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

static int
direct_open(struct redu_sess *rs, const struct sockaddr *dst)
{
    const struct tp_service *svc = rs->st->sw->svc;
    int                      fd, e;

    fd = tp_socket_egress(dst->sa_family, SOCK_DGRAM, svc->sockopts.mark);
    if (fd < 0) {
        return -1;
    }
    if (rs->st->nat.symmetric && connect(fd, dst, sa_len(dst)) != 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    tp_udp_nat_set_fd(rs->s, fd);
    return 0;
}

static int
direct_send(struct redu_sess *rs, const struct sockaddr *dst,
    const uint8_t *data, size_t len)
{
    struct redu_state *st = rs->st;
    ssize_t            n;

    if (st->nat.symmetric) {
        n = send(rs->s->fd, data, len, 0);
    } else {
        n = sendto(rs->s->fd, data, len, 0, dst, sa_len(dst));
    }
    return n < 0 ? -1 : 0;
}

static void redu_deliver(struct redu_sess *rs, const union tp_sa *from,
    const uint8_t *data, size_t len);

/* Replies on the upstream socket: from any remote under full-cone (the
 * socket is unconnected), from the destination only under symmetric. */
static void
direct_readable(struct tp_udp_sess *s)
{
    struct redu_sess  *rs = s->hdata;
    struct redu_state *st = rs->st;
    union tp_sa        from;
    socklen_t          flen;
    ssize_t            n;

    for (int i = 0; i < REDU_BUDGET; i++) {
        flen = sizeof(from);
        n = recvfrom(s->fd, st->nat.buf, st->nat.bufsize, MSG_TRUNC,
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

/* ---------------------------------------------------- write-back */

static void
wb_idle_unlink(struct redu_state *st, struct redu_wb *wb)
{
    if (!wb->idle) {
        return;
    }
    wb->idle = false;
    if (wb->older) wb->older->newer = wb->newer; else st->idle_old = wb->newer;
    if (wb->newer) wb->newer->older = wb->older; else st->idle_new = wb->older;
    wb->older = wb->newer = NULL;
}

static void
wb_idle_push(struct redu_state *st, struct redu_wb *wb)
{
    wb->idle = true;
    wb->older = st->idle_new;
    wb->newer = NULL;
    if (st->idle_new) st->idle_new->newer = wb; else st->idle_old = wb;
    st->idle_new = wb;
}

/* Close an unreferenced write-back socket. */
static void
wb_close(struct redu_state *st, struct redu_wb *wb)
{
    struct redu_wb **pp = &st->wbs[wb->hash & (st->nwbuckets - 1)];

    while (*pp != wb) {
        pp = &(*pp)->hnext;
    }
    *pp = wb->hnext;
    wb_idle_unlink(st, wb);
    st->nwb--;
    event_del(&wb->ev);
    close(wb->fd);
    free(wb);
}

/* A socket with src as its source address (the remote's), connected to
 * client unless that is NULL. */
static int
wb_socket(const union tp_sa *src, const union tp_sa *client, int64_t mark,
    const char **what)
{
    int one = 1, fd, e;

    *what = "socket";
    fd = tp_socket_egress(src->sa.sa_family, SOCK_DGRAM, mark);
    if (fd < 0) {
        return -1;
    }
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) {
        *what = "SO_REUSEADDR";
    } else if (setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one))
               != 0
               || (src->sa.sa_family == AF_INET6
                   && setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one,
                                 sizeof(one)) != 0)) {
        *what = "IP_TRANSPARENT (needs CAP_NET_ADMIN or CAP_NET_RAW)";
    } else if (bind(fd, &src->sa, tp_sa_len(src)) != 0) {
        *what = "write-back bind";
    } else if (client != NULL
               && connect(fd, &client->sa, tp_sa_len(client)) != 0) {
        *what = "write-back connect";
    } else {
        return fd;
    }
    e = errno;
    close(fd);
    errno = e;
    return -1;
}

static void redu_from_client(struct redu_state *st, struct tp_udp_sess *s,
    const struct sockaddr *client, const struct sockaddr *odst, size_t len);

/*
 * Datagrams *to* a write-back socket's address: only a rule that matches
 * UDP with `socket` (spec 5.2's pitfall) delivers them here instead of to
 * the service socket. They are a client's datagrams to wb->addr: handled
 * as such, counted, reported.
 */
static void
wb_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redu_wb         *wb = arg;
    struct redu_state      *st = wb->st;
    struct sockaddr_storage cl;
    socklen_t               cllen;
    ssize_t                 n;
    uint64_t                more;

    (void) what;
    for (int i = 0; i < REDU_BUDGET; i++) {
        cllen = sizeof(cl);
        n = recvfrom(fd, st->nat.buf, st->nat.bufsize, MSG_TRUNC,
                     (struct sockaddr *) &cl, &cllen);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                redu_drop(st, REDU_D_RECV, NULL, &wb->addr.sa,
                          "write-back socket", errno);
            }
            return;
        }
        tp_sockaddr_unmap(&cl, &cllen);
        if ((size_t) n > st->nat.bufsize) {
            redu_drop(st, REDU_D_TRUNC, (struct sockaddr *) &cl, &wb->addr.sa,
                      "larger than read_buffer_size", 0);
            continue;
        }
        st->wb_rx++;
        if (redu_rl_allow(&st->rl_wbrx, tp_now_ms(), 60000, &more)) {
            tp_log_notice("%s: client datagrams to %s arrive on tproxyd's "
                          "write-back socket (%llu so far): a rule matches "
                          "UDP with `socket`; they are handled, but such "
                          "rules should be TCP-only", st->sw->svc->name,
                          tp_sockaddr_str(&wb->addr.sa, st->str,
                                          sizeof(st->str)),
                          (unsigned long long) st->wb_rx);
        }
        redu_from_client(st, NULL, (struct sockaddr *) &cl, &wb->addr.sa,
                         (size_t) n);
    }
}

static void
wb_grow(struct redu_state *st)
{
    size_t           n = st->nwbuckets * 2;
    struct redu_wb **b = calloc(n, sizeof(*b));

    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < st->nwbuckets; i++) {
        struct redu_wb *wb = st->wbs[i], *next;
        for (; wb != NULL; wb = next) {
            next = wb->hnext;
            wb->hnext = b[wb->hash & (n - 1)];
            b[wb->hash & (n - 1)] = wb;
        }
    }
    free(st->wbs);
    st->wbs = b;
    st->nwbuckets = n;
}

static struct redu_wb *
wb_new(struct redu_state *st, const union tp_sa *addr, uint32_t h,
    const struct sockaddr *client)
{
    struct redu_wb *wb;
    const char     *what = "out of memory";
    int             e = ENOMEM;

    if (st->nwb >= st->max_wb) {
        if (st->idle_old == NULL) {
            redu_drop(st, REDU_D_WB, &addr->sa, client, "all write-back "
                      "sockets in use (2 x max_sessions)", 0);
            return NULL;
        }
        wb_close(st, st->idle_old);
    }
    wb = calloc(1, sizeof(*wb));
    if (wb == NULL
        || (e = 0, wb->fd = wb_socket(addr, NULL, st->sw->svc->sockopts.mark,
                                      &what)) < 0) {
        e = e ? e : errno;
        free(wb);
        redu_drop(st, REDU_D_WB, &addr->sa, client, what, e);
        return NULL;
    }
    wb->st = st;
    wb->addr = *addr;
    wb->hash = h;
    event_assign(&wb->ev, st->nat.base, wb->fd, EV_READ | EV_PERSIST,
                 wb_read_cb, wb);
    event_add(&wb->ev, NULL);
    wb->hnext = st->wbs[h & (st->nwbuckets - 1)];
    st->wbs[h & (st->nwbuckets - 1)] = wb;
    st->nwb++;
    st->wb_sockets++;
    st->sw->w->stats.udp_wb_sockets++;
    if (st->nwb > st->nwbuckets) {
        wb_grow(st);
    }
    return wb;
}

/* The worker's write-back socket for addr, with one more reference
 * (client: whom it is for, for the log). */
static struct redu_wb *
wb_get(struct redu_state *st, const union tp_sa *addr,
    const struct sockaddr *client)
{
    uint32_t        h = tp_sa_hash(st->nat.seed, &addr->sa);
    struct redu_wb *wb;

    for (wb = st->wbs[h & (st->nwbuckets - 1)]; wb != NULL; wb = wb->hnext) {
        if (wb->hash == h && tp_sockaddr_equal(&wb->addr.sa, &addr->sa)) {
            break;
        }
    }
    if (wb == NULL && (wb = wb_new(st, addr, h, client)) == NULL) {
        return NULL;
    }
    wb_idle_unlink(st, wb);
    wb->refs++;
    return wb;
}

/* Drop a reference; unreferenced sockets stay open (idle) for reuse. */
static void
wb_put(struct redu_state *st, struct redu_wb *wb)
{
    if (--wb->refs == 0) {
        wb->idle_ms = tp_now_ms();
        wb_idle_push(st, wb);
    }
}

/* Idle write-back sockets are closed after the ttl. */
static void
wb_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redu_state *st = arg;
    uint64_t           now = tp_now_ms();

    (void) fd; (void) what;
    while (st->idle_old != NULL && now - st->idle_old->idle_ms
                                   >= st->nat.ttl_ms) {
        wb_close(st, st->idle_old);
    }
}

/* The client's datagrams to r->wb->addr on the session's connected
 * socket: no control message, no lookup, no queue shared with others. */
static void
cref_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redu_ref    *r = arg;
    struct redu_state  *st = r->rs->st;
    struct tp_udp_sess *s = r->rs->s;
    ssize_t             n;

    (void) what;
    for (int i = 0; i < REDU_BUDGET; i++) {
        n = recv(fd, st->nat.buf, st->nat.bufsize, MSG_TRUNC);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            }
            /* ECONNREFUSED: the client's port is gone (ICMP). */
            redu_drop(st, REDU_D_RECV, &r->wb->addr.sa, &s->client.sa,
                      "write-back socket", errno);
            continue;
        }
        if ((size_t) n > st->nat.bufsize) {
            redu_drop(st, REDU_D_TRUNC, &s->client.sa, &r->wb->addr.sa,
                      "larger than read_buffer_size", 0);
            continue;
        }
        redu_from_client(st, s, &s->client.sa, &r->wb->addr.sa, (size_t) n);
    }
}

/* A connected write-back socket for r, if the remote and the worker are
 * under their bounds; none is no error (the shared socket serves). */
static void
cref_open(struct redu_sess *rs, struct redu_ref *r)
{
    struct redu_state *st = rs->st;
    const char        *what;

    r->cfd = -1;
    if (r->wb->nconn >= REDU_CONN_PER_REMOTE || st->nconn >= st->nat.max) {
        return;
    }
    r->cfd = wb_socket(&r->wb->addr, &rs->s->client,
                       st->sw->svc->sockopts.mark, &what);
    if (r->cfd < 0) {
        tp_log_debug("%s: %s: %s", st->sw->svc->name, what, strerror(errno));
        return;
    }
    event_assign(&r->cev, st->nat.base, r->cfd, EV_READ | EV_PERSIST,
                 cref_read_cb, r);
    event_add(&r->cev, NULL);
    r->wb->nconn++;
    st->nconn++;
    st->conn_made++;
    st->sw->w->stats.udp_wb_sockets++;
}

static void
ref_drop(struct redu_sess *rs, struct redu_ref *r)
{
    struct redu_ref **pp = &rs->refs;

    while (*pp != r) {
        pp = &(*pp)->next;
    }
    *pp = r->next;
    rs->nrefs--;
    if (r->cfd >= 0) {
        event_del(&r->cev);
        close(r->cfd);
        r->wb->nconn--;
        rs->st->nconn--;
    }
    wb_put(rs->st, r->wb);
    if (r == &rs->first) {
        r->wb = NULL;
    } else {
        free(r);
    }
}

static struct redu_ref *
ref_new(struct redu_sess *rs, const union tp_sa *from)
{
    struct redu_ref *r, *last;
    struct redu_wb  *wb;

    if (rs->nrefs >= REDU_SESS_REMOTES) {
        for (last = rs->refs; last->next != NULL; last = last->next) {
        }
        ref_drop(rs, last);
    }
    r = rs->first.wb == NULL ? &rs->first : calloc(1, sizeof(*r));
    if (r == NULL) {
        redu_drop(rs->st, REDU_D_WB, &from->sa, &rs->s->client.sa,
                  "out of memory", ENOMEM);
        return NULL;
    }
    wb = wb_get(rs->st, from, &rs->s->client.sa);
    if (wb == NULL) {
        if (r != &rs->first) {
            free(r);
        }
        return NULL;
    }
    r->wb = wb;
    r->rs = rs;
    cref_open(rs, r);
    r->next = rs->refs;
    rs->refs = r;
    rs->nrefs++;
    rs->nremotes++;
    return r;
}

/* The session's reference to remote `from`, made if needed. */
static struct redu_ref *
ref_get(struct redu_sess *rs, const union tp_sa *from)
{
    struct redu_ref **pp, *r;

    for (pp = &rs->refs; (r = *pp) != NULL; pp = &r->next) {
        if (tp_sockaddr_equal(&r->wb->addr.sa, &from->sa)) {
            if (pp != &rs->refs) {
                *pp = r->next;
                r->next = rs->refs;
                rs->refs = r;
            }
            return r;
        }
    }
    if (from->sa.sa_family != rs->s->client.sa.sa_family) {
        redu_drop(rs->st, REDU_D_WB, &from->sa, &rs->s->client.sa,
                  "reply from another address family", 0);
        return NULL;
    }
    return ref_new(rs, from);
}

/* A reply (data, len) from remote `from` to the client. */
static void
redu_deliver(struct redu_sess *rs, const union tp_sa *from,
    const uint8_t *data, size_t len)
{
    struct redu_state  *st = rs->st;
    struct tp_udp_sess *s = rs->s;
    struct redu_ref    *r;
    ssize_t             n;

    /* From the address a sniffed name resolved to: as from the original
     * destination, which the client sent to. */
    r = ref_get(rs, redu_name_reply_src(rs->name, &s->odst, from));
    if (r == NULL) {
        return;
    }
    if (r->cfd >= 0) {
        n = send(r->cfd, data, len, 0);
    } else {
        n = sendto(r->wb->fd, data, len, 0, &s->client.sa,
                   tp_sa_len(&s->client));
    }
    if (n < 0) {
        redu_drop(st, REDU_D_WB, &from->sa, &s->client.sa, "write-back send",
                  errno);
        return;
    }
    s->down_bytes += len;
    s->down_pkts++;
    tp_udp_nat_touch(s);
}

/* -------------------------------------------------- QUIC sniffing */

/*
 * A session being sniffed. Its upstream is opened only when the sniff is
 * decided:
 *  - no name (the sniffer says NONE, or the hold time or the hold cap
 *    ends it): the held datagrams go where they were sent, byte for byte
 *    and in order;
 *  - a name: the service's bypass list may refuse it (the session ends,
 *    end=denied); with dial_original_dst the original destination stays;
 *    otherwise the name is resolved with the worker's evdns (the family of
 *    the original destination, its port kept, bounded by connect_timeout;
 *    datagrams meanwhile stay held within the cap) and the session's
 *    datagrams to the original destination go to the answer. Replies from
 *    the answer are written back from the original destination
 *    (redu_deliver -> redu_name_reply_src): the client sent to that
 *    address and accepts replies from it only. A name that does not
 *    resolve: the original destination with fallback, else the session is
 *    dropped (logged; its held datagrams are counted as dropped).
 * The hold time is min(sniffing.timeout, 300 ms): a QUIC client sends its
 * first flight at once, and whatever is held adds to its handshake, so
 * the 5 s default meant for TCP would only hurt. The state (the sniffer,
 * ~19 KiB, and the hold buffer, 16 KiB) is freed as soon as the sniff is
 * decided; at most REDU_SNIFF_MAX_PENDING sessions per worker and service
 * have one (later ones are not sniffed, counted as skipped). A decided
 * session keeps its name (struct redu_name) if it had one, else nothing.
 * A full-cone session maps replies from the resolved address to the
 * original one even if the client also talks to the resolved address
 * directly (it would then see those replies from the original address).
 */
struct redu_sniff {
    struct redu_sess                   *rs;
    struct sniff_quic_state            *q;          /* NULL once decided */
    struct event                        timer;      /* hold, then resolve */
    struct evdns_getaddrinfo_request   *req;
    bool                                in_dns;     /* in evdns_getaddrinfo */
    bool                                dns_sync;   /* ... which answered */
    int                                 dns_result;
    struct evutil_addrinfo             *dns_res;
    uint64_t                            start_ms;
    struct tp_sniff_result              res;
    struct redu_hold                    hold;
};

static void redu_sess_log(int level, const struct redu_sess *rs,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* "#w-id service redu client -> odst: ..." */
static void
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
static bool
redu_denied(const struct redu_state *st, const char *host,
    const struct sockaddr *dst)
{
    const struct tp_bypass *b = st->sw->svc->bypass;

    return b != NULL && tp_bypass_match(b, host, dst);
}

/* One datagram of the session to dst (or where its name sends it). */
static void
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

/* Frees the sniff state; datagrams still held count as dropped. */
static void
sn_free(struct redu_sess *rs)
{
    struct redu_sniff *sn = rs->sniff;

    if (sn == NULL) {
        return;
    }
    rs->sniff = NULL;
    if (sn->req != NULL) {
        /* Its callback comes later, with EVUTIL_EAI_CANCEL: see sn_dns_cb. */
        evdns_getaddrinfo_cancel(sn->req);
    }
    event_del(&sn->timer);
    sniff_quic_free(sn->q);
    rs->st->drops[REDU_D_SNIFF] += sn->hold.n;
    rs->st->sw->w->stats.udp_dropped += sn->hold.n;
    rs->st->nsniffing--;
    free(sn);
}

static void
sn_timer_arm(struct redu_sniff *sn, uint64_t ms)
{
    struct timeval tv;

    tv.tv_sec = (time_t) (ms / 1000);
    tv.tv_usec = (suseconds_t) (ms % 1000) * 1000;
    evtimer_add(&sn->timer, &tv);
}

/* Keeps the sniffed name, and where it sends datagrams to the original
 * destination (to: the resolved address; NULL: the original destination;
 * &sn_nowhere: nowhere, the session is being dropped). Out of memory: no
 * name, the original destination. */
static const union tp_sa sn_nowhere;

static void
sn_name_set(struct redu_sess *rs, const union tp_sa *to)
{
    const char       *host = rs->sniff->res.host;
    size_t            n = strlen(host) + 1;
    struct redu_name *nm = malloc(sizeof(*nm) + n);

    if (nm == NULL) {
        redu_sess_log(TP_LOG_WARN, rs, "out of memory: %s is sent to its "
                      "original destination", host);
        return;
    }
    nm->to = to != NULL ? *to : rs->s->odst;
    nm->rewrite = nm->to.sa.sa_family != AF_UNSPEC
                  && !tp_sockaddr_equal(&nm->to.sa, &rs->s->odst.sa);
    memcpy(nm->host, host, n);
    rs->name = nm;
}

/* The sniff is decided (to: where the name resolved, NULL: the original
 * destination): open the upstream, send the held datagrams in order. 0,
 * or -1 when the upstream failed (the session is closed). */
static int
sn_finish(struct redu_sess *rs, const union tp_sa *to)
{
    struct redu_state  *st = rs->st;
    struct tp_udp_sess *s = rs->s;
    struct redu_hold   *h = &rs->sniff->hold;
    int                 e;

    if (rs->sniff->res.host[0] != '\0') {
        sn_name_set(rs, to);
    }
    if (st->up->open(rs, redu_name_dst(rs->name, &s->odst, &s->odst.sa))
        != 0) {
        e = errno;
        redu_drop(st, REDU_D_SESSION, &s->client.sa, &s->odst.sa,
                  "upstream socket", e);
        tp_udp_nat_close(s, "upstream failed");
        return -1;
    }
    for (size_t i = 0; i < h->n; i++) {
        redu_send(rs, &h->d[i].dst.sa, h->buf + h->d[i].off, h->d[i].len);
    }
    h->n = 0;
    sn_free(rs);
    return 0;
}

/* The name did not lead anywhere (why): fall back, or drop the session. */
static int
sn_name_failed(struct redu_sess *rs, const char *why)
{
    const char *host = rs->sniff->res.host;
    char        end[200];

    if (redu_sniff_next(rs->st->sniffing, true, true) == REDU_SN_ORIGINAL) {
        redu_sess_log(TP_LOG_INFO, rs, "sniffed name %s failed (resolve: "
                      "%s); falling back to the original destination", host,
                      why);
        return sn_finish(rs, NULL);
    }
    redu_sess_log(TP_LOG_INFO, rs, "sniffed name %s failed (resolve: %s); "
                  "no fallback: dropping the session", host, why);
    snprintf(end, sizeof(end), "name-failed (resolve %.60s: %.100s)", host,
             why);
    sn_name_set(rs, &sn_nowhere);
    tp_udp_nat_close(rs->s, end);
    return -1;
}

/* The resolver's answer about the sniffed name (takes res). */
static int
sn_resolved(struct redu_sess *rs, int result, struct evutil_addrinfo *res)
{
    struct redu_state *st = rs->st;
    union tp_sa        to;
    const char        *why = NULL;

    if (result != 0) {
        why = evutil_gai_strerror(result);
    } else if (res == NULL || res->ai_addr == NULL
               || res->ai_addr->sa_family != rs->s->odst.sa.sa_family) {
        why = "no address of the original destination's family";
    } else {
        tp_sa_set(&to, res->ai_addr);
        if (tp_origdst_is_self(st->sw->w->cycle, &to.sa, SOCK_DGRAM)) {
            why = "the address is tproxyd's own listener";
        } else if (redu_addr_loopback(&to.sa)) {
            /* The name is the client's word: it must not reach the
             * gateway's own loopback services ("localhost"). */
            why = "a loopback address";
        }
    }
    if (res != NULL) {
        evutil_freeaddrinfo(res);
    }
    if (why != NULL) {
        return sn_name_failed(rs, why);
    }
    return sn_finish(rs, &to);
}

static void
sn_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct redu_sniff *sn = arg;

    if (result == EVUTIL_EAI_CANCEL) {
        /* Canceled by sn_free(): sn is gone, libevent calls back later. */
        return;
    }
    if (sn->in_dns) {
        /* Answered inside evdns_getaddrinfo (numeric, hosts file). */
        sn->dns_sync = true;
        sn->dns_result = result;
        sn->dns_res = res;
        return;
    }
    sn->req = NULL;
    sn_resolved(sn->rs, result, res);
}

/* Resolve the sniffed name, bounded by the service's connect_timeout. */
static int
sn_resolve(struct redu_sess *rs)
{
    struct redu_sniff                  *sn = rs->sniff;
    struct tp_worker                   *w = rs->st->sw->w;
    struct evutil_addrinfo              hints;
    struct evdns_getaddrinfo_request   *req;
    char                                port[8];

    if (w->dns == NULL) {
        return sn_name_failed(rs, "no resolver");
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = rs->s->odst.sa.sa_family;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_protocol = IPPROTO_UDP;
    snprintf(port, sizeof(port), "%u", tp_sockaddr_port(&rs->s->odst.sa));
    sn_timer_arm(sn, rs->st->sw->svc->connect_timeout_ms);
    sn->in_dns = true;
    sn->dns_sync = false;
    req = evdns_getaddrinfo(w->dns, sn->res.host, port, &hints, sn_dns_cb,
                            sn);
    sn->in_dns = false;
    if (sn->dns_sync) {
        return sn_resolved(rs, sn->dns_result, sn->dns_res);
    }
    if (req == NULL) {
        return sn_name_failed(rs, "cannot start a query");
    }
    sn->req = req;
    return 0;
}

/* The sniff is over (found: sn->res.host is the name): route, then
 * resolve or send. 0: the session lives on; -1: it was closed. */
static int
sn_decide(struct redu_sess *rs, bool found, const char *how)
{
    struct redu_sniff *sn = rs->sniff;
    struct redu_state *st = rs->st;
    char               end[300];

    sniff_quic_free(sn->q);
    sn->q = NULL;
    event_del(&sn->timer);
    if (!found) {
        sn->res.host[0] = '\0';
    }
    if (found) {
        st->sn_found++;
    } else {
        st->sn_none++;
    }
    redu_sess_log(TP_LOG_DEBUG, rs, "sniff: %s%s%s (%zu datagrams held, "
                  "%llu ms)", how, found ? " host=" : "", sn->res.host,
                  sn->hold.n,
                  (unsigned long long) (tp_now_ms() - sn->start_ms));
    if (redu_denied(st, sn->res.host, &rs->s->odst.sa)) {
        snprintf(end, sizeof(end), "denied (bypass \"%.200s\")",
                 st->sw->svc->bypass->name);
        if (found) {
            sn_name_set(rs, &sn_nowhere);
        }
        tp_udp_nat_close(rs->s, end);
        return -1;
    }
    if (redu_sniff_next(st->sniffing, found, false) == REDU_SN_RESOLVE) {
        return sn_resolve(rs);
    }
    return sn_finish(rs, NULL);
}

static void
sn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redu_sniff *sn = arg;
    struct redu_sess  *rs = sn->rs;

    (void) fd; (void) what;
    if (sn->q != NULL) {
        sn_decide(rs, false, "timeout");
        return;
    }
    if (sn->req != NULL) {
        evdns_getaddrinfo_cancel(sn->req);
        sn->req = NULL;
    }
    sn_name_failed(rs, "timed out");
}

/* Starts sniffing a new session (its first datagram comes next through
 * redu_sniff_held). 0, or -1 when out of memory. */
static int
redu_sniff_begin(struct redu_sess *rs)
{
    struct redu_state *st = rs->st;
    struct redu_sniff *sn = malloc(sizeof(*sn));

    if (sn == NULL || (sn->q = sniff_quic_new()) == NULL) {
        free(sn);
        return -1;
    }
    sn->rs = rs;
    sn->req = NULL;
    sn->in_dns = sn->dns_sync = false;
    sn->start_ms = tp_now_ms();
    memset(&sn->res, 0, sizeof(sn->res));
    sn->hold.n = sn->hold.used = 0;
    evtimer_assign(&sn->timer, st->nat.base, sn_timer_cb, sn);
    sn_timer_arm(sn, redu_sniff_hold_ms(st->sniffing->timeout_ms));
    rs->sniff = sn;
    st->nsniffing++;
    return 0;
}

/*
 * A datagram (in the table's buffer) of the session to dst. false: not
 * held, the caller sends it (the session is decided, or its sniff just
 * ended at the hold cap and the held datagrams went first). true: taken
 * (held, or dropped); the session may be gone.
 */
static bool
redu_sniff_held(struct redu_sess *rs, const struct sockaddr *dst, size_t len)
{
    struct redu_sniff *sn = rs->sniff;
    struct redu_state *st = rs->st;
    enum tp_sniff_rc   rc;

    if (sn == NULL) {
        return false;
    }
    if (redu_hold_add(&sn->hold, dst, st->nat.buf, len) != 0) {
        if (sn->q != NULL) {
            return sn_decide(rs, false, "hold cap (8 datagrams / 16 KiB)")
                   != 0;
        }
        redu_drop(st, REDU_D_SNIFF, &rs->s->client.sa, dst, "held while "
                  "the sniffed name resolves: over 8 datagrams / 16 KiB", 0);
        return true;
    }
    if (sn->q == NULL || !tp_sockaddr_equal(dst, &rs->s->odst.sa)) {
        return true;
    }
    rc = sniff_quic_feed(sn->q, st->nat.buf, len, &sn->res);
    if (rc != TP_SNIFF_AGAIN) {
        sn_decide(rs, rc == TP_SNIFF_FOUND,
                  rc == TP_SNIFF_FOUND ? "quic" : "no host name");
    }
    return true;
}

/* --------------------------------------------- UDP through a chain */

/*
 * With handler.chain, a session's upstream is a datagram tunnel through
 * the chain (tp_dial_udp_start: SOCKS5 UDP ASSOCIATE, relay UDP), one per
 * session: full-cone asks for an association to any destination (each
 * datagram names its own; a relay server needs `bind`), symmetric for one
 * to the session's destination. The chain's bypass is decided when the
 * session opens, on its original destination and sniffed name: a match
 * sends the session direct (via=direct(bypass)), as for TCP.
 *
 * The dial starts from a zero timer, so that its callback (which may come
 * at once when every node fails) never runs inside the caller of open.
 * Datagrams meanwhile are queued (REDU_QUEUE_DGRAMS / _BYTES; more are
 * dropped and counted as "queue") and sent in order once the tunnel is
 * there. A failed dial ends the session (end=upstream-failed (why)) and
 * the key (client; symmetric: client and destination) waits
 * REDU_RETRY_MS before the next attempt (datagrams meanwhile: "backoff");
 * a tunnel that breaks later ends it with end=upstream-closed (why).
 *
 * Replies carry their source in the tunnel's header: written back from
 * there (redu_tunnel_reply_src; an unknown source is the session's
 * destination), and from the original destination when that source is
 * the address a sniffed name resolved to. The tunnels carry addresses
 * only, so a sniffed name is resolved on the gateway as for direct
 * sessions.
 */
struct redu_chain_sess {
    struct redu_sess       *rs;
    struct tp_dial         *dial;       /* while opening */
    struct tp_udp_tunnel   *tun;        /* once open */
    const char             *route;      /* the tunnel's, for the log */
    union tp_sa             to;         /* where the session's datagrams
                                         * go first (symmetric: only) */
    struct event            start;      /* starts the dial */
    struct redu_queue       q;
};

/* The backoff key's hash: the client, and under symmetric its
 * destination. */
static uint32_t
chain_backoff_hash(const struct redu_state *st, const struct sockaddr *client,
    const struct sockaddr *odst)
{
    uint32_t h = tp_sa_hash(st->nat.seed, client);

    return st->nat.symmetric ? tp_sa_hash(h, odst) : h;
}

/* Count the datagrams still queued as dropped (no warning: the session's
 * end says why). */
static void
chain_queue_drop(struct redu_state *st, struct redu_chain_sess *ch)
{
    size_t n = redu_queue_clear(&ch->q);

    st->drops[REDU_D_UP] += n;
    st->sw->w->stats.udp_dropped += n;
}

static void
chain_recv(void *arg, const struct sockaddr *src, const uint8_t *data,
    size_t len)
{
    struct redu_sess  *rs = arg;
    struct redu_state *st = rs->st;
    union tp_sa        from;

    if (redu_tunnel_reply_src(src, &rs->ch->to, st->nat.symmetric, &from)
        != 0) {
        redu_drop(st, REDU_D_FOREIGN, src, &rs->s->client.sa, "reply from "
                  "another remote (nat = symmetric)", 0);
        return;
    }
    redu_deliver(rs, &from, data, len);
}

static void
chain_closed(void *arg, int err, const char *why)
{
    struct redu_sess *rs = arg;
    char              end[300];

    (void) err;
    snprintf(end, sizeof(end), "upstream-closed (%.250s)", why);
    tp_udp_nat_close(rs->s, end);
}

static void
chain_dialed(void *arg, struct tp_udp_tunnel *t, int err, const char *why)
{
    struct redu_sess       *rs = arg;
    struct redu_state      *st = rs->st;
    struct redu_chain_sess *ch = rs->ch;
    struct tp_udp_sess     *s = rs->s;
    struct redu_qd         *d;
    char                    end[300];

    if (t == NULL) {
        st->ch_failed++;
        redu_backoff_note(st->backoff, chain_backoff_hash(st, &s->client.sa,
                                                          &s->odst.sa),
                          &s->client.sa,
                          st->nat.symmetric ? &s->odst.sa : NULL,
                          tp_now_ms() + REDU_RETRY_MS);
        snprintf(end, sizeof(end), "upstream-failed (%.250s)",
                 why != NULL && why[0] != '\0' ? why : strerror(err));
        tp_udp_nat_close(s, end);
        return;
    }
    st->ch_opened++;
    ch->tun = t;
    ch->route = t->route;
    t->recv = chain_recv;
    t->closed = chain_closed;
    t->arg = rs;
    redu_sess_log(TP_LOG_DEBUG, rs, "chain \"%s\": %s open, %zu datagrams "
                  "queued", st->chain->name, t->route, ch->q.n);
    while ((d = redu_queue_pop(&ch->q)) != NULL) {
        if (t->ops->send(t, &d->dst.sa, d->data, d->len) != 0) {
            redu_drop(st, REDU_D_UP, &s->client.sa, &d->dst.sa,
                      "send upstream", errno);
        } else {
            s->up_bytes += d->len;
            s->up_pkts++;
        }
        free(d);
    }
}

static void
chain_start_cb(evutil_socket_t fd, short what, void *arg)
{
    struct redu_sess       *rs = arg;
    struct redu_state      *st = rs->st;
    struct redu_chain_sess *ch = rs->ch;
    struct tp_target        t;

    (void) fd; (void) what;
    if (st->nat.symmetric) {
        tp_target_from_sockaddr(&t, &ch->to.sa, tp_sa_len(&ch->to));
    }
    /* May end the session before it returns: nothing after it. */
    tp_dial_udp_start(&ch->dial, st->sw->w, st->nat.symmetric ? &t : NULL,
                      st->chain, st->sw->svc->sockopts.mark,
                      st->sw->svc->connect_timeout_ms, chain_dialed, rs);
}

static int
chain_open(struct redu_sess *rs, const struct sockaddr *dst)
{
    struct redu_state      *st = rs->st;
    struct redu_chain_sess *ch;
    struct timeval          now = { 0, 0 };

    if (st->chain->bypass != NULL
        && tp_bypass_match(st->chain->bypass,
                           rs->name != NULL ? rs->name->host : "",
                           &rs->s->odst.sa)) {
        st->ch_bypassed++;
        rs->bypassed = true;
        return direct_open(rs, dst);
    }
    ch = calloc(1, sizeof(*ch));
    if (ch == NULL) {
        errno = ENOMEM;
        return -1;
    }
    ch->rs = rs;
    tp_sa_set(&ch->to, dst);
    evtimer_assign(&ch->start, st->nat.base, chain_start_cb, rs);
    evtimer_add(&ch->start, &now);
    rs->ch = ch;
    return 0;
}

static int
chain_send(struct redu_sess *rs, const struct sockaddr *dst,
    const uint8_t *data, size_t len)
{
    struct redu_chain_sess *ch = rs->ch;

    if (ch == NULL) {
        return direct_send(rs, dst, data, len);
    }
    if (ch->tun != NULL) {
        return ch->tun->ops->send(ch->tun, dst, data, len);
    }
    if (redu_queue_push(&ch->q, dst, data, len) != 0) {
        redu_drop(rs->st, REDU_D_QUEUE, &rs->s->client.sa, dst,
                  errno == ENOBUFS ? "the chain's association is opening "
                  "and 8 datagrams / 16 KiB wait already" : "queue", errno);
    }
    return 1;
}

static void
chain_close(struct redu_sess *rs)
{
    struct redu_chain_sess *ch = rs->ch;

    if (ch == NULL) {
        return;
    }
    rs->ch = NULL;
    event_del(&ch->start);
    if (ch->dial != NULL) {
        tp_dial_cancel(ch->dial);
    }
    if (ch->tun != NULL) {
        ch->tun->ops->free(ch->tun);
    }
    chain_queue_drop(rs->st, ch);
    free(ch);
}

static const struct redu_up_ops redu_chain = {
    .route = "chain",
    .open = chain_open,
    .send = chain_send,
    .readable = direct_readable,    /* the bypass's direct socket */
    .close = chain_close,
};

/* "via=" of the access log. */
static const char *
redu_via(const struct redu_sess *rs, char *buf, size_t size)
{
    const struct redu_state *st = rs->st;

    if (st->chain == NULL) {
        return st->up->route;
    }
    if (rs->bypassed) {
        return "direct(bypass)";
    }
    if (rs->ch != NULL && rs->ch->route != NULL) {
        snprintf(buf, size, "%s/%s", st->chain->name, rs->ch->route);
        return buf;
    }
    return st->chain->name;
}

/* ------------------------------------------------------- sessions */

static void
redu_sess_closed(struct tp_udp_sess *s, const char *why)
{
    struct redu_sess  *rs = s->hdata;
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
    rs = s->hdata;
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
        redu_drop(st, REDU_D_SESSION, client, odst, "upstream socket", e);
        return NULL;
    }
    st->sessions++;
    st->sw->w->stats.udp_sessions++;
    return s;
}

/* A datagram (in the table's buffer) from the client to odst; s is its
 * session if the caller knows it. */
static void
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
    if (redu_sniff_held(s->hdata, odst, len)) {
        return;
    }
    redu_send(s->hdata, odst, st->nat.buf, len);
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
