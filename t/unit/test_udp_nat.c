/*
 * test_udp_nat.c - the UDP session table (src/udp_nat.c): both key modes,
 * IPv6 keys, LRU eviction at the cap, the ttl sweep, table growth, the
 * handler's per-session bytes, the upstream fd it watches and closes, and
 * the address hash.
 */
#include "tproxyd.h"
#include "udp_nat.h"
#include "worker.h"
#include "test_chain.h"

#include <arpa/inet.h>
#include <check.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* A worker with just an event loop and its epoll set: what the table
 * needs. */
struct fixture {
    struct tp_worker    w;
    struct tp_udp_nat   nat;
    int                 closed;
    int                 readable;
    char                last_why[64];
};

static void
on_close(struct tp_udp_sess *s, const char *why)
{
    struct fixture *f = s->nat->arg;

    f->closed++;
    snprintf(f->last_why, sizeof(f->last_why), "%s", why);
}

static void
on_readable(struct tp_udp_sess *s)
{
    struct fixture *f = s->nat->arg;
    char            b[16];

    f->readable++;
    while (recv(s->pf.fd, b, sizeof(b), MSG_DONTWAIT) > 0) {
    }
}

static void
fx_init(struct fixture *f, bool symmetric, size_t max, uint64_t ttl_ms)
{
    memset(f, 0, sizeof(*f));
    f->w.base = event_base_new();
    ck_assert_ptr_nonnull(f->w.base);
    ck_assert_int_eq(tp_poller_init(&f->w.poller, f->w.base), 0);
    ck_assert_int_eq(tp_udp_nat_init(&f->nat, &f->w, symmetric, ttl_ms, max,
                                     2048), 0);
    f->nat.arg = f;
    f->nat.on_close = on_close;
    f->nat.on_readable = on_readable;
}

static void
fx_free(struct fixture *f)
{
    tp_udp_nat_free(&f->nat);
    tp_poller_free(&f->w.poller);
    event_base_free(f->w.base);
}

static struct tp_udp_sess *
add(struct fixture *f, const union tp_sa *c, const union tp_sa *d)
{
    struct tp_udp_sess *s = tp_udp_nat_add(&f->nat, &c->sa, &d->sa, -1);

    ck_assert_ptr_nonnull(s);
    return s;
}

START_TEST(fullcone_key_is_client)
{
    struct fixture      f;
    union tp_sa         a = tpt_sa("10.0.0.2", 5000),
                        b = tpt_sa("10.0.0.2", 5001);
    union tp_sa         x = tpt_sa("192.0.2.1", 53),
                        y = tpt_sa("192.0.2.9", 443);
    struct tp_udp_sess *s;

    fx_init(&f, false, 100, 30000);
    s = add(&f, &a, &x);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &a.sa, &x.sa), s);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &a.sa, &y.sa), s);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &a.sa, NULL), s);
    ck_assert_ptr_null(tp_udp_nat_lookup(&f.nat, &b.sa, &x.sa));
    ck_assert(tp_sockaddr_equal(&s->odst.sa, &x.sa));
    ck_assert_uint_eq(f.nat.count, 1);
    ck_assert_uint_eq(f.w.nsessions, 1);
    ck_assert_int_eq(s->pf.fd, -1);
    fx_free(&f);
    ck_assert_int_eq(f.closed, 1);
    ck_assert_str_eq(f.last_why, "shutdown");
    ck_assert_uint_eq(f.w.nsessions, 0);
}
END_TEST

START_TEST(symmetric_key_is_client_and_dst)
{
    struct fixture      f;
    union tp_sa         a = tpt_sa("10.0.0.2", 5000),
                        b = tpt_sa("10.0.0.3", 5000);
    union tp_sa         x = tpt_sa("192.0.2.1", 53),
                        y = tpt_sa("192.0.2.1", 54);
    struct tp_udp_sess *sx, *sy, *sb;

    fx_init(&f, true, 100, 30000);
    sx = add(&f, &a, &x);
    ck_assert_ptr_null(tp_udp_nat_lookup(&f.nat, &a.sa, &y.sa));
    sy = add(&f, &a, &y);
    sb = add(&f, &b, &x);
    ck_assert_ptr_ne(sx, sy);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &a.sa, &x.sa), sx);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &a.sa, &y.sa), sy);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &b.sa, &x.sa), sb);
    ck_assert_ptr_null(tp_udp_nat_lookup(&f.nat, &b.sa, &y.sa));
    tp_udp_nat_close(sy, "test");
    ck_assert_ptr_null(tp_udp_nat_lookup(&f.nat, &a.sa, &y.sa));
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &a.sa, &x.sa), sx);
    ck_assert_uint_eq(f.nat.count, 2);
    ck_assert_str_eq(f.last_why, "test");
    fx_free(&f);
}
END_TEST

START_TEST(ipv6_keys)
{
    struct fixture      f;
    union tp_sa         a = tpt_sa("fd77:1::2", 5000),
                        a2 = tpt_sa("fd77:1::3", 5000);
    union tp_sa         a3 = tpt_sa("fd77:1::2", 5001);
    union tp_sa         x = tpt_sa("fd77:2::2", 53),
                        y = tpt_sa("2001:db8::1", 53);
    union tp_sa         m = tpt_sa("10.0.0.2", 5000);
    struct tp_udp_sess *s1, *s2;

    fx_init(&f, true, 100, 30000);
    s1 = add(&f, &a, &x);
    s2 = add(&f, &a, &y);
    ck_assert_ptr_ne(s1, s2);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &a.sa, &x.sa), s1);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &a.sa, &y.sa), s2);
    ck_assert_ptr_null(tp_udp_nat_lookup(&f.nat, &a2.sa, &x.sa));
    ck_assert_ptr_null(tp_udp_nat_lookup(&f.nat, &a3.sa, &x.sa));
    ck_assert_ptr_null(tp_udp_nat_lookup(&f.nat, &m.sa, &x.sa));
    ck_assert_uint_eq(tp_sa_len(&s1->client), sizeof(struct sockaddr_in6));
    ck_assert(tp_sockaddr_equal(&s2->odst.sa, &y.sa));
    fx_free(&f);
}
END_TEST

START_TEST(lru_eviction_at_cap)
{
    struct fixture      f;
    union tp_sa         c[4], x = tpt_sa("192.0.2.1", 53);
    struct tp_udp_sess *s[4];

    fx_init(&f, false, 3, 30000);
    for (int i = 0; i < 4; i++) {
        c[i] = tpt_sa("10.0.0.2", (uint16_t) (6000 + i));
    }
    for (int i = 0; i < 3; i++) {
        s[i] = add(&f, &c[i], &x);
    }
    ck_assert_ptr_eq(f.nat.oldest, s[0]);
    tp_udp_nat_touch(s[0]);                 /* s[1] is now the coldest */
    ck_assert_ptr_eq(f.nat.newest, s[0]);
    ck_assert_ptr_eq(f.nat.oldest, s[1]);
    s[3] = add(&f, &c[3], &x);
    ck_assert_uint_eq(f.nat.count, 3);
    ck_assert_uint_eq(f.nat.evicted, 1);
    ck_assert_int_eq(f.closed, 1);
    ck_assert_str_eq(f.last_why, "evicted (session table full)");
    ck_assert_ptr_null(tp_udp_nat_lookup(&f.nat, &c[1].sa, NULL));
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &c[0].sa, NULL), s[0]);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &c[2].sa, NULL), s[2]);
    ck_assert_ptr_eq(tp_udp_nat_lookup(&f.nat, &c[3].sa, NULL), s[3]);
    ck_assert_ptr_eq(f.nat.oldest, s[2]);
    ck_assert_ptr_eq(f.nat.newest, s[3]);
    fx_free(&f);
}
END_TEST

START_TEST(ttl_sweep)
{
    struct fixture      f;
    union tp_sa         x = tpt_sa("192.0.2.1", 53), c;
    struct tp_udp_sess *s[3];

    fx_init(&f, false, 100, 1000);
    for (int i = 0; i < 3; i++) {
        c = tpt_sa("10.0.0.2", (uint16_t) (7000 + i));
        s[i] = add(&f, &c, &x);
    }
    /* LRU order s0, s1, s2; idle since 100, 200, 300 ms. */
    s[0]->last_ms = 100;
    s[1]->last_ms = 200;
    s[2]->last_ms = 300;
    ck_assert_uint_eq(tp_udp_nat_sweep(&f.nat, 1099), 0);
    ck_assert_uint_eq(tp_udp_nat_sweep(&f.nat, 1150), 1);
    ck_assert_str_eq(f.last_why, "ttl");
    ck_assert_ptr_eq(f.nat.oldest, s[1]);
    ck_assert_uint_eq(tp_udp_nat_sweep(&f.nat, 1300), 2);
    ck_assert_uint_eq(f.nat.count, 0);
    ck_assert_ptr_null(f.nat.oldest);
    ck_assert_ptr_null(f.nat.newest);
    ck_assert_uint_eq(f.w.nsessions, 0);
    /* A touched session is young again. */
    c = tpt_sa("10.0.0.2", 7100);
    s[0] = add(&f, &c, &x);
    s[0]->last_ms = 0;
    tp_udp_nat_touch(s[0]);
    ck_assert_uint_eq(tp_udp_nat_sweep(&f.nat, s[0]->last_ms + 999), 0);
    ck_assert_uint_eq(tp_udp_nat_sweep(&f.nat, s[0]->last_ms + 1000), 1);
    fx_free(&f);
    ck_assert_int_eq(f.closed, 4);
}
END_TEST

START_TEST(grow_keeps_every_session)
{
    struct fixture f;
    union tp_sa    x = tpt_sa("2001:db8::53", 53), c;
    char           ip[64];
    size_t         n = 5000;

    fx_init(&f, false, 100000, 30000);
    for (size_t i = 0; i < n; i++) {
        snprintf(ip, sizeof(ip), "fd00::%zx", i / 7);
        c = tpt_sa(ip, (uint16_t) (1000 + i % 7));
        add(&f, &c, &x);
    }
    ck_assert_uint_gt(f.nat.nbuckets, 1024);
    ck_assert_uint_eq(f.nat.count, n);
    for (size_t i = 0; i < n; i++) {
        struct tp_udp_sess *s;
        snprintf(ip, sizeof(ip), "fd00::%zx", i / 7);
        c = tpt_sa(ip, (uint16_t) (1000 + i % 7));
        s = tp_udp_nat_lookup(&f.nat, &c.sa, NULL);
        ck_assert_ptr_nonnull(s);
        ck_assert(tp_sockaddr_equal(&s->client.sa, &c.sa));
    }
    fx_free(&f);
    ck_assert_int_eq(f.closed, (int) n);
}
END_TEST

START_TEST(handler_bytes)
{
    struct fixture      f;
    union tp_sa         x = tpt_sa("192.0.2.1", 53), a = tpt_sa("10.0.0.2", 1);
    union tp_sa         b = tpt_sa("10.0.0.2", 2);
    struct tp_udp_sess *s1, *s2;
    uint8_t            *h;

    fx_init(&f, false, 10, 30000);
    s1 = add(&f, &a, &x);
    ck_assert_ptr_null(tp_udp_sess_hdata(s1));
    tp_udp_nat_close(s1, "test");
    f.nat.hsize = 40;
    s1 = add(&f, &a, &x);
    s2 = add(&f, &b, &x);
    ck_assert_ptr_nonnull(tp_udp_sess_hdata(s1));
    ck_assert_ptr_ne(tp_udp_sess_hdata(s1), tp_udp_sess_hdata(s2));
    ck_assert_uint_eq((uintptr_t) tp_udp_sess_hdata(s1) % 16, 0);
    h = tp_udp_sess_hdata(s1);
    for (int i = 0; i < 40; i++) {
        ck_assert_uint_eq(h[i], 0);
    }
    memset(tp_udp_sess_hdata(s1), 0xab, 40);            /* must not touch s2 */
    ck_assert(tp_sockaddr_equal(&s2->client.sa, &b.sa));
    fx_free(&f);
}
END_TEST

START_TEST(upstream_fd_watched_and_closed)
{
    struct fixture      f;
    union tp_sa         x = tpt_sa("192.0.2.1", 53), a = tpt_sa("10.0.0.2", 1);
    struct tp_udp_sess *s;
    int                 sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv),
                     0);
    fx_init(&f, false, 10, 30000);
    s = add(&f, &a, &x);
    tp_udp_nat_set_fd(s, sv[0]);
    ck_assert_int_eq(s->pf.fd, sv[0]);
    ck_assert_int_eq(send(sv[1], "x", 1, 0), 1);
    event_base_loop(f.w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert_int_eq(f.readable, 1);
    tp_udp_nat_close(s, "test");
    ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
    /* An fd given at add time is taken the same way. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK, 0, sv),
                     0);
    s = tp_udp_nat_add(&f.nat, &a.sa, &x.sa, sv[0]);
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(send(sv[1], "y", 1, 0), 1);
    event_base_loop(f.w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    ck_assert_int_eq(f.readable, 2);
    fx_free(&f);
    ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
    close(sv[1]);
}
END_TEST

START_TEST(address_hash)
{
    union tp_sa a = tpt_sa("10.0.0.2", 5000), b = tpt_sa("10.0.0.2", 5001);
    union tp_sa c = tpt_sa("10.0.0.3", 5000), d = tpt_sa("fd77:1::2", 5000);
    union tp_sa a2 = tpt_sa("10.0.0.2", 5000);

    a2.in.sin_zero[0] = 0x55;               /* padding is not the key */
    ck_assert_uint_eq(tp_sa_hash(7, &a.sa), tp_sa_hash(7, &a2.sa));
    ck_assert_uint_ne(tp_sa_hash(7, &a.sa), tp_sa_hash(7, &b.sa));
    ck_assert_uint_ne(tp_sa_hash(7, &a.sa), tp_sa_hash(7, &c.sa));
    ck_assert_uint_ne(tp_sa_hash(7, &a.sa), tp_sa_hash(7, &d.sa));
    ck_assert_uint_ne(tp_sa_hash(7, &a.sa), tp_sa_hash(8, &a.sa));
    ck_assert_uint_eq(tp_sa_hash(7, NULL), 7);
}
END_TEST

Suite *
suite_udp_nat(void)
{
    Suite *s = suite_create("udp_nat");
    TCase *tc = tcase_create("table");

    tcase_add_test(tc, fullcone_key_is_client);
    tcase_add_test(tc, symmetric_key_is_client_and_dst);
    tcase_add_test(tc, ipv6_keys);
    tcase_add_test(tc, lru_eviction_at_cap);
    tcase_add_test(tc, ttl_sweep);
    tcase_add_test(tc, grow_keeps_every_session);
    tcase_add_test(tc, handler_bytes);
    tcase_add_test(tc, upstream_fd_watched_and_closed);
    tcase_add_test(tc, address_hash);
    suite_add_tcase(s, tc);
    return s;
}
