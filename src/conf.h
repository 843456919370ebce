/*
 * conf.h - the typed configuration model and the schema engine that fills
 * it. A schema is a table of rows {name, type, offset, default, ...}; the
 * engine walks a libconfig tree against it, so parsing, defaults, unknown
 * setting errors, -T printing and freeing are written once for every module.
 * Parsing builds a fresh tp_conf or fails with "file:line: path: why" and
 * touches nothing else.
 */
#ifndef TP_CONF_H
#define TP_CONF_H

#include "tproxyd.h"
#include "util.h"
#include "module.h"
#include "route.h"

#include <stdio.h>

struct config_t;
struct config_setting_t;

enum tp_type {
    TP_T_STRING,    /* char *                                   */
    TP_T_INT,       /* int64_t, bounded by min..max              */
    TP_T_BOOL,      /* bool                                      */
    TP_T_DURATION,  /* uint64_t ms: "5s" "300ms" "1m30s" or sec  */
    TP_T_SIZE,      /* uint64_t bytes: 4096, "64k", "1m"         */
    TP_T_HOSTPORT,  /* struct tp_hostport                        */
    TP_T_WORKERS,   /* int64_t: a number, or "auto" -> 0         */
    TP_T_CHOICE,    /* int: index into choices[]                 */
    TP_T_GROUP,     /* nested struct at off, schema in sub       */
    TP_T_LIST,      /* array at off, count (size_t) at off_n     */
    TP_T_STRLIST,   /* char ** at off, count (size_t) at off_n   */
    TP_T_MODULE,    /* struct tp_modconf at off, `type` picks it */
};

#define TP_REQUIRED  0x1

struct tp_schema {
    const char             *name;
    enum tp_type            type;
    size_t                  off;
    unsigned                flags;
    const char             *dflt;       /* default, in config syntax */
    const struct tp_schema *sub;        /* GROUP/LIST element/MODULE common */
    size_t                  elem_size;  /* LIST element size */
    size_t                  off_n;      /* LIST/STRLIST count offset */
    long long               min, max;   /* INT bounds (both 0: none) */
    const char *const      *choices;    /* CHOICE names, NULL-terminated */
    int                     role;       /* MODULE: enum tp_role */
    /* STRING/STRLIST: validates each value (NULL = any); why on error */
    int                   (*check)(const char *v, const char **why);
};

/* A module-typed group: handler, listener, connector, dialer. */
struct tp_modconf {
    const struct tp_module *mod;
    void                   *conf;       /* mod->role[role].conf_size bytes */
    char                   *chain_name; /* handler: `chain` */
    struct tp_chain        *chain;      /* resolved after parse */
};

struct tp_sockopts {
    int64_t     mark;                   /* SO_MARK; 0 = none */
    char      **source;                 /* services: egress source IPs */
    size_t      nsource;
    union tp_sa *source_sa;             /* the same, parsed after load */
};

enum tp_strategy { TP_SEL_ROUND, TP_SEL_RANDOM, TP_SEL_FIFO };

struct tp_selector {
    int         strategy;               /* enum tp_strategy */
    int64_t     max_fails;
    uint64_t    fail_timeout_ms;
};

struct tp_node {
    char               *name;
    struct tp_hostport  addr;
    struct tp_sockopts  sockopts;
    struct tp_modconf   connector;
    struct tp_modconf   dialer;
    /* runtime, private to each worker process (after fork) */
    int64_t             fails;
    uint64_t            down_until_ms;
};

struct tp_hop {
    char               *name;
    struct tp_sockopts  sockopts;
    struct tp_selector  selector;
    struct tp_node     *nodes;
    size_t              nnodes;
    size_t              rr;             /* runtime: round-robin cursor */
    char               *bypass_name;
    struct tp_bypass   *bypass;         /* matching flows stop before it */
};

struct tp_chain {
    char              *name;
    struct tp_hop     *hops;
    size_t             nhops;
    char              *bypass_name;
    struct tp_bypass  *bypass;      /* matching flows go direct */
};

struct tp_forwarder {
    struct tp_selector  selector;
    struct tp_node     *nodes;
    size_t              nnodes;
    size_t              rr;             /* runtime: round-robin cursor */
};

struct tp_service {
    char               *name;
    struct tp_hostport  addr;
    struct tp_sockopts  sockopts;
    uint64_t            connect_timeout_ms;
    uint64_t            idle_timeout_ms;
    struct tp_modconf   handler;
    struct tp_modconf   listener;
    struct tp_forwarder forwarder;
    char               *bypass_name;
    struct tp_bypass   *bypass;         /* matching flows are rejected */
    size_t              index;          /* position in conf->services */
};

struct tp_log_conf {
    int         level;                  /* enum tp_log_level */
    char       *target;
};

struct tp_conf {
    char               *path;           /* file, or "command line" */
    int64_t             worker_processes;   /* 0 = auto */
    char               *user;
    char               *group;
    char               *pid_file;
    uint64_t            worker_shutdown_timeout_ms;
    int64_t             worker_rlimit_nofile;
    struct tp_log_conf  log;
    struct tp_service  *services;
    size_t              nservices;
    struct tp_chain    *chains;
    size_t              nchains;
    struct tp_bypass   *bypasses;
    size_t              nbypasses;
    int                 nworkers;       /* resolved worker_processes */
};

/* Parse a file. NULL with err->msg "file:line: setting: why" on error. */
struct tp_conf *tp_conf_load(const char *path, struct tp_err *err);
/* Build from a libconfig tree made in memory (the -L/-F URL path). */
struct tp_conf *tp_conf_from_config(struct config_t *cfg, const char *origin,
    struct tp_err *err);
void tp_conf_free(struct tp_conf *conf);
/* The normalized config, in libconfig syntax (-T). */
void tp_conf_print(const struct tp_conf *conf, FILE *out);
/* Every setting the parser accepts, "context path" per line (-S). */
void tp_conf_list_settings(FILE *out);
struct tp_chain *tp_conf_chain(const struct tp_conf *conf, const char *name);

/* Exposed for module schemas and unit tests. */
extern const struct tp_schema tp_schema_auth[];
extern const struct tp_schema tp_schema_root[];
extern const char *const tp_log_level_names[];
extern const char *const tp_strategy_names[];

/* Walk one group of settings against a schema into `base` (unit tests). */
int tp_schema_parse(const struct tp_schema *schema, void *base,
    const struct config_setting_t *group, const char *path, struct tp_err *err);
int tp_schema_parse2(const struct tp_schema *sa, void *base_a,
    const struct tp_schema *sb, void *base_b,
    const struct config_setting_t *group, const char *path, struct tp_err *err);
void tp_schema_free(const struct tp_schema *schema, void *base);

/* Common auth group for handlers and connectors. */
struct tp_auth {
    char   *username;
    char   *password;
};

#endif
