/*
 * fuzz_socks5_wire.c - libFuzzer target for modules/socks5_wire.c: feeds the
 * input to every SOCKS5/RFC 1929/SOCKS4 decoder (client reply parsers and
 * server request parsers) and checks the contract: result in range, the
 * byte before the end is TP_AGAIN, and what decodes re-encodes to the same
 * bytes.  Build: clang -fsanitize=fuzzer,address,undefined -I src -I modules
 */
#include "../../src/tproxyd.h"

#include <stdlib.h>

#include "../../modules/proxy_addr.h"
#include "../../modules/socks5_wire.h"

typedef int (*decode_fn)(const uint8_t *buf, size_t len);


static void
require(bool ok)
{
    if (!ok) {
        abort();
    }
}


/* Return-value contract, plus: a shorter input is incomplete. */
static int
check_decode(decode_fn f, const uint8_t *data, size_t size)
{
    int  rc;

    rc = f(data, size);
    require(rc == TP_AGAIN || rc == TP_ERROR
            || (rc > 0 && (size_t) rc <= size));
    if (rc > 0) {
        require(f(data, (size_t) rc - 1) == TP_AGAIN);
        require(f(data, (size_t) rc / 2) == TP_AGAIN);
    }
    return rc;
}


static int
dec_greeting(const uint8_t *b, size_t n)
{
    struct socks5_greeting  g;
    uint8_t                 out[SOCKS5_GREETING_MAX];
    int                     rc;

    rc = socks5_greeting_decode(b, n, &g);
    if (rc > 0) {
        require(socks5_greeting_encode(out, sizeof(out), &g) == rc);
        require(memcmp(out, b, (size_t) rc) == 0);
    }
    return rc;
}


static int
dec_method(const uint8_t *b, size_t n)
{
    uint8_t  m, out[2];
    int      rc;

    rc = socks5_method_decode(b, n, &m);
    if (rc > 0) {
        require(socks5_method_encode(out, sizeof(out), m) == 2);
        require(memcmp(out, b, 2) == 0);
    }
    return rc;
}


static int
dec_auth(const uint8_t *b, size_t n)
{
    struct socks5_auth  a;
    uint8_t             out[SOCKS5_AUTH_MAX];
    int                 rc;

    rc = socks5_auth_decode(b, n, &a);
    if (rc > 0) {
        require(socks5_auth_encode(out, sizeof(out), &a) == rc);
        require(memcmp(out, b, (size_t) rc) == 0);
    }
    return rc;
}


static int
dec_auth_status(const uint8_t *b, size_t n)
{
    uint8_t  s, out[2];
    int      rc;

    rc = socks5_auth_status_decode(b, n, &s);
    if (rc > 0) {
        require(socks5_auth_status_encode(out, sizeof(out), s) == 2);
        require(memcmp(out, b, 2) == 0);
    }
    return rc;
}


/* Request and reply re-encode with RSV = 0. */
static void
same_but_rsv(const uint8_t *out, const uint8_t *b, int rc)
{
    require(out[2] == 0);
    require(memcmp(out, b, 2) == 0);
    require(memcmp(out + 3, b + 3, (size_t) rc - 3) == 0);
}


static int
dec_request(const uint8_t *b, size_t n)
{
    struct socks5_request  r;
    uint8_t                out[SOCKS5_REQUEST_MAX];
    int                    rc, rep;

    rc = socks5_request_decode(b, n, &r);
    if (rc > 0) {
        require(tp_proxy_addr_valid(&r.addr));
        require(socks5_request_encode(out, sizeof(out), &r) == rc);
        same_but_rsv(out, b, rc);
    } else if (rc == TP_ERROR) {
        rep = socks5_request_error_rep(b, n);
        require(rep == -1 || rep == SOCKS5_REP_GENERAL_FAILURE
                || rep == SOCKS5_REP_ATYP_UNSUPPORTED);
    }
    return rc;
}


static int
dec_reply(const uint8_t *b, size_t n)
{
    struct socks5_reply  r;
    uint8_t              out[SOCKS5_REPLY_MAX];
    int                  rc;

    rc = socks5_reply_decode(b, n, &r);
    if (rc > 0) {
        require(socks5_reply_encode(out, sizeof(out), &r) == rc);
        same_but_rsv(out, b, rc);
    }
    return rc;
}


static int
dec_udp(const uint8_t *b, size_t n)
{
    struct socks5_udp_header  h;
    uint8_t                   out[SOCKS5_UDP_HEADER_MAX];
    int                       rc;

    rc = socks5_udp_decode(b, n, &h);
    if (rc > 0) {
        require(socks5_udp_encode(out, sizeof(out), &h) == rc);
        require(memcmp(out, b, (size_t) rc) == 0);
    }
    return rc;
}


static int
dec_s4_request(const uint8_t *b, size_t n)
{
    struct socks4_request  r;
    uint8_t                out[SOCKS4_REQUEST_MAX];
    int                    rc;

    rc = socks4_request_decode(b, n, &r);
    if (rc > 0) {
        require(socks4_request_encode(out, sizeof(out), &r) == rc);
        /* SOCKS4a re-encodes DSTIP as 0.0.0.1, whatever x was sent. */
        require(memcmp(out, b, 4) == 0);
        require(r.addr.family == AF_UNSPEC || memcmp(out + 4, b + 4, 4) == 0);
        require(memcmp(out + 8, b + 8, (size_t) rc - 8) == 0);
    }
    return rc;
}


static int
dec_s4_reply(const uint8_t *b, size_t n)
{
    struct socks4_reply  r;
    uint8_t              out[SOCKS4_REPLY_LEN];
    int                  rc;

    rc = socks4_reply_decode(b, n, &r);
    if (rc > 0) {
        require(socks4_reply_encode(out, sizeof(out), &r) == rc);
        require(memcmp(out, b, (size_t) rc) == 0);
    }
    return rc;
}


static void
fuzz_all(const uint8_t *data, size_t size)
{
    static const decode_fn  fns[] = {
        dec_greeting, dec_method, dec_auth, dec_auth_status, dec_request,
        dec_reply, dec_udp, dec_s4_request, dec_s4_reply,
    };
    size_t                  i;

    for (i = 0; i < nitems(fns); i++) {
        check_decode(fns[i], data, size);
    }
}


/*
 * Also try the input with one length byte made consistent with the size
 * (NMETHODS / ULEN at [1], a request's name length at [4]), so that the
 * tails are reached without a dictionary.  The copy is exactly size bytes.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t  *x;

    fuzz_all(data, size);
    if (size < 8 || (x = malloc(size)) == NULL) {
        return 0;
    }
    memcpy(x, data, size);
    x[1] = (uint8_t) (size - 2);
    fuzz_all(x, size);
    memcpy(x, data, size);
    x[4] = (uint8_t) (size - 7);
    fuzz_all(x, size);
    free(x);
    return 0;
}
