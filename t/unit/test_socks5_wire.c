/*
 * test_socks5_wire.c - unit tests for modules/socks5_wire.c: RFC 1928/1929
 * and SOCKS4/4a byte vectors, round trips, every truncation giving
 * TP_AGAIN, malformed versions/lengths/ATYP giving TP_ERROR, 255-byte
 * names and credentials, IPv6, and a random-input smoke run.
 */
#include "../../src/tproxyd.h"

#include <check.h>
#include <stdlib.h>

#include "../../modules/proxy_addr.h"
#include "../../modules/socks5_wire.h"

typedef int (*decode_fn)(const uint8_t *buf, size_t len);


static int
dec_greeting(const uint8_t *b, size_t n)
{
    struct socks5_greeting  g;

    return socks5_greeting_decode(b, n, &g);
}


static int
dec_method(const uint8_t *b, size_t n)
{
    uint8_t  m;

    return socks5_method_decode(b, n, &m);
}


static int
dec_auth(const uint8_t *b, size_t n)
{
    struct socks5_auth  a;

    return socks5_auth_decode(b, n, &a);
}


static int
dec_auth_status(const uint8_t *b, size_t n)
{
    uint8_t  s;

    return socks5_auth_status_decode(b, n, &s);
}


static int
dec_request(const uint8_t *b, size_t n)
{
    struct socks5_request  r;

    return socks5_request_decode(b, n, &r);
}


static int
dec_reply(const uint8_t *b, size_t n)
{
    struct socks5_reply  r;

    return socks5_reply_decode(b, n, &r);
}


static int
dec_udp(const uint8_t *b, size_t n)
{
    struct socks5_udp_header  h;

    return socks5_udp_decode(b, n, &h);
}


static int
dec_s4_request(const uint8_t *b, size_t n)
{
    struct socks4_request  r;

    return socks4_request_decode(b, n, &r);
}


static int
dec_s4_reply(const uint8_t *b, size_t n)
{
    struct socks4_reply  r;

    return socks4_reply_decode(b, n, &r);
}


/* Run a decoder over an exact-size heap copy (ASan catches over-reads). */
static int
run_exact(decode_fn f, const uint8_t *msg, size_t n)
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


/*
 * Every proper prefix of a valid message is TP_AGAIN; the whole is
 * consumed exactly, also when more bytes follow.
 */
static void
check_message(decode_fn f, const uint8_t *msg, size_t n)
{
    uint8_t  *ext;
    size_t    i;

    for (i = 0; i < n; i++) {
        ck_assert_msg(run_exact(f, msg, i) == TP_AGAIN,
            "prefix %zu of %zu: %d", i, n, run_exact(f, msg, i));
    }
    ck_assert_int_eq(run_exact(f, msg, n), (int) n);
    ext = malloc(n + 7);
    ck_assert_ptr_nonnull(ext);
    memcpy(ext, msg, n);
    memcpy(ext + n, "tunnel!", 7);
    ck_assert_int_eq(f(ext, n + 7), (int) n);
    free(ext);
}


/* An encoder given any buffer shorter than n fails. */
static void
check_short_buffers(int (*enc)(uint8_t *, size_t, const void *),
    const void *in, size_t n)
{
    uint8_t  buf[1024];
    size_t   i;

    for (i = 0; i < n; i++) {
        ck_assert_int_eq(enc(buf, i, in), TP_ERROR);
    }
    ck_assert_int_eq(enc(buf, n, in), (int) n);
}


static int
enc_request(uint8_t *b, size_t n, const void *in)
{
    return socks5_request_encode(b, n, in);
}


static int
enc_reply(uint8_t *b, size_t n, const void *in)
{
    return socks5_reply_encode(b, n, in);
}


static int
enc_auth(uint8_t *b, size_t n, const void *in)
{
    return socks5_auth_encode(b, n, in);
}


static int
enc_s4_request(uint8_t *b, size_t n, const void *in)
{
    return socks4_request_encode(b, n, in);
}


START_TEST(test_greeting)
{
    struct socks5_greeting  g, d;
    uint8_t                 buf[SOCKS5_GREETING_MAX];
    int                     i;

    memset(&g, 0, sizeof(g));
    g.nmethods = 1;
    ck_assert_int_eq(socks5_greeting_encode(buf, sizeof(buf), &g), 3);
    ck_assert_mem_eq(buf, "\x05\x01\x00", 3);

    g.nmethods = 2;
    g.methods[1] = SOCKS5_METHOD_USERPASS;
    ck_assert_int_eq(socks5_greeting_encode(buf, sizeof(buf), &g), 4);
    ck_assert_mem_eq(buf, "\x05\x02\x00\x02", 4);
    check_message(dec_greeting, buf, 4);
    ck_assert_int_eq(socks5_greeting_decode(buf, 4, &d), 4);
    ck_assert(socks5_greeting_offers(&d, SOCKS5_METHOD_NO_AUTH));
    ck_assert(socks5_greeting_offers(&d, SOCKS5_METHOD_USERPASS));
    ck_assert(!socks5_greeting_offers(&d, SOCKS5_METHOD_GSSAPI));
    ck_assert_int_eq(socks5_greeting_encode(buf, 3, &g), TP_ERROR);

    /* All 255 methods. */
    g.nmethods = 255;
    for (i = 0; i < 255; i++) {
        g.methods[i] = (uint8_t) i;
    }
    ck_assert_int_eq(socks5_greeting_encode(buf, sizeof(buf), &g), 257);
    check_message(dec_greeting, buf, 257);
    ck_assert_int_eq(socks5_greeting_decode(buf, 257, &d), 257);
    ck_assert_mem_eq(d.methods, g.methods, 255);
    ck_assert(!socks5_greeting_offers(&d, SOCKS5_METHOD_NONE_OK));

    /* Malformed. */
    ck_assert_int_eq(run_exact(dec_greeting, (const uint8_t *) "\x04", 1),
        TP_ERROR);
    ck_assert_int_eq(run_exact(dec_greeting,
        (const uint8_t *) "\x04\x01\x00", 3), TP_ERROR);
    ck_assert_int_eq(run_exact(dec_greeting,
        (const uint8_t *) "\x05\x00", 2), TP_ERROR);
    g.nmethods = 0;
    ck_assert_int_eq(socks5_greeting_encode(buf, sizeof(buf), &g), TP_ERROR);
}
END_TEST


START_TEST(test_method_choice)
{
    uint8_t  buf[SOCKS5_METHOD_LEN], m;

    ck_assert_int_eq(socks5_method_encode(buf, sizeof(buf),
        SOCKS5_METHOD_USERPASS), 2);
    ck_assert_mem_eq(buf, "\x05\x02", 2);
    check_message(dec_method, buf, 2);
    ck_assert_int_eq(socks5_method_decode((const uint8_t *) "\x05\xff", 2,
        &m), 2);
    ck_assert_uint_eq(m, SOCKS5_METHOD_NONE_OK);
    ck_assert_int_eq(run_exact(dec_method, (const uint8_t *) "\x04\x00", 2),
        TP_ERROR);
    ck_assert_int_eq(run_exact(dec_method, (const uint8_t *) "\x01", 1),
        TP_ERROR);
    ck_assert_int_eq(socks5_method_encode(buf, 1, 0), TP_ERROR);
}
END_TEST


START_TEST(test_auth)
{
    struct socks5_auth  a, d;
    uint8_t             buf[SOCKS5_AUTH_MAX];

    memset(&a, 0, sizeof(a));
    strcpy(a.user, "u");
    strcpy(a.pass, "p");
    ck_assert_int_eq(socks5_auth_encode(buf, sizeof(buf), &a), 5);
    ck_assert_mem_eq(buf, "\x01\x01u\x01p", 5);
    check_message(dec_auth, buf, 5);
    check_short_buffers(enc_auth, &a, 5);

    /* 255-byte user and password. */
    memset(a.user, 'U', 255);
    memset(a.pass, 'P', 255);
    ck_assert_int_eq(socks5_auth_encode(buf, sizeof(buf), &a), 513);
    ck_assert_int_eq(SOCKS5_AUTH_MAX, 513);
    check_message(dec_auth, buf, 513);
    ck_assert_int_eq(socks5_auth_decode(buf, 513, &d), 513);
    ck_assert_str_eq(d.user, a.user);
    ck_assert_str_eq(d.pass, a.pass);

    /* Not terminated within 256 bytes: too long. */
    memset(a.user, 'U', sizeof(a.user));
    ck_assert_int_eq(socks5_auth_encode(buf, sizeof(buf), &a), TP_ERROR);

    /* Empty fields are representable (lenient both ways). */
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(socks5_auth_encode(buf, sizeof(buf), &a), 3);
    ck_assert_mem_eq(buf, "\x01\x00\x00", 3);
    ck_assert_int_eq(socks5_auth_decode(buf, 3, &d), 3);
    ck_assert_str_eq(d.user, "");

    ck_assert_int_eq(run_exact(dec_auth,
        (const uint8_t *) "\x05\x01u\x01p", 5), TP_ERROR);
    ck_assert_int_eq(run_exact(dec_auth,
        (const uint8_t *) "\x01\x02u\0\x01p", 6), TP_ERROR);
    ck_assert_int_eq(run_exact(dec_auth,
        (const uint8_t *) "\x01\x01u\x02p\0", 6), TP_ERROR);
}
END_TEST


START_TEST(test_auth_status)
{
    uint8_t  buf[SOCKS5_AUTH_STATUS_LEN], s;

    ck_assert_int_eq(socks5_auth_status_encode(buf, sizeof(buf), 0), 2);
    ck_assert_mem_eq(buf, "\x01\x00", 2);
    check_message(dec_auth_status, buf, 2);
    ck_assert_int_eq(socks5_auth_status_decode((const uint8_t *) "\x01\x01",
        2, &s), 2);
    ck_assert_uint_eq(s, 1);
    ck_assert_int_eq(run_exact(dec_auth_status,
        (const uint8_t *) "\x05\x00", 2), TP_ERROR);
}
END_TEST


START_TEST(test_request_vectors)
{
    static const uint8_t   v4[] = {
        0x05, 0x01, 0x00, 0x01, 1, 2, 3, 4, 0x00, 0x50
    };
    static const uint8_t   v6[] = {
        0x05, 0x01, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0x01, 0x01, 0xbb
    };
    static const uint8_t   dn[] = {
        0x05, 0x01, 0x00, 0x03, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.',
        'c', 'o', 'm', 0x01, 0xbb
    };
    static const uint8_t   udp[] = {
        0x05, 0x03, 0x00, 0x01, 0, 0, 0, 0, 0, 0
    };
    struct socks5_request  r, d;
    uint8_t                buf[SOCKS5_REQUEST_MAX];

    r.cmd = SOCKS5_CMD_CONNECT;
    tp_proxy_addr_from_hostport("1.2.3.4", 80, &r.addr);
    ck_assert_int_eq(socks5_request_encode(buf, sizeof(buf), &r), 10);
    ck_assert_mem_eq(buf, v4, sizeof(v4));
    check_message(dec_request, v4, sizeof(v4));
    check_short_buffers(enc_request, &r, 10);

    tp_proxy_addr_from_hostport("2001:db8::1", 443, &r.addr);
    ck_assert_int_eq(socks5_request_encode(buf, sizeof(buf), &r), 22);
    ck_assert_mem_eq(buf, v6, sizeof(v6));
    check_message(dec_request, v6, sizeof(v6));
    ck_assert_int_eq(socks5_request_decode(v6, sizeof(v6), &d), 22);
    ck_assert_uint_eq(d.cmd, SOCKS5_CMD_CONNECT);
    ck_assert(tp_proxy_addr_equal(&d.addr, &r.addr));

    tp_proxy_addr_from_hostport("example.com", 443, &r.addr);
    ck_assert_int_eq(socks5_request_encode(buf, sizeof(buf), &r), 18);
    ck_assert_mem_eq(buf, dn, sizeof(dn));
    check_message(dec_request, dn, sizeof(dn));
    ck_assert_int_eq(socks5_request_decode(dn, sizeof(dn), &d), 18);
    ck_assert_str_eq(d.addr.host, "example.com");
    check_short_buffers(enc_request, &r, 18);

    /* UDP ASSOCIATE with an unknown client address: all zeros. */
    memset(&r, 0, sizeof(r));
    r.cmd = SOCKS5_CMD_UDP_ASSOCIATE;
    r.addr.family = AF_INET;
    ck_assert_int_eq(socks5_request_encode(buf, sizeof(buf), &r), 10);
    ck_assert_mem_eq(buf, udp, sizeof(udp));

    r.cmd = SOCKS5_CMD_BIND;
    ck_assert_int_eq(socks5_request_encode(buf, sizeof(buf), &r), 10);
    ck_assert_int_eq(socks5_request_decode(buf, 10, &d), 10);
    ck_assert_uint_eq(d.cmd, SOCKS5_CMD_BIND);
}
END_TEST


START_TEST(test_request_domain_255)
{
    struct socks5_request  r, d;
    uint8_t                buf[SOCKS5_REQUEST_MAX];

    memset(&r, 0, sizeof(r));
    r.cmd = SOCKS5_CMD_CONNECT;
    r.addr.family = AF_UNSPEC;
    memset(r.addr.host, 'h', 255);
    r.addr.port = 1;
    ck_assert_int_eq(socks5_request_encode(buf, sizeof(buf), &r), 262);
    ck_assert_int_eq(SOCKS5_REQUEST_MAX, 262);
    check_message(dec_request, buf, 262);
    ck_assert_int_eq(socks5_request_decode(buf, 262, &d), 262);
    ck_assert(tp_proxy_addr_equal(&r.addr, &d.addr));
    check_short_buffers(enc_request, &r, 262);
}
END_TEST


START_TEST(test_request_malformed)
{
    struct socks5_request  r, d;
    uint8_t                buf[SOCKS5_REQUEST_MAX];
    const uint8_t         *p;

    /* Wrong VER: close without reply, even from the first byte. */
    p = (const uint8_t *) "\x04\x01\x00\x01\x01\x02\x03\x04\x00\x50";
    ck_assert_int_eq(run_exact(dec_request, p, 1), TP_ERROR);
    ck_assert_int_eq(run_exact(dec_request, p, 10), TP_ERROR);
    ck_assert_int_eq(socks5_request_error_rep(p, 10), -1);
    ck_assert_int_eq(socks5_request_error_rep(p, 0), -1);

    /* Unknown ATYP: "address type not supported". */
    p = (const uint8_t *) "\x05\x01\x00\x02\x01\x02\x03\x04\x00\x50";
    ck_assert_int_eq(run_exact(dec_request, p, 4), TP_ERROR);
    ck_assert_int_eq(socks5_request_error_rep(p, 10),
        SOCKS5_REP_ATYP_UNSUPPORTED);

    /* Empty or NUL-holding name: general failure. */
    p = (const uint8_t *) "\x05\x01\x00\x03\x00\x00\x50";
    ck_assert_int_eq(run_exact(dec_request, p, 7), TP_ERROR);
    ck_assert_int_eq(run_exact(dec_request, p, 5), TP_ERROR);
    ck_assert_int_eq(socks5_request_error_rep(p, 7),
        SOCKS5_REP_GENERAL_FAILURE);
    p = (const uint8_t *) "\x05\x01\x00\x03\x02\x61\x00\x00\x50";
    ck_assert_int_eq(run_exact(dec_request, p, 9), TP_ERROR);

    /* Unknown CMD decodes (the server answers 0x07); RSV is ignored. */
    p = (const uint8_t *) "\x05\x09\x7f\x01\x01\x02\x03\x04\x00\x50";
    ck_assert_int_eq(socks5_request_decode(p, 10, &d), 10);
    ck_assert_uint_eq(d.cmd, 9);

    /* Invalid addresses do not encode. */
    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(socks5_request_encode(buf, sizeof(buf), &r), TP_ERROR);
    r.addr.family = AF_UNIX;
    ck_assert_int_eq(socks5_request_encode(buf, sizeof(buf), &r), TP_ERROR);
    r.addr.family = AF_UNSPEC;
    memset(r.addr.host, 'x', sizeof(r.addr.host));
    ck_assert_int_eq(socks5_request_encode(buf, sizeof(buf), &r), TP_ERROR);
}
END_TEST


START_TEST(test_reply)
{
    static const uint8_t  ok[] = {
        0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0
    };
    struct socks5_reply   r, d;
    uint8_t               buf[SOCKS5_REPLY_MAX];
    const uint8_t        *p;

    memset(&r, 0, sizeof(r));
    r.addr.family = AF_INET;
    ck_assert_int_eq(socks5_reply_encode(buf, sizeof(buf), &r), 10);
    ck_assert_mem_eq(buf, ok, sizeof(ok));
    check_message(dec_reply, ok, sizeof(ok));
    check_short_buffers(enc_reply, &r, 10);

    r.rep = SOCKS5_REP_CONN_REFUSED;
    tp_proxy_addr_from_hostport("::1", 1080, &r.addr);
    ck_assert_int_eq(socks5_reply_encode(buf, sizeof(buf), &r), 22);
    check_message(dec_reply, buf, 22);
    ck_assert_int_eq(socks5_reply_decode(buf, 22, &d), 22);
    ck_assert_uint_eq(d.rep, SOCKS5_REP_CONN_REFUSED);
    ck_assert(tp_proxy_addr_equal(&d.addr, &r.addr));

    /* Domain replies exist; the length follows ATYP. */
    r.rep = SOCKS5_REP_SUCCEEDED;
    tp_proxy_addr_from_hostport("relay.example", 40000, &r.addr);
    ck_assert_int_eq(socks5_reply_encode(buf, sizeof(buf), &r), 7 + 13);
    check_message(dec_reply, buf, 20);
    ck_assert_int_eq(socks5_reply_decode(buf, 20, &d), 20);
    ck_assert_str_eq(d.addr.host, "relay.example");
    ck_assert_uint_eq(d.addr.port, 40000);

    /* RSV is ignored; VER and ATYP are not. */
    p = (const uint8_t *) "\x05\x00\x01\x01\x7f\x00\x00\x01\x04\x38";
    ck_assert_int_eq(socks5_reply_decode(p, 10, &d), 10);
    ck_assert_uint_eq(d.addr.port, 1080);
    ck_assert_int_eq(run_exact(dec_reply, (const uint8_t *) "\x00", 1),
        TP_ERROR);
    ck_assert_int_eq(run_exact(dec_reply,
        (const uint8_t *) "\x05\x00\x00\x05", 4), TP_ERROR);
    ck_assert_int_eq(run_exact(dec_reply, (const uint8_t *) "HTTP/1.1", 8),
        TP_ERROR);
}
END_TEST


START_TEST(test_udp_header)
{
    static const uint8_t      dgram[] = {
        0x00, 0x00, 0x00, 0x01, 8, 8, 8, 8, 0x00, 0x35, 'a', 'b', 'c'
    };
    struct socks5_udp_header  h, d;
    uint8_t                   buf[SOCKS5_UDP_HEADER_MAX];

    memset(&h, 0, sizeof(h));
    tp_proxy_addr_from_hostport("8.8.8.8", 53, &h.addr);
    ck_assert_int_eq(socks5_udp_encode(buf, sizeof(buf), &h), 10);
    ck_assert_mem_eq(buf, dgram, 10);
    check_message(dec_udp, dgram, 10);
    ck_assert_int_eq(socks5_udp_decode(dgram, sizeof(dgram), &d), 10);
    ck_assert_uint_eq(d.frag, 0);
    ck_assert_uint_eq(d.rsv, 0);
    ck_assert(tp_proxy_addr_equal(&d.addr, &h.addr));
    ck_assert_int_eq(socks5_udp_encode(buf, 9, &h), TP_ERROR);

    /* GOST stream form: RSV = length, FRAG = 0xff; both reported. */
    h.rsv = 3;
    h.frag = 0xff;
    tp_proxy_addr_from_hostport("2001:db8::53", 53, &h.addr);
    ck_assert_int_eq(socks5_udp_encode(buf, sizeof(buf), &h), 22);
    ck_assert_mem_eq(buf, "\x00\x03\xff\x04", 4);
    check_message(dec_udp, buf, 22);
    ck_assert_int_eq(socks5_udp_decode(buf, 22, &d), 22);
    ck_assert_uint_eq(d.rsv, 3);
    ck_assert_uint_eq(d.frag, 0xff);
    ck_assert(tp_proxy_addr_equal(&d.addr, &h.addr));

    memset(&h, 0, sizeof(h));
    h.addr.family = AF_UNSPEC;
    memset(h.addr.host, 'q', 255);
    ck_assert_int_eq(socks5_udp_encode(buf, sizeof(buf), &h), 262);
    check_message(dec_udp, buf, 262);

    ck_assert_int_eq(run_exact(dec_udp,
        (const uint8_t *) "\x00\x00\x00\x09", 4), TP_ERROR);
}
END_TEST


START_TEST(test_socks4_request)
{
    static const uint8_t   s4[] = {
        0x04, 0x01, 0x00, 0x50, 1, 2, 3, 4, 'b', 'o', 'b', 0x00
    };
    static const uint8_t   s4a[] = {
        0x04, 0x01, 0x01, 0xbb, 0, 0, 0, 1, 0x00,
        'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0x00
    };
    struct socks4_request  r, d;
    uint8_t                buf[SOCKS4_REQUEST_MAX];

    memset(&r, 0, sizeof(r));
    r.cmd = SOCKS4_CMD_CONNECT;
    tp_proxy_addr_from_hostport("1.2.3.4", 80, &r.addr);
    strcpy(r.userid, "bob");
    ck_assert_int_eq(socks4_request_encode(buf, sizeof(buf), &r), 12);
    ck_assert_mem_eq(buf, s4, sizeof(s4));
    check_message(dec_s4_request, s4, sizeof(s4));
    check_short_buffers(enc_s4_request, &r, 12);
    ck_assert_int_eq(socks4_request_decode(s4, sizeof(s4), &d), 12);
    ck_assert_uint_eq(d.cmd, SOCKS4_CMD_CONNECT);
    ck_assert(tp_proxy_addr_equal(&d.addr, &r.addr));
    ck_assert_str_eq(d.userid, "bob");

    memset(&r, 0, sizeof(r));
    r.cmd = SOCKS4_CMD_CONNECT;
    tp_proxy_addr_from_hostport("example.com", 443, &r.addr);
    ck_assert_int_eq(socks4_request_encode(buf, sizeof(buf), &r),
        (int) sizeof(s4a));
    ck_assert_mem_eq(buf, s4a, sizeof(s4a));
    check_message(dec_s4_request, s4a, sizeof(s4a));
    check_short_buffers(enc_s4_request, &r, sizeof(s4a));
    ck_assert_int_eq(socks4_request_decode(s4a, sizeof(s4a), &d),
        (int) sizeof(s4a));
    ck_assert(tp_proxy_addr_equal(&d.addr, &r.addr));
    ck_assert_str_eq(d.userid, "");

    /* Longest USERID and name. */
    memset(r.userid, 'u', 255);
    memset(r.addr.host, 'n', 255);
    ck_assert_int_eq(socks4_request_encode(buf, sizeof(buf), &r), 520);
    ck_assert_int_eq(SOCKS4_REQUEST_MAX, 520);
    check_message(dec_s4_request, buf, 520);
    ck_assert_int_eq(socks4_request_decode(buf, 520, &d), 520);
    ck_assert_str_eq(d.userid, r.userid);
    ck_assert_str_eq(d.addr.host, r.addr.host);
}
END_TEST


START_TEST(test_socks4_request_malformed)
{
    struct socks4_request  r;
    uint8_t                buf[SOCKS4_REQUEST_MAX + 8];

    memset(&r, 0, sizeof(r));
    r.cmd = SOCKS4_CMD_CONNECT;
    tp_proxy_addr_from_hostport("::1", 80, &r.addr);
    ck_assert_int_eq(socks4_request_encode(buf, sizeof(buf), &r), TP_ERROR);
    tp_proxy_addr_from_hostport("0.0.0.5", 80, &r.addr);
    ck_assert_int_eq(socks4_request_encode(buf, sizeof(buf), &r), TP_ERROR);
    tp_proxy_addr_from_hostport("0.0.0.0", 80, &r.addr);
    ck_assert_int_eq(socks4_request_encode(buf, sizeof(buf), &r), 9);
    memset(r.userid, 'u', sizeof(r.userid));
    ck_assert_int_eq(socks4_request_encode(buf, sizeof(buf), &r), TP_ERROR);

    ck_assert_int_eq(run_exact(dec_s4_request, (const uint8_t *) "\x05", 1),
        TP_ERROR);
    /* USERID with no NUL in 256 bytes. */
    memcpy(buf, "\x04\x01\x00\x50\x01\x02\x03\x04", 8);
    memset(buf + 8, 'u', 256);
    ck_assert_int_eq(run_exact(dec_s4_request, buf, 8 + 255), TP_AGAIN);
    ck_assert_int_eq(run_exact(dec_s4_request, buf, 8 + 256), TP_ERROR);
    /* SOCKS4a name with no NUL in 256 bytes, and an empty name. */
    memcpy(buf, "\x04\x01\x00\x50\x00\x00\x00\x01\x00", 9);
    memset(buf + 9, 'n', 256);
    ck_assert_int_eq(run_exact(dec_s4_request, buf, 9 + 255), TP_AGAIN);
    ck_assert_int_eq(run_exact(dec_s4_request, buf, 9 + 256), TP_ERROR);
    buf[9] = '\0';
    ck_assert_int_eq(run_exact(dec_s4_request, buf, 10), TP_ERROR);
}
END_TEST


START_TEST(test_socks4_reply)
{
    static const uint8_t  ok[] = { 0x00, 0x5a, 0, 0, 0, 0, 0, 0 };
    struct socks4_reply   r, d;
    uint8_t               buf[SOCKS4_REPLY_LEN];

    memset(&r, 0, sizeof(r));
    r.cd = SOCKS4_REP_GRANTED;
    r.addr.family = AF_INET;
    ck_assert_int_eq(socks4_reply_encode(buf, sizeof(buf), &r), 8);
    ck_assert_mem_eq(buf, ok, 8);
    check_message(dec_s4_reply, ok, 8);
    ck_assert_int_eq(socks4_reply_decode(ok, 8, &d), 8);
    ck_assert_uint_eq(d.cd, SOCKS4_REP_GRANTED);

    r.cd = SOCKS4_REP_REJECTED;
    tp_proxy_addr_from_hostport("10.0.0.1", 4000, &r.addr);
    ck_assert_int_eq(socks4_reply_encode(buf, sizeof(buf), &r), 8);
    ck_assert_int_eq(socks4_reply_decode(buf, 8, &d), 8);
    ck_assert(tp_proxy_addr_equal(&d.addr, &r.addr));
    ck_assert_uint_eq(d.cd, 0x5b);
    ck_assert_int_eq(socks4_reply_encode(buf, 7, &r), TP_ERROR);
    tp_proxy_addr_from_hostport("::1", 1, &r.addr);
    ck_assert_int_eq(socks4_reply_encode(buf, 8, &r), TP_ERROR);

    ck_assert_int_eq(run_exact(dec_s4_reply, (const uint8_t *) "\x04", 1),
        TP_ERROR);
    ck_assert_int_eq(run_exact(dec_s4_reply,
        (const uint8_t *) "\x05\x00\x00\x01", 4), TP_ERROR);
}
END_TEST


/* Random input: every decoder answers within contract, never crashes. */
START_TEST(test_random_input)
{
    static const decode_fn  fns[] = {
        dec_greeting, dec_method, dec_auth, dec_auth_status, dec_request,
        dec_reply, dec_udp, dec_s4_request, dec_s4_reply,
    };
    uint8_t                 buf[600];
    uint32_t                seed;
    size_t                  i, j, k, n;
    int                     rc;

    seed = 12345;
    for (i = 0; i < 20000; i++) {
        n = (i * 7) % sizeof(buf);
        for (j = 0; j < n; j++) {
            seed = seed * 1103515245 + 12345;
            buf[j] = (uint8_t) (seed >> 16);
        }
        if (n > 0) {
            buf[0] = (uint8_t) (i & 1 ? 5 : (i & 2 ? 4 : 1));
        }
        for (k = 0; k < nitems(fns); k++) {
            rc = run_exact(fns[k], buf, n);
            ck_assert(rc == TP_AGAIN || rc == TP_ERROR
                || (rc > 0 && (size_t) rc <= n));
        }
    }
}
END_TEST


Suite *
suite_socks5_wire(void)
{
    Suite  *s = suite_create("socks5_wire");
    TCase  *t5 = tcase_create("socks5");
    TCase  *t4 = tcase_create("socks4");
    TCase  *tr = tcase_create("random");

    tcase_add_test(t5, test_greeting);
    tcase_add_test(t5, test_method_choice);
    tcase_add_test(t5, test_auth);
    tcase_add_test(t5, test_auth_status);
    tcase_add_test(t5, test_request_vectors);
    tcase_add_test(t5, test_request_domain_255);
    tcase_add_test(t5, test_request_malformed);
    tcase_add_test(t5, test_reply);
    tcase_add_test(t5, test_udp_header);
    tcase_add_test(t4, test_socks4_request);
    tcase_add_test(t4, test_socks4_request_malformed);
    tcase_add_test(t4, test_socks4_reply);
    tcase_add_test(tr, test_random_input);
    tcase_set_timeout(tr, 60);
    suite_add_tcase(s, t5);
    suite_add_tcase(s, t4);
    suite_add_tcase(s, tr);
    return s;
}
