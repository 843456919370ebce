/*
 * red.c - module "red" (GOST's name): transparent TCP. The listener sets
 * IP_TRANSPARENT/IPV6_TRANSPARENT when tproxy is on; the handler recovers
 * the original destination (getsockname under TPROXY, SO_ORIGINAL_DST
 * under REDIRECT), refuses flows aimed at tproxyd itself, and forwards
 * with optional sniffing. `tproxy` may be set on either group.
 */
#include "../src/tproxyd.h"
#include "../src/conf.h"
#include "../src/conn.h"
#include "../src/log.h"
#include "../src/origdst.h"
#include "../src/sniff.h"
#include "../src/sockopt.h"
#include "../src/worker.h"

#include <event2/bufferevent.h>
#include <stdio.h>

struct red_handler_conf {
    bool                    tproxy;
    struct tp_sniff_conf    sniffing;
};

struct red_listener_conf {
    bool                    tproxy;
};

const struct tp_module tp_mod_red;

static const struct tp_schema red_handler_schema[] = {
    { "tproxy", TP_T_BOOL, offsetof(struct red_handler_conf, tproxy), 0,
      "false" },
    { "sniffing", TP_T_GROUP, offsetof(struct red_handler_conf, sniffing), 0,
      NULL, tp_schema_sniffing },
    { NULL }
};

static const struct tp_schema red_listener_schema[] = {
    { "tproxy", TP_T_BOOL, offsetof(struct red_listener_conf, tproxy), 0,
      "false" },
    { NULL }
};

/* Either group saying tproxy makes both say it. */
static int
red_handler_init(void *conf, const struct tp_service *svc, struct tp_err *err)
{
    struct red_handler_conf *hc = conf;

    (void) err;
    if (svc->listener.mod == &tp_mod_red) {
        struct red_listener_conf *lc = svc->listener.conf;
        hc->tproxy = lc->tproxy = hc->tproxy || lc->tproxy;
    }
    return 0;
}

static int
red_sockopts(const void *conf, int fd, int family, struct tp_err *err)
{
    const struct red_listener_conf *lc = conf;

    return lc->tproxy ? tp_sock_transparent(fd, family, err) : 0;
}

static void
red_handle(struct tp_conn *c)
{
    const struct red_handler_conf *hc = c->sw->svc->handler.conf;
    int                            fd = bufferevent_getfd(c->cbev);
    char                           why[96];

    if (tp_origdst_tcp(fd, hc->tproxy, &c->client.sa,
                       c->dst) != 0) {
        snprintf(why, sizeof(why), "(%s: %s)", hc->tproxy ? "getsockname"
                 : "SO_ORIGINAL_DST; is a REDIRECT rule in place?",
                 strerror(errno));
        tp_conn_close(c, TP_END_NO_DST, why);
        return;
    }
    if (tp_origdst_is_self(c->w->cycle, (struct sockaddr *) &c->dst->ss,
                           SOCK_STREAM)) {
        c->w->stats.refused_loop++;
        tp_conn_close(c, TP_END_LOOP, "(destination is tproxyd itself)");
        return;
    }
    c->sniff = &hc->sniffing;
    tp_conn_forward(c);
}

static const struct tp_handler_ops red_handler_ops = {
    .socktype = SOCK_STREAM,
    .uses_chain = true,
    .stream = red_handle,
};

static const struct tp_listener_ops red_listener_ops = {
    .socktype = SOCK_STREAM,
    .sockopts = red_sockopts,
};

const struct tp_module tp_mod_red = {
    .name = "red",
    .role = {
        [TP_ROLE_HANDLER] = {
            .schema = red_handler_schema,
            .conf_size = sizeof(struct red_handler_conf),
            .init = red_handler_init,
            .ops = &red_handler_ops,
        },
        [TP_ROLE_LISTENER] = {
            .schema = red_listener_schema,
            .conf_size = sizeof(struct red_listener_conf),
            .ops = &red_listener_ops,
        },
    },
};
