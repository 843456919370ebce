#!/usr/bin/env python3
"""loadgen.py HOST PORT SECONDS [SHORT_THREADS] [LONG_TRANSFERS]

Steady TCP load against a tcptool.py server (directly, or through tproxyd):
SHORT_THREADS threads loop on short connections ("sink" of 1 KiB, hash of
the reply checked), and LONG_TRANSFERS long transfers (20 MB each spread over
most of the run, sha256 checked) run at the same time. Counts every failure
(refused, reset, timeout, wrong bytes) and prints one summary line:
  short_ok=N short_failed=N long_ok=N long_failed=N
Exit 0 only if nothing failed. Bounded by SECONDS (+ 60 s of slack).
"""
import hashlib, socket, sys, threading, time

sys.path.insert(0, __file__.rsplit("/", 1)[0])
import tcptool  # noqa: E402

lock = threading.Lock()
stats = {"short_ok": 0, "short_failed": 0, "long_ok": 0, "long_failed": 0}
errors = []


def bump(key, err=None):
    with lock:
        stats[key] += 1
        if err and len(errors) < 20:
            errors.append(err)


def sink_once(host, port, data, spread=0.0):
    s = socket.create_connection((host, port), timeout=30)
    try:
        s.sendall(b"sink\n")
        if spread:
            steps = 100
            chunk = (len(data) + steps - 1) // steps
            for i in range(steps):
                s.sendall(data[i * chunk:(i + 1) * chunk])
                time.sleep(spread / steps)
        else:
            s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        reply = tcptool.readline(s)
    finally:
        s.close()
    want = "%s %d" % (hashlib.sha256(data).hexdigest(), len(data))
    if reply != want:
        raise ValueError("reply %r" % reply)


def short_loop(host, port, until):
    data = tcptool.pattern(1024)
    while time.time() < until:
        try:
            sink_once(host, port, data)
            bump("short_ok")
        except Exception as e:  # every failure counts
            bump("short_failed", "short: %r" % e)


def long_one(host, port, seconds):
    try:
        sink_once(host, port, tcptool.pattern(20 * 1000 * 1000), seconds)
        bump("long_ok")
    except Exception as e:
        bump("long_failed", "long: %r" % e)


def main(argv):
    host, port, secs = argv[0], int(argv[1]), float(argv[2])
    nshort = int(argv[3]) if len(argv) > 3 else 4
    nlong = int(argv[4]) if len(argv) > 4 else 4
    until = time.time() + secs
    ts = [threading.Thread(target=short_loop, args=(host, port, until))
          for _ in range(nshort)]
    ts += [threading.Thread(target=long_one, args=(host, port, secs * 0.8))
           for _ in range(nlong)]
    for t in ts:
        t.daemon = True
        t.start()
    for t in ts:
        t.join(timeout=max(1.0, until + 60 - time.time()))
    print(" ".join("%s=%d" % kv for kv in stats.items()))
    for e in errors:
        print("error:", e)
    bad = stats["short_failed"] + stats["long_failed"]
    alive = any(t.is_alive() for t in ts)
    return 0 if bad == 0 and not alive and stats["long_ok"] == nlong else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
