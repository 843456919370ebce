/*
 * master.h - the master process: owns the cycle (config + listeners),
 * spawns and supervises workers, reloads on HUP, stops on QUIT/TERM.
 */
#ifndef TP_MASTER_H
#define TP_MASTER_H

#include "tproxyd.h"

/* Builds a config (from the file, or from -L/-F URLs); used on reload too. */
typedef struct tp_conf *(*tp_conf_loader)(void *arg, struct tp_err *err);

/* Runs until stopped; returns the exit code. */
int tp_master_run(tp_conf_loader load, void *arg, bool foreground);

#endif
