/*
 * tproxyd.h - common includes, forward declarations, return codes and the few
 * allowed macros. Every file in src/ and modules/ includes this first.
 */
#ifndef TPROXYD_H
#define TPROXYD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#define TPROXYD_VERSION "0.1.0"

#define nitems(a)            (sizeof(a) / sizeof((a)[0]))
#define container_of(p, t, m) ((t *) ((char *) (p) - offsetof(t, m)))
#define TP_UNUSED            __attribute__((unused))

/* Return codes for functions that can do more than succeed or fail. */
enum tp_rc {
    TP_OK = 0,
    TP_ERROR = -1,
    TP_AGAIN = -2,      /* need more input / try later */
    TP_NEXT = -3,       /* not mine: let the next candidate try */
};

/* Setup-time error: message plus the config position it is about. */
struct tp_err {
    char        msg[512];
};

struct tp_conf;
struct tp_service;
struct tp_chain;
struct tp_module;
struct tp_cycle;
struct tp_worker;
struct tp_conn;

#endif
