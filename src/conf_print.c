/*
 * conf_print.c - writes a tp_conf back out in libconfig syntax (tproxyd -T),
 * every setting with its effective value, by walking the same schemas the
 * parser used. Feeding the output back with -c yields the same model.
 */
#include "tproxyd.h"
#include "conf.h"

#include <inttypes.h>

#define FIELD(base, off, type) ((type *) (void *) ((char *) (base) + (off)))

static bool row_is_set(const struct tp_schema *r, const void *base);
static void print_group(const struct tp_schema *sa, const void *base_a,
    const struct tp_schema *sb, const void *base_b, FILE *out, int depth);

static void
indent(FILE *out, int depth)
{
    fprintf(out, "%*s", depth * 2, "");
}

static void
print_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            fputc('\\', out);
        }
        fputc(*s, out);
    }
    fputc('"', out);
}

static void
print_hostport(FILE *out, const struct tp_hostport *hp)
{
    fprintf(out, hp->bracketed ? "\"[%s]:%u\"" : "\"%s:%u\"", hp->host,
            hp->port);
}

static void
print_list(const struct tp_schema *r, const void *base, FILE *out, int depth)
{
    const char *arr = *FIELD(base, r->off, char *const);
    size_t      n = *FIELD(base, r->off_n, const size_t);

    fprintf(out, "(\n");
    for (size_t i = 0; i < n; i++) {
        indent(out, depth + 1);
        fprintf(out, "{\n");
        print_group(r->sub, arr + i * r->elem_size, NULL, NULL, out,
                    depth + 2);
        indent(out, depth + 1);
        fprintf(out, "}%s\n", i + 1 < n ? "," : "");
    }
    indent(out, depth);
    fprintf(out, ")");
}

static void
print_value(const struct tp_schema *r, const void *base, FILE *out, int depth)
{
    char buf[32];

    switch (r->type) {
    case TP_T_STRING:
        print_string(out, *FIELD(base, r->off, char *const));
        break;
    case TP_T_INT:
        fprintf(out, "%" PRId64, *FIELD(base, r->off, const int64_t));
        break;
    case TP_T_WORKERS: {
        int64_t v = *FIELD(base, r->off, const int64_t);
        if (v == 0) {
            fprintf(out, "\"auto\"");
        } else {
            fprintf(out, "%" PRId64, v);
        }
        break;
    }
    case TP_T_BOOL:
        fprintf(out, *FIELD(base, r->off, const bool) ? "true" : "false");
        break;
    case TP_T_DURATION:
        fprintf(out, "\"%s\"", tp_duration_str(
                    *FIELD(base, r->off, const uint64_t), buf, sizeof(buf)));
        break;
    case TP_T_SIZE:
        fprintf(out, "%" PRIu64, *FIELD(base, r->off, const uint64_t));
        break;
    case TP_T_HOSTPORT:
        print_hostport(out, FIELD(base, r->off, const struct tp_hostport));
        break;
    case TP_T_CHOICE:
        print_string(out, r->choices[*FIELD(base, r->off, const int)]);
        break;
    case TP_T_STRLIST: {
        char *const *arr = *FIELD(base, r->off, char **const);
        fprintf(out, "[ ");
        for (size_t i = 0; arr && arr[i]; i++) {
            fprintf(out, "%s", i ? ", " : "");
            print_string(out, arr[i]);
        }
        fprintf(out, " ]");
        break;
    }
    case TP_T_LIST:
        print_list(r, base, out, depth);
        break;
    default:
        break;
    }
}

static bool
row_is_set(const struct tp_schema *r, const void *base)
{
    switch (r->type) {
    case TP_T_STRING:
        return *FIELD(base, r->off, char *const) != NULL;
    case TP_T_STRLIST:
        return *FIELD(base, r->off, char **const) != NULL;
    case TP_T_MODULE:
        return FIELD(base, r->off, const struct tp_modconf)->mod != NULL;
    case TP_T_LIST:
        return *FIELD(base, r->off_n, const size_t) > 0
               || (r->flags & TP_REQUIRED);
    case TP_T_GROUP:
        /* A group with required settings was written only if they are set
         * (an absent optional group, like auth, leaves them empty). */
        for (const struct tp_schema *q = r->sub; q && q->name; q++) {
            if (q->flags & TP_REQUIRED) {
                return row_is_set(q, FIELD(base, r->off, const char));
            }
        }
        return true;
    default:
        return true;
    }
}

static void
print_row(const struct tp_schema *r, const void *base, FILE *out, int depth)
{
    indent(out, depth);
    fprintf(out, "%s = ", r->name);
    if (r->type == TP_T_GROUP || r->type == TP_T_MODULE) {
        fprintf(out, "{\n");
        if (r->type == TP_T_GROUP) {
            print_group(r->sub, FIELD(base, r->off, const char), NULL, NULL,
                        out, depth + 1);
        } else {
            const struct tp_modconf *mc = FIELD(base, r->off,
                                                const struct tp_modconf);
            indent(out, depth + 1);
            fprintf(out, "type = \"%s\";\n", mc->mod->name);
            print_group(r->sub, mc, mc->mod->role[r->role].schema, mc->conf,
                        out, depth + 1);
        }
        indent(out, depth);
        fprintf(out, "}");
    } else {
        print_value(r, base, out, depth);
    }
    fprintf(out, ";\n");
}

static void
print_group(const struct tp_schema *sa, const void *base_a,
    const struct tp_schema *sb, const void *base_b, FILE *out, int depth)
{
    for (int k = 0; k < 2; k++) {
        const struct tp_schema *schema = k ? sb : sa;
        const void             *base = k ? base_b : base_a;

        for (const struct tp_schema *r = schema; r && r->name; r++) {
            if (row_is_set(r, base)) {
                print_row(r, base, out, depth);
            }
        }
    }
}

void
tp_conf_print(const struct tp_conf *conf, FILE *out)
{
    fprintf(out, "# tproxyd %s normalized configuration from %s\n",
            TPROXYD_VERSION, conf->path);
    print_group(tp_schema_root, conf, NULL, NULL, out, 0);
}

static void
list_group(const struct tp_schema *schema, const char *ctx, const char *pre,
    FILE *out)
{
    char path[256], sub[320];

    for (const struct tp_schema *r = schema; r && r->name; r++) {
        snprintf(path, sizeof(path), "%s%s", pre, r->name);
        if (r->type == TP_T_GROUP) {
            snprintf(sub, sizeof(sub), "%s.", path);
            list_group(r->sub, ctx, sub, out);
        } else if (r->type == TP_T_LIST) {
            fprintf(out, "%-14s %s\n", ctx, path);
            list_group(r->sub, r->name, "", out);
        } else if (r->type == TP_T_MODULE) {
            fprintf(out, "%-14s %s.type\n", ctx, path);
            list_group(r->sub, r->name, "", out);
            for (size_t i = 0; i < tp_modules_count; i++) {
                const struct tp_module_role *role;
                char                         c[64];

                role = &tp_modules[i]->role[r->role];
                if (role->ops == NULL) {
                    continue;
                }
                snprintf(c, sizeof(c), "%s:%s", tp_role_name(r->role),
                         tp_modules[i]->name);
                list_group(role->schema, c, "", out);
            }
        } else {
            fprintf(out, "%-14s %s\n", ctx, path);
        }
    }
}

/* Every setting the parser accepts, one per line: "context path". */
void
tp_conf_list_settings(FILE *out)
{
    list_group(tp_schema_root, "global", "", out);
}
