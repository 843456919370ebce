/*
 * sockopt.h - socket options shared by listeners and the UDP path.
 */
#ifndef TP_SOCKOPT_H
#define TP_SOCKOPT_H

#include "tproxyd.h"

/* IP_TRANSPARENT, plus IPV6_TRANSPARENT on AF_INET6 sockets (dual-stack
 * sockets need both). */
int tp_sock_transparent(int fd, int family, struct tp_err *err);
/* IP_RECVORIGDSTADDR, plus the IPv6 one on AF_INET6 sockets. */
int tp_sock_recvorigdst(int fd, int family, struct tp_err *err);

#endif
