/*
 * splice.h - the zero-copy backend of the relay core: when both ends are
 * plain TCP sockets, bytes move socket -> pipe -> socket with splice(2)
 * and never enter user space. Same contract as the buffered relay
 * (half-close, idle timeout, byte counts, done() once).
 */
#ifndef TP_SPLICE_H
#define TP_SPLICE_H

#include "tproxyd.h"
#include "relay.h"

/* 0 = splicing; -1 = not possible here (caller uses the buffered relay). */
int tp_splice_start(struct tp_relay *r);
void tp_splice_stop(struct tp_relay *r);

#endif
