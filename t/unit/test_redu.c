/*
 * test_redu.c - the pure helpers of module "redu": the per-kind warning
 * rate limiter (one line per interval, counting what it swallowed).
 */
#include "tproxyd.h"
#include "redu.h"

#include <check.h>

START_TEST(rl_first_event_logs)
{
    struct redu_rl rl = { 0, 0 };
    uint64_t       more = 99;

    ck_assert(redu_rl_allow(&rl, 5000, 1000, &more));
    ck_assert_uint_eq(more, 0);
    ck_assert_uint_eq(rl.next_ms, 6000);
}
END_TEST

START_TEST(rl_counts_swallowed)
{
    struct redu_rl rl = { 0, 0 };
    uint64_t       more = 0;

    ck_assert(redu_rl_allow(&rl, 1000, 1000, &more));
    for (int i = 0; i < 250; i++) {
        ck_assert(!redu_rl_allow(&rl, 1000 + (uint64_t) i, 1000, &more));
    }
    ck_assert(!redu_rl_allow(&rl, 1999, 1000, &more));
    ck_assert_uint_eq(rl.suppressed, 251);
    ck_assert(redu_rl_allow(&rl, 2000, 1000, &more));
    ck_assert_uint_eq(more, 251);
    ck_assert_uint_eq(rl.suppressed, 0);
    /* Quiet for a long time: the next one logs with nothing swallowed. */
    ck_assert(redu_rl_allow(&rl, 60000, 1000, &more));
    ck_assert_uint_eq(more, 0);
}
END_TEST

START_TEST(rl_kinds_are_independent)
{
    struct redu_rl a = { 0, 0 }, b = { 0, 0 };
    uint64_t       more;

    ck_assert(redu_rl_allow(&a, 100, 1000, &more));
    ck_assert(!redu_rl_allow(&a, 200, 1000, &more));
    ck_assert(redu_rl_allow(&b, 200, 1000, &more));
    ck_assert_uint_eq(more, 0);
}
END_TEST

Suite *
suite_redu(void)
{
    Suite *s = suite_create("redu");
    TCase *tc = tcase_create("ratelimit");

    tcase_add_test(tc, rl_first_event_logs);
    tcase_add_test(tc, rl_counts_swallowed);
    tcase_add_test(tc, rl_kinds_are_independent);
    suite_add_tcase(s, tc);
    return s;
}
