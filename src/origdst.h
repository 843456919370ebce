/*
 * origdst.h - recovering where a diverted flow was going, and refusing
 * flows that would loop back into tproxyd's own listeners.
 */
#ifndef TP_ORIGDST_H
#define TP_ORIGDST_H

#include "tproxyd.h"
#include "util.h"

struct msghdr;
struct tp_cycle;

/* TCP: TPROXY -> getsockname(); REDIRECT -> SO_ORIGINAL_DST by the peer's
 * family (v4-mapped peers are IPv4). 0, or -1 with errno. */
int tp_origdst_tcp(int fd, bool tproxy, const struct sockaddr *peer,
    struct tp_target *dst);
/* UDP: the IP_ORIGDSTADDR / IPV6_ORIGDSTADDR control message. 0 or -1. */
int tp_origdst_udp(const struct msghdr *msg, struct sockaddr_storage *ss,
    socklen_t *len);
/* True if sa is a local address on a port one of our listeners uses. */
bool tp_origdst_is_self(const struct tp_cycle *c, const struct sockaddr *sa,
    int socktype);

#endif
