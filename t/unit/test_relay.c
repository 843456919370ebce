/*
 * test_relay.c - modules/relay.c (GOST relay v1): the connector's request
 * bytes (the spec's user "u"/"p" example), nodelay = true waiting for the
 * response, the default handing the tunnel on at once and stripping a
 * late response from the stream (or failing the stream on a bad one),
 * statuses charged to the server or to the target; the handler with auth,
 * refusals answered like GOST, and tproxyd talking to itself.
 */
#include "tproxyd.h"
#include "test_chain.h"

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <unistd.h>

/* 01 01 00 19 | UserAuth u/p | Addr example.com:443 (relay-protocol.md) */
static const uint8_t req_spec[] = {
    0x01, 0x01, 0x00, 0x19, 0x01, 0x00, 0x04, 0x01, 0x75, 0x01, 0x70, 0x02,
    0x00, 0x0f, 0x03, 0x0b, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o',
    'm', 0x01, 0xbb
};
static const uint8_t resp_ok[] = { 1, 0, 0, 0 };

static void
conf_one_node(struct tpt_env *e, uint16_t port, const char *connector)
{
    tpt_conf(e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { nodes = ( { "
             "name = \"n\"; addr = \"127.0.0.1:%u\"; connector = { %s }; } );"
             " } ); } );", port, connector);
}

START_TEST(nodelay_request_bytes)
{
    static const uint8_t resp[] = { 1, 0, 0, 0, 'h', 'i' };
    const struct tpt_step steps[] = {
        { req_spec, sizeof(req_spec), resp, sizeof(resp) }
    };
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 1, TPT_ECHO);
    conf_one_node(&e, m->port, "type = \"relay\"; nodelay = true; auth = { "
                  "username = \"u\"; password = \"p\"; };");
    tpt_dial(&e, "c", "example.com", 443, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(!m->mismatch);
    ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_input(r.bev)), 2);
    bufferevent_free(r.bev);
    tpt_env_free(&e);
}
END_TEST

/* A GOST server with nodelay off answers only with the target's first
 * bytes: the dial must not wait for it. */
START_TEST(lazy_response)
{
    static const uint8_t late[] = { 1, 0, 0, 0, 'p', 'o', 'n', 'g' };
    const struct tpt_step steps[] = {
        { req_spec, sizeof(req_spec), NULL, 0 },
        { "pong", 4, late, sizeof(late) }
    };
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 2, TPT_ECHO);
    conf_one_node(&e, m->port, "type = \"relay\"; auth = { username = \"u\";"
                  " password = \"p\"; };");
    tpt_dial(&e, "c", "example.com", 443, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(tpt_echo(&e, r.bev, "pong"));
    ck_assert(tpt_echo(&e, r.bev, "and the rest is plain"));
    ck_assert(!m->mismatch);
    bufferevent_free(r.bev);
    tpt_env_free(&e);
}
END_TEST

START_TEST(lazy_refusal_fails_the_stream)
{
    static const uint8_t refused[] = { 1, 7, 0, 0 };
    const struct tpt_step steps[] = { { NULL, 4, refused, 4 } };
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 1, TPT_HOLD);
    conf_one_node(&e, m->port, "type = \"relay\";");
    tpt_dial(&e, "c", "example.com", 443, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(tpt_bev_fails(&e, r.bev, "data", 2000));
    bufferevent_free(r.bev);
    tpt_env_free(&e);
}
END_TEST

static void
expect_failure(const uint8_t *resp, size_t n, int err, const char *why,
    int64_t fails)
{
    const struct tpt_step steps[] = { { NULL, 4, resp, n } };
    struct tpt_env        e;
    struct tpt_dialres    r;
    struct tpt_mock      *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 1, TPT_HOLD);
    conf_one_node(&e, m->port, "type = \"relay\"; nodelay = true;");
    tpt_dial(&e, "c", "example.com", 443, &r, 2000);
    ck_assert_int_eq(r.err, err);
    ck_assert_msg(strstr(r.why, why) != NULL, "why: %s", r.why);
    ck_assert_int_eq(e.conf->chains[0].hops[0].nodes[0].fails, fails);
    tpt_env_free(&e);
}

START_TEST(nodelay_failures)
{
    static const uint8_t unauth[] = { 1, 2, 0, 0 };
    static const uint8_t netun[] = { 1, 7, 0, 0 };
    static const uint8_t badver[] = { 5, 0, 0, 0 };
    static const uint8_t badtlv[] = { 1, 0, 0, 3, 2, 0, 9 };

    expect_failure(unauth, 4, EACCES, "node \"n\": relay: server answered "
                   "0x02 unauthorized", 1);
    expect_failure(netun, 4, ENETUNREACH, "relay: server answered 0x07 "
                   "network unreachable", 0);
    expect_failure(badver, 4, EPROTO, "relay: bad response version 0x05", 1);
    expect_failure(badtlv, 7, EPROTO, "relay: malformed response", 1);
}
END_TEST

/* ---------------------------------------------------------------- server */

/* A CONNECT to 127.0.0.1:port with user u, password pass. */
static size_t
request(uint8_t *buf, uint8_t cmd, const char *pass, uint16_t port)
{
    size_t plen = strlen(pass), n = 4;

    buf[0] = 1;
    buf[1] = cmd;
    buf[n++] = 1;
    buf[n++] = 0;
    buf[n++] = (uint8_t) (3 + plen);
    buf[n++] = 1;
    buf[n++] = 'u';
    buf[n++] = (uint8_t) plen;
    memcpy(buf + n, pass, plen);
    n += plen;
    buf[n++] = 2;
    buf[n++] = 0;
    buf[n++] = 7;
    buf[n++] = 1;
    buf[n++] = 127;
    buf[n++] = 0;
    buf[n++] = 0;
    buf[n++] = 1;
    buf[n++] = (uint8_t) (port >> 8);
    buf[n++] = (uint8_t) port;
    buf[2] = 0;
    buf[3] = (uint8_t) (n - 4);
    return n;
}

static void
expect_bytes(struct tpt_server *s, int fd, const uint8_t *want, size_t n)
{
    uint8_t got[64];

    ck_assert_uint_eq(tpt_recv(&s->e, fd, got, n, 2000), n);
    ck_assert(memcmp(got, want, n) == 0);
}

START_TEST(serve_connect)
{
    struct tpt_server s;
    uint8_t       req[64];
    size_t        n;
    int           fd;

    tpt_server_start(&s, "relay", "auth = { username = \"u\"; password = \"p\"; };");
    fd = tpt_client(s.port);
    n = request(req, 1, "p", s.echo->port);
    memcpy(req + n, "data", 4);         /* with the first payload (GOST) */
    tpt_send(fd, req, n + 4);
    expect_bytes(&s, fd, resp_ok, 4);
    expect_bytes(&s, fd, (const uint8_t *) "data", 4);
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

START_TEST(serve_refusals)
{
    static const uint8_t unauth[] = { 1, 2, 0, 0 };
    static const uint8_t forbidden[] = { 1, 3, 0, 0 };
    static const uint8_t badreq[] = { 1, 1, 0, 0 };
    static const uint8_t netun[] = { 1, 7, 0, 0 };
    static const uint8_t unknown_tlv[] = { 1, 1, 0, 3, 9, 0, 0 };
    struct tpt_server s;
    uint8_t       req[64];
    size_t        n;
    int           fd;

    tpt_server_start(&s, "relay", "auth = { username = \"u\"; password = \"p\"; };");
    fd = tpt_client(s.port);
    tpt_send(fd, req, request(req, 1, "wrong", s.echo->port));
    expect_bytes(&s, fd, unauth, 4);
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    fd = tpt_client(s.port);
    tpt_send(fd, req, request(req, 2, "p", s.echo->port));
    expect_bytes(&s, fd, forbidden, 4);
    close(fd);
    fd = tpt_client(s.port);
    tpt_send(fd, req, request(req, 5, "p", s.echo->port));
    expect_bytes(&s, fd, badreq, 4);
    close(fd);
    fd = tpt_client(s.port);
    n = request(req, 1, "p", tpt_dead_port());
    tpt_send(fd, req, n);
    expect_bytes(&s, fd, netun, 4);
    close(fd);
    /* Malformed: closed without a response, as GOST does. */
    fd = tpt_client(s.port);
    tpt_send(fd, unknown_tlv, sizeof(unknown_tlv));
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    fd = tpt_client(s.port);
    tpt_send(fd, "\x05\x01\x00", 3);
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

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
    tpt_conf(&e, "services = ( { name = \"r\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"relay\"; auth = { username = \"u\"; "
             "password = \"p\"; }; }; listener = { type = \"tcp\"; }; } );"
             " chains = ( { name = \"lazy\"; hops = ( { nodes = ( { addr = "
             "\"127.0.0.1:%u\"; connector = { type = \"relay\"; auth = { "
             "username = \"u\"; password = \"p\"; }; }; } ); } ); },"
             "{ name = \"wait\"; hops = ( { nodes = ( { addr = "
             "\"127.0.0.1:%u\"; connector = { type = \"relay\"; nodelay = "
             "true; auth = { username = \"u\"; password = \"p\"; }; }; } );"
             " } ); } );", p, p);
    tpt_serve(&e, 0, l);
    tpt_dial_echo(&e, "lazy", "127.0.0.1", echo->port, 2000, "lazy");
    tpt_dial_echo(&e, "wait", "127.0.0.1", echo->port, 2000, "nodelay");
    tpt_dial(&e, "wait", "127.0.0.1", tpt_dead_port(), &r, 2000);
    ck_assert_int_eq(r.err, ENETUNREACH);
    tpt_env_free(&e);
}
END_TEST

/* ------------------------------------------------------------------ UDP */

static void
udp_env(struct tpt_env *e, const char *handler_extra)
{
    int      l1, l2;
    uint16_t p1, p2;

    tpt_env_init(e);
    p1 = tpt_listen(e, &l1);
    p2 = tpt_listen(e, &l2);
    tpt_conf(e, "services = ( { name = \"r\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"relay\"; auth = { username = \"u\"; "
             "password = \"p\"; }; %s }; listener = { type = \"tcp\"; }; },"
             "{ name = \"s5\"; addr = \"127.0.0.1:2\"; handler = { type = "
             "\"socks5\"; }; listener = { type = \"tcp\"; }; } );"
             "chains = ( { name = \"r\"; hops = ( { nodes = ( { name = "
             "\"rl\"; addr = \"127.0.0.1:%u\"; connector = { type = "
             "\"relay\"; auth = { username = \"u\"; password = \"p\"; }; };"
             " } ); } ); }, { name = \"two\"; hops = ( { nodes = ( { addr = "
             "\"127.0.0.1:%u\"; connector = { type = \"socks5\"; }; } ); },"
             "{ nodes = ( { addr = \"127.0.0.1:%u\"; connector = { type = "
             "\"relay\"; auth = { username = \"u\"; password = \"p\"; }; };"
             " } ); } ); } );", handler_extra, p1, p2, p1);
    tpt_serve(e, 0, l1);
    tpt_serve(e, 1, l2);
}

START_TEST(udp_connect_through_own_server)
{
    struct tpt_env    e;
    struct tpt_udpres r;
    uint16_t          echo;

    udp_env(&e, "");
    echo = tpt_udp_echo(&e, false);
    tpt_dial_udp(&e, "r", "127.0.0.1", echo, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(tpt_udp_roundtrip(&e, &r, "127.0.0.1", echo, "query one"));
    ck_assert(tpt_udp_roundtrip(&e, &r, "127.0.0.1", echo, "query two"));
    ck_assert_str_eq(r.t->route, "relay-udp");
    r.t->ops->free(r.t);
    /* the same through a socks5 hop first */
    tpt_dial_udp(&e, "two", "127.0.0.1", echo, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(tpt_udp_roundtrip(&e, &r, "127.0.0.1", echo, "via socks5"));
    r.t->ops->free(r.t);
    tpt_run_for(&e, 20);
    tpt_env_free(&e);
}
END_TEST

START_TEST(udp_association)
{
    struct tpt_env    e;
    struct tpt_udpres r;
    uint16_t          echo4, echo6;

    udp_env(&e, "bind = true;");
    echo4 = tpt_udp_echo(&e, false);
    echo6 = tpt_udp_echo(&e, true);
    tpt_dial_udp(&e, "r", NULL, 0, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(tpt_udp_roundtrip(&e, &r, "127.0.0.1", echo4, "to v4"));
    ck_assert(tpt_udp_roundtrip(&e, &r, "::1", echo6, "to v6"));
    ck_assert(tpt_udp_roundtrip(&e, &r, "127.0.0.1", echo4, "v4 again"));
    r.t->ops->free(r.t);
    tpt_env_free(&e);
}
END_TEST

START_TEST(udp_association_forbidden)
{
    struct tpt_env    e;
    struct tpt_udpres r;
    uint16_t          echo;

    udp_env(&e, "");
    echo = tpt_udp_echo(&e, false);
    tpt_dial_udp(&e, "r", NULL, 0, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);       /* the answer is lazy */
    r.t->ops->send(r.t, (struct sockaddr *) &r.src, (const uint8_t *) "x", 1);
    (void) echo;
    tpt_run_for(&e, 200);
    ck_assert(r.closed);
    ck_assert_str_eq(r.closed_why, "relay: server answered 0x03 forbidden");
    r.t->ops->free(r.t);
    tpt_env_free(&e);
}
END_TEST

/* The bytes: 0x81 with the destination, then LEN-framed datagrams. */
START_TEST(udp_connect_bytes)
{
    static const uint8_t req[] = {
        1, 0x81, 0, 10, 2, 0, 7, 1, 8, 8, 8, 8, 0, 53
    };
    static const uint8_t reply[] = {
        1, 0, 0, 0, 0, 3, 'a', 'n', 's'
    };
    static const uint8_t frame[] = { 0, 5, 'q', 'u', 'e', 'r', 'y' };
    const struct tpt_step steps[] = {
        { req, sizeof(req), NULL, 0 }, { frame, 7, reply, sizeof(reply) }
    };
    struct tpt_env      e;
    struct tpt_udpres   r;
    struct tpt_mock    *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 2, TPT_HOLD);
    tpt_conf(&e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { nodes = ( { addr = "
             "\"127.0.0.1:%u\"; connector = { type = \"relay\"; }; } ); } );"
             " } );", m->port);
    tpt_dial_udp(&e, "c", "8.8.8.8", 53, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    r.t->ops->send(r.t, NULL, (const uint8_t *) "query", 5);
    tpt_run_for(&e, 100);
    ck_assert(!m->mismatch);
    ck_assert_int_eq(r.got, 1);
    ck_assert_uint_eq(r.len, 3);
    ck_assert(memcmp(r.data, "ans", 3) == 0);
    r.t->ops->free(r.t);
    tpt_env_free(&e);
}
END_TEST

/* Server side, by hand: the association answer carries the bound address
 * and replies come framed with their source. */
START_TEST(serve_udp_association_bytes)
{
    struct tpt_server s;
    uint8_t       req[64], frame[32], resp[64];
    size_t        n;
    uint16_t      echo;
    int           fd;

    tpt_server_start(&s, "relay", "bind = true;");
    echo = tpt_udp_echo(&s.e, false);
    fd = tpt_client(s.port);
    n = request(req, 0x82, "p", 0);
    req[n - 6] = 0;                         /* Addr 0.0.0.0:0 */
    memset(req + n - 6, 0, 6);
    tpt_send(fd, req, n);
    ck_assert_uint_eq(tpt_recv(&s.e, fd, resp, 14, 2000), 14);
    ck_assert_int_eq(resp[0], 1);
    ck_assert_int_eq(resp[1], 0);
    ck_assert_int_eq(resp[3], 10);          /* one Addr feature */
    ck_assert_int_eq(resp[4], 2);
    frame[0] = 0;
    frame[1] = 4;
    frame[2] = 0xff;
    frame[3] = 1;
    frame[4] = 127;
    frame[5] = 0;
    frame[6] = 0;
    frame[7] = 1;
    frame[8] = (uint8_t) (echo >> 8);
    frame[9] = (uint8_t) echo;
    memcpy(frame + 10, "ping", 4);
    tpt_send(fd, frame, 14);
    ck_assert_uint_eq(tpt_recv(&s.e, fd, resp, 14, 2000), 14);
    ck_assert(memcmp(resp, frame, 14) == 0);   /* source = the echo */
    close(fd);
    tpt_run_for(&s.e, 20);
    tpt_env_free(&s.e);
}
END_TEST

Suite *
suite_relay(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("connector");
    TCase *th = tcase_create("handler");

    tcase_set_timeout(tc, 20);
    tcase_set_timeout(th, 20);
    tcase_add_test(tc, nodelay_request_bytes);
    tcase_add_test(tc, lazy_response);
    tcase_add_test(tc, lazy_refusal_fails_the_stream);
    tcase_add_test(tc, nodelay_failures);
    tcase_add_test(tc, connector_to_handler);
    tcase_add_test(th, serve_connect);
    tcase_add_test(th, serve_refusals);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, th);
    tc = tcase_create("udp");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, udp_connect_through_own_server);
    tcase_add_test(tc, udp_association);
    tcase_add_test(tc, udp_association_forbidden);
    tcase_add_test(tc, udp_connect_bytes);
    tcase_add_test(tc, serve_udp_association_bytes);
    suite_add_tcase(s, tc);
    return s;
}
