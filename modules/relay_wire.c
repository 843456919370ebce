/*
 * relay_wire.c - GOST relay v1 request/response and feature TLV codecs,
 * plus the UDP-over-stream framings (length-prefixed, and length + SOCKS5
 * style address).  Owns nothing; must not do I/O or allocate.  Parsing
 * strictness follows go-gost/relay so that we accept what GOST accepts.
 */
#include "../src/tproxyd.h"

#include "proxy_addr.h"
#include "relay_wire.h"


struct cursor {                 /* bounded output position */
    uint8_t    *p;
    size_t      size;
    size_t      n;
    bool        bad;            /* something did not fit */
};


static void
put_mem(struct cursor *c, const void *s, size_t n)
{
    if (c->bad || c->size - c->n < n) {
        c->bad = true;
        return;
    }
    if (n > 0) {
        memcpy(c->p + c->n, s, n);
    }
    c->n += n;
}


static void
put_u8(struct cursor *c, uint8_t v)
{
    put_mem(c, &v, 1);
}


static void
put_u16(struct cursor *c, uint16_t v)
{
    uint8_t  b[2];

    b[0] = (uint8_t) (v >> 8);
    b[1] = (uint8_t) v;
    put_mem(c, b, 2);
}


static uint16_t
get_u16(const uint8_t *p)
{
    return (uint16_t) ((p[0] << 8) | p[1]);
}


/* One TLV: TYPE LEN(2) DATA. */
static void
put_tlv(struct cursor *c, uint8_t type, const uint8_t *data, size_t n)
{
    put_u8(c, type);
    put_u16(c, (uint16_t) n);
    put_mem(c, data, n);
}


static int
encode_userauth(uint8_t *d, const struct relay_features *f)
{
    size_t  ulen, plen;

    ulen = strnlen(f->user, sizeof(f->user));
    plen = strnlen(f->pass, sizeof(f->pass));
    if (ulen > 255 || plen > 255) {
        return TP_ERROR;
    }
    d[0] = (uint8_t) ulen;
    memcpy(d + 1, f->user, ulen);
    d[1 + ulen] = (uint8_t) plen;
    memcpy(d + 2 + ulen, f->pass, plen);
    return (int) (2 + ulen + plen);
}


static void
encode_tunnel(uint8_t *d, const struct relay_tunnel *t)
{
    memcpy(d, t->id, 16);
    d[16] = t->flag;
    d[17] = t->rsv[0];
    d[18] = t->rsv[1];
    d[19] = t->weight;
}


/* VER CODE FEALEN FEATURES, for request and response alike. */
static int
msg_encode(uint8_t *buf, size_t size, uint8_t code,
    const struct relay_features *f)
{
    struct cursor  c = { buf, size, 0, false };
    uint8_t        d[2 + 255 + 255];
    int            n;

    put_u8(&c, RELAY_VERSION);
    put_u8(&c, code);
    put_u16(&c, 0);             /* FEALEN, patched below */

    if (f->present & RELAY_HAS_NETWORK) {
        d[0] = (uint8_t) (f->network >> 8);
        d[1] = (uint8_t) f->network;
        put_tlv(&c, RELAY_FEATURE_NETWORK, d, 2);
    }
    if (f->present & RELAY_HAS_USERAUTH) {
        if ((n = encode_userauth(d, f)) < 0) {
            return TP_ERROR;
        }
        put_tlv(&c, RELAY_FEATURE_USERAUTH, d, (size_t) n);
    }
    if (f->present & RELAY_HAS_ADDR) {
        if ((n = tp_proxy_addr_encode(d, sizeof(d), &f->addr)) < 0) {
            return TP_ERROR;
        }
        put_tlv(&c, RELAY_FEATURE_ADDR, d, (size_t) n);
    }
    if (f->present & RELAY_HAS_TUNNEL) {
        encode_tunnel(d, &f->tunnel);
        put_tlv(&c, RELAY_FEATURE_TUNNEL, d, 20);
    }

    if (c.bad || c.n - RELAY_HEADER_LEN > 0xffff) {
        return TP_ERROR;
    }
    buf[2] = (uint8_t) ((c.n - RELAY_HEADER_LEN) >> 8);
    buf[3] = (uint8_t) (c.n - RELAY_HEADER_LEN);
    return (int) c.n;
}


static int
decode_userauth(const uint8_t *d, size_t n, struct relay_features *f)
{
    size_t  ulen, plen;

    if (n < 2) {
        return TP_ERROR;
    }
    ulen = d[0];
    if (n < 1 + ulen + 1) {
        return TP_ERROR;
    }
    plen = d[1 + ulen];
    if (n < 2 + ulen + plen || memchr(d + 1, '\0', ulen) != NULL
        || memchr(d + 2 + ulen, '\0', plen) != NULL)
    {
        return TP_ERROR;
    }
    memcpy(f->user, d + 1, ulen);
    f->user[ulen] = '\0';
    memcpy(f->pass, d + 2 + ulen, plen);
    f->pass[plen] = '\0';
    return TP_OK;
}


/* Addr: GOST takes an empty domain (03 00 PORT); we keep it as "". */
static int
decode_addr(const uint8_t *d, size_t n, struct relay_features *f)
{
    if (n < 4) {
        return TP_ERROR;
    }
    if (d[0] == TP_ATYP_DOMAIN && d[1] == 0) {
        memset(&f->addr, 0, sizeof(f->addr));
        f->addr.family = AF_UNSPEC;
        f->addr.port = get_u16(d + 2);
        return TP_OK;
    }
    return (tp_proxy_addr_decode(d, n, &f->addr) > 0) ? TP_OK : TP_ERROR;
}


/* Tunnel: GOST reads >= 16 bytes (the ID); FLAG/RSV/WEIGHT if present. */
static int
decode_tunnel(const uint8_t *d, size_t n, struct relay_features *f)
{
    uint8_t  t[20];

    if (n < 16) {
        return TP_ERROR;
    }
    memset(t, 0, sizeof(t));
    memcpy(t, d, n < sizeof(t) ? n : sizeof(t));
    memcpy(f->tunnel.id, t, 16);
    f->tunnel.flag = t[16];
    f->tunnel.rsv[0] = t[17];
    f->tunnel.rsv[1] = t[18];
    f->tunnel.weight = t[19];
    return TP_OK;
}


static int
decode_feature(uint8_t type, const uint8_t *d, size_t n,
    struct relay_features *f, bool strict)
{
    int  rc;

    switch (type) {
    case RELAY_FEATURE_USERAUTH:
        rc = decode_userauth(d, n, f);
        break;
    case RELAY_FEATURE_ADDR:
        rc = decode_addr(d, n, f);
        break;
    case RELAY_FEATURE_TUNNEL:
        rc = decode_tunnel(d, n, f);
        break;
    case RELAY_FEATURE_NETWORK:
        if (n < 2) {
            return TP_ERROR;
        }
        f->network = get_u16(d);
        rc = TP_OK;
        break;
    default:
        return strict ? TP_ERROR : TP_OK;
    }
    if (rc == TP_OK) {
        f->present |= 1u << type;
    }
    return rc;
}


/* VER CODE FEALEN FEATURES; strict rejects unknown feature types. */
static int
msg_decode(const uint8_t *buf, size_t len, uint8_t *code,
    struct relay_features *f, bool strict)
{
    size_t  flen, off, n;

    memset(f, 0, sizeof(*f));
    if (len < 1) {
        return TP_AGAIN;
    }
    if (buf[0] != RELAY_VERSION) {
        return TP_ERROR;
    }
    if (len < RELAY_HEADER_LEN) {
        return TP_AGAIN;
    }
    flen = get_u16(buf + 2);
    if (len < RELAY_HEADER_LEN + flen) {
        return TP_AGAIN;
    }

    for (off = RELAY_HEADER_LEN; off < RELAY_HEADER_LEN + flen; off += n) {
        if (RELAY_HEADER_LEN + flen - off < 3) {
            goto fail;
        }
        n = get_u16(buf + off + 1);
        off += 3;
        if (n > RELAY_HEADER_LEN + flen - off
            || decode_feature(buf[off - 3], buf + off, n, f, strict) != TP_OK)
        {
            goto fail;
        }
    }
    *code = buf[1];
    return (int) (RELAY_HEADER_LEN + flen);

fail:
    memset(f, 0, sizeof(*f));
    return TP_ERROR;
}


int
relay_request_encode(uint8_t *buf, size_t size,
    const struct relay_request *r)
{
    return msg_encode(buf, size, r->cmd, &r->f);
}


int
relay_request_decode(const uint8_t *buf, size_t len,
    struct relay_request *r)
{
    r->cmd = 0;
    return msg_decode(buf, len, &r->cmd, &r->f, true);
}


int
relay_response_encode(uint8_t *buf, size_t size,
    const struct relay_response *r)
{
    return msg_encode(buf, size, r->status, &r->f);
}


int
relay_response_decode(const uint8_t *buf, size_t len,
    struct relay_response *r)
{
    r->status = 0;
    return msg_decode(buf, len, &r->status, &r->f, false);
}


int
relay_udp_encode(uint8_t *buf, size_t size, const uint8_t *data,
    size_t dlen)
{
    struct cursor  c = { buf, size, 0, false };

    if (dlen > RELAY_UDP_MAX) {
        return TP_ERROR;
    }
    put_u16(&c, (uint16_t) dlen);
    if (data != NULL) {
        put_mem(&c, data, dlen);
    }
    return c.bad ? TP_ERROR : (int) c.n;
}


int
relay_udp_decode(const uint8_t *buf, size_t len, const uint8_t **data,
    size_t *dlen)
{
    size_t  n;

    *data = NULL;
    *dlen = 0;
    if (len < RELAY_UDP_HEADER_LEN) {
        return TP_AGAIN;
    }
    n = get_u16(buf);
    if (len < RELAY_UDP_HEADER_LEN + n) {
        return TP_AGAIN;
    }
    *data = buf + RELAY_UDP_HEADER_LEN;
    *dlen = n;
    return (int) (RELAY_UDP_HEADER_LEN + n);
}


int
relay_udp_addr_encode(uint8_t *buf, size_t size,
    const struct tp_proxy_addr *addr, const uint8_t *data, size_t dlen)
{
    struct cursor  c = { buf, size, 0, false };
    uint8_t        a[TP_PROXY_ADDR_WIRE_MAX];
    int            n;

    if (dlen == 0 || dlen > RELAY_UDP_MAX) {
        return TP_ERROR;
    }
    n = tp_proxy_addr_encode(a, sizeof(a), addr);
    if (n < 0) {
        return TP_ERROR;
    }
    put_u16(&c, (uint16_t) dlen);
    put_u8(&c, 0xff);
    put_mem(&c, a, (size_t) n);
    if (data != NULL) {
        put_mem(&c, data, dlen);
    }
    return c.bad ? TP_ERROR : (int) c.n;
}


int
relay_udp_addr_decode(const uint8_t *buf, size_t len,
    struct tp_proxy_addr *addr, const uint8_t **data, size_t *dlen)
{
    size_t  n;
    int     alen;

    *data = NULL;
    *dlen = 0;
    memset(addr, 0, sizeof(*addr));
    if (len < 2) {
        return TP_AGAIN;
    }
    n = get_u16(buf);
    if (n == 0) {
        return TP_ERROR;
    }
    if (len < 3) {
        return TP_AGAIN;
    }
    alen = tp_proxy_addr_decode(buf + 3, len - 3, addr);
    if (alen < 0) {
        return alen;
    }
    if (len < 3 + (size_t) alen + n) {
        memset(addr, 0, sizeof(*addr));
        return TP_AGAIN;
    }
    *data = buf + 3 + alen;
    *dlen = n;
    return (int) (3 + (size_t) alen + n);
}


size_t
relay_udp_frame_need(const uint8_t *p, size_t avail, bool addressed)
{
    struct tp_proxy_addr  a;
    size_t                have, dlen;
    int                   alen;

    if (avail < RELAY_UDP_HEADER_LEN) {
        return 0;
    }
    dlen = (size_t) p[0] << 8 | p[1];
    if (!addressed) {
        return RELAY_UDP_HEADER_LEN + dlen;
    }
    if (dlen == 0) {
        return RELAY_UDP_FRAME_BAD;
    }
    have = avail < RELAY_UDP_ADDR_HEADER_MAX ? avail
                                             : RELAY_UDP_ADDR_HEADER_MAX;
    alen = have > 3 ? tp_proxy_addr_decode(p + 3, have - 3, &a) : TP_AGAIN;
    if (alen == TP_ERROR) {
        return RELAY_UDP_FRAME_BAD;
    }
    return alen > 0 ? 3 + (size_t) alen + dlen : 0;
}
