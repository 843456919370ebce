/*
 * redu_sniff.c - module "redu": QUIC sniffing. A new session whose first
 * datagram looks like a QUIC Initial is held until the sniffer names it
 * (or gives up); the name routes it and, resolved, may become where its
 * datagrams go. Also the pure helpers of redu.h for it.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/log.h"
#include "../src/origdst.h"
#include "../src/sniff.h"
#include "../src/udp_nat.h"
#include "../src/worker.h"
#include "redu.h"
#include "redu_module.h"
#include "sniff_wire.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

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

/* Frees the sniff state; datagrams still held count as dropped. */
void
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
int
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
bool
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
