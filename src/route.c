/*
 * route.c - bypass matchers. Domains: "example.com" matches that name only;
 * ".example.com" matches it and every subdomain; "*.example.com" matches
 * subdomains only. Addresses: "10.0.0.0/8", "fd00::/8", a bare IP.
 * Comparison is case-insensitive; a trailing dot is ignored.
 */
#include "tproxyd.h"
#include "route.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

static int
parse_cidr(const char *m, struct tp_cidr *c)
{
    char        ip[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(m, '/');
    size_t      n = slash ? (size_t) (slash - m) : strlen(m);
    char       *end;
    long        bits;

    if (n >= sizeof(ip)) {
        return -1;
    }
    memcpy(ip, m, n);
    ip[n] = '\0';
    memset(c, 0, sizeof(*c));
    if (inet_pton(AF_INET, ip, c->addr) == 1) {
        c->family = AF_INET;
        c->bits = 32;
    } else if (inet_pton(AF_INET6, ip, c->addr) == 1) {
        c->family = AF_INET6;
        c->bits = 128;
    } else {
        return -1;
    }
    if (slash != NULL) {
        bits = strtol(slash + 1, &end, 10);
        if (*end != '\0' || slash[1] == '\0' || bits < 0 || bits > c->bits) {
            return -1;
        }
        c->bits = (int) bits;
    }
    return 0;
}

static bool
looks_like_address(const char *m)
{
    return strchr(m, ':') != NULL || strchr(m, '/') != NULL
           || (isdigit((unsigned char) m[0])
               && strspn(m, "0123456789.") == strlen(m));
}

int
tp_bypass_check_matcher(const char *m, const char **why)
{
    struct tp_cidr c;
    const char    *d = m;

    if (looks_like_address(m)) {
        if (parse_cidr(m, &c) != 0) {
            *why = "not a valid address or CIDR (like 10.0.0.0/8 or fd00::/8)";
            return -1;
        }
        return 0;
    }
    if (strncmp(d, "*.", 2) == 0) {
        d += 2;
    } else if (d[0] == '.') {
        d += 1;
    }
    if (*d == '\0' || strspn(d, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
                      != strlen(d)) {
        *why = "not a domain (example.com, .example.com or *.example.com)";
        return -1;
    }
    return 0;
}

int
tp_bypass_compile(struct tp_bypass *b)
{
    b->cidrs = calloc(b->nmatchers ? b->nmatchers : 1, sizeof(*b->cidrs));
    if (b->cidrs == NULL) {
        return -1;
    }
    for (size_t i = 0; i < b->nmatchers; i++) {
        if (looks_like_address(b->matchers[i])
            && parse_cidr(b->matchers[i], &b->cidrs[b->ncidrs]) == 0) {
            b->ncidrs++;
        }
    }
    return 0;
}

void
tp_bypass_free_compiled(struct tp_bypass *b)
{
    free(b->cidrs);
    b->cidrs = NULL;
    b->ncidrs = 0;
}

static bool
cidr_match(const struct tp_cidr *c, const struct sockaddr *sa)
{
    const uint8_t *a;
    int            full = c->bits / 8, rest = c->bits % 8;

    if (sa->sa_family != c->family) {
        return false;
    }
    a = sa->sa_family == AF_INET
        ? (const uint8_t *) &((const struct sockaddr_in *) (const void *) sa)
              ->sin_addr
        : ((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr.s6_addr;
    if (memcmp(a, c->addr, (size_t) full) != 0) {
        return false;
    }
    return rest == 0
           || ((a[full] ^ c->addr[full]) & (uint8_t) (0xff << (8 - rest))) == 0;
}

/* host ends with ".suffix" (or equals suffix when self_too). */
static bool
domain_match(const char *host, size_t hlen, const char *pat, bool self_too,
    bool sub_too)
{
    size_t plen = strlen(pat);

    if (plen > 0 && pat[plen - 1] == '.') {
        plen--;
    }
    if (self_too && hlen == plen && strncasecmp(host, pat, plen) == 0) {
        return true;
    }
    return sub_too && hlen > plen + 1 && host[hlen - plen - 1] == '.'
           && strncasecmp(host + hlen - plen, pat, plen) == 0;
}

static bool
listed(const struct tp_bypass *b, const char *host, const struct sockaddr *dst)
{
    size_t hlen = host ? strlen(host) : 0;

    if (hlen > 0 && host[hlen - 1] == '.') {
        hlen--;
    }
    for (size_t i = 0; dst != NULL && i < b->ncidrs; i++) {
        if (cidr_match(&b->cidrs[i], dst)) {
            return true;
        }
    }
    for (size_t i = 0; hlen > 0 && i < b->nmatchers; i++) {
        const char *m = b->matchers[i];
        if (looks_like_address(m)) {
            continue;
        }
        if ((strncmp(m, "*.", 2) == 0 && domain_match(host, hlen, m + 2,
                                                      false, true))
            || (m[0] == '.' && domain_match(host, hlen, m + 1, true, true))
            || (m[0] != '.' && m[0] != '*'
                && domain_match(host, hlen, m, true, false))) {
            return true;
        }
    }
    return false;
}

bool
tp_bypass_match(const struct tp_bypass *b, const char *host,
    const struct sockaddr *dst)
{
    return listed(b, host, dst) != b->whitelist;
}
