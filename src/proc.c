/*
 * proc.c - daemonize, pid file, RLIMIT_NOFILE, user switch with kept
 * capabilities (libcap).
 */
#include "tproxyd.h"
#include "proc.h"
#include "conf.h"
#include "log.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * Detach. The parent waits on a pipe until the child says it is ready (pid
 * file written, listeners open), so "started" means ready, and exits 0 or 1
 * with the child's verdict. Returns in the child only.
 */
int
tp_proc_daemonize(int *ready_fd)
{
    int   fd, p[2];
    char  c = 0;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) != 0) {
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid > 0) {
        close(p[1]);
        _exit(read(p[0], &c, 1) == 1 && c == '1' ? 0 : 1);
    }
    close(p[0]);
    *ready_fd = p[1];
    setsid();
    if (chdir("/") != 0) {
        return -1;
    }
    umask(022);
    fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        if (fd > 2) {
            close(fd);
        }
    }
    return 0;
}

void
tp_proc_daemon_ready(int *ready_fd, bool ok)
{
    ssize_t n TP_UNUSED;

    if (*ready_fd >= 0) {
        n = write(*ready_fd, ok ? "1" : "0", 1);
        close(*ready_fd);
        *ready_fd = -1;
    }
}

/* Once logging goes elsewhere, nothing should hold the caller's stderr. */
void
tp_proc_detach_stderr(void)
{
    int fd = open("/dev/null", O_WRONLY);

    if (fd >= 0) {
        dup2(fd, 2);
        if (fd > 2) {
            close(fd);
        }
    }
}

int
tp_proc_user_ids(const char *user, const char *group, uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam(user);
    struct group  *gr;

    if (pw == NULL) {
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    if (group != NULL) {
        gr = getgrnam(group);
        if (gr == NULL) {
            return -1;
        }
        *gid = gr->gr_gid;
    }
    return 0;
}

int
tp_proc_write_pid(const char *path, struct tp_err *err)
{
    FILE *f = fopen(path, "w");

    if (f == NULL) {
        snprintf(err->msg, sizeof(err->msg), "pid_file %s: %s", path,
                 strerror(errno));
        return -1;
    }
    fprintf(f, "%ld\n", (long) getpid());
    fclose(f);
    return 0;
}

pid_t
tp_proc_read_pid(const char *path, struct tp_err *err)
{
    FILE *f = fopen(path, "r");
    long  pid = 0;

    if (f == NULL) {
        snprintf(err->msg, sizeof(err->msg), "pid_file %s: %s (is tproxyd "
                 "running?)", path, strerror(errno));
        return -1;
    }
    if (fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
        snprintf(err->msg, sizeof(err->msg), "pid_file %s: no pid in it",
                 path);
        pid = -1;
    }
    fclose(f);
    return (pid_t) pid;
}

void
tp_proc_worker_limits(const struct tp_conf *conf)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (conf->worker_rlimit_nofile > 0) {
        rl.rlim_cur = (rlim_t) conf->worker_rlimit_nofile;
        if (rl.rlim_max < rl.rlim_cur) {
            rl.rlim_max = rl.rlim_cur;
        }
    } else {
        rl.rlim_cur = rl.rlim_max;
    }
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        tp_log_warn("worker_rlimit_nofile %llu: %s",
                    (unsigned long long) rl.rlim_cur, strerror(errno));
    }
}

static int
keep_caps(void)
{
    cap_value_t caps[] = { CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE };
    cap_t       c = cap_init();
    int         rc;

    cap_set_flag(c, CAP_PERMITTED, (int) nitems(caps), caps, CAP_SET);
    cap_set_flag(c, CAP_EFFECTIVE, (int) nitems(caps), caps, CAP_SET);
    rc = cap_set_proc(c);
    cap_free(c);
    return rc;
}

/* Switch to conf->user (and group), keeping only the network caps. */
int
tp_proc_drop_privileges(const struct tp_conf *conf)
{
    struct passwd *pw;
    struct group  *gr;
    gid_t          gid;

    if (conf->user == NULL || geteuid() != 0) {
        return 0;
    }
    pw = getpwnam(conf->user);
    if (pw == NULL) {
        tp_log_err("user \"%s\": no such user", conf->user);
        return -1;
    }
    gid = pw->pw_gid;
    if (conf->group != NULL) {
        gr = getgrnam(conf->group);
        if (gr == NULL) {
            tp_log_err("group \"%s\": no such group", conf->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (prctl(PR_SET_KEEPCAPS, 1) != 0 || setgroups(0, NULL) != 0
        || setgid(gid) != 0 || setuid(pw->pw_uid) != 0 || keep_caps() != 0) {
        tp_log_err("switching to user \"%s\": %s", conf->user,
                   strerror(errno));
        return -1;
    }
    prctl(PR_SET_KEEPCAPS, 0);
    prctl(PR_SET_DUMPABLE, 1);
    return 0;
}
