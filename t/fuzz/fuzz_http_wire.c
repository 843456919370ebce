/*
 * fuzz_http_wire.c - libFuzzer target for modules/http_wire.c: the response
 * parser (client) and request parser (server) get the raw input and a
 * token-expanded copy; checks the contract, offsets, and that a decoded
 * CONNECT / response re-encodes and decodes back to the same values.
 * Build: clang -fsanitize=fuzzer,address,undefined -I src -I modules
 */
#include "../../src/tproxyd.h"

#include <stdlib.h>

#include "../../modules/proxy_addr.h"
#include "../../modules/http_wire.h"


static void
require(bool ok)
{
    if (!ok) {
        abort();
    }
}


static void
check_range(int rc, size_t size)
{
    require(rc == TP_AGAIN || rc == TP_ERROR
            || (rc > 0 && (size_t) rc <= size && rc <= HTTP_WIRE_HEAD_MAX));
}


static void
fuzz_response(const uint8_t *data, size_t size)
{
    struct http_response  r, d;
    uint8_t               out[HTTP_REASON_MAX + 64];
    int                   rc, n;

    rc = http_response_decode(data, size, &r);
    check_range(rc, size);
    if (rc <= 0) {
        return;
    }
    require(http_response_decode(data, (size_t) rc - 1, &d) == TP_AGAIN);
    require(r.status >= 200 && r.status <= 599);
    require(strlen(r.reason) < sizeof(r.reason));
    require(r.status / 100 != 2 || (r.content_length == -1 && !r.has_te));

    n = http_response_encode(out, sizeof(out), r.status, r.reason, NULL);
    require(n > 0);
    require(http_response_decode(out, (size_t) n, &d) == n);
    require(d.status == r.status && d.minor == 1 && d.interim == 0);
    require(strcmp(d.reason, r.reason) == 0);
}


/* A decoded CONNECT must survive encode -> decode unchanged. */
static void
connect_round_trip(const struct http_request *r)
{
    struct http_request  d;
    uint8_t              out[2048];
    int                  n;

    n = http_connect_encode(out, sizeof(out), &r->addr,
        r->auth == HTTP_AUTH_BASIC ? r->user : NULL, r->pass, NULL);
    require(n > 0);
    require(http_request_decode(out, (size_t) n, &d) == n);
    require(d.connect && d.has_addr);
    require(tp_proxy_addr_equal(&d.addr, &r->addr));
    if (r->auth == HTTP_AUTH_BASIC) {
        require(d.auth == HTTP_AUTH_BASIC);
        require(strcmp(d.user, r->user) == 0);
        require(strcmp(d.pass, r->pass) == 0);
    } else {
        require(d.auth == HTTP_AUTH_NONE);
    }
}


static void
fuzz_request(const uint8_t *data, size_t size)
{
    struct http_request  r, d;
    int                  rc;

    rc = http_request_decode(data, size, &r);
    check_range(rc, size);
    if (rc <= 0) {
        return;
    }
    require(http_request_decode(data, (size_t) rc - 1, &d) == TP_AGAIN);
    require(r.method[0] != '\0');
    require(r.target_len > 0 && r.target_off + r.target_len <= (size_t) rc);
    require(r.path_off + r.path_len <= (size_t) rc);
    require(r.headers_off > r.target_off && r.headers_off <= (size_t) rc);
    require(!(r.has_te && r.content_length >= 0));
    require(!r.connect || r.has_addr);
    if (r.has_addr) {
        require(tp_proxy_addr_valid(&r.addr) && r.addr.port != 0);
    }
    if (r.connect) {
        connect_round_trip(&r);
    }
}


/*
 * Bytes 0xf0..0xff stand for protocol strings, so that the fuzzer reaches
 * deep header handling without a dictionary.  Returns a heap copy of
 * exactly *n bytes (ASan sees any over-read), or NULL.
 */
static uint8_t *
expand(const uint8_t *data, size_t size, size_t *n)
{
    static const char *const  tok[16] = {
        "HTTP/1.1 ", "CONNECT ", "\r\n", "\r\n\r\n", "Content-Length: ",
        "Transfer-Encoding: chunked", "Proxy-Authorization: Basic ",
        "200 OK", "100 Continue", "407 ", "http://", "https://",
        "[2001:db8::1]:", ":443", " HTTP/1.0", "dTpw",
    };
    uint8_t                  *out;
    size_t                    i, o;

    for (i = 0, o = 0; i < size; i++) {
        o += (data[i] >= 0xf0) ? strlen(tok[data[i] - 0xf0]) : 1;
    }
    out = malloc(o ? o : 1);
    if (out == NULL) {
        return NULL;
    }
    for (i = 0, o = 0; i < size; i++) {
        if (data[i] >= 0xf0) {
            memcpy(out + o, tok[data[i] - 0xf0], strlen(tok[data[i] - 0xf0]));
            o += strlen(tok[data[i] - 0xf0]);
        } else {
            out[o++] = data[i];
        }
    }
    *n = o;
    return out;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t  *x;
    size_t    n;

    fuzz_response(data, size);
    fuzz_request(data, size);

    x = expand(data, size, &n);
    if (x != NULL) {
        fuzz_response(x, n);
        fuzz_request(x, n);
        free(x);
    }
    return 0;
}
