/*
 * cycle.c - creates listener socket groups (SO_REUSEPORT, one socket per
 * worker slot), inherits matching ones across reloads, and frees a cycle.
 * Closing a socket of a live reuseport group drops its queued connections,
 * so a reload never closes a socket the new cycle still uses.
 */
#include "tproxyd.h"
#include "cycle.h"
#include "log.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int
set_opt(int fd, int level, int name, int v)
{
    return setsockopt(fd, level, name, &v, sizeof(v));
}

static int
open_one(struct tp_listen *l, struct tp_err *err)
{
    const struct tp_modconf      *lc = &l->svc->listener;
    const struct tp_listener_ops *ops = lc->mod->role[TP_ROLE_LISTENER].ops;
    int                           fam = l->ss.ss_family, fd;
    char                          a[TP_SOCKADDR_STRLEN];

    tp_sockaddr_str((struct sockaddr *) &l->ss, a, sizeof(a));
    fd = socket(fam, l->socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err->msg, sizeof(err->msg), "service \"%s\": socket(): %s",
                 l->svc->name, strerror(errno));
        return -1;
    }
    set_opt(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (set_opt(fd, SOL_SOCKET, SO_REUSEPORT, 1) != 0
        || (fam == AF_INET6
            && set_opt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
                       l->svc->addr.host[0] != '\0') != 0)) {
        snprintf(err->msg, sizeof(err->msg), "service \"%s\": setsockopt: %s",
                 l->svc->name, strerror(errno));
        close(fd);
        return -1;
    }
    if (ops->sockopts && ops->sockopts(lc->conf, fd, fam, err) != 0) {
        close(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *) &l->ss, l->sslen) != 0
        || (l->socktype == SOCK_STREAM && listen(fd, 4096) != 0)) {
        snprintf(err->msg, sizeof(err->msg), "service \"%s\": cannot listen "
                 "on %s: %s", l->svc->name, a, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static bool
same_listen(const struct tp_listen *a, const struct tp_listen *b)
{
    return a->socktype == b->socktype
           && a->svc->listener.mod == b->svc->listener.mod
           && tp_sockaddr_equal((const struct sockaddr *) &a->ss,
                                (const struct sockaddr *) &b->ss);
}

/* Take the old group's sockets that match; open what is missing. */
static int
open_listen(struct tp_listen *l, int nworkers, struct tp_cycle *old,
    struct tp_err *err)
{
    const struct tp_listener_ops *ops;
    struct tp_listen             *o = NULL;

    ops = l->svc->listener.mod->role[TP_ROLE_LISTENER].ops;
    l->socktype = ops->socktype;
    l->fds = malloc(sizeof(int) * (size_t) nworkers);
    l->nfds = nworkers;
    for (size_t i = 0; old && i < old->nlistens; i++) {
        if (same_listen(&old->listens[i], l)) {
            o = &old->listens[i];
        }
    }
    for (int i = 0; i < nworkers; i++) {
        if (o != NULL && i < o->nfds) {
            l->fds[i] = o->fds[i];
            if (ops->sockopts
                && ops->sockopts(l->svc->listener.conf, l->fds[i],
                                 l->ss.ss_family, err) != 0) {
                l->nfds = i;
                return -1;
            }
            continue;
        }
        l->fds[i] = open_one(l, err);
        if (l->fds[i] < 0) {
            l->nfds = i;
            return -1;
        }
    }
    return 0;
}

struct tp_cycle *
tp_cycle_create(struct tp_conf *conf, struct tp_cycle *old, struct tp_err *err)
{
    struct tp_cycle *c = calloc(1, sizeof(*c));

    c->conf = conf;
    c->generation = old ? old->generation + 1 : 0;
    c->listens = calloc(conf->nservices ? conf->nservices : 1,
                        sizeof(struct tp_listen));
    for (size_t i = 0; i < conf->nservices; i++) {
        struct tp_listen *l = &c->listens[i];
        l->svc = &conf->services[i];
        if (tp_hostport_sockaddr(&l->svc->addr, AF_INET6, &l->ss, &l->sslen)
            != 0) {
            snprintf(err->msg, sizeof(err->msg), "service \"%s\": addr \"%s\" "
                     "is not an IP address (listen addresses must be "
                     "literal)", l->svc->name, l->svc->addr.host);
            goto failed;
        }
        c->nlistens++;
        if (open_listen(l, conf->nworkers, old, err) != 0) {
            goto failed;
        }
    }
    return c;

failed:
    c->conf = NULL;
    tp_cycle_free(c, old);
    return NULL;
}

static bool
owned_by(int fd, const struct tp_cycle *keep)
{
    for (size_t i = 0; keep && i < keep->nlistens; i++) {
        for (int k = 0; k < keep->listens[i].nfds; k++) {
            if (keep->listens[i].fds[k] == fd) {
                return true;
            }
        }
    }
    return false;
}

void
tp_cycle_free(struct tp_cycle *c, const struct tp_cycle *keep)
{
    if (c == NULL) {
        return;
    }
    for (size_t i = 0; i < c->nlistens; i++) {
        for (int k = 0; k < c->listens[i].nfds; k++) {
            if (!owned_by(c->listens[i].fds[k], keep)) {
                close(c->listens[i].fds[k]);
            }
        }
        free(c->listens[i].fds);
    }
    free(c->listens);
    tp_conf_free(c->conf);
    free(c);
}

static bool
addr_matches(const struct tp_listen *l, const struct sockaddr *sa)
{
    const struct sockaddr_in6 *l6 = (const void *) &l->ss;
    const struct sockaddr_in  *l4 = (const void *) &l->ss;
    bool                       wild;

    if (tp_sockaddr_port(sa) != tp_sockaddr_port((const void *) &l->ss)) {
        return false;
    }
    wild = l->ss.ss_family == AF_INET6
           ? IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr)
           : l4->sin_addr.s_addr == htonl(INADDR_ANY);
    return wild || tp_sockaddr_equal(sa, (const void *) &l->ss);
}

/*
 * A flow to one of our own listener ports on a local address would be
 * relayed into ourselves. Wildcard listeners match any address, so the
 * caller only asks for destinations that are local (see origdst.c).
 */
bool
tp_cycle_is_listener(const struct tp_cycle *c, const struct sockaddr *sa,
    int socktype)
{
    for (size_t i = 0; i < c->nlistens; i++) {
        if (c->listens[i].socktype == socktype
            && addr_matches(&c->listens[i], sa)) {
            return true;
        }
    }
    return false;
}
