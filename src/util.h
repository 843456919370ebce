/*
 * util.h - one set of parsers and formatters for what config files and
 * sockets carry: durations, sizes, host:port, socket addresses, time.
 * Pure functions: no logging, no globals.
 */
#ifndef TP_UTIL_H
#define TP_UTIL_H

#include "tproxyd.h"

/* A configured address: "host:port", ":port", "[v6]:port". */
struct tp_hostport {
    char        host[256];  /* "" = wildcard (dual-stack for ":port") */
    uint16_t    port;
    bool        bracketed;  /* written as [v6] */
};

/* A compact IPv4/IPv6 socket address (28 bytes, not 128). */
union tp_sa {
    struct sockaddr     sa;
    struct sockaddr_in  in;
    struct sockaddr_in6 in6;
};

/* Where a flow goes: a name to resolve, or a socket address. */
struct tp_target {
    char                    host[256];  /* non-empty: dial by name */
    uint16_t                port;       /* host order */
    struct sockaddr_storage ss;         /* valid when host is empty */
    socklen_t               sslen;
    bool                    untrusted;  /* name chosen by the client (sniffed):
                                           never dialed to a loopback address */
};

/* All return 0 on success, -1 on error (with a reason in err if given). */
int tp_parse_duration(const char *s, uint64_t *ms);
int tp_parse_size(const char *s, uint64_t *bytes);
int tp_parse_hostport(const char *s, struct tp_hostport *hp, bool port_required,
    const char **why);
int tp_hostport_sockaddr(const struct tp_hostport *hp, int dflt_family,
    struct sockaddr_storage *ss, socklen_t *len);
int tp_ip_literal(const char *host, uint16_t port, struct sockaddr_storage *ss,
    socklen_t *len);

void tp_sockaddr_unmap(struct sockaddr_storage *ss, socklen_t *len);
bool tp_sockaddr_equal(const struct sockaddr *a, const struct sockaddr *b);
uint16_t tp_sockaddr_port(const struct sockaddr *sa);
const char *tp_sockaddr_str(const struct sockaddr *sa, char *buf, size_t size);
const char *tp_target_str(const struct tp_target *t, char *buf, size_t size);
void tp_target_from_sockaddr(struct tp_target *t, const struct sockaddr *sa,
    socklen_t len);
void tp_target_from_name(struct tp_target *t, const char *host, uint16_t port);

socklen_t tp_sa_len(const union tp_sa *a);
void tp_sa_set(union tp_sa *to, const struct sockaddr *from);

/* Loopback or unspecified (also v4-mapped): never a sniffed target. */
bool tp_sockaddr_is_local_only(const struct sockaddr *sa);

uint64_t tp_now_ms(void);
const char *tp_duration_str(uint64_t ms, char *buf, size_t size);

#define TP_SOCKADDR_STRLEN 64

#endif
