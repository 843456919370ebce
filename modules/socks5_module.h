/*
 * socks5_module.h - what the files of module "socks5" share: the typed configs of
 * its two roles (socks5.c holds the table, the schemas and the connector)
 * and the entry of the handler (socks5_server.c). Private to those files;
 * bytes and messages are socks5_wire.h.
 */
#ifndef TP_MOD_SOCKS5_H
#define TP_MOD_SOCKS5_H

#include "../src/tproxyd.h"
#include "../src/conf.h"

struct tp_conn;

struct socks5_connector_conf {
    struct tp_auth      auth;           /* username NULL: no auth offered */
};

struct socks5_handler_conf {
    struct tp_auth      auth;           /* username NULL: no auth asked */
    uint64_t            read_timeout_ms;
    bool                udp;            /* answer UDP ASSOCIATE */
};

/*
 * The handler's stream hook (tp_handler_ops.stream): the SOCKS5 handshake
 * on c->cbev, then CONNECT through the core (tp_conn_forward) or a UDP
 * association; every failure ends in tp_conn_close(). What it makes hangs
 * off c (c->hctx) and is freed with it.
 */
void socks5_handle(struct tp_conn *c);

#endif
