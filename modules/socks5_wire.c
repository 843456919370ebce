/*
 * socks5_wire.c - SOCKS5 / RFC 1929 / SOCKS4(a) encoders and decoders.
 * Owns nothing: every function works on caller buffers and structs.  Must
 * not do I/O, allocate, or resolve names; the connector and the handler
 * own sockets, timeouts and policy.
 */
#include "../src/tproxyd.h"

#include "proxy_addr.h"
#include "socks5_wire.h"


/* Length of a C string held in a 256-byte field, or -1 if over 255. */
static int
field_len(const char *s)
{
    size_t  n;

    n = strnlen(s, 256);
    return (n > 255) ? -1 : (int) n;
}


/* Copy a length-prefixed wire string into a 256-byte C field. */
static int
field_copy(char *dst, const uint8_t *src, size_t n)
{
    if (memchr(src, '\0', n) != NULL) {
        return TP_ERROR;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
    return TP_OK;
}


int
socks5_greeting_encode(uint8_t *buf, size_t size,
    const struct socks5_greeting *g)
{
    if (g->nmethods == 0 || size < 2u + g->nmethods) {
        return TP_ERROR;
    }
    buf[0] = SOCKS5_VERSION;
    buf[1] = g->nmethods;
    memcpy(buf + 2, g->methods, g->nmethods);
    return 2 + g->nmethods;
}


int
socks5_greeting_decode(const uint8_t *buf, size_t len,
    struct socks5_greeting *g)
{
    memset(g, 0, sizeof(*g));
    if (len < 1) {
        return TP_AGAIN;
    }
    if (buf[0] != SOCKS5_VERSION) {
        return TP_ERROR;
    }
    if (len < 2) {
        return TP_AGAIN;
    }
    if (buf[1] == 0) {
        return TP_ERROR;
    }
    if (len < 2u + buf[1]) {
        return TP_AGAIN;
    }
    g->nmethods = buf[1];
    memcpy(g->methods, buf + 2, g->nmethods);
    return 2 + g->nmethods;
}


bool
socks5_greeting_offers(const struct socks5_greeting *g, uint8_t method)
{
    return memchr(g->methods, method, g->nmethods) != NULL;
}


/* Two-byte messages: VER CODE (method choice, auth status). */
static int
pair_encode(uint8_t *buf, size_t size, uint8_t ver, uint8_t code)
{
    if (size < 2) {
        return TP_ERROR;
    }
    buf[0] = ver;
    buf[1] = code;
    return 2;
}


static int
pair_decode(const uint8_t *buf, size_t len, uint8_t ver, uint8_t *code)
{
    if (len < 1) {
        return TP_AGAIN;
    }
    if (buf[0] != ver) {
        return TP_ERROR;
    }
    if (len < 2) {
        return TP_AGAIN;
    }
    *code = buf[1];
    return 2;
}


int
socks5_method_encode(uint8_t *buf, size_t size, uint8_t method)
{
    return pair_encode(buf, size, SOCKS5_VERSION, method);
}


int
socks5_method_decode(const uint8_t *buf, size_t len, uint8_t *method)
{
    return pair_decode(buf, len, SOCKS5_VERSION, method);
}


int
socks5_auth_status_encode(uint8_t *buf, size_t size, uint8_t status)
{
    return pair_encode(buf, size, SOCKS5_AUTH_VERSION, status);
}


int
socks5_auth_status_decode(const uint8_t *buf, size_t len, uint8_t *status)
{
    return pair_decode(buf, len, SOCKS5_AUTH_VERSION, status);
}


int
socks5_auth_encode(uint8_t *buf, size_t size, const struct socks5_auth *a)
{
    int  ulen, plen;

    ulen = field_len(a->user);
    plen = field_len(a->pass);
    if (ulen < 0 || plen < 0 || size < 3u + ulen + plen) {
        return TP_ERROR;
    }
    buf[0] = SOCKS5_AUTH_VERSION;
    buf[1] = (uint8_t) ulen;
    memcpy(buf + 2, a->user, ulen);
    buf[2 + ulen] = (uint8_t) plen;
    memcpy(buf + 3 + ulen, a->pass, plen);
    return 3 + ulen + plen;
}


int
socks5_auth_decode(const uint8_t *buf, size_t len, struct socks5_auth *a)
{
    size_t  ulen, plen;

    memset(a, 0, sizeof(*a));
    if (len < 1) {
        return TP_AGAIN;
    }
    if (buf[0] != SOCKS5_AUTH_VERSION) {
        return TP_ERROR;
    }
    if (len < 2) {
        return TP_AGAIN;
    }
    ulen = buf[1];
    if (len < 3 + ulen) {
        return TP_AGAIN;
    }
    plen = buf[2 + ulen];
    if (len < 3 + ulen + plen) {
        return TP_AGAIN;
    }
    if (field_copy(a->user, buf + 2, ulen) != TP_OK
        || field_copy(a->pass, buf + 3 + ulen, plen) != TP_OK)
    {
        memset(a, 0, sizeof(*a));
        return TP_ERROR;
    }
    return (int) (3 + ulen + plen);
}


/* VER CODE RSV + address: the shape shared by request and reply. */
static int
msg_encode(uint8_t *buf, size_t size, uint8_t code,
    const struct tp_proxy_addr *addr)
{
    int  n;

    if (size < 3) {
        return TP_ERROR;
    }
    n = tp_proxy_addr_encode(buf + 3, size - 3, addr);
    if (n < 0) {
        return TP_ERROR;
    }
    buf[0] = SOCKS5_VERSION;
    buf[1] = code;
    buf[2] = 0x00;
    return 3 + n;
}


static int
msg_decode(const uint8_t *buf, size_t len, uint8_t *code,
    struct tp_proxy_addr *addr)
{
    int  n;

    memset(addr, 0, sizeof(*addr));
    if (len < 1) {
        return TP_AGAIN;
    }
    if (buf[0] != SOCKS5_VERSION) {
        return TP_ERROR;
    }
    if (len < 3) {
        return TP_AGAIN;
    }
    n = tp_proxy_addr_decode(buf + 3, len - 3, addr);
    if (n < 0) {
        return n;
    }
    *code = buf[1];
    return 3 + n;
}


int
socks5_request_encode(uint8_t *buf, size_t size,
    const struct socks5_request *r)
{
    return msg_encode(buf, size, r->cmd, &r->addr);
}


int
socks5_request_decode(const uint8_t *buf, size_t len,
    struct socks5_request *r)
{
    r->cmd = 0;
    return msg_decode(buf, len, &r->cmd, &r->addr);
}


int
socks5_request_error_rep(const uint8_t *buf, size_t len)
{
    if (len < 1 || buf[0] != SOCKS5_VERSION) {
        return -1;
    }
    if (len >= 4 && buf[3] != TP_ATYP_IPV4 && buf[3] != TP_ATYP_IPV6
        && buf[3] != TP_ATYP_DOMAIN)
    {
        return SOCKS5_REP_ATYP_UNSUPPORTED;
    }
    return SOCKS5_REP_GENERAL_FAILURE;
}


int
socks5_reply_encode(uint8_t *buf, size_t size, const struct socks5_reply *r)
{
    return msg_encode(buf, size, r->rep, &r->addr);
}


int
socks5_reply_decode(const uint8_t *buf, size_t len, struct socks5_reply *r)
{
    r->rep = 0;
    return msg_decode(buf, len, &r->rep, &r->addr);
}


int
socks5_udp_encode(uint8_t *buf, size_t size,
    const struct socks5_udp_header *h)
{
    int  n;

    if (size < 3) {
        return TP_ERROR;
    }
    n = tp_proxy_addr_encode(buf + 3, size - 3, &h->addr);
    if (n < 0) {
        return TP_ERROR;
    }
    buf[0] = (uint8_t) (h->rsv >> 8);
    buf[1] = (uint8_t) h->rsv;
    buf[2] = h->frag;
    return 3 + n;
}


int
socks5_udp_decode(const uint8_t *buf, size_t len,
    struct socks5_udp_header *h)
{
    int  n;

    memset(h, 0, sizeof(*h));
    if (len < 3) {
        return TP_AGAIN;
    }
    n = tp_proxy_addr_decode(buf + 3, len - 3, &h->addr);
    if (n < 0) {
        return n;
    }
    h->rsv = (uint16_t) ((buf[0] << 8) | buf[1]);
    h->frag = buf[2];
    return 3 + n;
}


int
socks4_request_encode(uint8_t *buf, size_t size,
    const struct socks4_request *r)
{
    static const uint8_t  ip4a[4] = { 0, 0, 0, 1 };
    int                   ulen, hlen;
    size_t                n;

    ulen = field_len(r->userid);
    if (ulen < 0 || !tp_proxy_addr_valid(&r->addr)
        || r->addr.family == AF_INET6)
    {
        return TP_ERROR;
    }
    if (r->addr.family == AF_INET && r->addr.ip[0] == 0
        && r->addr.ip[1] == 0 && r->addr.ip[2] == 0 && r->addr.ip[3] != 0)
    {
        return TP_ERROR;        /* 0.0.0.x means "SOCKS4a name follows" */
    }
    hlen = (r->addr.family == AF_UNSPEC) ? field_len(r->addr.host) : -1;
    n = 8 + ulen + 1 + (hlen >= 0 ? hlen + 1 : 0);
    if (size < n) {
        return TP_ERROR;
    }

    buf[0] = SOCKS4_VERSION;
    buf[1] = r->cmd;
    buf[2] = (uint8_t) (r->addr.port >> 8);
    buf[3] = (uint8_t) r->addr.port;
    memcpy(buf + 4, (hlen >= 0) ? ip4a : r->addr.ip, 4);
    memcpy(buf + 8, r->userid, ulen + 1);
    if (hlen >= 0) {
        memcpy(buf + 8 + ulen + 1, r->addr.host, hlen + 1);
    }
    return (int) n;
}


/*
 * A NUL-terminated string of at most 255 bytes at buf[off..len): its
 * length, TP_AGAIN if the NUL has not arrived, TP_ERROR if too long.
 */
static int
cstr_len(const uint8_t *buf, size_t len, size_t off)
{
    const uint8_t  *nul;
    size_t          avail;

    avail = len - off;
    if (avail > 256) {
        avail = 256;
    }
    nul = memchr(buf + off, '\0', avail);
    if (nul != NULL) {
        return (int) (nul - (buf + off));
    }
    return (avail == 256) ? TP_ERROR : TP_AGAIN;
}


int
socks4_request_decode(const uint8_t *buf, size_t len,
    struct socks4_request *r)
{
    int     ulen, hlen;
    size_t  off;

    memset(r, 0, sizeof(*r));
    if (len < 1) {
        return TP_AGAIN;
    }
    if (buf[0] != SOCKS4_VERSION) {
        return TP_ERROR;
    }
    if (len < 8) {
        return TP_AGAIN;
    }
    ulen = cstr_len(buf, len, 8);
    if (ulen < 0) {
        return ulen;
    }
    off = 8 + ulen + 1;

    if (buf[4] == 0 && buf[5] == 0 && buf[6] == 0 && buf[7] != 0) {
        hlen = cstr_len(buf, len, off);
        if (hlen < 0) {
            return hlen;
        }
        if (hlen == 0) {
            return TP_ERROR;
        }
        r->addr.family = AF_UNSPEC;
        memcpy(r->addr.host, buf + off, hlen + 1);
        off += hlen + 1;
    } else {
        r->addr.family = AF_INET;
        memcpy(r->addr.ip, buf + 4, 4);
    }

    r->cmd = buf[1];
    r->addr.port = (uint16_t) ((buf[2] << 8) | buf[3]);
    memcpy(r->userid, buf + 8, ulen + 1);
    return (int) off;
}


int
socks4_reply_encode(uint8_t *buf, size_t size, const struct socks4_reply *r)
{
    if (size < SOCKS4_REPLY_LEN || r->addr.family != AF_INET) {
        return TP_ERROR;
    }
    buf[0] = 0x00;
    buf[1] = r->cd;
    buf[2] = (uint8_t) (r->addr.port >> 8);
    buf[3] = (uint8_t) r->addr.port;
    memcpy(buf + 4, r->addr.ip, 4);
    return SOCKS4_REPLY_LEN;
}


int
socks4_reply_decode(const uint8_t *buf, size_t len, struct socks4_reply *r)
{
    memset(r, 0, sizeof(*r));
    if (len < 1) {
        return TP_AGAIN;
    }
    if (buf[0] != 0x00) {
        return TP_ERROR;
    }
    if (len < SOCKS4_REPLY_LEN) {
        return TP_AGAIN;
    }
    r->cd = buf[1];
    r->addr.family = AF_INET;
    r->addr.port = (uint16_t) ((buf[2] << 8) | buf[3]);
    memcpy(r->addr.ip, buf + 4, 4);
    return SOCKS4_REPLY_LEN;
}
