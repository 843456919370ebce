/*
 * test_socks5.c - modules/socks5.c on loopback: the connector's exact
 * bytes (no auth, username/password, IPv4, IPv6, domain targets), tunnel
 * bytes that arrive with the reply, every refusal and malformed answer as
 * one clear failure; the handler (tproxyd as a SOCKS5 server) with and
 * without auth, pipelined requests, unsupported commands, dial failures
 * answered with the right REP code, and the handshake timeout.
 */
#include "tproxyd.h"
#include "test_chain.h"
#include "conn.h"

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <unistd.h>

static const uint8_t greet_noauth[] = { 5, 1, 0 };
static const uint8_t greet_both[] = { 5, 2, 0, 2 };
static const uint8_t pick_noauth[] = { 5, 0 };
static const uint8_t pick_user[] = { 5, 2 };
static const uint8_t pick_none[] = { 5, 0xff };
static const uint8_t auth_up[] = { 1, 1, 'u', 1, 'p' };
static const uint8_t auth_ok[] = { 1, 0 };
static const uint8_t auth_bad[] = { 1, 1 };
static const uint8_t rep_ok4[] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };

/* A one-node chain "c" to 127.0.0.1:port with the given connector body. */
static void
conf_one_node(struct tpt_env *e, uint16_t port, const char *connector)
{
    tpt_conf(e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { nodes = ( { "
             "name = \"n\"; addr = \"127.0.0.1:%u\"; connector = { %s }; } );"
             " } ); } );", port, connector);
}

START_TEST(connect_noauth_ipv4)
{
    uint8_t                req[10] = { 5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90 };
    const struct tpt_step  steps[] = {
        { greet_noauth, 3, pick_noauth, 2 }, { req, 10, rep_ok4, 10 }
    };
    struct tpt_env         e;
    struct tpt_dialres     r;
    struct tpt_mock       *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 2, TPT_ECHO);
    conf_one_node(&e, m->port, "type = \"socks5\";");
    tpt_dial(&e, "c", "127.0.0.1", 8080, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(!m->mismatch);
    ck_assert(tpt_echo(&e, r.bev, "tunnel"));
    bufferevent_free(r.bev);
    tpt_env_free(&e);
}
END_TEST

/* user/pass, a name for the proxy to resolve, an IPv6 BND and tunnel
 * bytes in the same segment as the reply. */
START_TEST(connect_userpass_domain)
{
    static const uint8_t req[] = {
        5, 1, 0, 3, 12, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 't', 'e',
        's', 't', 0x01, 0xbb
    };
    static const uint8_t rep[] = {
        5, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x04,
        0x38, 'e', 'a', 'r', 'l', 'y'
    };
    const struct tpt_step  steps[] = {
        { greet_both, 4, pick_user, 2 }, { auth_up, 5, auth_ok, 2 },
        { req, sizeof(req), rep, sizeof(rep) }
    };
    struct tpt_env         e;
    struct tpt_dialres     r;
    struct tpt_mock       *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 3, TPT_ECHO);
    conf_one_node(&e, m->port, "type = \"socks5\"; auth = { username = "
                  "\"u\"; password = \"p\"; };");
    tpt_dial(&e, "c", "example.test", 443, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(!m->mismatch);
    ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_input(r.bev)), 5);
    ck_assert(memcmp(evbuffer_pullup(bufferevent_get_input(r.bev), 5),
                     "early", 5) == 0);
    bufferevent_free(r.bev);
    tpt_env_free(&e);
}
END_TEST

START_TEST(connect_ipv6_target)
{
    static const uint8_t req[] = {
        5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        1, 0, 80
    };
    const struct tpt_step  steps[] = {
        { greet_noauth, 3, pick_noauth, 2 }, { req, sizeof(req), rep_ok4, 10 }
    };
    struct tpt_env         e;
    struct tpt_dialres     r;
    struct tpt_mock       *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 2, TPT_ECHO);
    conf_one_node(&e, m->port, "type = \"socks5\";");
    tpt_dial(&e, "c", "2001:db8::1", 80, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(!m->mismatch);
    bufferevent_free(r.bev);
    tpt_env_free(&e);
}
END_TEST

/* Each answer that must end the dial, with its reason and errno. */
static void
expect_failure(const struct tpt_step *steps, size_t n, int after,
    const char *connector, int err, const char *why)
{
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, n, after);
    conf_one_node(&e, m->port, connector);
    tpt_dial(&e, "c", "example.test", 443, &r, 2000);
    ck_assert_int_eq(r.err, err);
    ck_assert_msg(strstr(r.why, why) != NULL, "why: %s", r.why);
    ck_assert_ptr_null(r.bev);
    tpt_env_free(&e);
}

START_TEST(connect_failures)
{
    static const uint8_t rep_refused[] = { 5, 5, 0, 1, 0, 0, 0, 0, 0, 0 };
    static const uint8_t rep_denied[] = { 5, 2, 0, 1, 0, 0, 0, 0, 0, 0 };
    static const uint8_t rep_badatyp[] = { 5, 0, 0, 9, 0, 0, 0, 0, 0, 0 };
    const struct tpt_step bad_auth[] = {
        { greet_both, 4, pick_user, 2 }, { auth_up, 5, auth_bad, 2 }
    };
    const struct tpt_step no_method[] = { { greet_noauth, 3, pick_none, 2 } };
    const struct tpt_step http[] = { { NULL, 3, "HTTP/1.1 400 Bad", 16 } };
    const struct tpt_step refused[] = {
        { greet_noauth, 3, pick_noauth, 2 }, { NULL, 19, rep_refused, 10 }
    };
    const struct tpt_step denied[] = {
        { greet_noauth, 3, pick_noauth, 2 }, { NULL, 19, rep_denied, 10 }
    };
    const struct tpt_step badatyp[] = {
        { greet_noauth, 3, pick_noauth, 2 }, { NULL, 19, rep_badatyp, 10 }
    };
    const struct tpt_step hangup[] = { { greet_noauth, 3, pick_noauth, 2 } };
    const struct tpt_step other[] = { { NULL, 3, "\x05\x02", 2 } };

    expect_failure(bad_auth, 2, TPT_HOLD, "type = \"socks5\"; auth = { "
                   "username = \"u\"; password = \"p\"; };", EACCES,
                   "socks5: authentication failed (user \"u\", status 0x01)");
    expect_failure(no_method, 1, TPT_HOLD, "type = \"socks5\";", EACCES,
                   "the proxy requires authentication");
    expect_failure(http, 1, TPT_HOLD, "type = \"socks5\";", EPROTO,
                   "socks5: not a SOCKS5 server (answered 48 54 54 50");
    expect_failure(refused, 2, TPT_HOLD, "type = \"socks5\";", ECONNREFUSED,
                   "node \"n\": socks5: server replied 0x05 connection "
                   "refused");
    expect_failure(denied, 2, TPT_HOLD, "type = \"socks5\";", EACCES,
                   "0x02 not allowed by ruleset");
    expect_failure(badatyp, 2, TPT_HOLD, "type = \"socks5\";", EPROTO,
                   "socks5: malformed reply (05 00 00 09");
    expect_failure(hangup, 1, TPT_CLOSE, "type = \"socks5\";", ECONNRESET,
                   "closed the connection before its reply");
    expect_failure(other, 1, TPT_HOLD, "type = \"socks5\";", EPROTO,
                   "chose method 0x02, which was not offered");
}
END_TEST

/* ---------------------------------------------------------------- server */

static void
expect_bytes(struct tpt_server *s, int fd, const uint8_t *want, size_t n)
{
    uint8_t got[64];

    ck_assert_uint_eq(tpt_recv(&s->e, fd, got, n, 2000), n);
    ck_assert(memcmp(got, want, n) == 0);
}

static void
request_ipv4(uint8_t *req, uint8_t cmd, uint16_t port)
{
    static const uint8_t head[] = { 5, 0, 0, 1, 127, 0, 0, 1 };

    memcpy(req, head, 8);
    req[1] = cmd;
    req[8] = (uint8_t) (port >> 8);
    req[9] = (uint8_t) port;
}

START_TEST(serve_noauth)
{
    struct tpt_server s;
    uint8_t       req[10], buf[8];
    int           fd;

    tpt_server_start(&s, "socks5", "");
    fd = tpt_client(s.port);
    tpt_send(fd, greet_both, 4);
    expect_bytes(&s, fd, pick_noauth, 2);
    request_ipv4(req, 1, s.echo->port);
    tpt_send(fd, req, 10);
    ck_assert_uint_eq(tpt_recv(&s.e, fd, buf, 2, 2000), 2);
    ck_assert_int_eq(buf[0], 5);
    ck_assert_int_eq(buf[1], 0);
    ck_assert_uint_eq(tpt_recv(&s.e, fd, buf, 8, 2000), 8);  /* rest */
    tpt_send(fd, "ping", 4);
    expect_bytes(&s, fd, (const uint8_t *) "ping", 4);
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

/* Greeting, auth, request and data in one segment. */
START_TEST(serve_auth_pipelined)
{
    struct tpt_server s;
    uint8_t       msg[64];
    size_t        n = 0;
    int           fd;

    tpt_server_start(&s, "socks5", "auth = { username = \"u\"; password = \"p\"; };");
    fd = tpt_client(s.port);
    memcpy(msg, greet_both, 4);
    n += 4;
    memcpy(msg + n, auth_up, 5);
    n += 5;
    request_ipv4(msg + n, 1, s.echo->port);
    n += 10;
    memcpy(msg + n, "data", 4);
    n += 4;
    tpt_send(fd, msg, n);
    expect_bytes(&s, fd, pick_user, 2);
    expect_bytes(&s, fd, auth_ok, 2);
    expect_bytes(&s, fd, rep_ok4, 10);
    expect_bytes(&s, fd, (const uint8_t *) "data", 4);
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

START_TEST(serve_auth_refusals)
{
    static const uint8_t auth_wrong[] = { 1, 1, 'u', 1, 'x' };
    struct tpt_server s;
    int           fd;

    tpt_server_start(&s, "socks5", "auth = { username = \"u\"; password = \"p\"; };");
    fd = tpt_client(s.port);
    tpt_send(fd, greet_noauth, 3);
    expect_bytes(&s, fd, pick_none, 2);
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    fd = tpt_client(s.port);
    tpt_send(fd, greet_both, 4);
    expect_bytes(&s, fd, pick_user, 2);
    tpt_send(fd, auth_wrong, 5);
    expect_bytes(&s, fd, auth_bad, 2);
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    ck_assert_int_eq(s.echo->accepted, 0);
    tpt_env_free(&s.e);
}
END_TEST

START_TEST(serve_bad_requests)
{
    static const uint8_t rep_cmd[] = { 5, 7, 0, 1, 0, 0, 0, 0, 0, 0 };
    static const uint8_t rep_atyp[] = { 5, 8, 0, 1, 0, 0, 0, 0, 0, 0 };
    static const uint8_t bad_atyp[] = { 5, 1, 0, 7, 1, 2, 3, 4, 0, 80 };
    struct tpt_server s;
    uint8_t       req[10];
    int           fd;

    tpt_server_start(&s, "socks5", "");
    fd = tpt_client(s.port);            /* BIND */
    tpt_send(fd, greet_noauth, 3);
    expect_bytes(&s, fd, pick_noauth, 2);
    request_ipv4(req, 2, 80);
    tpt_send(fd, req, 10);
    expect_bytes(&s, fd, rep_cmd, 10);
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    fd = tpt_client(s.port);            /* unknown ATYP */
    tpt_send(fd, greet_noauth, 3);
    expect_bytes(&s, fd, pick_noauth, 2);
    tpt_send(fd, bad_atyp, 10);
    expect_bytes(&s, fd, rep_atyp, 10);
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    fd = tpt_client(s.port);            /* not SOCKS5: closed, no reply */
    tpt_send(fd, "GET / HTTP/1.0\r\n\r\n", 18);
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

START_TEST(serve_dial_refused)
{
    static const uint8_t rep_refused[] = { 5, 5, 0, 1, 0, 0, 0, 0, 0, 0 };
    struct tpt_server s;
    uint8_t       req[10];
    int           fd;

    tpt_server_start(&s, "socks5", "");
    fd = tpt_client(s.port);
    tpt_send(fd, greet_noauth, 3);
    expect_bytes(&s, fd, pick_noauth, 2);
    request_ipv4(req, 1, tpt_dead_port());
    tpt_send(fd, req, 10);
    expect_bytes(&s, fd, rep_refused, 10);
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

START_TEST(serve_domain_and_timeout)
{
    static const uint8_t head[] = {
        5, 1, 0, 3, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't'
    };
    struct tpt_server s;
    uint8_t       req[16];
    int           fd;

    tpt_server_start(&s, "socks5", "read_timeout = \"200ms\";");
    fd = tpt_client(s.port);
    tpt_send(fd, greet_noauth, 3);
    expect_bytes(&s, fd, pick_noauth, 2);
    memcpy(req, head, sizeof(head));
    req[14] = (uint8_t) (s.echo->port >> 8);
    req[15] = (uint8_t) s.echo->port;
    tpt_send(fd, req, 16);
    expect_bytes(&s, fd, rep_ok4, 10);
    tpt_send(fd, "name", 4);
    expect_bytes(&s, fd, (const uint8_t *) "name", 4);
    close(fd);
    fd = tpt_client(s.port);            /* says nothing */
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

/* tproxyd's connector through tproxyd's handler, both with auth. */
START_TEST(connector_to_handler)
{
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *echo;
    int                 l;
    uint16_t            p;

    tpt_env_init(&e);
    p = tpt_listen(&e, &l);
    echo = tpt_mock(&e, NULL, 0, TPT_ECHO);
    tpt_conf(&e, "services = ( { name = \"s5\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"socks5\"; auth = { username = \"user\"; "
             "password = \"secret\"; }; }; listener = { type = \"tcp\"; }; }"
             " ); chains = ( { name = \"c\"; hops = ( { nodes = ( "
             "{ name = \"good\"; addr = \"127.0.0.1:%u\"; connector = { "
             "type = \"socks5\"; auth = { username = \"user\"; password = "
             "\"secret\"; }; }; } ); } ); }, { name = \"bad\"; hops = ( { "
             "nodes = ( { addr = \"127.0.0.1:%u\"; connector = { type = "
             "\"socks5\"; auth = { username = \"user\"; password = \"x\"; "
             "}; }; } ); } ); } );", p, p);
    tpt_serve(&e, 0, l);
    tpt_dial_echo(&e, "c", "127.0.0.1", echo->port, 2000,
                  "both sides are ours");
    tpt_dial(&e, "bad", "127.0.0.1", echo->port, &r, 2000);
    ck_assert_int_eq(r.err, EACCES);
    tpt_env_free(&e);
}
END_TEST

START_TEST(config_checks)
{
    struct tp_err   err;
    struct tp_conf *c;

    c = tpt_conf_try("services = ( { name = \"s\"; addr = \":1\"; handler = "
                     "{ type = \"socks5\"; auth = { password = \"p\"; }; }; "
                     "listener = { type = \"tcp\"; }; } );", &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, "handler.auth.username: required setting is missing") != NULL, "%s",
                  err.msg);
    c = tpt_conf_try("services = ( { name = \"s\"; addr = \":1\"; handler = "
                     "{ type = \"socks5\"; users = 1; }; "
                     "listener = { type = \"tcp\"; }; } );", &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, "unknown setting") != NULL, "%s", err.msg);
}
END_TEST

/* ------------------------------------------------------------------ UDP */

START_TEST(udp_associate_through_own_server)
{
    struct tpt_env    e;
    struct tpt_udpres r;
    int               l;
    uint16_t          p, echo4, echo6;

    tpt_env_init(&e);
    p = tpt_listen(&e, &l);
    echo4 = tpt_udp_echo(&e, false);
    echo6 = tpt_udp_echo(&e, true);
    tpt_conf(&e, "services = ( { name = \"s5\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"socks5\"; auth = { username = \"u\"; "
             "password = \"p\"; }; }; listener = { type = \"tcp\"; }; } );"
             " chains = ( { name = \"c\"; hops = ( { nodes = ( { addr = "
             "\"127.0.0.1:%u\"; connector = { type = \"socks5\"; auth = { "
             "username = \"u\"; password = \"p\"; }; }; } ); } ); } );", p);
    tpt_serve(&e, 0, l);
    tpt_dial_udp(&e, "c", NULL, 0, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert_str_eq(r.t->route, "socks5-udp");
    ck_assert(tpt_udp_roundtrip(&e, &r, "127.0.0.1", echo4, "dns query"));
    ck_assert(tpt_udp_roundtrip(&e, &r, "::1", echo6, "v6 query"));
    ck_assert(tpt_udp_roundtrip(&e, &r, "127.0.0.1", echo4, "again"));
    /* the association ends with the control connection */
    while (e.w.conns != NULL) {
        tp_conn_close(e.w.conns, TP_END_SHUTDOWN, NULL);
    }
    tpt_run_until(&e, &r.closed, 2000);
    ck_assert(r.closed);
    ck_assert_msg(strstr(r.closed_why, "control connection closed") != NULL,
                  "%s", r.closed_why);
    r.t->ops->free(r.t);
    tpt_env_free(&e);
}
END_TEST

START_TEST(udp_associate_bytes)
{
    static const uint8_t req[] = { 5, 3, 0, 1, 0, 0, 0, 0, 0, 0 };
    struct tpt_env    e;
    struct tpt_udpres r;
    struct tpt_mock  *m;
    uint16_t          relay = tpt_dead_port();
    uint8_t           rep[10] = { 5, 0, 0, 1, 127, 0, 0, 1, 0, 0 };
    struct tpt_step   steps[2] = {
        { greet_noauth, 3, pick_noauth, 2 }, { req, 10, rep, 10 }
    };
    struct sockaddr_in sin;
    struct sockaddr_storage dst;
    socklen_t         dl;
    uint8_t           got[64];
    int               fd;
    ssize_t           n;

    /* the "relay": a UDP socket of ours standing in for the proxy's */
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sin.sin_port = htons(relay);
    ck_assert_int_eq(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    rep[8] = (uint8_t) (relay >> 8);
    rep[9] = (uint8_t) relay;
    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 2, TPT_HOLD);
    tpt_conf(&e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { nodes = ( { addr = "
             "\"127.0.0.1:%u\"; connector = { type = \"socks5\"; }; } ); } );"
             " } );", m->port);
    tpt_dial_udp(&e, "c", NULL, 0, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(!m->mismatch);
    tp_ip_literal("10.1.2.3", 53, &dst, &dl);
    ck_assert_int_eq(r.t->ops->send(r.t, (struct sockaddr *) &dst,
                                    (const uint8_t *) "q", 1), 0);
    n = recv(fd, got, sizeof(got), 0);
    ck_assert_int_eq(n, 11);
    ck_assert(memcmp(got, "\0\0\0\x01\x0a\x01\x02\x03\x00\x35q", 11) == 0);
    r.t->ops->free(r.t);
    close(fd);
    tpt_env_free(&e);
}
END_TEST

START_TEST(udp_associate_disabled)
{
    static const uint8_t rep_cmd[] = { 5, 7, 0, 1, 0, 0, 0, 0, 0, 0 };
    struct tpt_server s;
    uint8_t       req[10];
    int           fd;

    tpt_server_start(&s, "socks5", "udp = false;");
    fd = tpt_client(s.port);
    tpt_send(fd, greet_noauth, 3);
    expect_bytes(&s, fd, pick_noauth, 2);
    request_ipv4(req, 3, 0);
    tpt_send(fd, req, 10);
    expect_bytes(&s, fd, rep_cmd, 10);
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

Suite *
suite_socks5(void)
{
    Suite *s = suite_create("socks5");
    TCase *tc = tcase_create("connector");
    TCase *th = tcase_create("handler");

    tcase_set_timeout(tc, 20);
    tcase_set_timeout(th, 20);
    tcase_add_test(tc, connect_noauth_ipv4);
    tcase_add_test(tc, connect_userpass_domain);
    tcase_add_test(tc, connect_ipv6_target);
    tcase_add_test(tc, connect_failures);
    tcase_add_test(tc, connector_to_handler);
    tcase_add_test(tc, config_checks);
    tcase_add_test(th, serve_noauth);
    tcase_add_test(th, serve_auth_pipelined);
    tcase_add_test(th, serve_auth_refusals);
    tcase_add_test(th, serve_bad_requests);
    tcase_add_test(th, serve_dial_refused);
    tcase_add_test(th, serve_domain_and_timeout);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, th);
    tc = tcase_create("udp");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, udp_associate_through_own_server);
    tcase_add_test(tc, udp_associate_bytes);
    tcase_add_test(tc, udp_associate_disabled);
    suite_add_tcase(s, tc);
    return s;
}
