/*
 * test_chain.c - chained dialing (src/dial.c) end to end on loopback, with
 * tproxyd's own handlers as the proxies and scripted mock peers: direct
 * dials, one and two hops, a refused / garbage / silent node skipped per
 * the selector and the flow retried through the next one, refusals of the
 * final target charged to nobody, refusals of the next hop charged to that
 * node, and the per-attempt timeout. Also the test bed of test_chain.h.
 */
#include "tproxyd.h"
#include "test_chain.h"
#include "conn.h"
#include "log.h"
#include "module.h"
#include "select.h"

#include <arpa/inet.h>
#include <check.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ------------------------------------------------------------- test bed */

static void mock_conn_free(struct mock_conn *mc);

void
tpt_env_init(struct tpt_env *e)
{
    const char *lv = getenv("TPT_LOG");

    memset(e, 0, sizeof(*e));
    tp_log_sink.level = lv ? tp_log_level_parse(lv) : TP_LOG_ERR;
    e->base = event_base_new();
    e->w.base = e->base;
    ck_assert_int_eq(tp_poller_init(&e->w.poller, e->base), 0);
    ck_assert_int_eq(tp_relay_env_init(&e->w.relays, e->base, &e->w.poller),
                     0);
    e->w.dns = evdns_base_new(e->base, 0);
    evdns_base_load_hosts(e->w.dns, NULL);
    e->w.cycle = &e->cycle;
}

const char *
tpt_tmp(struct tpt_env *e)
{
    if (e->tmpdir[0] == '\0') {
        snprintf(e->tmpdir, sizeof(e->tmpdir), "/tmp/tpt-XXXXXX");
        ck_assert_ptr_nonnull(mkdtemp(e->tmpdir));
    }
    return e->tmpdir;
}

void
tpt_env_free(struct tpt_env *e)
{
    char cmd[128];

    while (e->w.conns != NULL) {
        tp_conn_close(e->w.conns, TP_END_SHUTDOWN, NULL);
    }
    for (size_t i = 0; i < e->nlisten; i++) {
        if (e->lev[i] != NULL) {
            evconnlistener_free(e->lev[i]);
        } else {
            close(e->lfd[i]);
        }
    }
    while (e->mocks != NULL) {
        struct tpt_mock *m = e->mocks;
        e->mocks = m->next;
        while (m->conns != NULL) {
            mock_conn_free(m->conns);
        }
        evconnlistener_free(m->lev);
        free(m);
    }
    for (size_t i = 0; i < e->nudp; i++) {
        event_free(e->udp_ev[i]);
        close(e->udp_fd[i]);
    }
    tp_relay_env_free(&e->w.relays);    /* spliced relays' pipes */
    tp_poller_free(&e->w.poller);
    tp_conf_free(e->conf);
    evdns_base_free(e->w.dns, 0);
    event_base_free(e->base);
    if (e->tmpdir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "rm -rf %s", e->tmpdir);
        if (system(cmd) != 0) {
            /* best effort */
        }
    }
}

static int
listen_any(uint16_t *port)
{
    struct sockaddr_in sin;
    socklen_t          len = sizeof(sin);
    int                fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int                one = 1;

    ck_assert_int_ge(fd, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(fd, 64), 0);
    getsockname(fd, (struct sockaddr *) &sin, &len);
    *port = ntohs(sin.sin_port);
    return fd;
}

uint16_t
tpt_listen(struct tpt_env *e, int *idx)
{
    ck_assert_uint_lt(e->nlisten, TPT_MAX_LISTEN);
    e->lfd[e->nlisten] = listen_any(&e->lport[e->nlisten]);
    *idx = (int) e->nlisten;
    return e->lport[e->nlisten++];
}

union tp_sa
tpt_sa(const char *ip, uint16_t port)
{
    union tp_sa a;

    memset(&a, 0, sizeof(a));
    if (inet_pton(AF_INET, ip, &a.in.sin_addr) == 1) {
        a.in.sin_family = AF_INET;
        a.in.sin_port = htons(port);
        return a;
    }
    ck_assert_int_eq(inet_pton(AF_INET6, ip, &a.in6.sin6_addr), 1);
    a.in6.sin6_family = AF_INET6;
    a.in6.sin6_port = htons(port);
    return a;
}

uint16_t
tpt_dead_port(void)
{
    uint16_t port;
    int      fd = listen_any(&port);

    close(fd);
    return port;
}

struct tp_conf *
tpt_conf_try(const char *text, struct tp_err *err)
{
    config_t        cfg;
    struct tp_conf *conf = NULL;

    config_init(&cfg);
    if (config_read_string(&cfg, text) != CONFIG_TRUE) {
        snprintf(err->msg, sizeof(err->msg), "line %d: %s",
                 config_error_line(&cfg), config_error_text(&cfg));
    } else {
        conf = tp_conf_from_config(&cfg, "test", err);
    }
    config_destroy(&cfg);
    return conf;
}

void
tpt_conf(struct tpt_env *e, const char *fmt, ...)
{
    char          text[8192];
    struct tp_err err;
    va_list       ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    memset(&err, 0, sizeof(err));
    e->conf = tpt_conf_try(text, &err);
    ck_assert_msg(e->conf != NULL, "config: %s\n%s", err.msg, text);
    e->cycle.conf = e->conf;
}

static void
serve_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
    struct tp_svc_worker        *sw = arg;
    const struct tp_handler_ops *h;
    struct tp_conn              *c;

    (void) lev;
    evutil_make_socket_nonblocking(fd);
    c = tp_conn_new(sw, fd, sa, (socklen_t) len);
    ck_assert_ptr_nonnull(c);
    h = sw->svc->handler.mod->role[TP_ROLE_HANDLER].ops;
    h->stream(c);
}

void
tpt_serve(struct tpt_env *e, size_t svc, int idx)
{
    struct tp_svc_worker *sw = &e->sws[idx];

    ck_assert_uint_lt(svc, e->conf->nservices);
    sw->w = &e->w;
    sw->svc = &e->conf->services[svc];
    sw->fd = e->lfd[idx];
    e->lev[idx] = evconnlistener_new(e->base, serve_accept_cb, sw,
                                     LEV_OPT_CLOSE_ON_FREE, 0, e->lfd[idx]);
    ck_assert_ptr_nonnull(e->lev[idx]);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd; (void) what;
    event_base_loopbreak(arg);
}

bool
tpt_run_until(struct tpt_env *e, const bool *flag, int timeout_ms)
{
    uint64_t end = tp_now_ms() + (uint64_t) timeout_ms;

    while (!*flag && tp_now_ms() < end) {
        struct timeval tv = { 0, 5000 };
        struct event  *t = evtimer_new(e->base, stop_cb, e->base);

        evtimer_add(t, &tv);
        event_base_loop(e->base, EVLOOP_ONCE);
        event_free(t);
    }
    return *flag;
}

void
tpt_run_for(struct tpt_env *e, int ms)
{
    bool never = false;

    tpt_run_until(e, &never, ms);
}

/* ---------------------------------------------------------------- mocks */

struct mock_conn {
    struct mock_conn   *next, *prev;
    struct tpt_mock    *m;
    struct bufferevent *bev;
    size_t              step;
};

static void
mock_conn_free(struct mock_conn *mc)
{
    if (mc->prev != NULL) {
        mc->prev->next = mc->next;
    } else {
        mc->m->conns = mc->next;
    }
    if (mc->next != NULL) {
        mc->next->prev = mc->prev;
    }
    bufferevent_free(mc->bev);
    free(mc);
}

static void
mock_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void) bev; (void) what;
    mock_conn_free(arg);
}

static void
mock_close_cb(struct bufferevent *bev, void *arg)
{
    (void) bev;
    mock_conn_free(arg);
}

static void
mock_read_cb(struct bufferevent *bev, void *arg)
{
    struct mock_conn *mc = arg;
    struct tpt_mock  *m = mc->m;
    struct evbuffer  *in = bufferevent_get_input(bev);

    while (mc->step < m->nsteps) {
        const struct tpt_step *s = &m->steps[mc->step];
        if (evbuffer_get_length(in) < s->elen) {
            return;
        }
        if (s->expect != NULL
            && memcmp(evbuffer_pullup(in, (ssize_t) s->elen), s->expect,
                      s->elen) != 0) {
            m->mismatch = true;
        }
        evbuffer_drain(in, s->elen);
        if (s->rlen > 0) {
            bufferevent_write(bev, s->reply, s->rlen);
        }
        mc->step++;
    }
    if (m->after == TPT_ECHO) {
        bufferevent_write_buffer(bev, in);
    } else if (m->after == TPT_CLOSE) {
        /* Close once the replies are written. */
        bufferevent_setcb(bev, NULL, mock_close_cb, mock_event_cb, mc);
        bufferevent_disable(bev, EV_READ);
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
            mock_conn_free(mc);
        }
    } else {
        evbuffer_drain(in, evbuffer_get_length(in));
    }
}

static void
mock_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int len, void *arg)
{
    struct tpt_mock    *m = arg;
    struct mock_conn   *mc = calloc(1, sizeof(*mc));
    struct bufferevent *bev;

    (void) lev; (void) sa; (void) len;
    m->accepted++;
    mc->m = m;
    bev = bufferevent_socket_new(m->e->base, fd, BEV_OPT_CLOSE_ON_FREE);
    mc->bev = bev;
    mc->next = m->conns;
    if (m->conns != NULL) {
        m->conns->prev = mc;
    }
    m->conns = mc;
    bufferevent_setcb(bev, mock_read_cb, NULL, mock_event_cb, mc);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    /* Steps that expect nothing speak first. */
    mock_read_cb(bev, mc);
}

struct tpt_mock *
tpt_mock(struct tpt_env *e, const struct tpt_step *steps, size_t nsteps,
    int after)
{
    struct tpt_mock *m = calloc(1, sizeof(*m));
    int              fd = listen_any(&m->port);

    m->e = e;
    m->steps = steps;
    m->nsteps = nsteps;
    m->after = after;
    m->lev = evconnlistener_new(e->base, mock_accept_cb, m,
                                LEV_OPT_CLOSE_ON_FREE, 0, fd);
    m->next = e->mocks;
    e->mocks = m;
    return m;
}

/* ----------------------------------------------------------- dial, I/O */

static void
dial_cb(void *arg, struct bufferevent *bev, int err, const char *why)
{
    struct tpt_dialres *r = arg;

    r->done = true;
    r->bev = bev;
    r->err = err;
    snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
}

void
tpt_dial(struct tpt_env *e, const char *chain, const char *host,
    uint16_t port, struct tpt_dialres *r, int timeout_ms)
{
    struct tp_chain  *ch = chain ? tp_conf_chain(e->conf, chain) : NULL;
    struct tp_target  t;

    ck_assert(chain == NULL || ch != NULL);
    memset(r, 0, sizeof(*r));
    tp_target_from_name(&t, host, port);
    tp_dial_start(&r->dial, &e->w, &t, ch, NULL, (uint64_t) timeout_ms, dial_cb,
                  r);
    tpt_run_until(e, &r->done, timeout_ms * 20 + 1000);
    ck_assert_msg(r->done, "the dial never ended");
}

struct echo_wait {
    size_t      want;
    bool        done;
    bool        failed;
};

static void
echo_read_cb(struct bufferevent *bev, void *arg)
{
    struct echo_wait *w = arg;

    if (evbuffer_get_length(bufferevent_get_input(bev)) >= w->want) {
        w->done = true;
    }
}

static void
echo_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct echo_wait *w = arg;

    (void) bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        w->failed = w->done = true;
    }
}

bool
tpt_echo(struct tpt_env *e, struct bufferevent *bev, const char *msg)
{
    struct echo_wait w = { strlen(msg), false, false };
    bool             ok;

    bufferevent_setcb(bev, echo_read_cb, NULL, echo_event_cb, &w);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    bufferevent_write(bev, msg, strlen(msg));
    echo_read_cb(bev, &w);
    tpt_run_until(e, &w.done, 3000);
    ok = w.done && !w.failed
         && memcmp(evbuffer_pullup(bufferevent_get_input(bev), -1), msg,
                   w.want) == 0;
    evbuffer_drain(bufferevent_get_input(bev), w.want);
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    return ok;
}

void
tpt_dial_echo(struct tpt_env *e, const char *chain, const char *host,
    uint16_t port, int timeout_ms, const char *msg)
{
    struct tpt_dialres r;

    tpt_dial(e, chain, host, port, &r, timeout_ms);
    ck_assert_msg(r.err == 0, "dial %s:%u via %s: %s", host, port,
                  chain ? chain : "direct", r.why);
    ck_assert_msg(tpt_echo(e, r.bev, msg), "no echo of \"%s\"", msg);
    bufferevent_free(r.bev);
}

bool
tpt_bev_fails(struct tpt_env *e, struct bufferevent *bev, const char *msg,
    int ms)
{
    struct echo_wait w = { (size_t) -1, false, false };

    bufferevent_setcb(bev, echo_read_cb, NULL, echo_event_cb, &w);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    bufferevent_write(bev, msg, strlen(msg));
    tpt_run_until(e, &w.failed, ms);
    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    return w.failed && evbuffer_get_length(bufferevent_get_input(bev)) == 0;
}

static void
udp_echo_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sockaddr_storage ss;
    socklen_t               sl = sizeof(ss);
    char                    buf[2048];
    ssize_t                 n;

    (void) what; (void) arg;
    while ((n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *) &ss,
                         &sl)) >= 0) {
        sendto(fd, buf, (size_t) n, 0, (struct sockaddr *) &ss, sl);
        sl = sizeof(ss);
    }
}

uint16_t
tpt_udp_echo(struct tpt_env *e, bool v6)
{
    struct sockaddr_storage ss;
    struct sockaddr_in     *in = (struct sockaddr_in *) &ss;
    struct sockaddr_in6    *in6 = (struct sockaddr_in6 *) &ss;
    socklen_t               sl;
    int                     fd;

    memset(&ss, 0, sizeof(ss));
    if (v6) {
        in6->sin6_family = AF_INET6;
        in6->sin6_addr = in6addr_loopback;
        sl = sizeof(*in6);
    } else {
        in->sin_family = AF_INET;
        in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sl = sizeof(*in);
    }
    fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *) &ss, sl), 0);
    getsockname(fd, (struct sockaddr *) &ss, &sl);
    ck_assert_uint_lt(e->nudp, 4);
    e->udp_fd[e->nudp] = fd;
    e->udp_ev[e->nudp] = event_new(e->base, fd, EV_READ | EV_PERSIST,
                                   udp_echo_cb, NULL);
    event_add(e->udp_ev[e->nudp++], NULL);
    return tp_sockaddr_port((struct sockaddr *) &ss);
}

static void
udp_recv_cb(void *arg, const struct sockaddr *src, const uint8_t *data,
    size_t len)
{
    struct tpt_udpres *r = arg;

    r->got++;
    memcpy(&r->src, src, src->sa_family == AF_INET6
                         ? sizeof(struct sockaddr_in6)
                         : sizeof(struct sockaddr_in));
    r->len = len < sizeof(r->data) ? len : sizeof(r->data);
    memcpy(r->data, data, r->len);
}

static void
udp_closed_cb(void *arg, int err, const char *why)
{
    struct tpt_udpres *r = arg;

    (void) err;
    r->closed = true;
    snprintf(r->closed_why, sizeof(r->closed_why), "%s", why);
}

static void
udp_dial_cb(void *arg, struct tp_udp_tunnel *t, int err, const char *why)
{
    struct tpt_udpres *r = arg;

    r->done = true;
    r->t = t;
    r->err = err;
    snprintf(r->why, sizeof(r->why), "%s", why ? why : "");
    if (t != NULL) {
        t->recv = udp_recv_cb;
        t->closed = udp_closed_cb;
        t->arg = r;
    }
}

void
tpt_dial_udp(struct tpt_env *e, const char *chain, const char *host,
    uint16_t port, struct tpt_udpres *r, int timeout_ms)
{
    struct tp_chain *ch = tp_conf_chain(e->conf, chain);
    struct tp_target t;

    ck_assert_ptr_nonnull(ch);
    memset(r, 0, sizeof(*r));
    if (host != NULL) {
        tp_target_from_name(&t, host, port);
    }
    tp_dial_udp_start(&r->dial, &e->w, host ? &t : NULL, ch, NULL,
                      (uint64_t) timeout_ms, udp_dial_cb, r);
    tpt_run_until(e, &r->done, timeout_ms * 20 + 1000);
    ck_assert_msg(r->done, "the UDP dial never ended");
}

bool
tpt_udp_roundtrip(struct tpt_env *e, struct tpt_udpres *r, const char *dst,
    uint16_t port, const char *msg)
{
    struct tp_target t;
    int              before = r->got;
    bool             got = false;
    uint64_t         end = tp_now_ms() + 3000;

    tp_target_from_name(&t, dst, port);
    if (r->t->ops->send(r->t, (struct sockaddr *) &t.ss,
                        (const uint8_t *) msg, strlen(msg)) != 0) {
        return false;
    }
    while (!got && !r->closed && tp_now_ms() < end) {
        tpt_run_for(e, 5);
        got = r->got > before;
    }
    return got && r->len == strlen(msg) && memcmp(r->data, msg, r->len) == 0
           && tp_sockaddr_equal((struct sockaddr *) &r->src,
                                (struct sockaddr *) &t.ss);
}

int
tpt_client(uint16_t port)
{
    struct sockaddr_in sin;
    int                fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(connect(fd, (struct sockaddr *) &sin, sizeof(sin)), 0);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

void
tpt_send(int fd, const void *p, size_t n)
{
    ck_assert_int_eq(send(fd, p, n, MSG_NOSIGNAL), (ssize_t) n);
}

size_t
tpt_recv(struct tpt_env *e, int fd, void *buf, size_t n, int ms)
{
    uint64_t end = tp_now_ms() + (uint64_t) ms;
    size_t   got = 0;

    while (got < n && tp_now_ms() < end) {
        ssize_t k = recv(fd, (char *) buf + got, n - got, 0);
        if (k == 0 || (k < 0 && errno != EAGAIN)) {
            break;
        }
        if (k > 0) {
            got += (size_t) k;
            continue;
        }
        tpt_run_for(e, 2);
    }
    return got;
}

bool
tpt_closed(struct tpt_env *e, int fd, int ms)
{
    uint64_t end = tp_now_ms() + (uint64_t) ms;
    char     b[256];

    while (tp_now_ms() < end) {
        ssize_t k = recv(fd, b, sizeof(b), 0);
        if (k == 0 || (k < 0 && errno != EAGAIN)) {
            return true;
        }
        if (k < 0) {
            tpt_run_for(e, 2);
        }
    }
    return false;
}

void
tpt_make_cert(struct tpt_env *e, const char *name, char *cert, char *key,
    size_t size)
{
    EVP_PKEY       *pk = EVP_EC_gen("P-256");
    X509           *x = X509_new();
    X509_NAME      *nm = X509_get_subject_name(x);
    X509V3_CTX      ctx;
    X509_EXTENSION *ext;
    char            san[300];
    FILE           *f;

    ck_assert_ptr_nonnull(pk);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, pk);
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_ASC,
                               (const unsigned char *) name, -1, -1, 0);
    X509_set_issuer_name(x, nm);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1", name);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ck_assert_int_gt(X509_sign(x, pk, EVP_sha256()), 0);
    snprintf(cert, size, "%s/%s.crt", tpt_tmp(e), name);
    snprintf(key, size, "%s/%s.key", tpt_tmp(e), name);
    f = fopen(cert, "w");
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key, "w");
    PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_free(x);
    EVP_PKEY_free(pk);
}

/* ---------------------------------------------------------------- tests */

static const uint8_t s5_greet[] = { 5, 1, 0 };
static const uint8_t s5_noauth[] = { 5, 0 };
static const uint8_t s5_ok[] = { 5, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
static const char    garbage[] = "SSH-2.0-OpenSSH_9.2\r\n";

START_TEST(direct_dial)
{
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *echo;

    tpt_env_init(&e);
    echo = tpt_mock(&e, NULL, 0, TPT_ECHO);
    tpt_conf(&e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } );");
    tpt_dial_echo(&e, NULL, "127.0.0.1", echo->port, 2000, "hello");
    tpt_dial(&e, NULL, "127.0.0.1", tpt_dead_port(), &r, 2000);
    ck_assert_int_eq(r.err, ECONNREFUSED);
    ck_assert_str_eq(r.why, "connect: Connection refused");
    tpt_env_free(&e);
}
END_TEST

/* One hop, three nodes in fifo order: refused, garbage, good. */
START_TEST(skip_refused_and_garbage)
{
    static const struct tpt_step junk[] = { { NULL, 0, garbage, 21 } };
    static const struct tpt_step good[] = {
        { s5_greet, 3, s5_noauth, 2 }, { NULL, 10, s5_ok, 10 }
    };
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *bad, *ok, *echo;
    struct tp_hop      *hop;
    uint16_t            dead = tpt_dead_port();

    tpt_env_init(&e);
    echo = tpt_mock(&e, NULL, 0, TPT_ECHO);
    bad = tpt_mock(&e, junk, 1, TPT_HOLD);
    ok = tpt_mock(&e, good, 2, TPT_ECHO);
    tpt_conf(&e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { selector = { "
             "strategy = \"fifo\"; max_fails = 1; fail_timeout = \"30s\"; }; "
             "nodes = ("
             "{ name = \"dead\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; },"
             "{ name = \"junk\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; },"
             "{ name = \"good\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; } ); } ); } );",
             dead, bad->port, ok->port);
    tpt_dial_echo(&e, "c", "127.0.0.1", echo->port, 2000,
                  "through the third node");
    hop = &e.conf->chains[0].hops[0];
    ck_assert(tp_select_is_down(&hop->nodes[0], tp_now_ms()));
    ck_assert(tp_select_is_down(&hop->nodes[1], tp_now_ms()));
    ck_assert(!tp_select_is_down(&hop->nodes[2], tp_now_ms()));
    ck_assert_int_eq(bad->accepted, 1);
    /* The next flow goes straight to the good node. */
    tpt_dial(&e, "c", "127.0.0.1", echo->port, &r, 2000);
    ck_assert_msg(r.err == 0, "%s", r.why);
    bufferevent_free(r.bev);
    ck_assert_int_eq(bad->accepted, 1);
    ck_assert_int_eq(ok->accepted, 2);
    ck_assert(!ok->mismatch);
    tpt_env_free(&e);
}
END_TEST

/* Every node fails: the flow fails with the last reason, after trying
 * each node once. */
START_TEST(all_nodes_fail)
{
    static const struct tpt_step junk[] = { { NULL, 0, garbage, 21 } };
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *bad;

    tpt_env_init(&e);
    bad = tpt_mock(&e, junk, 1, TPT_HOLD);
    tpt_conf(&e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { selector = { "
             "max_fails = 3; }; nodes = ("
             "{ name = \"a\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; },"
             "{ name = \"b\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; } ); } ); } );",
             bad->port, bad->port);
    tpt_dial(&e, "c", "127.0.0.1", 80, &r, 2000);
    ck_assert_int_eq(r.err, EPROTO);
    ck_assert_msg(strstr(r.why, "not a SOCKS5 server") != NULL, "%s", r.why);
    ck_assert_int_eq(bad->accepted, 2);
    /* max_fails 3: one failure each does not take them down. */
    ck_assert(!tp_select_is_down(&e.conf->chains[0].hops[0].nodes[0],
                                 tp_now_ms()));
    ck_assert_int_eq(e.conf->chains[0].hops[0].nodes[0].fails, 1);
    tpt_env_free(&e);
}
END_TEST

/* The last proxy cannot reach the target: nobody is blamed, no retry. */
START_TEST(final_target_refused)
{
    struct tpt_env      e;
    struct tpt_dialres  r;
    int                 l1;
    uint16_t            p1;
    struct tp_hop      *hop;

    tpt_env_init(&e);
    p1 = tpt_listen(&e, &l1);
    tpt_conf(&e, "services = ( { name = \"s5\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"socks5\"; }; listener = { type = \"tcp\";"
             " }; } ); chains = ( { name = \"c\"; hops = ( { nodes = ("
             "{ name = \"a\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; },"
             "{ name = \"b\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; } ); } ); } );", p1, p1);
    tpt_serve(&e, 0, l1);
    tpt_dial(&e, "c", "127.0.0.1", tpt_dead_port(), &r, 2000);
    ck_assert_int_eq(r.err, ECONNREFUSED);
    ck_assert_msg(strstr(r.why, "0x05 connection refused") != NULL, "%s",
                  r.why);
    hop = &e.conf->chains[0].hops[0];
    ck_assert_int_eq(hop->nodes[0].fails + hop->nodes[1].fails, 0);
    ck_assert_uint_eq(hop->rr, 1);      /* one attempt only */
    tpt_env_free(&e);
}
END_TEST

/* Two hops; hop 0's proxy cannot reach hop 1's first node: that node is
 * charged and skipped, hop 0's node is not. */
START_TEST(next_hop_refused)
{
    struct tpt_env      e;
    struct tpt_mock    *echo;
    int                 l1, l2;
    uint16_t            p1, p2;
    struct tp_chain    *ch;

    tpt_env_init(&e);
    p1 = tpt_listen(&e, &l1);
    p2 = tpt_listen(&e, &l2);
    echo = tpt_mock(&e, NULL, 0, TPT_ECHO);
    tpt_conf(&e, "services = ("
             "{ name = \"s5\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"socks5\"; }; listener = { type = \"tcp\";"
             " }; },"
             "{ name = \"h\"; addr = \"127.0.0.1:2\"; "
             "handler = { type = \"http\"; }; listener = { type = \"tcp\";"
             " }; } );"
             "chains = ( { name = \"c\"; hops = ("
             "{ nodes = ( { name = \"s5\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; } ); },"
             "{ selector = { strategy = \"fifo\"; }; nodes = ("
             "{ name = \"gone\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"http\"; }; },"
             "{ name = \"h\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"http\"; }; } ); } ); } );",
             p1, tpt_dead_port(), p2);
    tpt_serve(&e, 0, l1);
    tpt_serve(&e, 1, l2);
    tpt_dial_echo(&e, "c", "127.0.0.1", echo->port, 2000, "two hops");
    ch = &e.conf->chains[0];
    ck_assert(!tp_select_is_down(&ch->hops[0].nodes[0], tp_now_ms()));
    ck_assert(tp_select_is_down(&ch->hops[1].nodes[0], tp_now_ms()));
    ck_assert(!tp_select_is_down(&ch->hops[1].nodes[1], tp_now_ms()));
    tpt_env_free(&e);
}
END_TEST

/* A node that accepts and never answers: the attempt times out, the node
 * is charged, the next attempt (with its own timeout) succeeds. */
START_TEST(silent_node_times_out)
{
    static const struct tpt_step good[] = {
        { s5_greet, 3, s5_noauth, 2 }, { NULL, 10, s5_ok, 10 }
    };
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *mute, *ok, *echo;
    uint64_t            t0;

    tpt_env_init(&e);
    echo = tpt_mock(&e, NULL, 0, TPT_ECHO);
    mute = tpt_mock(&e, NULL, 0, TPT_HOLD);
    ok = tpt_mock(&e, good, 2, TPT_ECHO);
    tpt_conf(&e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { selector = { "
             "strategy = \"fifo\"; }; nodes = ("
             "{ name = \"mute\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; },"
             "{ name = \"ok\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; } ); } ); } );",
             mute->port, ok->port);
    t0 = tp_now_ms();
    tpt_dial(&e, "c", "127.0.0.1", echo->port, &r, 300);
    ck_assert_msg(r.err == 0, "%s", r.why);
    ck_assert_uint_ge(tp_now_ms() - t0, 280);
    ck_assert(tpt_echo(&e, r.bev, "after a timeout"));
    bufferevent_free(r.bev);
    ck_assert(tp_select_is_down(&e.conf->chains[0].hops[0].nodes[0],
                                tp_now_ms()));
    tpt_env_free(&e);
}
END_TEST

/* Round robin over two good nodes, and a node brought back after
 * fail_timeout. */
START_TEST(round_robin_and_recovery)
{
    static const struct tpt_step good[] = {
        { s5_greet, 3, s5_noauth, 2 }, { NULL, 10, s5_ok, 10 }
    };
    struct tpt_env      e;
    struct tpt_dialres  r;
    struct tpt_mock    *a, *b, *echo;
    struct tp_node     *n;

    tpt_env_init(&e);
    echo = tpt_mock(&e, NULL, 0, TPT_ECHO);
    a = tpt_mock(&e, good, 2, TPT_ECHO);
    b = tpt_mock(&e, good, 2, TPT_ECHO);
    tpt_conf(&e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { selector = { "
             "fail_timeout = \"200ms\"; }; nodes = ("
             "{ name = \"a\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; },"
             "{ name = \"b\"; addr = \"127.0.0.1:%u\"; "
             "connector = { type = \"socks5\"; }; } ); } ); } );",
             a->port, b->port);
    for (int i = 0; i < 4; i++) {
        tpt_dial(&e, "c", "127.0.0.1", echo->port, &r, 2000);
        ck_assert_msg(r.err == 0, "%s", r.why);
        bufferevent_free(r.bev);
    }
    ck_assert_int_eq(a->accepted, 2);
    ck_assert_int_eq(b->accepted, 2);
    /* a is marked down: flows go to b until fail_timeout passes. */
    n = &e.conf->chains[0].hops[0].nodes[0];
    tp_select_failed(&e.conf->chains[0].hops[0].selector, n, tp_now_ms());
    for (int i = 0; i < 2; i++) {
        tpt_dial(&e, "c", "127.0.0.1", echo->port, &r, 2000);
        bufferevent_free(r.bev);
    }
    ck_assert_int_eq(a->accepted, 2);
    ck_assert_int_eq(b->accepted, 4);
    tpt_run_for(&e, 250);
    for (int i = 0; i < 2; i++) {
        tpt_dial(&e, "c", "127.0.0.1", echo->port, &r, 2000);
        bufferevent_free(r.bev);
    }
    ck_assert_int_eq(a->accepted, 3);
    ck_assert(!tp_select_is_down(n, tp_now_ms()));
    ck_assert_int_eq(n->fails, 0);
    tpt_env_free(&e);
}
END_TEST

/* A dial cancelled half way (the client left) frees everything. */
START_TEST(cancel_mid_chain)
{
    struct tpt_env      e;
    struct tpt_mock    *mute;
    struct tp_dial     *d = NULL;
    struct tp_target    t;
    bool                called = false;

    tpt_env_init(&e);
    mute = tpt_mock(&e, NULL, 0, TPT_HOLD);
    tpt_conf(&e, "services = ( { name = \"x\"; addr = \"127.0.0.1:1\"; "
             "handler = { type = \"red\"; }; listener = { type = \"red\"; };"
             " } ); chains = ( { name = \"c\"; hops = ( { nodes = ("
             "{ addr = \"127.0.0.1:%u\"; connector = { type = \"http\"; };"
             " } ); } ); } );", mute->port);
    tp_target_from_name(&t, "example.com", 443);
    tp_dial_start(&d, &e.w, &t, &e.conf->chains[0], NULL, 2000,
                  (tp_dial_cb) (void (*)(void)) abort, &called);
    tpt_run_for(&e, 50);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(mute->accepted, 1);
    tp_dial_cancel(d);
    tpt_run_for(&e, 20);
    tpt_env_free(&e);
}
END_TEST

Suite *
suite_chain(void)
{
    Suite *s = suite_create("chain");
    TCase *tc = tcase_create("dial");

    tcase_set_timeout(tc, 20);
    tcase_add_test(tc, direct_dial);
    tcase_add_test(tc, skip_refused_and_garbage);
    tcase_add_test(tc, all_nodes_fail);
    tcase_add_test(tc, final_target_refused);
    tcase_add_test(tc, next_hop_refused);
    tcase_add_test(tc, silent_node_times_out);
    tcase_add_test(tc, round_robin_and_recovery);
    tcase_add_test(tc, cancel_mid_chain);
    suite_add_tcase(s, tc);
    return s;
}

void
tpt_server_start(struct tpt_server *s, const char *type,
    const char *handler_body)
{
    int l;

    tpt_env_init(&s->e);
    s->port = tpt_listen(&s->e, &l);
    s->echo = tpt_mock(&s->e, NULL, 0, TPT_ECHO);
    tpt_conf(&s->e, "services = ( { name = \"%s\"; addr = \"127.0.0.1:1\"; "
             "connect_timeout = \"2s\"; handler = { type = \"%s\"; %s }; "
             "listener = { type = \"tcp\"; }; } );", type, type,
             handler_body);
    tpt_serve(&s->e, 0, l);
}
