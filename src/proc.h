/*
 * proc.h - process plumbing: daemonizing, the pid file, resource limits,
 * and dropping root in workers while keeping the network capabilities
 * they need (CAP_NET_ADMIN for SO_MARK and transparent sockets).
 */
#ifndef TP_PROC_H
#define TP_PROC_H

#include "tproxyd.h"

int tp_proc_daemonize(int *ready_fd);
void tp_proc_daemon_ready(int *ready_fd, bool ok);
void tp_proc_detach_stderr(void);
int tp_proc_user_ids(const char *user, const char *group, uid_t *uid,
    gid_t *gid);
int tp_proc_write_pid(const char *path, struct tp_err *err);
pid_t tp_proc_read_pid(const char *path, struct tp_err *err);
void tp_proc_worker_limits(const struct tp_conf *conf);
int tp_proc_drop_privileges(const struct tp_conf *conf);

#endif
