/*
 * bench/udprr.c - UDP load tools for `make bench` (built by bench/run.sh with cc).
 *
 *   udprr rr -s IP [-p PORT] [-c FLOWS] [-d SECS] [-w WARMUP] [-l LEN] [-t TIMEOUT_MS]
 *       Closed-loop request/response: FLOWS connected UDP sockets (distinct source
 *       ports = distinct sessions for a proxy), each with exactly one datagram in
 *       flight. A reply carrying the flow's current sequence number completes a
 *       transaction and the next request leaves at once; a request unanswered for
 *       TIMEOUT_MS counts as lost and is replaced. Counts only after WARMUP s.
 *       Prints one line:  rr_per_s=.. p50_us=.. p99_us=.. done=.. total=.. lost=.. flows_ok=..
 *       (done: answered in the measured period; total: also in the warm-up, the whole
 *       window the bench takes the proxy's CPU time over)
 *
 *   udprr echo [-b IP] [-p PORT]
 *       UDP echo server (recvmmsg/sendmmsg, batches of 64). Runs until SIGTERM/SIGINT.
 *
 *   udprr sessions -s IP [-p PORT] [-n N] [-H HOLD_SECS] [-b SRC_IP]
 *       Opens N UDP sockets, each sends one datagram and waits for its echo (resent in
 *       passes while replies keep coming, 30 s at most), prints "READY ok=.. fail=.. secs=.. opened=.."
 *       (opened: sockets it could open) and holds every socket open
 *       for HOLD_SECS (or until SIGTERM), so a proxy keeps N idle sessions. -b binds every
 *       socket to SRC_IP (port 0) first: an autobound UDP socket takes a port of its own in
 *       the whole namespace (at most ~64k), one bound to an address only on that address, so
 *       more sessions than that need several client addresses.
 *
 * Every mode is bounded in time; nothing here loops forever except `echo`, which
 * bench/run.sh kills by PID.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US 200000u /* 1 us buckets up to 200 ms; slower replies land in the last one */

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}

static uint64_t
mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

static void
die(const char *what)
{
    perror(what);
    exit(1);
}

static void
usage(void)
{
    fputs("usage: udprr rr -s IP [-p PORT] [-c FLOWS] [-d SECS] [-w WARMUP] [-l LEN] [-t MS]\n"
          "       udprr echo [-b IP] [-p PORT]\n"
          "       udprr sessions -s IP [-p PORT] [-n N] [-H HOLD_SECS] [-b SRC_IP]\n",
          stderr);
    exit(2);
}

static void
parse_addr(struct sockaddr_in *sa, const char *ip, int port)
{
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t) port);
    if (inet_pton(AF_INET, ip, &sa->sin_addr) != 1) {
        fprintf(stderr, "udprr: bad IPv4 address '%s'\n", ip);
        exit(2);
    }
}

static void
raise_nofile(rlim_t want)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < want) {
        rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* A connected, non-blocking UDP socket to `to`, bound to `from` (port 0) first when not NULL. */
static int
udp_connected_from(const struct sockaddr_in *from, const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e;

    if (fd < 0) {
        return -1;
    }
    if ((from != NULL && bind(fd, (const struct sockaddr *) from, sizeof(*from)) != 0)
        || connect(fd, (const struct sockaddr *) to, sizeof(*to)) != 0) {
        e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int
udp_connected(const struct sockaddr_in *to)
{
    return udp_connected_from(NULL, to);
}

/* ------------------------------------------------------------------ rr */

struct flow {
    int      fd;
    uint64_t seq;
    uint64_t sent_at;
    int      ok; /* got at least one reply */
};

static uint32_t *hist;

static uint64_t
hist_pct(uint64_t n, double p)
{
    uint64_t want = (uint64_t) ((double) n * p), seen = 0;

    if (want == 0) {
        want = 1;
    }
    for (uint32_t i = 0; i < HIST_US; i++) {
        seen += hist[i];
        if (seen >= want) {
            return i;
        }
    }
    return HIST_US;
}

static void
flow_send(struct flow *f, size_t len, uint64_t now)
{
    unsigned char buf[2048];

    memset(buf, 'r', len);
    f->seq++;
    memcpy(buf, &f->seq, sizeof(f->seq));
    f->sent_at = now;
    /* a failed send (ENOBUFS, ECONNREFUSED after an ICMP error, EPERM from a
     * firewall) is left to the loss timeout, which sends again */
    (void) send(f->fd, buf, len, 0);
}

static int
mode_rr(int argc, char **argv)
{
    const char *ip = NULL;
    int port = 7, nflows = 32, opt;
    double secs = 10, warm = 1;
    size_t len = 64;
    uint64_t timeout_us = 200000;

    while ((opt = getopt(argc, argv, "s:p:c:d:w:l:t:")) != -1) {
        switch (opt) {
        case 's': ip = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'c': nflows = atoi(optarg); break;
        case 'd': secs = atof(optarg); break;
        case 'w': warm = atof(optarg); break;
        case 'l': len = (size_t) atol(optarg); break;
        case 't': timeout_us = (uint64_t) atol(optarg) * 1000u; break;
        default: usage();
        }
    }
    if (ip == NULL || nflows < 1 || nflows > 4096 || secs <= 0 || secs > 600 || warm < 0 ||
        len < sizeof(uint64_t) || len > 1400) {
        usage();
    }
    struct sockaddr_in to;
    parse_addr(&to, ip, port);
    raise_nofile((rlim_t) nflows + 64);
    hist = calloc(HIST_US + 1, sizeof(*hist));
    struct flow *fl = calloc((size_t) nflows, sizeof(*fl));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (hist == NULL || fl == NULL || ep < 0) {
        die("setup");
    }
    uint64_t t0 = mono_us();
    uint64_t t_meas = t0 + (uint64_t) (warm * 1e6), t_end = t_meas + (uint64_t) (secs * 1e6);
    for (int i = 0; i < nflows; i++) {
        fl[i].fd = udp_connected(&to);
        if (fl[i].fd < 0) {
            die("socket/connect");
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t) i };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fl[i].fd, &ev) != 0) {
            die("epoll_ctl");
        }
        flow_send(&fl[i], len, t0);
    }
    uint64_t done = 0, total = 0, lost = 0, next_scan = t0 + 10000;
    struct epoll_event evs[64];
    unsigned char buf[2048];
    for (;;) {
        uint64_t now = mono_us();
        if (now >= t_end || stop_flag) {
            break;
        }
        int n = epoll_wait(ep, evs, 64, 5);
        if (n < 0 && errno != EINTR) {
            die("epoll_wait");
        }
        now = mono_us();
        for (int k = 0; k < n; k++) {
            struct flow *f = &fl[evs[k].data.u32];
            for (int burst = 0; burst < 16; burst++) {
                ssize_t r = recv(f->fd, buf, sizeof(buf), 0);
                if (r < 0) {
                    break; /* EAGAIN, or ECONNREFUSED from an ICMP error: the timeout handles it */
                }
                uint64_t seq;
                if ((size_t) r < sizeof(seq)) {
                    continue;
                }
                memcpy(&seq, buf, sizeof(seq));
                if (seq != f->seq) {
                    continue; /* a late reply to a request already counted lost */
                }
                f->ok = 1;
                total++;
                if (now >= t_meas && now < t_end) {
                    uint64_t rtt = now - f->sent_at;
                    hist[rtt < HIST_US ? rtt : HIST_US]++;
                    done++;
                }
                flow_send(f, len, now);
            }
        }
        if (now >= next_scan) {
            next_scan = now + 10000;
            for (int i = 0; i < nflows; i++) {
                if (now - fl[i].sent_at > timeout_us) {
                    if (now >= t_meas) {
                        lost++;
                    }
                    flow_send(&fl[i], len, now);
                }
            }
        }
    }
    int flows_ok = 0;
    for (int i = 0; i < nflows; i++) {
        flows_ok += fl[i].ok;
        close(fl[i].fd);
    }
    double meas = (double) (mono_us() < t_end ? mono_us() - t_meas : t_end - t_meas) / 1e6;
    printf("rr_per_s=%.0f p50_us=%llu p99_us=%llu done=%llu total=%llu lost=%llu flows=%d flows_ok=%d\n",
           meas > 0 ? (double) done / meas : 0.0, (unsigned long long) (done ? hist_pct(done, 0.50) : 0),
           (unsigned long long) (done ? hist_pct(done, 0.99) : 0), (unsigned long long) done,
           (unsigned long long) total, (unsigned long long) lost, nflows, flows_ok);
    return done > 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ echo */

#define BATCH 64

static int
mode_echo(int argc, char **argv)
{
    const char *ip = "0.0.0.0";
    int port = 7, opt;

    while ((opt = getopt(argc, argv, "b:p:")) != -1) {
        switch (opt) {
        case 'b': ip = optarg; break;
        case 'p': port = atoi(optarg); break;
        default: usage();
        }
    }
    struct sockaddr_in sa;
    parse_addr(&sa, ip, port);
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1, big = 8 << 20;
    if (fd < 0) {
        die("socket");
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* root in the bench: FORCE ignores net.core.{r,w}mem_max */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    }
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) != 0) {
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    }
    if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) != 0) {
        die("bind");
    }
    /* a receive timeout lets the loop notice SIGTERM even when idle */
    struct timeval tv = { .tv_sec = 0, .tv_usec = 200000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

    static unsigned char bufs[BATCH][2048];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    struct sockaddr_in from[BATCH];
    while (!stop_flag) {
        for (int i = 0; i < BATCH; i++) {
            iov[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = sizeof(bufs[i]) };
            msgs[i].msg_hdr = (struct msghdr){ .msg_name = &from[i], .msg_namelen = sizeof(from[i]),
                                               .msg_iov = &iov[i], .msg_iovlen = 1 };
            msgs[i].msg_len = 0;
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n <= 0) {
            continue; /* timeout, EINTR */
        }
        for (int i = 0; i < n; i++) {
            iov[i].iov_len = msgs[i].msg_len;
        }
        for (int off = 0; off < n;) {
            int s = sendmmsg(fd, msgs + off, (unsigned) (n - off), 0);
            if (s <= 0) {
                break; /* drop the rest of the batch, as a busy server would */
            }
            off += s;
        }
    }
    close(fd);
    return 0;
}

/* ------------------------------------------------------------------ sessions */

static int
mode_sessions(int argc, char **argv)
{
    const char *ip = NULL, *src = NULL;
    int port = 7, n = 10000, opt;
    double hold = 10;

    while ((opt = getopt(argc, argv, "s:p:n:H:b:")) != -1) {
        switch (opt) {
        case 's': ip = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'n': n = atoi(optarg); break;
        case 'H': hold = atof(optarg); break;
        case 'b': src = optarg; break;
        default: usage();
        }
    }
    if (ip == NULL || n < 1 || n > 200000 || hold < 0 || hold > 600) {
        usage();
    }
    struct sockaddr_in to, from;
    parse_addr(&to, ip, port);
    if (src != NULL) {
        parse_addr(&from, src, 0);
    }
    raise_nofile((rlim_t) n + 64);
    int *fds = calloc((size_t) n, sizeof(*fds));
    unsigned char *ok = calloc((size_t) n, 1);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (fds == NULL || ok == NULL || ep < 0) {
        die("setup");
    }
    uint64_t t0 = mono_us();
    int opened = 0;
    for (int i = 0; i < n; i++) {
        fds[i] = udp_connected_from(src != NULL ? &from : NULL, &to);
        if (fds[i] < 0) {
            fprintf(stderr, "udprr sessions: socket %d: %s\n", i, strerror(errno));
            break;
        }
        struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t) i };
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &ev) != 0) {
            die("epoll_ctl");
        }
        opened++;
    }
    int got = 0;
    struct epoll_event evs[256];
    unsigned char buf[256];
    /* Passes: (re)send one datagram on every socket still without an echo, 256 at a time with
     * the replies drained in between, then collect until 1 s passes without a new reply. A slow
     * proxy gets more passes, as long as each one makes progress; 30 s at most overall. */
    uint64_t deadline = t0 + 30000000;
    int stalled = 0;
    while (got < opened && !stop_flag && stalled < 2 && mono_us() < deadline) {
        int before = got;
        for (int i = 0; i < opened && !stop_flag; i++) {
            if (ok[i]) {
                continue;
            }
            uint32_t tag = (uint32_t) i;
            (void) send(fds[i], &tag, sizeof(tag), 0); /* failures are retried by the next pass */
            if (i % 256 == 255) {
                int m = epoll_wait(ep, evs, 256, 2);
                for (int k = 0; k < m; k++) {
                    uint32_t id = evs[k].data.u32;
                    while (recv(fds[id], buf, sizeof(buf), 0) >= 0) {
                        if (!ok[id]) {
                            ok[id] = 1;
                            got++;
                        }
                    }
                }
            }
        }
        uint64_t quiet_until = mono_us() + 1000000;
        while (got < opened && !stop_flag && mono_us() < quiet_until) {
            int m = epoll_wait(ep, evs, 256, 50);
            for (int k = 0; k < m; k++) {
                uint32_t id = evs[k].data.u32;
                while (recv(fds[id], buf, sizeof(buf), 0) >= 0) {
                    if (!ok[id]) {
                        ok[id] = 1;
                        got++;
                        quiet_until = mono_us() + 1000000;
                    }
                }
            }
        }
        stalled = got == before ? stalled + 1 : 0;
    }
    printf("READY ok=%d fail=%d secs=%.2f opened=%d\n", got, n - got, (double) (mono_us() - t0) / 1e6,
           opened);
    fflush(stdout);
    uint64_t until = mono_us() + (uint64_t) (hold * 1e6);
    while (!stop_flag && mono_us() < until) {
        usleep(50000);
    }
    for (int i = 0; i < opened; i++) {
        close(fds[i]);
    }
    return got == n ? 0 : 1;
}

int
main(int argc, char **argv)
{
    struct sigaction sa = { .sa_handler = on_signal };

    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        usage();
    }
    const char *mode = argv[1];
    argc--;
    argv++;
    if (strcmp(mode, "rr") == 0) {
        return mode_rr(argc, argv);
    }
    if (strcmp(mode, "echo") == 0) {
        return mode_echo(argc, argv);
    }
    if (strcmp(mode, "sessions") == 0) {
        return mode_sessions(argc, argv);
    }
    usage();
    return 2;
}
