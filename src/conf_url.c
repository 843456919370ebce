/*
 * conf_url.c - GOST-style -L/-F URLs. Each URL becomes part of a libconfig
 * tree built in memory (services "service-N", one chain "chain-0" with a hop
 * per -F), and that tree goes through tp_conf_from_config like a file does.
 * Setting names and types come from the schema tables of the core and of
 * whatever modules are built in; this file never fills struct tp_conf and
 * knows no module's settings.
 */
#include "tproxyd.h"
#include "conf.h"
#include "conf_url.h"

#include <ctype.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

enum { URL_SHOW = 160 };    /* at most this much of a URL in messages */

static const char url_origin[] = "command line";  /* tp_conf->path */
static const char url_chain[] = "chain-0";        /* the one -F chain */

/* One URL cut into its parts; all point into buf, percent-decoded. */
struct url_parts {
    char       *buf;
    char       *scheme;         /* before '+', lower case */
    char       *transport;      /* after '+', or NULL */
    char       *user;           /* NULL: no user:pass@ */
    char       *pass;           /* NULL: no ":pass" */
    char       *hostport;
    char       *path;           /* after '/' (targets), or NULL */
    char       *query;          /* after '?', still encoded, or NULL */
};

/*
 * A group keys may go to: a libconfig group plus the schema(s) that group
 * is parsed with (a common one and a module's own; either may be NULL).
 */
struct url_target {
    config_setting_t       *group;
    const struct tp_schema *sa;
    const struct tp_schema *sb;
};

/* A URL by option and position: which = 'L' or 'F'. */
struct url_ref {
    int         which;
    size_t      idx;
};

/* What the URL being built reports errors as, and where its keys go. */
struct url_ctx {
    char                label[URL_SHOW + 32];  /* -L "..." or -F #2 "..." */
    struct url_ref      at;                     /* the URL being built */
    struct url_ref     *bypass_of;  /* bypasses[n] came from this URL */
    size_t              bypass_cap; /* room in bypass_of */
    struct tp_err      *err;
    struct url_target   t[3];       /* service/node, handler/connector,
                                       listener/dialer */
    config_setting_t   *root;
    config_setting_t   *bypass_owner;   /* the service (-L), the chain (-F) */
    const char         *bypass_again;   /* why a second bypass= fails */
};

/*
 * GOST spellings (after camelCase -> snake_case) whose setting has another
 * name here. The first candidate path that some target knows wins; the
 * tls names cover both a `tls = { ... }` group and flat settings.
 */
struct url_alias {
    const char *key;
    const char *paths[5];
    bool        invert;         /* boolean meaning is reversed */
};

static const struct url_alias url_aliases[] = {
    { "so_mark",     { "sockopts.mark" } },
    { "mark",        { "sockopts.mark" } },
    { "timeout",     { "connect_timeout", "timeout" } },
    { "cert",        { "tls.cert_file", "tls.cert", "cert_file", "cert" } },
    { "key",         { "tls.key_file", "tls.key", "key_file", "key" } },
    { "ca",          { "tls.ca_file", "tls.ca", "ca_file", "ca" } },
    { "secure",      { "tls.secure", "secure", "tls.verify", "verify" } },
    { "secure",      { "tls.insecure", "insecure" }, true },
    { "insecure",    { "tls.insecure", "insecure" } },
    { "insecure",    { "tls.secure", "secure", "tls.verify", "verify" },
      true },
    { "server_name", { "tls.server_name", "server_name", "tls.sni",
                       "sni" } },
};

void
tp_urls_add(struct tp_urls *u, int which, const char *url)
{
    char  ***arr = which == 'L' ? &u->l : &u->f;
    size_t  *n = which == 'L' ? &u->nl : &u->nf;
    char   **grown = realloc(*arr, (*n + 1) * sizeof(char *));

    if (grown == NULL) {
        return;
    }
    *arr = grown;
    grown[*n] = strdup(url);
    if (grown[*n] != NULL) {
        (*n)++;
    }
}

void
tp_urls_free(struct tp_urls *u)
{
    for (size_t i = 0; i < u->nl; i++) {
        free(u->l[i]);
    }
    for (size_t i = 0; i < u->nf; i++) {
        free(u->f[i]);
    }
    free(u->l);
    free(u->f);
    memset(u, 0, sizeof(*u));
}

static int url_fail(struct url_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Fill ctx->err with "-L \"url\": why"; returns -1. */
static int
url_fail(struct url_ctx *ctx, const char *fmt, ...)
{
    char    why[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(ctx->err->msg, sizeof(ctx->err->msg), "%s: %s", ctx->label,
             why);
    return -1;
}

static void
url_label(char *buf, size_t size, int which, size_t idx, const char *url)
{
    int         len = (int) strlen(url);
    const char *more = len > URL_SHOW ? "..." : "";

    if (which == 'L') {
        snprintf(buf, size, "-L \"%.*s%s\"", URL_SHOW, url, more);
    } else {
        snprintf(buf, size, "-F #%zu \"%.*s%s\"", idx + 1, URL_SHOW, url,
                 more);
    }
}

/* From now on ctx speaks for this URL. */
static void
ctx_at(struct url_ctx *ctx, int which, size_t idx, const char *url)
{
    url_label(ctx->label, sizeof(ctx->label), which, idx, url);
    ctx->at = (struct url_ref) { which, idx };
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode s in place ('+' is a space in a query). 0 or -1. */
static int
pct_decode(char *s, bool query)
{
    char *out = s;

    for (; *s; s++) {
        if (*s == '%') {
            int hi = hexval((unsigned char) s[1]);
            int lo = hi < 0 ? -1 : hexval((unsigned char) s[2]);
            if (lo < 0 || (hi == 0 && lo == 0)) {
                return -1;
            }
            *out++ = (char) (hi * 16 + lo);
            s += 2;
        } else {
            *out++ = query && *s == '+' ? ' ' : *s;
        }
    }
    *out = '\0';
    return 0;
}

static int
decode_part(struct url_ctx *ctx, char *s, const char *what, bool query)
{
    if (s != NULL && pct_decode(s, query) != 0) {
        return url_fail(ctx, "%s: bad percent-encoding (expected %%XX "
                        "with two hex digits, not %%00)", what);
    }
    return 0;
}

/* "scheme[+transport]": lower case, one '+' at most. */
static int
split_scheme(struct url_ctx *ctx, struct url_parts *p)
{
    char *plus;

    for (char *c = p->scheme; *c; c++) {
        *c = (char) tolower((unsigned char) *c);
        if (!isalnum((unsigned char) *c) && *c != '+' && *c != '-'
            && *c != '.' && *c != '_') {
            return url_fail(ctx, "bad character '%c' in the scheme", *c);
        }
    }
    plus = strchr(p->scheme, '+');
    if (plus != NULL) {
        *plus = '\0';
        p->transport = plus + 1;
        if (strchr(p->transport, '+') != NULL || *p->transport == '\0') {
            return url_fail(ctx, "expected scheme or scheme+transport, "
                            "got \"%s+%s\"", p->scheme, p->transport);
        }
    }
    if (*p->scheme == '\0') {
        return url_fail(ctx, "the scheme is empty");
    }
    return 0;
}

/*
 * scheme://[user[:pass]@]host:port[/path][?query] -> parts. The query is
 * left encoded: it is split into pairs before decoding.
 */
static int
url_split(struct url_ctx *ctx, const char *url, struct url_parts *p)
{
    char *sep, *auth, *at;

    memset(p, 0, sizeof(*p));
    p->buf = strdup(url);
    if (p->buf == NULL) {
        return url_fail(ctx, "out of memory");
    }
    sep = strstr(p->buf, "://");
    if (sep == NULL) {
        return url_fail(ctx, "expected scheme://[user:pass@][host]:port"
                        "[?key=value&...]");
    }
    *sep = '\0';
    p->scheme = p->buf;
    auth = sep + 3;
    if ((sep = strchr(auth, '?')) != NULL) {
        *sep = '\0';
        p->query = sep + 1;
    }
    if ((sep = strchr(auth, '/')) != NULL) {
        *sep = '\0';
        p->path = sep + 1;
    }
    if ((at = strrchr(auth, '@')) != NULL) {
        *at = '\0';
        p->user = auth;
        auth = at + 1;
        if ((sep = strchr(p->user, ':')) != NULL) {
            *sep = '\0';
            p->pass = sep + 1;
        }
    }
    p->hostport = auth;
    if (split_scheme(ctx, p) != 0
        || decode_part(ctx, p->user, "user name", false) != 0
        || decode_part(ctx, p->pass, "password", false) != 0
        || decode_part(ctx, p->hostport, "address", false) != 0
        || decode_part(ctx, p->path, "path", false) != 0) {
        return -1;
    }
    if (p->user != NULL && *p->user == '\0') {
        return url_fail(ctx, "empty user name before '@'");
    }
    return 0;
}

/* ------------------------------------------------------------ the tree */

static const struct tp_schema *
schema_row(const struct tp_schema *schema, const char *name)
{
    for (const struct tp_schema *r = schema; r && r->name; r++) {
        if (strcmp(r->name, name) == 0) {
            return r;
        }
    }
    return NULL;
}

/* The sub-schema at a path of rows from the root: "services", "handler". */
static const struct tp_schema *
schema_at(const char *const *names, size_t n)
{
    const struct tp_schema *s = tp_schema_root;

    for (size_t i = 0; i < n && s != NULL; i++) {
        const struct tp_schema *r = schema_row(s, names[i]);
        s = r ? r->sub : NULL;
    }
    return s;
}

/* The member group `name` of `parent`, made if missing (replacing a
 * non-group of that name). NULL if name is not a valid setting name. */
static config_setting_t *
tree_group(config_setting_t *parent, const char *name)
{
    config_setting_t *s = config_setting_get_member(parent, name);

    if (s != NULL && config_setting_is_group(s)) {
        return s;
    }
    if (s != NULL) {
        config_setting_remove(parent, name);
    }
    return config_setting_add(parent, name, CONFIG_TYPE_GROUP);
}

/* Add the leaf at a dotted path under group (groups made on the way),
 * replacing an earlier value. NULL on a name libconfig refuses. */
static config_setting_t *
tree_leaf(config_setting_t *group, const char *path, int type)
{
    char        comp[128];
    const char *dot;

    while ((dot = strchr(path, '.')) != NULL && group != NULL) {
        size_t n = (size_t) (dot - path);
        if (n == 0 || n >= sizeof(comp)) {
            return NULL;
        }
        memcpy(comp, path, n);
        comp[n] = '\0';
        group = tree_group(group, comp);
        path = dot + 1;
    }
    if (group == NULL || *path == '\0') {
        return NULL;
    }
    if (config_setting_get_member(group, path) != NULL) {
        config_setting_remove(group, path);
    }
    return config_setting_add(group, path, type);
}

static config_setting_t *
add_string(config_setting_t *group, const char *path, const char *value)
{
    config_setting_t *s = tree_leaf(group, path, CONFIG_TYPE_STRING);

    if (s != NULL) {
        config_setting_set_string(s, value);
    }
    return s;
}

/* ------------------------------------------------------------ keys */

/*
 * Whether a key may set this row. Lists and module groups never; the
 * service's, node's and handler's own name, addr and chain are the URL's
 * (`core`: a row of a common schema at the top of a target).
 */
static bool
key_settable(const struct tp_schema *row, bool core)
{
    if (row->type == TP_T_MODULE || row->type == TP_T_LIST) {
        return false;
    }
    return !core || (row->type != TP_T_HOSTPORT
                     && strcmp(row->name, "name") != 0
                     && strcmp(row->name, "chain") != 0);
}

/* The row a dotted path ("sniffing.timeout") names in a target, or NULL. */
static const struct tp_schema *
resolve(const struct url_target *t, const char *path)
{
    const struct tp_schema *sa = t->sa, *sb = t->sb, *row = NULL;
    char                    comp[128];
    bool                    top = true, core;

    while (*path) {
        size_t n = strcspn(path, ".");
        if (n == 0 || n >= sizeof(comp)) {
            return NULL;
        }
        memcpy(comp, path, n);
        comp[n] = '\0';
        row = schema_row(sa, comp);
        core = top && row != NULL;
        if (row == NULL) {
            row = schema_row(sb, comp);
        }
        if (row == NULL || !key_settable(row, core)) {
            return NULL;
        }
        path += n;
        if (*path == '.') {
            if (row->type != TP_T_GROUP || *++path == '\0') {
                return NULL;
            }
            sa = row->sub;
            sb = NULL;
            top = false;
        }
    }
    return row;
}

/* GOST's strconv.ParseBool spellings. 1 true, 0 false, -1 neither. */
static int
parse_bool(const char *v)
{
    static const char *const yes[] = { "1", "t", "true", "yes", "on" };
    static const char *const no[] = { "0", "f", "false", "no", "off" };

    for (size_t i = 0; i < nitems(yes); i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            return 1;
        }
        if (strcasecmp(v, no[i]) == 0) {
            return 0;
        }
    }
    return -1;
}

/* A decimal or 0x integer, whole string. */
static bool
parse_integer(const char *v, long long *out)
{
    char *end;
    int   base = (v[0] == '0' && (v[1] == 'x' || v[1] == 'X')) ? 16 : 10;

    if (*v == '\0' || isspace((unsigned char) *v)) {
        return false;
    }
    errno = 0;
    *out = strtoll(v, &end, base);
    return errno == 0 && *end == '\0';
}

static config_setting_t *
put_strlist(config_setting_t *group, const char *path, const char *v)
{
    config_setting_t *s = tree_leaf(group, path, CONFIG_TYPE_ARRAY);
    char             *copy = strdup(v), *item, *save = NULL;

    for (item = strtok_r(copy, ",", &save); s != NULL && item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        config_setting_set_string_elem(s, -1, item);
    }
    free(copy);
    return s;
}

/*
 * Put value v at path in group, typed by the schema row it is for: a
 * libconfig bool or integer where the row wants one and v reads as one,
 * else a string (the engine then says what was expected).
 */
static config_setting_t *
put_value(config_setting_t *group, const char *path,
    const struct tp_schema *row, const char *v, bool invert)
{
    config_setting_t *s;
    long long         n;
    int               b;

    if (row != NULL && row->type == TP_T_STRLIST) {
        return put_strlist(group, path, v);
    }
    b = row != NULL && row->type == TP_T_BOOL ? parse_bool(v) : -1;
    if (b >= 0) {
        s = tree_leaf(group, path, CONFIG_TYPE_BOOL);
        if (s != NULL) {
            config_setting_set_bool(s, invert ? !b : b);
        }
        return s;
    }
    if (row != NULL && (row->type == TP_T_INT || row->type == TP_T_SIZE
                        || row->type == TP_T_WORKERS)
        && parse_integer(v, &n)) {
        s = tree_leaf(group, path, CONFIG_TYPE_INT64);
        if (s != NULL) {
            config_setting_set_int64(s, n);
        }
        return s;
    }
    return add_string(group, path, v);
}

/*
 * Set `path` in every target whose schema has it. A group with an
 * `enabled` switch takes a bare bool (GOST's sniffing=true). Returns the
 * number of targets set, or -1 on a tree error.
 */
static int
apply_path(struct url_ctx *ctx, const char *path, const char *v, bool invert)
{
    char path2[200];
    int  hits = 0;

    for (size_t i = 0; i < nitems(ctx->t); i++) {
        const struct url_target *t = &ctx->t[i];
        const struct tp_schema  *row = t->group ? resolve(t, path) : NULL;
        const char              *p = path;

        if (row == NULL) {
            continue;
        }
        if (row->type == TP_T_GROUP) {
            if (schema_row(row->sub, "enabled") == NULL) {
                return url_fail(ctx, "key \"%s\" names a group of "
                                "settings; give one of them, as %s.NAME",
                                path, path);
            }
            snprintf(path2, sizeof(path2), "%s.enabled", path);
            p = path2;
            row = schema_row(row->sub, "enabled");
        }
        if (put_value(t->group, p, row, v, invert) == NULL) {
            return url_fail(ctx, "key \"%s\": cannot be set", path);
        }
        hits++;
    }
    return hits;
}

/* name, addr, type, chain (first dotted part): what the URL sets. */
static bool
url_owned(const struct url_ctx *ctx, const char *name)
{
    char   first[128];
    size_t n = strcspn(name, ".");

    if (n >= sizeof(first)) {
        return false;
    }
    memcpy(first, name, n);
    first[n] = '\0';
    if (strcmp(first, "type") == 0) {
        return true;
    }
    for (size_t i = 0; i < nitems(ctx->t); i++) {
        const struct tp_schema *row = schema_row(ctx->t[i].sa, first);
        if (row != NULL && !key_settable(row, true)) {
            return true;
        }
    }
    return false;
}

/* GOST's camelCase -> our snake_case, per dotted part. */
static void
snake_case(const char *in, char *out, size_t size)
{
    size_t n = 0;

    for (const char *c = in; *c && n + 2 < size; c++) {
        if (isupper((unsigned char) *c)) {
            if (c > in && (islower((unsigned char) c[-1])
                           || isdigit((unsigned char) c[-1]))) {
                out[n++] = '_';
            }
            out[n++] = (char) tolower((unsigned char) *c);
        } else {
            out[n++] = *c;
        }
    }
    out[n] = '\0';
}

/*
 * bypass=a,b (GOST; "~a,b": a whitelist) -> a `bypasses` entry "bypass-N"
 * with those matchers, named by the service (-L) or by the chain (-F).
 * 1 done, 0 this build has no bypass lists, -1 error.
 */
static int
apply_bypass(struct url_ctx *ctx, const char *v)
{
    static const char *const path[] = { "bypasses" };
    const struct tp_schema  *bs = schema_at(path, 1);
    config_setting_t        *list, *b;
    char                     name[32];
    size_t                   n;
    bool                     white = v[0] == '~';

    if (bs == NULL || schema_row(bs, "matchers") == NULL
        || ctx->bypass_owner == NULL) {
        return 0;
    }
    list = config_setting_get_member(ctx->root, "bypasses");
    if (list == NULL) {
        list = config_setting_add(ctx->root, "bypasses", CONFIG_TYPE_LIST);
    }
    n = (size_t) config_setting_length(list);
    if (config_setting_get_member(ctx->bypass_owner, "bypass") != NULL
        || n >= ctx->bypass_cap) {
        return url_fail(ctx, "bypass: %s", ctx->bypass_again);
    }
    snprintf(name, sizeof(name), "bypass-%zu", n);
    ctx->bypass_of[n] = ctx->at;
    b = config_setting_add(list, NULL, CONFIG_TYPE_GROUP);
    add_string(b, "name", name);
    if (white) {
        put_value(b, "whitelist", schema_row(bs, "whitelist"), "true",
                  false);
    }
    put_value(b, "matchers", schema_row(bs, "matchers"), v + white, false);
    add_string(ctx->bypass_owner, "bypass", name);
    return 1;
}

/*
 * One key=value: aliases first, then the key's own (snake_case) name in
 * every target that has it; a key no target knows goes into the handler
 * (connector) group so the schema engine rejects it with its own words.
 */
static int
apply_key(struct url_ctx *ctx, const char *key, const char *v)
{
    char name[128];
    int  hits = 0, rc;

    if (*key == '\0') {
        return url_fail(ctx, "empty key in \"=%s\"", v);
    }
    if (strlen(key) >= sizeof(name) / 2) {
        return url_fail(ctx, "key \"%.40s...\" is too long", key);
    }
    snake_case(key, name, sizeof(name));
    if (strcmp(name, "bypass") == 0 && (rc = apply_bypass(ctx, v)) != 0) {
        return rc < 0 ? -1 : 0;
    }
    if (url_owned(ctx, name)) {
        return url_fail(ctx, "key \"%s\": the URL itself sets that", key);
    }
    for (size_t i = 0; i < nitems(url_aliases) && hits == 0; i++) {
        const struct url_alias *a = &url_aliases[i];
        if (strcmp(a->key, name) != 0) {
            continue;
        }
        for (size_t k = 0; k < nitems(a->paths) && a->paths[k] && !hits;
             k++) {
            hits = apply_path(ctx, a->paths[k], v, a->invert);
        }
    }
    if (hits == 0) {
        hits = apply_path(ctx, name, v, false);
    }
    if (hits < 0) {
        return -1;
    }
    if (hits == 0 && put_value(ctx->t[1].group, name, NULL, v, false)
        == NULL) {
        return url_fail(ctx, "unknown key \"%s\"", key);
    }
    return 0;
}

/* ?k=v&k2=v2 ... (a key without '=' is a bare "true"). */
static int
apply_query(struct url_ctx *ctx, char *query)
{
    char *pair, *save = NULL;

    for (pair = strtok_r(query, "&", &save); pair != NULL;
         pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');

        if (eq != NULL) {
            *eq++ = '\0';
        }
        if (decode_part(ctx, pair, "key", true) != 0
            || decode_part(ctx, eq, "value", true) != 0
            || apply_key(ctx, pair, eq ? eq : "true") != 0) {
            return -1;
        }
    }
    return 0;
}

/*
 * user:pass@ -> auth = { username; password; } of the handler (-L) or the
 * connector (-F); a module with a `userid` and no `auth` (socks4) takes
 * the user name there.
 */
static int
add_auth(struct url_ctx *ctx, const struct url_parts *p)
{
    const struct url_target *t = &ctx->t[1];
    config_setting_t        *auth;

    if (p->user == NULL) {
        return 0;
    }
    if (resolve(t, "auth") == NULL && resolve(t, "userid") != NULL) {
        if (p->pass != NULL) {
            return url_fail(ctx, "this scheme takes a user id, not "
                            "user:password");
        }
        add_string(t->group, "userid", p->user);
        return 0;
    }
    auth = tree_group(t->group, "auth");
    add_string(auth, "username", p->user);
    if (p->pass != NULL) {
        add_string(auth, "password", p->pass);
    }
    return 0;
}

/* ------------------------------------------------------------ -L */

/* host:port (what: "target" or ""); -F nodes need a host. */
static int
check_hostport(struct url_ctx *ctx, const char *s, const char *what,
    bool host_required)
{
    struct tp_hostport hp;
    const char        *why = NULL;
    const char        *sep = *what ? " " : "";

    if (host_required && (s[0] == ':' || strchr(s, ':') == NULL)) {
        return url_fail(ctx, "%s%sexpected host:port, got \"%s\"", what,
                        sep, s);
    }
    if (tp_parse_hostport(s, &hp, true, &why) != 0) {
        return url_fail(ctx, "%s%s\"%s\": %s", what, sep, s, why);
    }
    return 0;
}

static int
unknown_module(struct url_ctx *ctx, enum tp_role role, const char *what,
    const char *name)
{
    char names[256];

    tp_module_names(role, names, sizeof(names));
    return url_fail(ctx, "unknown %s \"%s\" (no %s of that type); expected "
                    "one of %s", what, name, tp_role_name(role),
                    names[0] ? names : "(none built in)");
}

/* The handler and listener module names for a -L scheme. */
static int
service_modules(struct url_ctx *ctx, const struct url_parts *p,
    const struct tp_module **h, const char **lname)
{
    const struct tp_handler_ops *ops;

    *h = tp_module_find(TP_ROLE_HANDLER, p->scheme);
    if (*h == NULL) {
        return unknown_module(ctx, TP_ROLE_HANDLER, "scheme", p->scheme);
    }
    ops = (*h)->role[TP_ROLE_HANDLER].ops;
    if (p->transport != NULL) {
        *lname = p->transport;
    } else if (tp_module_find(TP_ROLE_LISTENER, p->scheme) != NULL) {
        *lname = p->scheme;
    } else {
        /* GOST: a handler-only scheme listens on plain tcp or udp */
        *lname = ops->socktype == SOCK_DGRAM ? "udp" : "tcp";
    }
    if (tp_module_find(TP_ROLE_LISTENER, *lname) == NULL) {
        return unknown_module(ctx, TP_ROLE_LISTENER, "transport", *lname);
    }
    return 0;
}

/* /host:port,host:port -> forwarder.nodes "target-N". */
static int
add_targets(struct url_ctx *ctx, config_setting_t *svc, char *path,
    const struct tp_module *h)
{
    const struct tp_handler_ops *ops = h->role[TP_ROLE_HANDLER].ops;
    config_setting_t            *nodes = NULL;
    char                        *item, *save = NULL, name[32], none[1];
    int                          n = 0;

    none[0] = '\0';
    for (item = strtok_r(path ? path : none, ",", &save);
         item != NULL; item = strtok_r(NULL, ",", &save)) {
        config_setting_t *node;

        if (!ops->uses_forwarder) {
            return url_fail(ctx, "handler \"%s\" takes no targets (the "
                            "path \"/%s\")", h->name, item);
        }
        if (check_hostport(ctx, item, "target", false) != 0) {
            return -1;
        }
        if (nodes == NULL) {
            nodes = config_setting_add(tree_group(svc, "forwarder"),
                                       "nodes", CONFIG_TYPE_LIST);
        }
        node = config_setting_add(nodes, NULL, CONFIG_TYPE_GROUP);
        snprintf(name, sizeof(name), "target-%d", n++);
        add_string(node, "name", name);
        add_string(node, "addr", item);
    }
    if (ops->uses_forwarder && n == 0) {
        return url_fail(ctx, "handler \"%s\" needs targets in the path, as "
                        "%s://:8080/192.0.2.1:80,192.0.2.2:80", h->name,
                        h->name);
    }
    return 0;
}

/* The key targets of a service: itself, its handler, its listener. */
static void
service_targets(struct url_ctx *ctx, config_setting_t *svc,
    config_setting_t *hg, config_setting_t *lg, const struct tp_module *h,
    const struct tp_module *l)
{
    static const char *const svc_path[] = { "services" };
    static const char *const hdl_path[] = { "services", "handler" };

    ctx->t[0] = (struct url_target) { svc, schema_at(svc_path, 1), NULL };
    ctx->t[1] = (struct url_target) { hg, schema_at(hdl_path, 2),
                                      h->role[TP_ROLE_HANDLER].schema };
    ctx->t[2] = (struct url_target) { lg, NULL,
                                      l->role[TP_ROLE_LISTENER].schema };
}

/* One -L URL -> services[i]. *chained: its handler took chain-0. */
static int
build_service(struct url_ctx *ctx, config_setting_t *list, size_t i,
    const char *url, bool chain, bool *chained)
{
    struct url_parts        p;
    const struct tp_module *h;
    const char             *lname = NULL;
    config_setting_t       *svc, *hg, *lg;
    char                    name[32];
    int                     rc = -1;

    *chained = false;
    if (url_split(ctx, url, &p) != 0
        || check_hostport(ctx, p.hostport, "", false) != 0
        || service_modules(ctx, &p, &h, &lname) != 0) {
        goto done;
    }
    svc = config_setting_add(list, NULL, CONFIG_TYPE_GROUP);
    snprintf(name, sizeof(name), "service-%zu", i);
    add_string(svc, "name", name);
    add_string(svc, "addr", p.hostport);
    hg = tree_group(svc, "handler");
    lg = tree_group(svc, "listener");
    add_string(hg, "type", h->name);
    add_string(lg, "type", lname);
    *chained = chain && ((const struct tp_handler_ops *)
                         h->role[TP_ROLE_HANDLER].ops)->uses_chain;
    if (*chained) {
        add_string(hg, "chain", url_chain);
    }
    service_targets(ctx, svc, hg, lg, h,
                    tp_module_find(TP_ROLE_LISTENER, lname));
    ctx->bypass_owner = svc;
    ctx->bypass_again = "given twice (a service has one bypass list)";
    if (add_auth(ctx, &p) != 0 || add_targets(ctx, svc, p.path, h) != 0
        || (p.query && apply_query(ctx, p.query) != 0)) {
        goto done;
    }
    rc = 0;
done:
    free(p.buf);
    return rc;
}

/* ------------------------------------------------------------ -F */

/* Connector and dialer for a -F scheme: "relay" is relay over tcp,
 * "relay+tls" relay over tls, a transport alone ("tls") is http over it. */
static int
hop_modules(struct url_ctx *ctx, const struct url_parts *p,
    const struct tp_module **c, const struct tp_module **d)
{
    const char *cname = p->scheme;
    const char *dname = p->transport ? p->transport : "tcp";

    if (p->transport == NULL
        && tp_module_find(TP_ROLE_CONNECTOR, p->scheme) == NULL
        && tp_module_find(TP_ROLE_DIALER, p->scheme) != NULL) {
        cname = "http";
        dname = p->scheme;
    }
    *c = tp_module_find(TP_ROLE_CONNECTOR, cname);
    if (*c == NULL) {
        return unknown_module(ctx, TP_ROLE_CONNECTOR, "scheme", cname);
    }
    *d = tp_module_find(TP_ROLE_DIALER, dname);
    if (*d == NULL) {
        return unknown_module(ctx, TP_ROLE_DIALER, "transport", dname);
    }
    return 0;
}

static void
node_targets(struct url_ctx *ctx, config_setting_t *node,
    config_setting_t *cg, config_setting_t *dg, const struct tp_module *c,
    const struct tp_module *d)
{
    static const char *const node_path[] = { "chains", "hops", "nodes" };

    ctx->t[0] = (struct url_target) { node, schema_at(node_path, 3), NULL };
    ctx->t[1] = (struct url_target) { cg, NULL,
                                      c->role[TP_ROLE_CONNECTOR].schema };
    ctx->t[2] = (struct url_target) { dg, NULL,
                                      d->role[TP_ROLE_DIALER].schema };
}

/* One -F URL -> chains[0].hops[i], a hop of one node. */
static int
build_hop(struct url_ctx *ctx, config_setting_t *hops, size_t i,
    const char *url)
{
    struct url_parts        p;
    const struct tp_module *c, *d;
    config_setting_t       *hop, *node, *cg, *dg;
    char                    name[32];
    int                     rc = -1;

    if (url_split(ctx, url, &p) != 0
        || check_hostport(ctx, p.hostport, "", true) != 0) {
        goto done;
    }
    if (p.path != NULL && *p.path != '\0') {
        url_fail(ctx, "a -F URL takes no path (\"/%s\")", p.path);
        goto done;
    }
    if (hop_modules(ctx, &p, &c, &d) != 0) {
        goto done;
    }
    hop = config_setting_add(hops, NULL, CONFIG_TYPE_GROUP);
    snprintf(name, sizeof(name), "hop-%zu", i);
    add_string(hop, "name", name);
    node = config_setting_add(config_setting_add(hop, "nodes",
                                                 CONFIG_TYPE_LIST),
                              NULL, CONFIG_TYPE_GROUP);
    add_string(node, "name", "node-0");
    add_string(node, "addr", p.hostport);
    cg = tree_group(node, "connector");
    dg = tree_group(node, "dialer");
    add_string(cg, "type", c->name);
    add_string(dg, "type", d->name);
    node_targets(ctx, node, cg, dg, c, d);
    if (add_auth(ctx, &p) == 0
        && (p.query == NULL || apply_query(ctx, p.query) == 0)) {
        rc = 0;
    }
done:
    free(p.buf);
    return rc;
}

/* ------------------------------------------------------------ whole */

/*
 * An error from the schema walk or the cross-checks names a tree path
 * ("services[1].listener.ttl: ...", "bypasses[0].matchers: ...") or a
 * service ("service \"service-1\": ..."); say which URL it came from.
 */
static void
blame_url(const struct tp_urls *u, const struct url_ref *bypass_of,
    struct tp_err *err)
{
    char            label[URL_SHOW + 32], rest[sizeof(err->msg)];
    const char     *m = err->msg, *p;
    size_t          olen = strlen(url_origin);
    struct url_ref  r = { 0, 0 };
    unsigned        i;
    int             n = 0;

    if (strncmp(m, url_origin, olen) == 0 && strncmp(m + olen, ": ", 2) == 0) {
        m += olen + 2;
    }
    if (sscanf(m, "services[%u].%n", &i, &n) == 1 && n > 0) {
        r = (struct url_ref) { 'L', i };
    } else if ((p = strstr(m, "service \"service-")) != NULL
               && sscanf(p, "service \"service-%u\": %n", &i, &n) == 1
               && n > 0) {
        r = (struct url_ref) { 'L', i };
        m = p;
    } else if (sscanf(m, "chains[0].hops[%u].nodes[0].%n", &i, &n) == 1
               && n > 0) {
        r = (struct url_ref) { 'F', i };
    } else if (sscanf(m, "bypasses[%u].%n", &i, &n) == 1 && n > 0
               && i < u->nl + 1) {
        r = bypass_of[i];
        n = 0;
    }
    if (r.which == 'L' && r.idx < u->nl) {
        url_label(label, sizeof(label), 'L', r.idx, u->l[r.idx]);
    } else if (r.which == 'F' && r.idx < u->nf) {
        url_label(label, sizeof(label), 'F', r.idx, u->f[r.idx]);
    } else {
        return;
    }
    snprintf(rest, sizeof(rest), "%s", m + n);
    snprintf(err->msg, sizeof(err->msg), "%s: %.*s", label,
             (int) (sizeof(err->msg) - strlen(label) - 3), rest);
}

/* -F URLs -> chains = ( { name = "chain-0"; hops = ( ... ); } ). */
static int
build_chain(struct url_ctx *ctx, const struct tp_urls *u)
{
    config_setting_t *chain, *hops;

    if (u->nf == 0) {
        return 0;
    }
    chain = config_setting_add(config_setting_add(ctx->root, "chains",
                                                  CONFIG_TYPE_LIST),
                               NULL, CONFIG_TYPE_GROUP);
    add_string(chain, "name", url_chain);
    hops = config_setting_add(chain, "hops", CONFIG_TYPE_LIST);
    for (size_t i = 0; i < u->nf; i++) {
        ctx_at(ctx, 'F', i, u->f[i]);
        ctx->bypass_owner = chain;
        ctx->bypass_again = "already given by an earlier -F (the -F hops "
                            "make one chain, with one bypass list)";
        if (build_hop(ctx, hops, i, u->f[i]) != 0) {
            return -1;
        }
    }
    return 0;
}

/* -L URLs -> services, then the -F chain. */
static int
build_tree(struct url_ctx *ctx, const struct tp_urls *u)
{
    config_setting_t *list;
    bool              chained, any = false;

    if (u->nl == 0) {
        snprintf(ctx->err->msg, sizeof(ctx->err->msg), "%s", u->nf
                 ? "-F needs at least one -L (the chain is used by the -L "
                   "services)"
                 : "no -L service given");
        return -1;
    }
    list = config_setting_add(ctx->root, "services", CONFIG_TYPE_LIST);
    for (size_t i = 0; i < u->nl; i++) {
        ctx_at(ctx, 'L', i, u->l[i]);
        if (build_service(ctx, list, i, u->l[i], u->nf > 0, &chained)
            != 0) {
            return -1;
        }
        any = any || chained;
    }
    if (u->nf > 0 && !any) {
        ctx_at(ctx, 'F', 0, u->f[0]);
        return url_fail(ctx, "no -L service takes a chain (their "
                        "handlers do not use one)");
    }
    return build_chain(ctx, u);
}

struct tp_conf *
tp_conf_from_urls(const struct tp_urls *u, struct tp_err *err)
{
    config_t        cfg;
    struct url_ctx  ctx = { .err = err };
    struct tp_conf *conf = NULL;

    config_init(&cfg);
    ctx.root = config_root_setting(&cfg);
    /* at most one bypass list per service and one for the chain */
    ctx.bypass_cap = u->nl + 1;
    ctx.bypass_of = calloc(ctx.bypass_cap, sizeof(*ctx.bypass_of));
    if (ctx.bypass_of == NULL) {
        snprintf(err->msg, sizeof(err->msg), "out of memory");
    } else if (build_tree(&ctx, u) == 0) {
        conf = tp_conf_from_config(&cfg, url_origin, err);
        if (conf == NULL) {
            blame_url(u, ctx.bypass_of, err);
        }
    }
    free(ctx.bypass_of);
    config_destroy(&cfg);
    return conf;
}
