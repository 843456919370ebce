/*
 * sniff.h - the sniff phase of a TCP flow: reads the first bytes (bounded
 * by a size cap and a timeout) without consuming them, asks the sniffers
 * for a host name, and leaves every byte in the client's input so the
 * relay replays it upstream unchanged.
 */
#ifndef TP_SNIFF_H
#define TP_SNIFF_H

#include "tproxyd.h"

#include "conf.h"

struct tp_sniff_conf {
    bool        enabled;
    uint64_t    timeout_ms;
    bool        fallback;       /* name unreachable -> original address */
    bool        dial_original;  /* dial_original_dst: route/log by name only */
    char      **skip_ports;     /* server-speaks-first ports (strings) */
    size_t      nskip_ports;
};

extern const struct tp_schema tp_schema_sniffing[];

/* Starts sniffing c; calls done(c) once (with c->host set or not), or
 * closes c itself if the client resets. */
void tp_sniff_start(struct tp_conn *c, void (*done)(struct tp_conn *c));
/* Whether sniffing applies to a flow to `port`. */
bool tp_sniff_wanted(const struct tp_sniff_conf *sc, uint16_t port);

#endif
