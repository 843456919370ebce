#!/usr/bin/env python3
"""bench/parse.py - turn one load generator's output into key=value pairs (one line).

usage: parse.py iperf FILE      iperf3 -J (TCP): gbps bytes retr
       parse.py iperfu FILE     iperf3 -u -J: lost_pct lost packets jitter_ms mbps
       parse.py wrk FILE        wrk --latency: rps p50_ms p99_ms requests sock_errors non2xx
On any problem it prints error=<what> instead, so a bad run becomes a visible row.
"""
import json
import re
import sys


def iperf(path):
    j = json.load(open(path))
    if "error" in j and not j.get("end", {}).get("sum_received"):
        raise ValueError(j["error"])
    rx, tx = j["end"]["sum_received"], j["end"]["sum_sent"]
    return (f"gbps={rx['bits_per_second'] / 1e9:.3f} bytes={rx['bytes']} "
            f"retr={tx.get('retransmits', 'NA')}")


def iperfu(path):
    j = json.load(open(path))
    if "error" in j and "end" not in j:
        raise ValueError(j["error"])
    s = j["end"]["sum"]
    return (f"lost_pct={s['lost_percent']:.4f} lost={s['lost_packets']} packets={s['packets']} "
            f"jitter_ms={s['jitter_ms']:.3f} mbps={s['bits_per_second'] / 1e6:.1f}")


def wrk(path):
    t = open(path).read()
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}

    def pct(p):
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s|m)\s*$", t, re.M)
        if not m:
            raise ValueError(f"no {p}% latency")
        return float(m.group(1)) * scale[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
    req = re.search(r"(\d+) requests in", t)
    if not rps or not req:
        raise ValueError("no Requests/sec")
    err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", t)
    non2 = re.search(r"Non-2xx or 3xx responses: (\d+)", t)
    return (f"rps={float(rps.group(1)):.0f} p50_ms={pct(50):.3f} p99_ms={pct(99):.3f} "
            f"requests={req.group(1)} sock_errors={sum(map(int, err.groups())) if err else 0} "
            f"non2xx={non2.group(1) if non2 else 0}")


def main():
    kind, path = sys.argv[1], sys.argv[2]
    try:
        print({"iperf": iperf, "iperfu": iperfu, "wrk": wrk}[kind](path))
    except Exception as ex:  # a failed run is a row with error=..., not a crash
        msg = re.sub(r"[^A-Za-z0-9_.:-]+", "_", f"{type(ex).__name__}:{ex}")[:80]
        print(f"error={msg}")


if __name__ == "__main__":
    main()
