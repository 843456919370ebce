/*
 * module.h - the static module registry. A module is one `type` name
 * ("red", "tcp", "socks5", "tls", ...) that can fill several roles: handler,
 * listener, connector, dialer. Each role has its own config schema, its own
 * typed config struct and its own ops. Core code never switches on a name.
 * The table itself is generated at build time from modules/ (build/modules.c).
 */
#ifndef TP_MODULE_H
#define TP_MODULE_H

#include "tproxyd.h"

struct event_base;
struct bufferevent;
struct tp_schema;
struct tp_svc_worker;
struct tp_dial;
struct tp_target;

enum tp_role {
    TP_ROLE_HANDLER = 0,
    TP_ROLE_LISTENER,
    TP_ROLE_CONNECTOR,
    TP_ROLE_DIALER,
    TP_ROLE_COUNT
};

/* One config face of a module. */
struct tp_module_role {
    const struct tp_schema *schema;     /* settings of its group (NULL: none) */
    size_t                  conf_size;  /* its typed config struct */
    /* master, after the whole file parsed; may load files (certs). */
    int   (*init)(void *conf, const struct tp_service *svc, struct tp_err *err);
    void  (*free)(void *conf);          /* frees what init made */
    const void             *ops;        /* role-specific vtable below */
};

struct tp_module {
    const char             *name;
    struct tp_module_role   role[TP_ROLE_COUNT];
};

/* Listener role: how the service's sockets are made. */
struct tp_listener_ops {
    int     socktype;       /* SOCK_STREAM or SOCK_DGRAM */
    /* Options set before bind (transparent, recvorigdst, ...). */
    int   (*sockopts)(const void *conf, int fd, int family, struct tp_err *err);
    /* Stream: wrap an accepted fd (TLS); NULL = plain socket. */
    struct bufferevent *(*wrap)(const void *conf, struct event_base *base,
                                int fd);
};

/* Handler role: what a service does with a connection or datagrams. */
struct tp_handler_ops {
    int     socktype;       /* SOCK_STREAM or SOCK_DGRAM */
    bool    uses_chain;     /* accepts `chain` */
    bool    uses_forwarder; /* needs `forwarder.nodes` */
    /* Stream: a new connection; the conn owns the client side. */
    void  (*stream)(struct tp_conn *c);
    /* Datagram: per worker, on the service's socket: start reading;
     * stop taking new flows (drain); free everything (worker exit). */
    int   (*dgram_start)(struct tp_svc_worker *sw);
    void  (*dgram_stop)(struct tp_svc_worker *sw);
    void  (*dgram_free)(struct tp_svc_worker *sw);
};

/*
 * A datagram path through a chain, made by the last hop's connector (SOCKS5
 * UDP ASSOCIATE, relay UDP) for tp_dial_udp_start() (dial.h). The user
 * (redu) sets recv/closed/arg, sends with ops->send and frees the tunnel
 * with ops->free, at the latest from closed().
 */
struct tp_udp_tunnel;

struct tp_udp_tunnel_ops {
    /* One datagram to dst (an AF_INET/AF_INET6 address; for a tunnel
     * opened to one destination, that one). 0, or -1 with errno when the
     * datagram is dropped (the tunnel lives on). */
    int   (*send)(struct tp_udp_tunnel *t, const struct sockaddr *dst,
                  const uint8_t *data, size_t len);
    void  (*free)(struct tp_udp_tunnel *t);
};

struct tp_udp_tunnel {
    const struct tp_udp_tunnel_ops *ops;
    /* A datagram from src (the remote that sent it). */
    void  (*recv)(void *arg, const struct sockaddr *src, const uint8_t *data,
                  size_t len);
    /* The tunnel broke (its stream closed, the proxy refused): err and a
     * one-line why. No recv() after this; free the tunnel. */
    void  (*closed)(void *arg, int err, const char *why);
    void   *arg;
    const char *route;              /* "socks5-udp", "relay-udp", for logs */
};

/* Connector role: speak a proxy protocol over an open stream. */
struct tp_connector_ops {
    /* Ask the proxy on d->bev for a tunnel to `to`; tp_dial_step() when done. */
    void  (*connect)(struct tp_dial *d, const void *conf,
                     const struct tp_target *to);
    /* UDP, as the last hop of a tp_dial_udp_start() dial: over d->bev (the
     * stream to this node), open a datagram tunnel to `to` only, or to any
     * destination when to is NULL; store it in d->udp (taking d->bev if it
     * keeps the stream) and tp_dial_step(). NULL: no UDP. */
    void  (*udp)(struct tp_dial *d, const void *conf,
                 const struct tp_target *to);
};

/* Dialer role: the transport to a node, over TCP or over a previous tunnel. */
struct tp_dialer_ops {
    /* Wrap d->bev (an open stream to the node); tp_dial_step() when done. */
    void  (*handshake)(struct tp_dial *d, const void *conf,
                       const char *node_host);
};

extern const struct tp_module *const tp_modules[];
extern const size_t tp_modules_count;

const struct tp_module *tp_module_find(enum tp_role role, const char *name);
const char *tp_role_name(enum tp_role role);
/* "red, redu, tcp" - the names that fill a role, for error messages. */
void tp_module_names(enum tp_role role, char *buf, size_t size);

#endif
