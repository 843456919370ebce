/*
 * redu.h - the pure helpers of module "redu" (modules/redu.c), exposed for
 * the unit tests: the per-kind log rate limiter. No I/O, no globals.
 */
#ifndef REDU_H
#define REDU_H

#include "../src/tproxyd.h"

/* One kind of warning: at most one line per interval. */
struct redu_rl {
    uint64_t    next_ms;        /* earliest time of the next line */
    uint64_t    suppressed;     /* events not logged since the last line */
};

/*
 * True when a line may be written at now_ms; *suppressed then holds how
 * many events were swallowed since the previous line (and is reset).
 * False counts the event as swallowed.
 */
bool redu_rl_allow(struct redu_rl *rl, uint64_t now_ms, uint64_t interval_ms,
    uint64_t *suppressed);

#endif
