/*
 * splice.c - zero-copy relay backend. On entry the bufferevents are
 * released and the relay keeps the bare sockets in the worker's epoll set
 * (poller.h), with read interest for the direction a socket feeds and
 * write interest for the one it drains. A direction borrows a pipe from
 * the worker's pool only while bytes are in flight: splice src -> pipe,
 * then pipe -> dst; when the pipe is empty again it goes back to the
 * pool. With no pipe to be had (descriptors exhausted), the bytes go
 * through a bounce buffer instead. A direction ends when its source has
 * sent FIN and the pipe is empty: dst gets shutdown(SHUT_WR).
 */
#include "tproxyd.h"
#include "splice.h"

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define SPLICE_CHUNK    (1 << 20)
#define SPLICE_FLAGS    (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
#define PIPE_SIZE       (512 * 1024)
#define POOL_MAX        64
#define BOUNCE_SIZE     (64 * 1024)

struct tp_splice_dir {
    struct tp_relay_side   *from, *to;
    int                     pipe[2];        /* borrowed; -1 when none */
    size_t                  in_pipe;
    bool                    want_read;      /* from's socket */
    bool                    want_write;     /* to's socket */
};

struct tp_splice {
    struct tp_relay        *r;
    struct tp_splice_dir    up, down;       /* a -> b, b -> a */
    struct tp_pollfd        pf_a, pf_b;
};

int
tp_pipe_get(struct tp_pipe_pool *pool, int p[2])
{
    if (pool != NULL && pool->n > 0) {
        pool->n--;
        p[0] = pool->pipes[pool->n][0];
        p[1] = pool->pipes[pool->n][1];
        return 0;
    }
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) {
        return -1;
    }
    fcntl(p[1], F_SETPIPE_SZ, PIPE_SIZE);   /* best effort */
    return 0;
}

void
tp_pipe_put(struct tp_pipe_pool *pool, int p[2])
{
    if (pool != NULL && pool->n == pool->cap && pool->cap < POOL_MAX) {
        size_t cap = pool->cap ? pool->cap * 2 : 8;
        void  *np = realloc(pool->pipes, cap * sizeof(*pool->pipes));
        if (np != NULL) {
            pool->pipes = np;
            pool->cap = cap;
        }
    }
    if (pool != NULL && pool->n < pool->cap) {
        pool->pipes[pool->n][0] = p[0];
        pool->pipes[pool->n][1] = p[1];
        pool->n++;
    } else {
        close(p[0]);
        close(p[1]);
    }
    p[0] = p[1] = -1;
}

void
tp_pipe_pool_free(struct tp_pipe_pool *pool)
{
    while (pool->n > 0) {
        pool->n--;
        close(pool->pipes[pool->n][0]);
        close(pool->pipes[pool->n][1]);
    }
    free(pool->pipes);
    memset(pool, 0, sizeof(*pool));
}

/* Ends the relay; the caller must return at once (r may be freed). */
static void
splice_end(struct tp_relay *r, enum tp_relay_end end)
{
    void (*done)(struct tp_relay *, enum tp_relay_end) = r->done;

    tp_relay_stop(r);
    if (done != NULL) {
        done(r, end);
    }
}

static int
dir_error(struct tp_splice_dir *d, struct tp_relay_side *at)
{
    struct tp_relay *r = d->from->relay;

    r->err = errno;
    splice_end(r, at == &r->a ? TP_RELAY_A_RESET : TP_RELAY_B_RESET);
    return -1;
}

/* Pipe -> dst. -1 when the relay ended. */
static int
dir_flush(struct tp_splice_dir *d)
{
    struct tp_relay *r = d->from->relay;

    while (d->in_pipe > 0) {
        ssize_t n = splice(d->pipe[0], NULL, d->to->fd, NULL, d->in_pipe,
                           SPLICE_FLAGS);
        if (n < 0) {
            if (errno != EAGAIN) {
                return dir_error(d, d->to);
            }
            d->want_write = true;
            d->want_read = false;
            return 0;
        }
        d->in_pipe -= (size_t) n;
    }
    d->want_write = false;
    if (d->pipe[0] >= 0) {
        tp_pipe_put(&r->env->pipes, d->pipe);
    }
    d->want_read = !d->from->eof;
    if (d->from->eof && !d->to->shut) {
        d->to->shut = true;
        shutdown(d->to->fd, SHUT_WR);
        if (r->a.shut && r->b.shut) {
            splice_end(r, TP_RELAY_DONE);
            return -1;
        }
    }
    return 0;
}

/*
 * No pipe to be had (descriptors exhausted): src -> dst through the
 * worker's bounce buffer instead, so that the flow goes on, slower. The
 * bytes are only peeked, then consumed as far as dst took them: the flow
 * holds nothing of its own and loses nothing when dst is full (it waits
 * for dst as with a pipe, and the bytes wait in src's socket). -1 when
 * the relay ended.
 */
static int
dir_bounce(struct tp_splice_dir *d)
{
    struct tp_relay_env *env = d->from->relay->env;
    ssize_t              n, m;

    if (env->bounce == NULL && (env->bounce = malloc(BOUNCE_SIZE)) == NULL) {
        return dir_error(d, d->from);
    }
    n = recv(d->from->fd, env->bounce, BOUNCE_SIZE, MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0) {
        if (n < 0 && errno != EAGAIN) {
            return dir_error(d, d->from);
        }
        d->from->eof = n == 0;
        return dir_flush(d);
    }
    m = send(d->to->fd, env->bounce, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (m < 0 && errno != EAGAIN) {
        return dir_error(d, d->to);
    }
    if (m > 0) {
        if (recv(d->from->fd, env->bounce, (size_t) m, MSG_DONTWAIT) != m) {
            errno = EIO;                    /* cannot be: they were peeked */
            return dir_error(d, d->from);
        }
        d->from->bytes += (uint64_t) m;
        tp_relay_touch(d->from->relay);
    }
    if (m < n) {                            /* dst is full: wait for it */
        d->want_write = true;
        d->want_read = false;
        return 0;
    }
    return dir_flush(d);
}

/* src -> pipe -> dst, one chunk. -1 when the relay ended. */
static int
dir_pump(struct tp_splice_dir *d)
{
    struct tp_relay *r = d->from->relay;
    ssize_t          n;

    if (d->pipe[0] < 0 && tp_pipe_get(&r->env->pipes, d->pipe) != 0) {
        return dir_bounce(d);
    }
    n = splice(d->from->fd, NULL, d->pipe[1], NULL, SPLICE_CHUNK,
               SPLICE_FLAGS);
    if (n > 0) {
        d->in_pipe += (size_t) n;
        d->from->bytes += (uint64_t) n;
        tp_relay_touch(r);
    } else if (n == 0) {
        d->from->eof = true;
    } else if (errno != EAGAIN) {
        return dir_error(d, d->from);
    }
    return dir_flush(d);
}

static uint32_t
want_a(const struct tp_splice *sp)
{
    return (sp->up.want_read ? EPOLLIN : 0)
           | (sp->down.want_write ? EPOLLOUT : 0);
}

static uint32_t
want_b(const struct tp_splice *sp)
{
    return (sp->down.want_read ? EPOLLIN : 0)
           | (sp->up.want_write ? EPOLLOUT : 0);
}

/* Give each socket the interest its two directions need. -1 when the
 * relay ended (the epoll set refused). */
static int
sync_interest(struct tp_splice *sp)
{
    struct tp_relay  *r = sp->r;
    struct tp_poller *p = r->env->poller;

    if (tp_poll_set(p, &sp->pf_a, want_a(sp)) != 0
        || tp_poll_set(p, &sp->pf_b, want_b(sp)) != 0) {
        r->err = errno;
        splice_end(r, TP_RELAY_A_RESET);
        return -1;
    }
    return 0;
}

static void
side_ready(struct tp_splice *sp, struct tp_relay_side *side, uint32_t ev)
{
    struct tp_relay      *r = sp->r;
    struct tp_splice_dir *out = side == &r->a ? &sp->up : &sp->down;
    struct tp_splice_dir *in = side == &r->a ? &sp->down : &sp->up;

    if (ev & (EPOLLERR | EPOLLHUP)) {
        ev |= EPOLLIN | EPOLLOUT;   /* the calls below see the error */
    }
    if ((ev & EPOLLOUT) && in->want_write && dir_flush(in) != 0) {
        return;
    }
    if ((ev & EPOLLIN) && out->want_read && dir_pump(out) != 0) {
        return;
    }
    sync_interest(sp);
}

static void
sock_a_cb(struct tp_pollfd *pf, uint32_t ev)
{
    struct tp_splice *sp = container_of(pf, struct tp_splice, pf_a);

    side_ready(sp, &sp->r->a, ev);
}

static void
sock_b_cb(struct tp_pollfd *pf, uint32_t ev)
{
    struct tp_splice *sp = container_of(pf, struct tp_splice, pf_b);

    side_ready(sp, &sp->r->b, ev);
}

/* Take the socket out of its bufferevent, which is then freed. */
static void
side_unwrap(struct tp_relay_side *s)
{
    s->fd = bufferevent_getfd(s->bev);
    bufferevent_setfd(s->bev, -1);
    bufferevent_free(s->bev);
    s->bev = NULL;
}

int
tp_splice_start(struct tp_relay *r)
{
    struct tp_poller *p = r->env->poller;
    struct tp_splice *sp;

    if (p == NULL || !r->a.plain || !r->b.plain
        || bufferevent_getfd(r->a.bev) < 0 || bufferevent_getfd(r->b.bev) < 0) {
        return -1;
    }
    sp = calloc(1, sizeof(*sp));
    if (sp == NULL) {
        return -1;
    }
    sp->r = r;
    sp->up = (struct tp_splice_dir) { &r->a, &r->b, { -1, -1 }, 0, true,
                                      false };
    sp->down = (struct tp_splice_dir) { &r->b, &r->a, { -1, -1 }, 0, true,
                                        false };
    tp_pollfd_init(&sp->pf_a, bufferevent_getfd(r->a.bev), sock_a_cb);
    tp_pollfd_init(&sp->pf_b, bufferevent_getfd(r->b.bev), sock_b_cb);
    if (tp_poll_set(p, &sp->pf_a, want_a(sp)) != 0
        || tp_poll_set(p, &sp->pf_b, want_b(sp)) != 0) {
        tp_poll_del(p, &sp->pf_a);
        free(sp);
        return -1;
    }
    /* Both sockets are in the set: from here on nothing can fail, so no
     * half-unwrapped relay is ever handed back to the buffered backend. */
    bufferevent_setcb(r->a.bev, NULL, NULL, NULL, NULL);
    bufferevent_setcb(r->b.bev, NULL, NULL, NULL, NULL);
    bufferevent_disable(r->a.bev, EV_READ | EV_WRITE);
    bufferevent_disable(r->b.bev, EV_READ | EV_WRITE);
    side_unwrap(&r->a);
    side_unwrap(&r->b);
    r->splice = sp;
    return 0;
}

void
tp_splice_stop(struct tp_relay *r)
{
    struct tp_splice *sp = r->splice;

    if (sp == NULL) {
        return;
    }
    tp_poll_del(r->env->poller, &sp->pf_a);
    tp_poll_del(r->env->poller, &sp->pf_b);
    if (sp->up.pipe[0] >= 0) {
        close(sp->up.pipe[0]);      /* holds bytes: not reusable */
        close(sp->up.pipe[1]);
    }
    if (sp->down.pipe[0] >= 0) {
        close(sp->down.pipe[0]);
        close(sp->down.pipe[1]);
    }
    free(sp);
    r->splice = NULL;
}
