/*
 * http_wire.c - HTTP/1.x proxy head encoders and decoders (CONNECT request,
 * response head, server-side request head) and the small base64 codec
 * Basic auth needs.  Owns nothing; must not do I/O, allocate, or depend on
 * libevent: callers hand in buffers and get structs and lengths back.
 */
#include "../src/tproxyd.h"

#include <arpa/inet.h>

#include "proxy_addr.h"
#include "http_wire.h"


struct wbuf {                   /* bounded output cursor */
    uint8_t    *p;
    size_t      size;
    size_t      n;
    bool        bad;            /* something did not fit */
};

struct line {                   /* one head line, without CR/LF */
    const uint8_t  *p;
    size_t          n;
};

static const char  b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


static void
w_mem(struct wbuf *w, const void *s, size_t n)
{
    if (w->bad || w->size - w->n < n) {
        w->bad = true;
        return;
    }
    memcpy(w->p + w->n, s, n);
    w->n += n;
}


static void
w_str(struct wbuf *w, const char *s)
{
    w_mem(w, s, strlen(s));
}


static void
w_uint(struct wbuf *w, unsigned v)
{
    char    t[12];
    size_t  i;

    i = sizeof(t);
    do {
        t[--i] = (char) ('0' + v % 10);
        v /= 10;
    } while (v != 0);
    w_mem(w, t + i, sizeof(t) - i);
}


static int
w_done(const struct wbuf *w)
{
    return (w->bad || w->n > INT32_MAX) ? TP_ERROR : (int) w->n;
}


static bool
is_tchar(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
           || (c >= '0' && c <= '9') || (c != '\0'
                                         && strchr("!#$%&'*+-.^_`|~", c));
}


static bool
is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}


/* A host name byte we put in or accept from an authority: RFC 3986
 * unreserved (ALPHA / DIGIT / "-" / "." / "_" / "~"). */
static bool
is_host_char(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)
           || c == '-' || c == '.' || c == '_' || c == '~';
}


static uint8_t
to_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t) (c + 32) : c;
}


/* Case-insensitive match of p[0..n) against a lower-case literal. */
static bool
ci_eq(const uint8_t *p, size_t n, const char *lit)
{
    size_t  i;

    if (n != strlen(lit)) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (to_lower(p[i]) != (uint8_t) lit[i]) {
            return false;
        }
    }
    return true;
}


/* Trim optional white space (SP / HT) from both ends of a line. */
static void
trim_ows(struct line *l)
{
    while (l->n > 0 && (l->p[0] == ' ' || l->p[0] == '\t')) {
        l->p++;
        l->n--;
    }
    while (l->n > 0 && (l->p[l->n - 1] == ' ' || l->p[l->n - 1] == '\t')) {
        l->n--;
    }
}


/*
 * Find the end of the head that starts at buf[start]: the offset just
 * past the first empty line.  The head must end within the first
 * HTTP_WIRE_HEAD_MAX bytes of buf.
 */
static int
find_head_end(const uint8_t *buf, size_t len, size_t start)
{
    const uint8_t  *nl;
    size_t          s, lim, n;

    lim = (len < HTTP_WIRE_HEAD_MAX) ? len : HTTP_WIRE_HEAD_MAX;
    for (s = start; s < lim; s = (size_t) (nl - buf) + 1) {
        nl = memchr(buf + s, '\n', lim - s);
        if (nl == NULL) {
            break;
        }
        n = (size_t) (nl - (buf + s));
        if (n == 0 || (n == 1 && buf[s] == '\r')) {
            return (int) (nl - buf) + 1;
        }
    }
    return (len >= HTTP_WIRE_HEAD_MAX) ? TP_ERROR : TP_AGAIN;
}


/* Take the next line of a head whose last '\n' is at buf[end - 1]. */
static void
next_line(const uint8_t *buf, size_t end, size_t *off, struct line *l)
{
    const uint8_t  *nl;

    l->p = buf + *off;
    nl = memchr(l->p, '\n', end - *off);
    l->n = (size_t) (nl - l->p);
    *off += l->n + 1;
    if (l->n > 0 && l->p[l->n - 1] == '\r') {
        l->n--;
    }
}


static int
base64_encode(char *dst, size_t size, const uint8_t *src, size_t n)
{
    size_t    i, o;
    uint32_t  v;

    if (size < (n + 2) / 3 * 4 + 1) {
        return TP_ERROR;
    }
    for (i = 0, o = 0; i < n; i += 3) {
        v = (uint32_t) src[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t) src[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= src[i + 2];
        }
        dst[o++] = b64_alphabet[(v >> 18) & 63];
        dst[o++] = b64_alphabet[(v >> 12) & 63];
        dst[o++] = (i + 1 < n) ? b64_alphabet[(v >> 6) & 63] : '=';
        dst[o++] = (i + 2 < n) ? b64_alphabet[v & 63] : '=';
    }
    dst[o] = '\0';
    return (int) o;
}


static int
base64_value(uint8_t c)
{
    const char  *p;

    if (c == '\0' || (p = strchr(b64_alphabet, c)) == NULL) {
        return -1;
    }
    return (int) (p - b64_alphabet);
}


/* Decode standard base64; '=' padding optional but, if present, exact. */
static int
base64_decode(uint8_t *dst, size_t size, const uint8_t *src, size_t n)
{
    size_t    i, o, pad;
    uint32_t  acc;
    int       v, bits;

    for (pad = 0; pad < 2 && n > 0 && src[n - 1] == '='; pad++) {
        n--;
    }
    if (n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0)) {
        return TP_ERROR;
    }
    acc = 0;
    bits = 0;
    for (i = 0, o = 0; i < n; i++) {
        v = base64_value(src[i]);
        if (v < 0) {
            return TP_ERROR;
        }
        acc = ((acc << 6) | (uint32_t) v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= size) {
                return TP_ERROR;
            }
            dst[o++] = (uint8_t) (acc >> bits);
        }
    }
    return (int) o;
}


/* "Name: value\r\n" lines only; NULL and "" are fine. */
static bool
headers_valid(const char *h)
{
    const uint8_t  *p;
    size_t          i;

    if (h == NULL) {
        return true;
    }
    p = (const uint8_t *) h;
    while (*p != '\0') {
        for (i = 0; is_tchar(p[i]); i++) {
            /* name */
        }
        if (i == 0 || p[i] != ':') {
            return false;
        }
        for (i++; p[i] == '\t' || (p[i] >= 0x20 && p[i] != 0x7f); i++) {
            /* value: HT, SP, VCHAR, obs-text */
        }
        if (p[i] != '\r' || p[i + 1] != '\n') {
            return false;
        }
        p += i + 2;
    }
    return true;
}


/* Port: 1..5 digits, 1..65535. */
static bool
parse_port(const uint8_t *p, size_t n, uint16_t *port)
{
    uint32_t  v;
    size_t    i;

    if (n == 0 || n > 5) {
        return false;
    }
    for (i = 0, v = 0; i < n; i++) {
        if (!is_digit(p[i])) {
            return false;
        }
        v = v * 10 + (p[i] - '0');
    }
    if (v == 0 || v > 65535) {
        return false;
    }
    *port = (uint16_t) v;
    return true;
}


/*
 * Authority "host[:port]" or "[v6][:port]" into *a.  dflt 0 makes the
 * port mandatory; otherwise a missing or empty port means dflt.
 */
static bool
parse_authority(const uint8_t *p, size_t n, uint16_t dflt,
    struct tp_proxy_addr *a)
{
    const uint8_t  *end, *host;
    size_t          hlen, i;
    bool            v6;
    char            tmp[TP_PROXY_HOST_MAX + 1];

    v6 = (n > 0 && p[0] == '[');
    if (v6) {
        end = memchr(p, ']', n);
        if (end == NULL) {
            return false;
        }
        host = p + 1;
        hlen = (size_t) (end - host);
        end++;
    } else {
        end = memchr(p, ':', n);
        end = (end == NULL) ? p + n : end;
        host = p;
        hlen = (size_t) (end - p);
        for (i = 0; i < hlen; i++) {
            if (!is_host_char(host[i])) {
                return false;
            }
        }
    }
    if (hlen == 0 || hlen > TP_PROXY_HOST_MAX) {
        return false;
    }
    memcpy(tmp, host, hlen);
    tmp[hlen] = '\0';
    if ((v6 && memchr(tmp, ':', hlen) == NULL)
        || tp_proxy_addr_from_hostport(tmp, dflt, a) != TP_OK
        || (v6 && a->family == AF_UNSPEC))
    {
        return false;
    }

    n -= (size_t) (end - p);
    if (n == 0) {
        return dflt != 0;
    }
    if (end[0] != ':') {
        return false;
    }
    if (n == 1) {
        return dflt != 0;
    }
    return parse_port(end + 1, n - 1, &a->port);
}


/* Write the "host:port" authority of a CONNECT target. */
static bool
write_authority(struct wbuf *w, const struct tp_proxy_addr *a)
{
    char    ip[INET6_ADDRSTRLEN];
    size_t  i, n;

    if (a->port == 0 || !tp_proxy_addr_valid(a)) {
        return false;
    }
    if (a->family == AF_UNSPEC) {
        n = strlen(a->host);
        for (i = 0; i < n; i++) {
            if (!is_host_char((uint8_t) a->host[i])) {
                return false;
            }
        }
        w_mem(w, a->host, n);
    } else {
        if (inet_ntop(a->family, a->ip, ip, sizeof(ip)) == NULL) {
            return false;
        }
        w_str(w, a->family == AF_INET6 ? "[" : "");
        w_str(w, ip);
        w_str(w, a->family == AF_INET6 ? "]" : "");
    }
    w_str(w, ":");
    w_uint(w, a->port);
    return !w->bad;
}


/* "Proxy-Authorization: Basic base64(user:pass)\r\n" */
static bool
write_basic_auth(struct wbuf *w, const char *user, const char *pass)
{
    uint8_t  cred[255 + 1 + 255];
    char     b64[sizeof(cred) / 3 * 4 + 5];
    size_t   ulen, plen;

    pass = (pass == NULL) ? "" : pass;
    ulen = strnlen(user, 256);
    plen = strnlen(pass, 256);
    if (ulen > 255 || plen > 255 || memchr(user, ':', ulen) != NULL) {
        return false;
    }
    memcpy(cred, user, ulen);
    cred[ulen] = ':';
    memcpy(cred + ulen + 1, pass, plen);
    if (base64_encode(b64, sizeof(b64), cred, ulen + 1 + plen) < 0) {
        return false;
    }
    w_str(w, "Proxy-Authorization: Basic ");
    w_str(w, b64);
    w_str(w, "\r\n");
    return true;
}


int
http_connect_encode(uint8_t *buf, size_t size,
    const struct tp_proxy_addr *target, const char *user, const char *pass,
    const char *headers)
{
    uint8_t      auth[TP_PROXY_ADDR_STRLEN + 2];
    struct wbuf  a = { auth, sizeof(auth), 0, false };
    struct wbuf  w = { buf, size, 0, false };

    if (!write_authority(&a, target) || !headers_valid(headers)) {
        return TP_ERROR;
    }

    w_str(&w, "CONNECT ");
    w_mem(&w, auth, a.n);
    w_str(&w, " HTTP/1.1\r\nHost: ");
    w_mem(&w, auth, a.n);
    w_str(&w, "\r\n");
    if (user != NULL && !write_basic_auth(&w, user, pass)) {
        return TP_ERROR;
    }
    if (headers != NULL) {
        w_str(&w, headers);
    }
    w_str(&w, "\r\n");
    return w_done(&w);
}


/*
 * Progressive check of "HTTP/1.D DDD" on what has arrived, so that a
 * non-HTTP peer fails at once.
 */
static bool
status_prefix_ok(const uint8_t *p, size_t n)
{
    static const char  pat[] = "HTTP/1.D DDD";
    size_t             i;

    for (i = 0; i < n && i < sizeof(pat) - 1; i++) {
        if (pat[i] == 'D' ? !is_digit(p[i]) : p[i] != (uint8_t) pat[i]) {
            return false;
        }
    }
    if (n > 12 && p[12] != ' ' && p[12] != '\r' && p[12] != '\n') {
        return false;
    }
    return true;
}


static int
parse_status_line(const struct line *l, struct http_response *r)
{
    size_t  i, o;

    if (l->n < 12 || !status_prefix_ok(l->p, l->n)) {
        return TP_ERROR;
    }
    r->minor = l->p[7] - '0';
    r->status = (l->p[9] - '0') * 100 + (l->p[10] - '0') * 10
                + (l->p[11] - '0');
    if (r->status < 100 || r->status > 599) {
        return TP_ERROR;
    }
    for (i = 13, o = 0; i < l->n && o < sizeof(r->reason) - 1; i++, o++) {
        r->reason[o] = (l->p[i] >= 0x20 && l->p[i] < 0x7f)
                       ? (char) l->p[i] : '?';
    }
    r->reason[o] = '\0';
    return TP_OK;
}


/* Content-Length value; a repeat must carry the same value. */
static int
parse_content_length(const struct line *v, int64_t *cl)
{
    int64_t  x;
    size_t   i;

    if (v->n == 0 || v->n > 18) {
        return TP_ERROR;
    }
    for (i = 0, x = 0; i < v->n; i++) {
        if (!is_digit(v->p[i])) {
            return TP_ERROR;
        }
        x = x * 10 + (v->p[i] - '0');
    }
    if (*cl >= 0 && *cl != x) {
        return TP_ERROR;
    }
    *cl = x;
    return TP_OK;
}


/*
 * Split "Name: value" into name and trimmed value.  Returns false if the
 * line is not of that form.
 */
static bool
split_header(const struct line *l, struct line *name, struct line *value)
{
    const uint8_t  *colon;
    size_t          i;

    colon = memchr(l->p, ':', l->n);
    if (colon == NULL || colon == l->p) {
        return false;
    }
    name->p = l->p;
    name->n = (size_t) (colon - l->p);
    for (i = 0; i < name->n; i++) {
        if (!is_tchar(name->p[i])) {
            return false;
        }
    }
    value->p = colon + 1;
    value->n = l->n - name->n - 1;
    trim_ows(value);
    return true;
}


/* One response head at buf[off..]: returns its end offset. */
static int
response_one(const uint8_t *buf, size_t len, size_t off,
    struct http_response *r)
{
    struct line  l, name, value;
    size_t       p;
    int          end;

    if (!status_prefix_ok(buf + off, len - off)) {
        return TP_ERROR;
    }
    end = find_head_end(buf, len, off);
    if (end < 0) {
        return end;
    }
    p = off;
    next_line(buf, end, &p, &l);
    if (parse_status_line(&l, r) != TP_OK) {
        return TP_ERROR;
    }
    for (next_line(buf, end, &p, &l); l.n > 0; next_line(buf, end, &p, &l)) {
        if (r->status / 100 == 2 || !split_header(&l, &name, &value)) {
            continue;           /* 2xx framing is ignored; bad lines too */
        }
        if (ci_eq(name.p, name.n, "content-length")
            && parse_content_length(&value, &r->content_length) != TP_OK)
        {
            return TP_ERROR;
        }
        if (ci_eq(name.p, name.n, "transfer-encoding")) {
            r->has_te = true;
        }
    }
    return end;
}


int
http_response_decode(const uint8_t *buf, size_t len,
    struct http_response *r)
{
    size_t  off;
    int     end, interim;

    off = 0;
    for (interim = 0; ; interim++) {
        memset(r, 0, sizeof(*r));
        r->content_length = -1;
        r->interim = interim;
        end = response_one(buf, len, off, r);
        if (end < 0 || r->status >= 200) {
            return end;
        }
        off = (size_t) end;
    }
}


/* Proxy-Authorization value: "Basic" 1*SP token68. */
static void
parse_basic(const struct line *v, struct http_request *r)
{
    uint8_t         dec[255 + 1 + 255];
    const uint8_t  *colon, *p;
    size_t          n, ulen;
    int             dl;

    memset(r->user, 0, sizeof(r->user));
    memset(r->pass, 0, sizeof(r->pass));
    r->auth = HTTP_AUTH_INVALID;
    if (v->n < 7 || !ci_eq(v->p, 5, "basic") || v->p[5] != ' ') {
        return;
    }
    for (p = v->p + 6, n = v->n - 6; n > 0 && *p == ' '; p++, n--) {
        /* skip spaces */
    }
    dl = base64_decode(dec, sizeof(dec), p, n);
    if (dl < 0 || memchr(dec, '\0', dl) != NULL
        || (colon = memchr(dec, ':', dl)) == NULL)
    {
        return;
    }
    ulen = (size_t) (colon - dec);
    if (ulen > 255 || dl - ulen - 1 > 255) {
        return;
    }
    memcpy(r->user, dec, ulen);
    memcpy(r->pass, colon + 1, dl - ulen - 1);
    r->auth = HTTP_AUTH_BASIC;
}


/* One strict request header line. */
static int
request_header(const struct line *l, struct http_request *r)
{
    struct line  name, value;
    size_t       i;

    for (i = 0; i < l->n; i++) {
        if ((l->p[i] < 0x20 && l->p[i] != '\t') || l->p[i] == 0x7f) {
            return TP_ERROR;
        }
    }
    if (!split_header(l, &name, &value)) {
        return TP_ERROR;        /* also obs-fold and "Name :" */
    }
    if (ci_eq(name.p, name.n, "content-length")) {
        return parse_content_length(&value, &r->content_length);
    }
    if (ci_eq(name.p, name.n, "transfer-encoding")) {
        r->has_te = true;
    } else if (ci_eq(name.p, name.n, "proxy-authorization")) {
        parse_basic(&value, r);
    }
    return TP_OK;
}


/*
 * Skip empty lines before a request line (RFC 9112 2.2).  Returns the
 * offset of the first other byte, or TP_AGAIN / TP_ERROR.
 */
static int
skip_empty_lines(const uint8_t *buf, size_t len)
{
    size_t  off;

    for (off = 0; off < len && off < HTTP_WIRE_HEAD_MAX; ) {
        if (buf[off] == '\n') {
            off++;
        } else if (buf[off] != '\r') {
            return (int) off;
        } else if (off + 1 >= len) {
            return TP_AGAIN;
        } else if (buf[off + 1] == '\n') {
            off += 2;
        } else {
            return TP_ERROR;
        }
    }
    return (off >= HTTP_WIRE_HEAD_MAX) ? TP_ERROR : TP_AGAIN;
}


/* Progressive check of the method token on what has arrived. */
static bool
method_prefix_ok(const uint8_t *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n && i < HTTP_METHOD_MAX; i++) {
        if (p[i] == ' ') {
            return i > 0;
        }
        if (!is_tchar(p[i])) {
            return false;
        }
    }
    return i < HTTP_METHOD_MAX;
}


/* METHOD SP request-target SP HTTP/1.D */
static int
parse_request_line(const uint8_t *buf, const struct line *l,
    struct http_request *r)
{
    const uint8_t  *sp1, *sp2;
    size_t          i, mlen;

    sp1 = memchr(l->p, ' ', l->n);
    if (sp1 == NULL || !method_prefix_ok(l->p, l->n)) {
        return TP_ERROR;
    }
    mlen = (size_t) (sp1 - l->p);
    sp2 = memchr(sp1 + 1, ' ', l->n - mlen - 1);
    if (sp2 == NULL || sp2 == sp1 + 1) {
        return TP_ERROR;
    }
    for (i = 1; sp1 + i < sp2; i++) {
        if (sp1[i] <= 0x20 || sp1[i] >= 0x7f) {
            return TP_ERROR;
        }
    }
    if (l->p + l->n - sp2 != 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0
        || !is_digit(sp2[8]))
    {
        return TP_ERROR;
    }
    memcpy(r->method, l->p, mlen);
    r->method[mlen] = '\0';
    r->connect = (mlen == 7 && memcmp(l->p, "CONNECT", 7) == 0);
    r->minor = sp2[8] - '0';
    r->target_off = (size_t) (sp1 + 1 - buf);
    r->target_len = (size_t) (sp2 - sp1 - 1);
    return TP_OK;
}


/* Fill addr and path from the request-target. */
static int
resolve_target(const uint8_t *buf, struct http_request *r)
{
    const uint8_t  *t, *auth;
    size_t          n, skip, alen;
    uint16_t        dflt;

    t = buf + r->target_off;
    n = r->target_len;
    if (r->connect) {
        r->has_addr = parse_authority(t, n, 0, &r->addr);
        return r->has_addr ? TP_OK : TP_ERROR;
    }

    r->path_off = r->target_off;
    r->path_len = n;
    if (n > 7 && ci_eq(t, 7, "http://")) {
        skip = 7;
        dflt = 80;
    } else if (n > 8 && ci_eq(t, 8, "https://")) {
        skip = 8;
        dflt = 443;
    } else {
        return TP_OK;
    }
    auth = t + skip;
    for (alen = 0; skip + alen < n && !strchr("/?#", auth[alen]); alen++) {
        /* authority ends at path, query or fragment */
    }
    r->path_off = r->target_off + skip + alen;
    r->path_len = n - skip - alen;
    r->has_addr = parse_authority(auth, alen, dflt, &r->addr);
    if (!r->has_addr) {
        memset(&r->addr, 0, sizeof(r->addr));
    }
    return TP_OK;
}


int
http_request_decode(const uint8_t *buf, size_t len, struct http_request *r)
{
    struct line  l;
    size_t       p;
    int          start, end;

    memset(r, 0, sizeof(*r));
    r->content_length = -1;
    start = skip_empty_lines(buf, len);
    if (start < 0) {
        return start;
    }
    if (!method_prefix_ok(buf + start, len - start)) {
        return TP_ERROR;
    }
    end = find_head_end(buf, len, (size_t) start);
    if (end < 0) {
        return end;
    }

    p = (size_t) start;
    next_line(buf, end, &p, &l);
    if (parse_request_line(buf, &l, r) != TP_OK) {
        return TP_ERROR;
    }
    r->headers_off = p;
    for (next_line(buf, end, &p, &l); l.n > 0; next_line(buf, end, &p, &l)) {
        if (request_header(&l, r) != TP_OK) {
            return TP_ERROR;
        }
    }
    if (r->has_te && r->content_length >= 0) {
        return TP_ERROR;
    }
    if (resolve_target(buf, r) != TP_OK) {
        return TP_ERROR;
    }
    return end;
}


const char *
http_status_reason(int status)
{
    static const struct {
        int          status;
        const char  *reason;
    } table[] = {
        { 100, "Continue" },
        { 200, "OK" },
        { 204, "No Content" },
        { 301, "Moved Permanently" },
        { 302, "Found" },
        { 304, "Not Modified" },
        { 400, "Bad Request" },
        { 401, "Unauthorized" },
        { 403, "Forbidden" },
        { 404, "Not Found" },
        { 405, "Method Not Allowed" },
        { 407, "Proxy Authentication Required" },
        { 408, "Request Timeout" },
        { 413, "Content Too Large" },
        { 414, "URI Too Long" },
        { 429, "Too Many Requests" },
        { 431, "Request Header Fields Too Large" },
        { 500, "Internal Server Error" },
        { 501, "Not Implemented" },
        { 502, "Bad Gateway" },
        { 503, "Service Unavailable" },
        { 504, "Gateway Timeout" },
        { 505, "HTTP Version Not Supported" },
    };
    size_t  i;

    for (i = 0; i < nitems(table); i++) {
        if (table[i].status == status) {
            return table[i].reason;
        }
    }
    return "Unknown";
}


int
http_response_encode(uint8_t *buf, size_t size, int status,
    const char *reason, const char *headers)
{
    struct wbuf     w = { buf, size, 0, false };
    const uint8_t  *p;

    if (status < 100 || status > 599 || !headers_valid(headers)) {
        return TP_ERROR;
    }
    reason = (reason == NULL) ? http_status_reason(status) : reason;
    for (p = (const uint8_t *) reason; *p != '\0'; p++) {
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) {
            return TP_ERROR;
        }
    }

    w_str(&w, "HTTP/1.1 ");
    w_uint(&w, (unsigned) status);
    w_str(&w, " ");
    w_str(&w, reason);
    w_str(&w, "\r\n");
    if (headers != NULL) {
        w_str(&w, headers);
    }
    if (status >= 300 && status != 304) {
        w_str(&w, "Content-Length: 0\r\n");
    }
    w_str(&w, "\r\n");
    return w_done(&w);
}
