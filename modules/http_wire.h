/*
 * http_wire.h - HTTP/1.x proxy messages: the CONNECT request a client sends,
 * the response head it parses, and for a server the request head it parses
 * (CONNECT or absolute-form) and the response head it sends.  Pure: no I/O,
 * no allocation; the connector/handler own buffers, timeouts and policy.
 */
#ifndef TP_HTTP_WIRE_H
#define TP_HTTP_WIRE_H

/*
 * Encoders return the length written (> 0, no NUL counted), or TP_ERROR if
 * an input is invalid or size is too small.  Decoders return the length of
 * the head including its empty line (> 0; the bytes after it are tunnel or
 * body data), TP_AGAIN if the head is not complete yet, or TP_ERROR if it
 * is malformed or longer than HTTP_WIRE_HEAD_MAX; they never read past len.
 */

#include "../src/tproxyd.h"
#include "proxy_addr.h"

#define HTTP_WIRE_HEAD_MAX      8192    /* cap on a whole head (with 1xx) */
#define HTTP_METHOD_MAX         32      /* method token, NUL included */
#define HTTP_REASON_MAX         128     /* reason copy, NUL included */

enum http_auth {
    HTTP_AUTH_NONE = 0,         /* no Proxy-Authorization */
    HTTP_AUTH_BASIC,            /* Basic, decoded into user/pass */
    HTTP_AUTH_INVALID,          /* other scheme or undecodable Basic */
};

struct http_response {
    int         minor;          /* HTTP/1.<minor> */
    int         status;         /* 100..599 of the final response */
    char        reason[HTTP_REASON_MAX];  /* printable copy, maybe cut */
    int         interim;        /* number of 1xx responses skipped */
    int64_t     content_length; /* non-2xx only; -1 if absent */
    bool        has_te;         /* non-2xx only: Transfer-Encoding sent */
};

struct http_request {
    char        method[HTTP_METHOD_MAX];    /* token as sent */
    int         minor;          /* HTTP/1.<minor> */
    bool        connect;        /* method is CONNECT */
    size_t      target_off;     /* request-target is buf[target_off..] */
    size_t      target_len;
    size_t      path_off;       /* origin-form part of the target ("" for */
    size_t      path_len;       /*   CONNECT; may be "" or "?q" otherwise) */
    size_t      headers_off;    /* first header line, after request line */
    bool        has_addr;       /* addr is set (CONNECT, http(s)://) */
    struct tp_proxy_addr addr;  /* target host:port */
    enum http_auth auth;        /* Proxy-Authorization */
    char        user[256];      /* NUL-terminated, if auth is BASIC */
    char        pass[256];
    int64_t     content_length; /* -1 if absent */
    bool        has_te;         /* Transfer-Encoding present */
};

/*
 * Write "CONNECT host:port HTTP/1.1", Host with the same authority, an
 * optional "Proxy-Authorization: Basic base64(user:pass)" (user non-NULL;
 * pass NULL is ""), then the extra header lines, then the empty line.
 * target: IPv4, IPv6 (bracketed) or a name of ALPHA/DIGIT/"-._~"; port
 * 1..65535.  user must not hold ':', user and pass are at most 255 bytes.
 * headers: NULL, or complete "Name: value\r\n" lines.
 */
int http_connect_encode(uint8_t *buf, size_t size,
    const struct tp_proxy_addr *target, const char *user, const char *pass,
    const char *headers);

/*
 * Parse a response head: "HTTP/1.x DDD [reason]" (LF or CRLF lines), the
 * header lines and the empty line.  1xx responses before the final one
 * are skipped; the return value covers them.  Anything not starting with
 * "HTTP/1." is TP_ERROR as soon as it is seen.  Any 2xx is success, and
 * its Content-Length / Transfer-Encoding are ignored (RFC 9112 6.3); for
 * other statuses they are recorded (conflicting or bad Content-Length is
 * TP_ERROR).  Malformed header lines of a response are skipped.
 */
int http_response_decode(const uint8_t *buf, size_t len,
    struct http_response *r);

/*
 * Parse a request head for a proxy server.  Leading empty lines are
 * skipped.  CONNECT needs an authority-form target host:port or
 * [v6]:port (else TP_ERROR).  Other methods: absolute-form http:// or
 * https:// targets set addr (default port 80 / 443); origin-form and
 * others leave has_addr false, for the server to reject or forward.
 * Header lines are strict (RFC 9112): no obs-fold, no space before ':',
 * no control bytes; a bad or duplicate-conflicting Content-Length, or
 * Content-Length together with Transfer-Encoding, is TP_ERROR.
 * Offsets are from buf.
 */
int http_request_decode(const uint8_t *buf, size_t len,
    struct http_request *r);

/*
 * Write "HTTP/1.1 DDD reason", the extra header lines and the empty line.
 * status 100..599; reason NULL picks the standard phrase.  The response
 * carries no body: for status >= 300 (except 304) "Content-Length: 0" is
 * added, so headers must not hold Content-Length / Transfer-Encoding.
 * headers: NULL, or complete "Name: value\r\n" lines (e.g. a 407's
 * "Proxy-Authenticate: Basic realm=\"x\"\r\n").
 */
int http_response_encode(uint8_t *buf, size_t size, int status,
    const char *reason, const char *headers);

/* The standard reason phrase for a status, or "Unknown". */
const char *http_status_reason(int status);

#endif
