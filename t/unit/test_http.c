/*
 * test_http.c - modules/http.c on loopback: the CONNECT request the
 * connector writes (with and without Basic credentials, IPv6 and name
 * targets), any 2xx opening the tunnel with the bytes after the head kept,
 * 1xx skipped, non-2xx and non-HTTP answers as one clear failure; the
 * handler (tproxyd as a CONNECT proxy) with auth, 407/405/502 answers and
 * early client data.
 */
#include "tproxyd.h"
#include "test_chain.h"

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <stdio.h>
#include <unistd.h>

static void
conf_one_node(struct tpt_env *e, uint16_t port, const char *connector)
{
    tpt_conf(e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { nodes = ( { "
             "name = \"n\"; addr = \"127.0.0.1:%u\"; connector = { %s }; } );"
             " } ); } );", port, connector);
}

START_TEST(connect_request_bytes)
{
    static const char want[] =
        "CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n"
        "Proxy-Authorization: Basic dTpw\r\n\r\n";
    static const char resp[] =
        "HTTP/1.1 100 Continue\r\n\r\n"
        "HTTP/1.0 201 Created\r\nContent-Length: 99\r\n\r\nbanner";
    const struct tpt_step steps[] = {
        { want, sizeof(want) - 1, resp, sizeof(resp) - 1 }
    };
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 1, TPT_ECHO);
    conf_one_node(&e, m->port, "type = \"http\"; auth = { username = \"u\";"
                  " password = \"p\"; };");
    tpt_dial(&e, "c", "example.test", 443, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(!m->mismatch);
    /* The bytes after the head belong to the tunnel, CL ignored. */
    ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_input(r.bev)), 6);
    evbuffer_drain(bufferevent_get_input(r.bev), 6);
    ck_assert(tpt_echo(&e, r.bev, "x"));
    bufferevent_free(r.bev);
    tpt_env_free(&e);
}
END_TEST

START_TEST(connect_ipv6_no_auth)
{
    static const char want[] =
        "CONNECT [2001:db8::2]:8443 HTTP/1.1\r\nHost: [2001:db8::2]:8443\r\n"
        "\r\n";
    static const char resp[] = "HTTP/1.1 200 OK\n\n";
    const struct tpt_step steps[] = {
        { want, sizeof(want) - 1, resp, sizeof(resp) - 1 }
    };
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 1, TPT_ECHO);
    conf_one_node(&e, m->port, "type = \"http\";");
    tpt_dial(&e, "c", "2001:db8::2", 8443, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert(!m->mismatch);
    bufferevent_free(r.bev);
    tpt_env_free(&e);
}
END_TEST

static void
expect_failure(const char *resp, int after, int err, const char *why)
{
    const struct tpt_step steps[] = { { NULL, 1, resp, strlen(resp) } };
    struct tpt_env        e;
    struct tpt_dialres    r;
    struct tpt_mock      *m;

    tpt_env_init(&e);
    m = tpt_mock(&e, steps, 1, after);
    conf_one_node(&e, m->port, "type = \"http\";");
    tpt_dial(&e, "c", "example.test", 443, &r, 2000);
    ck_assert_int_eq(r.err, err);
    ck_assert_msg(strstr(r.why, why) != NULL, "why: %s", r.why);
    tpt_env_free(&e);
}

START_TEST(connect_failures)
{
    static char long_head[9000];

    expect_failure("HTTP/1.1 407 Proxy Authentication Required\r\n"
                   "Proxy-Authenticate: Basic realm=\"x\"\r\n\r\n", TPT_HOLD,
                   EACCES, "node \"n\": http: proxy answered 407 Proxy "
                   "Authentication Required");
    expect_failure("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
                   TPT_HOLD, ECONNREFUSED, "http: proxy answered 502 Bad "
                   "Gateway");
    expect_failure("HTTP/1.0 500 Unable to connect\r\n\r\n", TPT_HOLD,
                   ECONNREFUSED, "answered 500 Unable to connect");
    expect_failure("HTTP/1.1 504 \r\n\r\n", TPT_HOLD, ETIMEDOUT,
                   "answered 504 Gateway Timeout");
    expect_failure("HTTP/1.1 403 Forbidden\r\n\r\n", TPT_HOLD, EACCES,
                   "answered 403 Forbidden");
    expect_failure("SSH-2.0-OpenSSH_9.2\r\n", TPT_HOLD, EPROTO,
                   "http: not an HTTP response (\"SSH-2.0-OpenSSH_9.2\")");
    expect_failure("HTTP/1.1 200 OK\r\n", TPT_CLOSE, ECONNRESET,
                   "closed the connection before its response");
    memcpy(long_head, "HTTP/1.1 200 OK\r\nX: ", 20);
    memset(long_head + 20, 'a', sizeof(long_head) - 21);
    expect_failure(long_head, TPT_HOLD, EPROTO,
                   "response head longer than 8192 bytes");
}
END_TEST

/* ---------------------------------------------------------------- server */

/* Send req, return the response head (up to the empty line). */
static void
exchange(struct tpt_server *s, int fd, const char *req, char *head, size_t size)
{
    size_t n = 0;

    tpt_send(fd, req, strlen(req));
    while (n + 1 < size && tpt_recv(&s->e, fd, head + n, 1, 2000) == 1) {
        n++;
        if (n >= 4 && memcmp(head + n - 4, "\r\n\r\n", 4) == 0) {
            break;
        }
    }
    head[n] = '\0';
}

START_TEST(serve_connect_with_early_data)
{
    struct tpt_server s;
    char          req[256], head[512], got[8];
    int           fd;

    tpt_server_start(&s, "http", "");
    fd = tpt_client(s.port);
    snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\nHost: "
             "127.0.0.1:%u\r\n\r\nearly", s.echo->port, s.echo->port);
    exchange(&s, fd, req, head, sizeof(head));
    ck_assert_str_eq(head, "HTTP/1.1 200 Connection established\r\n\r\n");
    ck_assert_uint_eq(tpt_recv(&s.e, fd, got, 5, 2000), 5);
    ck_assert(memcmp(got, "early", 5) == 0);
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

START_TEST(serve_auth)
{
    struct tpt_server s;
    char          req[256], head[512];
    int           fd;

    tpt_server_start(&s, "http", "auth = { username = \"aladdin\"; password = "
                 "\"opensesame\"; }; realm = \"gw\";");
    fd = tpt_client(s.port);
    snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n",
             s.echo->port);
    exchange(&s, fd, req, head, sizeof(head));
    ck_assert_str_eq(head, "HTTP/1.1 407 Proxy Authentication Required\r\n"
                     "Proxy-Authenticate: Basic realm=\"gw\"\r\n"
                     "Content-Length: 0\r\n\r\n");
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    fd = tpt_client(s.port);
    snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n"
             "Proxy-Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l\r\n\r\n",
             s.echo->port);
    exchange(&s, fd, req, head, sizeof(head));
    ck_assert_str_eq(head, "HTTP/1.1 200 Connection established\r\n\r\n");
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

START_TEST(serve_refusals)
{
    struct tpt_server s;
    char          req[256], head[512];
    int           fd;

    tpt_server_start(&s, "http", "");
    fd = tpt_client(s.port);
    exchange(&s, fd, "GET http://example.test/ HTTP/1.1\r\nHost: "
             "example.test\r\n\r\n", head, sizeof(head));
    ck_assert_str_eq(head, "HTTP/1.1 405 Method Not Allowed\r\nAllow: "
                     "CONNECT\r\nContent-Length: 0\r\n\r\n");
    ck_assert(tpt_closed(&s.e, fd, 2000));
    close(fd);
    fd = tpt_client(s.port);
    snprintf(req, sizeof(req), "CONNECT 127.0.0.1:%u HTTP/1.1\r\n\r\n",
             tpt_dead_port());
    exchange(&s, fd, req, head, sizeof(head));
    ck_assert_str_eq(head, "HTTP/1.1 502 Bad Gateway\r\n"
                     "Content-Length: 0\r\n\r\n");
    close(fd);
    fd = tpt_client(s.port);
    exchange(&s, fd, "\x16\x03\x01\x02\x00\r\n\r\n", head, sizeof(head));
    ck_assert_str_eq(head, "HTTP/1.1 400 Bad Request\r\n"
                     "Content-Length: 0\r\n\r\n");
    close(fd);
    tpt_env_free(&s.e);
}
END_TEST

START_TEST(connector_to_handler)
{
    struct tpt_env      e;
    struct tpt_mock    *echo;
    int                 l;
    uint16_t            p;

    tpt_env_init(&e);
    p = tpt_listen(&e, &l);
    echo = tpt_mock(&e, NULL, 0, TPT_ECHO);
    tpt_conf(&e, "services = ( { name = \"h\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"http\"; auth = { username = \"u\"; "
             "password = \"p:w\"; }; }; listener = { type = \"tcp\"; }; } );"
             " chains = ( { name = \"c\"; hops = ( { nodes = ( { addr = "
             "\"127.0.0.1:%u\"; connector = { type = \"http\"; auth = { "
             "username = \"u\"; password = \"p:w\"; }; }; } ); } ); } );", p);
    tpt_serve(&e, 0, l);
    tpt_dial_echo(&e, "c", "localhost", echo->port, 2000,
                  "GET / HTTP/1.0\r\n\r\n");
    tpt_env_free(&e);
}
END_TEST

Suite *
suite_http(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("connector");
    TCase *th = tcase_create("handler");

    tcase_set_timeout(tc, 20);
    tcase_set_timeout(th, 20);
    tcase_add_test(tc, connect_request_bytes);
    tcase_add_test(tc, connect_ipv6_no_auth);
    tcase_add_test(tc, connect_failures);
    tcase_add_test(tc, connector_to_handler);
    tcase_add_test(th, serve_connect_with_early_data);
    tcase_add_test(th, serve_auth);
    tcase_add_test(th, serve_refusals);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, th);
    return s;
}
