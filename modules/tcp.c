/*
 * tcp.c - module "tcp": the TCP port-forwarding handler (GOST's
 * handler.type "tcp" with forwarder.nodes), the plain TCP listener, and the
 * plain tcp dialer (no handshake of its own).
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/conn.h"
#include "../src/select.h"
#include "../src/worker.h"

static void
tcp_handle(struct tp_conn *c)
{
    struct tp_forwarder *fw = &((struct tp_service *) c->sw->svc)->forwarder;
    struct tp_node      *n;

    n = tp_select_node(&fw->selector, fw->nodes, fw->nnodes, &fw->rr,
                       tp_now_ms());
    tp_target_from_name(c->dst, n->addr.host, n->addr.port);
    tp_conn_forward(c);
}

static const struct tp_handler_ops tcp_handler_ops = {
    .socktype = SOCK_STREAM,
    .uses_chain = true,
    .uses_forwarder = true,
    .stream = tcp_handle,
};

static const struct tp_listener_ops tcp_listener_ops = {
    .socktype = SOCK_STREAM,
};

static const struct tp_dialer_ops tcp_dialer_ops = {
    .handshake = NULL,
};

const struct tp_module tp_mod_tcp = {
    .name = "tcp",
    .role = {
        [TP_ROLE_HANDLER] = { .ops = &tcp_handler_ops },
        [TP_ROLE_LISTENER] = { .ops = &tcp_listener_ops },
        [TP_ROLE_DIALER] = { .ops = &tcp_dialer_ops },
    },
};
