/*
 * log.c - writes log lines to stderr, a file or syslog. A line is built in
 * one buffer and written with one write(2) so that workers sharing a file
 * never interleave partial lines.
 */
#include "tproxyd.h"
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

struct tp_log tp_log_sink = {
    TP_LOG_INFO, 2, false, "", "tproxyd", (uid_t) -1, (gid_t) -1
};

void
tp_log_set_owner(uid_t uid, gid_t gid)
{
    tp_log_sink.owner_uid = uid;
    tp_log_sink.owner_gid = gid;
}

/* Open a log file; a new one belongs to the workers' user so that they
 * can reopen it after rotation too. */
static int
log_file_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd >= 0 && tp_log_sink.owner_uid != (uid_t) -1 && geteuid() == 0) {
        if (fchown(fd, tp_log_sink.owner_uid, tp_log_sink.owner_gid) != 0) {
            /* keep going: root can still write it */
        }
    }
    return fd;
}

static const char *const level_names[] = {
    "error", "warn", "notice", "info", "debug"
};

int
tp_log_level_parse(const char *s)
{
    for (size_t i = 0; i < nitems(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            return (int) i;
        }
    }
    return -1;
}

const char *
tp_log_level_name(int level)
{
    if (level < 0 || (size_t) level >= nitems(level_names)) {
        return "?";
    }
    return level_names[level];
}

int
tp_log_open(const char *target, int level)
{
    int fd;

    tp_log_sink.level = level;
    if (strcmp(target, "syslog") == 0) {
        if (tp_log_sink.fd > 2) {
            close(tp_log_sink.fd);
        }
        openlog("tproxyd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        tp_log_sink.syslog = true;
        tp_log_sink.fd = -1;
        return 0;
    }
    if (strcmp(target, "stderr") == 0) {
        fd = 2;
    } else {
        fd = log_file_open(target);
        if (fd < 0) {
            return -1;
        }
        snprintf(tp_log_sink.path, sizeof(tp_log_sink.path), "%s", target);
    }
    if (tp_log_sink.fd > 2 && tp_log_sink.fd != fd) {
        close(tp_log_sink.fd);
    }
    tp_log_sink.syslog = false;
    tp_log_sink.fd = fd;
    return 0;
}

int
tp_log_reopen(void)
{
    int fd;

    if (tp_log_sink.syslog || tp_log_sink.path[0] == '\0') {
        return 0;
    }
    fd = log_file_open(tp_log_sink.path);
    if (fd < 0) {
        return -1;
    }
    if (tp_log_sink.fd > 2) {
        dup2(fd, tp_log_sink.fd);
        close(fd);
    } else {
        tp_log_sink.fd = fd;
    }
    return 0;
}

void
tp_log_set_tag(const char *tag)
{
    snprintf(tp_log_sink.tag, sizeof(tp_log_sink.tag), "%s", tag);
}

static int
syslog_prio(int level)
{
    static const int prio[] = {
        LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG
    };
    return prio[level];
}

void
tp_log_write(int level, const char *fmt, ...)
{
    char            line[2048];
    size_t          n = 0;
    va_list         ap;
    struct timespec ts;
    struct tm       tm;
    ssize_t         w TP_UNUSED;

    if (!tp_log_sink.syslog) {
        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = strftime(line, sizeof(line), "%Y-%m-%d %H:%M:%S", &tm);
        n += (size_t) snprintf(line + n, sizeof(line) - n, ".%03ld [%s] %s: ",
                               ts.tv_nsec / 1000000, level_names[level],
                               tp_log_sink.tag);
    } else {
        n = (size_t) snprintf(line, sizeof(line), "%s: ", tp_log_sink.tag);
    }
    va_start(ap, fmt);
    n += (size_t) vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (n >= sizeof(line) - 1) {
        n = sizeof(line) - 2;
    }
    if (tp_log_sink.syslog) {
        syslog(syslog_prio(level), "%s", line);
        return;
    }
    line[n++] = '\n';
    w = write(tp_log_sink.fd, line, n);
}
