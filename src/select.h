/*
 * select.h - node selection for hops and forwarders: round, random, fifo
 * (first healthy), with max_fails/fail_timeout marking nodes down. State
 * lives in the nodes themselves and is private to each worker process.
 */
#ifndef TP_SELECT_H
#define TP_SELECT_H

#include "tproxyd.h"
#include "conf.h"

struct tp_node *tp_select_node(const struct tp_selector *sel,
    struct tp_node *nodes, size_t n, size_t *rr, uint64_t now_ms);
/* The same, never returning one of skip[0..nskip) (the nodes a dial has
 * already seen fail); NULL when every node is skipped. */
struct tp_node *tp_select_node_skip(const struct tp_selector *sel,
    struct tp_node *nodes, size_t n, size_t *rr, uint64_t now_ms,
    const struct tp_node *const *skip, size_t nskip);
void tp_select_failed(const struct tp_selector *sel, struct tp_node *node,
    uint64_t now_ms);
void tp_select_ok(struct tp_node *node);
bool tp_select_is_down(const struct tp_node *node, uint64_t now_ms);

#endif
