/*
 * tls.c - module "tls" (OpenSSL 3): the dialer wraps the stream to a node
 * (a TCP connection, or the tunnel of the previous hop) in a TLS client,
 * verifying the server against the system CA store (or tls.ca_file) and
 * the name tls.server_name (default: the node's host) unless tls.insecure;
 * the listener wraps accepted connections in a TLS server. The SSL_CTXs
 * are made by the init hooks in the master (errors name the file) and are
 * shared by the workers; each connection gets its own SSL.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/dial.h"
#include "../src/worker.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct tls_opts {
    char       *server_name;    /* dialer: name to verify and send (SNI) */
    char       *ca_file;        /* dialer: trust these; listener: ask
                                   clients for a certificate from them */
    bool        insecure;       /* dialer: no verification at all */
    char       *cert_file;      /* listener: required; dialer: client cert */
    char       *key_file;       /* default: cert_file */
};

struct tls_conf {
    struct tls_opts     tls;
    SSL_CTX            *ctx;
};

#define OFF(f) offsetof(struct tls_opts, f)

static const struct tp_schema tls_dialer_opts[] = {
    { "server_name", TP_T_STRING, OFF(server_name), 0, NULL },
    { "ca_file", TP_T_STRING, OFF(ca_file), 0, NULL },
    { "insecure", TP_T_BOOL, OFF(insecure), 0, "false" },
    { "cert_file", TP_T_STRING, OFF(cert_file), 0, NULL },
    { "key_file", TP_T_STRING, OFF(key_file), 0, NULL },
    { NULL }
};

static const struct tp_schema tls_listener_opts[] = {
    { "cert_file", TP_T_STRING, OFF(cert_file), TP_REQUIRED, NULL },
    { "key_file", TP_T_STRING, OFF(key_file), 0, NULL },
    { "ca_file", TP_T_STRING, OFF(ca_file), 0, NULL },
    { NULL }
};

static const struct tp_schema tls_dialer_schema[] = {
    { "tls", TP_T_GROUP, offsetof(struct tls_conf, tls), 0, NULL,
      tls_dialer_opts },
    { NULL }
};

static const struct tp_schema tls_listener_schema[] = {
    { "tls", TP_T_GROUP, offsetof(struct tls_conf, tls), TP_REQUIRED, NULL,
      tls_listener_opts },
    { NULL }
};

/* The reason of the last OpenSSL error, or of errno for an unreadable
 * file; clears the OpenSSL error queue. */
static const char *
tls_reason(const char *file, char *buf, size_t size)
{
    unsigned long e = ERR_peek_last_error();

    if (file != NULL && access(file, R_OK) != 0) {
        snprintf(buf, size, "cannot read: %s", strerror(errno));
    } else if (e != 0) {
        ERR_error_string_n(e, buf, size);
    } else {
        snprintf(buf, size, "unknown error");
    }
    ERR_clear_error();
    return buf;
}

static int
tls_file_err(struct tp_err *err, const char *role, const char *setting,
    const char *file)
{
    char why[256];

    snprintf(err->msg, sizeof(err->msg), "tls %s: tls.%s \"%s\": %s", role,
             setting, file, tls_reason(file, why, sizeof(why)));
    return -1;
}

/* Certificate chain + key (key_file defaults to cert_file). */
static int
tls_load_cert(SSL_CTX *ctx, const struct tls_opts *o, const char *role,
    struct tp_err *err)
{
    const char *key = o->key_file ? o->key_file : o->cert_file;

    if (o->cert_file == NULL) {
        if (o->key_file != NULL) {
            snprintf(err->msg, sizeof(err->msg), "tls %s: tls.key_file is "
                     "set but tls.cert_file is missing", role);
            return -1;
        }
        return 0;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, o->cert_file) != 1) {
        return tls_file_err(err, role, "cert_file", o->cert_file);
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1
        && ERR_GET_REASON(ERR_peek_last_error())
           != X509_R_KEY_VALUES_MISMATCH) {
        return tls_file_err(err, role, "key_file", key);
    }
    if (ERR_peek_last_error() != 0 || SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err->msg, sizeof(err->msg), "tls %s: tls.key_file \"%s\" "
                 "does not match tls.cert_file \"%s\"", role, key,
                 o->cert_file);
        ERR_clear_error();
        return -1;
    }
    return 0;
}

static void
tls_free(void *conf)
{
    struct tls_conf *cf = conf;

    SSL_CTX_free(cf->ctx);
    cf->ctx = NULL;
}

static bool
is_ip_literal(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];

    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* --------------------------------------------------------------- dialer */

static int
tls_dialer_init(void *conf, const struct tp_service *svc, struct tp_err *err)
{
    struct tls_conf *cf = conf;

    (void) svc;
    cf->ctx = SSL_CTX_new(TLS_client_method());
    if (cf->ctx == NULL) {
        snprintf(err->msg, sizeof(err->msg), "tls dialer: SSL_CTX_new failed");
        return -1;
    }
    SSL_CTX_set_min_proto_version(cf->ctx, TLS1_2_VERSION);
    if (cf->tls.insecure) {
        SSL_CTX_set_verify(cf->ctx, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_CTX_set_verify(cf->ctx, SSL_VERIFY_PEER, NULL);
        if (cf->tls.ca_file != NULL) {
            if (SSL_CTX_load_verify_locations(cf->ctx, cf->tls.ca_file, NULL)
                != 1) {
                return tls_file_err(err, "dialer", "ca_file", cf->tls.ca_file);
            }
        } else {
            SSL_CTX_set_default_verify_paths(cf->ctx);
        }
    }
    return tls_load_cert(cf->ctx, &cf->tls, "dialer", err);
}

/* Why the handshake on bev failed, in one line. */
static void
tls_fail_reason(struct bufferevent *bev, short what, char *buf, size_t size)
{
    SSL          *ssl = bufferevent_openssl_get_ssl(bev);
    long          vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = bufferevent_get_openssl_error(bev);
    char          why[200];

    if (vr != X509_V_OK) {
        snprintf(buf, size, "tls: certificate verify failed: %s",
                 X509_verify_cert_error_string(vr));
    } else if (e != 0) {
        ERR_error_string_n(e, why, sizeof(why));
        snprintf(buf, size, "tls: handshake failed: %s", why);
    } else if (what & BEV_EVENT_EOF) {
        snprintf(buf, size, "tls: the server closed the connection during "
                 "the handshake");
    } else {
        snprintf(buf, size, "tls: handshake failed: %s",
                 strerror(EVUTIL_SOCKET_ERROR() ? EVUTIL_SOCKET_ERROR()
                                                : ECONNRESET));
    }
    ERR_clear_error();
}

static void
tls_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tp_dial *d = arg;
    char            why[256];

    bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
    if (what & BEV_EVENT_CONNECTED) {
        tp_dial_step(d, 0, NULL);
        return;
    }
    tls_fail_reason(bev, what, why, sizeof(why));
    tp_dial_step(d, EPROTO, why);
}

static void
tls_handshake(struct tp_dial *d, const void *conf, const char *node_host)
{
    const struct tls_conf *cf = conf;
    const char            *name = cf->tls.server_name ? cf->tls.server_name
                                                      : node_host;
    SSL                   *ssl = SSL_new(cf->ctx);
    struct bufferevent    *f;
    int                    ok = ssl != NULL;

    if (ok && !is_ip_literal(name)) {
        ok = SSL_set_tlsext_host_name(ssl, name) == 1;
        if (ok && !cf->tls.insecure) {
            ok = SSL_set1_host(ssl, name) == 1;
        }
    } else if (ok && !cf->tls.insecure) {
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1;
    }
    if (!ok) {
        SSL_free(ssl);
        ERR_clear_error();
        tp_dial_step(d, EINVAL, "tls: cannot set up the client");
        return;
    }
    f = bufferevent_openssl_filter_new(d->w->base, d->bev, ssl,
                                       BUFFEREVENT_SSL_CONNECTING,
                                       BEV_OPT_CLOSE_ON_FREE);
    if (f == NULL) {
        d->bev = NULL;      /* libevent's failure path may have freed it */
        tp_dial_step(d, ENOMEM, "tls: out of memory");
        return;
    }
    d->bev = f;
    bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
    bufferevent_setcb(f, NULL, NULL, tls_event_cb, d);
    bufferevent_enable(f, EV_READ | EV_WRITE);
}

/* ------------------------------------------------------------- listener */

static int
tls_listener_init(void *conf, const struct tp_service *svc,
    struct tp_err *err)
{
    struct tls_conf *cf = conf;
    char             role[300];

    snprintf(role, sizeof(role), "listener of service \"%s\"",
             svc ? svc->name : "-");
    cf->ctx = SSL_CTX_new(TLS_server_method());
    if (cf->ctx == NULL) {
        snprintf(err->msg, sizeof(err->msg), "tls %s: SSL_CTX_new failed",
                 role);
        return -1;
    }
    SSL_CTX_set_min_proto_version(cf->ctx, TLS1_2_VERSION);
    if (tls_load_cert(cf->ctx, &cf->tls, role, err) != 0) {
        return -1;
    }
    if (cf->tls.ca_file != NULL) {
        if (SSL_CTX_load_verify_locations(cf->ctx, cf->tls.ca_file, NULL)
            != 1) {
            return tls_file_err(err, role, "ca_file", cf->tls.ca_file);
        }
        SSL_CTX_set_verify(cf->ctx, SSL_VERIFY_PEER
                           | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    return 0;
}

/*
 * A TLS server over the accepted socket. A filter over a socket
 * bufferevent rather than bufferevent_openssl_socket_new: the relay core
 * takes a bufferevent without an underlying one for a plain socket (and
 * would shutdown() or splice() it under TLS).
 */
static struct bufferevent *
tls_wrap(const void *conf, struct event_base *base, int fd)
{
    const struct tls_conf *cf = conf;
    struct bufferevent    *sock, *f;
    SSL                   *ssl = SSL_new(cf->ctx);

    if (ssl == NULL) {
        return NULL;
    }
    sock = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (sock == NULL) {
        SSL_free(ssl);
        return NULL;
    }
    f = bufferevent_openssl_filter_new(base, sock, ssl,
                                       BUFFEREVENT_SSL_ACCEPTING,
                                       BEV_OPT_CLOSE_ON_FREE);
    if (f == NULL) {
        return NULL;        /* the caller closes fd; sock may leak (OOM) */
    }
    bufferevent_openssl_set_allow_dirty_shutdown(f, 1);
    return f;
}

static const struct tp_dialer_ops tls_dialer_ops = {
    .handshake = tls_handshake,
};

static const struct tp_listener_ops tls_listener_ops = {
    .socktype = SOCK_STREAM,
    .wrap = tls_wrap,
};

const struct tp_module tp_mod_tls = {
    .name = "tls",
    .role = {
        [TP_ROLE_LISTENER] = {
            .schema = tls_listener_schema,
            .conf_size = sizeof(struct tls_conf),
            .init = tls_listener_init,
            .free = tls_free,
            .ops = &tls_listener_ops,
        },
        [TP_ROLE_DIALER] = {
            .schema = tls_dialer_schema,
            .conf_size = sizeof(struct tls_conf),
            .init = tls_dialer_init,
            .free = tls_free,
            .ops = &tls_dialer_ops,
        },
    },
};
