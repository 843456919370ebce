/*
 * redu_writeback.c - module "redu": the write-back sockets, bound to a
 * remote R so that replies reach the client from R: one shared socket per
 * R per worker (cached, refcounted, idle ones swept after the ttl) and a
 * bounded number connected to one client each (see the top of redu.c).
 */
#include "../src/tproxyd.h"
#include "../src/dial.h"
#include "../src/log.h"
#include "../src/udp_nat.h"
#include "../src/worker.h"
#include "redu.h"
#include "redu_module.h"

#include <event2/event.h>
#include <stdlib.h>
#include <unistd.h>

#define REDU_SESS_REMOTES   16      /* write-back refs per session */
#define REDU_CONN_PER_REMOTE 16     /* connected write-back sockets per
                                     * remote address per worker */

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
void
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
void
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
cref_read_cb(struct tp_pollfd *pf, uint32_t revents)
{
    struct redu_ref    *r = container_of(pf, struct redu_ref, cpf);
    struct redu_state  *st = r->rs->st;
    struct tp_udp_sess *s = r->rs->s;
    int                 fd = pf->fd;
    ssize_t             n;

    (void) revents;
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
    int                fd;

    tp_pollfd_init(&r->cpf, -1, cref_read_cb);
    if (r->wb->nconn >= REDU_CONN_PER_REMOTE || st->nconn >= st->nat.max) {
        return;
    }
    fd = wb_socket(&r->wb->addr, &rs->s->client, st->sw->svc->sockopts.mark,
                   &what);
    if (fd < 0) {
        tp_log_debug("%s: %s: %s", st->sw->svc->name, what, strerror(errno));
        return;
    }
    r->cpf.fd = fd;
    if (tp_poll_set(&st->sw->w->poller, &r->cpf, EPOLLIN) != 0) {
        tp_log_debug("%s: write-back socket: epoll: %s", st->sw->svc->name,
                     strerror(errno));
        close(fd);
        r->cpf.fd = -1;
        return;
    }
    r->wb->nconn++;
    st->nconn++;
    st->conn_made++;
    st->sw->w->stats.udp_wb_sockets++;
}

void
ref_drop(struct redu_sess *rs, struct redu_ref *r)
{
    struct redu_ref **pp = &rs->refs;

    while (*pp != r) {
        pp = &(*pp)->next;
    }
    *pp = r->next;
    rs->nrefs--;
    if (r->cpf.fd >= 0) {
        tp_poll_del(&rs->st->sw->w->poller, &r->cpf);
        close(r->cpf.fd);
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
void
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
    if (r->cpf.fd >= 0) {
        n = send(r->cpf.fd, data, len, 0);
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
