/*
 * poller.h - a worker's private epoll set for the sockets that stay open
 * longest and in the largest numbers: spliced TCP relays and UDP session
 * sockets. The set is one fd watched by the worker's libevent loop, so a
 * watched socket costs a 16-byte tp_pollfd in its owner's struct instead
 * of a 128-byte struct event plus libevent's per-fd map entry, and all
 * ready sockets come back from one epoll_wait. Level-triggered, like
 * libevent's default.
 */
#ifndef TP_POLLER_H
#define TP_POLLER_H

#include "tproxyd.h"

#include <sys/epoll.h>

struct event;
struct event_base;
struct tp_pollfd;

/* revents: EPOLLIN/EPOLLOUT/EPOLLERR/EPOLLHUP as epoll reports them. */
typedef void (*tp_poll_cb)(struct tp_pollfd *pf, uint32_t revents);

/* Embedded in its owner; the callback finds the owner with container_of. */
struct tp_pollfd {
    tp_poll_cb  cb;
    int         fd;
    uint32_t    events;         /* interest registered; 0 = not in the set */
};

#define TP_POLL_BATCH   64

struct tp_poller {
    int                 epfd;
    struct event       *ev;
    struct epoll_event  batch[TP_POLL_BATCH];   /* being dispatched */
    int                 n, next;
};

/* 0, or -1 with errno. */
int tp_poller_init(struct tp_poller *p, struct event_base *base);
/* The set must be empty of live owners (their fds are not closed here). */
void tp_poller_free(struct tp_poller *p);

void tp_pollfd_init(struct tp_pollfd *pf, int fd, tp_poll_cb cb);
/* Sets the interest (EPOLLIN|EPOLLOUT; 0 takes the fd out of the set).
 * 0, or -1 with errno (the interest is then unchanged). */
int tp_poll_set(struct tp_poller *p, struct tp_pollfd *pf, uint32_t events);
/* Takes pf out of the set and out of the batch being dispatched: call it
 * before closing pf->fd or freeing its owner. */
void tp_poll_del(struct tp_poller *p, struct tp_pollfd *pf);

#endif
