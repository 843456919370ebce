/*
 * splice.c - zero-copy relay backend. One pipe per direction; each
 * direction is a small loop: splice src -> pipe while the pipe has room,
 * splice pipe -> dst while dst takes it; wait for src readable or dst
 * writable as needed. A direction ends when src has sent FIN and the pipe
 * is empty: then dst gets shutdown(SHUT_WR).
 */
#include "tproxyd.h"
#include "splice.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPLICE_CHUNK (1 << 20)
#define SPLICE_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

struct tp_splice_dir {
    struct tp_relay        *r;
    struct tp_relay_side   *from;           /* bytes counted on it */
    struct tp_relay_side   *to;
    int                     src, dst;
    int                     pipe[2];
    size_t                  in_pipe;
    struct event            rd, wr;         /* src readable, dst writable */
};

struct tp_splice {
    struct tp_splice_dir    up, down;       /* a -> b, b -> a */
};

static void
splice_end(struct tp_relay *r, enum tp_relay_end end)
{
    void (*done)(struct tp_relay *, enum tp_relay_end) = r->done;

    tp_relay_stop(r);
    if (done != NULL) {
        done(r, end);
    }
}

static void
dir_error(struct tp_splice_dir *d, bool at_src)
{
    struct tp_relay *r = d->r;

    r->err = errno;
    splice_end(r, (at_src ? d->from : d->to) == &r->a ? TP_RELAY_A_RESET
                                                      : TP_RELAY_B_RESET);
}

/* Pipe -> dst. Returns -1 after ending the relay. */
static int
dir_flush(struct tp_splice_dir *d)
{
    while (d->in_pipe > 0) {
        ssize_t n = splice(d->pipe[0], NULL, d->dst, NULL, d->in_pipe,
                           SPLICE_FLAGS);
        if (n < 0) {
            if (errno == EAGAIN) {
                event_add(&d->wr, NULL);
                return 0;
            }
            dir_error(d, false);
            return -1;
        }
        d->in_pipe -= (size_t) n;
    }
    event_del(&d->wr);
    if (d->from->eof && !d->to->shut) {
        struct tp_relay *r = d->r;
        d->to->shut = true;
        shutdown(d->dst, SHUT_WR);
        if (r->a.shut && r->b.shut) {
            splice_end(r, TP_RELAY_DONE);
            return -1;
        }
    }
    return 0;
}

/* src -> pipe, then flush; stops reading while the pipe is not empty. */
static void
dir_pump(struct tp_splice_dir *d)
{
    ssize_t n;

    if (dir_flush(d) != 0 || d->in_pipe > 0) {
        event_del(&d->rd);
        return;
    }
    n = splice(d->src, NULL, d->pipe[1], NULL, SPLICE_CHUNK, SPLICE_FLAGS);
    if (n > 0) {
        d->in_pipe = (size_t) n;
        d->from->bytes += (uint64_t) n;
        d->r->last_ms = tp_relay_now_ms(d->r);
        if (dir_flush(d) != 0) {
            return;
        }
    } else if (n == 0) {
        d->from->eof = true;
        event_del(&d->rd);
        dir_flush(d);
        return;
    } else if (errno != EAGAIN) {
        dir_error(d, true);
        return;
    }
    if (d->in_pipe > 0) {
        event_del(&d->rd);
    } else {
        event_add(&d->rd, NULL);
    }
}

static void
rd_cb(evutil_socket_t fd, short what, void *arg)
{
    (void) fd; (void) what;
    dir_pump(arg);
}

static void
wr_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tp_splice_dir *d = arg;

    (void) fd; (void) what;
    if (dir_flush(d) == 0 && d->in_pipe == 0 && !d->from->eof) {
        dir_pump(d);
    }
}

static int
dir_init(struct tp_splice_dir *d, struct tp_relay *r, struct event_base *base,
    struct tp_relay_side *from, struct tp_relay_side *to)
{
    d->r = r;
    d->from = from;
    d->to = to;
    d->src = bufferevent_getfd(from->bev);
    d->dst = bufferevent_getfd(to->bev);
    if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        d->pipe[0] = d->pipe[1] = -1;
        return -1;
    }
    event_assign(&d->rd, base, d->src, EV_READ | EV_PERSIST, rd_cb, d);
    event_assign(&d->wr, base, d->dst, EV_WRITE | EV_PERSIST, wr_cb, d);
    return 0;
}

static void
dir_free(struct tp_splice_dir *d)
{
    if (d->pipe[0] >= 0) {
        event_del(&d->rd);
        event_del(&d->wr);
        close(d->pipe[0]);
        close(d->pipe[1]);
    }
}

int
tp_splice_start(struct tp_relay *r, struct event_base *base)
{
    struct tp_splice *sp;

    if (!r->a.plain || !r->b.plain) {
        return -1;
    }
    sp = calloc(1, sizeof(*sp));
    if (sp == NULL) {
        return -1;
    }
    sp->up.pipe[0] = sp->down.pipe[0] = -1;
    if (dir_init(&sp->up, r, base, &r->a, &r->b) != 0
        || dir_init(&sp->down, r, base, &r->b, &r->a) != 0) {
        dir_free(&sp->up);
        free(sp);
        return -1;              /* out of fds: the buffered relay still works */
    }
    r->splice = sp;
    bufferevent_disable(r->a.bev, EV_READ | EV_WRITE);
    bufferevent_disable(r->b.bev, EV_READ | EV_WRITE);
    event_add(&sp->up.rd, NULL);
    event_add(&sp->down.rd, NULL);
    return 0;
}

void
tp_splice_stop(struct tp_relay *r)
{
    struct tp_splice *sp = r->splice;

    if (sp == NULL) {
        return;
    }
    dir_free(&sp->up);
    dir_free(&sp->down);
    free(sp);
    r->splice = NULL;
}
