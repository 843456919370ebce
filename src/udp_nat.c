/*
 * udp_nat.c - UDP session table (see udp_nat.h). Sessions live in a hash
 * table with chaining (grown by doubling, seeded per table so clients
 * cannot aim at one bucket) and a doubly linked LRU list; a one-second
 * sweep closes sessions idle for longer than the ttl. A session and its
 * handler's bytes are one allocation, made when the session starts.
 */
#include "tproxyd.h"
#include "udp_nat.h"
#include "util.h"
#include "worker.h"

#include <event2/event.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>


static void
sa_copy(union tp_sa *to, const struct sockaddr *from)
{
    memset(to, 0, sizeof(*to));
    if (from == NULL) {
        return;
    }
    memcpy(to, from, from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                  : sizeof(struct sockaddr_in));
}

static uint32_t
hash_bytes(uint32_t h, const void *p, size_t n)
{
    const uint8_t *b = p;

    for (size_t i = 0; i < n; i++) {
        h = (h ^ b[i]) * 16777619u;        /* FNV-1a */
    }
    return h;
}

uint32_t
tp_sa_hash(uint32_t h, const struct sockaddr *sa)
{
    if (sa == NULL) {
        return h;
    }
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *) sa;
        h = hash_bytes(h, &in->sin_addr, 4);
        return hash_bytes(h, &in->sin_port, 2);
    }
    const struct sockaddr_in6 *in6 = (const void *) sa;
    h = hash_bytes(h, &in6->sin6_addr, 16);
    return hash_bytes(h, &in6->sin6_port, 2);
}

static uint32_t
key_hash(const struct tp_udp_nat *nat, const struct sockaddr *client,
    const struct sockaddr *odst)
{
    uint32_t h = tp_sa_hash(2166136261u ^ nat->seed, client);
    return nat->symmetric ? tp_sa_hash(h, odst) : h;
}

static void
lru_unlink(struct tp_udp_nat *nat, struct tp_udp_sess *s)
{
    if (s->older) s->older->newer = s->newer; else nat->oldest = s->newer;
    if (s->newer) s->newer->older = s->older; else nat->newest = s->older;
    s->older = s->newer = NULL;
}

static void
lru_push(struct tp_udp_nat *nat, struct tp_udp_sess *s)
{
    s->older = nat->newest;
    s->newer = NULL;
    if (nat->newest) nat->newest->newer = s; else nat->oldest = s;
    nat->newest = s;
}

size_t
tp_udp_nat_sweep(struct tp_udp_nat *nat, uint64_t now_ms)
{
    size_t n = 0;

    while (nat->oldest != NULL && now_ms >= nat->oldest->last_ms
           && now_ms - nat->oldest->last_ms >= nat->ttl_ms) {
        tp_udp_nat_close(nat->oldest, "ttl");
        n++;
    }
    return n;
}

static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd; (void) what;
    tp_udp_nat_sweep(arg, tp_now_ms());
}

static uint32_t
random_seed(void)
{
    uint32_t seed;

    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed)) {
        seed = (uint32_t) time(NULL) ^ (uint32_t) getpid() * 2654435761u;
    }
    return seed;
}

int
tp_udp_nat_init(struct tp_udp_nat *nat, struct tp_worker *w, bool symmetric,
    uint64_t ttl_ms, size_t max, size_t bufsize)
{
    struct timeval tv = { 1, 0 };

    memset(nat, 0, sizeof(*nat));
    nat->w = w;
    nat->base = w->base;
    nat->symmetric = symmetric;
    nat->ttl_ms = ttl_ms;
    nat->max = max ? max : 1;
    nat->seed = random_seed();
    nat->nbuckets = 1024;
    nat->buckets = calloc(nat->nbuckets, sizeof(*nat->buckets));
    nat->bufsize = bufsize;
    nat->buf = malloc(bufsize);
    nat->sweep = event_new(w->base, -1, EV_PERSIST, sweep_cb, nat);
    if (!nat->buckets || !nat->buf || !nat->sweep) {
        return -1;
    }
    event_add(nat->sweep, &tv);
    return 0;
}

void
tp_udp_nat_free(struct tp_udp_nat *nat)
{
    while (nat->oldest != NULL) {
        tp_udp_nat_close(nat->oldest, "shutdown");
    }
    if (nat->sweep) {
        event_free(nat->sweep);
    }
    free(nat->buckets);
    free(nat->buf);
    memset(nat, 0, sizeof(*nat));
}

struct tp_udp_sess *
tp_udp_nat_lookup(struct tp_udp_nat *nat, const struct sockaddr *client,
    const struct sockaddr *odst)
{
    uint32_t h = key_hash(nat, client, odst);

    for (struct tp_udp_sess *s = nat->buckets[h & (nat->nbuckets - 1)]; s;
         s = s->hnext) {
        if (s->hash == h && tp_sockaddr_equal(&s->client.sa, client)
            && (!nat->symmetric || tp_sockaddr_equal(&s->odst.sa, odst))) {
            return s;
        }
    }
    return NULL;
}

static void
grow(struct tp_udp_nat *nat)
{
    size_t               n = nat->nbuckets * 2;
    struct tp_udp_sess **b = calloc(n, sizeof(*b));

    if (b == NULL) {
        return;
    }
    for (size_t i = 0; i < nat->nbuckets; i++) {
        struct tp_udp_sess *s = nat->buckets[i], *next;
        for (; s != NULL; s = next) {
            next = s->hnext;
            s->hnext = b[s->hash & (n - 1)];
            b[s->hash & (n - 1)] = s;
        }
    }
    free(nat->buckets);
    nat->buckets = b;
    nat->nbuckets = n;
}

static void
sess_read_cb(struct tp_pollfd *pf, uint32_t revents)
{
    struct tp_udp_sess *s = container_of(pf, struct tp_udp_sess, pf);

    (void) revents;
    s->nat->on_readable(s);
}

struct tp_udp_sess *
tp_udp_nat_add(struct tp_udp_nat *nat, const struct sockaddr *client,
    const struct sockaddr *odst, int fd)
{
    struct tp_udp_sess *s;

    if (nat->count >= nat->max && nat->oldest != NULL) {
        nat->evicted++;
        tp_udp_nat_close(nat->oldest, "evicted (session table full)");
    }
    s = calloc(1, TP_UDP_SESS_SIZE + nat->hsize);
    if (s == NULL) {
        nat->refused++;
        return NULL;
    }
    s->nat = nat;
    tp_pollfd_init(&s->pf, -1, sess_read_cb);
    if (fd >= 0 && tp_udp_nat_set_fd(s, fd) != 0) {
        free(s);
        nat->refused++;
        return NULL;
    }
    sa_copy(&s->client, client);
    sa_copy(&s->odst, odst);
    s->hash = key_hash(nat, client, odst);
    s->start_ms = s->last_ms = tp_now_ms();
    s->id = ++nat->w->next_id;
    s->hnext = nat->buckets[s->hash & (nat->nbuckets - 1)];
    nat->buckets[s->hash & (nat->nbuckets - 1)] = s;
    lru_push(nat, s);
    nat->count++;
    nat->w->nsessions++;
    if (nat->count > nat->nbuckets) {
        grow(nat);
    }
    return s;
}

int
tp_udp_nat_set_fd(struct tp_udp_sess *s, int fd)
{
    s->pf.fd = fd;
    if (tp_poll_set(&s->nat->w->poller, &s->pf, EPOLLIN) != 0) {
        s->pf.fd = -1;
        return -1;
    }
    return 0;
}

void
tp_udp_nat_touch(struct tp_udp_sess *s)
{
    s->last_ms = tp_now_ms();
    if (s->nat->newest != s) {
        lru_unlink(s->nat, s);
        lru_push(s->nat, s);
    }
}

void
tp_udp_nat_close(struct tp_udp_sess *s, const char *why)
{
    struct tp_udp_nat   *nat = s->nat;
    struct tp_udp_sess **pp = &nat->buckets[s->hash & (nat->nbuckets - 1)];

    if (nat->on_close != NULL) {
        nat->on_close(s, why);
    }
    while (*pp != s) {
        pp = &(*pp)->hnext;
    }
    *pp = s->hnext;
    lru_unlink(nat, s);
    if (s->pf.fd >= 0) {
        tp_poll_del(&nat->w->poller, &s->pf);
        close(s->pf.fd);
    }
    nat->count--;
    nat->w->nsessions--;
    free(s);
    tp_worker_check_drained(nat->w);
}
