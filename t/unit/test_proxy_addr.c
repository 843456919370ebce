/*
 * test_proxy_addr.c - unit tests for modules/proxy_addr.c: sockaddr
 * conversion (v4-mapped -> AF_INET), host string classification, log
 * formatting, and the SOCKS-style ATYP|ADDR|PORT codec (vectors,
 * truncation, malformed input).
 */
#include "../../src/tproxyd.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>
#include <sys/un.h>

#include "../../modules/proxy_addr.h"


/* Decode from an exact-size heap copy so ASan sees any over-read. */
static int
decode_exact(const uint8_t *msg, size_t n, struct tp_proxy_addr *a)
{
    uint8_t  *copy;
    int       rc;

    copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, msg, n);
    rc = tp_proxy_addr_decode(copy, n, a);
    free(copy);
    return rc;
}


/* Every proper prefix is TP_AGAIN, the whole is consumed exactly. */
static void
check_prefixes(const uint8_t *msg, size_t n)
{
    struct tp_proxy_addr  a;
    uint8_t               ext[TP_PROXY_ADDR_WIRE_MAX + 4];
    size_t                i;

    for (i = 0; i < n; i++) {
        ck_assert_msg(decode_exact(msg, i, &a) == TP_AGAIN,
            "prefix %zu of %zu", i, n);
    }
    ck_assert_int_eq(decode_exact(msg, n, &a), (int) n);
    memcpy(ext, msg, n);
    memset(ext + n, 0xee, 4);
    ck_assert_int_eq(tp_proxy_addr_decode(ext, n + 4, &a), (int) n);
}


START_TEST(test_from_sockaddr)
{
    struct sockaddr_storage  ss;
    struct sockaddr_in      *sin = (struct sockaddr_in *) &ss;
    struct sockaddr_in6     *sin6 = (struct sockaddr_in6 *) &ss;
    struct tp_proxy_addr     a;
    static const uint8_t     v6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };

    memset(&ss, 0, sizeof(ss));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(8080);
    inet_pton(AF_INET, "10.1.2.3", &sin->sin_addr);
    ck_assert_int_eq(tp_proxy_addr_from_sockaddr(&ss, &a), TP_OK);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_mem_eq(a.ip, "\x0a\x01\x02\x03", 4);
    ck_assert_uint_eq(a.port, 8080);

    memset(&ss, 0, sizeof(ss));
    sin6->sin6_family = AF_INET6;
    sin6->sin6_port = htons(443);
    memcpy(&sin6->sin6_addr, v6, 16);
    ck_assert_int_eq(tp_proxy_addr_from_sockaddr(&ss, &a), TP_OK);
    ck_assert_int_eq(a.family, AF_INET6);
    ck_assert_mem_eq(a.ip, v6, 16);
    ck_assert_uint_eq(a.port, 443);

    inet_pton(AF_INET6, "::ffff:192.0.2.7", &sin6->sin6_addr);
    ck_assert_int_eq(tp_proxy_addr_from_sockaddr(&ss, &a), TP_OK);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_mem_eq(a.ip, "\xc0\x00\x02\x07", 4);
    ck_assert_uint_eq(a.port, 443);

    memset(&ss, 0, sizeof(ss));
    ss.ss_family = AF_UNIX;
    ck_assert_int_eq(tp_proxy_addr_from_sockaddr(&ss, &a), TP_ERROR);
}
END_TEST


START_TEST(test_to_sockaddr)
{
    struct sockaddr_storage  ss;
    struct sockaddr_in      *sin = (struct sockaddr_in *) &ss;
    struct sockaddr_in6     *sin6 = (struct sockaddr_in6 *) &ss;
    struct tp_proxy_addr     a, b;
    socklen_t                len;

    ck_assert_int_eq(tp_proxy_addr_from_hostport("192.0.2.1", 53, &a),
        TP_OK);
    ck_assert_int_eq(tp_proxy_addr_to_sockaddr(&a, &ss, &len), TP_OK);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
    ck_assert_uint_eq(ntohs(sin->sin_port), 53);
    ck_assert_int_eq(tp_proxy_addr_from_sockaddr(&ss, &b), TP_OK);
    ck_assert(tp_proxy_addr_equal(&a, &b));

    ck_assert_int_eq(tp_proxy_addr_from_hostport("2001:db8::5", 80, &a),
        TP_OK);
    ck_assert_int_eq(tp_proxy_addr_to_sockaddr(&a, &ss, &len), TP_OK);
    ck_assert_int_eq(ss.ss_family, AF_INET6);
    ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
    ck_assert_uint_eq(ntohs(sin6->sin6_port), 80);
    ck_assert_int_eq(tp_proxy_addr_from_sockaddr(&ss, &b), TP_OK);
    ck_assert(tp_proxy_addr_equal(&a, &b));

    /* A v4-mapped AF_INET6 (as a SOCKS5 IPv6 reply can carry) dials v4. */
    memset(&a, 0, sizeof(a));
    a.family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:198.51.100.9", a.ip);
    a.port = 7;
    ck_assert_int_eq(tp_proxy_addr_to_sockaddr(&a, &ss, &len), TP_OK);
    ck_assert_int_eq(ss.ss_family, AF_INET);
    ck_assert_mem_eq(&sin->sin_addr, "\xc6\x33\x64\x09", 4);
    ck_assert_uint_eq(ntohs(sin->sin_port), 7);

    ck_assert_int_eq(tp_proxy_addr_from_hostport("example.com", 80, &a),
        TP_OK);
    ck_assert_int_eq(tp_proxy_addr_to_sockaddr(&a, &ss, &len), TP_ERROR);
    a.family = 1234;
    ck_assert_int_eq(tp_proxy_addr_to_sockaddr(&a, &ss, &len), TP_ERROR);
}
END_TEST


START_TEST(test_from_hostport)
{
    struct tp_proxy_addr  a;
    char                  name[300];

    ck_assert_int_eq(tp_proxy_addr_from_hostport("1.2.3.4", 80, &a), TP_OK);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_mem_eq(a.ip, "\x01\x02\x03\x04", 4);
    ck_assert_uint_eq(a.port, 80);

    ck_assert_int_eq(tp_proxy_addr_from_hostport("::1", 1, &a), TP_OK);
    ck_assert_int_eq(a.family, AF_INET6);
    ck_assert_uint_eq(a.ip[15], 1);
    ck_assert_int_eq(tp_proxy_addr_from_hostport("[::1]", 1, &a), TP_OK);
    ck_assert_int_eq(a.family, AF_INET6);

    ck_assert_int_eq(tp_proxy_addr_from_hostport("::ffff:10.0.0.1", 9, &a),
        TP_OK);
    ck_assert_int_eq(a.family, AF_INET);
    ck_assert_mem_eq(a.ip, "\x0a\x00\x00\x01", 4);

    ck_assert_int_eq(tp_proxy_addr_from_hostport("example.com", 443, &a),
        TP_OK);
    ck_assert_int_eq(a.family, AF_UNSPEC);
    ck_assert_str_eq(a.host, "example.com");
    ck_assert_uint_eq(a.port, 443);

    /* Not IP literals: names. */
    ck_assert_int_eq(tp_proxy_addr_from_hostport("1.2.3", 1, &a), TP_OK);
    ck_assert_int_eq(a.family, AF_UNSPEC);
    ck_assert_int_eq(tp_proxy_addr_from_hostport("[::1", 1, &a), TP_OK);
    ck_assert_int_eq(a.family, AF_UNSPEC);

    memset(name, 'a', 255);
    name[255] = '\0';
    ck_assert_int_eq(tp_proxy_addr_from_hostport(name, 1, &a), TP_OK);
    ck_assert_uint_eq(strlen(a.host), 255);
    name[255] = 'a';
    name[256] = '\0';
    ck_assert_int_eq(tp_proxy_addr_from_hostport(name, 1, &a), TP_ERROR);
    ck_assert_int_eq(tp_proxy_addr_from_hostport("", 1, &a), TP_ERROR);
    ck_assert_int_eq(tp_proxy_addr_from_hostport(NULL, 1, &a), TP_ERROR);
}
END_TEST


START_TEST(test_str)
{
    struct tp_proxy_addr  a;
    char                  buf[TP_PROXY_ADDR_STRLEN];
    char                  small[6];
    char                  name[256];

    tp_proxy_addr_from_hostport("1.2.3.4", 80, &a);
    ck_assert_str_eq(tp_proxy_addr_str(&a, buf, sizeof(buf)), "1.2.3.4:80");
    tp_proxy_addr_from_hostport("::1", 80, &a);
    ck_assert_str_eq(tp_proxy_addr_str(&a, buf, sizeof(buf)), "[::1]:80");
    tp_proxy_addr_from_hostport("name", 80, &a);
    ck_assert_str_eq(tp_proxy_addr_str(&a, buf, sizeof(buf)), "name:80");

    ck_assert_ptr_eq(tp_proxy_addr_str(&a, small, sizeof(small)), small);
    ck_assert_str_eq(small, "name:");

    small[0] = 'x';
    tp_proxy_addr_str(&a, small, 0);
    ck_assert_int_eq(small[0], 'x');

    tp_proxy_addr_from_hostport("ev\r\nil\x7f", 1, &a);
    ck_assert_str_eq(tp_proxy_addr_str(&a, buf, sizeof(buf)), "ev??il?:1");

    memset(name, 'z', 255);
    name[255] = '\0';
    tp_proxy_addr_from_hostport(name, 65535, &a);
    tp_proxy_addr_str(&a, buf, sizeof(buf));
    ck_assert_uint_eq(strlen(buf), 255 + 6);
    ck_assert_str_eq(buf + 255, ":65535");

    a.family = 77;
    ck_assert_str_eq(tp_proxy_addr_str(&a, buf, sizeof(buf)), "?:65535");
}
END_TEST


START_TEST(test_valid_equal)
{
    struct tp_proxy_addr  a, b;

    memset(&a, 0, sizeof(a));
    ck_assert(!tp_proxy_addr_valid(&a));        /* AF_UNSPEC, empty */
    a.family = AF_INET;
    ck_assert(tp_proxy_addr_valid(&a));
    a.family = 99;
    ck_assert(!tp_proxy_addr_valid(&a));
    a.family = AF_UNSPEC;
    memset(a.host, 'x', sizeof(a.host));        /* not terminated */
    ck_assert(!tp_proxy_addr_valid(&a));

    tp_proxy_addr_from_hostport("a.example", 1, &a);
    tp_proxy_addr_from_hostport("a.example", 1, &b);
    ck_assert(tp_proxy_addr_equal(&a, &b));
    b.port = 2;
    ck_assert(!tp_proxy_addr_equal(&a, &b));
    tp_proxy_addr_from_hostport("b.example", 1, &b);
    ck_assert(!tp_proxy_addr_equal(&a, &b));
    tp_proxy_addr_from_hostport("1.1.1.1", 1, &a);
    tp_proxy_addr_from_hostport("1.1.1.2", 1, &b);
    ck_assert(!tp_proxy_addr_equal(&a, &b));
    tp_proxy_addr_from_hostport("::1", 1, &a);
    ck_assert(!tp_proxy_addr_equal(&a, &b));
}
END_TEST


START_TEST(test_wire_vectors)
{
    static const uint8_t  v4[] = { 0x01, 8, 8, 8, 8, 0x00, 0x35 };
    static const uint8_t  v6[] = {
        0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
        0x01, 0xbb
    };
    static const uint8_t  dn[] = {
        0x03, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm',
        0x01, 0xbb
    };
    struct tp_proxy_addr  a;
    uint8_t               buf[TP_PROXY_ADDR_WIRE_MAX];

    tp_proxy_addr_from_hostport("8.8.8.8", 53, &a);
    ck_assert_int_eq(tp_proxy_addr_encode(buf, sizeof(buf), &a), 7);
    ck_assert_mem_eq(buf, v4, sizeof(v4));
    check_prefixes(v4, sizeof(v4));

    tp_proxy_addr_from_hostport("2001:db8::1", 443, &a);
    ck_assert_int_eq(tp_proxy_addr_encode(buf, sizeof(buf), &a), 19);
    ck_assert_mem_eq(buf, v6, sizeof(v6));
    check_prefixes(v6, sizeof(v6));
    ck_assert_int_eq(decode_exact(v6, sizeof(v6), &a), 19);
    ck_assert_int_eq(a.family, AF_INET6);
    ck_assert_uint_eq(a.port, 443);

    tp_proxy_addr_from_hostport("example.com", 443, &a);
    ck_assert_int_eq(tp_proxy_addr_encode(buf, sizeof(buf), &a), 15);
    ck_assert_mem_eq(buf, dn, sizeof(dn));
    check_prefixes(dn, sizeof(dn));
    ck_assert_int_eq(decode_exact(dn, sizeof(dn), &a), 15);
    ck_assert_str_eq(a.host, "example.com");

    /* Short output buffers. */
    ck_assert_int_eq(tp_proxy_addr_encode(buf, 14, &a), TP_ERROR);
    ck_assert_int_eq(tp_proxy_addr_encode(buf, 0, &a), TP_ERROR);
}
END_TEST


START_TEST(test_wire_domain_255)
{
    struct tp_proxy_addr  a, b;
    uint8_t               buf[TP_PROXY_ADDR_WIRE_MAX];

    memset(&a, 0, sizeof(a));
    a.family = AF_UNSPEC;
    memset(a.host, 'd', 255);
    a.port = 65535;
    ck_assert_int_eq(tp_proxy_addr_encode(buf, sizeof(buf), &a), 259);
    ck_assert_int_eq(TP_PROXY_ADDR_WIRE_MAX, 259);
    ck_assert_uint_eq(buf[1], 255);
    check_prefixes(buf, 259);
    ck_assert_int_eq(decode_exact(buf, 259, &b), 259);
    ck_assert(tp_proxy_addr_equal(&a, &b));
    ck_assert_int_eq(tp_proxy_addr_encode(buf, 258, &a), TP_ERROR);
}
END_TEST


START_TEST(test_wire_malformed)
{
    struct tp_proxy_addr  a;
    uint8_t               buf[TP_PROXY_ADDR_WIRE_MAX];

    ck_assert_int_eq(decode_exact((const uint8_t *) "\x02", 1, &a),
        TP_ERROR);
    ck_assert_int_eq(decode_exact((const uint8_t *) "\x00", 1, &a),
        TP_ERROR);
    ck_assert_int_eq(decode_exact((const uint8_t *) "\x03\x00\x00\x50", 4,
        &a), TP_ERROR);
    ck_assert_int_eq(decode_exact((const uint8_t *) "\x03\x03" "a\0b"
        "\x00\x50", 7, &a), TP_ERROR);

    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(tp_proxy_addr_encode(buf, sizeof(buf), &a), TP_ERROR);
    a.family = AF_UNIX;
    ck_assert_int_eq(tp_proxy_addr_encode(buf, sizeof(buf), &a), TP_ERROR);
}
END_TEST


Suite *
suite_proxy_addr(void)
{
    Suite  *s = suite_create("proxy_addr");
    TCase  *tc = tcase_create("convert");
    TCase  *tw = tcase_create("wire");

    tcase_add_test(tc, test_from_sockaddr);
    tcase_add_test(tc, test_to_sockaddr);
    tcase_add_test(tc, test_from_hostport);
    tcase_add_test(tc, test_str);
    tcase_add_test(tc, test_valid_equal);
    tcase_add_test(tw, test_wire_vectors);
    tcase_add_test(tw, test_wire_domain_255);
    tcase_add_test(tw, test_wire_malformed);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tw);
    return s;
}
