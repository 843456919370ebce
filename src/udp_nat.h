/*
 * udp_nat.h - the per-worker UDP session table: sessions keyed by client
 * address (full-cone) or by client and original destination (symmetric),
 * each with an optional upstream socket, an idle ttl, and a cap with
 * eviction of the least recently used. O(1) lookup and touch; the sweep
 * timer walks the LRU list from its cold end. No allocation per datagram.
 * The table never logs: the owner's on_close hook writes the access log.
 */
#ifndef TP_UDP_NAT_H
#define TP_UDP_NAT_H

#include "tproxyd.h"
#include "poller.h"
#include "util.h"

struct event;
struct event_base;


struct tp_udp_nat;

struct tp_udp_sess {
    struct tp_udp_sess *hnext;          /* hash bucket chain */
    struct tp_udp_sess *older, *newer;  /* LRU list */
    struct tp_udp_nat  *nat;
    union tp_sa         client;
    union tp_sa         odst;           /* first original destination */
    struct tp_pollfd    pf;             /* upstream socket (fd -1: none
                                         * yet); replies on it, in the
                                         * worker's epoll set */
    uint32_t            hash;
    uint64_t            start_ms, last_ms;
    uint64_t            up_bytes, down_bytes;
    uint32_t            up_pkts, down_pkts;
    uint64_t            id;
};

struct tp_udp_nat {
    struct event_base  *base;
    struct tp_worker   *w;
    bool                symmetric;      /* key includes the destination */
    uint64_t            ttl_ms;
    size_t              max;            /* cap on sessions */
    size_t              count;
    size_t              nbuckets;       /* a power of two */
    struct tp_udp_sess **buckets;
    struct tp_udp_sess *oldest, *newest;
    struct event       *sweep;
    uint8_t            *buf;            /* shared receive buffer */
    size_t              bufsize;
    size_t              hsize;          /* per-session handler bytes; set
                                         * before the first add */
    uint32_t            seed;           /* hash seed (random per table) */
    uint64_t            evicted, refused;
    void               *arg;            /* the handler's */
    /* A datagram arrived on s->pf.fd (handler reads it from the fd). */
    void              (*on_readable)(struct tp_udp_sess *s);
    /* The session is going away (ttl, eviction, shutdown); called while
     * it is still in the table, before its fd is closed. */
    void              (*on_close)(struct tp_udp_sess *s, const char *why);
};

/* The handler's nat->hsize bytes after the session (zeroed, 16-aligned),
 * or NULL when hsize is 0; the handler frees what it hangs there in
 * on_close. Computed, not stored: 8 bytes less per session. */
#define TP_UDP_SESS_SIZE ((sizeof(struct tp_udp_sess) + 15) & ~(size_t) 15)

static inline void *
tp_udp_sess_hdata(const struct tp_udp_sess *s)
{
    return s->nat->hsize ? (char *) s + TP_UDP_SESS_SIZE : NULL;
}

/* 0, or -1 when out of memory (then call tp_udp_nat_free). The sweep
 * timer runs every second on w->base. */
int tp_udp_nat_init(struct tp_udp_nat *nat, struct tp_worker *w,
    bool symmetric, uint64_t ttl_ms, size_t max, size_t bufsize);
/* Closes every session ("shutdown") and frees the table. */
void tp_udp_nat_free(struct tp_udp_nat *nat);
/* odst is ignored by full-cone tables (may be NULL there). */
struct tp_udp_sess *tp_udp_nat_lookup(struct tp_udp_nat *nat,
    const struct sockaddr *client, const struct sockaddr *odst);
/* Adds a session owning fd (-1: none yet), evicting the least recently
 * used when full (counted in nat->evicted). NULL only when out of memory
 * or the epoll set refused fd (fd is then not taken). The caller must have checked that no session
 * with this key exists. */
struct tp_udp_sess *tp_udp_nat_add(struct tp_udp_nat *nat,
    const struct sockaddr *client, const struct sockaddr *odst, int fd);
/* Gives a session without one its upstream socket: the table watches it
 * (on_readable) and closes it with the session. 0, or -1 with errno (the
 * epoll set refused; the fd is not taken). */
int tp_udp_nat_set_fd(struct tp_udp_sess *s, int fd);
void tp_udp_nat_touch(struct tp_udp_sess *s);
/* The one teardown path: on_close, unlink, close fd, free. */
void tp_udp_nat_close(struct tp_udp_sess *s, const char *why);
/* Closes sessions idle for ttl or longer at now_ms; returns how many. */
size_t tp_udp_nat_sweep(struct tp_udp_nat *nat, uint64_t now_ms);
/* FNV-1a of an address and port (NULL: seed unchanged), for tables keyed
 * by socket address. */
uint32_t tp_sa_hash(uint32_t seed, const struct sockaddr *sa);

#endif
