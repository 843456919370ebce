/*
 * test_relay_wire.c - unit tests for modules/relay_wire.c: the byte vectors
 * of relay-protocol.md (TCP CONNECT with auth, UDP CONNECT, UDP
 * association, BIND response, framed datagrams), round trips of every
 * feature, truncation -> TP_AGAIN, malformed TLVs -> TP_ERROR, and the
 * strict-request / lenient-response difference for unknown features.
 */
#include "../../src/tproxyd.h"

#include <check.h>
#include <stdlib.h>

#include "../../modules/proxy_addr.h"
#include "../../modules/relay_wire.h"

typedef int (*decode_fn)(const uint8_t *buf, size_t len);


static int
dec_request(const uint8_t *b, size_t n)
{
    struct relay_request  r;

    return relay_request_decode(b, n, &r);
}


static int
dec_response(const uint8_t *b, size_t n)
{
    struct relay_response  r;

    return relay_response_decode(b, n, &r);
}


static int
dec_udp(const uint8_t *b, size_t n)
{
    const uint8_t  *d;
    size_t          dl;

    return relay_udp_decode(b, n, &d, &dl);
}


static int
dec_udp_addr(const uint8_t *b, size_t n)
{
    struct tp_proxy_addr  a;
    const uint8_t        *d;
    size_t                dl;

    return relay_udp_addr_decode(b, n, &a, &d, &dl);
}


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


/* Every proper prefix is TP_AGAIN; the whole is consumed exactly. */
static void
check_message(decode_fn f, const uint8_t *msg, size_t n)
{
    uint8_t  *ext;
    size_t    i;

    for (i = 0; i < n; i++) {
        ck_assert_msg(run_exact(f, msg, i) == TP_AGAIN,
            "prefix %zu of %zu", i, n);
    }
    ck_assert_int_eq(run_exact(f, msg, n), (int) n);
    ext = malloc(n + 5);
    ck_assert_ptr_nonnull(ext);
    memcpy(ext, msg, n);
    memcpy(ext + n, "\x01\x02\x03\x04\x05", 5);
    ck_assert_int_eq(f(ext, n + 5), (int) n);
    free(ext);
}


START_TEST(test_connect_vector)
{
    static const uint8_t  v[] = {
        0x01, 0x01, 0x00, 0x19, 0x01, 0x00, 0x04, 0x01, 0x75, 0x01, 0x70,
        0x02, 0x00, 0x0f, 0x03, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c,
        0x65, 0x2e, 0x63, 0x6f, 0x6d, 0x01, 0xbb
    };
    struct relay_request  r, d;
    uint8_t               buf[RELAY_MSG_MAX];
    size_t                i;

    memset(&r, 0, sizeof(r));
    r.cmd = RELAY_CMD_CONNECT;
    r.f.present = RELAY_HAS_USERAUTH | RELAY_HAS_ADDR;
    strcpy(r.f.user, "u");
    strcpy(r.f.pass, "p");
    tp_proxy_addr_from_hostport("example.com", 443, &r.f.addr);
    ck_assert_int_eq(relay_request_encode(buf, sizeof(buf), &r),
        (int) sizeof(v));
    ck_assert_mem_eq(buf, v, sizeof(v));
    check_message(dec_request, v, sizeof(v));

    ck_assert_int_eq(relay_request_decode(v, sizeof(v), &d), (int) sizeof(v));
    ck_assert_uint_eq(d.cmd, RELAY_CMD_CONNECT);
    ck_assert_uint_eq(d.f.present, RELAY_HAS_USERAUTH | RELAY_HAS_ADDR);
    ck_assert_str_eq(d.f.user, "u");
    ck_assert_str_eq(d.f.pass, "p");
    ck_assert(tp_proxy_addr_equal(&d.f.addr, &r.f.addr));

    for (i = 0; i < sizeof(v); i++) {
        ck_assert_int_eq(relay_request_encode(buf, i, &r), TP_ERROR);
    }
}
END_TEST


START_TEST(test_udp_vectors)
{
    static const uint8_t  udp[] = {
        0x01, 0x81, 0x00, 0x0a, 0x02, 0x00, 0x07, 0x01, 0x08, 0x08, 0x08,
        0x08, 0x00, 0x35
    };
    static const uint8_t  assoc[] = {
        0x01, 0x82, 0x00, 0x0f, 0x04, 0x00, 0x02, 0x00, 0x01, 0x02, 0x00,
        0x07, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
    };
    struct relay_request  r, d;
    uint8_t               buf[RELAY_MSG_MAX];

    memset(&r, 0, sizeof(r));
    r.cmd = RELAY_CMD_CONNECT | RELAY_FLAG_UDP;
    r.f.present = RELAY_HAS_ADDR;
    tp_proxy_addr_from_hostport("8.8.8.8", 53, &r.f.addr);
    ck_assert_int_eq(relay_request_encode(buf, sizeof(buf), &r),
        (int) sizeof(udp));
    ck_assert_mem_eq(buf, udp, sizeof(udp));
    check_message(dec_request, udp, sizeof(udp));
    ck_assert_int_eq(relay_request_decode(udp, sizeof(udp), &d),
        (int) sizeof(udp));
    ck_assert_uint_eq(d.cmd & RELAY_CMD_MASK, RELAY_CMD_CONNECT);
    ck_assert_uint_eq(d.cmd & RELAY_FLAG_UDP, RELAY_FLAG_UDP);

    memset(&r, 0, sizeof(r));
    r.cmd = RELAY_CMD_BIND | RELAY_FLAG_UDP;
    r.f.present = RELAY_HAS_NETWORK | RELAY_HAS_ADDR;
    r.f.network = RELAY_NETWORK_UDP;
    r.f.addr.family = AF_INET;
    ck_assert_int_eq(relay_request_encode(buf, sizeof(buf), &r),
        (int) sizeof(assoc));
    ck_assert_mem_eq(buf, assoc, sizeof(assoc));
    check_message(dec_request, assoc, sizeof(assoc));
    ck_assert_int_eq(relay_request_decode(assoc, sizeof(assoc), &d),
        (int) sizeof(assoc));
    ck_assert_uint_eq(d.f.present, RELAY_HAS_NETWORK | RELAY_HAS_ADDR);
    ck_assert_uint_eq(d.f.network, RELAY_NETWORK_UDP);
    ck_assert(tp_proxy_addr_equal(&d.f.addr, &r.f.addr));
}
END_TEST


START_TEST(test_responses)
{
    static const uint8_t   bind[] = {
        0x01, 0x00, 0x00, 0x0a, 0x02, 0x00, 0x07, 0x01, 0x00, 0x00, 0x00,
        0x00, 0x9c, 0x40
    };
    struct relay_response  r, d;
    uint8_t                buf[RELAY_MSG_MAX];
    uint8_t                st;

    memset(&r, 0, sizeof(r));
    ck_assert_int_eq(relay_response_encode(buf, sizeof(buf), &r), 4);
    ck_assert_mem_eq(buf, "\x01\x00\x00\x00", 4);
    check_message(dec_response, buf, 4);
    ck_assert_int_eq(relay_response_encode(buf, 3, &r), TP_ERROR);

    for (st = RELAY_STATUS_OK; st <= RELAY_STATUS_INTERNAL; st++) {
        r.status = st;
        ck_assert_int_eq(relay_response_encode(buf, sizeof(buf), &r), 4);
        ck_assert_int_eq(relay_response_decode(buf, 4, &d), 4);
        ck_assert_uint_eq(d.status, st);
        ck_assert_uint_eq(d.f.present, 0);
    }

    r.status = RELAY_STATUS_OK;
    r.f.present = RELAY_HAS_ADDR;
    tp_proxy_addr_from_hostport("0.0.0.0", 40000, &r.f.addr);
    ck_assert_int_eq(relay_response_encode(buf, sizeof(buf), &r),
        (int) sizeof(bind));
    ck_assert_mem_eq(buf, bind, sizeof(bind));
    check_message(dec_response, bind, sizeof(bind));
    ck_assert_int_eq(relay_response_decode(bind, sizeof(bind), &d),
        (int) sizeof(bind));
    ck_assert_uint_eq(d.f.addr.port, 40000);

    /* Wrong version, from the first byte. */
    ck_assert_int_eq(run_exact(dec_response, (const uint8_t *) "\x05", 1),
        TP_ERROR);
    ck_assert_int_eq(run_exact(dec_response,
        (const uint8_t *) "\x00\x00\x00\x00", 4), TP_ERROR);
}
END_TEST


START_TEST(test_round_trip_all)
{
    static const int      fams[] = { AF_INET, AF_INET6, AF_UNSPEC };
    struct relay_request  r, d;
    uint8_t               buf[RELAY_MSG_MAX];
    size_t                i;
    int                   n;

    for (i = 0; i < nitems(fams); i++) {
        memset(&r, 0, sizeof(r));
        r.cmd = (uint8_t) (RELAY_CMD_BIND | RELAY_FLAG_UDP);
        r.f.present = RELAY_HAS_USERAUTH | RELAY_HAS_ADDR | RELAY_HAS_TUNNEL
                      | RELAY_HAS_NETWORK;
        memset(r.f.user, 'U', 255);
        memset(r.f.pass, 'P', 255);
        r.f.addr.family = fams[i];
        memset(r.f.addr.ip, 0xab, sizeof(r.f.addr.ip));
        if (fams[i] == AF_INET) {
            memset(r.f.addr.ip + 4, 0, 12);
        }
        if (fams[i] == AF_UNSPEC) {
            memset(r.f.addr.ip, 0, sizeof(r.f.addr.ip));
            memset(r.f.addr.host, 'h', 255);
        }
        r.f.addr.port = 65535;
        memset(r.f.tunnel.id, 0x5a, 16);
        r.f.tunnel.flag = RELAY_TUNNEL_PRIVATE;
        r.f.tunnel.rsv[1] = 7;
        r.f.tunnel.weight = 9;
        r.f.network = RELAY_NETWORK_SERIAL;

        n = relay_request_encode(buf, sizeof(buf), &r);
        ck_assert_int_gt(n, 0);
        check_message(dec_request, buf, (size_t) n);
        ck_assert_int_eq(relay_request_decode(buf, (size_t) n, &d), n);
        ck_assert_uint_eq(d.cmd, r.cmd);
        ck_assert_uint_eq(d.f.present, r.f.present);
        ck_assert_str_eq(d.f.user, r.f.user);
        ck_assert_str_eq(d.f.pass, r.f.pass);
        ck_assert(tp_proxy_addr_equal(&d.f.addr, &r.f.addr));
        ck_assert_mem_eq(&d.f.tunnel, &r.f.tunnel, sizeof(r.f.tunnel));
        ck_assert_uint_eq(d.f.network, RELAY_NETWORK_SERIAL);
    }
    /* The largest message fits RELAY_MSG_MAX. */
    ck_assert_int_le(n, RELAY_MSG_MAX);
}
END_TEST


START_TEST(test_encode_invalid)
{
    struct relay_request  r;
    uint8_t               buf[RELAY_MSG_MAX];

    memset(&r, 0, sizeof(r));
    r.cmd = RELAY_CMD_CONNECT;
    ck_assert_int_eq(relay_request_encode(buf, sizeof(buf), &r), 4);

    r.f.present = RELAY_HAS_ADDR;           /* AF_UNSPEC, empty name */
    ck_assert_int_eq(relay_request_encode(buf, sizeof(buf), &r), TP_ERROR);
    r.f.addr.family = AF_UNIX;
    ck_assert_int_eq(relay_request_encode(buf, sizeof(buf), &r), TP_ERROR);

    r.f.present = RELAY_HAS_USERAUTH;
    memset(r.f.user, 'x', sizeof(r.f.user));   /* unterminated: > 255 */
    ck_assert_int_eq(relay_request_encode(buf, sizeof(buf), &r), TP_ERROR);
    r.f.user[0] = '\0';
    ck_assert_int_eq(relay_request_encode(buf, sizeof(buf), &r), 9);
    ck_assert_mem_eq(buf, "\x01\x01\x00\x05\x01\x00\x02\x00\x00", 9);
}
END_TEST


START_TEST(test_decode_malformed)
{
    struct relay_request   r;
    struct relay_response  s;
    const struct {
        const char  *b;
        size_t       n;
    } bad[] = {
        { "\x02\x01\x00\x00", 4 },                      /* version */
        { "\x01\x01\x00\x02\x01\x00", 6 },              /* TLV header cut */
        { "\x01\x01\x00\x04\x01\x00\x02\x00", 8 },      /* TLV overruns */
        { "\x01\x01\x00\x04\x01\x00\x01\x00", 8 },      /* userauth < 2 */
        { "\x01\x01\x00\x05\x01\x00\x02\x05\x00", 9 },  /* ulen overrun */
        { "\x01\x01\x00\x06\x01\x00\x03\x01u\x01", 10 },/* plen overrun */
        { "\x01\x01\x00\x07\x01\x00\x04\x01\0\x01p", 11 }, /* NUL user */
        { "\x01\x01\x00\x06\x02\x00\x03\x01\x00\x00", 10 }, /* addr < 4 */
        { "\x01\x01\x00\x07\x02\x00\x04\x05\x00\x00\x00", 11 }, /* ATYP */
        { "\x01\x01\x00\x07\x02\x00\x04\x01\x00\x00\x00", 11 }, /* v4 cut */
        { "\x01\x01\x00\x07\x02\x00\x04\x03\x02\x61\x00", 11 }, /* dn cut */
        { "\x01\x01\x00\x04\x04\x00\x01\x00", 8 },      /* network < 2 */
        { "\x01\x01\x00\x12\x03\x00\x0f" "0123456789abcde", 22 }, /* tun */
    };
    size_t                 i;

    for (i = 0; i < nitems(bad); i++) {
        ck_assert_msg(run_exact(dec_request, (const uint8_t *) bad[i].b,
            bad[i].n) == TP_ERROR, "request %zu", i);
        ck_assert_msg(run_exact(dec_response, (const uint8_t *) bad[i].b,
            bad[i].n) == TP_ERROR, "response %zu", i);
    }
    ck_assert_int_eq(relay_request_decode((const uint8_t *) bad[4].b,
        bad[4].n, &r), TP_ERROR);
    ck_assert_uint_eq(r.f.present, 0);
    ck_assert_int_eq(relay_response_decode((const uint8_t *) bad[4].b,
        bad[4].n, &s), TP_ERROR);
}
END_TEST


START_TEST(test_decode_lenient)
{
    static const uint8_t   unknown[] = {
        0x01, 0x00, 0x00, 0x0d, 0x09, 0x00, 0x02, 0xaa, 0xbb,
        0x04, 0x00, 0x02, 0x00, 0x01, 0x05, 0x00, 0x00
    };
    static const uint8_t   extra[] = {     /* bytes inside TLVs ignored */
        0x01, 0x01, 0x00, 0x0e, 0x04, 0x00, 0x03, 0x00, 0x01, 0xff,
        0x01, 0x00, 0x05, 0x01, 'u', 0x01, 'p', 0xee
    };
    static const uint8_t   empty_dn[] = {  /* GOST accepts 03 00 PORT */
        0x01, 0x01, 0x00, 0x07, 0x02, 0x00, 0x04, 0x03, 0x00, 0x00, 0x50
    };
    static const uint8_t   twice[] = {     /* the later one wins */
        0x01, 0x01, 0x00, 0x0a, 0x04, 0x00, 0x02, 0x00, 0x01,
        0x04, 0x00, 0x02, 0x00, 0x10
    };
    static const uint8_t   tun16[] = {
        0x01, 0x01, 0x00, 0x13, 0x03, 0x00, 0x10,
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    };
    struct relay_request   r;
    struct relay_response  s;

    /* Unknown feature: fatal for a request, skipped in a response. */
    ck_assert_int_eq(run_exact(dec_request, unknown, sizeof(unknown)),
        TP_ERROR);
    check_message(dec_response, unknown, sizeof(unknown));
    ck_assert_int_eq(relay_response_decode(unknown, sizeof(unknown), &s),
        (int) sizeof(unknown));
    ck_assert_uint_eq(s.f.present, RELAY_HAS_NETWORK);
    ck_assert_uint_eq(s.f.network, RELAY_NETWORK_UDP);

    check_message(dec_request, extra, sizeof(extra));
    ck_assert_int_eq(relay_request_decode(extra, sizeof(extra), &r),
        (int) sizeof(extra));
    ck_assert_uint_eq(r.f.network, RELAY_NETWORK_UDP);
    ck_assert_str_eq(r.f.user, "u");
    ck_assert_str_eq(r.f.pass, "p");

    check_message(dec_request, empty_dn, sizeof(empty_dn));
    ck_assert_int_eq(relay_request_decode(empty_dn, sizeof(empty_dn), &r),
        (int) sizeof(empty_dn));
    ck_assert_uint_eq(r.f.present, RELAY_HAS_ADDR);
    ck_assert_int_eq(r.f.addr.family, AF_UNSPEC);
    ck_assert_str_eq(r.f.addr.host, "");
    ck_assert_uint_eq(r.f.addr.port, 80);
    ck_assert(!tp_proxy_addr_valid(&r.f.addr));

    ck_assert_int_eq(relay_request_decode(twice, sizeof(twice), &r),
        (int) sizeof(twice));
    ck_assert_uint_eq(r.f.network, RELAY_NETWORK_UNIX);

    /* 16-byte tunnel (older GOST) reads with zero flag/weight. */
    ck_assert_int_eq(relay_request_decode(tun16, sizeof(tun16), &r),
        (int) sizeof(tun16));
    ck_assert_uint_eq(r.f.present, RELAY_HAS_TUNNEL);
    ck_assert_uint_eq(r.f.tunnel.id[15], 16);
    ck_assert_uint_eq(r.f.tunnel.flag, 0);
    ck_assert_uint_eq(r.f.tunnel.weight, 0);

    /* FEALEN 0 with payload after it. */
    ck_assert_int_eq(relay_request_decode((const uint8_t *) "\x01\x01\x00"
        "\x00GET", 7, &r), 4);
    ck_assert_uint_eq(r.f.present, 0);
}
END_TEST


START_TEST(test_udp_frame)
{
    static uint8_t   big[2 + RELAY_UDP_MAX + 2];
    static uint8_t   payload[RELAY_UDP_MAX + 1];
    uint8_t          buf[16];
    const uint8_t   *d;
    size_t           dl;

    ck_assert_int_eq(relay_udp_encode(buf, sizeof(buf),
        (const uint8_t *) "abc", 3), 5);
    ck_assert_mem_eq(buf, "\x00\x03" "abc", 5);
    check_message(dec_udp, buf, 5);
    ck_assert_int_eq(relay_udp_decode(buf, 5, &d, &dl), 5);
    ck_assert_ptr_eq(d, buf + 2);
    ck_assert_uint_eq(dl, 3);
    ck_assert_int_eq(relay_udp_encode(buf, 4, (const uint8_t *) "abc", 3),
        TP_ERROR);

    /* Zero-length datagrams are representable in this framing. */
    ck_assert_int_eq(relay_udp_encode(buf, sizeof(buf), NULL, 0), 2);
    check_message(dec_udp, buf, 2);
    ck_assert_int_eq(relay_udp_decode(buf, 2, &d, &dl), 2);
    ck_assert_uint_eq(dl, 0);

    /* Header only, for a payload the caller sends itself. */
    ck_assert_int_eq(relay_udp_encode(buf, 2, NULL, 1000), 2);
    ck_assert_mem_eq(buf, "\x03\xe8", 2);

    ck_assert_int_eq(relay_udp_encode(big, sizeof(big), payload,
        RELAY_UDP_MAX), 2 + RELAY_UDP_MAX);
    ck_assert_mem_eq(big, "\xff\xff", 2);
    ck_assert_int_eq(run_exact(dec_udp, big, 2 + RELAY_UDP_MAX - 1),
        TP_AGAIN);
    ck_assert_int_eq(run_exact(dec_udp, big, 2 + RELAY_UDP_MAX),
        2 + RELAY_UDP_MAX);
    ck_assert_int_eq(relay_udp_encode(big, sizeof(big), payload,
        RELAY_UDP_MAX + 1), TP_ERROR);
}
END_TEST


START_TEST(test_udp_addr_frame)
{
    static const uint8_t  v[] = {
        0x00, 0x03, 0xff, 0x01, 0x08, 0x08, 0x08, 0x08, 0x00, 0x35,
        'a', 'b', 'c'
    };
    struct tp_proxy_addr  a, b;
    uint8_t               buf[RELAY_UDP_ADDR_HEADER_MAX + 16];
    const uint8_t        *d;
    size_t                dl, i;

    tp_proxy_addr_from_hostport("8.8.8.8", 53, &a);
    ck_assert_int_eq(relay_udp_addr_encode(buf, sizeof(buf), &a,
        (const uint8_t *) "abc", 3), 13);
    ck_assert_mem_eq(buf, v, sizeof(v));
    check_message(dec_udp_addr, v, sizeof(v));
    ck_assert_int_eq(relay_udp_addr_decode(v, sizeof(v), &b, &d, &dl), 13);
    ck_assert(tp_proxy_addr_equal(&a, &b));
    ck_assert_ptr_eq(d, v + 10);
    ck_assert_uint_eq(dl, 3);
    for (i = 0; i < sizeof(v); i++) {
        ck_assert_int_eq(relay_udp_addr_encode(buf, i, &a,
            (const uint8_t *) "abc", 3), TP_ERROR);
    }

    /* Header only; IPv6 and 255-byte names. */
    ck_assert_int_eq(relay_udp_addr_encode(buf, sizeof(buf), &a, NULL, 3),
        10);
    tp_proxy_addr_from_hostport("2001:db8::53", 5353, &a);
    ck_assert_int_eq(relay_udp_addr_encode(buf, sizeof(buf), &a,
        (const uint8_t *) "xy", 2), 24);
    check_message(dec_udp_addr, buf, 24);
    memset(&a, 0, sizeof(a));
    memset(a.host, 'n', 255);
    ck_assert_int_eq(relay_udp_addr_encode(buf, sizeof(buf), &a,
        (const uint8_t *) "z", 1), 3 + 259 + 1);
    ck_assert_int_eq(RELAY_UDP_ADDR_HEADER_MAX, 3 + 259);
    check_message(dec_udp_addr, buf, 263);
    ck_assert_int_eq(relay_udp_addr_decode(buf, 263, &b, &d, &dl), 263);
    ck_assert(tp_proxy_addr_equal(&a, &b));

    /* LEN 0 cannot be framed; FRAG is not checked; bad ATYP is fatal. */
    tp_proxy_addr_from_hostport("8.8.8.8", 53, &a);
    ck_assert_int_eq(relay_udp_addr_encode(buf, sizeof(buf), &a, NULL, 0),
        TP_ERROR);
    ck_assert_int_eq(run_exact(dec_udp_addr,
        (const uint8_t *) "\x00\x00", 2), TP_ERROR);
    ck_assert_int_eq(run_exact(dec_udp_addr,
        (const uint8_t *) "\x00\x01\x00\x01\x01\x02\x03\x04\x00\x01z", 11),
        11);
    ck_assert_int_eq(run_exact(dec_udp_addr,
        (const uint8_t *) "\x00\x01\xff\x07", 4), TP_ERROR);
    memset(&a, 0, sizeof(a));
    ck_assert_int_eq(relay_udp_addr_encode(buf, sizeof(buf), &a,
        (const uint8_t *) "z", 1), TP_ERROR);
}
END_TEST


/* Random input: every decoder answers within contract, never crashes. */
START_TEST(test_random_input)
{
    static const decode_fn  fns[] = {
        dec_request, dec_response, dec_udp, dec_udp_addr,
    };
    uint8_t                 buf[200];
    uint32_t                seed;
    size_t                  i, j, k, n;
    int                     rc;

    seed = 7;
    for (i = 0; i < 30000; i++) {
        n = (i * 11) % sizeof(buf);
        for (j = 0; j < n; j++) {
            seed = seed * 1103515245 + 12345;
            buf[j] = (uint8_t) ((seed >> 16) % 8);
        }
        if (n > 3) {
            buf[0] = 1;
            buf[2] = 0;
            buf[3] = (uint8_t) (n - 4 - (i % 3));
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
suite_relay_wire(void)
{
    Suite  *s = suite_create("relay_wire");
    TCase  *tm = tcase_create("messages");
    TCase  *tu = tcase_create("udp");
    TCase  *tr = tcase_create("random");

    tcase_add_test(tm, test_connect_vector);
    tcase_add_test(tm, test_udp_vectors);
    tcase_add_test(tm, test_responses);
    tcase_add_test(tm, test_round_trip_all);
    tcase_add_test(tm, test_encode_invalid);
    tcase_add_test(tm, test_decode_malformed);
    tcase_add_test(tm, test_decode_lenient);
    tcase_add_test(tu, test_udp_frame);
    tcase_add_test(tu, test_udp_addr_frame);
    tcase_add_test(tr, test_random_input);
    tcase_set_timeout(tr, 60);
    suite_add_tcase(s, tm);
    suite_add_tcase(s, tu);
    suite_add_tcase(s, tr);
    return s;
}
