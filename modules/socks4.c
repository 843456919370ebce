/*
 * socks4.c - modules "socks4" and "socks4a": connectors for SOCKS4 proxies
 * (CONNECT only, IPv4 only, no auth beyond a USERID). "socks4" resolves a
 * target name itself (IPv4, through the worker's resolver) and sends the
 * address; "socks4a" sends the name for the proxy to resolve. Bytes are
 * made and parsed by socks5_wire.c.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/dial.h"
#include "../src/worker.h"
#include "socks5_wire.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <stdio.h>
#include <stdlib.h>

struct socks4_conf {
    char               *userid;
};

static const struct tp_schema socks4_schema[] = {
    { "userid", TP_T_STRING, offsetof(struct socks4_conf, userid), 0, "" },
    { NULL }
};

struct socks4_dial {
    struct tp_dial                   *d;
    const struct socks4_conf         *cf;
    struct socks4_request             req;
    struct evdns_getaddrinfo_request *dns;
    bool                              in_dns;
    bool                              dns_sync;
    int                               dns_result;
    struct evutil_addrinfo           *dns_res;
};

static void
socks4_dial_free(void *arg)
{
    struct socks4_dial *s = arg;

    if (s->dns != NULL) {
        struct evdns_getaddrinfo_request *req = s->dns;
        s->dns = NULL;
        evdns_getaddrinfo_cancel(req);
    }
    free(s);
}

static void
s4_end(struct tp_dial *d, int err, const char *why)
{
    bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
    tp_dial_step(d, err, why);
}

static void
s4_read_cb(struct bufferevent *bev, void *arg)
{
    struct tp_dial      *d = arg;
    struct evbuffer     *in = bufferevent_get_input(bev);
    struct socks4_reply  r;
    const uint8_t       *p = evbuffer_pullup(in, SOCKS4_REPLY_LEN);
    char                 why[96];
    int                  n;

    if (p == NULL) {
        return;         /* fewer than 8 bytes so far */
    }
    n = socks4_reply_decode(p, SOCKS4_REPLY_LEN, &r);
    if (n < 0) {
        snprintf(why, sizeof(why), "socks4: malformed reply (version 0x%02x, "
                 "code 0x%02x)", p[0], p[1]);
        s4_end(d, EPROTO, why);
        return;
    }
    evbuffer_drain(in, (size_t) n);
    if (r.cd == SOCKS4_REP_GRANTED) {
        s4_end(d, 0, NULL);
        return;
    }
    bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
    if (r.cd == SOCKS4_REP_REJECTED) {
        tp_dial_unreachable(d, ECONNREFUSED, "socks4: server replied 0x5b "
                            "request rejected or failed");
        return;
    }
    snprintf(why, sizeof(why), "socks4: server replied 0x%02x %s", r.cd,
             r.cd == SOCKS4_REP_NO_IDENTD ? "cannot reach the client's identd"
             : r.cd == SOCKS4_REP_IDENT_MISMATCH ? "identd user-id mismatch"
             : "unknown code");
    tp_dial_step(d, EACCES, why);
}

static void
s4_event_cb(struct bufferevent *bev, short what, void *arg)
{
    char why[96];
    int  e = EVUTIL_SOCKET_ERROR();

    (void) bev;
    if (what & BEV_EVENT_EOF) {
        s4_end(arg, ECONNRESET, "socks4: the proxy closed the connection "
               "before its reply");
        return;
    }
    snprintf(why, sizeof(why), "socks4: %s", strerror(e ? e : ECONNRESET));
    s4_end(arg, e ? e : ECONNRESET, why);
}

static void
s4_send(struct socks4_dial *s)
{
    struct tp_dial *d = s->d;
    uint8_t         buf[SOCKS4_REQUEST_MAX];
    int             n = socks4_request_encode(buf, sizeof(buf), &s->req);

    if (n < 0) {
        tp_dial_unreachable(d, EINVAL, "socks4: cannot encode the request");
        return;
    }
    bufferevent_setcb(d->bev, s4_read_cb, NULL, s4_event_cb, d);
    bufferevent_enable(d->bev, EV_READ | EV_WRITE);
    bufferevent_write(d->bev, buf, (size_t) n);
    d->awaiting_next = true;
}

static void
s4_resolved(struct socks4_dial *s, int result, struct evutil_addrinfo *res)
{
    char why[320];

    if (result == EVUTIL_EAI_CANCEL) {
        return;
    }
    if (result != 0 || res == NULL) {
        snprintf(why, sizeof(why), "socks4: resolve \"%s\": %s",
                 s->req.addr.host, evutil_gai_strerror(result));
        tp_dial_unreachable(s->d, EHOSTUNREACH, why);
        return;
    }
    s->req.addr.family = AF_INET;
    memcpy(s->req.addr.ip, &((struct sockaddr_in *) res->ai_addr)->sin_addr,
           4);
    evutil_freeaddrinfo(res);
    s4_send(s);
}

static void
s4_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
    struct socks4_dial *s = arg;

    if (result == EVUTIL_EAI_CANCEL) {
        return;         /* s is being freed */
    }
    if (s->in_dns) {
        s->dns_sync = true;
        s->dns_result = result;
        s->dns_res = res;
        return;
    }
    s->dns = NULL;
    s4_resolved(s, result, res);
}

/* socks4 (not 4a): the proxy takes only an IPv4 address. */
static void
s4_resolve(struct socks4_dial *s)
{
    struct evutil_addrinfo            hints;
    struct evdns_getaddrinfo_request *req;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    s->in_dns = true;
    req = evdns_getaddrinfo(s->d->w->dns, s->req.addr.host, NULL, &hints,
                            s4_dns_cb, s);
    s->in_dns = false;
    if (s->dns_sync) {
        s4_resolved(s, s->dns_result, s->dns_res);
        return;
    }
    if (req == NULL) {
        tp_dial_unreachable(s->d, EHOSTUNREACH, "socks4: cannot resolve");
        return;
    }
    s->dns = req;
}

static void
s4_start(struct tp_dial *d, const void *conf, const struct tp_target *to,
    bool remote_names)
{
    const struct socks4_conf *cf = conf;
    struct socks4_dial       *s = calloc(1, sizeof(*s));
    int                       rc;

    if (s == NULL) {
        tp_dial_step(d, ENOMEM, "socks4: out of memory");
        return;
    }
    s->d = d;
    s->cf = cf;
    d->pctx = s;
    d->pctx_free = socks4_dial_free;
    s->req.cmd = SOCKS4_CMD_CONNECT;
    snprintf(s->req.userid, sizeof(s->req.userid), "%s", cf->userid);
    rc = to->host[0] ? tp_proxy_addr_from_hostport(to->host, to->port,
                                                   &s->req.addr)
                     : tp_proxy_addr_from_sockaddr(&to->ss, &s->req.addr);
    if (rc != TP_OK || s->req.addr.family == AF_INET6) {
        tp_dial_unreachable(d, EAFNOSUPPORT, "socks4: the target is not "
                            "IPv4 (SOCKS4 carries IPv4 only)");
        return;
    }
    if (s->req.addr.family == AF_UNSPEC && !remote_names) {
        s4_resolve(s);
        return;
    }
    s4_send(s);
}

static void
socks4_connect(struct tp_dial *d, const void *conf, const struct tp_target *to)
{
    s4_start(d, conf, to, false);
}

static void
socks4a_connect(struct tp_dial *d, const void *conf,
    const struct tp_target *to)
{
    s4_start(d, conf, to, true);
}

static const struct tp_connector_ops socks4_connector_ops = {
    .connect = socks4_connect,
};

static const struct tp_connector_ops socks4a_connector_ops = {
    .connect = socks4a_connect,
};

const struct tp_module tp_mod_socks4 = {
    .name = "socks4",
    .role = {
        [TP_ROLE_CONNECTOR] = {
            .schema = socks4_schema,
            .conf_size = sizeof(struct socks4_conf),
            .ops = &socks4_connector_ops,
        },
    },
};

const struct tp_module tp_mod_socks4a = {
    .name = "socks4a",
    .role = {
        [TP_ROLE_CONNECTOR] = {
            .schema = socks4_schema,
            .conf_size = sizeof(struct socks4_conf),
            .ops = &socks4a_connector_ops,
        },
    },
};
