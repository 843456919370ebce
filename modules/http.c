/*
 * http.c - module "http": HTTP/1.1 CONNECT (RFC 9110 9.3.6). The connector
 * asks an upstream HTTP proxy for a tunnel, optionally with Basic
 * credentials; any 2xx opens it, anything else is a clean failure naming
 * the status. The handler makes tproxyd a CONNECT-only proxy server with
 * optional Basic auth. Heads are parsed and written by http_wire.c.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/conn.h"
#include "../src/dial.h"
#include "../src/log.h"
#include "../src/worker.h"
#include "http_wire.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>

struct http_connector_conf {
    struct tp_auth      auth;           /* username NULL: no credentials */
};

struct http_handler_conf {
    struct tp_auth      auth;           /* username NULL: open proxy */
    uint64_t            read_timeout_ms;
    char               *realm;
};

static const struct tp_schema http_connector_schema[] = {
    { "auth", TP_T_GROUP, offsetof(struct http_connector_conf, auth), 0,
      NULL, tp_schema_auth },
    { NULL }
};

static const struct tp_schema http_handler_schema[] = {
    { "auth", TP_T_GROUP, offsetof(struct http_handler_conf, auth), 0,
      NULL, tp_schema_auth },
    { "read_timeout", TP_T_DURATION,
      offsetof(struct http_handler_conf, read_timeout_ms), 0, "15s" },
    { "realm", TP_T_STRING, offsetof(struct http_handler_conf, realm), 0,
      "tproxyd" },
    { NULL }
};

/* Both roles' configs start with their struct tp_auth. */
static int
http_auth_init(void *conf, const struct tp_service *svc, struct tp_err *err)
{
    const struct tp_auth *a = conf;

    if (a->password != NULL && a->username == NULL) {
        snprintf(err->msg, sizeof(err->msg), "%s%s%shttp: auth.password is "
                 "set but auth.username is missing", svc ? "service \"" : "",
                 svc ? svc->name : "", svc ? "\": " : "");
        return -1;
    }
    if (a->username != NULL && strchr(a->username, ':') != NULL) {
        snprintf(err->msg, sizeof(err->msg), "http: auth.username \"%s\" "
                 "must not contain ':' (RFC 7617)", a->username);
        return -1;
    }
    return 0;
}

static int
target_to_addr(const struct tp_target *t, struct tp_proxy_addr *a)
{
    if (t->host[0] != '\0') {
        return tp_proxy_addr_from_hostport(t->host, t->port, a);
    }
    return tp_proxy_addr_from_sockaddr(&t->ss, a);
}

/* The first line of what came back, printable, for a log line. */
static void
first_line(const uint8_t *p, size_t n, char *buf, size_t size)
{
    size_t k = 0;

    for (size_t i = 0; i < n && p[i] != '\r' && p[i] != '\n'
                       && k + 1 < size && k < 60; i++) {
        buf[k++] = p[i] >= 0x20 && p[i] < 0x7f ? (char) p[i] : '?';
    }
    buf[k] = '\0';
}

/* ------------------------------------------------------------ connector */

static void
httpc_end(struct tp_dial *d, int err, const char *why)
{
    bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
    tp_dial_step(d, err, why);
}

/* A final non-2xx status: whose failure it is, and how to say it. */
static void
httpc_refused(struct tp_dial *d, const struct http_response *r)
{
    char why[200];

    snprintf(why, sizeof(why), "http: proxy answered %d %s", r->status,
             r->reason[0] ? r->reason : http_status_reason(r->status));
    bufferevent_setcb(d->bev, NULL, NULL, NULL, NULL);
    switch (r->status) {
    case 500:       /* tinyproxy: "Unable to connect" */
    case 502:
    case 503:       /* squid, GOST: dial failed */
        tp_dial_unreachable(d, ECONNREFUSED, why);
        return;
    case 504:
        tp_dial_unreachable(d, ETIMEDOUT, why);
        return;
    case 401:
    case 403:
    case 407:
        tp_dial_step(d, EACCES, why);
        return;
    default:
        tp_dial_step(d, EPROTO, why);
        return;
    }
}

static void
httpc_read_cb(struct bufferevent *bev, void *arg)
{
    struct tp_dial       *d = arg;
    struct evbuffer      *in = bufferevent_get_input(bev);
    size_t                len = evbuffer_get_length(in);
    struct http_response  r;
    const uint8_t        *p;
    char                  why[128], line[64];
    int                   n;

    if (len > HTTP_WIRE_HEAD_MAX) {
        len = HTTP_WIRE_HEAD_MAX;
    }
    p = evbuffer_pullup(in, (ssize_t) len);
    n = http_response_decode(p, len, &r);
    if (n == TP_AGAIN) {
        return;
    }
    if (n < 0) {
        first_line(p, len, line, sizeof(line));
        if (len >= HTTP_WIRE_HEAD_MAX) {
            snprintf(why, sizeof(why), "http: response head longer than %d "
                     "bytes", HTTP_WIRE_HEAD_MAX);
        } else {
            snprintf(why, sizeof(why), "http: not an HTTP response (\"%s\")",
                     line);
        }
        httpc_end(d, EPROTO, why);
        return;
    }
    if (r.status / 100 != 2) {
        httpc_refused(d, &r);
        return;
    }
    /* Bytes after the head are the tunnel's: they stay in the input. */
    evbuffer_drain(in, (size_t) n);
    httpc_end(d, 0, NULL);
}

static void
httpc_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tp_dial *d = arg;
    char            why[96];
    int             e = EVUTIL_SOCKET_ERROR();

    (void) bev;
    if (what & BEV_EVENT_EOF) {
        httpc_end(d, ECONNRESET, "http: the proxy closed the connection "
                  "before its response");
        return;
    }
    snprintf(why, sizeof(why), "http: %s", strerror(e ? e : ECONNRESET));
    httpc_end(d, e ? e : ECONNRESET, why);
}

static void
http_connect(struct tp_dial *d, const void *conf, const struct tp_target *to)
{
    const struct http_connector_conf *cf = conf;
    struct tp_proxy_addr              a;
    uint8_t                           buf[1024];
    char                              why[300];
    int                               n;

    if (target_to_addr(to, &a) != TP_OK) {
        snprintf(why, sizeof(why), "http: cannot carry target \"%s\"",
                 to->host);
        tp_dial_unreachable(d, EINVAL, why);
        return;
    }
    n = http_connect_encode(buf, sizeof(buf), &a, cf->auth.username,
                            cf->auth.password, NULL);
    if (n < 0) {
        snprintf(why, sizeof(why), "http: cannot write a CONNECT request for "
                 "\"%s\"", a.family == AF_UNSPEC ? a.host : "an address");
        tp_dial_unreachable(d, EINVAL, why);
        return;
    }
    bufferevent_setcb(d->bev, httpc_read_cb, NULL, httpc_event_cb, d);
    bufferevent_enable(d->bev, EV_READ | EV_WRITE);
    bufferevent_write(d->bev, buf, (size_t) n);
    d->awaiting_next = true;
}

/* --------------------------------------------------------------- handler */

static void
httph_respond(struct tp_conn *c, int status, const char *headers)
{
    uint8_t buf[512];
    int     n = http_response_encode(buf, sizeof(buf), status,
                                     status == 200 ? "Connection established"
                                                   : NULL, headers);

    if (n > 0) {
        bufferevent_write(c->cbev, buf, (size_t) n);
    }
}

static void
httph_refuse(struct tp_conn *c, int status, const char *headers,
    enum tp_end why, const char *detail)
{
    httph_respond(c, status, headers);
    tp_conn_detach_flushed(c);
    tp_conn_close(c, why, detail);
}

static void
httph_dialed(struct tp_conn *c, int err)
{
    if (err == 0) {
        httph_respond(c, 200, NULL);
        return;
    }
    httph_respond(c, err == ETIMEDOUT ? 504 : 502, NULL);
    /* conn.c closes (and resets) right after: let the response go. */
    tp_conn_detach_flushed(c);
}

static bool
httph_authorized(const struct http_handler_conf *hc,
    const struct http_request *r)
{
    const char *pass = hc->auth.password ? hc->auth.password : "";

    return hc->auth.username == NULL
           || (r->auth == HTTP_AUTH_BASIC
               && strcmp(r->user, hc->auth.username) == 0
               && strcmp(r->pass, pass) == 0);
}

/* A whole request head of n bytes is in r: check it, then forward. */
static void
httph_request(struct tp_conn *c, const struct http_request *r, size_t n)
{
    const struct http_handler_conf *hc = c->sw->svc->handler.conf;
    struct sockaddr_storage         ss;
    socklen_t                       len;
    char                            hdr[200], detail[128];

    if (!httph_authorized(hc, r)) {
        snprintf(hdr, sizeof(hdr), "Proxy-Authenticate: Basic realm=\"%.64s\""
                 "\r\n", hc->realm);
        if (r->auth == HTTP_AUTH_NONE) {
            snprintf(detail, sizeof(detail), "(http: no credentials)");
        } else {
            snprintf(detail, sizeof(detail), "(http: bad credentials for "
                     "user \"%.64s\")", r->user);
        }
        httph_refuse(c, 407, hdr, TP_END_AUTH, detail);
        return;
    }
    if (!r->connect) {
        snprintf(detail, sizeof(detail), "(http: method %.32s is not "
                 "supported, only CONNECT)", r->method);
        httph_refuse(c, 405, "Allow: CONNECT\r\n", TP_END_PROTOCOL, detail);
        return;
    }
    evbuffer_drain(bufferevent_get_input(c->cbev), n);
    if (r->addr.family == AF_UNSPEC) {
        tp_target_from_name(c->dst, r->addr.host, r->addr.port);
    } else {
        tp_proxy_addr_to_sockaddr(&r->addr, &ss, &len);
        tp_target_from_sockaddr(c->dst, (struct sockaddr *) &ss, len);
    }
    event_free(c->timer);
    c->timer = NULL;
    bufferevent_setcb(c->cbev, NULL, NULL, NULL, NULL);
    c->dialed = httph_dialed;
    tp_conn_forward(c);
}

static void
httph_read_cb(struct bufferevent *bev, void *arg)
{
    struct tp_conn      *c = arg;
    struct evbuffer     *in = bufferevent_get_input(bev);
    size_t               len = evbuffer_get_length(in);
    struct http_request  r;
    const uint8_t       *p;
    int                  n;

    if (len > HTTP_WIRE_HEAD_MAX) {
        len = HTTP_WIRE_HEAD_MAX;
    }
    p = evbuffer_pullup(in, (ssize_t) len);
    n = http_request_decode(p, len, &r);
    if (n == TP_AGAIN) {
        return;
    }
    if (n < 0) {
        httph_refuse(c, len >= HTTP_WIRE_HEAD_MAX ? 431 : 400, NULL,
                     TP_END_PROTOCOL, "(http: bad request head)");
        return;
    }
    httph_request(c, &r, (size_t) n);
}

static void
httph_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd; (void) what;
    httph_refuse(arg, 408, NULL, TP_END_PROTOCOL,
                 "(http: request head timed out)");
}

static void
http_handle(struct tp_conn *c)
{
    const struct http_handler_conf *hc = c->sw->svc->handler.conf;

    tp_conn_handshake(c, hc->read_timeout_ms, httph_read_cb,
                      httph_timeout_cb, "http");
}

static const struct tp_connector_ops http_connector_ops = {
    .connect = http_connect,
};

static const struct tp_handler_ops http_handler_ops = {
    .socktype = SOCK_STREAM,
    .uses_chain = true,
    .stream = http_handle,
};

const struct tp_module tp_mod_http = {
    .name = "http",
    .role = {
        [TP_ROLE_HANDLER] = {
            .schema = http_handler_schema,
            .conf_size = sizeof(struct http_handler_conf),
            .init = http_auth_init,
            .ops = &http_handler_ops,
        },
        [TP_ROLE_CONNECTOR] = {
            .schema = http_connector_schema,
            .conf_size = sizeof(struct http_connector_conf),
            .init = http_auth_init,
            .ops = &http_connector_ops,
        },
    },
};
