/*
 * relay_module.h - what the files of module "relay" share: the typed configs of
 * its two roles (relay.c holds the table, the schemas and the connector),
 * the UDP framing both ends cut with, and the entry of the handler
 * (relay_server.c). Private to those files; the core's is src/relay.h.
 */
#ifndef TP_MOD_RELAY_H
#define TP_MOD_RELAY_H

#include "../src/tproxyd.h"
#include "../src/conf.h"

struct tp_conn;

struct relay_connector_conf {
    struct tp_auth      auth;
    bool                nodelay;        /* wait for the response */
};

struct relay_handler_conf {
    struct tp_auth      auth;
    uint64_t            read_timeout_ms;
    bool                bind;           /* UDP association (BIND|FUDP) */
};

/* The handler holds its output to the client to this bound as well. */
#define RELAY_UDP_OUT_MAX   (1024 * 1024)   /* queued towards the server */

/*
 * The handler's stream hook (tp_handler_ops.stream): the relay request on
 * c->cbev, then CONNECT through the core (tp_conn_forward) or a UDP stream;
 * every failure ends in tp_conn_close(). What it makes hangs off c
 * (c->hctx) and is freed with it.
 */
void relay_handle(struct tp_conn *c);

#endif
