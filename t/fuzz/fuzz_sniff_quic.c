/*
 * fuzz_sniff_quic.c - libFuzzer target for the QUIC sniffer. Input: a mode
 * byte, then up to 4 datagrams (length byte * 8, clipped; the 4th takes the
 * rest) fed to one state. Mode bit 0 seals each datagram as the frames of a
 * valid Initial (v2 if bit 1) so frame parsing and reassembly are reached.
 */
#include "../../src/tproxyd.h"

#include <stdlib.h>
#include <openssl/evp.h>

#include "../../modules/sniff_wire.h"

#define MAX_DGRAM   4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_dcid[8] = { 0xf0, 0x0d, 1, 2, 3, 4, 5, 6 };

struct fuzz_keys {
    uint8_t     key[16];
    uint8_t     iv[12];
    uint8_t     hp[16];
};

/* Protect `frames` as a client Initial (RFC 9001 §5.3-5.4); 0 on failure. */
static size_t
seal_initial(uint32_t version, const struct fuzz_keys *k, uint32_t pn,
    const uint8_t *frames, size_t fl, uint8_t *out)
{
    uint8_t          nonce[12], mask[16];
    size_t           n = 0, pn_off, i;
    EVP_CIPHER_CTX  *ctx;
    int              l, ok;

    if (fl > MAX_DGRAM) {
        return 0;
    }
    out[n++] = version == 1 ? 0xc3 : 0xd3;
    for (i = 0; i < 4; i++) {
        out[n++] = (uint8_t) (version >> (24 - 8 * i));
    }
    out[n++] = 8;
    memcpy(out + n, fuzz_dcid, 8);
    n += 8;
    out[n++] = 0;
    out[n++] = 0;
    out[n++] = (uint8_t) (0x40 | (4 + fl + 16) >> 8);
    out[n++] = (uint8_t) (4 + fl + 16);
    pn_off = n;
    for (i = 0; i < 4; i++) {
        out[n++] = (uint8_t) (pn >> (24 - 8 * i));
    }
    memcpy(nonce, k->iv, 12);
    for (i = 0; i < 4; i++) {
        nonce[11 - i] ^= (uint8_t) (pn >> (8 * i));
    }
    ctx = EVP_CIPHER_CTX_new();
    ok = ctx != NULL
        && EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, k->key, nonce)
        && EVP_EncryptUpdate(ctx, NULL, &l, out, (int) n)
        && EVP_EncryptUpdate(ctx, out + n, &l, frames, (int) fl)
        && EVP_EncryptFinal_ex(ctx, out + n + l, &l)
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, out + n + fl)
        && EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, k->hp, NULL)
        && EVP_EncryptUpdate(ctx, mask, &l, out + pn_off + 4, 16);
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        return 0;
    }
    out[0] ^= mask[0] & 0x0f;
    for (i = 0; i < 4; i++) {
        out[pn_off + i] ^= mask[1 + i];
    }
    return n + fl + 16;
}

static void
check_result(enum tp_sniff_rc rc, const struct tp_sniff_result *r)
{
    char    copy[sizeof(r->host)];

    if (memchr(r->host, '\0', sizeof(r->host)) == NULL
        || memchr(r->proto, '\0', sizeof(r->proto)) == NULL)
    {
        abort();
    }
    if (rc == TP_SNIFF_FOUND) {
        memcpy(copy, r->host, sizeof(copy));
        if (!sniff_host_normalise(copy) || strcmp(copy, r->host) != 0
            || strcmp(r->proto, "quic") != 0)
        {
            abort();
        }
    } else if (r->host[0] != '\0') {
        abort();
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t                  sealed[MAX_DGRAM + 64];
    struct sniff_quic_state *st;
    struct tp_sniff_result   r;
    struct fuzz_keys         k;
    enum tp_sniff_rc         rc, last = TP_SNIFF_AGAIN;
    uint32_t                 version;
    uint8_t                  mode;
    size_t                   off = 1, n, i;

    if (size < 1) {
        return 0;
    }
    mode = data[0];
    version = mode & 2 ? 0x6b3343cf : 1;
    if ((mode & 1) && sniff_quic_initial_keys(version, fuzz_dcid, 8, k.key,
            k.iv, k.hp) != 0)
    {
        abort();
    }
    st = sniff_quic_new();
    if (st == NULL) {
        return 0;
    }
    for (i = 0; i < 4 && off < size; i++) {
        n = i < 3 ? (size_t) data[off++] * 8 : size - off;
        if (n > size - off) {
            n = size - off;
        }
        if (mode & 1) {
            rc = sniff_quic_feed(st, sealed, seal_initial(version, &k,
                (uint32_t) i, data + off, n, sealed), &r);
        } else {
            rc = sniff_quic_feed(st, data + off, n, &r);
        }
        check_result(rc, &r);
        if (last != TP_SNIFF_AGAIN && rc != last) {
            abort();    /* a final answer must stick */
        }
        last = rc;
        off += n;
    }
    sniff_quic_free(st);
    return 0;
}
