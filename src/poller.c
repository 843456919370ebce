/*
 * poller.c - the worker's private epoll set (see poller.h). A callback may
 * end other owners of the same batch (a relay's done hook closes both of
 * its sockets); tp_poll_del() therefore blanks their pending entries, so
 * no callback ever runs for a freed owner.
 */
#include "tproxyd.h"
#include "poller.h"

#include <event2/event.h>
#include <errno.h>
#include <unistd.h>

static void
poller_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tp_poller *p = arg;
    int               n;

    (void) fd; (void) what;
    n = epoll_wait(p->epfd, p->batch, TP_POLL_BATCH, 0);
    if (n <= 0) {
        return;     /* EINTR, or nothing: level-triggered, comes again */
    }
    p->n = n;
    for (p->next = 0; p->next < p->n;) {
        struct epoll_event *e = &p->batch[p->next++];
        struct tp_pollfd   *pf = e->data.ptr;
        /* Interest may have shrunk since epoll_wait: report only what is
         * still wanted (errors and hang-ups always). */
        if (pf != NULL && pf->events != 0) {
            pf->cb(pf, e->events & (pf->events | EPOLLERR | EPOLLHUP));
        }
    }
    p->n = p->next = 0;
}

int
tp_poller_init(struct tp_poller *p, struct event_base *base)
{
    memset(p, 0, sizeof(*p));
    p->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (p->epfd < 0) {
        return -1;
    }
    p->ev = event_new(base, p->epfd, EV_READ | EV_PERSIST, poller_cb, p);
    if (p->ev == NULL || event_add(p->ev, NULL) != 0) {
        tp_poller_free(p);
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void
tp_poller_free(struct tp_poller *p)
{
    if (p->ev != NULL) {
        event_free(p->ev);
    }
    if (p->epfd >= 0) {
        close(p->epfd);
    }
    memset(p, 0, sizeof(*p));
    p->epfd = -1;
}

void
tp_pollfd_init(struct tp_pollfd *pf, int fd, tp_poll_cb cb)
{
    pf->cb = cb;
    pf->fd = fd;
    pf->events = 0;
}

int
tp_poll_set(struct tp_poller *p, struct tp_pollfd *pf, uint32_t events)
{
    struct epoll_event ev = { .events = events, .data.ptr = pf };
    int                op;

    if (events == pf->events) {
        return 0;
    }
    op = pf->events == 0 ? EPOLL_CTL_ADD
         : events == 0   ? EPOLL_CTL_DEL
                         : EPOLL_CTL_MOD;
    if (epoll_ctl(p->epfd, op, pf->fd, &ev) != 0) {
        return -1;
    }
    pf->events = events;
    return 0;
}

void
tp_poll_del(struct tp_poller *p, struct tp_pollfd *pf)
{
    if (pf->events != 0) {
        epoll_ctl(p->epfd, EPOLL_CTL_DEL, pf->fd, NULL);
        pf->events = 0;
    }
    for (int i = p->next; i < p->n; i++) {
        if (p->batch[i].data.ptr == pf) {
            p->batch[i].data.ptr = NULL;
        }
    }
}
