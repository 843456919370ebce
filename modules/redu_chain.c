/*
 * redu_chain.c - module "redu": UDP through a chain. A session's upstream
 * is a datagram tunnel through handler.chain (SOCKS5 UDP ASSOCIATE, relay
 * UDP), datagrams queued while it opens, failed clients backed off; the
 * chain's bypass sends a session direct. Also the pure helpers of redu.h
 * for it.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/dial.h"
#include "../src/log.h"
#include "../src/udp_nat.h"
#include "../src/worker.h"
#include "redu.h"
#include "redu_module.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

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
uint32_t
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
                      st->chain, &st->sw->svc->sockopts,
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

const struct redu_up_ops redu_chain = {
    .route = "chain",
    .open = chain_open,
    .send = chain_send,
    .readable = direct_readable,    /* the bypass's direct socket */
    .close = chain_close,
};

/* "via=" of the access log. */
const char *
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
