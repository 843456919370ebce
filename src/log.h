/*
 * log.h - the log sink: levels, stderr/syslog/file targets, reopen on USR1.
 * The sink is the one allowed piece of process-wide state besides the
 * master/worker objects. Severity is checked before anything is formatted.
 */
#ifndef TP_LOG_H
#define TP_LOG_H

#include "tproxyd.h"

enum tp_log_level {
    TP_LOG_ERR = 0,
    TP_LOG_WARN,
    TP_LOG_NOTICE,
    TP_LOG_INFO,
    TP_LOG_DEBUG,
};

struct tp_log {
    int         level;
    int         fd;             /* stderr or a file; -1 for syslog */
    bool        syslog;
    char        path[512];      /* file target, for reopen */
    char        tag[16];        /* "master", "w0", ... */
    uid_t       owner_uid;      /* files the master creates go to the */
    gid_t       owner_gid;      /* workers' user (-1: leave as is) */
};

extern struct tp_log tp_log_sink;

int tp_log_level_parse(const char *s);
const char *tp_log_level_name(int level);
/* target: "stderr", "syslog" or a file path. Returns -1 with errno. */
int tp_log_open(const char *target, int level);
int tp_log_reopen(void);
void tp_log_set_tag(const char *tag);
void tp_log_set_owner(uid_t uid, gid_t gid);
void tp_log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define tp_log(lvl, ...)                                                    \
    do {                                                                    \
        if ((lvl) <= tp_log_sink.level) {                                   \
            tp_log_write((lvl), __VA_ARGS__);                               \
        }                                                                   \
    } while (0)

#define tp_log_err(...)    tp_log(TP_LOG_ERR, __VA_ARGS__)
#define tp_log_warn(...)   tp_log(TP_LOG_WARN, __VA_ARGS__)
#define tp_log_notice(...) tp_log(TP_LOG_NOTICE, __VA_ARGS__)
#define tp_log_info(...)   tp_log(TP_LOG_INFO, __VA_ARGS__)
#define tp_log_debug(...)  tp_log(TP_LOG_DEBUG, __VA_ARGS__)

#endif
