/*
 * test_util.c - durations, sizes, host:port and sockaddr helpers.
 */
#include "tproxyd.h"
#include "util.h"

#include <arpa/inet.h>
#include <check.h>

START_TEST(duration_ok)
{
    uint64_t ms;

    ck_assert_int_eq(tp_parse_duration("5s", &ms), 0);
    ck_assert_uint_eq(ms, 5000);
    ck_assert_int_eq(tp_parse_duration("300ms", &ms), 0);
    ck_assert_uint_eq(ms, 300);
    ck_assert_int_eq(tp_parse_duration("1m30s", &ms), 0);
    ck_assert_uint_eq(ms, 90000);
    ck_assert_int_eq(tp_parse_duration("2h", &ms), 0);
    ck_assert_uint_eq(ms, 7200000);
    ck_assert_int_eq(tp_parse_duration("7", &ms), 0);
    ck_assert_uint_eq(ms, 7000);
    ck_assert_int_eq(tp_parse_duration("0s", &ms), 0);
    ck_assert_uint_eq(ms, 0);
}
END_TEST

START_TEST(duration_bad)
{
    uint64_t    ms;
    const char *bad[] = { "", "s", "5x", "-1s", "5 s", "1.5s", "5s3",
                          "99999999999s", "ms" };

    for (size_t i = 0; i < nitems(bad); i++) {
        ck_assert_msg(tp_parse_duration(bad[i], &ms) != 0, "%s", bad[i]);
    }
}
END_TEST

START_TEST(size_parse)
{
    uint64_t b;

    ck_assert_int_eq(tp_parse_size("4096", &b), 0);
    ck_assert_uint_eq(b, 4096);
    ck_assert_int_eq(tp_parse_size("64k", &b), 0);
    ck_assert_uint_eq(b, 65536);
    ck_assert_int_eq(tp_parse_size("1M", &b), 0);
    ck_assert_uint_eq(b, 1048576);
    ck_assert_int_eq(tp_parse_size("2kb", &b), 0);
    ck_assert_uint_eq(b, 2048);
    ck_assert_int_ne(tp_parse_size("x", &b), 0);
    ck_assert_int_ne(tp_parse_size("1q", &b), 0);
    ck_assert_int_ne(tp_parse_size("", &b), 0);
}
END_TEST

START_TEST(hostport_forms)
{
    struct tp_hostport hp;
    const char        *why;

    ck_assert_int_eq(tp_parse_hostport(":12345", &hp, true, &why), 0);
    ck_assert_str_eq(hp.host, "");
    ck_assert_uint_eq(hp.port, 12345);
    ck_assert_int_eq(tp_parse_hostport("10.0.0.1:80", &hp, true, &why), 0);
    ck_assert_str_eq(hp.host, "10.0.0.1");
    ck_assert_int_eq(tp_parse_hostport("[::1]:443", &hp, true, &why), 0);
    ck_assert_str_eq(hp.host, "::1");
    ck_assert(hp.bracketed);
    ck_assert_int_eq(tp_parse_hostport("example.com:8080", &hp, true, &why),
                     0);
    ck_assert_str_eq(hp.host, "example.com");
    ck_assert_uint_eq(hp.port, 8080);
}
END_TEST

START_TEST(hostport_bad)
{
    struct tp_hostport hp;
    const char        *why = NULL;
    const char        *bad[] = { "host", "::1:80", "[::1", "[::1]80",
                                 "host:70000", "host:", "[nothost]:1",
                                 "h:8x" };

    for (size_t i = 0; i < nitems(bad); i++) {
        ck_assert_msg(tp_parse_hostport(bad[i], &hp, true, &why) != 0, "%s",
                      bad[i]);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

START_TEST(sockaddr_format_and_unmap)
{
    struct sockaddr_storage ss;
    socklen_t               len;
    char                    buf[TP_SOCKADDR_STRLEN];

    ck_assert_int_eq(tp_ip_literal("::ffff:10.1.2.3", 53, &ss, &len), 0);
    ck_assert_str_eq(tp_sockaddr_str((struct sockaddr *) &ss, buf,
                                     sizeof(buf)), "10.1.2.3:53");
    tp_sockaddr_unmap(&ss, &len);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(tp_ip_literal("fd00::1", 80, &ss, &len), 0);
    ck_assert_str_eq(tp_sockaddr_str((struct sockaddr *) &ss, buf,
                                     sizeof(buf)), "[fd00::1]:80");
    ck_assert_int_ne(tp_ip_literal("example.com", 80, &ss, &len), 0);
}
END_TEST

START_TEST(target_from_name)
{
    struct tp_target t;
    char             buf[300];

    tp_target_from_name(&t, "1.2.3.4", 443);
    ck_assert_str_eq(t.host, "");
    ck_assert_str_eq(tp_target_str(&t, buf, sizeof(buf)), "1.2.3.4:443");
    tp_target_from_name(&t, "example.com", 443);
    ck_assert_str_eq(t.host, "example.com");
    ck_assert_str_eq(tp_target_str(&t, buf, sizeof(buf)), "example.com:443");
}
END_TEST

START_TEST(duration_print)
{
    char buf[32];

    ck_assert_str_eq(tp_duration_str(30000, buf, sizeof(buf)), "30s");
    ck_assert_str_eq(tp_duration_str(300000, buf, sizeof(buf)), "5m");
    ck_assert_str_eq(tp_duration_str(7200000, buf, sizeof(buf)), "2h");
    ck_assert_str_eq(tp_duration_str(1500, buf, sizeof(buf)), "1500ms");
    ck_assert_str_eq(tp_duration_str(0, buf, sizeof(buf)), "0s");
}
END_TEST

Suite *
suite_util(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("parse");

    tcase_add_test(tc, duration_ok);
    tcase_add_test(tc, duration_bad);
    tcase_add_test(tc, size_parse);
    tcase_add_test(tc, hostport_forms);
    tcase_add_test(tc, hostport_bad);
    tcase_add_test(tc, sockaddr_format_and_unmap);
    tcase_add_test(tc, target_from_name);
    tcase_add_test(tc, duration_print);
    suite_add_tcase(s, tc);
    return s;
}
