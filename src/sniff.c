/*
 * sniff.c - the sniff phase (owns the buffer cap, the timeout and the
 * replay); the sniffers in modules/ are pure parsers over bytes.
 */
#include "tproxyd.h"
#include "sniff.h"
#include "conf.h"
#include "conn.h"
#include "log.h"
#include "worker.h"
#include "../modules/sniff_wire.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdlib.h>

#define SNIFF_CAP (16 * 1024)
#define OFF(f) offsetof(struct tp_sniff_conf, f)

const struct tp_schema tp_schema_sniffing[] = {
    { "enabled", TP_T_BOOL, OFF(enabled), 0, "false" },
    { "timeout", TP_T_DURATION, OFF(timeout_ms), 0, "5s" },
    { "fallback", TP_T_BOOL, OFF(fallback), 0, "false" },
    { "dial_original_dst", TP_T_BOOL, OFF(dial_original), 0, "false" },
    { "skip_ports", TP_T_STRLIST, OFF(skip_ports), 0, NULL,
      .off_n = OFF(nskip_ports) },
    { NULL }
};

static const uint16_t default_skip[] = { 25, 110, 143, 465, 587, 993, 995 };

typedef enum tp_sniff_rc (*sniff_fn)(const uint8_t *, size_t,
                                     struct tp_sniff_result *);

static const sniff_fn stream_sniffers[] = { sniff_tls, sniff_http };

bool
tp_sniff_wanted(const struct tp_sniff_conf *sc, uint16_t port)
{
    if (!sc->enabled) {
        return false;
    }
    if (sc->skip_ports == NULL) {
        for (size_t i = 0; i < nitems(default_skip); i++) {
            if (default_skip[i] == port) {
                return false;
            }
        }
        return true;
    }
    for (size_t i = 0; i < sc->nskip_ports; i++) {
        if (atoi(sc->skip_ports[i]) == port) {
            return false;
        }
    }
    return true;
}

static void
sniff_end(struct tp_conn *c, const char *how)
{
    void (*done)(struct tp_conn *) = c->phase_done;

    c->phase_done = NULL;
    if (c->timer != NULL) {
        event_free(c->timer);
        c->timer = NULL;
    }
    bufferevent_setcb(c->cbev, NULL, NULL, NULL, NULL);
    bufferevent_disable(c->cbev, EV_READ);
    bufferevent_setwatermark(c->cbev, EV_READ, 0, 0);
    tp_conn_log(TP_LOG_DEBUG, c, "sniff: %s%s%s", how,
                c->host ? " host=" : "", c->host ? c->host : "");
    done(c);
}

/* Run every sniffer over what has arrived; 1 when the phase is over. */
static int
sniff_try(struct tp_conn *c, char *how, size_t howsize)
{
    struct evbuffer        *in = bufferevent_get_input(c->cbev);
    size_t                  len = evbuffer_get_length(in);
    const uint8_t          *p;
    struct tp_sniff_result  r;
    bool                    again = false;

    if (len > SNIFF_CAP) {
        len = SNIFF_CAP;
    }
    p = evbuffer_pullup(in, (ssize_t) len);
    for (size_t i = 0; i < nitems(stream_sniffers); i++) {
        memset(&r, 0, sizeof(r));
        switch (stream_sniffers[i](p, len, &r)) {
        case TP_SNIFF_FOUND:
            if (r.host[0] && c->host == NULL) {
                c->host = strdup(r.host);
            }
            snprintf(how, howsize, "%s", r.proto);
            return 1;
        case TP_SNIFF_AGAIN:
            again = true;
            break;
        default:
            break;
        }
    }
    if (again && len < SNIFF_CAP) {
        return 0;
    }
    snprintf(how, howsize, "no host name");
    return 1;
}

static void
sniff_read_cb(struct bufferevent *bev, void *arg)
{
    struct tp_conn *c = arg;
    char            how[32];

    (void) bev;
    if (sniff_try(c, how, sizeof(how))) {
        sniff_end(c, how);
    }
}

static void
sniff_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tp_conn *c = arg;

    (void) bev;
    if (what & BEV_EVENT_EOF) {
        sniff_end(c, "client closed before a name");
        return;
    }
    tp_conn_close(c, TP_END_CLIENT_RESET, "(while sniffing)");
}

static void
sniff_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd; (void) what;
    sniff_end(arg, "timeout");
}

void
tp_sniff_start(struct tp_conn *c, void (*done)(struct tp_conn *c))
{
    struct timeval tv;

    c->phase_done = done;
    c->timer = evtimer_new(c->w->base, sniff_timeout_cb, c);
    tv.tv_sec = (time_t) (c->sniff->timeout_ms / 1000);
    tv.tv_usec = (suseconds_t) (c->sniff->timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    bufferevent_setwatermark(c->cbev, EV_READ, 0, SNIFF_CAP);
    bufferevent_setcb(c->cbev, sniff_read_cb, NULL, sniff_event_cb, c);
    bufferevent_enable(c->cbev, EV_READ);
}
