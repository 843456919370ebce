/*
 * proxy_addr.h - the target address as upstream proxies carry it (SOCKS4/5,
 * HTTP CONNECT, GOST relay), its SOCKS-style wire form (ATYP | ADDR | PORT)
 * and conversions to and from sockaddr_storage.  Pure code: no I/O, no
 * allocation, no DNS (a name stays a name).
 */
#ifndef TP_PROXY_ADDR_H
#define TP_PROXY_ADDR_H

#include "../src/tproxyd.h"

/* SOCKS5 address types, shared by the SOCKS5 UDP header and GOST relay */
#define TP_ATYP_IPV4            0x01
#define TP_ATYP_DOMAIN          0x03
#define TP_ATYP_IPV6            0x04

#define TP_PROXY_HOST_MAX       255     /* longest domain name on the wire */
#define TP_PROXY_ADDR_WIRE_MAX  (1 + 1 + TP_PROXY_HOST_MAX + 2)
#define TP_PROXY_ADDR_STRLEN    (TP_PROXY_HOST_MAX + 8)  /* "name:65535" */

struct tp_proxy_addr {          /* a target as proxies carry it */
    int      family;            /* AF_INET, AF_INET6, or AF_UNSPEC for a
                                   domain name */
    uint8_t  ip[16];            /* 4 or 16 bytes, network order */
    char     host[256];         /* domain name, NUL-terminated, when
                                   family == AF_UNSPEC */
    uint16_t port;              /* host order */
};

/*
 * Fill *a from an AF_INET or AF_INET6 socket address.  A v4-mapped IPv6
 * address (::ffff:a.b.c.d) becomes AF_INET.  Returns TP_OK, or TP_ERROR for
 * any other family.
 */
int tp_proxy_addr_from_sockaddr(const struct sockaddr_storage *ss,
    struct tp_proxy_addr *a);

/*
 * Fill *ss (zeroed first) and *len from an IP address.  AF_INET6 holding a
 * v4-mapped address becomes AF_INET.  Returns TP_OK, or TP_ERROR for a
 * domain name (resolve it first) or an unknown family.
 */
int tp_proxy_addr_to_sockaddr(const struct tp_proxy_addr *a,
    struct sockaddr_storage *ss, socklen_t *len);

/*
 * Fill *a from a host string and port.  An IPv4 literal, an IPv6 literal
 * (with or without brackets) becomes an IP (v4-mapped IPv6 -> AF_INET);
 * anything else becomes a domain name, copied as is.  Returns TP_OK, or
 * TP_ERROR for a NULL/empty host or a name longer than 255 bytes.
 */
int tp_proxy_addr_from_hostport(const char *host, uint16_t port,
    struct tp_proxy_addr *a);

/*
 * Format *a for logs as "1.2.3.4:80", "[::1]:80" or "name:80" into buf
 * (always NUL-terminated when size > 0, truncated if too small; use
 * TP_PROXY_ADDR_STRLEN).  Non-printable bytes of a name are shown as '?'.
 * Returns buf.
 */
const char *tp_proxy_addr_str(const struct tp_proxy_addr *a, char *buf,
    size_t size);

/* True if *a is a usable target: IPv4, IPv6, or a 1..255 byte name. */
bool tp_proxy_addr_valid(const struct tp_proxy_addr *a);

/* True if both hold the same family, address (or name) and port. */
bool tp_proxy_addr_equal(const struct tp_proxy_addr *x,
    const struct tp_proxy_addr *y);

/*
 * SOCKS-style wire form: ATYP(1) | ADDR (4, 16, or LEN(1) + name) | PORT(2).
 * encode: writes it to buf; returns the length (> 0), or TP_ERROR if *a is
 * not valid or size is too small.
 * decode: returns the bytes consumed (> 0), TP_AGAIN if len is too short,
 * TP_ERROR for an unknown ATYP, an empty name or a name holding a NUL byte.
 * Never reads past len.
 */
int tp_proxy_addr_encode(uint8_t *buf, size_t size,
    const struct tp_proxy_addr *a);
int tp_proxy_addr_decode(const uint8_t *buf, size_t len,
    struct tp_proxy_addr *a);

#endif
