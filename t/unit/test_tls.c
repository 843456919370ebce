/*
 * test_tls.c - modules/tls.c: the dialer verifying a self-signed server
 * through tls.ca_file by name (SNI + hostname check) and by IP, refusing
 * an unknown CA or a wrong name with the reason, tls.insecure, client
 * certificates, TLS inside the tunnel of a previous hop, a non-TLS peer;
 * the listener serving tproxyd's handlers; config errors naming the file.
 */
#include "tproxyd.h"
#include "test_chain.h"

#include <check.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <stdio.h>

struct bed {
    struct tpt_env      e;
    struct tpt_mock    *echo;
    char                cert[128], key[128], ccert[128], ckey[128];
    int                 l;
    uint16_t            port;
};

/* A tproxyd http server on a tls listener, and chain "c" through it with
 * the given dialer body; the server certificate, the client certificate
 * and its key are substituted for the dialer's %s, the client
 * certificate for the listener_extra's. */
static void
bed_start(struct bed *b, const char *listener_extra, const char *dialer)
{
    char dial[512], extra[256];

    tpt_env_init(&b->e);
    tpt_make_cert(&b->e, "proxy.test", b->cert, b->key, sizeof(b->cert));
    tpt_make_cert(&b->e, "client.test", b->ccert, b->ckey, sizeof(b->ccert));
    b->port = tpt_listen(&b->e, &b->l);
    b->echo = tpt_mock(&b->e, NULL, 0, TPT_ECHO);
    snprintf(dial, sizeof(dial), dialer, b->cert, b->ccert, b->ckey);
    snprintf(extra, sizeof(extra), listener_extra, b->ccert);
    tpt_conf(&b->e, "services = ( { name = \"h\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"http\"; }; listener = { type = \"tls\"; "
             "tls = { cert_file = \"%s\"; key_file = \"%s\"; %s }; }; } );"
             "chains = ( { name = \"c\"; hops = ( { nodes = ( { name = "
             "\"n\"; addr = \"127.0.0.1:%u\"; connector = { type = \"http\";"
             " }; dialer = { type = \"tls\"; %s }; } ); } ); } );",
             b->cert, b->key, extra, b->port, dial);
    tpt_serve(&b->e, 0, b->l);
}

static void
bed_expect(struct bed *b, int err, const char *why)
{
    struct tpt_dialres r;

    tpt_dial(&b->e, "c", "127.0.0.1", b->echo->port, &r, 2000);
    if (err == 0) {
        ck_assert_msg(r.err == 0, "%s", r.why);
        ck_assert(tpt_echo(&b->e, r.bev, "over tls"));
        bufferevent_free(r.bev);
    } else {
        ck_assert_int_eq(r.err, err);
        ck_assert_msg(strstr(r.why, why) != NULL, "why: %s", r.why);
    }
    tpt_env_free(&b->e);
}

START_TEST(verify_by_name)
{
    struct bed b;

    bed_start(&b, "", "tls = { ca_file = \"%s\"; server_name = "
              "\"proxy.test\"; };");
    bed_expect(&b, 0, NULL);
}
END_TEST

START_TEST(verify_by_ip)
{
    struct bed b;

    bed_start(&b, "", "tls = { ca_file = \"%s\"; };");
    bed_expect(&b, 0, NULL);
}
END_TEST

START_TEST(unknown_ca)
{
    struct bed b;

    bed_start(&b, "", "");
    bed_expect(&b, EPROTO, "node \"n\": tls: certificate verify failed: "
               "self-signed certificate");
}
END_TEST

START_TEST(wrong_name)
{
    struct bed b;

    bed_start(&b, "", "tls = { ca_file = \"%s\"; server_name = "
              "\"other.test\"; };");
    bed_expect(&b, EPROTO, "tls: certificate verify failed: hostname "
               "mismatch");
}
END_TEST

START_TEST(insecure)
{
    struct bed b;

    bed_start(&b, "", "tls = { insecure = true; server_name = \"x.test\"; "
              "};");
    bed_expect(&b, 0, NULL);
}
END_TEST

START_TEST(client_certificate)
{
    struct bed b;

    bed_start(&b, "ca_file = \"%s\";", "tls = { ca_file = \"%s\"; "
              "cert_file = \"%s\"; key_file = \"%s\"; };");
    bed_expect(&b, 0, NULL);
    /* TLS 1.3: the client finishes first; the server's alert then ends
     * the stream before the proxy's answer. */
    bed_start(&b, "ca_file = \"%s\";", "tls = { ca_file = \"%s\"; };");
    bed_expect(&b, ECONNRESET, "node \"n\": http: ");
}
END_TEST

START_TEST(not_tls_peer)
{
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *plain;
    static const struct tpt_step steps[] = {
        { NULL, 5, "HTTP/1.1 400 Bad Request\r\n\r\n", 28 }
    };

    tpt_env_init(&e);
    plain = tpt_mock(&e, steps, 1, TPT_CLOSE);
    tpt_conf(&e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { nodes = ( { addr "
             "= \"127.0.0.1:%u\"; connector = { type = \"http\"; }; dialer = "
             "{ type = \"tls\"; }; } ); } ); } );", plain->port);
    tpt_dial(&e, "c", "127.0.0.1", 80, &r, 2000);
    ck_assert_int_eq(r.err, EPROTO);
    ck_assert_msg(strstr(r.why, "tls: handshake failed") != NULL
                  || strstr(r.why, "tls: the server closed") != NULL,
                  "why: %s", r.why);
    tpt_env_free(&e);
}
END_TEST

/* hop 0: socks5 (plain); hop 1: relay over TLS, inside hop 0's tunnel. */
START_TEST(tls_inside_previous_hop)
{
    struct tpt_env      e;
    struct tpt_mock    *echo;
    char                cert[128], key[128], hosts[128];
    FILE               *f;
    int                 l1, l2;
    uint16_t            p1, p2;

    tpt_env_init(&e);
    tpt_make_cert(&e, "relay.test", cert, key, sizeof(cert));
    p1 = tpt_listen(&e, &l1);
    p2 = tpt_listen(&e, &l2);
    echo = tpt_mock(&e, NULL, 0, TPT_ECHO);
    tpt_conf(&e, "services = ("
             "{ name = \"s5\"; addr = \"127.0.0.1:1\"; handler = { type = "
             "\"socks5\"; }; listener = { type = \"tcp\"; }; },"
             "{ name = \"rl\"; addr = \"127.0.0.1:2\"; handler = { type = "
             "\"relay\"; auth = { username = \"u\"; password = \"p\"; }; }; "
             "listener = { type = \"tls\"; tls = { cert_file = \"%s\"; "
             "key_file = \"%s\"; }; }; } );"
             "chains = ( { name = \"c\"; hops = ("
             "{ nodes = ( { addr = \"127.0.0.1:%u\"; connector = { type = "
             "\"socks5\"; }; } ); },"
             "{ nodes = ( { addr = \"relay.test:%u\"; connector = { type = "
             "\"relay\"; auth = { username = \"u\"; password = \"p\"; }; }; "
             "dialer = { type = \"tls\"; tls = { ca_file = \"%s\"; }; }; } );"
             " } ); } );", cert, key, p1, p2, cert);
    /* hop 0's socks5 server resolves relay.test through a hosts file. */
    snprintf(hosts, sizeof(hosts), "%s/hosts", tpt_tmp(&e));
    f = fopen(hosts, "w");
    fprintf(f, "127.0.0.1 relay.test\n");
    fclose(f);
    ck_assert_int_eq(evdns_base_load_hosts(e.w.dns, hosts), 0);
    tpt_serve(&e, 0, l1);
    tpt_serve(&e, 1, l2);
    tpt_dial_echo(&e, "c", "127.0.0.1", echo->port, 3000,
                  "tls in a socks5 tunnel");
    tpt_env_free(&e);
}
END_TEST

START_TEST(config_errors)
{
    struct tpt_env  e;
    struct tp_err   err;
    struct tp_conf *c;
    char            text[1024], cert[128], key[128], other[128], okey[128];

    c = tpt_conf_try("services = ( { name = \"s\"; addr = \":1\"; handler = "
                     "{ type = \"http\"; }; listener = { type = \"tls\"; }; }"
                     " );", &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, "listener.tls") != NULL
                  && strstr(err.msg, "required") != NULL, "%s", err.msg);
    c = tpt_conf_try("services = ( { name = \"s\"; addr = \":1\"; handler = "
                     "{ type = \"http\"; }; listener = { type = \"tls\"; tls ="
                     " { cert_file = \"/nonexistent/c.pem\"; }; }; } );",
                     &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, "tls listener of service \"s\": "
                         "tls.cert_file \"/nonexistent/c.pem\": cannot read: "
                         "No such file or directory") != NULL, "%s", err.msg);
    tpt_env_init(&e);
    tpt_make_cert(&e, "a.test", cert, key, sizeof(cert));
    tpt_make_cert(&e, "b.test", other, okey, sizeof(other));
    snprintf(text, sizeof(text), "services = ( { name = \"s\"; addr = "
             "\":1\"; handler = { type = \"http\"; }; listener = { type = "
             "\"tls\"; tls = { cert_file = \"%s\"; key_file = \"%s\"; }; }; "
             "} );", cert, okey);
    c = tpt_conf_try(text, &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, "does not match tls.cert_file") != NULL,
                  "%s", err.msg);
    snprintf(text, sizeof(text), "services = ( { name = \"s\"; addr = "
             "\":1\"; handler = { type = \"red\"; }; listener = { type = "
             "\"red\"; }; } ); chains = ( { name = \"c\"; hops = ( { nodes "
             "= ( { addr = \"h:1\"; connector = { type = \"http\"; }; dialer"
             " = { type = \"tls\"; tls = { ca_file = \"%s/none.pem\"; }; }; "
             "} ); } ); } );", tpt_tmp(&e));
    c = tpt_conf_try(text, &err);
    ck_assert_ptr_null(c);
    ck_assert_msg(strstr(err.msg, "tls dialer: tls.ca_file") != NULL
                  && strstr(err.msg, "cannot read") != NULL, "%s", err.msg);
    tpt_env_free(&e);
}
END_TEST

Suite *
suite_tls(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, verify_by_name);
    tcase_add_test(tc, verify_by_ip);
    tcase_add_test(tc, unknown_ca);
    tcase_add_test(tc, wrong_name);
    tcase_add_test(tc, insecure);
    tcase_add_test(tc, client_certificate);
    tcase_add_test(tc, not_tls_peer);
    tcase_add_test(tc, config_errors);
    suite_add_tcase(s, tc);
    tc = tcase_create("tunnel");
    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, tls_inside_previous_hop);
    suite_add_tcase(s, tc);
    return s;
}
