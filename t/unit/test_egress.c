/*
 * test_egress.c - egress sockets: sockopts.source on real sockets over
 * loopback (127.0.0.0/8 is all local): round robin over the addresses of
 * the socket's family, an address that is not on the host skipped, the
 * other family ignored, every address refusing reported, and TCP left
 * without a port until connect().
 */
#include "tproxyd.h"
#include "conf.h"
#include "dial.h"
#include "test_chain.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static struct sockaddr_in
bound(int fd)
{
    struct sockaddr_in in;
    socklen_t          len = sizeof(in);

    memset(&in, 0, sizeof(in));
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *) &in, &len), 0);
    return in;
}

static const char *
bound_ip(int fd, char *buf)
{
    struct sockaddr_in in = bound(fd);

    return inet_ntop(AF_INET, &in.sin_addr, buf, INET_ADDRSTRLEN);
}

/* A UDP socket bound through so; returns its address as text ("" = the
 * bind failed, errno kept). */
static const char *
udp_source(const struct tp_sockopts *so, unsigned *next, char *buf)
{
    int fd = tp_socket_egress(AF_INET, SOCK_DGRAM, 0);

    ck_assert_int_ge(fd, 0);
    if (tp_socket_bind_source(fd, AF_INET, SOCK_DGRAM, so, next) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return "";
    }
    bound_ip(fd, buf);
    close(fd);
    return buf;
}

START_TEST(round_robin_and_skips)
{
    char               *src[] = { "127.0.0.2", "2001:db8::1", "192.0.2.99",
                                  "127.0.0.3" };
    union tp_sa         sa[] = { tpt_sa(src[0], 0), tpt_sa(src[1], 0),
                                 tpt_sa(src[2], 0), tpt_sa(src[3], 0) };
    struct tp_sockopts  so = { 0, src, 4, sa };
    unsigned            next = 0;
    char                b[INET_ADDRSTRLEN];

    ck_assert_str_eq(udp_source(&so, &next, b), "127.0.0.2");
    /* v6 ignored, 192.0.2.99 not on this host: skipped. */
    ck_assert_str_eq(udp_source(&so, &next, b), "127.0.0.3");
    ck_assert_str_eq(udp_source(&so, &next, b), "127.0.0.2");
    ck_assert_str_eq(udp_source(&so, &next, b), "127.0.0.3");
}
END_TEST

START_TEST(refusals_and_other_family)
{
    char               *bad[] = { "192.0.2.98", "192.0.2.99" };
    char               *v6[] = { "2001:db8::1" };
    union tp_sa         bad_sa[] = { tpt_sa(bad[0], 0), tpt_sa(bad[1], 0) };
    union tp_sa         v6_sa[] = { tpt_sa(v6[0], 0) };
    struct tp_sockopts  so_bad = { 0, bad, 2, bad_sa };
    struct tp_sockopts  so_v6 = { 0, v6, 1, v6_sa };
    struct tp_sockopts  none = { 0, NULL, 0, NULL };
    unsigned            next = 0;
    char                b[INET_ADDRSTRLEN];

    ck_assert_str_eq(udp_source(&so_bad, &next, b), "");
    ck_assert_int_eq(errno, EADDRNOTAVAIL);
    /* Nothing of the family, or nothing listed: left to the system. */
    ck_assert_str_eq(udp_source(&so_v6, &next, b), "0.0.0.0");
    ck_assert_str_eq(udp_source(&none, &next, b), "0.0.0.0");
    ck_assert_str_eq(udp_source(NULL, &next, b), "0.0.0.0");
}
END_TEST

START_TEST(tcp_port_chosen_at_connect)
{
    char               *src[] = { "127.0.0.4" };
    union tp_sa         sa[] = { tpt_sa(src[0], 0) };
    struct tp_sockopts  so = { 0, src, 1, sa };
    unsigned            next = 0;
    struct sockaddr_in  srv, in;
    socklen_t           len = sizeof(srv);
    int                 l = socket(AF_INET, SOCK_STREAM, 0), fd, a;
    char                b[INET_ADDRSTRLEN];

    memset(&srv, 0, sizeof(srv));
    srv.sin_family = AF_INET;
    srv.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(l, (struct sockaddr *) &srv, sizeof(srv)), 0);
    ck_assert_int_eq(listen(l, 4), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *) &srv, &len), 0);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(tp_socket_bind_source(fd, AF_INET, SOCK_STREAM, &so,
                                           &next), 0);
    in = bound(fd);
    ck_assert_str_eq(bound_ip(fd, b), "127.0.0.4");
    ck_assert_uint_eq(in.sin_port, 0);          /* not yet: at connect */
    ck_assert_int_eq(connect(fd, (struct sockaddr *) &srv, sizeof(srv)), 0);
    ck_assert_uint_ne(bound(fd).sin_port, 0);
    a = accept(l, NULL, NULL);
    ck_assert_int_ge(a, 0);
    len = sizeof(in);
    ck_assert_int_eq(getpeername(a, (struct sockaddr *) &in, &len), 0);
    ck_assert_str_eq(inet_ntop(AF_INET, &in.sin_addr, b, sizeof(b)),
                     "127.0.0.4");              /* the server sees it */
    close(a);
    close(fd);
    close(l);
}
END_TEST

Suite *
suite_egress(void)
{
    Suite *s = suite_create("egress");
    TCase *tc = tcase_create("source");

    tcase_add_test(tc, round_robin_and_skips);
    tcase_add_test(tc, refusals_and_other_family);
    tcase_add_test(tc, tcp_port_chosen_at_connect);
    suite_add_tcase(s, tc);
    return s;
}
