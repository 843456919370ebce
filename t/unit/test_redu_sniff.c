/*
 * test_redu_sniff.c - the pure parts of QUIC sniffing in module "redu"
 * (modules/redu.h): which first datagrams are held, the hold time cap, the
 * hold buffer's bounds and order, the decision rules (fallback,
 * dial_original_dst), and the address rewrite out and back (replies from a
 * resolved address must look like they come from the original one).
 */
#include "tproxyd.h"
#include "redu.h"
#include "sniff.h"
#include "test_chain.h"

#include <arpa/inet.h>
#include <check.h>
#include <stdlib.h>

/* A 1200-byte datagram starting with a long header: byte0, version,
 * dcid_len; the rest is filler (the cheap check does not decrypt). */
static size_t
initial(uint8_t *p, size_t len, uint8_t b0, uint32_t version, uint8_t dcil)
{
    memset(p, 0xa5, len);
    p[0] = b0;
    p[1] = (uint8_t) (version >> 24);
    p[2] = (uint8_t) (version >> 16);
    p[3] = (uint8_t) (version >> 8);
    p[4] = (uint8_t) version;
    p[5] = dcil;
    return len;
}

START_TEST(initial_v1_v2_only)
{
    uint8_t p[1500];

    /* v1 Initial: type bits 00; the low 4 bits are protected (any). */
    ck_assert(redu_quic_initial_like(p, initial(p, 1200, 0xc0, 1, 8)));
    ck_assert(redu_quic_initial_like(p, initial(p, 1200, 0xc3, 1, 8)));
    ck_assert(redu_quic_initial_like(p, initial(p, 1500, 0xcf, 1, 20)));
    /* v2 Initial: type bits 01 (RFC 9369 §3.2). */
    ck_assert(redu_quic_initial_like(p, initial(p, 1200, 0xd1, 0x6b3343cf,
                                                8)));
    /* v1 0-RTT, Handshake, Retry. */
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0xd0, 1, 8)));
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0xe0, 1, 8)));
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0xf0, 1, 8)));
    /* v2 with type bits 00 is a Retry there, 11 a Handshake. */
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0xc0, 0x6b3343cf,
                                                 8)));
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0xf0, 0x6b3343cf,
                                                 8)));
    /* Version negotiation, draft-29, an unknown version. */
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0xc0, 0, 8)));
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0xc0, 0xff00001d,
                                                 8)));
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0xc0, 2, 8)));
}
END_TEST

START_TEST(initial_header_bits_and_size)
{
    uint8_t p[1500];

    /* Short header; long header without the fixed bit. */
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0x40, 1, 8)));
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0x80, 1, 8)));
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0x00, 1, 8)));
    /* DCID over 20 bytes is not v1/v2. */
    ck_assert(!redu_quic_initial_like(p, initial(p, 1200, 0xc0, 1, 21)));
    /* A client Initial datagram is at least 1200 bytes (RFC 9000 §14.1). */
    ck_assert(!redu_quic_initial_like(p, initial(p, 1199, 0xc0, 1, 8)));
    ck_assert(!redu_quic_initial_like(p, 0));
    ck_assert(!redu_quic_initial_like(p, 5));
}
END_TEST

START_TEST(hold_time_capped)
{
    ck_assert_uint_eq(redu_sniff_hold_ms(5000), 300);    /* the default */
    ck_assert_uint_eq(redu_sniff_hold_ms(301), 300);
    ck_assert_uint_eq(redu_sniff_hold_ms(300), 300);
    ck_assert_uint_eq(redu_sniff_hold_ms(100), 100);
    ck_assert_uint_eq(redu_sniff_hold_ms(1), 1);
    ck_assert_uint_eq(redu_sniff_hold_ms(0), 0);
}
END_TEST

START_TEST(wanted_rules)
{
    struct tp_sniff_conf sc;
    char                *skip[] = { "443" };
    uint8_t              p[20000];
    size_t               n = initial(p, 1200, 0xc0, 1, 8);

    memset(&sc, 0, sizeof(sc));
    sc.timeout_ms = 5000;
    ck_assert(!redu_sniff_wanted(NULL, 443, p, n));
    ck_assert(!redu_sniff_wanted(&sc, 443, p, n));      /* not enabled */
    sc.enabled = true;
    ck_assert(redu_sniff_wanted(&sc, 443, p, n));
    /* Default skip list (server-first TCP ports) applies as for TCP. */
    ck_assert(!redu_sniff_wanted(&sc, 25, p, n));
    ck_assert(!redu_sniff_wanted(&sc, 993, p, n));
    /* An explicit list replaces it. */
    sc.skip_ports = skip;
    sc.nskip_ports = 1;
    ck_assert(!redu_sniff_wanted(&sc, 443, p, n));
    ck_assert(redu_sniff_wanted(&sc, 25, p, n));
    ck_assert(redu_sniff_wanted(&sc, 4433, p, n));
    sc.skip_ports = NULL;
    sc.nskip_ports = 0;
    /* Not QUIC-like: never held. */
    p[0] = 0x40;
    ck_assert(!redu_sniff_wanted(&sc, 443, p, n));
    p[0] = 0xc0;
    /* No hold time. */
    sc.timeout_ms = 0;
    ck_assert(!redu_sniff_wanted(&sc, 443, p, n));
    sc.timeout_ms = 50;
    ck_assert(redu_sniff_wanted(&sc, 443, p, n));
    /* A first datagram bigger than the hold buffer. */
    ck_assert(redu_sniff_wanted(&sc, 443, p, REDU_HOLD_BYTES));
    ck_assert(!redu_sniff_wanted(&sc, 443, p, REDU_HOLD_BYTES + 1));
}
END_TEST

START_TEST(hold_keeps_order_bytes_and_destinations)
{
    struct redu_hold *h = calloc(1, sizeof(*h));
    union tp_sa       a = tpt_sa("10.77.2.99", 4433),
                      b = tpt_sa("fd77:2::9", 53);
    uint8_t           d[REDU_HOLD_DGRAMS][300];
    size_t            off = 0;

    ck_assert_ptr_nonnull(h);
    for (size_t i = 0; i < REDU_HOLD_DGRAMS; i++) {
        for (size_t k = 0; k < sizeof(d[i]); k++) {
            d[i][k] = (uint8_t) (i * 31 + k);
        }
        ck_assert_int_eq(redu_hold_add(h, i == 3 ? &b.sa : &a.sa, d[i],
                                       100 + i * 20), 0);
    }
    ck_assert_uint_eq(h->n, REDU_HOLD_DGRAMS);
    for (size_t i = 0; i < h->n; i++) {
        ck_assert_uint_eq(h->d[i].off, off);
        ck_assert_uint_eq(h->d[i].len, 100 + i * 20);
        ck_assert_mem_eq(h->buf + h->d[i].off, d[i], h->d[i].len);
        ck_assert(tp_sockaddr_equal(&h->d[i].dst.sa,
                                    i == 3 ? &b.sa : &a.sa));
        off += h->d[i].len;
    }
    ck_assert_uint_eq(h->used, off);
    /* The 9th is refused and nothing changes. */
    ck_assert_int_eq(redu_hold_add(h, &a.sa, d[0], 1), -1);
    ck_assert_uint_eq(h->n, REDU_HOLD_DGRAMS);
    ck_assert_uint_eq(h->used, off);
    free(h);
}
END_TEST

START_TEST(hold_byte_cap)
{
    struct redu_hold *h = calloc(1, sizeof(*h));
    static uint8_t    big[REDU_HOLD_BYTES];
    union tp_sa       a = tpt_sa("192.0.2.1", 443);

    ck_assert_ptr_nonnull(h);
    memset(big, 0x5a, sizeof(big));
    ck_assert_int_eq(redu_hold_add(h, &a.sa, big, 10000), 0);
    ck_assert_int_eq(redu_hold_add(h, &a.sa, big, REDU_HOLD_BYTES - 10000
                                   + 1), -1);
    ck_assert_uint_eq(h->n, 1);
    ck_assert_uint_eq(h->used, 10000);
    ck_assert_int_eq(redu_hold_add(h, &a.sa, big, REDU_HOLD_BYTES - 10000),
                     0);
    ck_assert_uint_eq(h->used, REDU_HOLD_BYTES);
    ck_assert_int_eq(redu_hold_add(h, &a.sa, big, 1), -1);
    ck_assert_int_eq(redu_hold_add(h, &a.sa, big, 0), 0);   /* empty: ok */
    ck_assert_uint_eq(h->n, 3);
    /* One datagram bigger than the whole buffer. */
    memset(h, 0, sizeof(*h));
    ck_assert_int_eq(redu_hold_add(h, &a.sa, big, REDU_HOLD_BYTES), 0);
    memset(h, 0, sizeof(*h));
    ck_assert_int_eq(redu_hold_add(h, &a.sa, big, REDU_HOLD_BYTES + 1), -1);
    ck_assert_uint_eq(h->n, 0);
    free(h);
}
END_TEST

START_TEST(decision_rules)
{
    struct tp_sniff_conf sc;

    memset(&sc, 0, sizeof(sc));
    sc.enabled = true;
    /* No name: always the original destination. */
    ck_assert_int_eq(redu_sniff_next(&sc, false, false), REDU_SN_ORIGINAL);
    sc.fallback = true;
    ck_assert_int_eq(redu_sniff_next(&sc, false, false), REDU_SN_ORIGINAL);
    /* A name: resolve it; it fails: fallback decides. */
    ck_assert_int_eq(redu_sniff_next(&sc, true, false), REDU_SN_RESOLVE);
    ck_assert_int_eq(redu_sniff_next(&sc, true, true), REDU_SN_ORIGINAL);
    sc.fallback = false;
    ck_assert_int_eq(redu_sniff_next(&sc, true, false), REDU_SN_RESOLVE);
    ck_assert_int_eq(redu_sniff_next(&sc, true, true), REDU_SN_DROP);
    /* Route-only: the name is never resolved. */
    sc.dial_original = true;
    ck_assert_int_eq(redu_sniff_next(&sc, true, false), REDU_SN_ORIGINAL);
    ck_assert_int_eq(redu_sniff_next(&sc, false, false), REDU_SN_ORIGINAL);
}
END_TEST

static struct redu_name *
name_new(const char *host, const union tp_sa *to, const union tp_sa *odst)
{
    struct redu_name *nm = malloc(sizeof(*nm) + strlen(host) + 1);

    ck_assert_ptr_nonnull(nm);
    nm->to = *to;
    nm->rewrite = !tp_sockaddr_equal(&to->sa, &odst->sa);
    strcpy(nm->host, host);
    return nm;
}

START_TEST(rewrite_out_and_back_v4)
{
    union tp_sa       odst = tpt_sa("10.77.2.99", 4433);
    union tp_sa       res = tpt_sa("10.77.2.2", 4433);
    union tp_sa       other = tpt_sa("10.77.2.2", 7007);
    union tp_sa       third = tpt_sa("198.51.100.1", 4433);
    struct redu_name *nm = name_new("quic.test", &res, &odst);

    /* Without a name nothing changes. */
    ck_assert_ptr_eq(redu_name_dst(NULL, &odst, &odst.sa), &odst.sa);
    ck_assert_ptr_eq(redu_name_reply_src(NULL, &odst, &res), &res);
    /* Out: the original destination becomes the resolved address; other
     * destinations of a full-cone session stay. */
    ck_assert(tp_sockaddr_equal(redu_name_dst(nm, &odst, &odst.sa),
                                &res.sa));
    ck_assert_ptr_eq(redu_name_dst(nm, &odst, &third.sa), &third.sa);
    ck_assert_ptr_eq(redu_name_dst(nm, &odst, &other.sa), &other.sa);
    /* Back: replies from the resolved address seem to come from the
     * original one (the client sent there); others keep their source. */
    ck_assert_ptr_eq(redu_name_reply_src(nm, &odst, &res), &odst);
    ck_assert_ptr_eq(redu_name_reply_src(nm, &odst, &other), &other);
    ck_assert_ptr_eq(redu_name_reply_src(nm, &odst, &third), &third);
    free(nm);
}
END_TEST

START_TEST(rewrite_v6_and_same_address)
{
    union tp_sa       odst = tpt_sa("fd77:2::99", 443);
    union tp_sa       res = tpt_sa("fd77:2::2", 443);
    union tp_sa       res_v4 = tpt_sa("10.77.2.2", 443);
    struct redu_name *nm = name_new("quic.test", &res, &odst);

    ck_assert(tp_sockaddr_equal(redu_name_dst(nm, &odst, &odst.sa),
                                &res.sa));
    ck_assert_ptr_eq(redu_name_reply_src(nm, &odst, &res), &odst);
    ck_assert_ptr_eq(redu_name_reply_src(nm, &odst, &res_v4), &res_v4);
    free(nm);
    /* The name resolved to the original address, or dial_original_dst /
     * fallback kept it: no rewrite either way. */
    nm = name_new("same.test", &odst, &odst);
    ck_assert(!nm->rewrite);
    ck_assert_ptr_eq(redu_name_dst(nm, &odst, &odst.sa), &odst.sa);
    ck_assert_ptr_eq(redu_name_reply_src(nm, &odst, &odst), &odst);
    free(nm);
}
END_TEST

START_TEST(loopback_refused)
{
    union tp_sa a;

    a = tpt_sa("127.0.0.1", 443);
    ck_assert(redu_addr_loopback(&a.sa));
    a = tpt_sa("127.255.0.9", 443);
    ck_assert(redu_addr_loopback(&a.sa));
    a = tpt_sa("0.0.0.0", 443);
    ck_assert(redu_addr_loopback(&a.sa));
    a = tpt_sa("::1", 443);
    ck_assert(redu_addr_loopback(&a.sa));
    a = tpt_sa("::", 443);
    ck_assert(redu_addr_loopback(&a.sa));
    a = tpt_sa("::ffff:127.0.0.1", 443);
    ck_assert(redu_addr_loopback(&a.sa));
    a = tpt_sa("10.77.2.2", 443);
    ck_assert(!redu_addr_loopback(&a.sa));
    a = tpt_sa("128.0.0.1", 443);
    ck_assert(!redu_addr_loopback(&a.sa));
    a = tpt_sa("fd77:2::2", 443);
    ck_assert(!redu_addr_loopback(&a.sa));
    a = tpt_sa("::ffff:10.0.0.1", 443);
    ck_assert(!redu_addr_loopback(&a.sa));
}
END_TEST

Suite *
suite_redu_sniff(void)
{
    Suite *s = suite_create("redu_sniff");
    TCase *tc = tcase_create("quic");

    tcase_add_test(tc, initial_v1_v2_only);
    tcase_add_test(tc, initial_header_bits_and_size);
    tcase_add_test(tc, hold_time_capped);
    tcase_add_test(tc, wanted_rules);
    tcase_add_test(tc, hold_keeps_order_bytes_and_destinations);
    tcase_add_test(tc, hold_byte_cap);
    tcase_add_test(tc, decision_rules);
    tcase_add_test(tc, rewrite_out_and_back_v4);
    tcase_add_test(tc, rewrite_v6_and_same_address);
    tcase_add_test(tc, loopback_refused);
    suite_add_tcase(s, tc);
    return s;
}
