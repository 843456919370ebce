/*
 * socks5_wire.h - SOCKS5 (RFC 1928), its user/pass sub-negotiation
 * (RFC 1929) and SOCKS4/4a message encoders and decoders, shared by the
 * socks5 connector and the socks5 handler.  Pure: bytes in, struct out and
 * back; no I/O, no allocation.
 */
#ifndef TP_SOCKS5_WIRE_H
#define TP_SOCKS5_WIRE_H

/*
 * Encoders write into (buf, size) and return the length written (> 0), or
 * TP_ERROR if the input is invalid or size is too small (the *_MAX constants
 * are always enough).  Decoders read (buf, len) and return the bytes
 * consumed (> 0), TP_AGAIN if the message is not complete yet, or TP_ERROR
 * if it is malformed; they never read past len, and bytes after the
 * message are not theirs (tunnel data, the next message).
 */

#include "../src/tproxyd.h"
#include "proxy_addr.h"

#define SOCKS5_VERSION              0x05
#define SOCKS5_AUTH_VERSION         0x01    /* RFC 1929 sub-negotiation */

#define SOCKS5_METHOD_NO_AUTH       0x00
#define SOCKS5_METHOD_GSSAPI        0x01
#define SOCKS5_METHOD_USERPASS      0x02
#define SOCKS5_METHOD_NONE_OK       0xff    /* no acceptable methods */

#define SOCKS5_CMD_CONNECT          0x01
#define SOCKS5_CMD_BIND             0x02
#define SOCKS5_CMD_UDP_ASSOCIATE    0x03
#define SOCKS5_CMD_GOST_UDP_TUN     0xf3    /* GOST UDP-over-TCP */

#define SOCKS5_REP_SUCCEEDED        0x00
#define SOCKS5_REP_GENERAL_FAILURE  0x01
#define SOCKS5_REP_NOT_ALLOWED      0x02
#define SOCKS5_REP_NET_UNREACH      0x03
#define SOCKS5_REP_HOST_UNREACH     0x04
#define SOCKS5_REP_CONN_REFUSED     0x05
#define SOCKS5_REP_TTL_EXPIRED      0x06
#define SOCKS5_REP_CMD_UNSUPPORTED  0x07
#define SOCKS5_REP_ATYP_UNSUPPORTED 0x08

#define SOCKS5_AUTH_SUCCESS         0x00    /* any other status: failure */

#define SOCKS5_GREETING_MAX         (2 + 255)
#define SOCKS5_METHOD_LEN           2
#define SOCKS5_AUTH_MAX             (3 + 255 + 255)
#define SOCKS5_AUTH_STATUS_LEN      2
#define SOCKS5_REQUEST_MAX          (3 + TP_PROXY_ADDR_WIRE_MAX)
#define SOCKS5_REPLY_MAX            (3 + TP_PROXY_ADDR_WIRE_MAX)
#define SOCKS5_UDP_HEADER_MAX       (3 + TP_PROXY_ADDR_WIRE_MAX)

#define SOCKS4_VERSION              0x04
#define SOCKS4_CMD_CONNECT          0x01
#define SOCKS4_CMD_BIND             0x02
#define SOCKS4_REP_GRANTED          0x5a
#define SOCKS4_REP_REJECTED         0x5b
#define SOCKS4_REP_NO_IDENTD        0x5c
#define SOCKS4_REP_IDENT_MISMATCH   0x5d
#define SOCKS4_REQUEST_MAX          (8 + 256 + 256)
#define SOCKS4_REPLY_LEN            8


struct socks5_greeting {
    uint8_t     nmethods;           /* 1..255 */
    uint8_t     methods[255];
};

struct socks5_auth {                /* RFC 1929 request */
    char        user[256];          /* NUL-terminated, 0..255 bytes */
    char        pass[256];          /* NUL-terminated, 0..255 bytes */
};

struct socks5_request {
    uint8_t     cmd;                /* SOCKS5_CMD_*; any value decodes */
    struct tp_proxy_addr addr;      /* DST.ADDR / DST.PORT */
};

struct socks5_reply {
    uint8_t     rep;                /* SOCKS5_REP_* */
    struct tp_proxy_addr addr;      /* BND.ADDR / BND.PORT */
};

struct socks5_udp_header {          /* RSV FRAG ATYP DST.ADDR DST.PORT */
    uint16_t    rsv;                /* 0; GOST stream framing: DATA length */
    uint8_t     frag;               /* 0 = standalone; drop others */
    struct tp_proxy_addr addr;      /* destination, or reply source */
};

struct socks4_request {
    uint8_t     cmd;                /* SOCKS4_CMD_*; any value decodes */
    struct tp_proxy_addr addr;      /* AF_INET, or a name (SOCKS4a) */
    char        userid[256];        /* NUL-terminated, 0..255 bytes */
};

struct socks4_reply {
    uint8_t     cd;                 /* SOCKS4_REP_* */
    struct tp_proxy_addr addr;      /* AF_INET; meaningful for BIND only */
};


/*
 * Greeting: VER NMETHODS METHODS.  decode: NMETHODS 0 is TP_ERROR.
 * socks5_greeting_offers() tells whether a method is in the list.
 */
int socks5_greeting_encode(uint8_t *buf, size_t size,
    const struct socks5_greeting *g);
int socks5_greeting_decode(const uint8_t *buf, size_t len,
    struct socks5_greeting *g);
bool socks5_greeting_offers(const struct socks5_greeting *g,
    uint8_t method);

/* Method choice: VER METHOD (2 bytes). */
int socks5_method_encode(uint8_t *buf, size_t size, uint8_t method);
int socks5_method_decode(const uint8_t *buf, size_t len, uint8_t *method);

/*
 * RFC 1929 request: 0x01 ULEN UNAME PLEN PASSWD.  RFC 1929 wants 1..255
 * byte fields; both directions also accept 0 (some servers do).  decode:
 * TP_ERROR on a wrong version or a NUL byte inside a field.
 */
int socks5_auth_encode(uint8_t *buf, size_t size,
    const struct socks5_auth *a);
int socks5_auth_decode(const uint8_t *buf, size_t len,
    struct socks5_auth *a);

/* RFC 1929 status reply: 0x01 STATUS (2 bytes); 0x00 = success. */
int socks5_auth_status_encode(uint8_t *buf, size_t size, uint8_t status);
int socks5_auth_status_decode(const uint8_t *buf, size_t len,
    uint8_t *status);

/*
 * Request: VER CMD RSV ATYP DST.ADDR DST.PORT.  decode: any CMD is
 * accepted (the server answers SOCKS5_REP_CMD_UNSUPPORTED), RSV is
 * ignored; a wrong VER, an unknown ATYP, an empty name or a name holding
 * a NUL byte is TP_ERROR -- socks5_request_error_rep() then tells what a
 * server should answer.
 */
int socks5_request_encode(uint8_t *buf, size_t size,
    const struct socks5_request *r);
int socks5_request_decode(const uint8_t *buf, size_t len,
    struct socks5_request *r);

/*
 * For a request that socks5_request_decode() rejected: the REP code a
 * server should send before closing (SOCKS5_REP_ATYP_UNSUPPORTED or
 * SOCKS5_REP_GENERAL_FAILURE), or -1 if it must close without a reply
 * (wrong VER).
 */
int socks5_request_error_rep(const uint8_t *buf, size_t len);

/*
 * Reply: VER REP RSV ATYP BND.ADDR BND.PORT; variable length (10, 22 or
 * 7 + name length).  decode: RSV is ignored; wrong VER or bad ATYP is
 * TP_ERROR.
 */
int socks5_reply_encode(uint8_t *buf, size_t size,
    const struct socks5_reply *r);
int socks5_reply_decode(const uint8_t *buf, size_t len,
    struct socks5_reply *r);

/*
 * UDP datagram header: RSV(2) FRAG ATYP DST.ADDR DST.PORT; DATA follows
 * the returned header length.  Neither side checks RSV or FRAG: the
 * caller drops FRAG != 0.  For a whole datagram TP_AGAIN means "truncated".
 */
int socks5_udp_encode(uint8_t *buf, size_t size,
    const struct socks5_udp_header *h);
int socks5_udp_decode(const uint8_t *buf, size_t len,
    struct socks5_udp_header *h);

/*
 * SOCKS4 request: VN=4 CD DSTPORT DSTIP USERID 0x00 [HOST 0x00].
 * encode: AF_INET writes SOCKS4; a name writes SOCKS4a (DSTIP 0.0.0.1);
 * IPv6 and AF_INET 0.0.0.x (x != 0) are TP_ERROR.  decode: DSTIP 0.0.0.x
 * (x != 0) reads the SOCKS4a name into addr as a name; USERID and name are
 * capped at 255 bytes, an empty name is TP_ERROR.
 */
int socks4_request_encode(uint8_t *buf, size_t size,
    const struct socks4_request *r);
int socks4_request_decode(const uint8_t *buf, size_t len,
    struct socks4_request *r);

/*
 * SOCKS4 reply: VN=0 CD DSTPORT DSTIP (8 bytes).  encode: addr must be
 * AF_INET.  decode: VN other than 0 is TP_ERROR.
 */
int socks4_reply_encode(uint8_t *buf, size_t size,
    const struct socks4_reply *r);
int socks4_reply_decode(const uint8_t *buf, size_t len,
    struct socks4_reply *r);

#endif
