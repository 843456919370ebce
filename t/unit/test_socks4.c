/*
 * test_socks4.c - modules/socks4.c: the SOCKS4 and SOCKS4a requests on the
 * wire (USERID, names resolved locally for socks4 and sent for socks4a),
 * replies granted, rejected (charged to the target), identd refusals and
 * malformed replies, and IPv6 targets refused.
 */
#include "tproxyd.h"
#include "test_chain.h"

#include <check.h>
#include <event2/bufferevent.h>

static const uint8_t granted[] = { 0, 0x5a, 0, 0, 0, 0, 0, 0 };

static void
conf_one_node(struct tpt_env *e, uint16_t port, const char *connector)
{
    tpt_conf(e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { nodes = ( { "
             "name = \"n\"; addr = \"127.0.0.1:%u\"; connector = { %s }; } );"
             " } ); } );", port, connector);
}

static void
expect_ok(const uint8_t *req, size_t n, const char *connector,
    const char *host, uint16_t port)
{
    const struct tpt_step steps[] = { { req, n, granted, 8 } };
    struct tpt_env        e;
    struct tpt_dialres    r;
    struct tpt_mock      *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 1, TPT_ECHO);
    conf_one_node(&e, m->port, connector);
    tpt_dial(&e, "c", host, port, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(!m->mismatch);
    ck_assert(tpt_echo(&e, r.bev, "socks4 tunnel"));
    bufferevent_free(r.bev);
    tpt_env_free(&e);
}

START_TEST(socks4_ipv4)
{
    static const uint8_t req[] = {
        4, 1, 0x1f, 0x90, 10, 1, 2, 3, 'b', 'o', 'b', 0
    };

    expect_ok(req, sizeof(req), "type = \"socks4\"; userid = \"bob\";",
              "10.1.2.3", 8080);
}
END_TEST

START_TEST(socks4_resolves_names)
{
    static const uint8_t req[] = { 4, 1, 0, 80, 127, 0, 0, 1, 0 };

    expect_ok(req, sizeof(req), "type = \"socks4\";", "localhost", 80);
}
END_TEST

START_TEST(socks4a_sends_names)
{
    static const uint8_t req[] = {
        4, 1, 1, 0xbb, 0, 0, 0, 1, 0, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.',
        't', 'e', 's', 't', 0
    };

    expect_ok(req, sizeof(req), "type = \"socks4a\";", "example.test", 443);
}
END_TEST

static void
expect_failure(const uint8_t *rep, size_t n, const char *host, int err,
    const char *why)
{
    const struct tpt_step steps[] = { { NULL, 9, rep, n } };
    struct tpt_env        e;
    struct tpt_dialres    r;
    struct tpt_mock      *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 1, TPT_HOLD);
    conf_one_node(&e, m->port, "type = \"socks4\";");
    tpt_dial(&e, "c", host, 80, &r, 2000);
    ck_assert_int_eq(r.err, err);
    ck_assert_msg(strstr(r.why, why) != NULL, "why: %s", r.why);
    ck_assert_int_eq(e.conf->chains[0].hops[0].nodes[0].fails,
                     err == ECONNREFUSED || err == EAFNOSUPPORT ? 0 : 1);
    tpt_env_free(&e);
}

START_TEST(socks4_failures)
{
    static const uint8_t rejected[] = { 0, 0x5b, 0, 0, 0, 0, 0, 0 };
    static const uint8_t identd[] = { 0, 0x5c, 0, 0, 0, 0, 0, 0 };
    static const uint8_t bad_vn[] = { 4, 0x5a, 0, 0, 0, 0, 0, 0 };

    expect_failure(rejected, 8, "10.0.0.1", ECONNREFUSED,
                   "socks4: server replied 0x5b request rejected or failed");
    expect_failure(identd, 8, "10.0.0.1", EACCES,
                   "0x5c cannot reach the client's identd");
    expect_failure(bad_vn, 8, "10.0.0.1", EPROTO,
                   "socks4: malformed reply (version 0x04, code 0x5a)");
    expect_failure(rejected, 8, "2001:db8::1", EAFNOSUPPORT,
                   "socks4: the target is not IPv4");
}
END_TEST

Suite *
suite_socks4(void)
{
    Suite *s = suite_create("socks4");
    TCase *tc = tcase_create("connector");

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, socks4_ipv4);
    tcase_add_test(tc, socks4_resolves_names);
    tcase_add_test(tc, socks4a_sends_names);
    tcase_add_test(tc, socks4_failures);
    suite_add_tcase(s, tc);
    return s;
}
