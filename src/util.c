/*
 * util.c - durations, sizes, host:port and sockaddr helpers shared by the
 * config parser, the URL parser, listeners and the data path.
 */
#include "tproxyd.h"
#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int
tp_parse_duration(const char *s, uint64_t *ms)
{
    uint64_t    total = 0;
    const char *p = s;

    if (s == NULL || *s == '\0') {
        return -1;
    }
    /* "1m30s", "500ms", "5s", "2h", or a bare number of seconds */
    while (*p) {
        char     *end;
        uint64_t  v, mul;

        if (!isdigit((unsigned char) *p)) {
            return -1;
        }
        errno = 0;
        v = strtoull(p, &end, 10);
        if (errno || v > 1000000000ULL) {
            return -1;
        }
        if (strncmp(end, "ms", 2) == 0) {
            mul = 1; end += 2;
        } else if (*end == 's') {
            mul = 1000; end++;
        } else if (*end == 'm') {
            mul = 60000; end++;
        } else if (*end == 'h') {
            mul = 3600000; end++;
        } else if (*end == '\0' && p == s) {
            mul = 1000;
        } else {
            return -1;
        }
        total += v * mul;
        p = end;
    }
    *ms = total;
    return 0;
}

int
tp_parse_size(const char *s, uint64_t *bytes)
{
    char     *end;
    uint64_t  v, mul = 1;

    if (s == NULL || !isdigit((unsigned char) *s)) {
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno) {
        return -1;
    }
    switch (tolower((unsigned char) *end)) {
    case '\0': break;
    case 'k': mul = 1024; end++; break;
    case 'm': mul = 1024 * 1024; end++; break;
    case 'g': mul = 1024 * 1024 * 1024; end++; break;
    default: return -1;
    }
    if (*end == 'b' || *end == 'B') {
        end++;
    }
    if (*end != '\0' || v > (UINT64_MAX / mul)) {
        return -1;
    }
    *bytes = v * mul;
    return 0;
}

static int
parse_port(const char *s, uint16_t *port)
{
    char          *end;
    unsigned long  v;

    if (!isdigit((unsigned char) *s)) {
        return -1;
    }
    v = strtoul(s, &end, 10);
    if (*end != '\0' || v > 65535) {
        return -1;
    }
    *port = (uint16_t) v;
    return 0;
}

int
tp_parse_hostport(const char *s, struct tp_hostport *hp, bool port_required,
    const char **why)
{
    const char *colon, *hend;
    size_t      hlen;

    memset(hp, 0, sizeof(*hp));
    if (s[0] == '[') {
        hend = strchr(s, ']');
        if (hend == NULL) {
            *why = "missing ']' after an IPv6 address";
            return -1;
        }
        hlen = (size_t) (hend - s - 1);
        colon = hend[1] == ':' ? hend + 1 : NULL;
        if (hend[1] != '\0' && colon == NULL) {
            *why = "expected ':port' after ']'";
            return -1;
        }
        s++;
        hp->bracketed = true;
    } else {
        colon = strrchr(s, ':');
        if (colon && strchr(s, ':') != colon) {
            *why = "an IPv6 address must be written in brackets, as [::1]:80";
            return -1;
        }
        hlen = colon ? (size_t) (colon - s) : strlen(s);
    }
    if (hlen >= sizeof(hp->host)) {
        *why = "host name too long";
        return -1;
    }
    memcpy(hp->host, s, hlen);
    hp->host[hlen] = '\0';
    if (colon == NULL) {
        if (port_required) {
            *why = "expected host:port, :port or [v6]:port";
            return -1;
        }
        return 0;
    }
    if (parse_port(colon + 1, &hp->port) != 0) {
        *why = "port must be a number from 0 to 65535";
        return -1;
    }
    if (hp->bracketed) {
        struct in6_addr a;
        if (inet_pton(AF_INET6, hp->host, &a) != 1) {
            *why = "not an IPv6 address inside [ ]";
            return -1;
        }
    }
    return 0;
}

int
tp_ip_literal(const char *host, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len)
{
    struct sockaddr_in  *in = (struct sockaddr_in *) ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        *len = sizeof(*in);
        return 0;
    }
    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        *len = sizeof(*in6);
        return 0;
    }
    return -1;
}

/*
 * Socket address to bind for a configured address. ":port" (empty host) is
 * the dual-stack wildcard [::]; dflt_family AF_INET forces 0.0.0.0.
 */
int
tp_hostport_sockaddr(const struct tp_hostport *hp, int dflt_family,
    struct sockaddr_storage *ss, socklen_t *len)
{
    if (hp->host[0] == '\0') {
        return tp_ip_literal(dflt_family == AF_INET ? "0.0.0.0" : "::",
                             hp->port, ss, len);
    }
    return tp_ip_literal(hp->host, hp->port, ss, len);
}

void
tp_sockaddr_unmap(struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
    struct sockaddr_in   in;

    if (ss->ss_family != AF_INET6 || !IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        return;
    }
    memset(&in, 0, sizeof(in));
    in.sin_family = AF_INET;
    in.sin_port = in6->sin6_port;
    memcpy(&in.sin_addr, &in6->sin6_addr.s6_addr[12], 4);
    memset(ss, 0, sizeof(*ss));
    memcpy(ss, &in, sizeof(in));
    *len = sizeof(in);
}

bool
tp_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
    if (a->sa_family != b->sa_family) {
        return false;
    }
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const void *) a, *y = (const void *) b;
        return x->sin_port == y->sin_port
               && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->sa_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *) a, *y = (const void *) b;
        return x->sin6_port == y->sin6_port
               && memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
    }
    return false;
}

uint16_t
tp_sockaddr_port(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return ntohs(((const struct sockaddr_in *) (const void *) sa)->sin_port);
    }
    if (sa->sa_family == AF_INET6) {
        return ntohs(((const struct sockaddr_in6 *) (const void *) sa)->sin6_port);
    }
    return 0;
}

/* "1.2.3.4:80" or "[::1]:80"; v4-mapped addresses print as IPv4. */
const char *
tp_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];

    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const void *) sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
        snprintf(buf, size, "%s:%u", ip, ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const void *) sa;
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], ip, sizeof(ip));
            snprintf(buf, size, "%s:%u", ip, ntohs(in6->sin6_port));
        } else {
            inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
            snprintf(buf, size, "[%s]:%u", ip, ntohs(in6->sin6_port));
        }
    } else {
        snprintf(buf, size, "-");
    }
    return buf;
}

const char *
tp_target_str(const struct tp_target *t, char *buf, size_t size)
{
    if (t->host[0]) {
        snprintf(buf, size, "%s:%u", t->host, t->port);
        return buf;
    }
    return tp_sockaddr_str((const struct sockaddr *) &t->ss, buf, size);
}

void
tp_target_from_sockaddr(struct tp_target *t, const struct sockaddr *sa,
    socklen_t len)
{
    memset(t, 0, sizeof(*t));
    memcpy(&t->ss, sa, len);
    t->sslen = len;
    tp_sockaddr_unmap(&t->ss, &t->sslen);
    t->port = tp_sockaddr_port((struct sockaddr *) &t->ss);
}

/* A name that is an IP literal becomes an address target. */
void
tp_target_from_name(struct tp_target *t, const char *host, uint16_t port)
{
    memset(t, 0, sizeof(*t));
    t->port = port;
    if (tp_ip_literal(host, port, &t->ss, &t->sslen) == 0) {
        tp_sockaddr_unmap(&t->ss, &t->sslen);
        return;
    }
    snprintf(t->host, sizeof(t->host), "%s", host);
}

socklen_t
tp_sa_len(const union tp_sa *a)
{
    return a->sa.sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in);
}

/* Copies an AF_INET/AF_INET6 address; anything else leaves AF_UNSPEC. */
void
tp_sa_set(union tp_sa *to, const struct sockaddr *from)
{
    memset(to, 0, sizeof(*to));
    if (from != NULL && from->sa_family == AF_INET) {
        memcpy(to, from, sizeof(struct sockaddr_in));
    } else if (from != NULL && from->sa_family == AF_INET6) {
        memcpy(to, from, sizeof(struct sockaddr_in6));
    }
}

bool
tp_sockaddr_is_local_only(const struct sockaddr *sa)
{
    const struct sockaddr_in6 *in6 = (const void *) sa;
    uint32_t                   v4;

    if (sa->sa_family == AF_INET) {
        v4 = ntohl(((const struct sockaddr_in *) (const void *) sa)
                   ->sin_addr.s_addr);
        return (v4 >> 24) == 127 || v4 == 0;
    }
    if (sa->sa_family != AF_INET6) {
        return false;
    }
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
        return in6->sin6_addr.s6_addr[12] == 127
               || memcmp(&in6->sin6_addr.s6_addr[12], "\0\0\0\0", 4) == 0;
    }
    return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr)
           || IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr);
}

uint64_t
tp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

const char *
tp_duration_str(uint64_t ms, char *buf, size_t size)
{
    if (ms % 3600000 == 0 && ms) {
        snprintf(buf, size, "%lluh", (unsigned long long) (ms / 3600000));
    } else if (ms % 60000 == 0 && ms) {
        snprintf(buf, size, "%llum", (unsigned long long) (ms / 60000));
    } else if (ms % 1000 == 0) {
        snprintf(buf, size, "%llus", (unsigned long long) (ms / 1000));
    } else {
        snprintf(buf, size, "%llums", (unsigned long long) ms);
    }
    return buf;
}
