/*
 * origdst.c - original destination recovery (design.md data path step 2).
 * The connection's family decides the getsockopt level, never trial and
 * error: on a dual-stack socket a v4-mapped peer answers only SOL_IP.
 */
#include "tproxyd.h"
#include "origdst.h"
#include "cycle.h"

#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <unistd.h>

int
tp_origdst_tcp(int fd, bool tproxy, const struct sockaddr *peer,
    struct tp_target *dst)
{
    struct sockaddr_storage ss;
    socklen_t               len = sizeof(ss);
    bool                    v4;

    memset(&ss, 0, sizeof(ss));
    if (tproxy) {
        if (getsockname(fd, (struct sockaddr *) &ss, &len) != 0) {
            return -1;
        }
    } else {
        v4 = peer->sa_family == AF_INET
             || (peer->sa_family == AF_INET6
                 && IN6_IS_ADDR_V4MAPPED(
                        &((const struct sockaddr_in6 *) (const void *) peer)
                        ->sin6_addr));
        len = v4 ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
        if (getsockopt(fd, v4 ? SOL_IP : SOL_IPV6,
                       v4 ? SO_ORIGINAL_DST : IP6T_SO_ORIGINAL_DST, &ss,
                       &len) != 0) {
            return -1;
        }
    }
    tp_target_from_sockaddr(dst, (struct sockaddr *) &ss, len);
    return 0;
}

int
tp_origdst_udp(const struct msghdr *msg, struct sockaddr_storage *ss,
    socklen_t *len)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR((struct msghdr *) msg);
         cm != NULL; cm = CMSG_NXTHDR((struct msghdr *) msg, cm)) {
        if (cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_ORIGDSTADDR) {
            *len = sizeof(struct sockaddr_in);
        } else if (cm->cmsg_level == SOL_IPV6
                   && cm->cmsg_type == IPV6_ORIGDSTADDR) {
            *len = sizeof(struct sockaddr_in6);
        } else {
            continue;
        }
        memset(ss, 0, sizeof(*ss));
        memcpy(ss, CMSG_DATA(cm), *len);
        tp_sockaddr_unmap(ss, len);
        return 0;
    }
    errno = ENOENT;
    return -1;
}

/* A local address is one we can bind without IP_TRANSPARENT. */
static bool
is_local_address(const struct sockaddr *sa)
{
    struct sockaddr_storage ss;
    socklen_t               len;
    int                     fd, rc;

    len = sa->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                   : sizeof(struct sockaddr_in6);
    memcpy(&ss, sa, len);
    if (ss.ss_family == AF_INET) {
        ((struct sockaddr_in *) &ss)->sin_port = 0;
    } else {
        ((struct sockaddr_in6 *) &ss)->sin6_port = 0;
    }
    fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    rc = bind(fd, (struct sockaddr *) &ss, len);
    close(fd);
    return rc == 0;
}

bool
tp_origdst_is_self(const struct tp_cycle *c, const struct sockaddr *sa,
    int socktype)
{
    struct sockaddr_storage mapped;
    struct sockaddr_in6    *m6 = (struct sockaddr_in6 *) &mapped;
    const struct sockaddr_in *in = (const void *) sa;

    if (tp_cycle_is_listener(c, sa, socktype)) {
        return is_local_address(sa);
    }
    /* A v4 destination also matches a dual-stack [::] listener. */
    if (sa->sa_family == AF_INET) {
        memset(&mapped, 0, sizeof(mapped));
        m6->sin6_family = AF_INET6;
        m6->sin6_port = in->sin_port;
        m6->sin6_addr.s6_addr[10] = 0xff;
        m6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&m6->sin6_addr.s6_addr[12], &in->sin_addr, 4);
        if (tp_cycle_is_listener(c, (struct sockaddr *) &mapped, socktype)) {
            return is_local_address(sa);
        }
    }
    return false;
}
