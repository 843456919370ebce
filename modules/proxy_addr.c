/*
 * proxy_addr.c - struct tp_proxy_addr helpers: sockaddr conversion, host
 * string classification, log formatting and the SOCKS-style address wire
 * form shared by socks5_wire.c and relay_wire.c.  Pure: no I/O, no
 * allocation, no name resolution.
 */
#include "../src/tproxyd.h"

#include <arpa/inet.h>
#include <stdio.h>

#include "proxy_addr.h"


static const uint8_t v4mapped_prefix[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};


static bool
is_v4mapped(const uint8_t *ip16)
{
    return memcmp(ip16, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}


int
tp_proxy_addr_from_sockaddr(const struct sockaddr_storage *ss,
    struct tp_proxy_addr *a)
{
    const struct sockaddr_in   *sin;
    const struct sockaddr_in6  *sin6;

    memset(a, 0, sizeof(*a));

    switch (ss->ss_family) {
    case AF_INET:
        sin = (const struct sockaddr_in *) ss;
        a->family = AF_INET;
        memcpy(a->ip, &sin->sin_addr, 4);
        a->port = ntohs(sin->sin_port);
        return TP_OK;

    case AF_INET6:
        sin6 = (const struct sockaddr_in6 *) ss;
        if (is_v4mapped(sin6->sin6_addr.s6_addr)) {
            a->family = AF_INET;
            memcpy(a->ip, &sin6->sin6_addr.s6_addr[12], 4);
        } else {
            a->family = AF_INET6;
            memcpy(a->ip, &sin6->sin6_addr, 16);
        }
        a->port = ntohs(sin6->sin6_port);
        return TP_OK;
    }

    a->family = AF_UNSPEC;
    return TP_ERROR;
}


int
tp_proxy_addr_to_sockaddr(const struct tp_proxy_addr *a,
    struct sockaddr_storage *ss, socklen_t *len)
{
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;
    const uint8_t        *ip4;

    memset(ss, 0, sizeof(*ss));

    if (a->family == AF_INET6 && !is_v4mapped(a->ip)) {
        sin6 = (struct sockaddr_in6 *) ss;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, a->ip, 16);
        sin6->sin6_port = htons(a->port);
        *len = sizeof(*sin6);
        return TP_OK;
    }

    if (a->family != AF_INET && a->family != AF_INET6) {
        return TP_ERROR;
    }

    ip4 = (a->family == AF_INET) ? a->ip : a->ip + 12;
    sin = (struct sockaddr_in *) ss;
    sin->sin_family = AF_INET;
    memcpy(&sin->sin_addr, ip4, 4);
    sin->sin_port = htons(a->port);
    *len = sizeof(*sin);
    return TP_OK;
}


/* Parse an IPv6 literal, bracketed or not, into 16 bytes. */
static bool
parse_ipv6(const char *host, size_t n, uint8_t *ip16)
{
    char  tmp[INET6_ADDRSTRLEN + 2];

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(tmp)) {
        return false;
    }
    memcpy(tmp, host, n);
    tmp[n] = '\0';

    return inet_pton(AF_INET6, tmp, ip16) == 1;
}


int
tp_proxy_addr_from_hostport(const char *host, uint16_t port,
    struct tp_proxy_addr *a)
{
    size_t  n;

    memset(a, 0, sizeof(*a));
    a->port = port;

    if (host == NULL) {
        return TP_ERROR;
    }
    n = strnlen(host, TP_PROXY_HOST_MAX + 1);
    if (n == 0 || n > TP_PROXY_HOST_MAX) {
        return TP_ERROR;
    }

    if (inet_pton(AF_INET, host, a->ip) == 1) {
        a->family = AF_INET;
        return TP_OK;
    }

    if (parse_ipv6(host, n, a->ip)) {
        if (is_v4mapped(a->ip)) {
            memmove(a->ip, a->ip + 12, 4);
            memset(a->ip + 4, 0, 12);
            a->family = AF_INET;
        } else {
            a->family = AF_INET6;
        }
        return TP_OK;
    }

    memset(a->ip, 0, sizeof(a->ip));
    a->family = AF_UNSPEC;
    memcpy(a->host, host, n);
    a->host[n] = '\0';
    return TP_OK;
}


const char *
tp_proxy_addr_str(const struct tp_proxy_addr *a, char *buf, size_t size)
{
    char    name[TP_PROXY_HOST_MAX + 1];
    size_t  i;

    if (size == 0) {
        return buf;
    }

    switch (a->family) {
    case AF_INET:
    case AF_INET6:
        if (inet_ntop(a->family, a->ip, name, sizeof(name)) == NULL) {
            snprintf(name, sizeof(name), "?");
        }
        break;
    case AF_UNSPEC:
        for (i = 0; i < TP_PROXY_HOST_MAX && a->host[i] != '\0'; i++) {
            name[i] = (a->host[i] > 0x20 && a->host[i] < 0x7f)
                      ? a->host[i] : '?';
        }
        name[i] = '\0';
        break;
    default:
        snprintf(name, sizeof(name), "?");
        break;
    }

    snprintf(buf, size, a->family == AF_INET6 ? "[%s]:%u" : "%s:%u",
             name, (unsigned) a->port);
    return buf;
}


bool
tp_proxy_addr_valid(const struct tp_proxy_addr *a)
{
    size_t  n;

    switch (a->family) {
    case AF_INET:
    case AF_INET6:
        return true;
    case AF_UNSPEC:
        n = strnlen(a->host, sizeof(a->host));
        return n > 0 && n <= TP_PROXY_HOST_MAX;
    }
    return false;
}


bool
tp_proxy_addr_equal(const struct tp_proxy_addr *x,
    const struct tp_proxy_addr *y)
{
    if (x->family != y->family || x->port != y->port) {
        return false;
    }

    switch (x->family) {
    case AF_INET:
        return memcmp(x->ip, y->ip, 4) == 0;
    case AF_INET6:
        return memcmp(x->ip, y->ip, 16) == 0;
    case AF_UNSPEC:
        return strncmp(x->host, y->host, sizeof(x->host)) == 0;
    }
    return false;
}


int
tp_proxy_addr_encode(uint8_t *buf, size_t size,
    const struct tp_proxy_addr *a)
{
    size_t  n, alen;

    if (!tp_proxy_addr_valid(a)) {
        return TP_ERROR;
    }

    switch (a->family) {
    case AF_INET:
        alen = 4;
        n = 1 + alen + 2;
        break;
    case AF_INET6:
        alen = 16;
        n = 1 + alen + 2;
        break;
    default:
        alen = strnlen(a->host, sizeof(a->host));
        n = 1 + 1 + alen + 2;
        break;
    }
    if (size < n) {
        return TP_ERROR;
    }

    if (a->family == AF_UNSPEC) {
        buf[0] = TP_ATYP_DOMAIN;
        buf[1] = (uint8_t) alen;
        memcpy(buf + 2, a->host, alen);
    } else {
        buf[0] = (a->family == AF_INET) ? TP_ATYP_IPV4 : TP_ATYP_IPV6;
        memcpy(buf + 1, a->ip, alen);
    }
    buf[n - 2] = (uint8_t) (a->port >> 8);
    buf[n - 1] = (uint8_t) a->port;

    return (int) n;
}


int
tp_proxy_addr_decode(const uint8_t *buf, size_t len,
    struct tp_proxy_addr *a)
{
    size_t  n, alen;

    memset(a, 0, sizeof(*a));
    if (len < 1) {
        return TP_AGAIN;
    }

    switch (buf[0]) {
    case TP_ATYP_IPV4:
        alen = 4;
        n = 1 + alen + 2;
        break;
    case TP_ATYP_IPV6:
        alen = 16;
        n = 1 + alen + 2;
        break;
    case TP_ATYP_DOMAIN:
        if (len < 2) {
            return TP_AGAIN;
        }
        alen = buf[1];
        if (alen == 0) {
            return TP_ERROR;
        }
        n = 1 + 1 + alen + 2;
        break;
    default:
        return TP_ERROR;
    }
    if (len < n) {
        return TP_AGAIN;
    }

    if (buf[0] == TP_ATYP_DOMAIN) {
        if (memchr(buf + 2, '\0', alen) != NULL) {
            return TP_ERROR;
        }
        a->family = AF_UNSPEC;
        memcpy(a->host, buf + 2, alen);
        a->host[alen] = '\0';
    } else {
        a->family = (buf[0] == TP_ATYP_IPV4) ? AF_INET : AF_INET6;
        memcpy(a->ip, buf + 1, alen);
    }
    a->port = (uint16_t) ((buf[n - 2] << 8) | buf[n - 1]);

    return (int) n;
}
