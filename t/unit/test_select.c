/*
 * test_select.c - node selection (src/select.c): round, random and fifo
 * order, nodes marked down after max_fails failures and back after
 * fail_timeout, max_fails 0, "all down" picking the one back soonest,
 * a success resetting the count, and the per-dial skip list.
 */
#include "tproxyd.h"
#include "select.h"

#include <check.h>
#include <stdlib.h>

static struct tp_selector
sel(int strategy, int64_t max_fails, uint64_t fail_timeout_ms)
{
    struct tp_selector s = { strategy, max_fails, fail_timeout_ms };

    return s;
}

START_TEST(round_cycles)
{
    struct tp_node     n[3];
    struct tp_selector s = sel(TP_SEL_ROUND, 1, 1000);
    size_t             rr = 0;

    memset(n, 0, sizeof(n));
    for (int i = 0; i < 6; i++) {
        ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 0), &n[i % 3]);
    }
}
END_TEST

START_TEST(round_skips_down)
{
    struct tp_node     n[3];
    struct tp_selector s = sel(TP_SEL_ROUND, 1, 1000);
    size_t             rr = 0;

    memset(n, 0, sizeof(n));
    tp_select_failed(&s, &n[1], 100);
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 200), &n[0]);
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 200), &n[2]);
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 200), &n[2]);
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 200), &n[0]);
    /* back after fail_timeout */
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 1100), &n[1]);
}
END_TEST

START_TEST(fifo_first_healthy)
{
    struct tp_node     n[3];
    struct tp_selector s = sel(TP_SEL_FIFO, 2, 1000);
    size_t             rr = 0;

    memset(n, 0, sizeof(n));
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 0), &n[0]);
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 0), &n[0]);
    tp_select_failed(&s, &n[0], 10);        /* 1 of 2: still up */
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 20), &n[0]);
    tp_select_failed(&s, &n[0], 30);        /* 2 of 2: down */
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 40), &n[1]);
    tp_select_failed(&s, &n[1], 40);
    tp_select_failed(&s, &n[1], 40);
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 50), &n[2]);
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 1030), &n[0]);
}
END_TEST

START_TEST(random_spreads_and_skips)
{
    struct tp_node     n[4];
    struct tp_selector s = sel(TP_SEL_RANDOM, 1, 1000);
    size_t             rr = 0;
    int                hits[4] = { 0 };

    memset(n, 0, sizeof(n));
    srandom(7);
    tp_select_failed(&s, &n[2], 0);
    for (int i = 0; i < 400; i++) {
        struct tp_node *p = tp_select_node(&s, n, 4, &rr, 10);
        hits[p - n]++;
    }
    ck_assert_int_eq(hits[2], 0);
    ck_assert_int_gt(hits[0], 50);
    ck_assert_int_gt(hits[1], 50);
    ck_assert_int_gt(hits[3], 50);
}
END_TEST

START_TEST(all_down_soonest_back)
{
    struct tp_node     n[3];
    struct tp_selector s = sel(TP_SEL_FIFO, 1, 1000);
    size_t             rr = 0;

    memset(n, 0, sizeof(n));
    tp_select_failed(&s, &n[0], 300);
    tp_select_failed(&s, &n[1], 100);
    tp_select_failed(&s, &n[2], 200);
    ck_assert_ptr_eq(tp_select_node(&s, n, 3, &rr, 400), &n[1]);
}
END_TEST

/* GOST's fail marker: failures count until a success; past max_fails a
 * node comes back after fail_timeout, and one more failure takes it down
 * again at once. */
START_TEST(fails_accumulate_until_success)
{
    struct tp_node     n;
    struct tp_selector s = sel(TP_SEL_ROUND, 3, 1000);

    memset(&n, 0, sizeof(n));
    tp_select_failed(&s, &n, 0);
    tp_select_failed(&s, &n, 0);
    ck_assert(!tp_select_is_down(&n, 1));
    tp_select_failed(&s, &n, 10);
    ck_assert(tp_select_is_down(&n, 500));
    ck_assert(!tp_select_is_down(&n, 1010));
    tp_select_failed(&s, &n, 2000);
    ck_assert(tp_select_is_down(&n, 2500));
    tp_select_ok(&n);
    ck_assert(!tp_select_is_down(&n, 2500));
    ck_assert_int_eq(n.fails, 0);
    tp_select_failed(&s, &n, 3000);
    ck_assert(!tp_select_is_down(&n, 3001));
}
END_TEST

START_TEST(max_fails_zero_never_down)
{
    struct tp_node     n;
    struct tp_selector s = sel(TP_SEL_ROUND, 0, 1000);

    memset(&n, 0, sizeof(n));
    for (int i = 0; i < 10; i++) {
        tp_select_failed(&s, &n, 0);
    }
    ck_assert(!tp_select_is_down(&n, 1));
}
END_TEST

START_TEST(skip_list)
{
    struct tp_node        n[3];
    struct tp_selector    s = sel(TP_SEL_FIFO, 0, 1000);
    const struct tp_node *skip[2] = { &n[0], &n[2] };
    size_t                rr = 0;

    memset(n, 0, sizeof(n));
    ck_assert_ptr_eq(tp_select_node_skip(&s, n, 3, &rr, 0, skip, 1), &n[1]);
    ck_assert_ptr_eq(tp_select_node_skip(&s, n, 3, &rr, 0, skip, 2), &n[1]);
    skip[1] = &n[1];
    ck_assert_ptr_null(tp_select_node_skip(&s, n, 2, &rr, 0, skip, 2));
    ck_assert_ptr_null(tp_select_node(&s, n, 0, &rr, 0));
}
END_TEST

Suite *
suite_select(void)
{
    Suite *s = suite_create("select");
    TCase *tc = tcase_create("select");

    tcase_add_test(tc, round_cycles);
    tcase_add_test(tc, round_skips_down);
    tcase_add_test(tc, fifo_first_healthy);
    tcase_add_test(tc, random_spreads_and_skips);
    tcase_add_test(tc, all_down_soonest_back);
    tcase_add_test(tc, fails_accumulate_until_success);
    tcase_add_test(tc, max_fails_zero_never_down);
    tcase_add_test(tc, skip_list);
    suite_add_tcase(s, tc);
    return s;
}
