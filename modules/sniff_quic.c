/*
 * sniff_quic.c - SNI from a QUIC flow's client Initials (RFC 9000 §17.2,
 * RFC 9001 §5, RFC 9369): derive keys, remove header protection, decrypt,
 * collect CRYPTO frames by offset, parse the ClientHello via sniff_tls.c.
 * Owns only its bounded per-flow state; no I/O, never changes its input.
 */
#include "sniff_wire.h"

#include <stdlib.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#define QUIC_MAX_CID        20
#define QUIC_MIN_DCID       8       /* client's first DCID, RFC 9000 §7.2 */
#define QUIC_MAX_INITIALS   8       /* Initial packets tried per flow */
#define QUIC_TAG_LEN        16
#define QUIC_SAMPLE_LEN     16

/* Long header packet types, numbered as in v1 (v2 encodes them rotated). */
enum quic_ptype {
    QUIC_PT_INITIAL = 0,
    QUIC_PT_0RTT = 1,
    QUIC_PT_HANDSHAKE = 2,
    QUIC_PT_RETRY = 3,
};

/* What one datagram contributed. */
enum quic_dg {
    QUIC_DG_BAD,        /* not a client Initial datagram / undecryptable */
    QUIC_DG_SKIP,       /* well-formed, nothing for us (0-RTT, ...) */
    QUIC_DG_OK,         /* at least one Initial decrypted and parsed */
    QUIC_DG_VIOLATION,  /* decrypted, but frames are invalid */
};

struct quic_version {
    uint32_t        version;
    uint8_t         salt[20];
    const char     *key_label;
    const char     *iv_label;
    const char     *hp_label;
    bool            v2_types;
};

static const struct quic_version quic_versions[] = {
    { 0x00000001,
      { 0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
        0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a },
      "quic key", "quic iv", "quic hp", false },
    { 0x6b3343cf,
      { 0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
        0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9 },
      "quicv2 key", "quicv2 iv", "quicv2 hp", true },
    { 0xff00001d,
      { 0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97,
        0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99 },
      "quic key", "quic iv", "quic hp", false },
};

struct quic_keys {
    uint8_t     key[16];
    uint8_t     iv[12];
    uint8_t     hp[16];
};

/* One parsed long header; offsets are relative to the packet start. */
struct quic_hdr {
    const struct quic_version  *ver;
    enum quic_ptype             type;
    const uint8_t              *dcid;
    size_t                      dcid_len;
    size_t                      pn_off;     /* packet number offset */
    size_t                      pkt_len;    /* whole packet */
};

struct sniff_quic_state {
    EVP_KDF_CTX                *kdf;        /* HKDF-SHA256 */
    EVP_CIPHER_CTX             *ecb;
    EVP_CIPHER_CTX             *gcm;
    const struct quic_version  *kver;       /* keys belong to kver + kdcid */
    uint8_t                     kdcid[QUIC_MAX_CID];
    size_t                      kdcid_len;
    struct quic_keys            keys;
    unsigned                    ndgrams;
    unsigned                    ninitials;  /* decryption attempts */
    unsigned                    nopened;    /* successful decryptions */
    bool                        done;
    enum tp_sniff_rc            rc;
    struct tp_sniff_result      res;
    uint8_t                    *pkt;        /* scratch for one packet */
    size_t                      pkt_cap;
    size_t                      contig;     /* [0, contig) received */
    uint8_t                     have[SNIFF_QUIC_CRYPTO_CAP / 8];
    uint8_t                     crypto[SNIFF_QUIC_CRYPTO_CAP];
};

size_t
sniff_quic_varint(const uint8_t *p, size_t len, uint64_t *v)
{
    size_t  n, i;

    if (len < 1) {
        return 0;
    }
    n = (size_t) 1 << (p[0] >> 6);
    if (len < n) {
        return 0;
    }
    *v = p[0] & 0x3f;
    for (i = 1; i < n; i++) {
        *v = *v << 8 | p[i];
    }
    return n;
}

/* Varint at p[*off], bounded by n; advances *off. */
static bool
quic_varint_at(const uint8_t *p, size_t n, size_t *off, uint64_t *v)
{
    size_t  k = sniff_quic_varint(p + *off, n - *off, v);

    *off += k;
    return k != 0;
}

static const struct quic_version *
quic_version_find(uint32_t version)
{
    size_t  i;

    for (i = 0; i < nitems(quic_versions); i++) {
        if (quic_versions[i].version == version) {
            return &quic_versions[i];
        }
    }
    return NULL;
}

/*
 * An HKDF context with SHA-256 set once; each step below only passes its
 * mode, key and salt or info (a new INFO replaces the old one). Fetching
 * the digest by name per step would cost more than the HMACs themselves.
 */
static EVP_KDF_CTX *
quic_hkdf_new(void)
{
    EVP_KDF         *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    EVP_KDF_CTX     *ctx = kdf != NULL ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM       params[2];

    EVP_KDF_free(kdf);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
        (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_end();
    if (ctx != NULL && EVP_KDF_CTX_set_params(ctx, params) != 1) {
        EVP_KDF_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* One HKDF step (extract or expand). Returns 0 or -1. */
static int
quic_hkdf(EVP_KDF_CTX *ctx, int mode, const uint8_t *key, size_t key_len,
    const uint8_t *aux, size_t aux_len, uint8_t *out, size_t out_len)
{
    OSSL_PARAM  params[4];

    params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
        (void *) key, key_len);
    params[2] = OSSL_PARAM_construct_octet_string(
        mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY ? OSSL_KDF_PARAM_SALT
            : OSSL_KDF_PARAM_INFO, (void *) aux, aux_len);
    params[3] = OSSL_PARAM_construct_end();
    return EVP_KDF_derive(ctx, out, out_len, params) > 0 ? 0 : -1;
}

/* HKDF-Expand-Label(secret, label, "", out_len), RFC 8446 §7.1. */
static int
quic_expand_label(EVP_KDF_CTX *kdf, const uint8_t secret[32], const char *label,
    uint8_t *out, size_t out_len)
{
    uint8_t     info[2 + 1 + 6 + 32 + 1];
    size_t      ll = strlen(label), n = 0;

    if (ll > 32) {
        return -1;
    }
    info[n++] = (uint8_t) (out_len >> 8);
    info[n++] = (uint8_t) out_len;
    info[n++] = (uint8_t) (6 + ll);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    memcpy(info + n, label, ll);
    n += ll;
    info[n++] = 0;
    return quic_hkdf(kdf, EVP_KDF_HKDF_MODE_EXPAND_ONLY, secret, 32, info, n,
        out, out_len);
}

static int
quic_derive(EVP_KDF_CTX *kdf, const struct quic_version *ver,
    const uint8_t *dcid, size_t dcid_len, struct quic_keys *k)
{
    uint8_t     initial[32], client[32];

    if (quic_hkdf(kdf, EVP_KDF_HKDF_MODE_EXTRACT_ONLY, dcid, dcid_len,
            ver->salt, sizeof(ver->salt), initial, sizeof(initial)) != 0
        || quic_expand_label(kdf, initial, "client in", client, 32) != 0
        || quic_expand_label(kdf, client, ver->key_label, k->key, 16) != 0
        || quic_expand_label(kdf, client, ver->iv_label, k->iv, 12) != 0
        || quic_expand_label(kdf, client, ver->hp_label, k->hp, 16) != 0)
    {
        return -1;
    }
    return 0;
}

int
sniff_quic_initial_keys(uint32_t version, const uint8_t *dcid,
    size_t dcid_len, uint8_t key[16], uint8_t iv[12], uint8_t hp[16])
{
    const struct quic_version   *ver = quic_version_find(version);
    struct quic_keys             k;
    EVP_KDF_CTX                 *kdf;
    int                          rc;

    if (ver == NULL || dcid_len > QUIC_MAX_CID) {
        return -1;
    }
    kdf = quic_hkdf_new();
    if (kdf == NULL) {
        return -1;
    }
    rc = quic_derive(kdf, ver, dcid, dcid_len, &k);
    EVP_KDF_CTX_free(kdf);
    if (rc == 0) {
        memcpy(key, k.key, 16);
        memcpy(iv, k.iv, 12);
        memcpy(hp, k.hp, 16);
    }
    return rc;
}

/*
 * A cipher context bound to its algorithm once (one fetch per flow, not
 * per packet); keys and IVs are set later without naming the cipher again.
 */
static EVP_CIPHER_CTX *
quic_cipher_new(const char *name)
{
    EVP_CIPHER      *c = EVP_CIPHER_fetch(NULL, name, NULL);
    EVP_CIPHER_CTX  *ctx = c != NULL ? EVP_CIPHER_CTX_new() : NULL;
    int              ok;

    ok = ctx != NULL
        && EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL,
            EVP_CIPHER_get_mode(c) == EVP_CIPH_ECB_MODE) == 1
        && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
    EVP_CIPHER_free(c);
    if (!ok) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

struct sniff_quic_state *
sniff_quic_new(void)
{
    struct sniff_quic_state *st = calloc(1, sizeof(*st));

    if (st == NULL) {
        return NULL;
    }
    st->kdf = quic_hkdf_new();
    st->ecb = quic_cipher_new("AES-128-ECB");
    st->gcm = quic_cipher_new("AES-128-GCM");
    if (st->kdf == NULL || st->ecb == NULL || st->gcm == NULL) {
        sniff_quic_free(st);
        return NULL;
    }
    return st;
}

void
sniff_quic_free(struct sniff_quic_state *st)
{
    if (st == NULL) {
        return;
    }
    EVP_KDF_CTX_free(st->kdf);
    EVP_CIPHER_CTX_free(st->ecb);
    EVP_CIPHER_CTX_free(st->gcm);
    free(st->pkt);
    free(st);
}

/*
 * Keys for this header's version and DCID, derived once and cached; the hp
 * and AEAD keys are loaded into the cipher contexts at the same time.
 */
static const struct quic_keys *
quic_keys_for(struct sniff_quic_state *st, const struct quic_hdr *h)
{
    if (st->kver == h->ver && st->kdcid_len == h->dcid_len
        && memcmp(st->kdcid, h->dcid, h->dcid_len) == 0)
    {
        return &st->keys;
    }
    st->kver = NULL;
    if (quic_derive(st->kdf, h->ver, h->dcid, h->dcid_len, &st->keys) != 0
        || EVP_EncryptInit_ex(st->ecb, NULL, NULL, st->keys.hp, NULL) != 1
        || EVP_DecryptInit_ex(st->gcm, NULL, NULL, st->keys.key, NULL) != 1)
    {
        return NULL;
    }
    st->kver = h->ver;
    st->kdcid_len = h->dcid_len;
    memcpy(st->kdcid, h->dcid, h->dcid_len);
    return &st->keys;
}

/* Header protection mask = AES-128-ECB(hp, sample), RFC 9001 §5.4.3. */
static int
quic_hp_mask(EVP_CIPHER_CTX *ecb, const uint8_t *sample, uint8_t mask[16])
{
    int     n = 0;

    if (EVP_EncryptUpdate(ecb, mask, &n, sample, QUIC_SAMPLE_LEN) != 1) {
        return -1;
    }
    return n == QUIC_SAMPLE_LEN ? 0 : -1;
}

/* AES-128-GCM open in place (key already loaded); tag follows the data. */
static int
quic_aead_open(EVP_CIPHER_CTX *gcm, const uint8_t nonce[12],
    const uint8_t *aad, size_t aad_len, uint8_t *ct, size_t ct_len)
{
    EVP_CIPHER_CTX  *ctx = gcm;
    uint8_t          tag[QUIC_TAG_LEN];
    int              n = 0, m = 0;

    memcpy(tag, ct + ct_len, sizeof(tag));
    if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, nonce) != 1
        || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int) aad_len) != 1
        || EVP_DecryptUpdate(ctx, ct, &n, ct, (int) ct_len) != 1
        || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, QUIC_TAG_LEN,
            tag) != 1)
    {
        return -1;
    }
    return EVP_DecryptFinal_ex(ctx, ct + n, &m) > 0 ? 0 : -1;
}

/* Connection IDs and, for Initial, the token; *off ends at length. */
static bool
quic_parse_ids(const uint8_t *p, size_t n, size_t *off, struct quic_hdr *h)
{
    uint64_t    tlen;
    size_t      scid_len;

    h->dcid_len = p[(*off)++];
    if (h->dcid_len > QUIC_MAX_CID || n - *off < h->dcid_len + 1) {
        return false;
    }
    h->dcid = p + *off;
    *off += h->dcid_len;
    scid_len = p[(*off)++];
    if (scid_len > QUIC_MAX_CID || n - *off < scid_len) {
        return false;
    }
    *off += scid_len;
    if (h->type != QUIC_PT_INITIAL) {
        return true;
    }
    if (!quic_varint_at(p, n, off, &tlen) || tlen > n - *off) {
        return false;
    }
    *off += (size_t) tlen;
    return true;
}

/*
 * Long header at p (n bytes to the datagram end). Returns 1 when parsed,
 * 0 when p starts no long-header packet with a length (padding, short
 * header, Retry), -1 when malformed or of an unknown version.
 */
static int
quic_parse_long(const uint8_t *p, size_t n, struct quic_hdr *h)
{
    uint32_t    version;
    uint64_t    length;
    size_t      off = 5;
    unsigned    bits;

    if (n < 1 || !(p[0] & 0x80)) {
        return 0;
    }
    if (n < 7 || !(p[0] & 0x40)) {
        return -1;
    }
    version = (uint32_t) p[1] << 24 | (uint32_t) p[2] << 16
        | (uint32_t) p[3] << 8 | p[4];
    h->ver = quic_version_find(version);
    if (h->ver == NULL) {
        return -1;
    }
    bits = (p[0] >> 4) & 3;
    h->type = (enum quic_ptype) (h->ver->v2_types ? (bits + 3) & 3 : bits);
    if (h->type == QUIC_PT_RETRY) {
        return 0;
    }
    if (!quic_parse_ids(p, n, &off, h)) {
        return -1;
    }
    if (!quic_varint_at(p, n, &off, &length) || length > n - off
        || length < 4 + QUIC_SAMPLE_LEN)
    {
        return -1;
    }
    h->pn_off = off;
    h->pkt_len = off + (size_t) length;
    return 1;
}

/* Make sure the scratch packet buffer holds n bytes. */
static bool
quic_scratch(struct sniff_quic_state *st, size_t n)
{
    uint8_t     *p;

    if (st->pkt_cap >= n) {
        return true;
    }
    p = realloc(st->pkt, n < 2048 ? 2048 : n);
    if (p == NULL) {
        return false;
    }
    st->pkt = p;
    st->pkt_cap = n < 2048 ? 2048 : n;
    return true;
}

/*
 * Copy one Initial packet into the scratch buffer, remove header
 * protection and decrypt it in place. On success *payload and *plen give
 * the plaintext frames. Returns 0 or -1.
 */
static int
quic_open(struct sniff_quic_state *st, const uint8_t *p,
    const struct quic_hdr *h, const uint8_t **payload, size_t *plen)
{
    const struct quic_keys  *k = quic_keys_for(st, h);
    uint8_t                  mask[16], nonce[12], *q;
    size_t                   pn_len, hdr_len, i;
    uint64_t                 pn = 0;

    if (k == NULL || !quic_scratch(st, h->pkt_len)) {
        return -1;
    }
    if (quic_hp_mask(st->ecb, p + h->pn_off + 4, mask) != 0) {
        return -1;
    }
    q = st->pkt;
    memcpy(q, p, h->pkt_len);
    q[0] ^= mask[0] & 0x0f;
    pn_len = (q[0] & 0x03) + 1;
    for (i = 0; i < pn_len; i++) {
        q[h->pn_off + i] ^= mask[1 + i];
        pn = pn << 8 | q[h->pn_off + i];
    }
    memcpy(nonce, k->iv, sizeof(nonce));
    for (i = 0; i < 8; i++) {
        nonce[11 - i] ^= (uint8_t) (pn >> (8 * i));
    }
    hdr_len = h->pn_off + pn_len;
    *plen = h->pkt_len - hdr_len - QUIC_TAG_LEN;
    *payload = q + hdr_len;
    return quic_aead_open(st->gcm, nonce, q, hdr_len, q + hdr_len, *plen);
}

/* Store CRYPTO bytes [off, off+len), first copy wins, clipped to the cap. */
static void
quic_crypto_add(struct sniff_quic_state *st, uint64_t off,
    const uint8_t *d, uint64_t len)
{
    size_t  i, pos;

    if (off >= SNIFF_QUIC_CRYPTO_CAP) {
        return;
    }
    if (len > SNIFF_QUIC_CRYPTO_CAP - off) {
        len = SNIFF_QUIC_CRYPTO_CAP - off;
    }
    for (i = 0; i < len; i++) {
        pos = (size_t) off + i;
        if (!(st->have[pos >> 3] & (1u << (pos & 7)))) {
            st->crypto[pos] = d[i];
            st->have[pos >> 3] |= (uint8_t) (1u << (pos & 7));
        }
    }
    while (st->contig < SNIFF_QUIC_CRYPTO_CAP
        && (st->have[st->contig >> 3] & (1u << (st->contig & 7))))
    {
        st->contig++;
    }
}

/* ACK / ACK_ECN body (RFC 9000 §19.3): all varints. */
static bool
quic_skip_ack(const uint8_t *p, size_t n, size_t *off, bool ecn)
{
    uint64_t    v, count, i;

    if (!quic_varint_at(p, n, off, &v) || !quic_varint_at(p, n, off, &v)
        || !quic_varint_at(p, n, off, &count)
        || !quic_varint_at(p, n, off, &v))
    {
        return false;
    }
    for (i = 0; i < count; i++) {
        if (!quic_varint_at(p, n, off, &v) || !quic_varint_at(p, n, off, &v)) {
            return false;
        }
    }
    for (i = 0; ecn && i < 3; i++) {
        if (!quic_varint_at(p, n, off, &v)) {
            return false;
        }
    }
    return true;
}

/* CRYPTO (0x06) and CONNECTION_CLOSE (0x1c): varints, then data. */
static bool
quic_data_frame(struct sniff_quic_state *st, const uint8_t *p, size_t n,
    size_t *off, uint8_t type)
{
    uint64_t    a, b;

    if (!quic_varint_at(p, n, off, &a) || !quic_varint_at(p, n, off, &b)) {
        return false;
    }
    if (type == 0x1c && !quic_varint_at(p, n, off, &b)) {
        return false;
    }
    if (b > n - *off) {
        return false;
    }
    if (type == 0x06) {
        quic_crypto_add(st, a, p + *off, b);
    }
    *off += (size_t) b;
    return true;
}

/* Frames of a decrypted Initial payload (RFC 9000 §12.4). */
static bool
quic_frames(struct sniff_quic_state *st, const uint8_t *p, size_t n)
{
    size_t      off = 0;
    uint8_t     type;

    if (n == 0) {
        return false;   /* a packet must contain a frame */
    }
    while (off < n) {
        type = p[off++];
        switch (type) {
        case 0x00:      /* PADDING */
        case 0x01:      /* PING */
            break;
        case 0x02:
        case 0x03:
            if (!quic_skip_ack(p, n, &off, type == 0x03)) {
                return false;
            }
            break;
        case 0x06:
        case 0x1c:
            if (!quic_data_frame(st, p, n, &off, type)) {
                return false;
            }
            break;
        default:
            return false;
        }
    }
    return true;
}

/* One parsed Initial packet: decrypt and take its frames. */
static enum quic_dg
quic_initial(struct sniff_quic_state *st, const uint8_t *p,
    const struct quic_hdr *h)
{
    const uint8_t   *payload;
    size_t           plen;

    if (h->dcid_len < QUIC_MIN_DCID
        || st->ninitials >= QUIC_MAX_INITIALS)
    {
        return QUIC_DG_BAD;
    }
    st->ninitials++;
    if (quic_open(st, p, h, &payload, &plen) != 0) {
        return QUIC_DG_BAD;
    }
    st->nopened++;
    strcpy(st->res.proto, "quic");
    return quic_frames(st, payload, plen) ? QUIC_DG_OK : QUIC_DG_VIOLATION;
}

/*
 * Walk the coalesced packets of a datagram (RFC 9000 §12.2), stopping at
 * padding, a short header or a packet for another connection ID.
 */
static enum quic_dg
quic_datagram(struct sniff_quic_state *st, const uint8_t *d, size_t len)
{
    struct quic_hdr  h;
    const uint8_t   *dcid0 = NULL;
    size_t           off = 0, dcid0_len = 0;
    enum quic_dg     res = QUIC_DG_SKIP, one;
    int              rc;

    if (len == 0) {
        return QUIC_DG_BAD;
    }
    while (off < len) {
        rc = quic_parse_long(d + off, len - off, &h);
        if (rc <= 0) {
            return off == 0 ? QUIC_DG_BAD : res;
        }
        if (off == 0) {
            dcid0 = h.dcid;
            dcid0_len = h.dcid_len;
        } else if (h.dcid_len != dcid0_len
            || memcmp(h.dcid, dcid0, h.dcid_len) != 0)
        {
            break;
        }
        if (h.type == QUIC_PT_INITIAL) {
            one = quic_initial(st, d + off, &h);
            if (one != QUIC_DG_OK) {
                return one == QUIC_DG_BAD && res == QUIC_DG_OK ? res : one;
            }
            res = QUIC_DG_OK;
        }
        off += h.pkt_len;
    }
    return res;
}

/* Is the ClientHello complete in the CRYPTO stream? Parse it if so. */
static enum tp_sniff_rc
quic_crypto_check(struct sniff_quic_state *st)
{
    size_t  need;

    if (st->contig >= 1 && st->crypto[0] != 0x01) {
        return TP_SNIFF_NONE;
    }
    if (st->contig < 4) {
        return TP_SNIFF_AGAIN;
    }
    need = 4 + ((size_t) st->crypto[1] << 16 | (size_t) st->crypto[2] << 8
        | st->crypto[3]);
    if (need > SNIFF_QUIC_CRYPTO_CAP) {
        return TP_SNIFF_NONE;
    }
    if (st->contig < need) {
        return TP_SNIFF_AGAIN;
    }
    return sniff_tls_client_hello(st->crypto, need, &st->res);
}

/* Record a final answer; the result keeps proto "quic" if we got that far. */
static enum tp_sniff_rc
quic_finish(struct sniff_quic_state *st, enum tp_sniff_rc rc)
{
    bool    quic = st->nopened > 0;

    if (rc != TP_SNIFF_FOUND) {
        st->res.host[0] = '\0';
        rc = TP_SNIFF_NONE;
    }
    memset(st->res.proto, 0, sizeof(st->res.proto));
    if (quic) {
        strcpy(st->res.proto, "quic");
    }
    st->done = true;
    st->rc = rc;
    return rc;
}

enum tp_sniff_rc
sniff_quic_feed(struct sniff_quic_state *st, const uint8_t *dgram,
    size_t len, struct tp_sniff_result *r)
{
    enum tp_sniff_rc    rc = TP_SNIFF_AGAIN;

    if (!st->done) {
        st->ndgrams++;
        switch (quic_datagram(st, dgram, len)) {
        case QUIC_DG_VIOLATION:
            rc = quic_finish(st, TP_SNIFF_NONE);
            break;
        case QUIC_DG_BAD:
            if (st->nopened == 0) {
                rc = quic_finish(st, TP_SNIFF_NONE);
            }
            break;
        case QUIC_DG_OK:
            rc = quic_crypto_check(st);
            if (rc != TP_SNIFF_AGAIN) {
                rc = quic_finish(st, rc);
            }
            break;
        case QUIC_DG_SKIP:
            break;
        }
        if (!st->done && (st->ndgrams >= SNIFF_QUIC_MAX_DGRAMS
            || st->ninitials >= QUIC_MAX_INITIALS))
        {
            rc = quic_finish(st, TP_SNIFF_NONE);
        }
    }
    *r = st->res;
    return st->done ? st->rc : rc;
}
