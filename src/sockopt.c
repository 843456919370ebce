/*
 * sockopt.c - setsockopt helpers with errors that say what is needed.
 */
#include "tproxyd.h"
#include "sockopt.h"

#include <stdio.h>

static int
set_int(int fd, int level, int name, int v)
{
    return setsockopt(fd, level, name, &v, sizeof(v));
}

int
tp_sock_transparent(int fd, int family, struct tp_err *err)
{
    if (set_int(fd, SOL_IP, IP_TRANSPARENT, 1) != 0
        || (family == AF_INET6
            && set_int(fd, SOL_IPV6, IPV6_TRANSPARENT, 1) != 0)) {
        snprintf(err->msg, sizeof(err->msg), "IP_TRANSPARENT: %s (needs "
                 "CAP_NET_ADMIN or CAP_NET_RAW)", strerror(errno));
        return -1;
    }
    return 0;
}

int
tp_sock_recvorigdst(int fd, int family, struct tp_err *err)
{
    if (set_int(fd, SOL_IP, IP_RECVORIGDSTADDR, 1) != 0
        || (family == AF_INET6
            && set_int(fd, SOL_IPV6, IPV6_RECVORIGDSTADDR, 1) != 0)) {
        snprintf(err->msg, sizeof(err->msg), "IP_RECVORIGDSTADDR: %s",
                 strerror(errno));
        return -1;
    }
    return 0;
}
