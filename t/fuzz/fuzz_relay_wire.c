/*
 * fuzz_relay_wire.c - libFuzzer target for modules/relay_wire.c: feeds the
 * input to the request parser (server side, strict), the response parser
 * (client side, lenient), both UDP framings and the stream readers' frame
 * size (relay_udp_frame_need); checks the contract and
 * that decoded messages re-encode and decode back to the same values.
 * Build: clang -fsanitize=fuzzer,address,undefined -I src -I modules
 */
#include "../../src/tproxyd.h"

#include <stdlib.h>

#include "../../modules/proxy_addr.h"
#include "../../modules/relay_wire.h"


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
            || (rc > 0 && (size_t) rc <= size));
}


static void
same_features(const struct relay_features *a, const struct relay_features *b)
{
    require(a->present == b->present);
    if (a->present & RELAY_HAS_USERAUTH) {
        require(strcmp(a->user, b->user) == 0);
        require(strcmp(a->pass, b->pass) == 0);
    }
    if (a->present & RELAY_HAS_ADDR) {
        require(tp_proxy_addr_equal(&a->addr, &b->addr));
    }
    if (a->present & RELAY_HAS_TUNNEL) {
        require(memcmp(&a->tunnel, &b->tunnel, sizeof(a->tunnel)) == 0);
    }
    if (a->present & RELAY_HAS_NETWORK) {
        require(a->network == b->network);
    }
}


/* GOST's empty-name Addr decodes but does not encode. */
static bool
encodable(const struct relay_features *f)
{
    return !(f->present & RELAY_HAS_ADDR) || tp_proxy_addr_valid(&f->addr);
}


static void
fuzz_request(const uint8_t *data, size_t size)
{
    struct relay_request  r, d;
    uint8_t               out[RELAY_MSG_MAX];
    int                   rc, n;

    rc = relay_request_decode(data, size, &r);
    check_range(rc, size);
    if (rc <= 0) {
        return;
    }
    require(relay_request_decode(data, (size_t) rc - 1, &d) == TP_AGAIN);
    if (!encodable(&r.f)) {
        return;
    }
    n = relay_request_encode(out, sizeof(out), &r);
    require(n > 0);
    require(relay_request_decode(out, (size_t) n, &d) == n);
    require(d.cmd == r.cmd);
    same_features(&r.f, &d.f);
}


static void
fuzz_response(const uint8_t *data, size_t size)
{
    struct relay_response  r, d;
    uint8_t                out[RELAY_MSG_MAX];
    int                    rc, n;

    rc = relay_response_decode(data, size, &r);
    check_range(rc, size);
    if (rc <= 0) {
        return;
    }
    require(relay_response_decode(data, (size_t) rc - 1, &d) == TP_AGAIN);
    if (!encodable(&r.f)) {
        return;
    }
    n = relay_response_encode(out, sizeof(out), &r);
    require(n > 0);
    require(relay_response_decode(out, (size_t) n, &d) == n);
    require(d.status == r.status);
    same_features(&r.f, &d.f);
}


static void
fuzz_udp(const uint8_t *data, size_t size)
{
    static uint8_t        out[RELAY_UDP_ADDR_HEADER_MAX + RELAY_UDP_MAX];
    struct tp_proxy_addr  a;
    const uint8_t        *d;
    size_t                dl;
    int                   rc;

    rc = relay_udp_decode(data, size, &d, &dl);
    check_range(rc, size);
    if (rc > 0) {
        require(d == data + 2 && (size_t) rc == 2 + dl);
        require(relay_udp_encode(out, sizeof(out), d, dl) == rc);
        require(memcmp(out, data, (size_t) rc) == 0);
    }

    rc = relay_udp_addr_decode(data, size, &a, &d, &dl);
    check_range(rc, size);
    if (rc > 0) {
        require(dl > 0 && d + dl == data + rc);
        require(relay_udp_addr_encode(out, sizeof(out), &a, d, dl) == rc);
        require(memcmp(out, data, 2) == 0 && out[2] == 0xff);
        require(memcmp(out + 3, data + 3, (size_t) rc - 3) == 0);
    }
}


/*
 * The stream readers pull up only the first RELAY_UDP_ADDR_HEADER_MAX
 * bytes before asking for the frame size, then decode exactly that many
 * bytes without a second check: both halves of that contract.
 */
static void
fuzz_frame_need(const uint8_t *data, size_t size, bool addressed)
{
    struct tp_proxy_addr  a;
    const uint8_t        *d;
    uint8_t              *head;
    size_t                dl, need, hl;
    int                   rc;

    hl = size < RELAY_UDP_ADDR_HEADER_MAX ? size : RELAY_UDP_ADDR_HEADER_MAX;
    if ((head = malloc(hl ? hl : 1)) == NULL) {
        return;
    }
    memcpy(head, data, hl);
    need = relay_udp_frame_need(head, size, addressed);
    free(head);
    rc = addressed ? relay_udp_addr_decode(data, size, &a, &d, &dl)
                   : relay_udp_decode(data, size, &d, &dl);
    if (need == RELAY_UDP_FRAME_BAD) {
        require(rc == TP_ERROR);
        return;
    }
    if (need == 0 || need > size) {
        require(rc == TP_AGAIN);
        return;
    }
    rc = addressed ? relay_udp_addr_decode(data, need, &a, &d, &dl)
                   : relay_udp_decode(data, need, &d, &dl);
    require(rc > 0 && (size_t) rc == need);
}


static void
fuzz_all(const uint8_t *data, size_t size)
{
    fuzz_request(data, size);
    fuzz_response(data, size);
    fuzz_udp(data, size);
    fuzz_frame_need(data, size, false);
    fuzz_frame_need(data, size, true);
}


/*
 * Also try the input with its length field made consistent (FEALEN or
 * the UDP LEN), so that TLV and payload parsing are reached without a
 * dictionary.  The copy is exactly size bytes (ASan sees over-reads).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t  *x;
    size_t    v;

    fuzz_all(data, size);
    if (size < 4 || (x = malloc(size)) == NULL) {
        return 0;
    }
    memcpy(x, data, size);
    v = (size - 4 > 0xffff) ? 0xffff : size - 4;
    x[2] = (uint8_t) (v >> 8);
    x[3] = (uint8_t) v;
    fuzz_all(x, size);
    memcpy(x, data, size);
    v = (size - 2 > 0xffff) ? 0xffff : size - 2;
    x[0] = (uint8_t) (v >> 8);
    x[1] = (uint8_t) v;
    fuzz_all(x, size);
    free(x);
    return 0;
}
