/*
 * test_sniff_tls.c - unit tests for the TLS ClientHello SNI sniffer and the
 * shared host-name rule (modules/sniff_tls.c): the spec §2.6 vector, record
 * splits, partial delivery, corrupted lengths, large post-quantum hellos,
 * ECH and IP-literal SNI. Real openssl s_client hellos live in t/unit/data/.
 */
#include "../../src/tproxyd.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../modules/sniff_wire.h"

/* Spec §2.6: RFC 9001 A.2's ClientHello in one record, SNI example.com. */
static const char spec_hello_hex[] =
    "16030100f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e8"
    "6804fe3a47f06a2b69484c00000413011302010000c000000010000e00000b65"
    "78616d706c652e636f6dff01000100000a00080006001d001700180010000700"
    "0504616c706e000500050100000000003300260024001d00209370b2c9caa47f"
    "babaf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b0003020304"
    "000d0010000e0403050306030203080408050806002d00020101001c00024001"
    "003900320408ffffffffffffffff05048000ffff07048000ffff080110010480"
    "0075300901100f088394c8f03e51570806048000ffff";

/* openssl s_client (OpenSSL 3.0) -servername foo.example, captured on lo. */
static const char openssl_sni_hex[] =
    "1603010138010001340303c686bafbdc5132b5fe51098861cc615835bacde6d2"
    "61769653a3e0ea6cbb31a7204ac013b3df309c4d62ea4a12f52af931c520daa3"
    "325dcdef303f153a54dbfd92003e130213031301c02cc030009fcca9cca8ccaa"
    "c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d"
    "009c003d003c0035002f00ff010000ad00000010000e00000b666f6f2e657861"
    "6d706c65000b000403000102000a00160014001d0017001e0019001801000101"
    "010201030104002300000016000000170000000d002a00280403050306030807"
    "08080809080a080b080408050806040105010601030303010302040205020602"
    "002b0009080304030303020301002d00020101003300260024001d0020f7c124"
    "6e1f517b31d95c2f2d8db70a474147e3a91285efb7296c3a621ace0d56";

/* The same client with -noservername. */
static const char openssl_nosni_hex[] =
    "1603010124010001200303a42afdbe141db02e08b2d93696dcfe4f876886195e"
    "4e7267dd11fa2a1fcd29142026bafa380fb1e2762bf1662c1885d0ecf005a66b"
    "f8c9fbb36d078c5d62f34420003e130213031301c02cc030009fcca9cca8ccaa"
    "c02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d"
    "009c003d003c0035002f00ff01000099000b000403000102000a00160014001d"
    "0017001e0019001801000101010201030104002300000016000000170000000d"
    "002a0028040305030603080708080809080a080b080408050806040105010601"
    "030303010302040205020602002b0009080304030303020301002d0002010100"
    "3300260024001d00208003d3e07fde854e99db014fd1208dd370645923988f01"
    "ddf8db8cc888075b02";

/* The same client with -tls1_2 (TLS 1.2 hello, no key_share). */
static const char openssl_tls12_hex[] =
    "16030100cb010000c7030349d1a4218b57cc2b108e826907f7a687149d2940bd"
    "e66e7ceb6405686faebd37000038c02cc030009fcca9cca8ccaac02bc02f009e"
    "c024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c"
    "0035002f00ff0100006600000010000e00000b666f6f2e6578616d706c65000b"
    "000403000102000a000c000a001d0017001e0019001800230000001600000017"
    "0000000d002a0028040305030603080708080809080a080b0804080508060401"
    "05010601030303010302040205020602";

/* Every length field of the spec vector: record offset and width. */
static const struct {
    const char  *name;
    size_t       off;
    size_t       width;
} spec_lengths[] = {
    { "record", 3, 2 }, { "handshake", 6, 3 }, { "session_id", 43, 1 },
    { "cipher_suites", 44, 2 }, { "compression", 50, 1 },
    { "extensions", 52, 2 }, { "ext server_name", 56, 2 },
    { "server_name_list", 58, 2 }, { "host_name", 61, 2 },
    { "ext ff01", 76, 2 }, { "ext 000a", 81, 2 }, { "ext 0010", 93, 2 },
    { "ext 0005", 104, 2 }, { "ext 0033", 113, 2 }, { "ext 002b", 155, 2 },
    { "ext 000d", 162, 2 }, { "ext 002d", 182, 2 }, { "ext 001c", 188, 2 },
    { "ext 0039", 194, 2 },
};

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t          n = 0;
    unsigned int    b;

    while (hex[0] != '\0' && hex[1] != '\0' && n < cap) {
        if (sscanf(hex, "%2x", &b) != 1) {
            break;
        }
        out[n++] = (uint8_t) b;
        hex += 2;
    }
    return n;
}

static size_t
put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
    return 2;
}

/*
 * A TLS 1.3 ClientHello handshake message (no record layer) with an SNI
 * (if sni != NULL), key shares for X25519MLKEM768 (ks_len bytes) and X25519,
 * 160 bytes of padding and, optionally, an ECH extension. Returns its
 * length (1538 for ks_len 1216 and a 15-byte name, without ECH).
 */
static size_t
build_hello(uint8_t *out, const char *sni, size_t ks_len, bool ech)
{
    size_t  n = 4, ext, sl = sni != NULL ? strlen(sni) : 0, i;

    n += put16(out + n, 0x0303);
    memset(out + n, 0x5a, 32 + 1 + 32);
    out[n + 32] = 32;
    n += 32 + 1 + 32;
    n += put16(out + n, 4);
    n += put16(out + n, 0x1301);
    n += put16(out + n, 0x1302);
    out[n++] = 1;
    out[n++] = 0;
    ext = n;
    n += 2;
    if (sni != NULL) {
        n += put16(out + n, 0);
        n += put16(out + n, sl + 5);
        n += put16(out + n, sl + 3);
        out[n++] = 0;
        n += put16(out + n, sl);
        memcpy(out + n, sni, sl);
        n += sl;
    }
    n += put16(out + n, 43);
    n += put16(out + n, 3);
    out[n++] = 2;
    n += put16(out + n, 0x0304);
    n += put16(out + n, 51);
    n += put16(out + n, ks_len + 6 + 36);
    n += put16(out + n, ks_len + 4 + 36);
    n += put16(out + n, 0x11ec);
    n += put16(out + n, ks_len);
    for (i = 0; i < ks_len; i++) {
        out[n++] = (uint8_t) (i * 7);
    }
    n += put16(out + n, 0x001d);
    n += put16(out + n, 32);
    memset(out + n, 0x25, 32);
    n += 32;
    n += put16(out + n, 21);        /* padding, as browsers send */
    n += put16(out + n, 160);
    memset(out + n, 0, 160);
    n += 160;
    if (ech) {
        n += put16(out + n, 0xfe0d);
        n += put16(out + n, 40);
        out[n++] = 0;               /* outer */
        memset(out + n, 0xec, 39);
        n += 39;
    }
    put16(out + ext, n - ext - 2);
    out[0] = 1;
    out[1] = (uint8_t) ((n - 4) >> 16);
    out[2] = (uint8_t) ((n - 4) >> 8);
    out[3] = (uint8_t) (n - 4);
    return n;
}

/* Wrap a handshake message in records of at most rec bytes each. */
static size_t
wrap_records(const uint8_t *hs, size_t len, size_t rec, uint8_t *out)
{
    size_t  n = 0, off = 0, k;

    while (off < len) {
        k = len - off < rec ? len - off : rec;
        out[n++] = 0x16;
        out[n++] = 0x03;
        out[n++] = 0x01;
        n += put16(out + n, k);
        memcpy(out + n, hs + off, k);
        n += k;
        off += k;
    }
    return n;
}

/* The spec vector re-framed as two records split at handshake offset 62. */
static size_t
spec_split(uint8_t *out)
{
    uint8_t     v[512];
    size_t      n = unhex(spec_hello_hex, v, sizeof(v)), m = 0;

    out[m++] = 0x16;
    out[m++] = 0x03;
    out[m++] = 0x01;
    m += put16(out + m, 62);
    memcpy(out + m, v + 5, 62);
    m += 62;
    out[m++] = 0x16;
    out[m++] = 0x03;
    out[m++] = 0x03;
    m += put16(out + m, n - 5 - 62);
    memcpy(out + m, v + 5 + 62, n - 5 - 62);
    return m + n - 5 - 62;
}

/* Every strict prefix must ask for more; the whole gives example.com. */
static void
check_prefixes(const uint8_t *buf, size_t len, const char *host)
{
    struct tp_sniff_result  r;
    size_t                  i;

    for (i = 0; i < len; i++) {
        ck_assert_msg(sniff_tls(buf, i, &r) == TP_SNIFF_AGAIN,
            "prefix %zu of %zu", i, len);
    }
    ck_assert_int_eq(sniff_tls(buf, len, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, host);
    ck_assert_str_eq(r.proto, "tls");
}

START_TEST(test_spec_vector)
{
    uint8_t                 v[512];
    size_t                  n = unhex(spec_hello_hex, v, sizeof(v));
    struct tp_sniff_result  r;

    ck_assert_uint_eq(n, 246);
    ck_assert_int_eq(sniff_tls(v, n, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.proto, "tls");
    ck_assert_str_eq(r.host, "example.com");
    ck_assert_uint_eq(r.port, 0);
    ck_assert_uint_eq(r.ech, 0);
    /* The same message without record layer, as QUIC carries it. */
    ck_assert_int_eq(sniff_tls_client_hello(v + 5, n - 5, &r),
        TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "example.com");
}
END_TEST

START_TEST(test_split_records_at_62)
{
    uint8_t                 buf[600];
    size_t                  n = spec_split(buf);
    struct tp_sniff_result  r;

    ck_assert_uint_eq(n, 251);
    ck_assert_int_eq(sniff_tls(buf, n, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "example.com");
}
END_TEST

START_TEST(test_byte_at_a_time)
{
    uint8_t     v[512], s[600];
    size_t      n = unhex(spec_hello_hex, v, sizeof(v)), m = spec_split(s);

    check_prefixes(v, n, "example.com");
    check_prefixes(s, m, "example.com");
}
END_TEST

/* Truncation at every offset of every shape: AGAIN or NONE, never a crash. */
START_TEST(test_truncation_never_crashes)
{
    static uint8_t          hs[4096], rec[8192];
    struct tp_sniff_result  r;
    size_t                  n, m, i;
    enum tp_sniff_rc        rc;

    n = build_hello(hs, "www.example.org", 1216, true);
    m = wrap_records(hs, n, 300, rec);
    for (i = 0; i < m; i++) {
        rc = sniff_tls(rec, i, &r);
        ck_assert_int_eq(rc, TP_SNIFF_AGAIN);
    }
    for (i = 0; i < n; i++) {
        rc = sniff_tls_client_hello(hs, i, &r);
        ck_assert_int_eq(rc, TP_SNIFF_AGAIN);
    }
    /* Truncated inner lengths: the handshake header claims the full size. */
    for (i = 4; i < n; i++) {
        uint8_t *c = malloc(n);

        memcpy(c, hs, n);
        c[1] = (uint8_t) ((i - 4) >> 16);
        c[2] = (uint8_t) ((i - 4) >> 8);
        c[3] = (uint8_t) (i - 4);
        rc = sniff_tls_client_hello(c, i, &r);
        ck_assert_int_eq(rc, TP_SNIFF_NONE);
        free(c);
    }
}
END_TEST

START_TEST(test_corrupt_lengths)
{
    static const unsigned   values[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x100,
                                         0x3fff, 0x4000, 0x4001, 0xffff,
                                         0xffffff };
    uint8_t                 v[512], c[512];
    size_t                  n = unhex(spec_hello_hex, v, sizeof(v)), f, k;
    size_t                  off, w, orig, b;
    struct tp_sniff_result  r;
    enum tp_sniff_rc        rc;

    for (f = 0; f < nitems(spec_lengths); f++) {
        off = spec_lengths[f].off;
        w = spec_lengths[f].width;
        for (orig = 0, b = 0; b < w; b++) {
            orig = orig << 8 | v[off + b];
        }
        for (k = 0; k < nitems(values) + 2; k++) {
            size_t val = k < nitems(values) ? values[k]
                : k == nitems(values) ? orig + 1 : orig - 1;

            if (val == orig || (w < 3 && val >> (8 * w)) != 0) {
                continue;
            }
            memcpy(c, v, n);
            for (b = 0; b < w; b++) {
                c[off + b] = (uint8_t) (val >> (8 * (w - 1 - b)));
            }
            rc = sniff_tls(c, n, &r);
            if (f == 0 && val > orig && val <= 16384) {
                /* The message is whole although the record claims more. */
                ck_assert_int_eq(rc, TP_SNIFF_FOUND);
                ck_assert_str_eq(r.host, "example.com");
            } else if (f >= 2) {
                /*
                 * After server_name, shrinking a length to the size of a
                 * nested well-formed block can leave a consistent hello.
                 * Never may another host come out.
                 */
                ck_assert_msg((rc == TP_SNIFF_NONE && r.host[0] == '\0')
                    || (f > 8 && rc == TP_SNIFF_FOUND
                        && strcmp(r.host, "example.com") == 0),
                    "%s = %zu gave %d", spec_lengths[f].name, val, rc);
            } else {
                ck_assert_msg(rc == TP_SNIFF_NONE || rc == TP_SNIFF_AGAIN,
                    "%s = %zu gave %d", spec_lengths[f].name, val, rc);
            }
        }
    }
}
END_TEST

START_TEST(test_large_pq_hello)
{
    static uint8_t          hs[4096], rec[8192];
    struct tp_sniff_result  r;
    size_t                  n, m;

    n = build_hello(hs, "www.example.org", 1216, false);
    ck_assert_uint_eq(n, 1538);
    m = wrap_records(hs, n, 16384, rec);
    /* The first 1448-byte TCP segment is not enough. */
    ck_assert_int_eq(sniff_tls(rec, 1448, &r), TP_SNIFF_AGAIN);
    ck_assert_str_eq(r.proto, "tls");
    ck_assert_int_eq(sniff_tls(rec, m, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "www.example.org");
    /* The same hello in 512-byte records, delivered in 3 segments. */
    m = wrap_records(hs, n, 512, rec);
    ck_assert_int_eq(sniff_tls(rec, 700, &r), TP_SNIFF_AGAIN);
    ck_assert_int_eq(sniff_tls(rec, 1448, &r), TP_SNIFF_AGAIN);
    ck_assert_int_eq(sniff_tls(rec, m, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "www.example.org");
    ck_assert_int_eq(sniff_tls_client_hello(hs, n, &r), TP_SNIFF_FOUND);
}
END_TEST

START_TEST(test_ech_flag)
{
    uint8_t                 hs[2048], rec[2100];
    struct tp_sniff_result  r;
    size_t                  n;

    n = build_hello(hs, "public.example.net", 32, true);
    n = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "public.example.net");
    ck_assert_uint_eq(r.ech, 1);
    n = build_hello(hs, "public.example.net", 32, false);
    n = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_FOUND);
    ck_assert_uint_eq(r.ech, 0);
    /* ECH without SNI: no host, but the flag is still reported. */
    n = build_hello(hs, NULL, 32, true);
    n = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_NONE);
    ck_assert_uint_eq(r.ech, 1);
    ck_assert_str_eq(r.proto, "tls");
}
END_TEST

START_TEST(test_ip_literal_sni)
{
    static const char *const ips[] = { "192.0.2.1", "127.1", "10.0.0.1.",
                                       "0x7f.1", "2001:db8::1", "[::1]",
                                       "4294967295" };
    uint8_t                 hs[2048], rec[2100];
    struct tp_sniff_result  r;
    size_t                  i, n;

    for (i = 0; i < nitems(ips); i++) {
        n = build_hello(hs, ips[i], 32, false);
        n = wrap_records(hs, n, 16384, rec);
        ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_NONE);
        ck_assert_str_eq(r.host, "");
        ck_assert_str_eq(r.proto, "tls");
    }
    /* Digits are fine in other labels. */
    n = build_hello(hs, "1.2.3.4.nip.io", 32, false);
    n = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "1.2.3.4.nip.io");
}
END_TEST

START_TEST(test_sni_normalised_and_invalid)
{
    static const char *const bad[] = { "a..b", ".a", "a b", "bad\x01.com",
                                       "caf\xc3\xa9.fr", "..", "." };
    uint8_t                 hs[2048], rec[2100], big[300];
    struct tp_sniff_result  r;
    size_t                  i, n;

    n = build_hello(hs, "WWW.Example.COM.", 32, false);
    n = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "www.example.com");
    for (i = 0; i < nitems(bad); i++) {
        n = build_hello(hs, bad[i], 32, false);
        n = wrap_records(hs, n, 16384, rec);
        ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_NONE);
        ck_assert_str_eq(r.host, "");
    }
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    n = build_hello(hs, (char *) big, 32, false);
    n = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_NONE);
}
END_TEST

START_TEST(test_no_sni_and_not_tls)
{
    static const char   http[] = "GET / HTTP/1.1\r\n";
    uint8_t             hs[2048], rec[2100];
    uint8_t             bad[][6] = { { 0x17, 3, 3, 0, 1, 0 },
                                     { 0x16, 2, 0, 0, 1, 1 },
                                     { 0x16, 3, 5, 0, 1, 1 },
                                     { 0x16, 3, 1, 0, 0, 1 },
                                     { 0x16, 3, 1, 0x40, 1, 1 },
                                     { 0x16, 3, 1, 0, 4, 2 } };
    struct tp_sniff_result  r;
    size_t                  i, n;

    n = build_hello(hs, NULL, 32, false);
    n = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "tls");
    ck_assert_str_eq(r.host, "");
    ck_assert_int_eq(sniff_tls((const uint8_t *) http, strlen(http), &r),
        TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "");
    ck_assert_int_eq(sniff_tls((const uint8_t *) http, 1, &r),
        TP_SNIFF_NONE);
    for (i = 0; i < nitems(bad); i++) {
        ck_assert_msg(sniff_tls(bad[i], 6, &r) == TP_SNIFF_NONE, "bad %zu",
            i);
    }
    ck_assert_int_eq(sniff_tls(rec, 0, &r), TP_SNIFF_AGAIN);
}
END_TEST

START_TEST(test_record_interleaving)
{
    uint8_t                 s[700];
    size_t                  m = spec_split(s);
    struct tp_sniff_result  r;

    /* An alert record where the second handshake record should be. */
    s[67] = 0x15;
    ck_assert_int_eq(sniff_tls(s, m, &r), TP_SNIFF_NONE);
    /* Trailing records after a complete hello do not matter. */
    m = spec_split(s);
    memcpy(s + m, "\x14\x03\x03\x00\x01\x01\x17\x03\x03\x00\x05", 11);
    ck_assert_int_eq(sniff_tls(s, m + 11, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "example.com");
}
END_TEST

START_TEST(test_handshake_cap)
{
    static uint8_t          hs[20000], rec[21000];
    struct tp_sniff_result  r;
    size_t                  n, m, ks;

    /* 16384-byte body: accepted, spans two records. */
    ks = 16384 - (build_hello(hs, "cap.example", 0, false) - 4);
    n = build_hello(hs, "cap.example", ks, false);
    ck_assert_uint_eq(n - 4, 16384);
    m = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, m, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "cap.example");
    /* One byte more: refused as soon as the header is seen. */
    n = build_hello(hs, "cap.example", ks + 1, false);
    m = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, 9, &r), TP_SNIFF_NONE);
    ck_assert_int_eq(sniff_tls(rec, m, &r), TP_SNIFF_NONE);
    ck_assert_int_eq(sniff_tls_client_hello(hs, n, &r), TP_SNIFF_NONE);
}
END_TEST

START_TEST(test_bad_server_name_lists)
{
    uint8_t                 hs[2048], rec[2100], *p;
    struct tp_sniff_result  r;
    size_t                  n;

    /* Two host_name entries in one list are ambiguous. */
    n = build_hello(hs, "a.example", 32, false);
    p = hs + 4 + 2 + 32 + 1 + 32 + 2 + 4 + 2 + 2;    /* server_name ext */
    ck_assert_uint_eq(p[0], 0);
    ck_assert_uint_eq(p[1], 0);
    memmove(p + 4 + 2 + 12 + 12, p + 4 + 2 + 12, n - (size_t) (p - hs) - 18);
    memcpy(p + 4 + 2 + 12, "\x00\x00\x09" "b.example", 12);
    p[3] = 2 + 24;
    p[5] = 24;
    n += 12;
    put16(hs + 4 + 2 + 32 + 1 + 32 + 2 + 4 + 2,
        n - (size_t) (4 + 2 + 32 + 1 + 32 + 2 + 4 + 2 + 2));
    hs[2] = (uint8_t) ((n - 4) >> 8);
    hs[3] = (uint8_t) (n - 4);
    ck_assert_int_eq(sniff_tls_client_hello(hs, n, &r), TP_SNIFF_NONE);
    /* Unknown name types are skipped; the host_name still counts. */
    p[4 + 2 + 12] = 7;
    ck_assert_int_eq(sniff_tls_client_hello(hs, n, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "a.example");
    n = wrap_records(hs, n, 16384, rec);
    ck_assert_int_eq(sniff_tls(rec, n, &r), TP_SNIFF_FOUND);
}
END_TEST

START_TEST(test_openssl_capture)
{
    uint8_t                 v[1024];
    size_t                  n = unhex(openssl_sni_hex, v, sizeof(v));
    struct tp_sniff_result  r;

    ck_assert_uint_eq(n, 317);
    ck_assert_int_eq(sniff_tls(v, n, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "foo.example");
    check_prefixes(v, n, "foo.example");
    n = unhex(openssl_tls12_hex, v, sizeof(v));
    ck_assert_uint_eq(n, 208);
    check_prefixes(v, n, "foo.example");
    n = unhex(openssl_nosni_hex, v, sizeof(v));
    ck_assert_uint_eq(n, 297);
    ck_assert_int_eq(sniff_tls(v, n, &r), TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "tls");
    ck_assert_str_eq(r.host, "");
}
END_TEST

START_TEST(test_host_normalise)
{
    char    h[300];

    strcpy(h, "ExAmPle.COM.");
    ck_assert(sniff_host_normalise(h));
    ck_assert_str_eq(h, "example.com");
    strcpy(h, "localhost");
    ck_assert(sniff_host_normalise(h));
    strcpy(h, "");
    ck_assert(!sniff_host_normalise(h));
    strcpy(h, ".");
    ck_assert(!sniff_host_normalise(h));
    strcpy(h, "a..");
    ck_assert(!sniff_host_normalise(h));
    strcpy(h, "a b");
    ck_assert(!sniff_host_normalise(h));
    strcpy(h, "a\x7f");
    ck_assert(!sniff_host_normalise(h));
    memset(h, 'a', 253);
    h[253] = '\0';
    ck_assert(sniff_host_normalise(h));
    h[253] = '.';
    h[254] = '\0';
    ck_assert(sniff_host_normalise(h));
    ck_assert_uint_eq(strlen(h), 253);
    memset(h, 'a', 254);
    h[254] = '\0';
    ck_assert(!sniff_host_normalise(h));
}
END_TEST

Suite *
suite_sniff_tls(void)
{
    Suite   *s = suite_create("sniff_tls");
    TCase   *tc = tcase_create("core");
    TCase   *tl = tcase_create("limits");

    tcase_add_test(tc, test_spec_vector);
    tcase_add_test(tc, test_split_records_at_62);
    tcase_add_test(tc, test_byte_at_a_time);
    tcase_add_test(tc, test_large_pq_hello);
    tcase_add_test(tc, test_ech_flag);
    tcase_add_test(tc, test_ip_literal_sni);
    tcase_add_test(tc, test_sni_normalised_and_invalid);
    tcase_add_test(tc, test_no_sni_and_not_tls);
    tcase_add_test(tc, test_openssl_capture);
    tcase_add_test(tc, test_host_normalise);
    tcase_add_test(tl, test_truncation_never_crashes);
    tcase_add_test(tl, test_corrupt_lengths);
    tcase_add_test(tl, test_record_interleaving);
    tcase_add_test(tl, test_handshake_cap);
    tcase_add_test(tl, test_bad_server_name_lists);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tl);
    return s;
}
