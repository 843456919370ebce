/*
 * relay_wire.h - GOST relay protocol v1 messages (request, response, the
 * feature TLVs) and the two UDP-over-stream framings, shared by the relay
 * connector and the relay handler.  Pure: no I/O, no allocation.
 */
#ifndef TP_RELAY_WIRE_H
#define TP_RELAY_WIRE_H

/*
 * Encoders return the length written (> 0), or TP_ERROR if an input is
 * invalid or size is too small.  Decoders return the bytes consumed (> 0),
 * TP_AGAIN if the message is not complete yet, or TP_ERROR if it is
 * malformed; they never read past len, and what follows the message
 * (payload, the next frame) is not theirs.
 */

#include "../src/tproxyd.h"
#include "proxy_addr.h"

#define RELAY_VERSION               0x01

#define RELAY_CMD_CONNECT           0x01
#define RELAY_CMD_BIND              0x02
#define RELAY_CMD_ASSOCIATE         0x03    /* v3 answers BadRequest */
#define RELAY_CMD_MASK              0x0f
#define RELAY_FLAG_UDP              0x80    /* FUDP: UDP-oriented */

#define RELAY_STATUS_OK             0x00
#define RELAY_STATUS_BAD_REQUEST    0x01
#define RELAY_STATUS_UNAUTHORIZED   0x02
#define RELAY_STATUS_FORBIDDEN      0x03
#define RELAY_STATUS_TIMEOUT        0x04
#define RELAY_STATUS_UNAVAILABLE    0x05
#define RELAY_STATUS_HOST_UNREACH   0x06
#define RELAY_STATUS_NET_UNREACH    0x07
#define RELAY_STATUS_INTERNAL       0x08

#define RELAY_FEATURE_USERAUTH      0x01
#define RELAY_FEATURE_ADDR          0x02
#define RELAY_FEATURE_TUNNEL        0x03
#define RELAY_FEATURE_NETWORK       0x04

/* struct relay_features.present bits */
#define RELAY_HAS_USERAUTH          (1u << RELAY_FEATURE_USERAUTH)
#define RELAY_HAS_ADDR              (1u << RELAY_FEATURE_ADDR)
#define RELAY_HAS_TUNNEL            (1u << RELAY_FEATURE_TUNNEL)
#define RELAY_HAS_NETWORK           (1u << RELAY_FEATURE_NETWORK)

#define RELAY_NETWORK_TCP           0x0000
#define RELAY_NETWORK_UDP           0x0001
#define RELAY_NETWORK_IP            0x0002
#define RELAY_NETWORK_UNIX          0x0010
#define RELAY_NETWORK_SERIAL        0x0011

#define RELAY_TUNNEL_PRIVATE        0x80    /* tunnel flag (request) */
#define RELAY_CONNECTOR_UDP         0x01    /* connector flag (response) */

#define RELAY_HEADER_LEN            4       /* VER CMD|STATUS FEALEN */
#define RELAY_MSG_MAX               1024    /* any message we encode */
#define RELAY_UDP_MAX               65535   /* largest framed datagram */
#define RELAY_UDP_HEADER_LEN        2
#define RELAY_UDP_ADDR_HEADER_MAX   (3 + TP_PROXY_ADDR_WIRE_MAX)

struct relay_tunnel {           /* Tunnel feature: 20 bytes on the wire */
    uint8_t     id[16];         /* tunnel ID (request) / connector ID */
    uint8_t     flag;           /* RELAY_TUNNEL_PRIVATE, RELAY_CONNECTOR_UDP */
    uint8_t     rsv[2];
    uint8_t     weight;
};

struct relay_features {
    unsigned    present;        /* RELAY_HAS_* */
    char        user[256];      /* UserAuth: NUL-terminated, 0..255 bytes */
    char        pass[256];
    struct tp_proxy_addr addr;  /* Addr; a decoded empty name is "" */
    struct relay_tunnel tunnel; /* Tunnel */
    uint16_t    network;        /* Network: RELAY_NETWORK_* */
};

struct relay_request {
    uint8_t     cmd;            /* RELAY_CMD_* | RELAY_FLAG_UDP */
    struct relay_features f;
};

struct relay_response {
    uint8_t     status;         /* RELAY_STATUS_* */
    struct relay_features f;
};

/*
 * Request: VER=1 CMD/FLAGS FEALEN(2) FEATURES.  encode writes the present
 * features in the order Network, UserAuth, Addr, Tunnel (addr must be
 * valid).  decode is as strict as GOST's server: VER != 1, a TLV that
 * overruns FEALEN, a feature too short for its type, an unknown feature
 * type or an unknown ATYP is TP_ERROR.  Extra bytes inside a TLV are
 * ignored, a repeated feature replaces the earlier one, and a name with a
 * NUL byte is TP_ERROR.
 */
int relay_request_encode(uint8_t *buf, size_t size,
    const struct relay_request *r);
int relay_request_decode(const uint8_t *buf, size_t len,
    struct relay_request *r);

/*
 * Response: VER=1 STATUS FEALEN(2) FEATURES.  decode is lenient as a client
 * should be: unknown feature types are skipped; otherwise as above.
 */
int relay_response_encode(uint8_t *buf, size_t size,
    const struct relay_response *r);
int relay_response_decode(const uint8_t *buf, size_t len,
    struct relay_response *r);

/*
 * UDP CONNECT framing (spec 4.2): LEN(2) PAYLOAD(LEN), LEN 0..65535.
 * encode: data NULL writes only the 2-byte header (the caller sends dlen
 * payload bytes after it) and returns 2.  decode: *data points into buf.
 */
int relay_udp_encode(uint8_t *buf, size_t size, const uint8_t *data,
    size_t dlen);
int relay_udp_decode(const uint8_t *buf, size_t len, const uint8_t **data,
    size_t *dlen);

/*
 * UDP association framing (spec 4.3, also SOCKS5 CMD 0xF3 and HTTP
 * "X-Gost-Protocol: udp"): LEN(2) FRAG=0xFF ATYP ADDR PORT DATA(LEN).
 * LEN 0 is TP_ERROR both ways (GOST cannot frame it).  FRAG is not
 * checked on decode.  encode: data NULL writes only the header and
 * returns its length.  decode: *data points into buf.
 */
int relay_udp_addr_encode(uint8_t *buf, size_t size,
    const struct tp_proxy_addr *addr, const uint8_t *data, size_t dlen);
int relay_udp_addr_decode(const uint8_t *buf, size_t len,
    struct tp_proxy_addr *addr, const uint8_t **data, size_t *dlen);

#define RELAY_UDP_FRAME_BAD ((size_t) -1)

/*
 * Bytes the whole frame at the head of a stream takes (header and data),
 * of either framing: 0 if not known yet, RELAY_UDP_FRAME_BAD if it is
 * malformed. avail is what the stream holds; only the first
 * min(avail, RELAY_UDP_ADDR_HEADER_MAX) bytes of p are read, so a caller
 * makes just that much contiguous. A result n <= avail guarantees that
 * the matching decode of p[0..n) succeeds and returns n.
 */
size_t relay_udp_frame_need(const uint8_t *p, size_t avail, bool addressed);

#endif
