/*
 * redu.h - the pure helpers of module "redu" (modules/redu*.c), exposed for
 * the unit tests: the per-kind log rate limiter, the pieces of QUIC
 * sniffing that need no socket (the cheap Initial check, the hold buffer,
 * the decision rules, the address rewrite both ways), and those of UDP
 * through a chain (the queue while an association opens, the source of a
 * reply that came through a tunnel, the retry limit per client). No I/O,
 * no globals.
 */
#ifndef REDU_H
#define REDU_H

#include "../src/tproxyd.h"
#include "../src/util.h"

struct tp_sniff_conf;

/* One kind of warning: at most one line per interval. */
struct redu_rl {
    uint64_t    next_ms;        /* earliest time of the next line */
    uint64_t    suppressed;     /* events not logged since the last line */
};

/*
 * True when a line may be written at now_ms; *suppressed then holds how
 * many events were swallowed since the previous line (and is reset).
 * False counts the event as swallowed.
 */
bool redu_rl_allow(struct redu_rl *rl, uint64_t now_ms, uint64_t interval_ms,
    uint64_t *suppressed);

/* ---------------------------------------------------- QUIC sniffing */

#define REDU_HOLD_DGRAMS        8       /* = SNIFF_QUIC_MAX_DGRAMS */
#define REDU_HOLD_BYTES         16384
#define REDU_SNIFF_HOLD_MAX_MS  300     /* UDP cap on sniffing.timeout */

/*
 * Whether a session's first datagram may be a QUIC client Initial (RFC
 * 9000 §17.2.2, §14.1; RFC 9369 §3.2): long header with the fixed bit,
 * version 1 with type bits 00 or version 2 with type bits 01, a DCID of
 * at most 20 bytes, and a datagram of at least 1200 bytes. Reads at most
 * 6 bytes; decides nothing about decryption (the sniffer does that).
 */
bool redu_quic_initial_like(const uint8_t *p, size_t len);

/* How long a UDP session may be held for sniffing: min(timeout, 300 ms).
 * 0 means no sniffing. */
uint64_t redu_sniff_hold_ms(uint64_t timeout_ms);

/*
 * Whether to sniff a new session whose first datagram (p, len) goes to
 * a port: sniffing enabled, the port not skipped (sniffing.skip_ports, or
 * its defaults), a hold time above 0, a QUIC-Initial-like datagram that
 * fits the hold buffer.
 */
bool redu_sniff_wanted(const struct tp_sniff_conf *sc, uint16_t port,
    const uint8_t *p, size_t len);

/* The datagrams of a session held while it is sniffed, in arrival order,
 * each with its destination (full-cone: not always the first one's). */
struct redu_hold {
    size_t      n;              /* datagrams held */
    size_t      used;           /* bytes of buf in use */
    struct {
        union tp_sa dst;
        uint32_t    off, len;
    }           d[REDU_HOLD_DGRAMS];
    uint8_t     buf[REDU_HOLD_BYTES];
};

/* Appends a copy of (p, len) to dst: 0, or -1 (nothing changed) when it
 * would be the 9th datagram or pass 16 KiB. */
int redu_hold_add(struct redu_hold *h, const struct sockaddr *dst,
    const uint8_t *p, size_t len);

/* What a sniff result leads to (sniffing.md §0, issue 5). */
enum redu_sniff_next {
    REDU_SN_ORIGINAL = 0,   /* send to the original destination */
    REDU_SN_RESOLVE,        /* resolve the name, send there */
    REDU_SN_DROP,           /* the name failed and no fallback: drop */
};

/*
 * named: the sniffer found a name; resolve_failed: resolving it failed
 * (or timed out, or gave tproxyd's own listener). No name or
 * dial_original_dst -> ORIGINAL; a name -> RESOLVE; a failed name ->
 * ORIGINAL with fallback, else DROP.
 */
enum redu_sniff_next redu_sniff_next(const struct tp_sniff_conf *sc,
    bool named, bool resolve_failed);

/* A sniffed name must not lead to these: 127.0.0.0/8, ::1, a v4-mapped
 * 127.x address, or an unspecified address (the client would reach the
 * gateway's own loopback services by naming "localhost"). */
bool redu_addr_loopback(const struct sockaddr *sa);

/* A session's sniffed name, kept (small, allocated once) until it ends. */
struct redu_name {
    union tp_sa to;             /* where datagrams to the session's odst go */
    bool        rewrite;        /* to is not odst (the name was resolved) */
    char        host[];         /* normalised name, for routing and logs */
};

/* Where a datagram of the session to dst really goes: nm->to when dst is
 * the session's original destination and the name rewrote it, else dst
 * (nm may be NULL). */
const struct sockaddr *redu_name_dst(const struct redu_name *nm,
    const union tp_sa *odst, const struct sockaddr *dst);

/* Whom a reply from `from` must seem to come from: the original
 * destination odst when from is the resolved address (the client sent to
 * odst and expects it), else from (nm may be NULL). */
const union tp_sa *redu_name_reply_src(const struct redu_name *nm,
    const union tp_sa *odst, const union tp_sa *from);

/* ------------------------------------------------ UDP through a chain */

#define REDU_QUEUE_DGRAMS       8       /* queued while an association opens */
#define REDU_QUEUE_BYTES        16384
#define REDU_RETRY_MS           1000    /* after a failed association */
#define REDU_BACKOFF_SLOTS      256     /* clients remembered per worker */

/* One queued datagram, allocated with its bytes. */
struct redu_qd {
    struct redu_qd *next;
    union tp_sa     dst;
    size_t          len;
    uint8_t         data[];
};

/* The datagrams of a session that wait for its association, in arrival
 * order (zeroed = empty). */
struct redu_queue {
    struct redu_qd *head, *tail;
    size_t          n, bytes;
};

/* Appends a copy of (p, len) for dst: 0, or -1 with errno ENOBUFS when it
 * would be the 9th datagram or pass 16 KiB, ENOMEM (nothing changed). */
int redu_queue_push(struct redu_queue *q, const struct sockaddr *dst,
    const uint8_t *p, size_t len);
/* The oldest datagram, taken off the queue (the caller frees it), or NULL. */
struct redu_qd *redu_queue_pop(struct redu_queue *q);
/* Frees every queued datagram; returns how many there were. */
size_t redu_queue_clear(struct redu_queue *q);

/*
 * Whom a reply that came through a tunnel from src must seem to come from,
 * for a session whose datagrams go to dst (its original destination, or
 * the address its sniffed name resolved to; redu_name_reply_src then maps
 * that one back). src itself when it is an address of dst's family (a
 * v4-mapped IPv6 one unmapped); dst when the source is unknown: none, not
 * an IP address (a name), another family, an unspecified address or port
 * 0. 0 with *out set, or -1 (drop it) when symmetric and src is a real
 * address other than dst: a symmetric session only hears its destination.
 */
int redu_tunnel_reply_src(const struct sockaddr *src, const union tp_sa *dst,
    bool symmetric, union tp_sa *out);

/* Clients (full-cone) or client + destination pairs (symmetric: dst not
 * NULL) whose association failed recently, in a direct-mapped cache: a
 * collision forgets the older entry (one early retry at worst). */
struct redu_backoff_slot {
    union tp_sa client, dst;    /* dst: AF_UNSPEC for full-cone */
    uint64_t    until_ms;
};

struct redu_backoff {
    struct redu_backoff_slot slot[REDU_BACKOFF_SLOTS];
};

/* Whether a new association for the key (hash: of client, and of dst when
 * given) must wait at now_ms. */
bool redu_backoff_blocked(const struct redu_backoff *b, uint32_t hash,
    const struct sockaddr *client, const struct sockaddr *dst,
    uint64_t now_ms);
/* Remember that the key's association failed: no new one before until_ms. */
void redu_backoff_note(struct redu_backoff *b, uint32_t hash,
    const struct sockaddr *client, const struct sockaddr *dst,
    uint64_t until_ms);

#endif
