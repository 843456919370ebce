/*
 * cycle.h - the runtime object: a validated config plus every listening
 * socket it needs (one per worker slot per service, in one SO_REUSEPORT
 * group). Built whole beside the old one on reload, inheriting the old
 * sockets that match, and swapped whole.
 */
#ifndef TP_CYCLE_H
#define TP_CYCLE_H

#include "tproxyd.h"
#include "conf.h"

struct tp_listen {
    const struct tp_service    *svc;
    struct sockaddr_storage     ss;
    socklen_t                   sslen;
    int                         socktype;
    int                        *fds;        /* one per worker slot */
    int                         nfds;
};

struct tp_cycle {
    struct tp_conf     *conf;
    struct tp_listen   *listens;            /* one per service */
    size_t              nlistens;
    unsigned            generation;
};

/* Open (or inherit from old) every listener for conf. NULL + err on error;
 * then nothing of old was touched. */
struct tp_cycle *tp_cycle_create(struct tp_conf *conf, struct tp_cycle *old,
    struct tp_err *err);
/* Close the sockets of `c` that `keep` does not also own, free `c`. */
void tp_cycle_free(struct tp_cycle *c, const struct tp_cycle *keep);
/* True if ss is the address of one of the cycle's listeners (loop guard). */
bool tp_cycle_is_listener(const struct tp_cycle *c, const struct sockaddr *sa,
    int socktype);

#endif
