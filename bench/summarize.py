#!/usr/bin/env python3
"""bench/summarize.py - medians, ratios and the issue-9 targets from bench/run.sh's results.tsv.

usage: summarize.py RESULTS.tsv [--json OUT.json] [--markdown OUT.md] [--versions FILE]
                                [--tproxyd-udp yes|REASON]

results.tsv rows: round, proxy, mode, upstream, workload, "key=val key=val ...".
Prints the table (markdown) on stdout. Ratios:
  x plain = median over rounds of (value / plain routing's value in the same round)
  x best  = median over rounds of (value / the best peer's value in the same round); the best
            peer is the one of redsocks, ss-redir, v2ray with the best median for that column
"""
import argparse
import json
import statistics
import sys
from collections import defaultdict

PEERS = ("redsocks", "ss-redir", "v2ray")
PLAIN = "plain"


def kv(text):
    out = {}
    for tok in text.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            out[k] = v
    return out


def num(d, k):
    try:
        return float(d[k])
    except (KeyError, ValueError):
        return None


# metric: (label, higher_is_better, ratio_to_plain, format)
METRICS = {
    "tcp1_gbps": ("TCP 1 stream Gbit/s", True, True, "{:.2f}"),
    "tcp4_gbps": ("TCP 4 streams Gbit/s", True, True, "{:.2f}"),
    "conn_rps": ("conn/s", True, True, "{:,.0f}"),
    "conn_p50_ms": ("conn p50 ms", False, False, "{:.2f}"),
    "conn_p99_ms": ("conn p99 ms", False, False, "{:.2f}"),
    "udprr_rps": ("UDP rr/s", True, True, "{:,.0f}"),
    "udprr_p99_us": ("UDP rr p99 us", False, False, "{:,.0f}"),
    "loss200_pct": ("UDP loss % @200M", False, False, "{:.3f}"),
    "loss1g_pct": ("UDP loss % @1G", False, False, "{:.2f}"),
    "rss_idle_mib": ("RSS idle MiB", False, False, "{:.1f}"),
    "tcp_conn_bytes": ("bytes / idle TCP conn", False, False, "{:,.0f}"),
    "udp_sess_bytes": ("bytes / idle UDP session", False, False, "{:,.0f}"),
    "tcp1_cpu_s_gb": ("proxy CPU s/GB (1 str)", False, False, "{:.2f}"),
    "tcp4_cpu_s_gb": ("proxy CPU s/GB (4 str)", False, False, "{:.2f}"),
    "up_cpu_s_gb": ("upstream CPU s/GB (1 str)", False, False, "{:.2f}"),
    "conn_cpu_us": ("proxy CPU us/conn", False, False, "{:.0f}"),
    "udprr_cpu_us": ("proxy CPU us/UDP rr", False, False, "{:.1f}"),
}


def derive(wl, d, proxy):
    """metric values one workload row gives (or a skip/error reason under '_skip')."""
    out = {}
    cpu = num(d, "proxy_cpu_s") if proxy != PLAIN else None
    if wl in ("tcp1", "tcp4"):
        g, b = num(d, "gbps"), num(d, "bytes")
        if g is not None:
            out[f"{wl}_gbps"] = g
        if cpu is not None and b:
            out[f"{wl}_cpu_s_gb"] = cpu / (b / 1e9)
        up = num(d, "up_cpu_s")
        if wl == "tcp1" and up and b:
            out["up_cpu_s_gb"] = up / (b / 1e9)
    elif wl == "conn":
        for src, dst in (("rps", "conn_rps"), ("p50_ms", "conn_p50_ms"), ("p99_ms", "conn_p99_ms")):
            v = num(d, src)
            if v is not None:
                out[dst] = v
        n = num(d, "requests")
        if cpu is not None and n:
            out["conn_cpu_us"] = cpu * 1e6 / n
    elif wl == "udprr":
        if num(d, "done"):
            out["udprr_rps"] = num(d, "rr_per_s")
            out["udprr_p99_us"] = num(d, "p99_us")
            total = num(d, "total")  # answered in warm-up + measurement: the CPU window
            if cpu is not None and total:
                out["udprr_cpu_us"] = cpu * 1e6 / total
    elif wl in ("udploss_200M", "udploss_1G"):
        v = num(d, "lost_pct")
        if v is not None:
            out["loss200_pct" if wl.endswith("200M") else "loss1g_pct"] = v
    elif wl == "mem":
        idle, hold, held = num(d, "rss_idle_kb"), num(d, "rss_hold_kb"), num(d, "held")
        if idle is not None:
            out["rss_idle_mib"] = idle / 1024
        if hold is not None and held:
            out["tcp_conn_bytes"] = (hold - idle) * 1024 / held
    elif wl == "udpmem":
        idle, hold, held, fds = num(d, "rss_idle_kb"), num(d, "rss_hold_kb"), num(d, "held"), num(d, "fds")
        if hold is not None and held:
            out["udp_sess_bytes"] = (hold - idle) * 1024 / held
            # far fewer descriptors than sessions: the proxy evicted sessions (an LRU cache)
            # instead of holding them, so its bytes/session is not comparable
            if fds is not None and fds < held / 2:
                out["udp_sess_evicted"] = fds
    return out


WL_OF = {
    "tcp1_gbps": "tcp1", "tcp4_gbps": "tcp4", "tcp1_cpu_s_gb": "tcp1", "tcp4_cpu_s_gb": "tcp4",
    "up_cpu_s_gb": "tcp1", "conn_rps": "conn", "conn_p50_ms": "conn", "conn_p99_ms": "conn",
    "conn_cpu_us": "conn", "udprr_rps": "udprr", "udprr_p99_us": "udprr", "udprr_cpu_us": "udprr",
    "loss200_pct": "udploss_200M", "loss1g_pct": "udploss_1G", "rss_idle_mib": "mem",
    "tcp_conn_bytes": "mem", "udp_sess_bytes": "udpmem",
}


def load(path):
    vals = defaultdict(lambda: defaultdict(dict))  # proxy -> metric -> round -> value
    why = defaultdict(dict)  # proxy -> workload|all -> reason
    scale = defaultdict(dict)  # proxy -> round -> the scale row's key=val (skip/error too)
    info, order = {}, []
    for line in open(path):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 6:
            continue
        rnd, proxy, mode, up, wl, rest = parts[:6]
        if proxy not in info:
            info[proxy] = {"mode": mode, "upstream": up}
            order.append(proxy)
        d = kv(rest)
        if wl == "scale":
            scale[proxy][int(rnd)] = d
        reason = d.get("skip") or (("error: " + d["error"]) if "error" in d else None)
        if reason:
            why[proxy][wl] = reason
        for m, v in derive(wl, d, proxy).items():
            if v is not None:
                vals[proxy][m][int(rnd)] = v
    return vals, why, info, order, scale


def summarize(vals, why, info, order):
    res = {}
    best = {}
    for m, (_, hib, _, _) in METRICS.items():
        cands = [(statistics.median(vals[p][m].values()), p) for p in PEERS
                 if vals[p][m] and not (m == "udp_sess_bytes" and vals[p]["udp_sess_evicted"])]
        if cands:
            best[m] = (max if hib else min)(cands)[1]
    for p in order:
        res[p] = {"mode": info[p]["mode"], "upstream": info[p]["upstream"], "metrics": {}}
        for m, (_, hib, to_plain, _) in METRICS.items():
            rv = vals[p][m]
            e = {}
            if rv:
                xs = list(rv.values())
                e = {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs),
                     "per_round": {str(k): v for k, v in sorted(rv.items())}}
                if to_plain and p != PLAIN and vals[PLAIN][m]:
                    r = [rv[k] / vals[PLAIN][m][k] for k in rv if vals[PLAIN][m].get(k)]
                    if r:
                        e["x_plain"] = statistics.median(r)
                if m in best:
                    b = vals[best[m]][m]
                    r = [rv[k] / b[k] for k in rv if b.get(k)]
                    if r:
                        e["x_best_peer"] = statistics.median(r)
                        e["best_peer"] = best[m]
            else:
                wl = WL_OF[m]
                reason = why[p].get(wl) or why[p].get("all")
                if reason:
                    e["skip"] = reason
                elif p == PLAIN and m in ("rss_idle_mib", "tcp_conn_bytes", "udp_sess_bytes"):
                    e["skip"] = "no proxy process"
            res[p]["metrics"][m] = e
        if vals[p]["udp_sess_evicted"] and "median" in res[p]["metrics"]["udp_sess_bytes"]:
            res[p]["metrics"]["udp_sess_bytes"]["evicted_fds"] = statistics.median(
                vals[p]["udp_sess_evicted"].values())
    return res, best


def cell(e, m, with_plain=True):
    fmt = METRICS[m][3]
    if "median" not in e:
        return "skip" if "skip" in e else "–"
    s = fmt.format(e["median"])
    r = []
    if with_plain and "x_plain" in e:
        r.append(f"{e['x_plain']:.2f}×p")
    if "x_best_peer" in e:
        r.append(f"{e['x_best_peer']:.2f}×b")
    if "evicted_fds" in e:
        s += " (evicts¹)"
    return s + (f" ({', '.join(r)})" if r else "")


SCALE_TCP, SCALE_UDP = 20000, 100000  # issue 9: held at once on one box, without errors


def scale_check(d):
    """one scale row -> (status MET|MISSED|n/a, short text)."""
    if "skip" in d or "error" in d:
        return "n/a", "skip: " + d["skip"] if "skip" in d else "error: " + d["error"]
    g = lambda k: int(num(d, k) or 0)  # noqa: E731
    tn, tok, tf, un, uok, uf = g("tcp_n"), g("tcp_ok"), g("tcp_fail"), g("udp_n"), g("udp_ok"), g("udp_fail")
    text = (f"TCP {tok:,}/{tn:,} held ({tf:,} failed, {g('gw_estab') // 2:,} established through the gateway), "
            f"UDP {uok:,}/{un:,} echoed ({uf:,} failed), {g('workers')} workers, "
            f"max {g('max_worker_fds'):,} fds per worker (limit {g('nofile'):,}), "
            f"tproxyd log {g('log_err')} errors / {g('log_warn')} warnings")
    why = []
    if tf or tok < tn:
        why.append("TCP failures")
    if g("gw_estab") < 2 * tn:
        why.append("TCP connections not all established at the end")
    if uf or uok < un:
        w = "UDP failures"
        ports = g("gw_udp_ports")
        if ports and uok >= 0.9 * ports - 1000:
            w += (f" (about as many sessions as the gateway has UDP ephemeral ports, {ports:,}: tproxyd takes "
                  "one autobound upstream port per session, unique in the network namespace)")
        why.append(w)
    if g("holders_not_ready"):
        why.append(f"{g('holders_not_ready')} holder(s) never ready")
    if g("log_err") or g("log_warn"):
        why.append("tproxyd logged errors/warnings")
    if g("nofile") and g("max_worker_fds") >= g("nofile"):
        why.append("a worker reached its fd limit")
    if why:
        return "MISSED", text + ": " + "; ".join(why)
    if tn < SCALE_TCP or un < SCALE_UDP:
        return "n/a", text + f" (ran below the target's {SCALE_TCP:,} TCP / {SCALE_UDP:,} UDP)"
    return "MET", text


def scale_targets(scale, t):
    for p, rounds in scale.items():
        if not p.startswith("tproxyd") or not rounds:
            continue
        checks = [(r, *scale_check(d)) for r, d in sorted(rounds.items())]
        ran = [c for c in checks if not c[2].startswith(("skip:", "error:"))]
        if not ran and all(c[2].startswith("skip: scale_runs_on") for c in checks):
            continue  # rows the scale workload does not run on
        name = f"scale: {SCALE_TCP:,} TCP + {SCALE_UDP:,} UDP at once, 0 failures"
        bad = [c for c in checks if c[1] != "MET"]
        if not bad:
            t(p, name, True, f"every round ({len(checks)}); r{checks[-1][0]}: {checks[-1][2]}")
        else:
            r, st, text = next((c for c in bad if c[1] == "MISSED"), bad[0])
            t(p, name, None if st == "n/a" else False, f"r{r}: {text}")


def targets(res, best, scale=None):
    """issue 9's targets, for every tproxyd row with data."""
    out = []

    def med(p, m):
        return res.get(p, {}).get("metrics", {}).get(m, {}).get("median")

    def t(p, name, ok, detail):
        out.append({"proxy": p, "target": name,
                    "status": "n/a" if ok is None else ("MET" if ok else "MISSED"), "detail": detail})

    for p in res:
        if not p.startswith("tproxyd"):
            continue
        mt = res[p]["metrics"]
        if p == "tproxyd-socks":
            socks_targets(p, mt, res, t)
            continue
        e = mt["tcp1_gbps"]
        if "median" in e:
            xp, xb = e.get("x_plain"), e.get("x_best_peer")
            t(p, "TCP 1 stream >= 0.75x plain", None if xp is None else xp >= 0.75,
              f"{e['median']:.2f} Gbit/s = {xp:.2f}x plain" if xp is not None else "no plain baseline")
            t(p, "TCP 1 stream >= 1.5x best peer", None if xb is None else xb >= 1.5,
              f"{xb:.2f}x {e.get('best_peer')}" if xb is not None else "no peer measured")
        e = mt["conn_rps"]
        if "median" in e:
            xb = e.get("x_best_peer")
            t(p, "conn/s >= 2x best peer", None if xb is None else xb >= 2,
              f"{e['median']:,.0f}/s = {xb:.2f}x {e.get('best_peer')}" + cpu_note(mt, "conn_cpu_us", "conn")
              if xb is not None else "no peer")
        e = mt["conn_p99_ms"]
        if "median" in e and "conn_p99_ms" in best:
            b = med(best["conn_p99_ms"], "conn_p99_ms")
            t(p, "conn p99 <= best peer's", e["median"] <= b,
              f"{e['median']:.2f} ms vs {b:.2f} ms ({best['conn_p99_ms']}, lowest peer p99)")
        e = mt["udprr_rps"]
        if "median" in e:
            xb = e.get("x_best_peer")
            t(p, "UDP rr >= 2x best peer", None if xb is None else xb >= 2,
              f"{e['median']:,.0f}/s = {xb:.2f}x {e.get('best_peer')}" + cpu_note(mt, "udprr_cpu_us", "rr")
              if xb is not None else "no peer")
        elif "skip" in e:
            t(p, "UDP rr >= 2x best peer", None, f"skip: {e['skip']}")
        e = mt["loss200_pct"]
        if "median" in e:
            pl = med(PLAIN, "loss200_pct")
            t(p, "no UDP loss at 200M", e["max"] == 0,
              f"median {e['median']:.4f} %, worst round {e['max']:.4f} %"
              + (f" (plain routing: {pl:.4f} %)" if pl is not None else ""))
        e = mt["tcp_conn_bytes"]
        if "median" in e:
            t(p, "<= 1 KiB per idle TCP conn", e["median"] <= 1024, f"{e['median']:,.0f} bytes")
        e = mt["udp_sess_bytes"]
        if "median" in e:
            t(p, "<= 300 B per idle UDP session (RSS)", e["median"] <= 300, f"{e['median']:,.0f} bytes")
        elif "skip" in e and not res[p]["metrics"]["udprr_rps"].get("median"):
            pass
    scale_targets(scale or {}, t)
    return out


def cpu_note(mt, m, unit):
    """the proxy's own CPU time per unit next to the best peer's: the rate columns are the whole
    chain's throughput on 2 shared cores, so a load generator's share dilutes a proxy's advantage."""
    e = mt.get(m, {})
    if "median" not in e or e.get("x_best_peer") is None:
        return ""
    x = e["x_best_peer"]
    if x <= 0:
        return ""
    rel = f"{1 / x:.2f}x less than" if x <= 1 else f"{x:.2f}x more than"
    return f"; proxy CPU {e['median']:.1f} us/{unit} = {rel} {e.get('best_peer')}"


def socks_targets(p, mt, res, t):
    """tproxyd through the socks5 upstream is held against redsocks through the same microsocks."""
    ref = res.get("redsocks", {}).get("metrics")
    if not ref:
        t(p, "vs redsocks (same socks5 upstream)", None, "redsocks not measured")
        return

    def ratio(m):
        a, b = mt[m].get("median"), ref[m].get("median")
        return (a, b, a / b) if a is not None and b else (a, b, None)

    for m, name, need, fmt in (("tcp1_gbps", "TCP 1 stream >= 1.5x redsocks (same upstream)", 1.5, "{:.2f} Gbit/s"),
                               ("conn_rps", "conn/s >= 2x redsocks (same upstream)", 2.0, "{:,.0f}/s")):
        a, b, x = ratio(m)
        if a is not None:
            t(p, name, None if x is None else x >= need,
              (fmt.format(a) + f" = {x:.2f}x redsocks (" + fmt.format(b) + ")") if x is not None else "no redsocks figure")
    a, b, _ = ratio("conn_p99_ms")
    if a is not None and b is not None:
        t(p, "conn p99 <= redsocks's", a <= b, f"{a:.2f} ms vs {b:.2f} ms")
    e = mt["tcp_conn_bytes"]
    if "median" in e:
        t(p, "<= 1 KiB per idle TCP conn", e["median"] <= 1024, f"{e['median']:,.0f} bytes")


def scale_md(scale):
    """the Scale section: one line per tproxyd row and round that ran it."""
    rows = []
    for p, rounds in scale.items():
        for r, d in sorted(rounds.items()):
            if d.get("skip", "").startswith("scale_runs_on"):
                continue
            if "skip" in d or "error" in d:
                rows.append(f"| {p} | {r} | {d.get('skip') or 'error: ' + d.get('error')} |" + " |" * 7)
                continue
            g = lambda k: num(d, k) or 0  # noqa: E731
            tok, uok = g("tcp_ok"), g("udp_ok")
            tcp_b = (g("rss_tcp_kb") - g("rss_idle_kb")) * 1024 / tok if tok else 0
            udp_b = (g("rss_kb") - g("rss_tcp_kb")) * 1024 / uok if uok else 0
            rows.append(
                f"| {p} | {r} | {tok:,.0f}/{g('tcp_n'):,.0f} ({g('tcp_fail'):,.0f}) | {g('gw_estab') / 2:,.0f} "
                f"| {uok:,.0f}/{g('udp_n'):,.0f} ({g('udp_fail'):,.0f}) "
                f"| {g('rss_kb') / 1024:.1f} ({tcp_b:,.0f} B/conn, {udp_b:,.0f} B/session) "
                f"| {g('workers'):.0f} | {g('max_worker_fds'):,.0f} / {g('nofile'):,.0f} "
                f"| {g('log_err'):.0f} / {g('log_warn'):.0f} | {g('tcp_secs'):.1f} / {g('udp_secs'):.1f} / {g('secs'):.0f} |")
    if not rows:
        return []
    L = ["### Scale", "",
         "TCP and UDP held at the same time by one tproxyd (its workers spread over SO_REUSEPORT, each under "
         "the per-process fd limit); counts from the holders (a TCP connection counts once its HTTP response "
         "came back through the proxy, a UDP session once its echo did), established relayed connections from "
         "the gateway's sockets after both were up (see bench/README.md, Limits).", "",
         "| proxy | round | TCP held/n (failed) | TCP established | UDP echoed/n (failed) | RSS MiB (per conn / "
         "session) | workers | max fds per worker / limit | log err / warn | setup s TCP / UDP / whole workload |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    return L + rows + [""]


def markdown(res, best, tg, versions, scale=None):
    L = []
    L.append("## tproxyd `make bench`: medians over rounds")
    L.append("")
    L.append("**2 cores are shared** by the load generators, the proxy under test, its upstream, the servers and "
             "the kernel's forwarding softirq; every figure is the throughput of the whole chain on those 2 cores, "
             "and other work on the machine adds noise: compare ratios from the same run, not absolute numbers "
             "across runs.")
    L.append("")
    L.append("Cells: median (×p = median of same-round ratios to plain routing, ×b = to the best peer of "
             "redsocks/ss-redir/v2ray for that column; for latency/memory/CPU lower is better).")
    L.append("")
    cols = [("tcp1_gbps", True), ("tcp4_gbps", True), ("conn_rps", True), ("conn_p50_ms", False),
            ("conn_p99_ms", False), ("udprr_rps", True), ("loss200_pct", False), ("loss1g_pct", False),
            ("rss_idle_mib", False), ("tcp_conn_bytes", False), ("udp_sess_bytes", False),
            ("tcp1_cpu_s_gb", False)]
    L.append("| proxy | mode | upstream | " + " | ".join(METRICS[m][0] for m, _ in cols) + " |")
    L.append("|" + "---|" * (3 + len(cols)))
    for p, r in res.items():
        row = [p, r["mode"], r["upstream"]] + [cell(r["metrics"][m], m, wp) for m, wp in cols]
        L.append("| " + " | ".join(row) + " |")
    L.append("")
    L.append("### More (medians; min–max over rounds in JSON)")
    L.append("")
    more = ["tcp4_cpu_s_gb", "up_cpu_s_gb", "conn_cpu_us", "udprr_p99_us", "udprr_cpu_us"]
    L.append("| proxy | " + " | ".join(METRICS[m][0] for m in more) + " | n rounds |")
    L.append("|" + "---|" * (2 + len(more)))
    for p, r in res.items():
        n = max((e.get("n", 0) for e in r["metrics"].values()), default=0)
        L.append("| " + " | ".join([p] + [cell(r["metrics"][m], m, False) for m in more] + [str(n)]) + " |")
    for p, r in res.items():
        e = r["metrics"]["udp_sess_bytes"]
        if "evicted_fds" in e:
            L.append("")
            L.append(f"¹ {p} held only {e['evicted_fds']:.0f} descriptors with the sessions open: it keeps a bounded "
                     "cache and evicts sessions rather than holding them, so its bytes/session is not comparable "
                     "(and it is left out of the best-peer choice for that column).")
    skips = []
    for p, r in res.items():
        seen = set()
        for m, e in r["metrics"].items():
            if "skip" in e and e["skip"] not in seen and e["skip"] != "no proxy process":
                seen.add(e["skip"])
                skips.append(f"- {p}: {WL_OF[m]}: {e['skip']}")
    if skips:
        L.append("")
        L.append("### Skipped")
        L.append("")
        L.extend(skips)
    L.append("")
    L.extend(scale_md(scale or {}))
    L.append("### Issue 9 targets")
    L.append("")
    if tg:
        L.append("| proxy | target | status | measured |")
        L.append("|---|---|---|---|")
        for x in tg:
            L.append(f"| {x['proxy']} | {x['target']} | {x['status']} | {x['detail']} |")
    else:
        L.append("(no tproxyd row with data)")
    if not any(x["target"].startswith("scale:") for x in tg):
        L.append("")
        L.append("Scale (20,000 TCP + 100,000 UDP sessions at once): not measured in this run "
                 "(workload `scale`, tproxyd-tproxy row).")
    if versions:
        L.append("")
        L.append("```")
        L.append(versions.rstrip())
        L.append("```")
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv")
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    ap.add_argument("--versions")
    ap.add_argument("--tproxyd-udp", default="yes")
    a = ap.parse_args()
    vals, why, info, order, scale = load(a.tsv)
    if not order:
        print("summarize: no results in " + a.tsv, file=sys.stderr)
        return 1
    res, best = summarize(vals, why, info, order)
    tg = targets(res, best, scale)
    versions = open(a.versions).read() if a.versions else ""
    md = markdown(res, best, tg, versions, scale)
    if a.tproxyd_udp != "yes":
        md += f"\ntproxyd UDP rows skipped: {a.tproxyd_udp} (they appear by themselves once redu is in)\n"
    sys.stdout.write(md)
    if a.markdown:
        open(a.markdown, "w").write(md)
    if a.json:
        json.dump({"note": "2 cores shared by load generators, proxy, upstream and servers; medians over rounds",
                   "versions": versions, "best_peer": best, "proxies": res, "targets": tg,
                   "scale": {p: {str(r): d for r, d in sorted(rs.items())} for p, rs in scale.items()}},
                  open(a.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
