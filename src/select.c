/*
 * select.c - picks a node among a hop's (or forwarder's) nodes: round
 * (a cursor), random, fifo (the first healthy one, in order). Failure
 * accounting follows GOST's fail marker: failures add up until a success
 * resets them; once a node has max_fails of them it is down for
 * fail_timeout after each failure, then it is tried again (a failure then
 * takes it down again at once, a success brings it back for good).
 * max_fails 0 turns the accounting off. Owns no memory.
 */
#include "tproxyd.h"
#include "select.h"

#include <stdlib.h>

static bool
node_skipped(const struct tp_node *node, const struct tp_node *const *skip,
    size_t nskip)
{
    for (size_t i = 0; i < nskip; i++) {
        if (skip[i] == node) {
            return true;
        }
    }
    return false;
}

struct tp_node *
tp_select_node_skip(const struct tp_selector *sel, struct tp_node *nodes,
    size_t n, size_t *rr, uint64_t now_ms, const struct tp_node *const *skip,
    size_t nskip)
{
    size_t          start;
    struct tp_node *soonest = NULL;

    if (n == 0) {
        return NULL;
    }
    switch (sel->strategy) {
    case TP_SEL_ROUND:
        start = (*rr)++ % n;
        break;
    case TP_SEL_RANDOM:
        start = (size_t) random() % n;
        break;
    default:
        start = 0;
        break;
    }
    for (size_t k = 0; k < n; k++) {
        struct tp_node *node = &nodes[(start + k) % n];
        if (node_skipped(node, skip, nskip)) {
            continue;
        }
        if (node->down_until_ms <= now_ms) {
            return node;
        }
        if (soonest == NULL || node->down_until_ms < soonest->down_until_ms) {
            soonest = node;
        }
    }
    /* All down: try the one that comes back first rather than fail. */
    return soonest;
}

struct tp_node *
tp_select_node(const struct tp_selector *sel, struct tp_node *nodes,
    size_t n, size_t *rr, uint64_t now_ms)
{
    return tp_select_node_skip(sel, nodes, n, rr, now_ms, NULL, 0);
}

void
tp_select_failed(const struct tp_selector *sel, struct tp_node *node,
    uint64_t now_ms)
{
    if (sel->max_fails <= 0) {
        return;
    }
    if (++node->fails >= sel->max_fails) {
        node->fails = sel->max_fails;
        node->down_until_ms = now_ms + sel->fail_timeout_ms;
    }
}

void
tp_select_ok(struct tp_node *node)
{
    node->fails = 0;
    node->down_until_ms = 0;
}

bool
tp_select_is_down(const struct tp_node *node, uint64_t now_ms)
{
    return node->down_until_ms > now_ms;
}
