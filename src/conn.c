/*
 * conn.c - the life of a TCP flow after its handler has set the target:
 * sniff (optional), route, dial, relay, and the one teardown path that
 * writes the flow's access-log line.
 */
#include "tproxyd.h"
#include "conn.h"
#include "conf.h"
#include "dial.h"
#include "log.h"
#include "sniff.h"
#include "worker.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *const state_names[] = {
    "accepted", "handshake", "sniff", "dial", "relay", "closed"
};

static const char *const end_names[] = {
    "done", "client-reset", "upstream-reset", "dial-failed", "dial-timeout",
    "idle-timeout", "loop", "no-destination", "protocol-error", "auth-failed",
    "denied", "shutdown", "resource", "internal"
};

const char *
tp_end_name(enum tp_end why)
{
    return end_names[why];
}

static const char *
dst_str(const struct tp_conn *c, char *buf, size_t size)
{
    if (c->dst != NULL) {
        return tp_target_str(c->dst, buf, size);
    }
    return c->dst_str != NULL ? c->dst_str : "-";
}

/* Relaying: only the logs need dst now, as a string a tenth its size. */
static void
conn_compact(struct tp_conn *c)
{
    char ds[300];

    c->dst_str = strdup(tp_target_str(c->dst, ds, sizeof(ds)));
    if (c->dst_str != NULL) {
        free(c->dst);
        c->dst = NULL;
    }
}

void
tp_conn_log(int level, const struct tp_conn *c, const char *fmt, ...)
{
    char    msg[1024], cl[TP_SOCKADDR_STRLEN], ds[300];
    va_list ap;

    if (level > tp_log_sink.level) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    tp_log_write(level, "#%d-%llu %s -> %s [%s]: %s", c->w->slot,
                 (unsigned long long) c->id,
                 tp_sockaddr_str(&c->client.sa, cl,
                                 sizeof(cl)),
                 dst_str(c, ds, sizeof(ds)), state_names[c->state], msg);
}

struct tp_conn *
tp_conn_new(struct tp_svc_worker *sw, int fd, const struct sockaddr *peer,
    socklen_t len)
{
    const struct tp_listener_ops *lops;
    struct tp_conn               *c = calloc(1, sizeof(*c));
    struct tp_worker             *w = sw->w;

    if (c == NULL || (c->dst = calloc(1, sizeof(*c->dst))) == NULL) {
        free(c);
        return NULL;
    }
    lops = sw->svc->listener.mod->role[TP_ROLE_LISTENER].ops;
    c->cbev = lops->wrap ? lops->wrap(sw->svc->listener.conf, w->base, fd)
                         : bufferevent_socket_new(w->base, fd,
                                                  BEV_OPT_CLOSE_ON_FREE);
    if (c->cbev == NULL) {
        free(c->dst);
        free(c);
        return NULL;
    }
    c->sw = sw;
    c->w = w;
    c->id = ++w->next_id;
    {
        struct sockaddr_storage ss;

        memcpy(&ss, peer, len < sizeof(ss) ? len : sizeof(ss));
        tp_sockaddr_unmap(&ss, &len);
        tp_sa_set(&c->client, (struct sockaddr *) &ss);
    }
    c->route = "direct";
    c->start_ms = tp_now_ms();
    c->next = w->conns;
    if (w->conns != NULL) {
        w->conns->prev = c;
    }
    w->conns = c;
    w->nconns++;
    w->stats.accepted++;
    return c;
}

static void
linger_reset(struct bufferevent *bev)
{
    struct linger lg = { 1, 0 };
    int           fd = bev ? bufferevent_getfd(bev) : -1;

    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
}

/* Where the flow was first headed: the original address, or dst. */
static const char *
orig_str(const struct tp_conn *c, char *buf, size_t size)
{
    if (c->orig.sa.sa_family == AF_UNSPEC) {
        return dst_str(c, buf, size);
    }
    return tp_sockaddr_str(&c->orig.sa, buf, size);
}

static void
access_log(const struct tp_conn *c, enum tp_end why, const char *detail)
{
    char        cl[TP_SOCKADDR_STRLEN], obuf[300], dbuf[300];
    const char *od, *ds;
    uint64_t    ms = tp_now_ms() - c->start_ms;

    if (TP_LOG_INFO > tp_log_sink.level) {
        return;
    }
    tp_sockaddr_str(&c->client.sa, cl, sizeof(cl));
    od = orig_str(c, obuf, sizeof(obuf));
    ds = dst_str(c, dbuf, sizeof(dbuf));
    tp_log_write(TP_LOG_INFO, "#%d-%llu %s %s -> %s host=%s dial=%s via=%s "
                 "up=%llu down=%llu ms=%llu end=%s%s%s",
                 c->w->slot, (unsigned long long) c->id, c->sw->svc->name,
                 cl, od, c->host ? c->host : "-",
                 c->state >= TP_ST_DIAL ? ds : "-", c->route,
                 (unsigned long long) c->relay.a.bytes,
                 (unsigned long long) c->relay.b.bytes,
                 (unsigned long long) ms, end_names[why],
                 detail && *detail ? " " : "", detail ? detail : "");
}

void
tp_conn_close(struct tp_conn *c, enum tp_end why, const char *detail)
{
    struct tp_worker *w = c->w;
    bool              reset_client, reset_upstream;

    access_log(c, why, detail);
    w->stats.closed++;
    w->stats.bytes_up += c->relay.a.bytes;
    w->stats.bytes_down += c->relay.b.bytes;
    if (c->dial != NULL) {
        tp_dial_cancel(c->dial);
    }
    if (c->timer != NULL) {
        event_free(c->timer);
    }
    if (c->hctx_free != NULL) {
        c->hctx_free(c->hctx);
    }
    /* Pass a reset on as a reset, so the peer does not see a clean end. */
    reset_client = why == TP_END_UPSTREAM_RESET || why == TP_END_DIAL_FAILED
                   || why == TP_END_LOOP || why == TP_END_DIAL_TIMEOUT;
    reset_upstream = why == TP_END_CLIENT_RESET;
    if (c->state == TP_ST_RELAY) {
        tp_relay_free(&c->relay, reset_client, reset_upstream);
    } else {
        if (reset_client) {
            linger_reset(c->cbev);
        }
        if (c->ubev != NULL) {
            bufferevent_free(c->ubev);
        }
        if (c->cbev != NULL) {
            bufferevent_free(c->cbev);
        }
    }
    free(c->host);
    free(c->dst);
    free(c->dst_str);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        w->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    w->nconns--;
    free(c);
    tp_worker_check_drained(w);
}

struct conn_closer {
    struct bufferevent  *bev;
    struct event        *timer;
};

static void
closer_free(struct conn_closer *k)
{
    event_free(k->timer);
    bufferevent_free(k->bev);
    free(k);
}

static void
closer_write_cb(struct bufferevent *bev, void *arg)
{
    (void) bev;
    closer_free(arg);
}

static void
closer_event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void) bev; (void) what;
    closer_free(arg);
}

static void
closer_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd; (void) what;
    closer_free(arg);
}

void
tp_conn_detach_flushed(struct tp_conn *c)
{
    struct conn_closer *k;
    struct timeval      tv = { 5, 0 };

    if (c->cbev == NULL || (k = calloc(1, sizeof(*k))) == NULL) {
        return;
    }
    k->bev = c->cbev;
    c->cbev = NULL;
    k->timer = evtimer_new(c->w->base, closer_timeout_cb, k);
    bufferevent_setcb(k->bev, NULL, closer_write_cb, closer_event_cb, k);
    bufferevent_setwatermark(k->bev, EV_WRITE, 0, 0);
    bufferevent_disable(k->bev, EV_READ);
    bufferevent_enable(k->bev, EV_WRITE);
    evtimer_add(k->timer, &tv);
}

static void
relay_done(struct tp_relay *r, enum tp_relay_end end)
{
    struct tp_conn *c = container_of(r, struct tp_conn, relay);
    char            why[64] = "";

    if (r->err != 0 && end != TP_RELAY_DONE) {
        snprintf(why, sizeof(why), "(%s)", strerror(r->err));
    }
    switch (end) {
    case TP_RELAY_DONE:    tp_conn_close(c, TP_END_DONE, NULL); break;
    case TP_RELAY_A_RESET: tp_conn_close(c, TP_END_CLIENT_RESET, why); break;
    case TP_RELAY_B_RESET: tp_conn_close(c, TP_END_UPSTREAM_RESET, why); break;
    case TP_RELAY_IDLE:    tp_conn_close(c, TP_END_IDLE_TIMEOUT, NULL); break;
    }
}

static void
handshake_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tp_conn *c = arg;
    char            why[96];

    (void) bev;
    snprintf(why, sizeof(why), "(%s: client went away before its request)",
             c->proto);
    tp_conn_close(c, what & BEV_EVENT_EOF ? TP_END_PROTOCOL
                                          : TP_END_CLIENT_RESET, why);
}

static void
handshake_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tp_conn *c = arg;
    char            why[96];

    (void) fd; (void) what;
    snprintf(why, sizeof(why), "(%s: request timed out)", c->proto);
    tp_conn_close(c, TP_END_PROTOCOL, why);
}

void
tp_conn_handshake(struct tp_conn *c, uint64_t timeout_ms,
    void (*read_cb)(struct bufferevent *bev, void *c),
    void (*on_timeout)(int fd, short what, void *c), const char *proto)
{
    struct timeval tv;

    c->state = TP_ST_HANDSHAKE;
    c->proto = proto;
    c->timer = evtimer_new(c->w->base,
                           on_timeout ? on_timeout : handshake_timeout_cb, c);
    tv.tv_sec = (time_t) (timeout_ms / 1000);
    tv.tv_usec = (suseconds_t) (timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    bufferevent_setcb(c->cbev, read_cb, NULL, handshake_event_cb, c);
    bufferevent_enable(c->cbev, EV_READ | EV_WRITE);
}

static void conn_dial(struct tp_conn *c);

static void
conn_dialed(void *arg, struct bufferevent *bev, int err, const char *why)
{
    struct tp_conn *c = arg;

    if (err != 0 && c->host != NULL && !c->fell_back && c->sniff
        && c->orig.sa.sa_family != AF_UNSPEC
        && c->sniff->fallback && !c->sniff->dial_original) {
        tp_conn_log(TP_LOG_INFO, c, "sniffed name failed (%s); falling back "
                    "to the original destination", why);
        c->fell_back = true;
        tp_target_from_sockaddr(c->dst, &c->orig.sa, tp_sa_len(&c->orig));
        conn_dial(c);
        return;
    }
    if (c->dialed != NULL) {
        c->dialed(c, err);
    }
    if (err != 0) {
        c->w->stats.dial_errors++;
        tp_conn_close(c, err == ETIMEDOUT ? TP_END_DIAL_TIMEOUT
                                          : TP_END_DIAL_FAILED, why);
        return;
    }
    /* The relay owns both streams from here on. */
    c->state = TP_ST_RELAY;
    conn_compact(c);
    tp_relay_start(&c->relay, &c->w->relays, c->cbev, bev,
                   c->sw->svc->idle_timeout_ms, relay_done);
    c->cbev = NULL;
}

static void
conn_dial(struct tp_conn *c)
{
    const struct tp_service *svc = c->sw->svc;

    c->state = TP_ST_DIAL;
    bufferevent_disable(c->cbev, EV_READ);
    tp_dial_start(&c->dial, c->w, c->dst, c->chain, &svc->sockopts,
                  svc->connect_timeout_ms, conn_dialed, c);
}

/* Bypass lists decide: reject (service), direct (chain), or the chain. */
static void
conn_after_sniff(struct tp_conn *c)
{
    const struct tp_service *svc = c->sw->svc;
    const struct sockaddr   *ip = c->orig.sa.sa_family != AF_UNSPEC
                                  ? &c->orig.sa
                                  : c->dst->host[0] ? NULL
                                  : (const struct sockaddr *) &c->dst->ss;
    char                     why[300];

    if (svc->bypass != NULL
        && tp_bypass_match(svc->bypass, c->host ? c->host : "", ip)) {
        snprintf(why, sizeof(why), "(bypass \"%.200s\")", svc->bypass->name);
        tp_conn_close(c, TP_END_DENIED, why);
        return;
    }
    c->chain = svc->handler.chain;
    c->route = c->chain ? c->chain->name : "direct";
    if (c->chain && c->chain->bypass
        && tp_bypass_match(c->chain->bypass, c->host ? c->host : "", ip)) {
        c->chain = NULL;
        c->route = "direct(bypass)";
    }
    if (c->host != NULL && !(c->sniff && c->sniff->dial_original)) {
        tp_target_from_name(c->dst, c->host, c->dst->port);
        c->dst->untrusted = true;
        if (c->dst->host[0] == '\0' && c->orig.sa.sa_family != AF_UNSPEC
            && tp_sockaddr_is_local_only((struct sockaddr *) &c->dst->ss)) {
            /* "127.0.0.1" as a Host: the original address instead */
            tp_target_from_sockaddr(c->dst, &c->orig.sa,
                                    tp_sa_len(&c->orig));
        }
    }
    if (c->chain != NULL && tp_chain_hops(c->chain, c->dst) == 0) {
        c->chain = NULL;                /* hop 0's bypass: no hop is used */
        c->route = "direct(hop-bypass)";
    }
    conn_dial(c);
}

void
tp_conn_forward(struct tp_conn *c)
{
    if ((c->state == TP_ST_ACCEPTED || c->state == TP_ST_HANDSHAKE)
        && c->dst->host[0] == '\0') {
        tp_sa_set(&c->orig, (const struct sockaddr *) &c->dst->ss);
    }
    if (c->sniff != NULL && tp_sniff_wanted(c->sniff, c->dst->port)) {
        c->state = TP_ST_SNIFF;
        tp_sniff_start(c, conn_after_sniff);
        return;
    }
    conn_after_sniff(c);
}
