/*
 * conf_schema.c - the schema engine: walks a libconfig group against a
 * schema table, fills typed fields, applies defaults, rejects unknown
 * settings, and frees what it filled. Knows nothing of any module's fields.
 */
#include "tproxyd.h"
#include "conf.h"
#include "log.h"

#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define FIELD(base, off, type) ((type *) (void *) ((char *) (base) + (off)))

static int
fail(struct tp_err *err, const config_setting_t *s, const char *path,
    const char *fmt, ...)
{
    char        why[384];
    va_list     ap;
    const char *file = s ? config_setting_source_file(s) : NULL;
    unsigned    line = s ? config_setting_source_line(s) : 0;

    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (file != NULL && line > 0) {
        snprintf(err->msg, sizeof(err->msg), "%s:%u: %s: %s", file, line,
                 path, why);
    } else {
        snprintf(err->msg, sizeof(err->msg), "%s: %s", path, why);
    }
    return -1;
}

static const char *
type_expect(const struct tp_schema *row)
{
    switch (row->type) {
    case TP_T_STRING:   return "a string";
    case TP_T_INT:      return "an integer";
    case TP_T_BOOL:     return "true or false";
    case TP_T_DURATION: return "a duration like \"5s\", \"300ms\" or \"1m30s\"";
    case TP_T_SIZE:     return "a size like 4096 or \"64k\"";
    case TP_T_HOSTPORT: return "an address like \":12345\", \"host:port\" "
                               "or \"[::1]:port\"";
    case TP_T_WORKERS:  return "a number of workers or \"auto\"";
    case TP_T_CHOICE:   return "one of the listed words";
    case TP_T_GROUP:    return "a group { ... }";
    case TP_T_MODULE:   return "a group { type = \"...\"; ... }";
    case TP_T_LIST:     return "a list ( { ... }, ... )";
    case TP_T_STRLIST:  return "a list of strings [ \"...\", ... ]";
    }
    return "?";
}

/* Scalar value as text, for the types that accept both forms. */
static const char *
scalar_text(const config_setting_t *s, char *buf, size_t size)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING:
        return config_setting_get_string(s);
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        snprintf(buf, size, "%lld", config_setting_get_int64(s));
        return buf;
    default:
        return NULL;
    }
}

static int
parse_choice(const struct tp_schema *row, const char *v, int *out)
{
    for (int i = 0; row->choices[i] != NULL; i++) {
        if (strcmp(row->choices[i], v) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

static int
choice_fail(const struct tp_schema *row, const config_setting_t *s,
    const char *path, const char *v, struct tp_err *err)
{
    char   list[256];
    size_t n = 0;

    list[0] = '\0';
    for (int i = 0; row->choices[i] != NULL && n < sizeof(list); i++) {
        n += (size_t) snprintf(list + n, sizeof(list) - n, "%s\"%s\"",
                               i ? ", " : "", row->choices[i]);
    }
    return fail(err, s, path, "expected one of %s, got \"%s\"", list, v);
}

static int
parse_int(const struct tp_schema *row, void *base, const config_setting_t *s,
    const char *path, struct tp_err *err)
{
    long long v;
    int       t = config_setting_type(s);

    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
        return fail(err, s, path, "expected %s", type_expect(row));
    }
    v = config_setting_get_int64(s);
    if ((row->min || row->max) && (v < row->min || v > row->max)) {
        return fail(err, s, path, "expected an integer from %lld to %lld, "
                    "got %lld", row->min, row->max, v);
    }
    *FIELD(base, row->off, int64_t) = v;
    return 0;
}

static int
parse_text_value(const struct tp_schema *row, void *base,
    const config_setting_t *s, const char *v, const char *path,
    struct tp_err *err)
{
    const char *why = NULL;

    switch (row->type) {
    case TP_T_STRING:
        if (row->check != NULL && row->check(v, &why) != 0) {
            return fail(err, s, path, "%s: \"%s\"", why, v);
        }
        *FIELD(base, row->off, char *) = strdup(v);
        return 0;
    case TP_T_DURATION:
        if (tp_parse_duration(v, FIELD(base, row->off, uint64_t)) != 0) {
            break;
        }
        return 0;
    case TP_T_SIZE:
        if (tp_parse_size(v, FIELD(base, row->off, uint64_t)) != 0) {
            break;
        }
        return 0;
    case TP_T_HOSTPORT:
        if (tp_parse_hostport(v, FIELD(base, row->off, struct tp_hostport),
                              true, &why) != 0) {
            return fail(err, s, path, "%s: \"%s\"", why, v);
        }
        return 0;
    case TP_T_WORKERS:
        if (strcmp(v, "auto") == 0) {
            *FIELD(base, row->off, int64_t) = 0;
            return 0;
        }
        if (s != NULL && config_setting_type(s) != CONFIG_TYPE_STRING) {
            return parse_int(row, base, s, path, err);
        }
        break;
    case TP_T_CHOICE:
        if (parse_choice(row, v, FIELD(base, row->off, int)) != 0) {
            return choice_fail(row, s, path, v, err);
        }
        return 0;
    default:
        break;
    }
    return fail(err, s, path, "expected %s, got \"%s\"", type_expect(row), v);
}

/* path + "." + name, or path + "[i]"; cut (never overflowing) if long. */
static void
path_join(char *out, size_t size, const char *path, const char *name, int idx)
{
    size_t n = strnlen(path, size - 1);
    char   tail[300];

    memcpy(out, path, n);
    out[n] = '\0';
    if (name != NULL) {
        tail[0] = '\0';
        if (n > 0) {
            strcpy(tail, ".");
        }
        strncat(tail, name, sizeof(tail) - 2);
    } else {
        sprintf(tail, "[%d]", idx);
    }
    strncat(out, tail, size - n - 1);
}

static int parse_row(const struct tp_schema *row, void *base,
    const config_setting_t *s, const char *path, struct tp_err *err);

static int
parse_list(const struct tp_schema *row, void *base, const config_setting_t *s,
    const char *path, struct tp_err *err)
{
    int     n = config_setting_length(s);
    char   *arr;
    char    sub[256];

    if (config_setting_type(s) != CONFIG_TYPE_LIST) {
        return fail(err, s, path, "expected %s", type_expect(row));
    }
    arr = calloc((size_t) (n ? n : 1), row->elem_size);
    *FIELD(base, row->off, void *) = arr;
    *FIELD(base, row->off_n, size_t) = 0;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        path_join(sub, sizeof(sub), path, NULL, i);
        if (!config_setting_is_group(e)) {
            return fail(err, e, sub, "expected a group { ... }");
        }
        (*FIELD(base, row->off_n, size_t))++;
        if (tp_schema_parse(row->sub, arr + (size_t) i * row->elem_size, e,
                            sub, err) != 0) {
            return -1;
        }
    }
    return 0;
}

static int
parse_strlist(const struct tp_schema *row, void *base,
    const config_setting_t *s, const char *path, struct tp_err *err)
{
    int     n = config_setting_length(s);
    char  **arr;

    if (!config_setting_is_aggregate(s) || config_setting_is_group(s)) {
        return fail(err, s, path, "expected %s", type_expect(row));
    }
    arr = calloc((size_t) n + 1, sizeof(char *));
    *FIELD(base, row->off, char **) = arr;
    *FIELD(base, row->off_n, size_t) = 0;
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned) i);
        char        num[32];
        const char *v = scalar_text(e, num, sizeof(num));
        const char *why = NULL;
        if (v == NULL) {
            return fail(err, e, path, "element %d: expected a string", i);
        }
        if (row->check != NULL && row->check(v, &why) != 0) {
            return fail(err, e, path, "element %d: %s: \"%s\"", i, why, v);
        }
        arr[i] = strdup(v);
        (*FIELD(base, row->off_n, size_t))++;
    }
    return 0;
}

/*
 * A module group: `type` picks the module for the row's role; the other
 * settings belong either to the common schema (row->sub, into tp_modconf)
 * or to the module's own schema (into its config struct).
 */
static int
parse_module(const struct tp_schema *row, void *base,
    const config_setting_t *s, const char *path, struct tp_err *err)
{
    struct tp_modconf           *mc = FIELD(base, row->off, struct tp_modconf);
    const config_setting_t      *t;
    const struct tp_module_role *r;
    const char                  *name;
    char                         names[256], sub[256];

    if (!config_setting_is_group(s)) {
        return fail(err, s, path, "expected %s", type_expect(row));
    }
    t = config_setting_get_member(s, "type");
    path_join(sub, sizeof(sub), path, "type", 0);
    if (t == NULL || config_setting_type(t) != CONFIG_TYPE_STRING) {
        tp_module_names(row->role, names, sizeof(names));
        return fail(err, t ? t : s, sub, "required: a %s type, one of %s",
                    tp_role_name(row->role), names);
    }
    name = config_setting_get_string(t);
    mc->mod = tp_module_find(row->role, name);
    if (mc->mod == NULL) {
        tp_module_names(row->role, names, sizeof(names));
        return fail(err, t, sub, "unknown %s type \"%s\"; expected one of %s",
                    tp_role_name(row->role), name, names);
    }
    r = &mc->mod->role[row->role];
    mc->conf = calloc(1, r->conf_size ? r->conf_size : 1);
    return tp_schema_parse2(row->sub, mc, r->schema, mc->conf, s, path, err);
}

static int
parse_row(const struct tp_schema *row, void *base, const config_setting_t *s,
    const char *path, struct tp_err *err)
{
    char        buf[32];
    const char *v;

    switch (row->type) {
    case TP_T_INT:
        return parse_int(row, base, s, path, err);
    case TP_T_BOOL:
        if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
            return fail(err, s, path, "expected true or false");
        }
        *FIELD(base, row->off, bool) = config_setting_get_bool(s);
        return 0;
    case TP_T_GROUP:
        if (!config_setting_is_group(s)) {
            return fail(err, s, path, "expected %s", type_expect(row));
        }
        return tp_schema_parse(row->sub, FIELD(base, row->off, char), s, path,
                               err);
    case TP_T_LIST:
        return parse_list(row, base, s, path, err);
    case TP_T_STRLIST:
        return parse_strlist(row, base, s, path, err);
    case TP_T_MODULE:
        return parse_module(row, base, s, path, err);
    default:
        break;
    }
    v = scalar_text(s, buf, sizeof(buf));
    if (v == NULL || (row->type != TP_T_DURATION && row->type != TP_T_SIZE
                      && row->type != TP_T_WORKERS
                      && config_setting_type(s) != CONFIG_TYPE_STRING)) {
        return fail(err, s, path, "expected %s", type_expect(row));
    }
    return parse_text_value(row, base, s, v, path, err);
}

/* Default for a row not present in the file. */
static int
apply_default(const struct tp_schema *row, void *base, const char *path,
    struct tp_err *err)
{
    if (row->type == TP_T_GROUP) {
        return tp_schema_parse(row->sub, FIELD(base, row->off, char), NULL,
                               path, err);
    }
    if (row->dflt == NULL) {
        return 0;
    }
    switch (row->type) {
    case TP_T_INT:
        *FIELD(base, row->off, int64_t) = strtoll(row->dflt, NULL, 0);
        return 0;
    case TP_T_BOOL:
        *FIELD(base, row->off, bool) = strcmp(row->dflt, "true") == 0;
        return 0;
    default:
        return parse_text_value(row, base, NULL, row->dflt, path, err);
    }
}

static const struct tp_schema *
find_row(const struct tp_schema *schema, const char *name)
{
    for (const struct tp_schema *r = schema; r && r->name; r++) {
        if (strcmp(r->name, name) == 0) {
            return r;
        }
    }
    return NULL;
}

static void
expected_names(const struct tp_schema *a, const struct tp_schema *b,
    char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (int k = 0; k < 2; k++) {
        for (const struct tp_schema *r = k ? b : a; r && r->name; r++) {
            if (n < size) {
                n += (size_t) snprintf(buf + n, size - n, "%s%s",
                                       n ? ", " : "", r->name);
            }
        }
    }
}

/*
 * Parse `group` against two schemas at once (either may be NULL): the
 * common one into base_a and a module's own into base_b. `type` is skipped
 * (the caller read it). A NULL group applies defaults only.
 */
int
tp_schema_parse2(const struct tp_schema *sa, void *base_a,
    const struct tp_schema *sb, void *base_b,
    const config_setting_t *group, const char *path, struct tp_err *err)
{
    char sub[256], names[384];
    int  n = group ? config_setting_length(group) : 0;

    for (int i = 0; i < n; i++) {
        const config_setting_t *s = config_setting_get_elem(group,
                                                            (unsigned) i);
        const char             *name = config_setting_name(s);
        const struct tp_schema *row;
        void                   *base = base_a;

        path_join(sub, sizeof(sub), path, name, 0);
        if (base_b != NULL && strcmp(name, "type") == 0) {
            continue;
        }
        row = find_row(sa, name);
        if (row == NULL) {
            row = find_row(sb, name);
            base = base_b;
        }
        if (row == NULL) {
            expected_names(sa, sb, names, sizeof(names));
            return fail(err, s, sub, "unknown setting; expected one of: %s",
                        names[0] ? names : "(none)");
        }
        if (parse_row(row, base, s, sub, err) != 0) {
            return -1;
        }
    }
    for (int k = 0; k < 2; k++) {
        const struct tp_schema *schema = k ? sb : sa;
        void                   *base = k ? base_b : base_a;

        for (const struct tp_schema *r = schema; r && r->name; r++) {
            if (group && config_setting_get_member(group, r->name)) {
                continue;
            }
            path_join(sub, sizeof(sub), path, r->name, 0);
            /* An absent optional group asks for nothing: its required
             * rows only bind when the group is written. */
            if ((r->flags & TP_REQUIRED) && group != NULL) {
                return fail(err, group, sub, "required setting is missing "
                            "(expected %s)", type_expect(r));
            }
            if (apply_default(r, base, sub, err) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

int
tp_schema_parse(const struct tp_schema *schema, void *base,
    const config_setting_t *group, const char *path, struct tp_err *err)
{
    return tp_schema_parse2(schema, base, NULL, NULL, group, path, err);
}

static void
free_module(const struct tp_schema *row, struct tp_modconf *mc)
{
    if (mc->mod != NULL) {
        const struct tp_module_role *r = &mc->mod->role[row->role];
        if (r->free != NULL && mc->conf != NULL) {
            r->free(mc->conf);
        }
        if (r->schema != NULL && mc->conf != NULL) {
            tp_schema_free(r->schema, mc->conf);
        }
    }
    if (row->sub != NULL) {
        tp_schema_free(row->sub, mc);
    }
    free(mc->conf);
    memset(mc, 0, sizeof(*mc));
}

void
tp_schema_free(const struct tp_schema *schema, void *base)
{
    for (const struct tp_schema *r = schema; r && r->name; r++) {
        switch (r->type) {
        case TP_T_STRING:
            free(*FIELD(base, r->off, char *));
            *FIELD(base, r->off, char *) = NULL;
            break;
        case TP_T_GROUP:
            tp_schema_free(r->sub, FIELD(base, r->off, char));
            break;
        case TP_T_LIST: {
            char   *arr = *FIELD(base, r->off, char *);
            size_t  n = *FIELD(base, r->off_n, size_t);
            for (size_t i = 0; arr && i < n; i++) {
                tp_schema_free(r->sub, arr + i * r->elem_size);
            }
            free(arr);
            *FIELD(base, r->off, char *) = NULL;
            *FIELD(base, r->off_n, size_t) = 0;
            break;
        }
        case TP_T_STRLIST: {
            char  **arr = *FIELD(base, r->off, char **);
            for (size_t i = 0; arr && arr[i]; i++) {
                free(arr[i]);
            }
            free(arr);
            *FIELD(base, r->off, char **) = NULL;
            break;
        }
        case TP_T_MODULE:
            free_module(r, FIELD(base, r->off, struct tp_modconf));
            break;
        default:
            break;
        }
    }
}
