/*
 * redu_module.h - what the files of module "redu" share: the per-session
 * and per-worker state, the upstream interface, the drop kinds, and the
 * functions one file calls in another (redu.c, redu_writeback.c,
 * redu_sniff.c, redu_chain.c). Private to them; the pure, unit-tested
 * helpers are redu.h.
 */
#ifndef TP_MOD_REDU_MODULE_H
#define TP_MOD_REDU_MODULE_H

#include "../src/tproxyd.h"
#include "../src/udp_nat.h"
#include "redu.h"

#include <event2/event.h>
#include <event2/event_struct.h>

#define REDU_BUDGET         64      /* datagrams per wake-up per socket */

/* Why a datagram was dropped: counters and rate-limited warnings. */
enum redu_drop {
    REDU_D_TRUNC = 0,   /* larger than read_buffer_size */
    REDU_D_NODST,       /* no IP_ORIGDSTADDR: not diverted by TPROXY */
    REDU_D_LOOP,        /* aimed at tproxyd's own listener */
    REDU_D_SESSION,     /* no session: socket/connect failed, no memory */
    REDU_D_UP,          /* sending upstream failed */
    REDU_D_WB,          /* write-back socket or send failed */
    REDU_D_RECV,        /* error reading a socket (ICMP errors too) */
    REDU_D_DENIED,      /* the service's bypass list refuses the flow */
    REDU_D_QUEUE,       /* queued while the chain's association opens:
                         * over the cap */
    REDU_D_BACKOFF,     /* the chain failed for this client < 1 s ago */
    REDU_D_FOREIGN,     /* symmetric: a tunnel's reply from another remote */
    REDU_D_SNIFF,       /* held while sniffing: over the cap, or its
                         * session was dropped (name failed, denied);
                         * last: the summary line ends with it */
    REDU_D_COUNT
};

struct redu_sess;
struct redu_state;
struct redu_sniff;
struct redu_chain_sess;
struct redu_wb;

/*
 * A session's upstream: where its datagrams leave and where replies come
 * from. "direct" is one marked socket (the table's s->pf.fd). "chain" (see
 * "UDP through a chain" in redu_chain.c) is a datagram tunnel through the
 * handler's chain (socks5 UDP ASSOCIATE, relay UDP), or the direct socket
 * when the chain's bypass matches the session; it finishes opening later
 * (queueing until then) and hands each reply to redu_deliver() with the
 * remote it came from.
 */
struct redu_up_ops {
    const char *route;
    /* Prepare the upstream of a session whose first datagram goes to dst
     * (symmetric: its only destination). With QUIC sniffing this comes
     * once the sniff is decided, with the address the sniffed name
     * resolved to as dst, and the held datagrams follow. 0, or -1 with
     * errno. */
    int       (*open)(struct redu_sess *rs, const struct sockaddr *dst);
    /* One datagram (data, len) to dst. 0 (sent), 1 (taken: queued until
     * the upstream is open, or dropped and counted here), or -1 with
     * errno: the datagram is dropped, the session lives on. */
    int       (*send)(struct redu_sess *rs, const struct sockaddr *dst,
                      const uint8_t *data, size_t len);
    /* s->pf.fd is readable (NULL if the upstream does not use it). */
    void      (*readable)(struct tp_udp_sess *s);
    /* Free what open made (the table closes s->pf.fd itself); may be NULL. */
    void      (*close)(struct redu_sess *rs);
};

/* A session's use of a remote's write-back socket, and its own socket
 * bound to that remote and connected to the client, if it got one. */
struct redu_ref {
    struct redu_ref    *next;           /* most recent first */
    struct redu_wb     *wb;
    struct redu_sess   *rs;
    struct tp_pollfd    cpf;            /* connected socket (fd -1: none,
                                         * wb->fd serves): the client's
                                         * datagrams, in the epoll set */
};

/* Per session, in the table's session allocation (tp_udp_sess_hdata). */
struct redu_sess {
    struct tp_udp_sess *s;
    struct redu_state  *st;
    struct redu_ref    *refs;
    struct redu_ref     first;          /* the usual single remote */
    unsigned            nrefs;
    unsigned            nremotes;       /* distinct remotes that replied */
    bool                quiet;          /* never started: no access log */
    bool                bypassed;       /* the chain's bypass: direct */
    struct redu_sniff  *sniff;          /* while undecided, else NULL */
    struct redu_name   *name;           /* sniffed name, or NULL */
    struct redu_chain_sess *ch;         /* through the chain, or NULL */
};

/* Per worker and service. */
struct redu_state {
    struct tp_udp_nat           nat;
    struct tp_svc_worker       *sw;
    const struct redu_up_ops   *up;
    struct event               *ev;     /* the service socket */
    struct event               *wb_sweep;
    struct redu_wb            **wbs;    /* write-back cache by address */
    size_t                      nwbuckets, nwb, max_wb;
    size_t                      nconn;      /* connected write-back */
    struct redu_wb             *idle_old, *idle_new;
    bool                        draining;
    uint64_t                    sessions;   /* started */
    uint64_t                    wb_sockets; /* write-back sockets made */
    uint64_t                    conn_made;  /* connected ones made */
    uint64_t                    wb_rx;      /* datagrams read from them */
    const struct tp_sniff_conf *sniffing;   /* the handler's */
    const struct tp_chain      *chain;      /* the handler's, or NULL */
    struct redu_backoff        *backoff;    /* with a chain: failed ones */
    uint64_t                    ch_opened, ch_failed, ch_bypassed;
    size_t                      nsniffing;  /* sessions being sniffed */
    uint64_t                    sn_found, sn_none, sn_skipped;
    uint64_t                    drops[REDU_D_COUNT];
    struct redu_rl              rl[REDU_D_COUNT];
    struct redu_rl              rl_full, rl_wbrx;
    char                        str[TP_SOCKADDR_STRLEN];
};

/* ------------------------------------------------------- redu.c */

/* Counts a datagram dropped for why (from -> to, what, err: errno or 0)
 * and warns at most once a second per kind. */
void redu_drop(struct redu_state *st, enum redu_drop why,
    const struct sockaddr *from, const struct sockaddr *to, const char *what,
    int err);
/* The direct upstream's open, send and readable (struct redu_up_ops); the
 * chain's bypass uses them too. */
int direct_open(struct redu_sess *rs, const struct sockaddr *dst);
int direct_send(struct redu_sess *rs, const struct sockaddr *dst,
    const uint8_t *data, size_t len);
void direct_readable(struct tp_udp_sess *s);
/* Handles a datagram (in the table's buffer, len bytes) from client to
 * odst; s is its session if the caller knows it (else looked up or made). */
void redu_from_client(struct redu_state *st, struct tp_udp_sess *s,
    const struct sockaddr *client, const struct sockaddr *odst, size_t len);
/* Logs "#w-id service redu client -> odst: msg" at level. */
void redu_sess_log(int level, const struct redu_sess *rs,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Whether the service's bypass list refuses (host, dst). */
bool redu_denied(const struct redu_state *st, const char *host,
    const struct sockaddr *dst);
/* Sends one datagram of the session upstream to dst (or where its name
 * sends it), counting it, or counting the drop. */
void redu_send(struct redu_sess *rs, const struct sockaddr *dst,
    const uint8_t *data, size_t len);

/* --------------------------------------------- redu_writeback.c */

/* Writes a reply (data, len) from remote `from` back to the session's
 * client, from `from` (or the original destination, see redu_name). */
void redu_deliver(struct redu_sess *rs, const union tp_sa *from,
    const uint8_t *data, size_t len);
/* Drops the session's reference r (its connected socket closes; the shared
 * one goes idle when unreferenced). */
void ref_drop(struct redu_sess *rs, struct redu_ref *r);
/* Closes an unreferenced write-back socket (st->idle_old at shutdown). */
void wb_close(struct redu_state *st, struct redu_wb *wb);
/* The periodic timer (arg: the redu_state) closing idle write-back
 * sockets after the ttl. */
void wb_sweep_cb(evutil_socket_t fd, short what, void *arg);

/* ------------------------------------------------- redu_sniff.c */

/* Frees the session's sniff state if any; held datagrams count as
 * dropped. */
void sn_free(struct redu_sess *rs);
/* Starts sniffing a new session: 0, or -1 when out of memory. */
int redu_sniff_begin(struct redu_sess *rs);
/* A datagram (in the table's buffer) of the session to dst: false when
 * the caller sends it, true when taken (held or dropped; the session may
 * be gone). */
bool redu_sniff_held(struct redu_sess *rs, const struct sockaddr *dst,
    size_t len);

/* ------------------------------------------------- redu_chain.c */

/* The upstream through handler.chain (its bypass: direct). */
extern const struct redu_up_ops redu_chain;
/* The hash of a chain backoff key: the client, and under symmetric odst. */
uint32_t chain_backoff_hash(const struct redu_state *st,
    const struct sockaddr *client, const struct sockaddr *odst);
/* The access log's via= of the session (in buf, or a constant string). */
const char *redu_via(const struct redu_sess *rs, char *buf, size_t size);

#endif
