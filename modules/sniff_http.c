/*
 * sniff_http.c - find the target host of the first HTTP/1.x request on a
 * connection (request-target or Host header, RFC 9112 §3, RFC 9110 §7.2) and
 * recognise the h2 prior-knowledge preface. Pure and stateless: looks at no
 * more than SNIFF_HTTP_CAP bytes and never allocates.
 */
#include "sniff_wire.h"

#include <arpa/inet.h>
#include <strings.h>

static const char *const http_methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
    "PATCH", "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK",
    "UNLOCK",
};

static const char http_h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* RFC 9110 §5.6.2 tchar, the characters of a header field name. */
static bool
http_is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z')
        || (c >= 'A' && c <= 'Z'))
    {
        return true;
    }
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
http_prefix_nocase(const uint8_t *p, size_t n, const char *s)
{
    size_t  sl = strlen(s);

    return n >= sl && strncasecmp((const char *) p, s, sl) == 0;
}

/*
 * Match a method token followed by SP. Returns 1 (and *mlen) on a match, 0
 * when buf is still a prefix of some "METHOD ", -1 when it cannot be one.
 */
static int
http_match_method(const uint8_t *buf, size_t len, size_t *mlen)
{
    size_t  i, n;
    int     again = 0;

    for (i = 0; i < nitems(http_methods); i++) {
        n = strlen(http_methods[i]);
        if (len > n) {
            if (memcmp(buf, http_methods[i], n) == 0 && buf[n] == ' ') {
                *mlen = n;
                return 1;
            }
        } else if (memcmp(buf, http_methods[i], len) == 0) {
            again = 1;
        }
    }
    return again ? 0 : -1;
}

/* Port digits: 1..5 of them, value 1..65535. */
static bool
http_parse_port(const uint8_t *p, size_t n, uint16_t *port)
{
    unsigned long   v = 0;
    size_t          i;

    if (n == 0 || n > 5) {
        return false;
    }
    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
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
 * Split `uri-host [":" port]` into host and port text. A bracketed IPv6
 * literal loses its brackets; an unbracketed one is rejected.
 */
static bool
http_split_authority(const uint8_t *p, size_t n, const uint8_t **h,
    size_t *hl, const uint8_t **port, size_t *pl)
{
    const uint8_t   *c, *end = p + n;

    *port = NULL;
    *pl = 0;
    if (n > 0 && p[0] == '[') {
        c = memchr(p, ']', n);
        if (c == NULL) {
            return false;
        }
        *h = p + 1;
        *hl = (size_t) (c - *h);
        c++;
        if (c < end && *c != ':') {
            return false;
        }
    } else {
        c = memchr(p, ':', n);
        if (c != NULL && memchr(c + 1, ':', (size_t) (end - c - 1)) != NULL) {
            return false;
        }
        *h = p;
        *hl = c != NULL ? (size_t) (c - p) : n;
    }
    if (c != NULL && c < end) {
        *port = c + 1;
        *pl = (size_t) (end - c - 1);
    }
    return true;
}

/*
 * Fill r->host/r->port from an authority. need_port is set for CONNECT's
 * authority-form. Returns FOUND or NONE (r->host left empty).
 */
static enum tp_sniff_rc
http_authority(const uint8_t *p, size_t n, bool need_port,
    struct tp_sniff_result *r)
{
    const uint8_t   *h, *port;
    size_t           hl, pl;
    struct in6_addr  a6;
    bool             v6 = n > 0 && p[0] == '[';

    if (!http_split_authority(p, n, &h, &hl, &port, &pl)) {
        return TP_SNIFF_NONE;
    }
    if (hl == 0 || hl >= sizeof(r->host)) {
        return TP_SNIFF_NONE;
    }
    if (port != NULL ? !http_parse_port(port, pl, &r->port) : need_port) {
        r->port = 0;
        return TP_SNIFF_NONE;
    }
    memcpy(r->host, h, hl);
    r->host[hl] = '\0';
    if ((v6 && inet_pton(AF_INET6, r->host, &a6) != 1)
        || !sniff_host_normalise(r->host))
    {
        r->host[0] = '\0';
        r->port = 0;
        return TP_SNIFF_NONE;
    }
    return TP_SNIFF_FOUND;
}

/* Host from an absolute-form target `scheme://authority[/?#...]`. */
static enum tp_sniff_rc
http_absolute(const uint8_t *t, size_t n, struct tp_sniff_result *r)
{
    size_t  skip, i;

    skip = http_prefix_nocase(t, n, "http://") ? 7 : 8;
    for (i = skip; i < n; i++) {
        if (t[i] == '/' || t[i] == '?' || t[i] == '#') {
            break;
        }
        if (t[i] == '@') {
            return TP_SNIFF_NONE;   /* userinfo: ambiguous, refuse */
        }
    }
    return http_authority(t + skip, i - skip, false, r);
}

/*
 * Validate `method SP target SP HTTP/1.x` (line without its line ending).
 * Returns FOUND/NONE when the target decides, AGAIN to go on to the headers.
 */
static enum tp_sniff_rc
http_request_line(const uint8_t *line, size_t n, size_t mlen,
    struct tp_sniff_result *r)
{
    const uint8_t   *t = line + mlen + 1, *sp, *end = line + n;
    size_t           tl, i;

    sp = memchr(t, ' ', (size_t) (end - t));
    if (sp == NULL || sp == t) {
        return TP_SNIFF_NONE;
    }
    tl = (size_t) (sp - t);
    for (i = 0; i < tl; i++) {
        if (t[i] <= 0x20 || t[i] >= 0x7f) {
            return TP_SNIFF_NONE;
        }
    }
    if ((size_t) (end - sp - 1) != 8
        || (memcmp(sp + 1, "HTTP/1.1", 8) != 0
            && memcmp(sp + 1, "HTTP/1.0", 8) != 0))
    {
        return TP_SNIFF_NONE;
    }
    strcpy(r->proto, "http");
    if (mlen == 7 && memcmp(line, "CONNECT", 7) == 0) {
        return http_authority(t, tl, true, r);
    }
    if (http_prefix_nocase(t, tl, "http://")
        || http_prefix_nocase(t, tl, "https://"))
    {
        return http_absolute(t, tl, r);
    }
    return TP_SNIFF_AGAIN;
}

/*
 * Next line in [p, end): returns its start, sets *n to its length without
 * CRLF or bare LF and *next past it; NULL if no line end is there yet.
 */
static const uint8_t *
http_next_line(const uint8_t *p, const uint8_t *end, size_t *n,
    const uint8_t **next)
{
    const uint8_t   *lf = memchr(p, '\n', (size_t) (end - p));

    if (lf == NULL) {
        return NULL;
    }
    *next = lf + 1;
    *n = (size_t) (lf - p);
    if (*n > 0 && p[*n - 1] == '\r') {
        (*n)--;
    }
    return p;
}

/* Host value between OWS: trimmed, then parsed as an authority. */
static enum tp_sniff_rc
http_host_value(const uint8_t *v, size_t n, struct tp_sniff_result *r)
{
    while (n > 0 && (v[0] == ' ' || v[0] == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
        n--;
    }
    return http_authority(v, n, false, r);
}

/*
 * Header block from p to the empty line. Exactly one Host line gives the
 * host; none, several, folded lines or "name :" give NONE.
 */
static enum tp_sniff_rc
http_headers(const uint8_t *p, const uint8_t *end, bool capped,
    struct tp_sniff_result *r)
{
    const uint8_t   *line, *next, *colon, *hv = NULL;
    size_t           n, hn = 0, i;
    unsigned         nhost = 0;

    for (;;) {
        line = http_next_line(p, end, &n, &next);
        if (line == NULL) {
            return capped ? TP_SNIFF_NONE : TP_SNIFF_AGAIN;
        }
        if (n == 0) {
            break;
        }
        colon = memchr(line, ':', n);
        if (colon == NULL || colon == line) {
            return TP_SNIFF_NONE;
        }
        for (i = 0; line + i < colon; i++) {
            if (!http_is_tchar(line[i])) {
                return TP_SNIFF_NONE;   /* obs-fold, "Host :", junk */
            }
        }
        if (colon - line == 4
            && strncasecmp((const char *) line, "host", 4) == 0)
        {
            nhost++;
            hv = colon + 1;
            hn = n - 5;
        }
        p = next;
    }
    if (nhost != 1) {
        return TP_SNIFF_NONE;
    }
    return http_host_value(hv, hn, r);
}

/* h2 preface: -1 not it, else AGAIN (partial) or NONE with proto "http2". */
static int
http_h2(const uint8_t *buf, size_t len, struct tp_sniff_result *r)
{
    size_t  plen = sizeof(http_h2_preface) - 1;

    if (memcmp(buf, http_h2_preface, len < plen ? len : plen) != 0) {
        return -1;
    }
    if (len < plen) {
        return TP_SNIFF_AGAIN;
    }
    strcpy(r->proto, "http2");
    return TP_SNIFF_NONE;
}

enum tp_sniff_rc
sniff_http(const uint8_t *buf, size_t len, struct tp_sniff_result *r)
{
    const uint8_t       *line, *next, *end;
    size_t               n, mlen = 0;
    bool                 capped = len >= SNIFF_HTTP_CAP;
    int                  m;
    enum tp_sniff_rc     rc;

    memset(r, 0, sizeof(*r));
    if (capped) {
        len = SNIFF_HTTP_CAP;
    }
    if (len == 0) {
        return TP_SNIFF_AGAIN;
    }
    m = http_h2(buf, len, r);
    if (m >= 0) {
        return (enum tp_sniff_rc) m;
    }
    m = http_match_method(buf, len, &mlen);
    if (m <= 0) {
        return m == 0 ? TP_SNIFF_AGAIN : TP_SNIFF_NONE;
    }
    end = buf + len;
    line = http_next_line(buf, end, &n, &next);
    if (line == NULL) {
        return capped ? TP_SNIFF_NONE : TP_SNIFF_AGAIN;
    }
    rc = http_request_line(line, n, mlen, r);
    if (rc != TP_SNIFF_AGAIN) {
        return rc;
    }
    return http_headers(next, end, capped, r);
}
