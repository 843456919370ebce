/*
 * conf.c - the config model's schemas (global, services, chains), loading
 * a file, cross-checks (names, chain references, role compatibility),
 * module init hooks, and -T printing. Field semantics: man/tproxyd.conf.5.
 */
#include "tproxyd.h"
#include "conf.h"
#include "dial.h"
#include "log.h"

#include <libconfig.h>
#include <stdlib.h>
#include <unistd.h>

#define OFF(t, f) offsetof(struct t, f)

const char *const tp_log_level_names[] = {
    "error", "warn", "notice", "info", "debug", NULL
};
const char *const tp_strategy_names[] = { "round", "random", "fifo", NULL };

const struct tp_schema tp_schema_auth[] = {
    { "username", TP_T_STRING, OFF(tp_auth, username), TP_REQUIRED, NULL },
    { "password", TP_T_STRING, OFF(tp_auth, password), 0, NULL },
    { NULL }
};

static const struct tp_schema schema_sockopts[] = {
    { "mark", TP_T_INT, OFF(tp_sockopts, mark), 0, "0",
      .min = 0, .max = 0xffffffffLL },
    { NULL }
};

static int
check_source(const char *v, const char **why)
{
    struct sockaddr_storage ss;
    socklen_t               len;

    if (tp_ip_literal(v, 0, &ss, &len) != 0) {
        *why = "not an IP address (like 192.0.2.1 or 2001:db8::1)";
        return -1;
    }
    return 0;
}

/* A service's own egress also has source addresses (nodes and hops: the
 * connection to a proxy is not where a gateway runs out of ports). */
static const struct tp_schema schema_svc_sockopts[] = {
    { "mark", TP_T_INT, OFF(tp_sockopts, mark), 0, "0",
      .min = 0, .max = 0xffffffffLL },
    { "source", TP_T_STRLIST, OFF(tp_sockopts, source), 0, NULL,
      .off_n = OFF(tp_sockopts, nsource), .check = check_source },
    { NULL }
};

static const struct tp_schema schema_selector[] = {
    { "strategy", TP_T_CHOICE, OFF(tp_selector, strategy), 0, "round",
      .choices = tp_strategy_names },
    { "max_fails", TP_T_INT, OFF(tp_selector, max_fails), 0, "1",
      .min = 0, .max = 1000000 },
    { "fail_timeout", TP_T_DURATION, OFF(tp_selector, fail_timeout_ms), 0,
      "10s" },
    { NULL }
};

static const struct tp_schema schema_handler_common[] = {
    { "chain", TP_T_STRING, OFF(tp_modconf, chain_name), 0, NULL },
    { NULL }
};

static const struct tp_schema schema_node[] = {
    { "name", TP_T_STRING, OFF(tp_node, name), 0, NULL },
    { "addr", TP_T_HOSTPORT, OFF(tp_node, addr), TP_REQUIRED, NULL },
    { "sockopts", TP_T_GROUP, OFF(tp_node, sockopts), 0, NULL,
      schema_sockopts },
    { "connector", TP_T_MODULE, OFF(tp_node, connector), 0, NULL,
      .role = TP_ROLE_CONNECTOR },
    { "dialer", TP_T_MODULE, OFF(tp_node, dialer), 0, NULL,
      .role = TP_ROLE_DIALER },
    { NULL }
};

static const struct tp_schema schema_hop[] = {
    { "name", TP_T_STRING, OFF(tp_hop, name), 0, NULL },
    { "sockopts", TP_T_GROUP, OFF(tp_hop, sockopts), 0, NULL,
      schema_sockopts },
    { "selector", TP_T_GROUP, OFF(tp_hop, selector), 0, NULL,
      schema_selector },
    { "nodes", TP_T_LIST, OFF(tp_hop, nodes), TP_REQUIRED, NULL, schema_node,
      sizeof(struct tp_node), OFF(tp_hop, nnodes) },
    { "bypass", TP_T_STRING, OFF(tp_hop, bypass_name), 0, NULL },
    { NULL }
};

static const struct tp_schema schema_chain[] = {
    { "name", TP_T_STRING, OFF(tp_chain, name), TP_REQUIRED, NULL },
    { "hops", TP_T_LIST, OFF(tp_chain, hops), TP_REQUIRED, NULL, schema_hop,
      sizeof(struct tp_hop), OFF(tp_chain, nhops) },
    { "bypass", TP_T_STRING, OFF(tp_chain, bypass_name), 0, NULL },
    { NULL }
};

static const struct tp_schema schema_bypass[] = {
    { "name", TP_T_STRING, OFF(tp_bypass, name), TP_REQUIRED, NULL },
    { "whitelist", TP_T_BOOL, OFF(tp_bypass, whitelist), 0, "false" },
    { "matchers", TP_T_STRLIST, OFF(tp_bypass, matchers), TP_REQUIRED, NULL,
      .off_n = OFF(tp_bypass, nmatchers), .check = tp_bypass_check_matcher },
    { NULL }
};

static const struct tp_schema schema_forwarder[] = {
    { "selector", TP_T_GROUP, OFF(tp_forwarder, selector), 0, NULL,
      schema_selector },
    { "nodes", TP_T_LIST, OFF(tp_forwarder, nodes), 0, NULL, schema_node,
      sizeof(struct tp_node), OFF(tp_forwarder, nnodes) },
    { NULL }
};

static const struct tp_schema schema_service[] = {
    { "name", TP_T_STRING, OFF(tp_service, name), TP_REQUIRED, NULL },
    { "addr", TP_T_HOSTPORT, OFF(tp_service, addr), TP_REQUIRED, NULL },
    { "sockopts", TP_T_GROUP, OFF(tp_service, sockopts), 0, NULL,
      schema_svc_sockopts },
    { "connect_timeout", TP_T_DURATION, OFF(tp_service, connect_timeout_ms),
      0, "10s" },
    { "idle_timeout", TP_T_DURATION, OFF(tp_service, idle_timeout_ms), 0,
      "5m" },
    { "handler", TP_T_MODULE, OFF(tp_service, handler), TP_REQUIRED, NULL,
      schema_handler_common, .role = TP_ROLE_HANDLER },
    { "listener", TP_T_MODULE, OFF(tp_service, listener), TP_REQUIRED, NULL,
      .role = TP_ROLE_LISTENER },
    { "forwarder", TP_T_GROUP, OFF(tp_service, forwarder), 0, NULL,
      schema_forwarder },
    { "bypass", TP_T_STRING, OFF(tp_service, bypass_name), 0, NULL },
    { NULL }
};

static const struct tp_schema schema_log[] = {
    { "level", TP_T_CHOICE, OFF(tp_log_conf, level), 0, "info",
      .choices = tp_log_level_names },
    { "target", TP_T_STRING, OFF(tp_log_conf, target), 0, "stderr" },
    { NULL }
};

const struct tp_schema tp_schema_root[] = {
    { "worker_processes", TP_T_WORKERS, OFF(tp_conf, worker_processes), 0,
      "auto", .min = 1, .max = 1024 },
    { "user", TP_T_STRING, OFF(tp_conf, user), 0, NULL },
    { "group", TP_T_STRING, OFF(tp_conf, group), 0, NULL },
    { "pid_file", TP_T_STRING, OFF(tp_conf, pid_file), 0, NULL },
    { "worker_shutdown_timeout", TP_T_DURATION,
      OFF(tp_conf, worker_shutdown_timeout_ms), 0, "30s" },
    { "worker_rlimit_nofile", TP_T_INT, OFF(tp_conf, worker_rlimit_nofile),
      0, "0", .min = 0, .max = 16777216 },
    { "log", TP_T_GROUP, OFF(tp_conf, log), 0, NULL, schema_log },
    { "services", TP_T_LIST, OFF(tp_conf, services), TP_REQUIRED, NULL,
      schema_service, sizeof(struct tp_service), OFF(tp_conf, nservices) },
    { "chains", TP_T_LIST, OFF(tp_conf, chains), 0, NULL, schema_chain,
      sizeof(struct tp_chain), OFF(tp_conf, nchains) },
    { "bypasses", TP_T_LIST, OFF(tp_conf, bypasses), 0, NULL, schema_bypass,
      sizeof(struct tp_bypass), OFF(tp_conf, nbypasses) },
    { NULL }
};

static struct tp_bypass *
conf_bypass(const struct tp_conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->nbypasses; i++) {
        if (strcmp(conf->bypasses[i].name, name) == 0) {
            return &conf->bypasses[i];
        }
    }
    return NULL;
}

/* Resolve a `bypass = "name"` reference; where says whose it is. */
static int
resolve_bypass(const struct tp_conf *conf, const char *name,
    struct tp_bypass **out, const char *where, struct tp_err *err)
{
    if (name == NULL) {
        return 0;
    }
    *out = conf_bypass(conf, name);
    if (*out == NULL) {
        snprintf(err->msg, sizeof(err->msg), "%s: %s: bypass: no entry "
                 "named \"%s\" in bypasses", conf->path, where, name);
        return -1;
    }
    return 0;
}

static int
check_bypasses(struct tp_conf *conf, struct tp_err *err)
{
    char where[320];

    for (size_t i = 0; i < conf->nbypasses; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(conf->bypasses[i].name, conf->bypasses[j].name) == 0) {
                snprintf(err->msg, sizeof(err->msg), "%s: two bypasses are "
                         "named \"%s\"", conf->path, conf->bypasses[i].name);
                return -1;
            }
        }
        if (tp_bypass_compile(&conf->bypasses[i]) != 0) {
            snprintf(err->msg, sizeof(err->msg), "out of memory");
            return -1;
        }
    }
    for (size_t i = 0; i < conf->nservices; i++) {
        snprintf(where, sizeof(where), "service \"%.200s\"",
                 conf->services[i].name);
        if (resolve_bypass(conf, conf->services[i].bypass_name,
                           &conf->services[i].bypass, where, err) != 0) {
            return -1;
        }
    }
    for (size_t i = 0; i < conf->nchains; i++) {
        snprintf(where, sizeof(where), "chain \"%.200s\"",
                 conf->chains[i].name);
        if (resolve_bypass(conf, conf->chains[i].bypass_name,
                           &conf->chains[i].bypass, where, err) != 0) {
            return -1;
        }
        for (size_t h = 0; h < conf->chains[i].nhops; h++) {
            struct tp_hop *hop = &conf->chains[i].hops[h];
            snprintf(where, sizeof(where), "chain \"%.200s\" hop %zu",
                     conf->chains[i].name, h);
            if (resolve_bypass(conf, hop->bypass_name, &hop->bypass, where,
                               err) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

struct tp_chain *
tp_conf_chain(const struct tp_conf *conf, const char *name)
{
    for (size_t i = 0; i < conf->nchains; i++) {
        if (strcmp(conf->chains[i].name, name) == 0) {
            return &conf->chains[i];
        }
    }
    return NULL;
}

/* sockopts.source as socket addresses, once (check_source vetted them),
 * so that a new flow does not parse them again. */
static int
parse_sources(struct tp_sockopts *so)
{
    struct sockaddr_storage ss;
    socklen_t               len;

    so->source_sa = calloc(so->nsource, sizeof(*so->source_sa));
    if (so->source_sa == NULL) {
        return -1;
    }
    for (size_t i = 0; i < so->nsource; i++) {
        if (tp_ip_literal(so->source[i], 0, &ss, &len) == 0) {
            tp_sa_set(&so->source_sa[i], (struct sockaddr *) &ss);
        }
    }
    return 0;
}

static int
check_service(struct tp_conf *conf, struct tp_service *svc, struct tp_err *err)
{
    const struct tp_handler_ops  *h = svc->handler.mod->role[TP_ROLE_HANDLER].ops;
    const struct tp_listener_ops *l = svc->listener.mod->role[TP_ROLE_LISTENER].ops;
    const char                   *n = svc->name;

    if (h->socktype != l->socktype) {
        snprintf(err->msg, sizeof(err->msg), "%s: service \"%s\": handler "
                 "\"%s\" is for %s but listener \"%s\" is for %s", conf->path,
                 n, svc->handler.mod->name,
                 h->socktype == SOCK_STREAM ? "TCP" : "UDP",
                 svc->listener.mod->name,
                 l->socktype == SOCK_STREAM ? "TCP" : "UDP");
        return -1;
    }
    if (svc->handler.chain_name != NULL) {
        if (!h->uses_chain) {
            snprintf(err->msg, sizeof(err->msg), "%s: service \"%s\": handler "
                     "\"%s\" does not take a chain", conf->path, n,
                     svc->handler.mod->name);
            return -1;
        }
        svc->handler.chain = tp_conf_chain(conf, svc->handler.chain_name);
        if (svc->handler.chain == NULL) {
            snprintf(err->msg, sizeof(err->msg), "%s: service \"%s\": "
                     "handler.chain: no chain named \"%s\"", conf->path, n,
                     svc->handler.chain_name);
            return -1;
        }
    }
    if (svc->sockopts.nsource > 0 && parse_sources(&svc->sockopts) != 0) {
        snprintf(err->msg, sizeof(err->msg), "%s: service \"%s\": out of "
                 "memory", conf->path, n);
        return -1;
    }
    if (h->uses_forwarder && svc->forwarder.nnodes == 0) {
        snprintf(err->msg, sizeof(err->msg), "%s: service \"%s\": handler "
                 "\"%s\" needs forwarder.nodes (the targets)", conf->path, n,
                 svc->handler.mod->name);
        return -1;
    }
    return 0;
}

/* Same socket type and address: one SO_REUSEPORT group would randomly
 * split the connections between the two services. */
static bool
same_listen_addr(const struct tp_service *a, const struct tp_service *b)
{
    const struct tp_listener_ops *la = a->listener.mod->role[TP_ROLE_LISTENER].ops;
    const struct tp_listener_ops *lb = b->listener.mod->role[TP_ROLE_LISTENER].ops;

    return la->socktype == lb->socktype && a->addr.port == b->addr.port
           && strcmp(a->addr.host, b->addr.host) == 0;
}

static int
check_names(struct tp_conf *conf, struct tp_err *err)
{
    for (size_t i = 0; i < conf->nservices; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(conf->services[i].name, conf->services[j].name) == 0) {
                snprintf(err->msg, sizeof(err->msg), "%s: two services are "
                         "named \"%s\"", conf->path, conf->services[i].name);
                return -1;
            }
            if (same_listen_addr(&conf->services[i], &conf->services[j])) {
                snprintf(err->msg, sizeof(err->msg), "%s: services \"%.150s\" "
                         "and \"%.150s\" listen on the same address and "
                         "protocol", conf->path, conf->services[j].name,
                         conf->services[i].name);
                return -1;
            }
        }
    }
    for (size_t i = 0; i < conf->nchains; i++) {
        for (size_t j = 0; j < i; j++) {
            if (strcmp(conf->chains[i].name, conf->chains[j].name) == 0) {
                snprintf(err->msg, sizeof(err->msg), "%s: two chains are "
                         "named \"%s\"", conf->path, conf->chains[i].name);
                return -1;
            }
        }
    }
    return 0;
}

static int
init_modconf(struct tp_modconf *mc, enum tp_role role,
    const struct tp_service *svc, struct tp_err *err)
{
    const struct tp_module_role *r;

    if (mc->mod == NULL) {
        return 0;
    }
    r = &mc->mod->role[role];
    return r->init ? r->init(mc->conf, svc, err) : 0;
}

/* Module init errors of a node name the node: "chains[0].hops[1].nodes[0]". */
static int
init_nodes(struct tp_node *nodes, size_t n, const struct tp_service *svc,
    const char *where, struct tp_err *err)
{
    char msg[sizeof(err->msg)];

    for (size_t i = 0; i < n; i++) {
        if (init_modconf(&nodes[i].connector, TP_ROLE_CONNECTOR, svc, err)
            || init_modconf(&nodes[i].dialer, TP_ROLE_DIALER, svc, err)) {
            snprintf(msg, sizeof(msg), "%s", err->msg);
            snprintf(err->msg, sizeof(err->msg), "%.100s.nodes[%zu]: %.380s",
                     where, i, msg);
            return -1;
        }
    }
    return 0;
}

/* A chain must be dialable: 1..TP_DIAL_MAX_HOPS hops, each with nodes,
 * each node with a connector (how to ask it for the next tunnel). */
static int
check_chain(const struct tp_conf *conf, const struct tp_chain *ch,
    struct tp_err *err)
{
    if (ch->nhops == 0 || ch->nhops > TP_DIAL_MAX_HOPS) {
        snprintf(err->msg, sizeof(err->msg), "%s: chain \"%.200s\": expected "
                 "1 to %d hops, got %zu", conf->path, ch->name,
                 TP_DIAL_MAX_HOPS, ch->nhops);
        return -1;
    }
    for (size_t h = 0; h < ch->nhops; h++) {
        if (ch->hops[h].nnodes == 0) {
            snprintf(err->msg, sizeof(err->msg), "%s: chain \"%.200s\" hop "
                     "%zu: no nodes", conf->path, ch->name, h);
            return -1;
        }
        for (size_t n = 0; n < ch->hops[h].nnodes; n++) {
            if (ch->hops[h].nodes[n].connector.mod == NULL) {
                snprintf(err->msg, sizeof(err->msg), "%s: chain \"%.200s\" "
                         "hop %zu node %zu: a chain node needs a connector "
                         "(socks5, http, relay, ...)", conf->path, ch->name,
                         h, n);
                return -1;
            }
        }
    }
    return 0;
}

/* Cross-checks, then each module's init hook (which may load files). */
static int
conf_check(struct tp_conf *conf, struct tp_err *err)
{
    long cpus;

    if (check_names(conf, err) != 0 || check_bypasses(conf, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < conf->nservices; i++) {
        struct tp_service *svc = &conf->services[i];
        svc->index = i;
        if (check_service(conf, svc, err) != 0
            || init_modconf(&svc->handler, TP_ROLE_HANDLER, svc, err)
            || init_modconf(&svc->listener, TP_ROLE_LISTENER, svc, err)
            || init_nodes(svc->forwarder.nodes, svc->forwarder.nnodes, svc,
                          "forwarder", err)) {
            return -1;
        }
    }
    for (size_t i = 0; i < conf->nchains; i++) {
        if (check_chain(conf, &conf->chains[i], err) != 0) {
            return -1;
        }
        for (size_t h = 0; h < conf->chains[i].nhops; h++) {
            struct tp_hop *hop = &conf->chains[i].hops[h];
            char where[64];
            snprintf(where, sizeof(where), "chains[%zu].hops[%zu]", i, h);
            if (init_nodes(hop->nodes, hop->nnodes, NULL, where, err) != 0) {
                return -1;
            }
        }
    }
    cpus = sysconf(_SC_NPROCESSORS_ONLN);
    conf->nworkers = conf->worker_processes ? (int) conf->worker_processes
                                            : (int) (cpus > 0 ? cpus : 1);
    return 0;
}

/* Every message names where it comes from, even without a line. */
static void
prefix_origin(struct tp_err *err, const char *origin)
{
    char msg[sizeof(err->msg)];

    if (strncmp(err->msg, origin, strlen(origin)) == 0) {
        return;
    }
    snprintf(msg, sizeof(msg), "%s", err->msg);
    snprintf(err->msg, sizeof(err->msg), "%.200s: %.300s", origin, msg);
}

struct tp_conf *
tp_conf_from_config(config_t *cfg, const char *origin, struct tp_err *err)
{
    struct tp_conf *conf = calloc(1, sizeof(*conf));

    conf->path = strdup(origin);
    if (tp_schema_parse(tp_schema_root, conf, config_root_setting(cfg), "",
                        err) != 0 || conf_check(conf, err) != 0) {
        prefix_origin(err, origin);
        tp_conf_free(conf);
        return NULL;
    }
    return conf;
}

struct tp_conf *
tp_conf_load(const char *path, struct tp_err *err)
{
    config_t        cfg;
    struct tp_conf *conf;

    config_init(&cfg);
    if (config_read_file(&cfg, path) != CONFIG_TRUE) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO) {
            snprintf(err->msg, sizeof(err->msg), "%s: cannot read: %s", path,
                     strerror(errno));
        } else {
            snprintf(err->msg, sizeof(err->msg), "%s:%d: syntax error: %s",
                     config_error_file(&cfg) ? config_error_file(&cfg) : path,
                     config_error_line(&cfg), config_error_text(&cfg));
        }
        config_destroy(&cfg);
        return NULL;
    }
    conf = tp_conf_from_config(&cfg, path, err);
    config_destroy(&cfg);
    return conf;
}

void
tp_conf_free(struct tp_conf *conf)
{
    if (conf == NULL) {
        return;
    }
    for (size_t i = 0; i < conf->nbypasses; i++) {
        tp_bypass_free_compiled(&conf->bypasses[i]);
    }
    for (size_t i = 0; i < conf->nservices; i++) {
        free(conf->services[i].sockopts.source_sa);
    }
    tp_schema_free(tp_schema_root, conf);
    free(conf->path);
    free(conf);
}
