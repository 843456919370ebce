/*
 * master.c - nginx-style supervision. Signal handlers only set flags; the
 * loop waits in sigsuspend() and acts on them. Reload builds a new cycle
 * beside the old one (inheriting matching listener sockets), starts new
 * workers on it, then tells the old workers to drain. A worker that dies is
 * respawned, with back-off if it keeps dying young.
 */
#include "tproxyd.h"
#include "master.h"
#include "conf.h"
#include "cycle.h"
#include "log.h"
#include "proc.h"
#include "worker.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

struct tp_child {
    pid_t       pid;            /* 0: waiting to be respawned */
    int         slot;
    unsigned    generation;
    uint64_t    started_ms;
    uint64_t    respawn_at_ms;
    uint64_t    backoff_ms;
};

struct tp_master {
    struct tp_cycle    *cycle;
    tp_conf_loader      load;
    void               *arg;
    struct tp_child    *kids;
    size_t              nkids, cap;
    bool                stopping;
    bool                fast_stop;      /* TERM overrides a graceful stop */
    char               *pid_file;
};

static volatile sig_atomic_t got_hup, got_quit, got_term, got_chld, got_usr1,
                             got_alrm;

static void
on_signal(int sig)
{
    switch (sig) {
    case SIGHUP:  got_hup = 1; break;
    case SIGQUIT: got_quit = 1; break;
    case SIGTERM:
    case SIGINT:  got_term = 1; break;
    case SIGCHLD: got_chld = 1; break;
    case SIGUSR1: got_usr1 = 1; break;
    case SIGALRM: got_alrm = 1; break;
    }
}

static const int master_signals[] = {
    SIGHUP, SIGQUIT, SIGTERM, SIGINT, SIGCHLD, SIGUSR1, SIGALRM
};

static void
signals_setup(sigset_t *blocked)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(blocked);
    for (size_t i = 0; i < nitems(master_signals); i++) {
        sigaction(master_signals[i], &sa, NULL);
        sigaddset(blocked, master_signals[i]);
    }
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_BLOCK, blocked, NULL);
}

static void
child_reset_signals(void)
{
    sigset_t none;

    for (size_t i = 0; i < nitems(master_signals); i++) {
        signal(master_signals[i], SIG_DFL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void
spawn(struct tp_master *m, struct tp_child *k)
{
    pid_t pid = fork();

    if (pid < 0) {
        tp_log_err("fork: %s; retrying in 1s", strerror(errno));
        k->respawn_at_ms = tp_now_ms() + 1000;
        return;
    }
    if (pid == 0) {
        child_reset_signals();
        exit(tp_worker_run(m->cycle, k->slot));
    }
    k->pid = pid;
    k->started_ms = tp_now_ms();
    k->respawn_at_ms = 0;
}

static void
spawn_generation(struct tp_master *m)
{
    int n = m->cycle->conf->nworkers;

    for (int i = 0; i < n; i++) {
        struct tp_child *k;

        if (m->nkids == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 8;
            m->kids = realloc(m->kids, m->cap * sizeof(*m->kids));
        }
        k = &m->kids[m->nkids++];
        memset(k, 0, sizeof(*k));
        k->slot = i;
        k->generation = m->cycle->generation;
        spawn(m, k);
    }
    tp_log_notice("started %d workers (generation %u)", n,
                  m->cycle->generation);
}

static void
signal_kids(struct tp_master *m, int sig, bool only_old)
{
    for (size_t i = 0; i < m->nkids; i++) {
        struct tp_child *k = &m->kids[i];
        if (k->pid > 0 && (!only_old || k->generation != m->cycle->generation)) {
            kill(k->pid, sig);
        }
    }
}

static void
forget_kid(struct tp_master *m, size_t i)
{
    m->kids[i] = m->kids[--m->nkids];
}

static void
arm_alarm(struct tp_master *m)
{
    uint64_t         next = 0, now = tp_now_ms();
    struct itimerval it;

    for (size_t i = 0; i < m->nkids; i++) {
        uint64_t t = m->kids[i].respawn_at_ms;
        if (m->kids[i].pid == 0 && t && (next == 0 || t < next)) {
            next = t;
        }
    }
    memset(&it, 0, sizeof(it));
    if (next) {
        uint64_t d = next > now ? next - now : 1;
        it.it_value.tv_sec = (time_t) (d / 1000);
        it.it_value.tv_usec = (suseconds_t) (d % 1000) * 1000;
    }
    setitimer(ITIMER_REAL, &it, NULL);
}

static void
child_exited(struct tp_master *m, size_t i, int status)
{
    struct tp_child *k = &m->kids[i];
    uint64_t         lived = tp_now_ms() - k->started_ms;
    bool             current = k->generation == m->cycle->generation;

    if (m->stopping || !current
        || (WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        tp_log_info("worker %d (pid %ld) exited", k->slot, (long) k->pid);
        forget_kid(m, i);
        return;
    }
    k->backoff_ms = lived < 5000 ? (k->backoff_ms ? k->backoff_ms * 2 : 250)
                                 : 0;
    if (k->backoff_ms > 30000) {
        k->backoff_ms = 30000;
    }
    tp_log_err("worker %d (pid %ld) %s %d; respawning in %llums", k->slot,
               (long) k->pid, WIFSIGNALED(status) ? "killed by signal"
                                                   : "exited with status",
               WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
               (unsigned long long) k->backoff_ms);
    k->pid = 0;
    k->respawn_at_ms = tp_now_ms() + k->backoff_ms;
}

static void
reap(struct tp_master *m)
{
    pid_t pid;
    int   status;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < m->nkids; i++) {
            if (m->kids[i].pid == pid) {
                child_exited(m, i, status);
                break;
            }
        }
    }
}

static void
respawn_due(struct tp_master *m)
{
    uint64_t now = tp_now_ms();

    for (size_t i = 0; i < m->nkids;) {
        struct tp_child *k = &m->kids[i];

        /* Waiting out a back-off: nothing to wait for when stopping, and
         * an old generation's slot is not ours to refill after a reload. */
        if (k->pid == 0 && (m->stopping
                            || k->generation != m->cycle->generation)) {
            forget_kid(m, i);
            continue;
        }
        if (k->pid == 0 && k->respawn_at_ms <= now) {
            spawn(m, k);
        }
        i++;
    }
}

static void
reload(struct tp_master *m)
{
    struct tp_err    err;
    struct tp_conf  *conf;
    struct tp_cycle *c, *old = m->cycle;

    tp_log_notice("reloading configuration");
    conf = m->load(m->arg, &err);
    if (conf == NULL) {
        tp_log_err("reload failed, keeping the running configuration: %s",
                   err.msg);
        return;
    }
    c = tp_cycle_create(conf, old, &err);
    if (c == NULL) {
        tp_log_err("reload failed, keeping the running configuration: %s",
                   err.msg);
        tp_conf_free(conf);
        return;
    }
    if (conf->log.target != NULL
        && tp_log_open(conf->log.target, conf->log.level) != 0) {
        tp_log_err("log target %s: %s", conf->log.target, strerror(errno));
    }
    /* Close the old cycle's own sockets before forking, or the new
     * workers would inherit (and keep open) sockets of removed services. */
    m->cycle = c;
    tp_cycle_free(old, c);
    spawn_generation(m);
    signal_kids(m, SIGQUIT, true);
}

static void
master_loop(struct tp_master *m, sigset_t *blocked)
{
    sigset_t wait_set;

    sigemptyset(&wait_set);
    for (;;) {
        while (!got_hup && !got_quit && !got_term && !got_chld && !got_usr1
               && !got_alrm) {
            sigsuspend(&wait_set);
        }
        if (got_chld) {
            got_chld = 0;
            reap(m);
        }
        if (got_term && !m->fast_stop) {
            tp_log_notice("fast stop");
            m->stopping = m->fast_stop = true;
            signal_kids(m, SIGTERM, false);
        }
        if (got_quit && !m->stopping) {
            tp_log_notice("graceful stop");
            m->stopping = true;
            signal_kids(m, SIGQUIT, false);
        }
        got_term = got_quit = 0;
        if (got_hup) {
            got_hup = 0;
            if (!m->stopping) {
                reload(m);
            }
        }
        if (got_usr1) {
            got_usr1 = 0;
            tp_log_reopen();
            signal_kids(m, SIGUSR1, false);
        }
        got_alrm = 0;
        respawn_due(m);
        arm_alarm(m);
        if (m->stopping && m->nkids == 0) {
            break;
        }
    }
    (void) blocked;
}

int
tp_master_run(tp_conf_loader load, void *arg, bool foreground)
{
    struct tp_master m;
    struct tp_err    err;
    sigset_t         blocked;
    struct tp_conf  *conf;
    int              ready = -1;
    uid_t            uid;
    gid_t            gid;

    memset(&m, 0, sizeof(m));
    m.load = load;
    m.arg = arg;
    conf = load(arg, &err);
    if (conf == NULL) {
        fprintf(stderr, "tproxyd: %s\n", err.msg);
        return 1;
    }
    if (conf->user != NULL
        && tp_proc_user_ids(conf->user, conf->group, &uid, &gid) == 0) {
        tp_log_set_owner(uid, gid);
    }
    if (tp_log_open(conf->log.target, conf->log.level) != 0) {
        fprintf(stderr, "tproxyd: log target %s: %s\n", conf->log.target,
                strerror(errno));
        tp_conf_free(conf);
        return 1;
    }
    tp_log_set_tag("master");
    m.cycle = tp_cycle_create(conf, NULL, &err);
    if (m.cycle == NULL) {
        tp_log_err("%s", err.msg);
        tp_conf_free(conf);
        return 1;
    }
    if (!foreground && tp_proc_daemonize(&ready) != 0) {
        tp_log_err("daemonize: %s", strerror(errno));
        return 1;
    }
    if (conf->pid_file != NULL) {
        m.pid_file = strdup(conf->pid_file);
        if (tp_proc_write_pid(m.pid_file, &err) != 0) {
            tp_log_err("%s", err.msg);
            tp_proc_daemon_ready(&ready, false);
            return 1;
        }
    }
    tp_proc_daemon_ready(&ready, true);
    if (!foreground && strcmp(conf->log.target, "stderr") != 0) {
        tp_proc_detach_stderr();
    }
    signals_setup(&blocked);
    tp_log_notice("tproxyd %s started: %zu services, pid %ld",
                  TPROXYD_VERSION, conf->nservices, (long) getpid());
    spawn_generation(&m);
    master_loop(&m, &blocked);
    if (m.pid_file != NULL) {
        unlink(m.pid_file);
        free(m.pid_file);
    }
    tp_cycle_free(m.cycle, NULL);
    free(m.kids);
    tp_log_notice("exit");
    return 0;
}
