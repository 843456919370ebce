/*
 * sniff_wire.h - pure host-name sniffers for HTTP/1.x, TLS ClientHello and
 * QUIC Initial packets (see shared/specs/sniffing.md). Bytes in, result out:
 * no I/O, no libevent, no timers. The caller owns buffering, the timeout and
 * replaying the bytes; these functions never modify their input.
 */
#ifndef SNIFF_WIRE_H
#define SNIFF_WIRE_H

#include "../src/tproxyd.h"

#define SNIFF_HTTP_CAP          8192    /* bytes of request head examined */
#define SNIFF_TLS_HS_CAP        16384   /* max ClientHello body length */
#define SNIFF_QUIC_CRYPTO_CAP   16384   /* max CRYPTO stream bytes kept */
#define SNIFF_QUIC_MAX_DGRAMS   8       /* datagrams fed before giving up */

enum tp_sniff_rc {
    TP_SNIFF_FOUND = 0,     /* r->host holds a usable name */
    TP_SNIFF_AGAIN = 1,     /* need more bytes */
    TP_SNIFF_NONE = 2,      /* not this protocol, or no usable host */
};

struct tp_sniff_result {
    char        proto[8];   /* "http", "tls", "quic", "http2"; "" if unknown */
    char        host[256];  /* normalised, NUL-terminated; "" if none */
    uint16_t    port;       /* port from HTTP Host/absolute URI, 0 if none */
    unsigned    ech:1;      /* TLS: encrypted_client_hello ext present */
};

/*
 * Stateless sniffers: call again with the whole accumulated buffer each time
 * more bytes arrive. *r is cleared on entry and filled on return; proto is
 * set as soon as the protocol is recognised, so NONE with proto "tls" means
 * "TLS, but no usable SNI". No heap allocation.
 *
 * sniff_http: request line + headers; FOUND with host (and port if given).
 * An h2 prior-knowledge preface gives NONE with proto "http2".
 */
enum tp_sniff_rc sniff_http(const uint8_t *buf, size_t len,
    struct tp_sniff_result *r);

/* TLS records (content type 22) carrying a ClientHello, possibly split. */
enum tp_sniff_rc sniff_tls(const uint8_t *buf, size_t len,
    struct tp_sniff_result *r);

/*
 * One handshake message (msg_type, uint24 length, body) without the record
 * layer, as carried by TLS records or QUIC CRYPTO frames. Sets proto "tls".
 */
enum tp_sniff_rc sniff_tls_client_hello(const uint8_t *hs, size_t len,
    struct tp_sniff_result *r);

/*
 * QUIC: per-flow state fed datagram by datagram. CRYPTO fragments are
 * collected by offset across packets (at most SNIFF_QUIC_CRYPTO_CAP bytes);
 * after SNIFF_QUIC_MAX_DGRAMS datagrams (or as many Initial packets) without
 * a complete ClientHello the answer is NONE, and a first datagram that is
 * not a decryptable client Initial gives NONE at once. Once FOUND or NONE
 * has been returned, later calls return the same answer and result. The
 * state (~19 KiB plus one packet-sized scratch buffer) comes from
 * sniff_quic_new(), NULL on allocation failure; the caller frees it with
 * sniff_quic_free() (NULL is ok).
 */
struct sniff_quic_state;

struct sniff_quic_state *sniff_quic_new(void);
void sniff_quic_free(struct sniff_quic_state *st);
enum tp_sniff_rc sniff_quic_feed(struct sniff_quic_state *st,
    const uint8_t *dgram, size_t len, struct tp_sniff_result *r);

/*
 * Client Initial key material for a QUIC version (v1, v2, draft-29) and the
 * client's Destination Connection ID (RFC 9001 §5.2, RFC 9369 §3.3).
 * Returns 0 on success, -1 for an unknown version or a crypto failure.
 */
int sniff_quic_initial_keys(uint32_t version, const uint8_t *dcid,
    size_t dcid_len, uint8_t key[16], uint8_t iv[12], uint8_t hp[16]);

/*
 * QUIC variable-length integer (RFC 9000 §16). Returns the number of bytes
 * consumed (1, 2, 4 or 8), or 0 if len is too short.
 */
size_t sniff_quic_varint(const uint8_t *p, size_t len, uint64_t *v);

/*
 * Shared host rule (spec §0), in place: lowercase, strip one trailing dot.
 * Returns false (host unusable) for an empty name, a byte <= 0x20 or
 * >= 0x7f, an empty label, or more than 253 characters.
 */
bool sniff_host_normalise(char *host);

#endif
