/*
 * conf_url.h - GOST-style -L/-F URLs turned into the same config model as
 * a file: the URLs become a libconfig tree in memory, and that tree goes
 * through the one schema walk (tp_conf_from_config).
 */
#ifndef TP_CONF_URL_H
#define TP_CONF_URL_H

#include "tproxyd.h"

struct tp_urls {
    char      **l;      /* -L services */
    size_t      nl;
    char      **f;      /* -F hops, in order */
    size_t      nf;
};

void tp_urls_add(struct tp_urls *u, int which, const char *url);
void tp_urls_free(struct tp_urls *u);
struct tp_conf *tp_conf_from_urls(const struct tp_urls *u, struct tp_err *err);

#endif
