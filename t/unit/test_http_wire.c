/*
 * test_http_wire.c - unit tests for modules/http_wire.c: CONNECT request
 * bytes (authority forms, Basic auth vectors from RFC 7617 / the spec),
 * response heads (HTTP/1.0, bare LF, 1xx, any 2xx, non-2xx framing, the
 * 8 KiB cap), server-side request heads (CONNECT, absolute-form, auth,
 * strictness) and response encoding; every truncation gives TP_AGAIN.
 */
#include "../../src/tproxyd.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../modules/proxy_addr.h"
#include "../../modules/http_wire.h"

typedef int (*decode_fn)(const uint8_t *buf, size_t len);


static int
dec_response(const uint8_t *b, size_t n)
{
    struct http_response  r;

    return http_response_decode(b, n, &r);
}


static int
dec_request(const uint8_t *b, size_t n)
{
    struct http_request  r;

    return http_request_decode(b, n, &r);
}


static int
run_exact(decode_fn f, const void *msg, size_t n)
{
    uint8_t  *copy;
    int       rc;

    copy = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, msg, n);
    rc = f(copy, n);
    free(copy);
    return rc;
}


/* Every proper prefix is TP_AGAIN; the head (then + tunnel bytes) is n. */
static void
check_head(decode_fn f, const char *msg, size_t n)
{
    char    ext[HTTP_WIRE_HEAD_MAX + 16];
    size_t  i;

    for (i = 0; i < n; i++) {
        ck_assert_msg(run_exact(f, msg, i) == TP_AGAIN,
            "prefix %zu of %zu: %d", i, n, run_exact(f, msg, i));
    }
    ck_assert_int_eq(run_exact(f, msg, n), (int) n);
    memcpy(ext, msg, n);
    memcpy(ext + n, "SSH-2.0-x\r\n", 11);
    ck_assert_int_eq(f((uint8_t *) ext, n + 11), (int) n);
}


static int
resp(const char *s, struct http_response *r)
{
    return http_response_decode((const uint8_t *) s, strlen(s), r);
}


static int
req(const char *s, struct http_request *r)
{
    return http_request_decode((const uint8_t *) s, strlen(s), r);
}


static int
connect_str(char *out, size_t size, const char *host, uint16_t port,
    const char *user, const char *pass, const char *headers)
{
    struct tp_proxy_addr  a;
    int                   n;

    ck_assert_int_eq(tp_proxy_addr_from_hostport(host, port, &a), TP_OK);
    n = http_connect_encode((uint8_t *) out, size - 1, &a, user, pass,
        headers);
    out[n > 0 ? n : 0] = '\0';
    return n;
}


START_TEST(test_connect_encode)
{
    char  buf[2048];
    int   n;

    n = connect_str(buf, sizeof(buf), "example.com", 443, NULL, NULL, NULL);
    ck_assert_str_eq(buf, "CONNECT example.com:443 HTTP/1.1\r\n"
        "Host: example.com:443\r\n\r\n");
    ck_assert_int_eq(n, (int) strlen(buf));

    connect_str(buf, sizeof(buf), "example.com", 443, "u", "p", NULL);
    ck_assert_str_eq(buf, "CONNECT example.com:443 HTTP/1.1\r\n"
        "Host: example.com:443\r\nProxy-Authorization: Basic dTpw\r\n\r\n");

    connect_str(buf, sizeof(buf), "2001:db8::1", 443, "aladdin",
        "opensesame", "Proxy-Connection: Keep-Alive\r\n");
    ck_assert_str_eq(buf, "CONNECT [2001:db8::1]:443 HTTP/1.1\r\n"
        "Host: [2001:db8::1]:443\r\n"
        "Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\n"
        "Proxy-Connection: Keep-Alive\r\n\r\n");

    connect_str(buf, sizeof(buf), "10.0.0.1", 8080, NULL, NULL,
        "X-Gost-Protocol: udp\r\nX-A:\tb\r\n");
    ck_assert_str_eq(buf, "CONNECT 10.0.0.1:8080 HTTP/1.1\r\n"
        "Host: 10.0.0.1:8080\r\nX-Gost-Protocol: udp\r\nX-A:\tb\r\n\r\n");
}
END_TEST


START_TEST(test_connect_encode_base64)
{
    char  buf[2048];

    /* Padding lengths 2, 0 and 1 ("a:", "ab:", "abc:"); pass NULL = "". */
    connect_str(buf, sizeof(buf), "h", 1, "a", NULL, NULL);
    ck_assert_ptr_nonnull(strstr(buf, "Basic YTo=\r\n"));
    connect_str(buf, sizeof(buf), "h", 1, "ab", "", NULL);
    ck_assert_ptr_nonnull(strstr(buf, "Basic YWI6\r\n"));
    connect_str(buf, sizeof(buf), "h", 1, "abc", NULL, NULL);
    ck_assert_ptr_nonnull(strstr(buf, "Basic YWJjOg==\r\n"));
    connect_str(buf, sizeof(buf), "h", 1, "", "\xff\xfe", NULL);
    ck_assert_ptr_nonnull(strstr(buf, "Basic Ov/+\r\n"));
}
END_TEST


START_TEST(test_connect_encode_invalid)
{
    struct tp_proxy_addr  a;
    uint8_t               buf[2048];
    char                  longs[300];
    int                   n, i;

    tp_proxy_addr_from_hostport("example.com", 443, &a);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, "a:b", "p",
        NULL), TP_ERROR);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, NULL, NULL,
        "X: y"), TP_ERROR);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, NULL, NULL,
        "X y\r\n"), TP_ERROR);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, NULL, NULL,
        "X: a\r\n\r\nGET / HTTP/1.1\r\n"), TP_ERROR);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, NULL, NULL,
        "X: a\nY: b\r\n"), TP_ERROR);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, NULL, NULL,
        ": a\r\n"), TP_ERROR);

    /* A sniffed name must not inject anything. */
    tp_proxy_addr_from_hostport("evil.com:80 HTTP/1.1\r\nX:", 443, &a);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, NULL, NULL,
        NULL), TP_ERROR);
    tp_proxy_addr_from_hostport("a b", 443, &a);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, NULL, NULL,
        NULL), TP_ERROR);
    tp_proxy_addr_from_hostport("example.com", 0, &a);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, NULL, NULL,
        NULL), TP_ERROR);
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, NULL, NULL,
        NULL), TP_ERROR);

    /* 255-byte credentials fit, 256 do not. */
    tp_proxy_addr_from_hostport("example.com", 443, &a);
    memset(longs, 'x', 255);
    longs[255] = '\0';
    ck_assert_int_gt(http_connect_encode(buf, sizeof(buf), &a, longs, longs,
        NULL), 0);
    longs[255] = 'x';
    longs[256] = '\0';
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, longs, "p",
        NULL), TP_ERROR);
    ck_assert_int_eq(http_connect_encode(buf, sizeof(buf), &a, "u", longs,
        NULL), TP_ERROR);

    /* Every short output buffer fails. */
    n = http_connect_encode(buf, sizeof(buf), &a, "u", "p", "X: y\r\n");
    ck_assert_int_gt(n, 0);
    for (i = 0; i < n; i++) {
        ck_assert_int_eq(http_connect_encode(buf, (size_t) i, &a, "u", "p",
            "X: y\r\n"), TP_ERROR);
    }
}
END_TEST


START_TEST(test_response_basic)
{
    static const char     *ok = "HTTP/1.1 200 Connection established\r\n"
                                "Proxy-Agent: x\r\n\r\n";
    static const char     *ok10 = "HTTP/1.0 200 Connection established"
                                  "\r\n\r\n";
    static const char     *lf = "HTTP/1.1 200 OK\nVia: a\n\n";
    static const char     *mixed = "HTTP/1.1 200 OK\r\nVia: a\n\r\n";
    struct http_response   r;

    check_head(dec_response, ok, strlen(ok));
    ck_assert_int_eq(resp(ok, &r), (int) strlen(ok));
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.minor, 1);
    ck_assert_str_eq(r.reason, "Connection established");
    ck_assert_int_eq(r.interim, 0);

    check_head(dec_response, ok10, strlen(ok10));
    ck_assert_int_eq(resp(ok10, &r), (int) strlen(ok10));
    ck_assert_int_eq(r.minor, 0);

    check_head(dec_response, lf, strlen(lf));
    check_head(dec_response, mixed, strlen(mixed));

    /* Empty reason, with and without the SP. */
    ck_assert_int_eq(resp("HTTP/1.1 200\r\n\r\n", &r), 16);
    ck_assert_str_eq(r.reason, "");
    ck_assert_int_eq(resp("HTTP/1.1 204 \r\n\r\n", &r), 17);
    ck_assert_int_eq(r.status, 204);
}
END_TEST


START_TEST(test_response_interim)
{
    static const char     *one = "HTTP/1.1 100 Continue\r\n\r\n"
                                 "HTTP/1.1 200 OK\r\n\r\n";
    static const char     *two = "HTTP/1.1 100 Continue\r\nX: 1\r\n\r\n"
                                 "HTTP/1.1 103 Early Hints\n\n"
                                 "HTTP/1.1 407 Proxy Authentication Required"
                                 "\r\nContent-Length: 5\r\n\r\n";
    struct http_response   r;

    check_head(dec_response, one, strlen(one));
    ck_assert_int_eq(resp(one, &r), (int) strlen(one));
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.interim, 1);

    check_head(dec_response, two, strlen(two));
    ck_assert_int_eq(resp(two, &r), (int) strlen(two));
    ck_assert_int_eq(r.status, 407);
    ck_assert_int_eq(r.interim, 2);
    ck_assert_int_eq(r.content_length, 5);

    /* A 1xx alone is not the end. */
    ck_assert_int_eq(resp("HTTP/1.1 100 Continue\r\n\r\n", &r), TP_AGAIN);
    ck_assert_int_eq(resp("HTTP/1.1 100 Continue\r\n\r\nSSH", &r),
        TP_ERROR);
}
END_TEST


START_TEST(test_response_framing)
{
    struct http_response  r;

    /* Any 2xx: Content-Length / Transfer-Encoding ignored, even bad. */
    ck_assert_int_gt(resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n"
        "Transfer-Encoding: chunked\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.content_length, -1);
    ck_assert(!r.has_te);
    ck_assert_int_gt(resp("HTTP/1.1 201 Created\r\nContent-Length: x\r\n\r\n",
        &r), 0);
    ck_assert_int_eq(r.status, 201);

    /* Non-2xx: recorded. */
    ck_assert_int_gt(resp("HTTP/1.1 403 Forbidden\r\ncontent-length:  42 \r\n"
        "Content-Length: 42\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.status, 403);
    ck_assert_int_eq(r.content_length, 42);
    ck_assert_int_gt(resp("HTTP/1.1 502 Bad Gateway\r\n"
        "TRANSFER-ENCODING: chunked\r\n\r\n", &r), 0);
    ck_assert(r.has_te);
    ck_assert_int_eq(r.content_length, -1);
    ck_assert_int_eq(resp("HTTP/1.1 403 x\r\nContent-Length: 1\r\n"
        "Content-Length: 2\r\n\r\n", &r), TP_ERROR);
    ck_assert_int_eq(resp("HTTP/1.1 403 x\r\nContent-Length: -1\r\n\r\n",
        &r), TP_ERROR);
    ck_assert_int_eq(resp("HTTP/1.1 403 x\r\nContent-Length: 1 2\r\n\r\n",
        &r), TP_ERROR);

    /* Malformed header lines of a response are skipped. */
    ck_assert_int_gt(resp("HTTP/1.1 407 x\r\nno colon here\r\n"
        " folded\r\nBad Name: v\r\nContent-Length: 3\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.content_length, 3);
}
END_TEST


START_TEST(test_response_malformed)
{
    struct http_response  r;
    const char           *bad[] = {
        "S", "SSH-2.0-OpenSSH\r\n\r\n", "HTTP/2 200\r\n\r\n", "http/1.1",
        "HTTP/1.x 200 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n", "HTTP/1.1 600 High\r\n\r\n",
        "HTTP/1.1 200OK\r\n\r\n", "\r\nHTTP/1.1 200 OK\r\n\r\n",
        "\x05\x00", "HTTP/1.1 200\r\n",
    };
    size_t                i;

    for (i = 0; i < nitems(bad); i++) {
        if (i == nitems(bad) - 1) {
            ck_assert_int_eq(resp(bad[i], &r), TP_AGAIN);
            continue;
        }
        ck_assert_msg(run_exact(dec_response, bad[i], strlen(bad[i]))
            == TP_ERROR, "%s", bad[i]);
    }

    /* The reason is a printable copy, cut to fit. */
    ck_assert_int_gt(resp("HTTP/1.1 500 a\x01\x7f\xc3\xa9z\r\n\r\n", &r), 0);
    ck_assert_str_eq(r.reason, "a????z");
}
END_TEST


START_TEST(test_response_long_reason)
{
    struct http_response  r;
    char                  buf[600];

    memcpy(buf, "HTTP/1.1 200 ", 13);
    memset(buf + 13, 'r', 500);
    memcpy(buf + 513, "\r\n\r\n", 5);
    ck_assert_int_eq(resp(buf, &r), 517);
    ck_assert_uint_eq(strlen(r.reason), HTTP_REASON_MAX - 1);
}
END_TEST


START_TEST(test_response_cap)
{
    static char           buf[HTTP_WIRE_HEAD_MAX + 64];
    size_t                n;

    /* A head of exactly 8192 bytes passes; 8193 does not. */
    n = (size_t) snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\nX-Pad: ");
    memset(buf + n, 'p', HTTP_WIRE_HEAD_MAX - n - 4);
    memcpy(buf + HTTP_WIRE_HEAD_MAX - 4, "\r\n\r\n", 4);
    ck_assert_int_eq(run_exact(dec_response, buf, HTTP_WIRE_HEAD_MAX),
        HTTP_WIRE_HEAD_MAX);
    ck_assert_int_eq(run_exact(dec_response, buf, HTTP_WIRE_HEAD_MAX - 1),
        TP_AGAIN);

    memset(buf + n, 'p', HTTP_WIRE_HEAD_MAX - n - 3);
    memcpy(buf + HTTP_WIRE_HEAD_MAX - 3, "\r\n\r\n", 4);
    ck_assert_int_eq(run_exact(dec_response, buf, HTTP_WIRE_HEAD_MAX + 1),
        TP_ERROR);
    ck_assert_int_eq(run_exact(dec_response, buf, HTTP_WIRE_HEAD_MAX),
        TP_ERROR);
    ck_assert_int_eq(run_exact(dec_response, buf, HTTP_WIRE_HEAD_MAX - 1),
        TP_AGAIN);

    /* 1xx count toward the cap. */
    for (n = 0; n + 25 <= HTTP_WIRE_HEAD_MAX; n += 25) {
        memcpy(buf + n, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    }
    memcpy(buf + n, "HTTP/1.1 200 OK\r\n\r\n", 19);
    ck_assert_int_eq(run_exact(dec_response, buf, n + 19), TP_ERROR);
}
END_TEST


START_TEST(test_request_connect)
{
    static const char    *m = "CONNECT example.com:443 HTTP/1.1\r\n"
                              "Host: example.com:443\r\n"
                              "Proxy-Authorization: Basic dTpw\r\n\r\n";
    struct http_request   r;

    check_head(dec_request, m, strlen(m));
    ck_assert_int_eq(req(m, &r), (int) strlen(m));
    ck_assert_str_eq(r.method, "CONNECT");
    ck_assert(r.connect);
    ck_assert_int_eq(r.minor, 1);
    ck_assert(r.has_addr);
    ck_assert_int_eq(r.addr.family, AF_UNSPEC);
    ck_assert_str_eq(r.addr.host, "example.com");
    ck_assert_uint_eq(r.addr.port, 443);
    ck_assert_uint_eq(r.target_off, 8);
    ck_assert_uint_eq(r.target_len, 15);
    ck_assert_uint_eq(r.path_len, 0);
    ck_assert_uint_eq(r.headers_off, 34);
    ck_assert_int_eq(r.auth, HTTP_AUTH_BASIC);
    ck_assert_str_eq(r.user, "u");
    ck_assert_str_eq(r.pass, "p");
    ck_assert_int_eq(r.content_length, -1);

    ck_assert_int_gt(req("CONNECT [2001:db8::1]:443 HTTP/1.0\n\n", &r), 0);
    ck_assert_int_eq(r.addr.family, AF_INET6);
    ck_assert_uint_eq(r.addr.ip[15], 1);
    ck_assert_int_eq(r.minor, 0);
    ck_assert_int_eq(r.auth, HTTP_AUTH_NONE);

    ck_assert_int_gt(req("CONNECT 192.0.2.1:22 HTTP/1.1\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.addr.family, AF_INET);
    ck_assert_uint_eq(r.addr.port, 22);

    /* Leading empty lines are skipped. */
    ck_assert_int_eq(req("\r\n\nCONNECT h:1 HTTP/1.1\r\n\r\n", &r), 27);
    ck_assert_uint_eq(r.target_off, 11);
    ck_assert_int_eq(req("\r\n\r", &r), TP_AGAIN);
    ck_assert_int_eq(req("\r\rCONNECT", &r), TP_ERROR);
}
END_TEST


START_TEST(test_request_connect_bad_target)
{
    struct http_request  r;
    const char          *bad[] = {
        "example.com", "example.com:", "example.com:0", "example.com:65536",
        "example.com:123456", "example.com:8x", ":443", "[::1]", "[::1]:",
        "[::1]x443", "[::1", "[1.2.3.4]:80", "[host]:80", "a_b@c:80",
        "a%20b:80", "http://example.com:80", "example.com:443/",
    };
    char                 buf[256];
    size_t               i;

    for (i = 0; i < nitems(bad); i++) {
        snprintf(buf, sizeof(buf), "CONNECT %s HTTP/1.1\r\n\r\n", bad[i]);
        ck_assert_msg(req(buf, &r) == TP_ERROR, "%s", bad[i]);
    }
    ck_assert_int_gt(req("CONNECT a_b-c.~d:65535 HTTP/1.1\r\n\r\n", &r), 0);
    ck_assert_str_eq(r.addr.host, "a_b-c.~d");
    ck_assert_uint_eq(r.addr.port, 65535);

    /* "connect" is another method, not CONNECT. */
    ck_assert_int_gt(req("connect example.com:443 HTTP/1.1\r\n\r\n", &r), 0);
    ck_assert(!r.connect);
    ck_assert(!r.has_addr);
}
END_TEST


START_TEST(test_request_absolute)
{
    static const char    *m = "GET http://example.com/a/b?c=d HTTP/1.1\r\n"
                              "Host: example.com\r\nContent-Length: 0\r\n"
                              "\r\n";
    struct http_request   r;

    check_head(dec_request, m, strlen(m));
    ck_assert_int_eq(req(m, &r), (int) strlen(m));
    ck_assert_str_eq(r.method, "GET");
    ck_assert(!r.connect);
    ck_assert(r.has_addr);
    ck_assert_str_eq(r.addr.host, "example.com");
    ck_assert_uint_eq(r.addr.port, 80);
    ck_assert_uint_eq(r.path_len, 8);
    ck_assert_mem_eq(m + r.path_off, "/a/b?c=d", 8);
    ck_assert_uint_eq(r.target_len, 26);
    ck_assert_int_eq(r.content_length, 0);

    ck_assert_int_gt(req("POST HTTPS://[::1]:8443 HTTP/1.1\r\n"
        "Transfer-Encoding: chunked\r\n\r\n", &r), 0);
    ck_assert(r.has_addr);
    ck_assert_int_eq(r.addr.family, AF_INET6);
    ck_assert_uint_eq(r.addr.port, 8443);
    ck_assert_uint_eq(r.path_len, 0);
    ck_assert(r.has_te);

    ck_assert_int_gt(req("GET https://h?q HTTP/1.1\r\n\r\n", &r), 0);
    ck_assert_uint_eq(r.addr.port, 443);
    ck_assert_uint_eq(r.path_len, 2);

    ck_assert_int_gt(req("GET http://h:/ HTTP/1.1\r\n\r\n", &r), 0);
    ck_assert(r.has_addr);
    ck_assert_uint_eq(r.addr.port, 80);

    /* Origin-form, userinfo, other schemes: no addr, still a request. */
    ck_assert_int_gt(req("GET /index.html HTTP/1.1\r\nHost: h\r\n\r\n", &r), 0);
    ck_assert(!r.has_addr);
    ck_assert_uint_eq(r.path_off, 4);
    ck_assert_uint_eq(r.path_len, 11);
    ck_assert_int_gt(req("GET http://u:p@h/ HTTP/1.1\r\n\r\n", &r), 0);
    ck_assert(!r.has_addr);
    ck_assert_int_eq(r.addr.family, 0);
    ck_assert_int_gt(req("GET ftp://h/ HTTP/1.1\r\n\r\n", &r), 0);
    ck_assert(!r.has_addr);
    ck_assert_int_gt(req("OPTIONS * HTTP/1.1\r\n\r\n", &r), 0);
    ck_assert(!r.has_addr);
}
END_TEST


START_TEST(test_request_auth)
{
    struct http_request  r;

    ck_assert_int_gt(req("CONNECT h:1 HTTP/1.1\r\nProxy-Authorization: basic  "
        "YWxhZGRpbjpvcGVuc2VzYW1l \r\n\r\n", &r), 0);
    ck_assert_int_eq(r.auth, HTTP_AUTH_BASIC);
    ck_assert_str_eq(r.user, "aladdin");
    ck_assert_str_eq(r.pass, "opensesame");

    /* Unpadded is accepted; the password may hold ':'. */
    ck_assert_int_gt(req("CONNECT h:1 HTTP/1.1\r\nproxy-authorization: Basic "
        "dTpwOnE\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.auth, HTTP_AUTH_BASIC);
    ck_assert_str_eq(r.user, "u");
    ck_assert_str_eq(r.pass, "p:q");

    ck_assert_int_gt(req("CONNECT h:1 HTTP/1.1\r\nProxy-Authorization: Basic "
        "Og==\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.auth, HTTP_AUTH_BASIC);
    ck_assert_str_eq(r.user, "");
    ck_assert_str_eq(r.pass, "");
}
END_TEST


START_TEST(test_request_auth_invalid)
{
    struct http_request  r;
    const char          *bad[] = {
        "Digest x=1", "Basic", "Basic ", "Basicdtpw", "Bearer dTpw",
        "Basic dTpw!", "Basic d", "Basic dTpw=", "Basic d===",
        "Basic dXA=",               /* "up": no colon */
        "Basic dQB6OnA=",           /* "u\0z:p": NUL */
    };
    char                 buf[2048], b64[1400];
    size_t               i;

    for (i = 0; i < nitems(bad); i++) {
        snprintf(buf, sizeof(buf), "CONNECT h:1 HTTP/1.1\r\n"
            "Proxy-Authorization: %s\r\n\r\n", bad[i]);
        ck_assert_msg(req(buf, &r) > 0, "%s", bad[i]);
        ck_assert_msg(r.auth == HTTP_AUTH_INVALID, "%s", bad[i]);
        ck_assert_str_eq(r.user, "");
    }

    /* 255 'A' + ":p" fits; 256 'A' + ":p" does not. */
    for (i = 0; i < 85; i++) {
        memcpy(b64 + 4 * i, "QUFB", 4);
    }
    memcpy(b64 + 340, "OnA=", 5);
    snprintf(buf, sizeof(buf), "CONNECT h:1 HTTP/1.1\r\n"
        "Proxy-Authorization: Basic %s\r\n\r\n", b64);
    ck_assert_int_gt(req(buf, &r), 0);
    ck_assert_int_eq(r.auth, HTTP_AUTH_BASIC);
    ck_assert_uint_eq(strlen(r.user), 255);
    ck_assert_str_eq(r.pass, "p");
    memcpy(b64 + 340, "QTpw", 5);
    snprintf(buf, sizeof(buf), "CONNECT h:1 HTTP/1.1\r\n"
        "Proxy-Authorization: Basic %s\r\n\r\n", b64);
    ck_assert_int_gt(req(buf, &r), 0);
    ck_assert_int_eq(r.auth, HTTP_AUTH_INVALID);
}
END_TEST


START_TEST(test_request_strict)
{
    struct http_request  r;
    const char          *bad[] = {
        "CONNECT h:1 HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\nX : a\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\nno colon\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\nX: a\rb\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\n: v\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\nContent-Length: 1\r\n"
            "Transfer-Encoding: chunked\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\nContent-Length: 1\r\n"
            "Content-Length: 2\r\n\r\n",
        "CONNECT h:1 HTTP/1.1\r\nContent-Length: +1\r\n\r\n",
        "CONNECT h:1 HTTP/2.0\r\n\r\n", "CONNECT h:1 HTTP/1.1 \r\n\r\n",
        "CONNECT  h:1 HTTP/1.1\r\n\r\n", "CONNECT h:1  HTTP/1.1\r\n\r\n",
        "CONNECT h:1\r\n\r\n", "CONNECT\r\n\r\n", " CONNECT h:1 HTTP/1.1\r\n",
        "GET /\x01 HTTP/1.1\r\n\r\n", "G(T / HTTP/1.1\r\n\r\n",
        "\x05\x01\x00", "\x16\x03\x01", "ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEF",
    };
    static const char    nul[] = "CONNECT h:1 HTTP/1.1\r\nX: a\0b\r\n\r\n";
    size_t               i;

    for (i = 0; i < nitems(bad); i++) {
        ck_assert_msg(run_exact(dec_request, bad[i], strlen(bad[i]))
            == TP_ERROR, "%zu: %s", i, bad[i]);
    }
    ck_assert_int_eq(run_exact(dec_request, nul, sizeof(nul) - 1),
        TP_ERROR);
    /* Method of 31 bytes is fine. */
    ck_assert_int_gt(req("ABCDEFGHIJKLMNOPQRSTUVWXYZABCDE / HTTP/1.1\r\n\r\n",
        &r), 0);
    ck_assert_uint_eq(strlen(r.method), 31);
    /* Repeated equal Content-Length is fine. */
    ck_assert_int_gt(req("POST / HTTP/1.1\r\nContent-Length: 7\r\n"
        "Content-Length: 7\r\n\r\n", &r), 0);
    ck_assert_int_eq(r.content_length, 7);
}
END_TEST


START_TEST(test_request_cap)
{
    static char          buf[HTTP_WIRE_HEAD_MAX + 64];
    size_t               n;

    n = (size_t) snprintf(buf, sizeof(buf), "CONNECT h:1 HTTP/1.1\r\nX: ");
    memset(buf + n, 'p', HTTP_WIRE_HEAD_MAX - n - 4);
    memcpy(buf + HTTP_WIRE_HEAD_MAX - 4, "\r\n\r\n", 4);
    ck_assert_int_eq(run_exact(dec_request, buf, HTTP_WIRE_HEAD_MAX),
        HTTP_WIRE_HEAD_MAX);
    memset(buf + n, 'p', HTTP_WIRE_HEAD_MAX);
    ck_assert_int_eq(run_exact(dec_request, buf, HTTP_WIRE_HEAD_MAX - 1),
        TP_AGAIN);
    ck_assert_int_eq(run_exact(dec_request, buf, HTTP_WIRE_HEAD_MAX),
        TP_ERROR);
    memset(buf, '\n', HTTP_WIRE_HEAD_MAX);
    ck_assert_int_eq(run_exact(dec_request, buf, HTTP_WIRE_HEAD_MAX),
        TP_ERROR);
}
END_TEST


START_TEST(test_round_trip)
{
    static const char    *hosts[] = {
        "example.com", "192.0.2.55", "2001:db8::abcd", "UPPER.case-x_y.~",
    };
    struct tp_proxy_addr  a;
    struct http_request   r;
    uint8_t               buf[2048];
    char                  name[256];
    size_t                i;
    int                   n;

    for (i = 0; i < nitems(hosts); i++) {
        tp_proxy_addr_from_hostport(hosts[i], (uint16_t) (i + 1), &a);
        n = http_connect_encode(buf, sizeof(buf), &a, "user", "pa:ss\xff",
            "Proxy-Connection: Keep-Alive\r\n");
        ck_assert_int_gt(n, 0);
        check_head(dec_request, (const char *) buf, (size_t) n);
        ck_assert_int_eq(http_request_decode(buf, (size_t) n, &r), n);
        ck_assert(r.connect);
        ck_assert(tp_proxy_addr_equal(&a, &r.addr));
        ck_assert_int_eq(r.auth, HTTP_AUTH_BASIC);
        ck_assert_str_eq(r.user, "user");
        ck_assert_str_eq(r.pass, "pa:ss\xff");
    }

    /* 255-byte name, 255-byte user and password. */
    memset(name, 'n', 255);
    name[255] = '\0';
    tp_proxy_addr_from_hostport(name, 65535, &a);
    n = http_connect_encode(buf, sizeof(buf), &a, name, name, NULL);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(http_request_decode(buf, (size_t) n, &r), n);
    ck_assert(tp_proxy_addr_equal(&a, &r.addr));
    ck_assert_str_eq(r.user, name);
    ck_assert_str_eq(r.pass, name);
}
END_TEST


START_TEST(test_response_encode)
{
    struct http_response  r;
    char                  buf[512];
    int                   n;

    n = http_response_encode((uint8_t *) buf, sizeof(buf), 200,
        "Connection established", NULL);
    ck_assert_int_eq(n, 39);
    ck_assert_mem_eq(buf, "HTTP/1.1 200 Connection established\r\n\r\n", 39);
    check_head(dec_response, buf, (size_t) n);

    n = http_response_encode((uint8_t *) buf, sizeof(buf), 407, NULL,
        "Proxy-Authenticate: Basic realm=\"tproxyd\"\r\n");
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "HTTP/1.1 407 Proxy Authentication Required\r\n"
        "Proxy-Authenticate: Basic realm=\"tproxyd\"\r\n"
        "Content-Length: 0\r\n\r\n");
    ck_assert_int_eq(http_response_decode((uint8_t *) buf, (size_t) n, &r),
        n);
    ck_assert_int_eq(r.status, 407);
    ck_assert_int_eq(r.content_length, 0);

    n = http_response_encode((uint8_t *) buf, sizeof(buf), 502, "", NULL);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "HTTP/1.1 502 \r\nContent-Length: 0\r\n\r\n");
    n = http_response_encode((uint8_t *) buf, sizeof(buf), 599, NULL, NULL);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "HTTP/1.1 599 Unknown\r\n"
        "Content-Length: 0\r\n\r\n");
    ck_assert_str_eq(http_status_reason(504), "Gateway Timeout");

    ck_assert_int_eq(http_response_encode((uint8_t *) buf, sizeof(buf), 99,
        NULL, NULL), TP_ERROR);
    ck_assert_int_eq(http_response_encode((uint8_t *) buf, sizeof(buf), 600,
        NULL, NULL), TP_ERROR);
    ck_assert_int_eq(http_response_encode((uint8_t *) buf, sizeof(buf), 200,
        "OK\r\nX: y", NULL), TP_ERROR);
    ck_assert_int_eq(http_response_encode((uint8_t *) buf, sizeof(buf), 200,
        NULL, "X: y"), TP_ERROR);
    ck_assert_int_eq(http_response_encode((uint8_t *) buf, 38, 200,
        "Connection established", NULL), TP_ERROR);
}
END_TEST


/* Random input: both decoders answer within contract, never crash. */
START_TEST(test_random_input)
{
    static const char  alpha[] = "HTP/1.0 2:\r\n\r\nCONNECT[]a:b";
    uint8_t            buf[300];
    uint32_t           seed;
    size_t             i, j, n;
    int                rc;

    seed = 99;
    for (i = 0; i < 20000; i++) {
        n = (i * 13) % sizeof(buf);
        for (j = 0; j < n; j++) {
            seed = seed * 1103515245 + 12345;
            buf[j] = (uint8_t) alpha[(seed >> 16) % (sizeof(alpha) - 1)];
        }
        rc = run_exact(dec_response, buf, n);
        ck_assert(rc == TP_AGAIN || rc == TP_ERROR
            || (rc > 0 && (size_t) rc <= n));
        rc = run_exact(dec_request, buf, n);
        ck_assert(rc == TP_AGAIN || rc == TP_ERROR
            || (rc > 0 && (size_t) rc <= n));
    }
}
END_TEST


Suite *
suite_http_wire(void)
{
    Suite  *s = suite_create("http_wire");
    TCase  *tc = tcase_create("client");
    TCase  *ts = tcase_create("server");
    TCase  *tl = tcase_create("limits");

    tcase_add_test(tc, test_connect_encode);
    tcase_add_test(tc, test_connect_encode_base64);
    tcase_add_test(tc, test_connect_encode_invalid);
    tcase_add_test(tc, test_response_basic);
    tcase_add_test(tc, test_response_interim);
    tcase_add_test(tc, test_response_framing);
    tcase_add_test(tc, test_response_malformed);
    tcase_add_test(tc, test_response_long_reason);
    tcase_add_test(ts, test_request_connect);
    tcase_add_test(ts, test_request_connect_bad_target);
    tcase_add_test(ts, test_request_absolute);
    tcase_add_test(ts, test_request_auth);
    tcase_add_test(ts, test_request_auth_invalid);
    tcase_add_test(ts, test_request_strict);
    tcase_add_test(ts, test_round_trip);
    tcase_add_test(ts, test_response_encode);
    tcase_add_test(tl, test_response_cap);
    tcase_add_test(tl, test_request_cap);
    tcase_add_test(tl, test_random_input);
    tcase_set_timeout(tl, 60);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, ts);
    suite_add_tcase(s, tl);
    return s;
}
