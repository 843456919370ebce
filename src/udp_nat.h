/*
 * udp_nat.h - the per-worker UDP session table: sessions keyed by client
 * address (full-cone) or by client and original destination (symmetric),
 * each with its own upstream socket, an idle ttl, and a cap with eviction
 * of the least recently used. O(1) lookup and touch; the sweep timer walks
 * the LRU list from its cold end. No allocation per datagram.
 */
#ifndef TP_UDP_NAT_H
#define TP_UDP_NAT_H

#include "tproxyd.h"
#include "util.h"

#include <event2/event_struct.h>


struct tp_udp_nat;

struct tp_udp_sess {
    struct tp_udp_sess *hnext;          /* hash bucket chain */
    struct tp_udp_sess *older, *newer;  /* LRU list */
    struct tp_udp_nat  *nat;
    union tp_sa         client;
    union tp_sa         odst;           /* first original destination */
    int                 fd;             /* upstream socket */
    struct event        ev;             /* replies on fd */
    uint32_t            hash;
    uint64_t            start_ms, last_ms;
    uint64_t            up_bytes, down_bytes;
    uint32_t            up_pkts, down_pkts;
    uint64_t            id;
    void               *hdata;          /* the handler's, freed on close */
};

struct tp_udp_nat {
    struct event_base  *base;
    struct tp_worker   *w;
    bool                symmetric;      /* key includes the destination */
    uint64_t            ttl_ms;
    size_t              max;            /* cap on sessions */
    size_t              count;
    size_t              nbuckets;
    struct tp_udp_sess **buckets;
    struct tp_udp_sess *oldest, *newest;
    struct event       *sweep;
    uint8_t            *buf;            /* shared receive buffer */
    size_t              bufsize;
    uint64_t            evicted, refused;
    void               *arg;            /* the handler's */
    /* A datagram arrived on s->fd (handler reads it from the fd). */
    void              (*on_readable)(struct tp_udp_sess *s);
    /* The session is going away (ttl, eviction, shutdown). */
    void              (*on_close)(struct tp_udp_sess *s, const char *why);
};

int tp_udp_nat_init(struct tp_udp_nat *nat, struct tp_worker *w,
    bool symmetric, uint64_t ttl_ms, size_t max, size_t bufsize);
void tp_udp_nat_free(struct tp_udp_nat *nat);
struct tp_udp_sess *tp_udp_nat_lookup(struct tp_udp_nat *nat,
    const struct sockaddr *client, const struct sockaddr *odst);
/* Adds a session owning fd (evicting the least recently used when full);
 * NULL only when out of memory (fd is then not taken). */
struct tp_udp_sess *tp_udp_nat_add(struct tp_udp_nat *nat,
    const struct sockaddr *client, const struct sockaddr *odst, int fd);
void tp_udp_nat_touch(struct tp_udp_sess *s);
void tp_udp_nat_close(struct tp_udp_sess *s, const char *why);

#endif
