/*
 * test_relay_core.c - the relay core over socketpairs: both backends
 * (buffered with replayed bytes, spliced), layered streams on either side
 * (filter bufferevents standing in for TLS), half-close each way, bytes
 * counted, done() called exactly once and nothing touched after it (the
 * owner frees the relay inside done(), as conn.c does; run under ASan);
 * the worker-wide idle sweep; a spliced relay with no descriptor left for
 * a pipe (the bounce buffer).
 */
#include "tproxyd.h"
#include "relay.h"

#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct holder {
    struct tp_relay     r;
};

static int      n_done;
static uint64_t up, down;

static void
done_cb(struct tp_relay *r, enum tp_relay_end end)
{
    ck_assert_int_eq(end, TP_RELAY_DONE);
    n_done++;
    up = r->a.bytes;
    down = r->b.bytes;
    tp_relay_free(r, false, false);
    free(r);                            /* the owner's free, as conn.c's */
}

static enum bufferevent_filter_result
passthru(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t lim,
    enum bufferevent_flush_mode mode, void *ctx)
{
    (void) lim; (void) mode; (void) ctx;
    evbuffer_add_buffer(dst, src);
    return BEV_OK;
}

static void
spin(struct event_base *base, int n)
{
    for (int i = 0; i < n && n_done == 0; i++) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(1000);
    }
}

/* Write buf to wfd (then FIN) while reading rfd to EOF, the loop running
 * in between; returns the bytes read from rfd, which must be buf's unless
 * skip bytes came first (replayed ones). */
static size_t
transfer(struct event_base *base, int wfd, const char *buf, size_t len,
    int rfd, size_t skip)
{
    char   in[65536];
    size_t off = 0, total = 0;
    bool   fin = false;

    for (int i = 0; i < 200000; i++) {
        ssize_t n;

        if (off < len && (n = write(wfd, buf + off, len - off)) > 0) {
            off += (size_t) n;
        }
        if (off == len && !fin) {
            shutdown(wfd, SHUT_WR);
            fin = true;
        }
        n = read(rfd, in, sizeof(in));
        if (n == 0) {
            break;
        }
        if (n > 0) {
            for (size_t k = 0; k < (size_t) n; k++) {
                if (total + k >= skip) {
                    ck_assert_int_eq(in[k], buf[total + k - skip]);
                }
            }
            total += (size_t) n;
        } else {
            usleep(100);
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
    }
    ck_assert_uint_eq(off, len);
    return total;
}

/*
 * layer: 0 none, 1 client side layered, 2 upstream layered.
 * replay: bytes already read from the client (buffered backend).
 * The client sends `req` bytes and half-closes; the server reads them to
 * EOF, answers `resp` bytes and closes; the client reads them to EOF.
 */
static void
run(int layer, bool replay, size_t req, size_t resp, bool nopipe)
{
    struct event_base  *base = event_base_new();
    struct holder      *h = calloc(1, sizeof(*h));
    struct tp_poller    poller;
    struct tp_relay_env env;
    struct bufferevent *a, *b;
    int                 c[2], s[2];
    size_t              max = req > resp ? req : resp;
    char               *data = malloc(max + 1);
    struct rlimit       nofile;
    int                 lowest;

    n_done = 0;
    for (size_t i = 0; i < max; i++) {
        data[i] = (char) (i * 7 % 251);
    }
    ck_assert_int_eq(tp_poller_init(&poller, base), 0);
    ck_assert_int_eq(tp_relay_env_init(&env, base, &poller), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, c), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    for (int i = 0; i < 2; i++) {
        fcntl(c[i], F_SETFL, O_NONBLOCK);
        fcntl(s[i], F_SETFL, O_NONBLOCK);
    }
    a = bufferevent_socket_new(base, c[0], BEV_OPT_CLOSE_ON_FREE);
    b = bufferevent_socket_new(base, s[0], BEV_OPT_CLOSE_ON_FREE);
    if (layer == 1) {
        a = bufferevent_filter_new(a, passthru, passthru,
                                   BEV_OPT_CLOSE_ON_FREE, NULL, NULL);
    } else if (layer == 2) {
        b = bufferevent_filter_new(b, passthru, passthru,
                                   BEV_OPT_CLOSE_ON_FREE, NULL, NULL);
    }
    if (replay) {
        /* As sniffing leaves them: read by the client's stream, unsent.
         * (A socket bufferevent's input takes bytes only from its reads.) */
        ck_assert_int_eq(write(c[1], "GET / HTTP/1.0\r\n\r\n", 18), 18);
        bufferevent_enable(a, EV_READ);
        for (int i = 0; i < 1000
             && evbuffer_get_length(bufferevent_get_input(a)) < 18; i++) {
            event_base_loop(base, EVLOOP_NONBLOCK);
            usleep(100);
        }
        bufferevent_disable(a, EV_READ);
        ck_assert_uint_eq(evbuffer_get_length(bufferevent_get_input(a)), 18);
    }
    if (nopipe) {
        /* No descriptor left below the soft limit: no pipe can be had. */
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &nofile), 0);
        ck_assert_int_ge(lowest = dup(0), 0);
        close(lowest);
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &(struct rlimit) {
                             (rlim_t) lowest, nofile.rlim_max }), 0);
    }
    tp_relay_start(&h->r, &env, a, b, 0, done_cb);
    ck_assert_uint_eq(transfer(base, c[1], data, req, s[1],
                               replay ? 18 : 0), req + (replay ? 18 : 0));
    ck_assert_uint_eq(transfer(base, s[1], data, resp, c[1], 0), resp);
    spin(base, 200);
    ck_assert_int_eq(n_done, 1);
    ck_assert_uint_eq(up, req + (replay ? 18 : 0));
    ck_assert_uint_eq(down, resp);
    if (nopipe) {
        ck_assert_uint_eq(env.pipes.n, 0);      /* it did run without */
        ck_assert_ptr_nonnull(env.bounce);
        ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &nofile), 0);
    }
    close(c[1]);
    close(s[1]);
    free(data);
    tp_relay_env_free(&env);
    tp_poller_free(&poller);
    event_base_free(base);
}

/* ------------------------------------------------------------ idle sweep */

static enum tp_relay_end idle_end[3];
static int               idle_ended[3];

static void
idle_done_cb(struct tp_relay *r, enum tp_relay_end end)
{
    int i = (int) (r->idle_ms % 10);

    idle_end[i] = end;
    idle_ended[i]++;
    tp_relay_free(r, false, false);
    free(r);
}

/* A relay of two fresh socketpairs; returns the client's far end and
 * stores the server's in *sfd. idle_ms's last digit tags it (0..2). */
static int
idle_relay(struct event_base *base, struct tp_relay_env *env,
    uint64_t idle_ms, int *sfd)
{
    struct holder *h = calloc(1, sizeof(*h));
    int            c[2], s[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, c), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    for (int i = 0; i < 2; i++) {
        fcntl(c[i], F_SETFL, O_NONBLOCK);
        fcntl(s[i], F_SETFL, O_NONBLOCK);
    }
    tp_relay_start(&h->r, env,
                   bufferevent_socket_new(base, c[0], BEV_OPT_CLOSE_ON_FREE),
                   bufferevent_socket_new(base, s[0], BEV_OPT_CLOSE_ON_FREE),
                   idle_ms, idle_done_cb);
    *sfd = s[1];
    return c[1];
}

/*
 * Relay 0 (idle 5 s) is the oldest and stays quiet; relay 1 (idle 0.3 s)
 * stays quiet; relay 2 (idle 0.3 s) gets a byte every 0.1 s. After 1.6 s
 * only relay 1 has ended, as idle; the sweep walked past relay 0, whose
 * own timeout had not come.
 */
START_TEST(idle_sweep)
{
    struct event_base  *base = event_base_new();
    struct tp_poller    poller;
    struct tp_relay_env env;
    int                 c[3], s[3];
    char                buf[16];

    ck_assert_int_eq(tp_poller_init(&poller, base), 0);
    ck_assert_int_eq(tp_relay_env_init(&env, base, &poller), 0);
    memset(idle_ended, 0, sizeof(idle_ended));
    c[0] = idle_relay(base, &env, 5000, &s[0]);
    c[1] = idle_relay(base, &env, 301, &s[1]);
    c[2] = idle_relay(base, &env, 302, &s[2]);
    ck_assert_uint_eq(env.min_idle_ms, 301);
    for (int i = 0; i < 160; i++) {
        if (i % 10 == 0) {
            ck_assert_int_eq(write(c[2], "x", 1), 1);
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        usleep(10000);
        while (read(s[2], buf, sizeof(buf)) > 0) {
        }
    }
    ck_assert_int_eq(idle_ended[0], 0);
    ck_assert_int_eq(idle_ended[1], 1);
    ck_assert_int_eq(idle_end[1], TP_RELAY_IDLE);
    ck_assert_int_eq(idle_ended[2], 0);
    ck_assert_ptr_eq(env.oldest->newer, env.newest);   /* 0 and 2 left */
    ck_assert_uint_eq(env.newest->idle_ms, 302);
    while (env.oldest != NULL) {
        struct tp_relay *r = env.oldest;
        tp_relay_free(r, false, false);     /* unlinks it */
        free(r);
    }
    for (int i = 0; i < 3; i++) {
        close(c[i]);
        close(s[i]);
    }
    tp_relay_env_free(&env);
    tp_poller_free(&poller);
    event_base_free(base);
}
END_TEST

START_TEST(spliced)            { run(0, false, 1000000, 3000000, false); } END_TEST
START_TEST(buffered_replay)    { run(0, true, 1000, 300000, false); } END_TEST
START_TEST(layered_client)     { run(1, true, 1000, 300000, false); } END_TEST
START_TEST(layered_upstream)   { run(2, true, 100000, 300000, false); } END_TEST
START_TEST(layered_no_replay)  { run(2, false, 0, 300000, false); } END_TEST
/* Descriptors exhausted: the spliced relay moves every byte, in order,
 * through the bounce buffer (peek, send, consume what went). */
START_TEST(spliced_no_pipe)    { run(0, false, 1000000, 3000000, true); } END_TEST

Suite *
suite_relay_core(void)
{
    Suite *s = suite_create("relay_core");
    TCase *tc = tcase_create("relay");

    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, spliced);
    tcase_add_test(tc, spliced_no_pipe);
    tcase_add_test(tc, buffered_replay);
    tcase_add_test(tc, layered_client);
    tcase_add_test(tc, layered_upstream);
    tcase_add_test(tc, layered_no_replay);
    tcase_add_test(tc, idle_sweep);
    suite_add_tcase(s, tc);
    return s;
}
