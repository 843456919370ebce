/*
 * test_route.c - bypass matchers: CIDR v4/v6, exact, .suffix, *.wildcard,
 * whitelist inversion, and the config checks that name file:line.
 */
#include "tproxyd.h"
#include "conf.h"
#include "dial.h"
#include "route.h"
#include "util.h"

#include <check.h>
#include <stdlib.h>

static struct tp_bypass *
make(bool whitelist, const char *const *m, size_t n)
{
    struct tp_bypass *b = calloc(1, sizeof(*b));

    b->whitelist = whitelist;
    b->matchers = (char **) m;
    b->nmatchers = n;
    ck_assert_int_eq(tp_bypass_compile(b), 0);
    return b;
}

static void
drop(struct tp_bypass *b)
{
    tp_bypass_free_compiled(b);
    free(b);
}

static bool
match_ip(const struct tp_bypass *b, const char *ip)
{
    struct sockaddr_storage ss;
    socklen_t               len;

    ck_assert_int_eq(tp_ip_literal(ip, 80, &ss, &len), 0);
    return tp_bypass_match(b, "", (struct sockaddr *) &ss);
}

START_TEST(cidrs)
{
    const char *const m[] = { "10.0.0.0/8", "192.168.1.7", "fd00::/8",
                              "172.16.0.0/12" };
    struct tp_bypass *b = make(false, m, nitems(m));

    ck_assert(match_ip(b, "10.1.2.3"));
    ck_assert(!match_ip(b, "11.0.0.1"));
    ck_assert(match_ip(b, "192.168.1.7"));
    ck_assert(!match_ip(b, "192.168.1.8"));
    ck_assert(match_ip(b, "fd12::1"));
    ck_assert(!match_ip(b, "fe80::1"));
    ck_assert(match_ip(b, "172.31.255.255"));
    ck_assert(!match_ip(b, "172.32.0.0"));
    drop(b);
}
END_TEST

START_TEST(domains)
{
    const char *const m[] = { "exact.test", ".suffix.test", "*.wild.test" };
    struct tp_bypass *b = make(false, m, nitems(m));

    ck_assert(tp_bypass_match(b, "exact.test", NULL));
    ck_assert(tp_bypass_match(b, "EXACT.test.", NULL));
    ck_assert(!tp_bypass_match(b, "a.exact.test", NULL));
    ck_assert(tp_bypass_match(b, "suffix.test", NULL));
    ck_assert(tp_bypass_match(b, "a.b.suffix.test", NULL));
    ck_assert(!tp_bypass_match(b, "notsuffix.test", NULL));
    ck_assert(!tp_bypass_match(b, "wild.test", NULL));
    ck_assert(tp_bypass_match(b, "x.wild.test", NULL));
    ck_assert(!tp_bypass_match(b, "", NULL));
    drop(b);
}
END_TEST

START_TEST(whitelist)
{
    const char *const m[] = { ".allowed.test" };
    struct tp_bypass *b = make(true, m, nitems(m));

    ck_assert(!tp_bypass_match(b, "www.allowed.test", NULL));
    ck_assert(tp_bypass_match(b, "other.test", NULL));
    drop(b);
}
END_TEST

START_TEST(matcher_syntax)
{
    const char *why;
    const char *good[] = { "10.0.0.0/8", "::1", "a-b.example", ".x.y", "*.z",
                           "1.2.3.4" };
    const char *bad[] = { "10.0.0.0/33", "300.1.1.1", "fd00::/129", "a b",
                          "*.", ".", "x/y", "" };

    for (size_t i = 0; i < nitems(good); i++) {
        ck_assert_msg(tp_bypass_check_matcher(good[i], &why) == 0, "%s",
                      good[i]);
    }
    for (size_t i = 0; i < nitems(bad); i++) {
        ck_assert_msg(tp_bypass_check_matcher(bad[i], &why) != 0, "%s",
                      bad[i]);
    }
}
END_TEST

/* GOST's hop bypass: the chain is cut before the first matching hop. */
START_TEST(hop_bypass_cut)
{
    const char *const lan[] = { "10.0.0.0/8" };
    const char *const names[] = { ".inner.test" };
    struct tp_bypass *b0 = make(false, lan, nitems(lan));
    struct tp_bypass *b2 = make(false, names, nitems(names));
    struct tp_hop     hops[3];
    struct tp_chain   ch = { .name = "c", .hops = hops, .nhops = 3 };
    struct tp_target  t;

    memset(hops, 0, sizeof(hops));
    hops[0].bypass = b0;
    hops[2].bypass = b2;
    tp_target_from_name(&t, "10.1.2.3", 80);
    ck_assert_uint_eq(tp_chain_hops(&ch, &t), 0);     /* direct */
    tp_target_from_name(&t, "192.0.2.1", 80);
    ck_assert_uint_eq(tp_chain_hops(&ch, &t), 3);     /* whole chain */
    tp_target_from_name(&t, "a.inner.test", 443);
    ck_assert_uint_eq(tp_chain_hops(&ch, &t), 2);     /* hops 0 and 1 */
    ck_assert_uint_eq(tp_chain_hops(NULL, &t), 0);
    drop(b0);
    drop(b2);
}
END_TEST

Suite *
suite_route(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("bypass");

    tcase_add_test(tc, cidrs);
    tcase_add_test(tc, domains);
    tcase_add_test(tc, whitelist);
    tcase_add_test(tc, matcher_syntax);
    tcase_add_test(tc, hop_bypass_cut);
    suite_add_tcase(s, tc);
    return s;
}
