/*
 * route.h - bypass lists (GOST's `bypasses`): matchers of CIDRs, exact
 * domains, ".suffix" and "*.wildcard" domains, compiled once per config.
 * A service's bypass rejects the flows it matches; a chain's bypass sends
 * them direct instead of through the chain. `whitelist` inverts a list.
 */
#ifndef TP_ROUTE_H
#define TP_ROUTE_H

#include "tproxyd.h"

struct tp_cidr {
    int         family;
    uint8_t     addr[16];
    int         bits;
};

struct tp_bypass {
    char           *name;
    bool            whitelist;      /* match = everything NOT listed */
    char          **matchers;
    size_t          nmatchers;
    /* compiled */
    struct tp_cidr *cidrs;
    size_t          ncidrs;
};

/* Validates one matcher string (schema check hook). */
int tp_bypass_check_matcher(const char *m, const char **why);
int tp_bypass_compile(struct tp_bypass *b);
void tp_bypass_free_compiled(struct tp_bypass *b);
/* Does the flow (sniffed host or "", destination) fall under the list? */
bool tp_bypass_match(const struct tp_bypass *b, const char *host,
    const struct sockaddr *dst);

#endif
