/*
 * worker.h - a worker process: one event loop on slot `slot` of every
 * service's socket group, its connections, its DNS resolver, counters.
 * The worker object is the one writable global of a worker process.
 */
#ifndef TP_WORKER_H
#define TP_WORKER_H

#include "tproxyd.h"
#include "cycle.h"
#include "relay.h"

struct event;
struct event_base;
struct evdns_base;
struct evconnlistener;

/* Flows that end free a few descriptors, so accepts succeed now and then
 * in an episode; it is over only after this long without a failure. */
#define TP_STARVED_QUIET_MS 5000

/* One service as seen by one worker. */
struct tp_svc_worker {
    struct tp_worker           *w;
    const struct tp_service    *svc;
    int                         fd;         /* this slot's socket */
    struct evconnlistener      *lev;        /* stream services */
    struct event               *retry;      /* accept back-off timer */
    void                       *hstate;     /* handler's per-worker state */
    /* An episode of accept failures for want of descriptors or memory:
     * warned at its first failure, ended (with a notice) by an accept
     * TP_STARVED_QUIET_MS or more after its last failure. */
    uint64_t                    starved_ms, starved_last_ms;
    unsigned long               starved;    /* failures; 0 = no episode */
};

struct tp_stats {
    uint64_t    accepted;
    uint64_t    closed;
    uint64_t    accept_errors;
    uint64_t    dial_errors;
    uint64_t    refused_loop;
    uint64_t    bytes_up;
    uint64_t    bytes_down;
    /* UDP (redu) */
    uint64_t    udp_sessions;       /* sessions started */
    uint64_t    udp_evicted;        /* ended early: session table full */
    uint64_t    udp_dropped;        /* datagrams dropped, every reason */
    uint64_t    udp_truncated;      /* of those: > read_buffer_size */
    uint64_t    udp_wb_sockets;     /* write-back sockets opened */
};

struct tp_worker {
    int                     slot;
    struct event_base      *base;
    struct evdns_base      *dns;
    struct tp_cycle        *cycle;
    struct tp_svc_worker   *svcs;
    size_t                  nsvcs;
    uint64_t                next_id;
    unsigned                source_next;    /* sockopts.source round robin */
    struct tp_conn         *conns;          /* list of live connections */
    size_t                  nconns;
    size_t                  nsessions;      /* live UDP sessions */
    bool                    draining;
    struct tp_poller        poller;         /* spliced and UDP sockets */
    struct tp_relay_env     relays;         /* what its relays share */
    struct event           *ev_quit, *ev_term, *ev_int, *ev_usr1;
    struct event           *ev_shutdown;
    struct tp_stats         stats;
};

/* Runs the worker's loop; returns the process exit code. */
int tp_worker_run(struct tp_cycle *cycle, int slot);
/* A connection or session ended: lets a draining worker exit when idle. */
void tp_worker_check_drained(struct tp_worker *w);

#endif
