/*
 * select.c - picks a node among a hop's (or forwarder's) nodes.
 */
#include "tproxyd.h"
#include "select.h"

#include <stdlib.h>

struct tp_node *
tp_select_node(const struct tp_selector *sel, struct tp_node *nodes,
    size_t n, size_t *rr, uint64_t now_ms)
{
    size_t          start = 0;
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

void
tp_select_failed(const struct tp_selector *sel, struct tp_node *node,
    uint64_t now_ms)
{
    if (sel->max_fails <= 0) {
        return;
    }
    if (++node->fails >= sel->max_fails) {
        node->fails = 0;
        node->down_until_ms = now_ms + sel->fail_timeout_ms;
    }
}

void
tp_select_ok(struct tp_node *node)
{
    node->fails = 0;
    node->down_until_ms = 0;
}
