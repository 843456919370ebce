/*
 * worker.c - a worker process: attaches slot `slot` of every service,
 * runs the event loop, stops accepting and drains on QUIT, exits at once on
 * TERM. Accept errors from fd exhaustion pause that listener for a second
 * instead of spinning.
 */
#include "tproxyd.h"
#include "worker.h"
#include "conn.h"
#include "log.h"
#include "proc.h"

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Ends an episode of accept failures that has been over for
 * TP_STARVED_QUIET_MS (checked at the next accept, or at the next failure,
 * which then starts a new episode). */
static void
starved_end(struct tp_svc_worker *sw)
{
    if (sw->starved > 0
        && tp_now_ms() - sw->starved_last_ms >= TP_STARVED_QUIET_MS) {
        tp_log_notice("%s: accepting connections again (%lu failed accepts "
                      "over %.1fs)", sw->svc->name, sw->starved,
                      (double) (sw->starved_last_ms - sw->starved_ms) / 1000.0);
        sw->starved = 0;
    }
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int len, void *arg)
{
    struct tp_svc_worker        *sw = arg;
    const struct tp_handler_ops *h;
    struct tp_conn              *c;

    (void) lev;
    starved_end(sw);
    c = tp_conn_new(sw, fd, sa, (socklen_t) len);
    if (c == NULL) {
        tp_log_err("%s: out of memory for a new connection", sw->svc->name);
        close(fd);
        return;
    }
    h = sw->svc->handler.mod->role[TP_ROLE_HANDLER].ops;
    h->stream(c);
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tp_svc_worker *sw = arg;

    (void) fd; (void) what;
    if (sw->lev != NULL && !sw->w->draining) {
        evconnlistener_enable(sw->lev);
    }
}

static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
    struct tp_svc_worker *sw = arg;
    int                   e = EVUTIL_SOCKET_ERROR();
    struct timeval        tv = { 1, 0 };

    sw->w->stats.accept_errors++;
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
        /* Once per episode: the retry each second (and the accepts that
         * succeed in between, as flows end) would repeat it for as long as
         * the shortage lasts. */
        starved_end(sw);
        sw->starved_last_ms = tp_now_ms();
        if (sw->starved++ == 0) {
            sw->starved_ms = sw->starved_last_ms;
            tp_log_warn("%s: accept: %s (%zu connections open); retrying "
                        "every second until it succeeds", sw->svc->name,
                        strerror(e), sw->w->nconns);
        }
        evconnlistener_disable(lev);
        evtimer_add(sw->retry, &tv);
        return;
    }
    tp_log_debug("%s: accept: %s", sw->svc->name, strerror(e));
}

static int
attach_services(struct tp_worker *w)
{
    w->nsvcs = w->cycle->nlistens;
    w->svcs = calloc(w->nsvcs ? w->nsvcs : 1, sizeof(*w->svcs));
    for (size_t i = 0; i < w->nsvcs; i++) {
        w->svcs[i].fd = -1;
    }
    for (size_t i = 0; i < w->nsvcs; i++) {
        struct tp_svc_worker        *sw = &w->svcs[i];
        const struct tp_handler_ops *h;

        sw->w = w;
        sw->svc = w->cycle->listens[i].svc;
        sw->fd = w->cycle->listens[i].fds[w->slot];
        h = sw->svc->handler.mod->role[TP_ROLE_HANDLER].ops;
        if (h->socktype == SOCK_STREAM) {
            sw->lev = evconnlistener_new(w->base, accept_cb, sw,
                                         LEV_OPT_CLOSE_ON_FREE, 0, sw->fd);
            if (sw->lev == NULL) {
                tp_log_err("%s: cannot attach listener", sw->svc->name);
                return -1;
            }
            evconnlistener_set_error_cb(sw->lev, accept_error_cb);
            sw->retry = evtimer_new(w->base, retry_cb, sw);
        } else if (h->dgram_start(sw) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Stop taking new flows. Datagram services keep their socket: replies
 * of live sessions still leave through it. */
static void
detach_services(struct tp_worker *w)
{
    for (size_t i = 0; w->svcs && i < w->nsvcs; i++) {
        struct tp_svc_worker        *sw = &w->svcs[i];
        const struct tp_handler_ops *h;

        h = sw->svc->handler.mod->role[TP_ROLE_HANDLER].ops;
        if (sw->lev != NULL) {
            evconnlistener_free(sw->lev);
            sw->lev = NULL;
            sw->fd = -1;
        } else if (sw->hstate != NULL && h->dgram_stop != NULL) {
            h->dgram_stop(sw);
        }
        if (sw->retry != NULL) {
            event_free(sw->retry);
            sw->retry = NULL;
        }
    }
}

static void
free_services(struct tp_worker *w)
{
    detach_services(w);
    for (size_t i = 0; w->svcs && i < w->nsvcs; i++) {
        struct tp_svc_worker        *sw = &w->svcs[i];
        const struct tp_handler_ops *h;

        h = sw->svc->handler.mod->role[TP_ROLE_HANDLER].ops;
        if (sw->hstate != NULL && h->dgram_free != NULL) {
            h->dgram_free(sw);
        }
        if (sw->fd >= 0) {
            close(sw->fd);
        }
    }
    free(w->svcs);
    w->svcs = NULL;
}

void
tp_worker_check_drained(struct tp_worker *w)
{
    if (w->draining && w->nconns == 0 && w->nsessions == 0) {
        event_base_loopexit(w->base, NULL);
    }
}

static void
shutdown_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tp_worker *w = arg;

    (void) fd; (void) what;
    tp_log_notice("worker_shutdown_timeout: closing %zu connections and "
                  "%zu sessions", w->nconns, w->nsessions);
    event_base_loopexit(w->base, NULL);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct tp_worker *w = arg;
    struct timeval    tv;
    uint64_t          ms = w->cycle->conf->worker_shutdown_timeout_ms;

    (void) what;
    if (sig == SIGUSR1) {
        tp_log_reopen();
        return;
    }
    if (sig == SIGQUIT && !w->draining) {
        w->draining = true;
        tp_log_info("graceful stop: %zu connections, %zu sessions to drain",
                    w->nconns, w->nsessions);
        detach_services(w);
        tv.tv_sec = (time_t) (ms / 1000);
        tv.tv_usec = (suseconds_t) (ms % 1000) * 1000;
        w->ev_shutdown = evtimer_new(w->base, shutdown_timeout_cb, w);
        evtimer_add(w->ev_shutdown, &tv);
        tp_worker_check_drained(w);
        return;
    }
    if (sig == SIGTERM || sig == SIGINT) {
        event_base_loopbreak(w->base);
    }
}

/* Keep only this slot's listener sockets open in this process. */
static void
close_other_slots(struct tp_cycle *c, int slot)
{
    for (size_t i = 0; i < c->nlistens; i++) {
        for (int k = 0; k < c->listens[i].nfds; k++) {
            if (k != slot) {
                close(c->listens[i].fds[k]);
            }
        }
    }
}

static void
worker_free(struct tp_worker *w)
{
    while (w->conns != NULL) {
        tp_conn_close(w->conns, TP_END_SHUTDOWN, NULL);
    }
    free_services(w);
    tp_relay_env_free(&w->relays);
    tp_poller_free(&w->poller);
    if (w->ev_shutdown) {
        event_free(w->ev_shutdown);
    }
    event_free(w->ev_quit);
    event_free(w->ev_term);
    event_free(w->ev_int);
    event_free(w->ev_usr1);
    if (w->dns != NULL) {
        evdns_base_free(w->dns, 0);
    }
    event_base_free(w->base);
}

int
tp_worker_run(struct tp_cycle *cycle, int slot)
{
    struct tp_worker w;
    char             tag[16];
    int              rc = 0;

    memset(&w, 0, sizeof(w));
    w.slot = slot;
    w.cycle = cycle;
    snprintf(tag, sizeof(tag), "w%d", slot);
    tp_log_set_tag(tag);
    close_other_slots(cycle, slot);
    tp_proc_worker_limits(cycle->conf);
    w.base = event_base_new();
    w.poller.epfd = -1;
    if (tp_poller_init(&w.poller, w.base) != 0
        || tp_relay_env_init(&w.relays, w.base, &w.poller) != 0) {
        tp_log_err("worker: cannot set up its epoll set: %s",
                     strerror(errno));
        rc = 2;
    }
    w.dns = evdns_base_new(w.base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (w.dns == NULL) {
        tp_log_warn("no usable /etc/resolv.conf: names cannot be resolved");
        w.dns = evdns_base_new(w.base, 0);
    }
    w.ev_quit = evsignal_new(w.base, SIGQUIT, signal_cb, &w);
    w.ev_term = evsignal_new(w.base, SIGTERM, signal_cb, &w);
    w.ev_int = evsignal_new(w.base, SIGINT, signal_cb, &w);
    w.ev_usr1 = evsignal_new(w.base, SIGUSR1, signal_cb, &w);
    evsignal_add(w.ev_quit, NULL);
    evsignal_add(w.ev_term, NULL);
    evsignal_add(w.ev_int, NULL);
    evsignal_add(w.ev_usr1, NULL);
    if (rc != 0 || tp_proc_drop_privileges(cycle->conf) != 0
        || attach_services(&w)) {
        rc = 2;
    } else {
        tp_log_debug("worker started (generation %u)", cycle->generation);
        event_base_dispatch(w.base);
    }
    worker_free(&w);
    return rc;
}
