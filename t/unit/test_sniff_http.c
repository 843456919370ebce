/*
 * test_sniff_http.c - unit tests for the HTTP/1.x Host sniffer
 * (modules/sniff_http.c): Host header forms, request-target forms, the
 * malformed cases that must give no host, partial input, the 8 KiB cap
 * and the h2 prior-knowledge preface.
 */
#include "../../src/tproxyd.h"

#include <check.h>
#include <stdio.h>

#include "../../modules/sniff_wire.h"

static enum tp_sniff_rc
sniff_str(const char *s, struct tp_sniff_result *r)
{
    return sniff_http((const uint8_t *) s, strlen(s), r);
}

/* The request must give `host` and `port`. */
static void
expect_host(const char *req, const char *host, uint16_t port)
{
    struct tp_sniff_result  r;

    ck_assert_msg(sniff_str(req, &r) == TP_SNIFF_FOUND, "%s", req);
    ck_assert_str_eq(r.proto, "http");
    ck_assert_str_eq(r.host, host);
    ck_assert_uint_eq(r.port, port);
}

/* The request is HTTP (proto set) but yields no host. */
static void
expect_no_host(const char *req)
{
    struct tp_sniff_result  r;

    ck_assert_msg(sniff_str(req, &r) == TP_SNIFF_NONE, "%s", req);
    ck_assert_str_eq(r.host, "");
    ck_assert_uint_eq(r.port, 0);
}

START_TEST(test_basic_host)
{
    expect_host("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n",
        "example.com", 0);
    expect_host("GET /a?b=c HTTP/1.1\r\nUser-Agent: x\r\nHost: example.com"
        "\r\nAccept: */*\r\n\r\n", "example.com", 0);
    expect_host("GET / HTTP/1.0\r\nHost: example.com\r\n\r\n",
        "example.com", 0);
}
END_TEST

START_TEST(test_host_any_case)
{
    expect_host("GET / HTTP/1.1\r\nhost: Example.COM\r\n\r\n",
        "example.com", 0);
    expect_host("GET / HTTP/1.1\r\nHOST: example.com\r\n\r\n",
        "example.com", 0);
    expect_host("GET / HTTP/1.1\r\nhOsT:example.com.\r\n\r\n",
        "example.com", 0);
    expect_host("GET / HTTP/1.1\r\nHost: \t example.com \t\r\n\r\n",
        "example.com", 0);
}
END_TEST

START_TEST(test_host_with_port)
{
    expect_host("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        "example.com", 8080);
    expect_host("GET / HTTP/1.1\r\nHost: example.com:1\r\n\r\n",
        "example.com", 1);
    expect_host("GET / HTTP/1.1\r\nHost: example.com:65535\r\n\r\n",
        "example.com", 65535);
    expect_host("GET / HTTP/1.1\r\nHost: 192.0.2.7:81\r\n\r\n",
        "192.0.2.7", 81);
    expect_no_host("GET / HTTP/1.1\r\nHost: example.com:0\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: example.com:65536\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: example.com:123456\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: example.com:\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: example.com:8o\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: example.com:-1\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: :80\r\n\r\n");
}
END_TEST

START_TEST(test_host_ipv6)
{
    expect_host("GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8080\r\n\r\n",
        "2001:db8::1", 8080);
    expect_host("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", "::1", 0);
    expect_no_host("GET / HTTP/1.1\r\nHost: 2001:db8::1\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: [2001:db8::1\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: [not-v6]\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: []:80\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n");
}
END_TEST

START_TEST(test_absolute_form)
{
    struct tp_sniff_result  r;

    expect_host("GET http://Proxy.Example:3128/x HTTP/1.1\r\n"
        "Host: other.example\r\n\r\n", "proxy.example", 3128);
    expect_host("GET http://a.example HTTP/1.1\r\n\r\n", "a.example", 0);
    expect_host("GET HTTPS://a.example?q HTTP/1.1\r\n\r\n", "a.example", 0);
    expect_host("GET http://[::1]:81/ HTTP/1.1\r\n\r\n", "::1", 81);
    /* Decided by the request line alone, even with duplicate Hosts. */
    expect_host("GET http://a.example/ HTTP/1.1\r\nHost: b\r\nHost: c\r\n",
        "a.example", 0);
    expect_no_host("GET http://user@a.example/ HTTP/1.1\r\n\r\n");
    expect_no_host("GET http:///path HTTP/1.1\r\nHost: a.example\r\n\r\n");
    ck_assert_int_eq(sniff_str("GET http://a.example/ HTTP/1.1", &r),
        TP_SNIFF_AGAIN);
}
END_TEST

START_TEST(test_connect_authority)
{
    expect_host("CONNECT example.com:443 HTTP/1.1\r\n\r\n",
        "example.com", 443);
    expect_host("CONNECT [2001:db8::2]:443 HTTP/1.1\r\n\r\n",
        "2001:db8::2", 443);
    expect_no_host("CONNECT example.com HTTP/1.1\r\nHost: example.com\r\n");
}
END_TEST

START_TEST(test_no_host)
{
    struct tp_sniff_result  r;

    ck_assert_int_eq(sniff_str("GET / HTTP/1.0\r\n\r\n", &r), TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "http");
    ck_assert_str_eq(r.host, "");
    expect_no_host("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost:\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost:   \r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: a b\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: a..b\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: caf\xc3\xa9.fr\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nX-Host: a.example\r\n\r\n");
}
END_TEST

START_TEST(test_duplicate_host)
{
    expect_no_host("GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example"
        "\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost: a.example\r\nhost: a.example"
        "\r\n\r\n");
}
END_TEST

START_TEST(test_malformed_header_lines)
{
    /* Whitespace between name and colon (RFC 9112 §5.1). */
    expect_no_host("GET / HTTP/1.1\r\nHost : a.example\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost\t: a.example\r\n\r\n");
    /* obs-fold, a line without a colon, an empty name. */
    expect_no_host("GET / HTTP/1.1\r\nHost: a.example\r\n x\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\n Host: a.example\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\nHost a.example\r\n\r\n");
    expect_no_host("GET / HTTP/1.1\r\n: a.example\r\nHost: a\r\n\r\n");
}
END_TEST

START_TEST(test_bare_lf)
{
    expect_host("GET / HTTP/1.1\nHost: a.example\n\n", "a.example", 0);
    expect_host("GET / HTTP/1.1\r\nHost: a.example\n\r\n", "a.example", 0);
    expect_host("GET / HTTP/1.1\nAccept: x\r\nHost: a.example:90\r\n\n",
        "a.example", 90);
}
END_TEST

START_TEST(test_request_line)
{
    static const char *const methods[] = { "GET", "HEAD", "POST", "PUT",
        "DELETE", "OPTIONS", "TRACE", "PATCH", "PROPFIND", "MKCOL" };
    struct tp_sniff_result  r;
    char                    req[128];
    size_t                  i;

    for (i = 0; i < nitems(methods); i++) {
        snprintf(req, sizeof(req), "%s / HTTP/1.1\r\nHost: m.example\r\n"
            "\r\n", methods[i]);
        expect_host(req, "m.example", 0);
    }
    expect_host("OPTIONS * HTTP/1.1\r\nHost: m.example\r\n\r\n",
        "m.example", 0);
    /* Methods are case-sensitive; versions other than 1.0/1.1 refused. */
    ck_assert_int_eq(sniff_str("get / HTTP/1.1\r\n\r\n", &r), TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "");
    ck_assert_int_eq(sniff_str("FOO / HTTP/1.1\r\n\r\n", &r), TP_SNIFF_NONE);
    ck_assert_int_eq(sniff_str("GET / HTTP/2.0\r\nHost: a\r\n\r\n", &r),
        TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "");
    ck_assert_int_eq(sniff_str("GET / HTTP/1.1 x\r\n\r\n", &r),
        TP_SNIFF_NONE);
    ck_assert_int_eq(sniff_str("GET  / HTTP/1.1\r\n\r\n", &r),
        TP_SNIFF_NONE);
    ck_assert_int_eq(sniff_str("GET /\x01 HTTP/1.1\r\n\r\n", &r),
        TP_SNIFF_NONE);
    ck_assert_int_eq(sniff_str("GET \r\n\r\n", &r), TP_SNIFF_NONE);
    ck_assert_int_eq(sniff_str("GETX / HTTP/1.1\r\n", &r), TP_SNIFF_NONE);
    ck_assert_int_eq(sniff_str("\x16\x03\x01\x00", &r), TP_SNIFF_NONE);
}
END_TEST

START_TEST(test_partial_input)
{
    static const char       req[] = "PROPFIND /x HTTP/1.1\r\nAccept: a\r\n"
                                    "Host: part.example:8443\r\n\r\n";
    struct tp_sniff_result  r;
    size_t                  i, n = strlen(req);

    for (i = 0; i < n; i++) {
        ck_assert_msg(sniff_http((const uint8_t *) req, i, &r)
            == TP_SNIFF_AGAIN, "prefix %zu", i);
    }
    ck_assert_int_eq(sniff_http((const uint8_t *) req, n, &r),
        TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "part.example");
    ck_assert_uint_eq(r.port, 8443);
    ck_assert_int_eq(sniff_str("P", &r), TP_SNIFF_AGAIN);
    ck_assert_int_eq(sniff_str("PRO", &r), TP_SNIFF_AGAIN);
    ck_assert_int_eq(sniff_str("PROX", &r), TP_SNIFF_NONE);
}
END_TEST

START_TEST(test_h2_preface)
{
    static const char       pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                    "\x00\x00\x12\x04\x00";
    struct tp_sniff_result  r;
    size_t                  i;

    for (i = 0; i < 24; i++) {
        ck_assert_int_eq(sniff_http((const uint8_t *) pri, i, &r),
            TP_SNIFF_AGAIN);
    }
    ck_assert_int_eq(sniff_http((const uint8_t *) pri, 24, &r),
        TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "http2");
    ck_assert_str_eq(r.host, "");
    ck_assert_int_eq(sniff_http((const uint8_t *) pri, sizeof(pri) - 1, &r),
        TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "http2");
    ck_assert_int_eq(sniff_str("PRI * HTTP/2.0\r\n\r\nXX", &r),
        TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "");
}
END_TEST

START_TEST(test_over_cap)
{
    static char             buf[SNIFF_HTTP_CAP + 4096];
    struct tp_sniff_result  r;
    size_t                  n;

    /* A header block that does not end within the cap. */
    n = (size_t) snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: "
        "a.example\r\nX-Pad: ");
    memset(buf + n, 'p', sizeof(buf) - n);
    ck_assert_int_eq(sniff_http((uint8_t *) buf, SNIFF_HTTP_CAP - 1, &r),
        TP_SNIFF_AGAIN);
    ck_assert_int_eq(sniff_http((uint8_t *) buf, SNIFF_HTTP_CAP, &r),
        TP_SNIFF_NONE);
    ck_assert_int_eq(sniff_http((uint8_t *) buf, sizeof(buf), &r),
        TP_SNIFF_NONE);
    ck_assert_str_eq(r.host, "");
    /* Complete, but the end of the head lies past the cap. */
    memcpy(buf + sizeof(buf) - 4, "\r\n\r\n", 4);
    ck_assert_int_eq(sniff_http((uint8_t *) buf, sizeof(buf), &r),
        TP_SNIFF_NONE);
    /* A request line longer than the cap. */
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', sizeof(buf) - 5);
    ck_assert_int_eq(sniff_http((uint8_t *) buf, sizeof(buf), &r),
        TP_SNIFF_NONE);
    /* A head ending exactly at the cap is still read. */
    n = (size_t) snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: "
        "a.example\r\nX-Pad: ");
    memset(buf + n, 'p', SNIFF_HTTP_CAP - n - 4);
    memcpy(buf + SNIFF_HTTP_CAP - 4, "\r\n\r\n", 4);
    ck_assert_int_eq(sniff_http((uint8_t *) buf, sizeof(buf), &r),
        TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "a.example");
}
END_TEST

Suite *
suite_sniff_http(void)
{
    Suite   *s = suite_create("sniff_http");
    TCase   *tc = tcase_create("core");
    TCase   *tl = tcase_create("limits");

    tcase_add_test(tc, test_basic_host);
    tcase_add_test(tc, test_host_any_case);
    tcase_add_test(tc, test_host_with_port);
    tcase_add_test(tc, test_host_ipv6);
    tcase_add_test(tc, test_absolute_form);
    tcase_add_test(tc, test_connect_authority);
    tcase_add_test(tc, test_no_host);
    tcase_add_test(tc, test_duplicate_host);
    tcase_add_test(tc, test_malformed_header_lines);
    tcase_add_test(tc, test_bare_lf);
    tcase_add_test(tc, test_request_line);
    tcase_add_test(tl, test_partial_input);
    tcase_add_test(tl, test_h2_preface);
    tcase_add_test(tl, test_over_cap);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tl);
    return s;
}
