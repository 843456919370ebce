/*
 * module.c - lookup in the static module table (generated from modules/).
 */
#include "tproxyd.h"
#include "module.h"

#include <stdio.h>

static const char *const role_names[TP_ROLE_COUNT] = {
    "handler", "listener", "connector", "dialer"
};

const char *
tp_role_name(enum tp_role role)
{
    return role_names[role];
}

const struct tp_module *
tp_module_find(enum tp_role role, const char *name)
{
    for (size_t i = 0; i < tp_modules_count; i++) {
        const struct tp_module *m = tp_modules[i];
        if (m->role[role].ops != NULL && strcmp(m->name, name) == 0) {
            return m;
        }
    }
    return NULL;
}

void
tp_module_names(enum tp_role role, char *buf, size_t size)
{
    size_t n = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < tp_modules_count && n < size; i++) {
        if (tp_modules[i]->role[role].ops == NULL) {
            continue;
        }
        n += (size_t) snprintf(buf + n, size - n, "%s\"%s\"",
                               n ? ", " : "", tp_modules[i]->name);
    }
}
