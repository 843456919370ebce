/*
 * sniff_tls.c - server_name from a TLS ClientHello (RFC 8446 §4.1.2,
 * RFC 6066 §3), reassembled from one or more handshake records, plus the
 * shared host-name rule used by every sniffer. Pure and stateless: every
 * length is checked against its container and nothing is allocated.
 */
#include "sniff_wire.h"

#define TLS_CT_HANDSHAKE        0x16
#define TLS_HS_CLIENT_HELLO     0x01
#define TLS_RECORD_MAX          16384
#define TLS_EXT_SERVER_NAME     0x0000
#define TLS_EXT_ECH             0xfe0d

/* Bounded read cursor: every accessor fails instead of overrunning. */
struct tls_cur {
    const uint8_t   *p;
    size_t           n;
};

bool
sniff_host_normalise(char *host)
{
    size_t  len = strlen(host), i, label = 0;

    if (len > 0 && host[len - 1] == '.') {
        host[--len] = '\0';
    }
    if (len == 0 || len > 253) {
        return false;
    }
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char) host[i];

        if (c <= 0x20 || c >= 0x7f) {
            return false;
        }
        if (c == '.') {
            if (label == 0) {
                return false;
            }
            label = 0;
            continue;
        }
        if (c >= 'A' && c <= 'Z') {
            host[i] = (char) (c - 'A' + 'a');
        }
        label++;
    }
    return label > 0;
}

/*
 * SNI must not be an IP literal (RFC 6066 §3). Anything with ':' is IPv6;
 * a numeric last label ("10.1.2.3", "127.1", "0x7f.1") is IPv4 as URL
 * parsers see it, and never a valid top-level domain.
 */
static bool
tls_is_ip_literal(const char *h)
{
    const char  *last = strrchr(h, '.');
    size_t       i = 0;
    bool         hex;

    if (strchr(h, ':') != NULL) {
        return true;
    }
    last = last != NULL ? last + 1 : h;
    hex = last[0] == '0' && (last[1] == 'x' || last[1] == 'X');
    if (hex) {
        i = 2;
    }
    for (; last[i] != '\0'; i++) {
        unsigned char c = (unsigned char) last[i];

        if (!(c >= '0' && c <= '9')
            && !(hex && ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))))
        {
            return false;
        }
    }
    return true;
}

static bool
tls_u8(struct tls_cur *c, unsigned *v)
{
    if (c->n < 1) {
        return false;
    }
    *v = c->p[0];
    c->p++;
    c->n--;
    return true;
}

static bool
tls_u16(struct tls_cur *c, unsigned *v)
{
    if (c->n < 2) {
        return false;
    }
    *v = (unsigned) c->p[0] << 8 | c->p[1];
    c->p += 2;
    c->n -= 2;
    return true;
}

/* Take the next n bytes as a sub-cursor (sub may be NULL to skip them). */
static bool
tls_sub(struct tls_cur *c, size_t n, struct tls_cur *sub)
{
    if (c->n < n) {
        return false;
    }
    if (sub != NULL) {
        sub->p = c->p;
        sub->n = n;
    }
    c->p += n;
    c->n -= n;
    return true;
}

/* legacy_version, random, session_id, cipher_suites, compression_methods. */
static bool
tls_hello_fixed(struct tls_cur *c)
{
    unsigned    major, minor, n;

    if (!tls_u8(c, &major) || !tls_u8(c, &minor) || major != 3) {
        return false;
    }
    if (!tls_sub(c, 32, NULL)) {
        return false;
    }
    if (!tls_u8(c, &n) || n > 32 || !tls_sub(c, n, NULL)) {
        return false;
    }
    if (!tls_u16(c, &n) || n < 2 || (n & 1) || !tls_sub(c, n, NULL)) {
        return false;
    }
    return tls_u8(c, &n) && n >= 1 && tls_sub(c, n, NULL);
}

/*
 * ServerNameList. Returns false if malformed; true otherwise, with r->host
 * set only when the host_name is usable (valid name, not an IP literal).
 */
static bool
tls_server_name(struct tls_cur *ext, struct tp_sniff_result *r)
{
    struct tls_cur   list, name;
    unsigned         llen, type, nlen;
    bool             seen = false;

    if (!tls_u16(ext, &llen) || llen != ext->n || llen == 0) {
        return false;
    }
    list = *ext;
    while (list.n > 0) {
        if (!tls_u8(&list, &type) || !tls_u16(&list, &nlen) || nlen == 0
            || !tls_sub(&list, nlen, &name))
        {
            return false;
        }
        if (type != 0) {
            continue;
        }
        if (seen) {
            return false;   /* two host_names: ambiguous */
        }
        seen = true;
        if (name.n < sizeof(r->host)) {
            memcpy(r->host, name.p, name.n);
            r->host[name.n] = '\0';
            if (!sniff_host_normalise(r->host) || tls_is_ip_literal(r->host)) {
                r->host[0] = '\0';
            }
        }
    }
    return true;
}

/* Extension block (already checked to fill the rest of the body). */
static enum tp_sniff_rc
tls_extensions(struct tls_cur *c, struct tp_sniff_result *r)
{
    struct tls_cur   ext;
    unsigned         type, elen;
    bool             have_sni = false;

    while (c->n > 0) {
        if (!tls_u16(c, &type) || !tls_u16(c, &elen)
            || !tls_sub(c, elen, &ext))
        {
            goto malformed;
        }
        if (type == TLS_EXT_ECH) {
            r->ech = 1;
        } else if (type == TLS_EXT_SERVER_NAME) {
            if (have_sni || !tls_server_name(&ext, r)) {
                goto malformed;
            }
            have_sni = true;
        }
    }
    return r->host[0] != '\0' ? TP_SNIFF_FOUND : TP_SNIFF_NONE;

malformed:
    r->host[0] = '\0';
    return TP_SNIFF_NONE;
}

enum tp_sniff_rc
sniff_tls_client_hello(const uint8_t *hs, size_t len,
    struct tp_sniff_result *r)
{
    struct tls_cur   body;
    size_t           hlen;
    unsigned         elen;

    memset(r, 0, sizeof(*r));
    if (len >= 1 && hs[0] != TLS_HS_CLIENT_HELLO) {
        return TP_SNIFF_NONE;
    }
    if (len < 4) {
        return TP_SNIFF_AGAIN;
    }
    hlen = (size_t) hs[1] << 16 | (size_t) hs[2] << 8 | hs[3];
    if (hlen > SNIFF_TLS_HS_CAP) {
        return TP_SNIFF_NONE;
    }
    strcpy(r->proto, "tls");
    if (len - 4 < hlen) {
        return TP_SNIFF_AGAIN;
    }
    body.p = hs + 4;
    body.n = hlen;
    if (!tls_hello_fixed(&body) || body.n == 0) {
        return TP_SNIFF_NONE;   /* malformed, or a hello without extensions */
    }
    if (!tls_u16(&body, &elen) || elen != body.n) {
        return TP_SNIFF_NONE;
    }
    return tls_extensions(&body, r);
}

/*
 * Record header at p (n bytes visible). Checks what is visible, so non-TLS
 * input is rejected from its first byte. FOUND sets *flen.
 */
static enum tp_sniff_rc
tls_record_header(const uint8_t *p, size_t n, size_t *flen)
{
    if ((n >= 1 && p[0] != TLS_CT_HANDSHAKE) || (n >= 2 && p[1] != 3)
        || (n >= 3 && p[2] > 4))
    {
        return TP_SNIFF_NONE;
    }
    if (n < 5) {
        return TP_SNIFF_AGAIN;
    }
    *flen = (size_t) p[3] << 8 | p[4];
    if (*flen == 0 || *flen > TLS_RECORD_MAX) {
        return TP_SNIFF_NONE;
    }
    return TP_SNIFF_FOUND;
}

/*
 * Walk the records until the handshake message is complete. FOUND sets
 * *msg_len (header + body) and *single when it lies in the first record.
 */
static enum tp_sniff_rc
tls_scan(const uint8_t *buf, size_t len, size_t *msg_len, bool *single)
{
    uint8_t             hdr[4];
    size_t              off = 0, got = 0, need = 0, flen, avail, i;
    enum tp_sniff_rc    rc;

    while (off < len) {
        rc = tls_record_header(buf + off, len - off, &flen);
        if (rc != TP_SNIFF_FOUND) {
            return rc;
        }
        avail = len - off - 5 < flen ? len - off - 5 : flen;
        for (i = 0; got + i < 4 && i < avail; i++) {
            hdr[got + i] = buf[off + 5 + i];
        }
        got += avail;
        if (got > 0 && hdr[0] != TLS_HS_CLIENT_HELLO) {
            return TP_SNIFF_NONE;
        }
        if (need == 0 && got >= 4) {
            need = 4 + ((size_t) hdr[1] << 16 | (size_t) hdr[2] << 8 | hdr[3]);
            if (need - 4 > SNIFF_TLS_HS_CAP) {
                return TP_SNIFF_NONE;
            }
        }
        if (need != 0 && got >= need) {
            *msg_len = need;
            *single = off == 0;
            return TP_SNIFF_FOUND;
        }
        if (avail < flen) {
            break;
        }
        off += 5 + flen;
    }
    return TP_SNIFF_AGAIN;
}

/* Copy the message out of its records (validated by tls_scan) and parse. */
static enum tp_sniff_rc
tls_gather(const uint8_t *buf, size_t len, size_t msg_len,
    struct tp_sniff_result *r)
{
    uint8_t     hs[4 + SNIFF_TLS_HS_CAP];
    size_t      off = 0, got = 0, flen, n;

    while (got < msg_len && off + 5 <= len) {
        flen = (size_t) buf[off + 3] << 8 | buf[off + 4];
        n = msg_len - got < flen ? msg_len - got : flen;
        if (n > len - off - 5) {
            n = len - off - 5;
        }
        memcpy(hs + got, buf + off + 5, n);
        got += n;
        off += 5 + flen;
    }
    if (got < msg_len) {
        memset(r, 0, sizeof(*r));
        return TP_SNIFF_NONE;   /* cannot happen after tls_scan */
    }
    return sniff_tls_client_hello(hs, msg_len, r);
}

enum tp_sniff_rc
sniff_tls(const uint8_t *buf, size_t len, struct tp_sniff_result *r)
{
    size_t              msg_len = 0;
    bool                single = false;
    enum tp_sniff_rc    rc;

    memset(r, 0, sizeof(*r));
    rc = tls_scan(buf, len, &msg_len, &single);
    if (rc == TP_SNIFF_AGAIN && len > 5) {
        strcpy(r->proto, "tls");
    }
    if (rc != TP_SNIFF_FOUND) {
        return rc;
    }
    if (single) {
        return sniff_tls_client_hello(buf + 5, msg_len, r);
    }
    return tls_gather(buf, len, msg_len, r);
}
