/*
 * relay.c - the shared TCP relay core over two bufferevents, written once
 * for both directions. Back-pressure: a side stops reading while its
 * peer's output is above RELAY_HIWAT and resumes when it drains to half.
 * Half-close: a FIN from one side becomes shutdown(SHUT_WR) on the other
 * once everything before it has been written.
 */
#include "tproxyd.h"
#include "relay.h"
#include "splice.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/ssl.h>
#include <event2/event.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define RELAY_HIWAT (256 * 1024)

static uint64_t
env_now_ms(struct tp_relay_env *env)
{
    struct timeval tv;

    event_base_gettimeofday_cached(env->base, &tv);
    return (uint64_t) tv.tv_sec * 1000 + (uint64_t) tv.tv_usec / 1000;
}

uint64_t
tp_relay_now_ms(struct tp_relay *r)
{
    return env_now_ms(r->env);
}

static void
idle_unlink(struct tp_relay *r)
{
    struct tp_relay_env *env = r->env;

    if (!r->listed) {
        return;
    }
    if (r->older) r->older->newer = r->newer; else env->oldest = r->newer;
    if (r->newer) r->newer->older = r->older; else env->newest = r->older;
    r->older = r->newer = NULL;
    r->listed = false;
}

static void
idle_push(struct tp_relay *r)
{
    struct tp_relay_env *env = r->env;

    r->older = env->newest;
    r->newer = NULL;
    if (env->newest) env->newest->newer = r; else env->oldest = r;
    env->newest = r;
    r->listed = true;
}

void
tp_relay_touch(struct tp_relay *r)
{
    r->last_ms = tp_relay_now_ms(r);
    if (r->listed && r->env->newest != r) {
        idle_unlink(r);
        idle_push(r);
    }
}

static bool
buffers_empty(struct tp_relay *r)
{
    return evbuffer_get_length(bufferevent_get_input(r->a.bev)) == 0
           && evbuffer_get_length(bufferevent_get_input(r->b.bev)) == 0
           && evbuffer_get_length(bufferevent_get_output(r->a.bev)) == 0
           && evbuffer_get_length(bufferevent_get_output(r->b.bev)) == 0;
}

/* Move to the zero-copy backend once nothing is left in user space. */
static void
maybe_splice(struct tp_relay *r)
{
    if (r->splice == NULL && r->a.plain && r->b.plain && !r->a.eof
        && !r->b.eof && buffers_empty(r)) {
        tp_splice_start(r);
    }
}

static void
relay_finish(struct tp_relay *r, enum tp_relay_end end)
{
    void (*done)(struct tp_relay *, enum tp_relay_end) = r->done;

    tp_relay_stop(r);
    if (done != NULL) {
        done(r, end);
    }
}

static void fin_poll_cb(evutil_socket_t fd, short what, void *arg);

/* FIN on the bottom socket of a layered stream once it has written out
 * everything the layers above handed it. 0 = done, 1 = not yet. */
static int
fin_bottom(struct tp_relay_side *s)
{
    struct bufferevent *b = s->fin_bottom;

    if (evbuffer_get_length(bufferevent_get_output(b)) > 0) {
        return 1;
    }
    shutdown(bufferevent_getfd(b), SHUT_WR);
    s->fin_bottom = NULL;
    return 0;
}

static void
fin_poll_arm(struct tp_relay *r)
{
    struct timeval tv = { 0, 10000 };

    if (r->fin == NULL) {
        r->fin = evtimer_new(r->env->base, fin_poll_cb, r);
    }
    if (r->fin != NULL) {
        evtimer_add(r->fin, &tv);
    }
}

static void
fin_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tp_relay *r = arg;
    int              again = 0;

    (void) fd; (void) what;
    if (r->a.fin_bottom != NULL) {
        again |= fin_bottom(&r->a);
    }
    if (r->b.fin_bottom != NULL) {
        again |= fin_bottom(&r->b);
    }
    if (again) {
        fin_poll_arm(r);
    } else if (r->a.shut && r->b.shut) {
        relay_finish(r, TP_RELAY_DONE);
    }
}

/*
 * Pass a FIN on to a stream that is not a bare socket: the first TLS layer
 * from the top sends close_notify (TLS's FIN; reading goes on); with no
 * TLS, the bottom socket is shut once the filters' bytes are out.
 */
static void
side_fin(struct tp_relay_side *to)
{
    struct bufferevent *b = to->bev, *under;
    SSL                *ssl;

    for (;;) {
        ssl = bufferevent_openssl_get_ssl(b);
        if (ssl != NULL) {
            SSL_shutdown(ssl);
            return;
        }
        under = bufferevent_get_underlying(b);
        if (under == NULL) {
            break;
        }
        b = under;
    }
    if (b == to->bev) {
        return;                     /* not a socket stream: nothing to do */
    }
    to->fin_bottom = b;
    if (fin_bottom(to) != 0) {
        fin_poll_arm(to->relay);
    }
}

/* Send FIN to `to` once all bytes of the finished direction are out.
 * true: the relay ended here (done() ran, r may be freed: touch nothing). */
static bool
maybe_shutdown(struct tp_relay_side *to)
{
    struct tp_relay *r = to->relay;

    if (to->shut || !to->peer->eof
        || evbuffer_get_length(bufferevent_get_output(to->bev)) > 0) {
        return false;
    }
    to->shut = true;
    if (to->plain) {
        shutdown(bufferevent_getfd(to->bev), SHUT_WR);
    } else {
        side_fin(to);
    }
    /* Done when both FINs are out (a layered one may still be draining). */
    if (r->a.shut && r->b.shut && r->a.fin_bottom == NULL
        && r->b.fin_bottom == NULL) {
        relay_finish(r, TP_RELAY_DONE);
        return true;
    }
    return false;
}

static void
relay_move(struct tp_relay_side *from)
{
    struct evbuffer *in = bufferevent_get_input(from->bev);
    struct evbuffer *out = bufferevent_get_output(from->peer->bev);
    size_t           n = evbuffer_get_length(in);

    if (n == 0) {
        return;
    }
    from->bytes += n;
    tp_relay_touch(from->relay);
    evbuffer_add_buffer(out, in);
    if (evbuffer_get_length(out) >= RELAY_HIWAT) {
        bufferevent_disable(from->bev, EV_READ);
    }
}

static void
relay_read_cb(struct bufferevent *bev, void *arg)
{
    (void) bev;
    relay_move(arg);
}

/* true: the relay ended (r may be freed). */
static bool
relay_write_cb(struct bufferevent *bev, void *arg)
{
    struct tp_relay_side *to = arg;
    struct tp_relay_side *from = to->peer;

    if (!from->eof && evbuffer_get_length(bufferevent_get_output(bev))
                      < RELAY_HIWAT / 2) {
        bufferevent_enable(from->bev, EV_READ);
    }
    return maybe_shutdown(to);
}

static void
relay_write_done_cb(struct bufferevent *bev, void *arg)
{
    struct tp_relay_side *to = arg;

    if (relay_write_cb(bev, arg)) {
        return;                         /* the relay ended: r is gone */
    }
    if (!to->shut) {
        maybe_splice(to->relay);
    }
}

/* true: the relay ended (r may be freed). */
static bool
side_eof(struct tp_relay_side *side)
{
    relay_move(side);
    side->eof = true;
    bufferevent_disable(side->bev, EV_READ);
    return maybe_shutdown(side->peer);
}

/* A layered stream (TLS, filters) can report EOF before the bytes that
 * arrived with it have come up through its layers: finish that first. */
static void
eof_later_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tp_relay *r = arg;

    (void) fd; (void) what;
    if (r->a.eof_due) {
        r->a.eof_due = false;
        if (side_eof(&r->a)) {
            return;                     /* the relay ended: r is gone */
        }
    }
    if (r->b.eof_due) {
        r->b.eof_due = false;
        side_eof(&r->b);
    }
}

static void
relay_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct tp_relay_side *side = arg;
    struct tp_relay      *r = side->relay;
    struct timeval        now = { 0, 0 };

    (void) bev;
    if ((what & BEV_EVENT_EOF) && side->plain) {
        side_eof(side);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (r->eof_later == NULL) {
            r->eof_later = evtimer_new(r->env->base, eof_later_cb, r);
        }
        if (r->eof_later == NULL) {
            side_eof(side);
            return;
        }
        side->eof_due = true;
        evtimer_add(r->eof_later, &now);
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        r->err = EVUTIL_SOCKET_ERROR();
        relay_finish(r, side == &r->a ? TP_RELAY_A_RESET : TP_RELAY_B_RESET);
    }
}

/* The list runs from least to most recently active: only its head can
 * have been idle for min_idle_ms, so the walk stops at the first relay
 * that has not (exact when every service has the same idle_timeout). */
static void
idle_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    struct tp_relay_env *env = arg;
    uint64_t             now = env_now_ms(env);
    struct tp_relay     *r = env->oldest, *next;

    (void) fd; (void) what;
    for (; r != NULL && now - r->last_ms >= env->min_idle_ms; r = next) {
        next = r->newer;    /* finishing r unlinks only r */
        if (now - r->last_ms >= r->idle_ms) {
            relay_finish(r, TP_RELAY_IDLE);
        }
    }
}

int
tp_relay_env_init(struct tp_relay_env *env, struct event_base *base,
    struct tp_poller *poller)
{
    struct timeval tv = { 1, 0 };

    memset(env, 0, sizeof(*env));
    env->base = base;
    env->poller = poller;
    env->sweep = event_new(base, -1, EV_PERSIST, idle_sweep_cb, env);
    if (env->sweep == NULL || event_add(env->sweep, &tv) != 0) {
        tp_relay_env_free(env);
        return -1;
    }
    return 0;
}

void
tp_relay_env_free(struct tp_relay_env *env)
{
    if (env->sweep != NULL) {
        event_free(env->sweep);
    }
    tp_pipe_pool_free(&env->pipes);
    free(env->bounce);
    memset(env, 0, sizeof(*env));
}

static void
side_init(struct tp_relay *r, struct tp_relay_side *s,
    struct tp_relay_side *peer, struct bufferevent *bev)
{
    int fd = bufferevent_getfd(bev);

    s->bev = bev;
    s->fd = -1;
    s->peer = peer;
    s->relay = r;
    /* Plain = a bare socket: no filter below, no TLS on it. Every relay
     * end is a stream socket tproxyd accepted or connected (a pair
     * bufferevent has no fd), so no getsockopt(SO_TYPE) per side. */
    s->plain = bufferevent_get_underlying(bev) == NULL
               && bufferevent_openssl_get_ssl(bev) == NULL && fd >= 0;
    bufferevent_setcb(bev, relay_read_cb, relay_write_done_cb, relay_event_cb,
                      s);
    bufferevent_setwatermark(bev, EV_READ, 0, 0);
    bufferevent_setwatermark(bev, EV_WRITE, RELAY_HIWAT / 2, 0);
    bufferevent_set_timeouts(bev, NULL, NULL);
}

int
tp_relay_start(struct tp_relay *r, struct tp_relay_env *env,
    struct bufferevent *a, struct bufferevent *b, uint64_t idle_ms,
    void (*done)(struct tp_relay *r, enum tp_relay_end end))
{
    memset(r, 0, sizeof(*r));
    r->env = env;
    r->done = done;
    r->idle_ms = idle_ms;
    side_init(r, &r->a, &r->b, a);
    side_init(r, &r->b, &r->a, b);
    r->last_ms = tp_relay_now_ms(r);
    if (idle_ms > 0) {
        if (env->min_idle_ms == 0 || idle_ms < env->min_idle_ms) {
            env->min_idle_ms = idle_ms;
        }
        idle_push(r);
    }
    if (buffers_empty(r) && tp_splice_start(r) == 0) {
        return 0;
    }
    bufferevent_enable(a, EV_READ | EV_WRITE);
    bufferevent_enable(b, EV_READ | EV_WRITE);
    /* Bytes read before the relay (sniffed, or after a handshake). */
    relay_move(&r->a);
    relay_move(&r->b);
    return 0;
}

void
tp_relay_stop(struct tp_relay *r)
{
    tp_splice_stop(r);
    if (r->a.bev != NULL) {
        bufferevent_setcb(r->a.bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(r->a.bev, EV_READ | EV_WRITE);
    }
    if (r->b.bev != NULL) {
        bufferevent_setcb(r->b.bev, NULL, NULL, NULL, NULL);
        bufferevent_disable(r->b.bev, EV_READ | EV_WRITE);
    }
    idle_unlink(r);
    if (r->fin != NULL) {
        event_free(r->fin);
        r->fin = NULL;
    }
    if (r->eof_later != NULL) {
        event_free(r->eof_later);
        r->eof_later = NULL;
    }
    r->a.fin_bottom = r->b.fin_bottom = NULL;
    r->done = NULL;
}

int
tp_relay_side_fd(const struct tp_relay_side *s)
{
    return s->bev != NULL ? bufferevent_getfd(s->bev) : s->fd;
}

static void
side_close(struct tp_relay_side *s, bool reset)
{
    struct linger lg = { 1, 0 };
    int           fd = tp_relay_side_fd(s);

    if (reset && fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    if (s->bev != NULL) {
        bufferevent_free(s->bev);
    } else if (s->fd >= 0) {
        close(s->fd);
    }
    s->bev = NULL;
    s->fd = -1;
}

void
tp_relay_free(struct tp_relay *r, bool reset_a, bool reset_b)
{
    tp_relay_stop(r);
    side_close(&r->a, reset_a);
    side_close(&r->b, reset_b);
}
