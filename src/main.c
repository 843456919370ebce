/*
 * main.c - the command line: parse argv, then test the config, print it,
 * signal a running master, or become the master. Nothing else.
 */
#include "tproxyd.h"
#include "conf.h"
#include "conf_url.h"
#include "log.h"
#include "master.h"
#include "proc.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#ifndef TP_DEFAULT_CONF
#define TP_DEFAULT_CONF "/etc/tproxyd/tproxyd.conf"
#endif

struct tp_args {
    const char         *conf_path;
    bool                test, dump, foreground, conf_given;
    const char         *signal;
    struct tp_urls      urls;
};

static void
usage(FILE *out)
{
    fprintf(out,
        "usage: tproxyd [-c FILE | -L URL... [-F URL...]] [-t | -T] [-f]\n"
        "       tproxyd [-c FILE] -s quit|stop|reload|reopen\n"
        "  -c FILE   configuration file (default " TP_DEFAULT_CONF ")\n"
        "  -L URL    a service, GOST style: red://:12345?tproxy=true\n"
        "  -F URL    a hop of the chain used by every -L service\n"
        "  -t        test the configuration and exit\n"
        "  -T        test, then print the normalized configuration\n"
        "  -f        stay in the foreground\n"
        "  -s SIG    send a signal to the running master\n"
        "  -S        list every setting the configuration accepts\n"
        "  -v        print the version\n");
}

static struct tp_conf *
load_config(void *arg, struct tp_err *err)
{
    struct tp_args *a = arg;

    if (a->urls.nl > 0) {
        return tp_conf_from_urls(&a->urls, err);
    }
    return tp_conf_load(a->conf_path, err);
}

static int
send_signal(struct tp_args *a)
{
    static const struct { const char *name; int sig; } sigs[] = {
        { "quit", SIGQUIT }, { "stop", SIGTERM }, { "reload", SIGHUP },
        { "reopen", SIGUSR1 },
    };
    struct tp_err   err;
    struct tp_conf *conf;
    pid_t           pid;

    for (size_t i = 0; i < nitems(sigs); i++) {
        if (strcmp(a->signal, sigs[i].name) != 0) {
            continue;
        }
        conf = load_config(a, &err);
        if (conf == NULL) {
            fprintf(stderr, "tproxyd: %s\n", err.msg);
            return 1;
        }
        pid = conf->pid_file ? tp_proc_read_pid(conf->pid_file, &err) : -1;
        if (conf->pid_file == NULL) {
            snprintf(err.msg, sizeof(err.msg), "%s sets no pid_file",
                     conf->path);
        }
        tp_conf_free(conf);
        if (pid < 0 || kill(pid, sigs[i].sig) != 0) {
            fprintf(stderr, "tproxyd: -s %s: %s\n", a->signal,
                    pid < 0 ? err.msg : strerror(errno));
            return 1;
        }
        return 0;
    }
    fprintf(stderr, "tproxyd: -s %s: expected quit, stop, reload or "
            "reopen\n", a->signal);
    return 1;
}

static int
test_config(struct tp_args *a)
{
    struct tp_err   err;
    struct tp_conf *conf = load_config(a, &err);

    if (conf == NULL) {
        fprintf(stderr, "tproxyd: %s\n", err.msg);
        fprintf(stderr, "tproxyd: configuration test failed\n");
        return 1;
    }
    if (a->dump) {
        tp_conf_print(conf, stdout);
    } else {
        fprintf(stderr, "tproxyd: configuration %s is ok\n", conf->path);
    }
    tp_conf_free(conf);
    return 0;
}

int
main(int argc, char **argv)
{
    struct tp_args a;
    int            opt, rc;

    memset(&a, 0, sizeof(a));
    a.conf_path = TP_DEFAULT_CONF;
    while ((opt = getopt(argc, argv, "c:tTfs:SvhL:F:")) != -1) {
        switch (opt) {
        case 'c': a.conf_path = optarg; a.conf_given = true; break;
        case 't': a.test = true; break;
        case 'T': a.test = a.dump = true; break;
        case 'f': a.foreground = true; break;
        case 's': a.signal = optarg; break;
        case 'L': tp_urls_add(&a.urls, 'L', optarg); break;
        case 'F': tp_urls_add(&a.urls, 'F', optarg); break;
        case 'v': printf("tproxyd %s\n", TPROXYD_VERSION); return 0;
        case 'S': tp_conf_list_settings(stdout); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc || (a.conf_given && a.urls.nl + a.urls.nf > 0)
        || (a.urls.nf > 0 && a.urls.nl == 0)) {
        fprintf(stderr, "tproxyd: %s\n", optind < argc
                ? "unexpected arguments" : a.conf_given
                ? "-c and -L/-F cannot be used together"
                : "-F needs at least one -L");
        usage(stderr);
        return 2;
    }
    if (a.signal != NULL) {
        rc = send_signal(&a);
    } else if (a.test) {
        rc = test_config(&a);
    } else {
        rc = tp_master_run(load_config, &a, a.foreground);
    }
    tp_urls_free(&a.urls);
    return rc;
}
