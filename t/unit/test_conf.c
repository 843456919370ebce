/*
 * test_conf.c - the config model: good files give the expected model and
 * survive a -T round trip; each class of error names file:line, the
 * setting path and what was expected.
 */
#include "tproxyd.h"
#include "conf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char path[64];

static void
write_conf(const char *text)
{
    FILE *f;
    int   fd;

    snprintf(path, sizeof(path), "/tmp/tp-test-conf-XXXXXX");
    fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
}

static struct tp_conf *
load(const char *text, struct tp_err *err)
{
    struct tp_conf *c;

    write_conf(text);
    memset(err, 0, sizeof(*err));
    c = tp_conf_load(path, err);
    unlink(path);
    return c;
}

/* Loading fails with a message containing every given piece. */
static void
expect_error(const char *text, const char *const *parts)
{
    struct tp_err   err;
    struct tp_conf *c = load(text, &err);

    ck_assert_msg(c == NULL, "expected an error for:\n%s", text);
    ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0,
                  "message does not start with the file: %s", err.msg);
    for (; *parts; parts++) {
        ck_assert_msg(strstr(err.msg, *parts) != NULL,
                      "\"%s\" not in \"%s\"", *parts, err.msg);
    }
}

#define EXPECT_ERROR(text, ...)                                             \
    do {                                                                    \
        const char *const p_[] = { __VA_ARGS__, NULL };                     \
        expect_error(text, p_);                                             \
    } while (0)

#define FWD_SERVICE                                                         \
    "services = ( { name = \"a\"; addr = \":18080\";\n"                     \
    "  handler = { type = \"tcp\"; }; listener = { type = \"tcp\"; };\n"    \
    "  forwarder = { nodes = ( { addr = \"127.0.0.1:81\"; } ); }; } );\n"

START_TEST(good_forward)
{
    struct tp_err   err;
    struct tp_conf *c = load(
        "worker_processes = 3;\nuser = \"nobody\";\n"
        "worker_shutdown_timeout = \"1m30s\";\n"
        "log = { level = \"debug\"; target = \"stderr\"; };\n"
        "services = ( { name = \"a\"; addr = \"[::1]:18080\";\n"
        "  sockopts = { mark = 0x64; source = [\"192.0.2.1\", \"::1\"]; };\n"
        "  connect_timeout = \"3s\";\n"
        "  handler = { type = \"tcp\"; }; listener = { type = \"tcp\"; };\n"
        "  forwarder = { selector = { strategy = \"fifo\"; max_fails = 3; };\n"
        "    nodes = ( { name = \"n\"; addr = \"10.0.0.1:80\"; },\n"
        "              { addr = \"example.com:81\"; } ); }; } );\n", &err);

    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_int_eq(c->nworkers, 3);
    ck_assert_str_eq(c->user, "nobody");
    ck_assert_uint_eq(c->worker_shutdown_timeout_ms, 90000);
    ck_assert_int_eq(c->log.level, 4);
    ck_assert_uint_eq(c->nservices, 1);
    ck_assert_str_eq(c->services[0].addr.host, "::1");
    ck_assert_uint_eq(c->services[0].addr.port, 18080);
    ck_assert_int_eq(c->services[0].sockopts.mark, 100);
    ck_assert_uint_eq(c->services[0].sockopts.nsource, 2);
    ck_assert_str_eq(c->services[0].sockopts.source[1], "::1");
    ck_assert_int_eq(c->services[0].sockopts.source_sa[1].sa.sa_family,
                     AF_INET6);          /* parsed once, at load */
    ck_assert_uint_eq(c->services[0].connect_timeout_ms, 3000);
    ck_assert_uint_eq(c->services[0].idle_timeout_ms, 300000);
    ck_assert_str_eq(c->services[0].handler.mod->name, "tcp");
    ck_assert_uint_eq(c->services[0].forwarder.nnodes, 2);
    ck_assert_int_eq(c->services[0].forwarder.selector.strategy, TP_SEL_FIFO);
    ck_assert_int_eq(c->services[0].forwarder.selector.max_fails, 3);
    ck_assert_str_eq(c->services[0].forwarder.nodes[1].addr.host,
                     "example.com");
    tp_conf_free(c);
}
END_TEST

START_TEST(defaults)
{
    struct tp_err   err;
    struct tp_conf *c = load(FWD_SERVICE, &err);

    ck_assert_msg(c != NULL, "%s", err.msg);
    ck_assert_int_eq(c->worker_processes, 0);          /* auto */
    ck_assert_int_ge(c->nworkers, 1);
    ck_assert_uint_eq(c->worker_shutdown_timeout_ms, 30000);
    ck_assert_str_eq(c->log.target, "stderr");
    ck_assert_int_eq(c->services[0].forwarder.selector.strategy,
                     TP_SEL_ROUND);
    ck_assert_uint_eq(c->services[0].forwarder.selector.fail_timeout_ms,
                      10000);
    tp_conf_free(c);
}
END_TEST

START_TEST(print_round_trip)
{
    struct tp_err   err;
    struct tp_conf *a = load(FWD_SERVICE, &err), *b;
    char           *t1 = NULL, *t2 = NULL;
    size_t          n1, n2;
    FILE           *f;

    ck_assert_ptr_nonnull(a);
    f = open_memstream(&t1, &n1);
    tp_conf_print(a, f);
    fclose(f);
    b = load(strchr(t1, '\n') + 1, &err);
    ck_assert_msg(b != NULL, "%s", err.msg);
    f = open_memstream(&t2, &n2);
    tp_conf_print(b, f);
    fclose(f);
    ck_assert_str_eq(strchr(t1, '\n'), strchr(t2, '\n'));
    tp_conf_free(a);
    tp_conf_free(b);
    free(t1);
    free(t2);
}
END_TEST

START_TEST(err_syntax)
{
    EXPECT_ERROR("worker_processes = 2;\nservices = ( { name = ; } );\n",
                 ":2: syntax error");
}
END_TEST

START_TEST(err_unknown_top)
{
    EXPECT_ERROR("worker_process = 2;\n" FWD_SERVICE,
                 ":1: worker_process: unknown setting", "worker_processes");
}
END_TEST

START_TEST(err_unknown_nested)
{
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  handler = { type = \"tcp\"; bogus = 1; };\n"
                 "  listener = { type = \"tcp\"; }; } );\n",
                 ":2: services[0].handler.bogus: unknown setting");
}
END_TEST

START_TEST(err_type)
{
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  handler = { type = \"red\"; tproxy = \"yes\"; };\n"
                 "  listener = { type = \"red\"; }; } );\n",
                 ":2: services[0].handler.tproxy", "expected true or false");
}
END_TEST

START_TEST(err_duration)
{
    EXPECT_ERROR("worker_shutdown_timeout = \"30 seconds\";\n" FWD_SERVICE,
                 ":1: worker_shutdown_timeout", "expected a duration",
                 "30 seconds");
}
END_TEST

START_TEST(err_address)
{
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":99999\";\n"
                 "  handler = { type = \"tcp\"; };\n"
                 "  listener = { type = \"tcp\"; }; } );\n",
                 ":1: services[0].addr", "port must be a number");
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \"::1:80\";\n"
                 "  handler = { type = \"tcp\"; };\n"
                 "  listener = { type = \"tcp\"; }; } );\n",
                 ":1: services[0].addr", "brackets");
}
END_TEST

START_TEST(err_module_type)
{
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  handler = { type = \"nope\"; };\n"
                 "  listener = { type = \"tcp\"; }; } );\n",
                 ":2: services[0].handler.type", "unknown handler type "
                 "\"nope\"", "\"tcp\"");
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  handler = { chain = \"x\"; };\n"
                 "  listener = { type = \"tcp\"; }; } );\n",
                 ":2: services[0].handler.type", "required");
}
END_TEST

START_TEST(err_required)
{
    EXPECT_ERROR("worker_processes = 1;\n", "services",
                 "required setting is missing");
    EXPECT_ERROR("services = ( { name = \"a\";\n"
                 "  handler = { type = \"tcp\"; };\n"
                 "  listener = { type = \"tcp\"; }; } );\n",
                 ":1: services[0].addr: required setting is missing");
}
END_TEST

START_TEST(err_bounds)
{
    EXPECT_ERROR("worker_processes = 0;\n" FWD_SERVICE,
                 ":1: worker_processes", "from 1 to 1024");
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  sockopts = { mark = -1; };\n"
                 "  handler = { type = \"tcp\"; };\n"
                 "  listener = { type = \"tcp\"; }; } );\n",
                 ":2: services[0].sockopts.mark", "from 0 to");
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  sockopts = { source = [\"10.0.0.1\", \"eth0\"]; };\n"
                 "  handler = { type = \"tcp\"; };\n"
                 "  listener = { type = \"tcp\"; }; } );\n",
                 ":2: services[0].sockopts.source", "not an IP address",
                 "eth0");
}
END_TEST

START_TEST(err_choice)
{
    EXPECT_ERROR("log = { level = \"loud\"; };\n" FWD_SERVICE,
                 ":1: log.level", "\"debug\"", "loud");
}
END_TEST

START_TEST(err_references)
{
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  handler = { type = \"red\"; chain = \"missing\"; };\n"
                 "  listener = { type = \"red\"; }; } );\n",
                 "handler.chain: no chain named \"missing\"");
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  handler = { type = \"tcp\"; };\n"
                 "  listener = { type = \"udp\"; }; } );\n",
                 "is for TCP but listener \"udp\" is for UDP");
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  handler = { type = \"tcp\"; };\n"
                 "  listener = { type = \"tcp\"; }; } );\n",
                 "needs forwarder.nodes");
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":18080\";\n"
                 "  handler = { type = \"red\"; }; listener = { type = \"red\"; }; },\n"
                 "  { name = \"b\"; addr = \":18080\";\n"
                 "  handler = { type = \"red\"; }; listener = { type = \"red\"; }; } );\n",
                 "services \"a\" and \"b\" listen on the same address");
    EXPECT_ERROR(FWD_SERVICE "chains = ( { name = \"c\"; hops = ( ); },\n"
                 "  { name = \"c\"; hops = ( ); } );\n",
                 "two chains are named \"c\"");
}
END_TEST

START_TEST(err_bypass)
{
    EXPECT_ERROR("bypasses = ( { name = \"b\";\n"
                 "  matchers = [ \"10.0.0.0/8\", \"10.0.0.0/99\" ]; } );\n"
                 FWD_SERVICE,
                 ":2: bypasses[0].matchers", "element 1",
                 "not a valid address or CIDR");
    EXPECT_ERROR("services = ( { name = \"a\"; addr = \":1\";\n"
                 "  bypass = \"nope\";\n"
                 "  handler = { type = \"red\"; };\n"
                 "  listener = { type = \"red\"; }; } );\n",
                 "service \"a\": bypass: no entry named \"nope\"");
}
END_TEST

START_TEST(err_missing_file)
{
    struct tp_err err;

    ck_assert_ptr_null(tp_conf_load("/nonexistent/tproxyd.conf", &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/tproxyd.conf: "
                                          "cannot read"));
}
END_TEST

Suite *
suite_conf(void)
{
    Suite *s = suite_create("conf");
    TCase *good = tcase_create("good");
    TCase *bad = tcase_create("errors");

    tcase_add_test(good, good_forward);
    tcase_add_test(good, defaults);
    tcase_add_test(good, print_round_trip);
    tcase_add_test(bad, err_syntax);
    tcase_add_test(bad, err_unknown_top);
    tcase_add_test(bad, err_unknown_nested);
    tcase_add_test(bad, err_type);
    tcase_add_test(bad, err_duration);
    tcase_add_test(bad, err_address);
    tcase_add_test(bad, err_module_type);
    tcase_add_test(bad, err_required);
    tcase_add_test(bad, err_bounds);
    tcase_add_test(bad, err_choice);
    tcase_add_test(bad, err_references);
    tcase_add_test(bad, err_bypass);
    tcase_add_test(bad, err_missing_file);
    suite_add_tcase(s, good);
    suite_add_tcase(s, bad);
    return s;
}
