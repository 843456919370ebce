/*
 * test_poller.c - the worker's private epoll set: readiness reaches the
 * owner through the libevent loop; a callback that ends another owner of
 * the same batch keeps that owner's callback from running (ASan would see
 * the use after free); shrunk interest is not reported; a refused fd
 * leaves the interest unchanged.
 */
#include "tproxyd.h"
#include "poller.h"

#include <check.h>
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

struct owner {
    struct tp_pollfd    pf;
    struct tp_poller   *p;
    struct owner       *victim;     /* ended by this one's callback */
    int                 calls;
    uint32_t            last;
    int                 peer;       /* the socketpair's other end */
};

static struct owner *survivor;  /* the owner whose callback ended another */

static void
owner_cb(struct tp_pollfd *pf, uint32_t revents)
{
    struct owner *o = container_of(pf, struct owner, pf);
    char          b[8];

    o->calls++;
    o->last = revents;
    while (recv(pf->fd, b, sizeof(b), MSG_DONTWAIT) > 0) {
    }
    if (o->victim != NULL) {
        tp_poll_del(o->p, &o->victim->pf);
        close(o->victim->pf.fd);
        close(o->victim->peer);
        free(o->victim);
        o->victim = NULL;
        survivor = o;
    }
}

static struct owner *
owner_new(struct tp_poller *p)
{
    struct owner *o = calloc(1, sizeof(*o));
    int           sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv),
                     0);
    o->p = p;
    o->peer = sv[1];
    tp_pollfd_init(&o->pf, sv[0], owner_cb);
    return o;
}

static void
owner_free(struct owner *o)
{
    tp_poll_del(o->p, &o->pf);
    close(o->pf.fd);
    close(o->peer);
    free(o);
}

START_TEST(dispatch_and_del_in_batch)
{
    struct event_base *base = event_base_new();
    struct tp_poller   p;
    struct owner      *a, *b;

    ck_assert_int_eq(tp_poller_init(&p, base), 0);
    a = owner_new(&p);
    b = owner_new(&p);
    ck_assert_int_eq(tp_poll_set(&p, &a->pf, EPOLLIN), 0);
    ck_assert_int_eq(tp_poll_set(&p, &b->pf, EPOLLIN), 0);
    ck_assert_int_eq(send(a->peer, "x", 1, 0), 1);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert_int_eq(a->calls, 1);
    ck_assert_uint_eq(a->last, EPOLLIN);
    ck_assert_int_eq(b->calls, 0);
    /* Both ready in one batch; whichever runs first ends the other. */
    a->victim = b;
    b->victim = a;
    ck_assert_int_eq(send(a->peer, "x", 1, 0), 1);
    ck_assert_int_eq(send(b->peer, "x", 1, 0), 1);
    survivor = NULL;
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert_ptr_nonnull(survivor);
    ck_assert_int_eq(survivor->calls, survivor == a ? 2 : 1);
    survivor->victim = NULL;
    owner_free(survivor);
    tp_poller_free(&p);
    event_base_free(base);
}
END_TEST

START_TEST(interest_changes)
{
    struct event_base *base = event_base_new();
    struct tp_poller   p;
    struct owner      *a;
    struct tp_pollfd   bad;

    ck_assert_int_eq(tp_poller_init(&p, base), 0);
    a = owner_new(&p);
    /* A datagram socket is writable at once. */
    ck_assert_int_eq(tp_poll_set(&p, &a->pf, EPOLLIN | EPOLLOUT), 0);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert_int_eq(a->calls, 1);
    ck_assert_uint_eq(a->last, EPOLLOUT);
    ck_assert_int_eq(tp_poll_set(&p, &a->pf, EPOLLIN), 0);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert_int_eq(a->calls, 1);          /* nothing to read */
    ck_assert_int_eq(tp_poll_set(&p, &a->pf, 0), 0);
    ck_assert_int_eq(send(a->peer, "x", 1, 0), 1);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert_int_eq(a->calls, 1);          /* out of the set */
    ck_assert_int_eq(tp_poll_set(&p, &a->pf, EPOLLIN), 0);
    event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert_int_eq(a->calls, 2);
    /* A closed fd is refused; the interest stays as it was. */
    tp_pollfd_init(&bad, 1000000, owner_cb);
    ck_assert_int_eq(tp_poll_set(&p, &bad, EPOLLIN), -1);
    ck_assert_int_eq(errno, EBADF);
    ck_assert_uint_eq(bad.events, 0);
    tp_poll_del(&p, &bad);                  /* harmless */
    owner_free(a);
    tp_poller_free(&p);
    event_base_free(base);
}
END_TEST

Suite *
suite_poller(void)
{
    Suite *s = suite_create("poller");
    TCase *tc = tcase_create("poller");

    tcase_add_test(tc, dispatch_and_del_in_batch);
    tcase_add_test(tc, interest_changes);
    suite_add_tcase(s, tc);
    return s;
}
