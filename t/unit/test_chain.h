/*
 * test_chain.h - a small in-process test bed for chains, connectors and
 * server handlers (implemented in test_chain.c, used by test_socks5.c,
 * test_http.c, test_socks4.c, test_relay.c, test_tls.c): one event loop
 * standing in for a worker, a config parsed from text, tproxyd's own
 * stream handlers served on loopback ports, scripted mock peers, and
 * helpers to dial, to talk as a client and to run the loop with a bound.
 */
#ifndef TP_TEST_CHAIN_H
#define TP_TEST_CHAIN_H

#include "tproxyd.h"
#include "conf.h"
#include "cycle.h"
#include "dial.h"
#include "worker.h"

#define TPT_MAX_LISTEN  12

struct tpt_mock;
struct mock_conn;

struct tpt_env {
    struct event_base      *base;
    struct tp_worker        w;
    struct tp_cycle         cycle;
    struct tp_conf         *conf;
    struct tp_svc_worker    sws[TPT_MAX_LISTEN];
    struct evconnlistener  *lev[TPT_MAX_LISTEN];
    int                     lfd[TPT_MAX_LISTEN];
    uint16_t                lport[TPT_MAX_LISTEN];
    size_t                  nlisten;
    struct tpt_mock        *mocks;
    struct event           *udp_ev[4];
    int                     udp_fd[4];
    size_t                  nudp;
    char                    tmpdir[64];
};

/* One step of a mock peer: read elen bytes (compared with expect when it
 * is not NULL), then write reply. */
struct tpt_step {
    const void     *expect;
    size_t          elen;
    const void     *reply;
    size_t          rlen;
};

enum tpt_after { TPT_ECHO, TPT_CLOSE, TPT_HOLD };

struct tpt_mock {
    struct tpt_mock        *next;
    struct tpt_env         *e;
    struct evconnlistener  *lev;
    uint16_t                port;
    const struct tpt_step  *steps;
    size_t                  nsteps;
    int                     after;      /* enum tpt_after */
    int                     accepted;
    bool                    mismatch;   /* a step read unexpected bytes */
    struct mock_conn       *conns;      /* open connections */
};

struct tpt_dialres {
    bool                    done;
    struct bufferevent     *bev;
    int                     err;
    char                    why[256];
    struct tp_dial         *dial;
};

void tpt_env_init(struct tpt_env *e);
void tpt_env_free(struct tpt_env *e);
/* A loopback listening socket made before the config (its port goes into
 * the config text); returns the port, *idx its index for tpt_serve. */
uint16_t tpt_listen(struct tpt_env *e, int *idx);
/* A port nothing listens on (bound, then closed). */
uint16_t tpt_dead_port(void);
/* An IPv4 or IPv6 literal and a port as a socket address (asserts). */
union tp_sa tpt_sa(const char *ip, uint16_t port);
/* Parse a config (printf format); fails the test on error. */
void tpt_conf(struct tpt_env *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A server handler of `type` (with handler_body inside its group) on a tcp
 * listener, plus an echo peer to dial through it. */
struct tpt_server {
    struct tpt_env      e;
    struct tpt_mock    *echo;
    uint16_t            port;
};

void tpt_server_start(struct tpt_server *s, const char *type,
    const char *handler_body);
/* Parse a config; NULL + err on error (for tests of config errors). */
struct tp_conf *tpt_conf_try(const char *text, struct tp_err *err);
/* Serve service number svc of the config on listener idx. */
void tpt_serve(struct tpt_env *e, size_t svc, int idx);
/* Run the loop until *flag is true or timeout_ms passed; returns *flag. */
bool tpt_run_until(struct tpt_env *e, const bool *flag, int timeout_ms);
void tpt_run_for(struct tpt_env *e, int ms);

struct tpt_mock *tpt_mock(struct tpt_env *e, const struct tpt_step *steps,
    size_t nsteps, int after);

/* Dial target host:port through the chain named `chain` (NULL: direct). */
void tpt_dial(struct tpt_env *e, const char *chain, const char *host,
    uint16_t port, struct tpt_dialres *r, int timeout_ms);
/* tpt_dial() that must succeed, then tpt_echo(msg) over the stream, which
 * is freed after. */
void tpt_dial_echo(struct tpt_env *e, const char *chain, const char *host,
    uint16_t port, int timeout_ms, const char *msg);
/* Write msg on bev and wait for the same bytes back (an echo peer). */
bool tpt_echo(struct tpt_env *e, struct bufferevent *bev, const char *msg);
/* After a successful dial: a read error or EOF on bev comes within ms. */
bool tpt_bev_fails(struct tpt_env *e, struct bufferevent *bev,
    const char *msg, int ms);

/* A UDP echo server on 127.0.0.1 (or ::1 when v6); returns its port. */
uint16_t tpt_udp_echo(struct tpt_env *e, bool v6);

struct tpt_udpres {
    bool                    done;
    struct tp_udp_tunnel   *t;
    int                     err;
    char                    why[256];
    struct tp_dial         *dial;
    /* what the tunnel delivered */
    int                     got;
    struct sockaddr_storage src;
    char                    data[256];
    size_t                  len;
    bool                    closed;
    char                    closed_why[256];
};

/* A UDP tunnel through chain to host:port (host NULL: any destination). */
void tpt_dial_udp(struct tpt_env *e, const char *chain, const char *host,
    uint16_t port, struct tpt_udpres *r, int timeout_ms);
/* Send msg to dst through r->t and wait for one datagram back. */
bool tpt_udp_roundtrip(struct tpt_env *e, struct tpt_udpres *r,
    const char *dst, uint16_t port, const char *msg);

/* A client: connected (blocking), then non-blocking. */
int tpt_client(uint16_t port);
void tpt_send(int fd, const void *p, size_t n);
/* Read exactly n bytes while running the loop; returns what came. */
size_t tpt_recv(struct tpt_env *e, int fd, void *buf, size_t n, int ms);
/* True if the peer closes (EOF or reset) within ms; data is discarded. */
bool tpt_closed(struct tpt_env *e, int fd, int ms);

/* The env's temp dir (made on first use, removed by tpt_env_free). */
const char *tpt_tmp(struct tpt_env *e);
/* A self-signed certificate for CN/SAN `name` (and 127.0.0.1) in the env's
 * temp dir; paths written to cert/key. */
void tpt_make_cert(struct tpt_env *e, const char *name, char *cert,
    char *key, size_t size);

#endif
