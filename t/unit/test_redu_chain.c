/*
 * test_redu_chain.c - the pure parts of UDP through a chain in module
 * "redu" (modules/redu.h): the queue of a session whose association is
 * opening (bounds 8 datagrams / 16 KiB, order, destinations), the source
 * a reply that came through a tunnel is written back from (unknown
 * sources, names, v4-mapped addresses, symmetric filtering, the sniffed
 * name's mapping back), and the retry limit per client.
 */
#include "tproxyd.h"
#include "redu.h"
#include "test_chain.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

static bool
same(const union tp_sa *a, const union tp_sa *b)
{
    return tp_sockaddr_equal(&a->sa, &b->sa);
}

/* ------------------------------------------------------------ queue */

START_TEST(queue_bounds_datagrams)
{
    struct redu_queue q;
    union tp_sa       d = tpt_sa("192.0.2.1", 53);
    uint8_t           b[10] = { 0 };

    memset(&q, 0, sizeof(q));
    for (int i = 0; i < REDU_QUEUE_DGRAMS; i++) {
        b[0] = (uint8_t) i;
        ck_assert_int_eq(redu_queue_push(&q, &d.sa, b, sizeof(b)), 0);
    }
    ck_assert_uint_eq(q.n, 8);
    ck_assert_uint_eq(q.bytes, 80);
    errno = 0;
    ck_assert_int_eq(redu_queue_push(&q, &d.sa, b, 1), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert_uint_eq(q.n, 8);
    ck_assert_uint_eq(q.bytes, 80);
    /* one out, one in again */
    free(redu_queue_pop(&q));
    ck_assert_int_eq(redu_queue_push(&q, &d.sa, b, 1), 0);
    ck_assert_uint_eq(redu_queue_clear(&q), 8);
    ck_assert_uint_eq(q.n, 0);
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_ptr_null(q.head);
    ck_assert_ptr_null(q.tail);
}
END_TEST

START_TEST(queue_bounds_bytes)
{
    struct redu_queue q;
    union tp_sa       d = tpt_sa("2001:db8::1", 443);
    uint8_t          *big = calloc(1, REDU_QUEUE_BYTES + 1);

    memset(&q, 0, sizeof(q));
    ck_assert_int_eq(redu_queue_push(&q, &d.sa, big, REDU_QUEUE_BYTES + 1),
                     -1);
    ck_assert_int_eq(errno, ENOBUFS);
    ck_assert_uint_eq(q.n, 0);
    ck_assert_int_eq(redu_queue_push(&q, &d.sa, big, 10000), 0);
    ck_assert_int_eq(redu_queue_push(&q, &d.sa, big, 6384), 0);
    ck_assert_uint_eq(q.bytes, REDU_QUEUE_BYTES);
    ck_assert_int_eq(redu_queue_push(&q, &d.sa, big, 1), -1);
    ck_assert_int_eq(errno, ENOBUFS);
    /* an empty datagram still counts against the datagram bound only */
    ck_assert_int_eq(redu_queue_push(&q, &d.sa, big, 0), 0);
    ck_assert_uint_eq(q.n, 3);
    ck_assert_uint_eq(redu_queue_clear(&q), 3);
    free(big);
}
END_TEST

START_TEST(queue_order_and_destinations)
{
    struct redu_queue q;
    union tp_sa       d[3] = { tpt_sa("192.0.2.1", 53),
                               tpt_sa("192.0.2.2", 3478),
                               tpt_sa("192.0.2.1", 53) };
    struct redu_qd   *x;
    char              msg[32];

    memset(&q, 0, sizeof(q));
    for (int i = 0; i < 3; i++) {
        int n = snprintf(msg, sizeof(msg), "dgram-%d", i);
        ck_assert_int_eq(redu_queue_push(&q, &d[i].sa, (uint8_t *) msg,
                                         (size_t) n), 0);
    }
    for (int i = 0; i < 3; i++) {
        x = redu_queue_pop(&q);
        ck_assert_ptr_nonnull(x);
        snprintf(msg, sizeof(msg), "dgram-%d", i);
        ck_assert_uint_eq(x->len, strlen(msg));
        ck_assert(memcmp(x->data, msg, x->len) == 0);
        ck_assert(same(&x->dst, &d[i]));
        free(x);
    }
    ck_assert_ptr_null(redu_queue_pop(&q));
    ck_assert_uint_eq(q.bytes, 0);
    ck_assert_uint_eq(redu_queue_clear(&q), 0);
}
END_TEST

/* ------------------------------------------------ reply source */

START_TEST(reply_src_real_address)
{
    union tp_sa dst = tpt_sa("192.0.2.53", 53),
                src = tpt_sa("192.0.2.99", 3479);
    union tp_sa out;

    /* full-cone: any remote, as it is (STUN from another port) */
    ck_assert_int_eq(redu_tunnel_reply_src(&src.sa, &dst, false, &out), 0);
    ck_assert(same(&out, &src));
    ck_assert_int_eq(redu_tunnel_reply_src(&dst.sa, &dst, false, &out), 0);
    ck_assert(same(&out, &dst));
    /* symmetric: the destination only */
    ck_assert_int_eq(redu_tunnel_reply_src(&dst.sa, &dst, true, &out), 0);
    ck_assert(same(&out, &dst));
    ck_assert_int_eq(redu_tunnel_reply_src(&src.sa, &dst, true, &out), -1);
    src = tpt_sa("192.0.2.53", 54);     /* same host, other port */
    ck_assert_int_eq(redu_tunnel_reply_src(&src.sa, &dst, true, &out), -1);
}
END_TEST

START_TEST(reply_src_unknown_is_destination)
{
    union tp_sa dst = tpt_sa("192.0.2.53", 53), out;
    union tp_sa none, any4 = tpt_sa("0.0.0.0", 53),
                port0 = tpt_sa("192.0.2.7", 0);
    union tp_sa v6 = tpt_sa("2001:db8::7", 53), any6 = tpt_sa("::", 53);

    memset(&none, 0, sizeof(none));     /* AF_UNSPEC: a name, say */
    for (int sym = 0; sym < 2; sym++) {
        ck_assert_int_eq(redu_tunnel_reply_src(NULL, &dst, sym, &out), 0);
        ck_assert(same(&out, &dst));
        ck_assert_int_eq(redu_tunnel_reply_src(&none.sa, &dst, sym, &out), 0);
        ck_assert(same(&out, &dst));
        ck_assert_int_eq(redu_tunnel_reply_src(&any4.sa, &dst, sym, &out), 0);
        ck_assert(same(&out, &dst));
        ck_assert_int_eq(redu_tunnel_reply_src(&port0.sa, &dst, sym, &out),
                         0);
        ck_assert(same(&out, &dst));
        /* another family cannot be written back to this client */
        ck_assert_int_eq(redu_tunnel_reply_src(&v6.sa, &dst, sym, &out), 0);
        ck_assert(same(&out, &dst));
    }
    dst = tpt_sa("2001:db8::53", 53);
    ck_assert_int_eq(redu_tunnel_reply_src(&any6.sa, &dst, false, &out), 0);
    ck_assert(same(&out, &dst));
    ck_assert_int_eq(redu_tunnel_reply_src(&v6.sa, &dst, false, &out), 0);
    ck_assert(same(&out, &v6));
}
END_TEST

START_TEST(reply_src_v4_mapped)
{
    union tp_sa dst = tpt_sa("192.0.2.53", 53), out;
    union tp_sa mapped = tpt_sa("::ffff:192.0.2.53", 53);
    union tp_sa other = tpt_sa("::ffff:192.0.2.54", 53);
    union tp_sa want = tpt_sa("192.0.2.54", 53);

    ck_assert_int_eq(redu_tunnel_reply_src(&mapped.sa, &dst, true, &out), 0);
    ck_assert_int_eq(out.sa.sa_family, AF_INET);
    ck_assert(same(&out, &dst));
    ck_assert_int_eq(redu_tunnel_reply_src(&other.sa, &dst, false, &out), 0);
    ck_assert(same(&out, &want));
    ck_assert_int_eq(redu_tunnel_reply_src(&other.sa, &dst, true, &out), -1);
}
END_TEST

/* A sniffed name resolved to `to`: the tunnel's replies from `to` (or from
 * nowhere known) are written back from the original destination. */
START_TEST(reply_src_with_sniffed_name)
{
    union tp_sa        odst = tpt_sa("192.0.2.1", 443),
                       to = tpt_sa("198.51.100.9", 443);
    union tp_sa        other = tpt_sa("198.51.100.10", 443), out;
    struct redu_name  *nm = calloc(1, sizeof(*nm) + 16);

    nm->to = to;
    nm->rewrite = true;
    strcpy(nm->host, "quic.example");
    ck_assert_int_eq(redu_tunnel_reply_src(&to.sa, &to, true, &out), 0);
    ck_assert(same(redu_name_reply_src(nm, &odst, &out), &odst));
    ck_assert_int_eq(redu_tunnel_reply_src(NULL, &to, false, &out), 0);
    ck_assert(same(redu_name_reply_src(nm, &odst, &out), &odst));
    ck_assert_int_eq(redu_tunnel_reply_src(&other.sa, &to, false, &out), 0);
    ck_assert(same(redu_name_reply_src(nm, &odst, &out), &other));
    free(nm);
}
END_TEST

/* ------------------------------------------------------- backoff */

START_TEST(backoff_per_client)
{
    struct redu_backoff *b = calloc(1, sizeof(*b));
    union tp_sa          c1 = tpt_sa("10.0.0.1", 5000),
                         c2 = tpt_sa("10.0.0.2", 5000);
    uint32_t             h1 = 7, h2 = 8;

    ck_assert(!redu_backoff_blocked(b, h1, &c1.sa, NULL, 1000));
    redu_backoff_note(b, h1, &c1.sa, NULL, 1000 + REDU_RETRY_MS);
    ck_assert(redu_backoff_blocked(b, h1, &c1.sa, NULL, 1000));
    ck_assert(redu_backoff_blocked(b, h1, &c1.sa, NULL, 1999));
    ck_assert(!redu_backoff_blocked(b, h1, &c1.sa, NULL, 2000));
    ck_assert(!redu_backoff_blocked(b, h2, &c2.sa, NULL, 1500));
    /* same slot, other client: not blocked by someone else's failure */
    ck_assert(!redu_backoff_blocked(b, h1, &c2.sa, NULL, 1500));
    /* a collision forgets the older entry */
    redu_backoff_note(b, h1 + REDU_BACKOFF_SLOTS, &c2.sa, NULL, 3000);
    ck_assert(!redu_backoff_blocked(b, h1, &c1.sa, NULL, 1500));
    ck_assert(redu_backoff_blocked(b, h1, &c2.sa, NULL, 1500));
    free(b);
}
END_TEST

START_TEST(backoff_symmetric_key)
{
    struct redu_backoff *b = calloc(1, sizeof(*b));
    union tp_sa          c = tpt_sa("fd00::1", 5000);
    union tp_sa          d1 = tpt_sa("2001:db8::1", 53),
                         d2 = tpt_sa("2001:db8::2", 53);

    redu_backoff_note(b, 3, &c.sa, &d1.sa, 500);
    ck_assert(redu_backoff_blocked(b, 3, &c.sa, &d1.sa, 100));
    ck_assert(!redu_backoff_blocked(b, 3, &c.sa, &d2.sa, 100));
    ck_assert(!redu_backoff_blocked(b, 3, &c.sa, NULL, 100));
    redu_backoff_note(b, 4, &c.sa, NULL, 500);
    ck_assert(!redu_backoff_blocked(b, 4, &c.sa, &d1.sa, 100));
    ck_assert(redu_backoff_blocked(b, 4, &c.sa, NULL, 100));
    free(b);
}
END_TEST

Suite *
suite_redu_chain(void)
{
    Suite *s = suite_create("redu_chain");
    TCase *q = tcase_create("queue");
    TCase *r = tcase_create("reply_src");
    TCase *b = tcase_create("backoff");

    tcase_add_test(q, queue_bounds_datagrams);
    tcase_add_test(q, queue_bounds_bytes);
    tcase_add_test(q, queue_order_and_destinations);
    tcase_add_test(r, reply_src_real_address);
    tcase_add_test(r, reply_src_unknown_is_destination);
    tcase_add_test(r, reply_src_v4_mapped);
    tcase_add_test(r, reply_src_with_sniffed_name);
    tcase_add_test(b, backoff_per_client);
    tcase_add_test(b, backoff_symmetric_key);
    suite_add_tcase(s, q);
    suite_add_tcase(s, r);
    suite_add_tcase(s, b);
    return s;
}
