#!/usr/bin/env python3
"""bench/holdtcp.py - hold N idle TCP connections through the gateway (for `make bench`).

usage: holdtcp.py HOST PORT N HOLD_SECS

Opens N connections to an HTTP server (nginx with keep-alive), sends one
keep-alive request on each and waits for the whole response, so every
connection is proven to cross the proxy end to end. Then it prints
"READY ok=.. fail=.. secs=.." and keeps the connections idle for HOLD_SECS
(or until SIGTERM), then closes them. At most 256 connects in flight.
Bounded: 60 s for the setup, HOLD_SECS <= 600.
"""
import errno
import resource
import selectors
import signal
import socket
import sys
import time

REQ = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: keep-alive\r\n\r\n"
IN_FLIGHT = 256
SETUP_LIMIT = 60.0


def main():
    host, port, n, hold = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    hold = min(max(hold, 0.0), 600.0)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(n + 64, hard), hard))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))

    sel = selectors.DefaultSelector()
    held, failed, started = [], 0, 0
    pending = {}  # socket -> bytes received so far (None while connecting)
    t0 = time.monotonic()

    def fail(s):
        nonlocal failed
        failed += 1
        sel.unregister(s)
        del pending[s]
        s.close()

    while (started < n or pending) and not stop and time.monotonic() - t0 < SETUP_LIMIT:
        while started < n and len(pending) < IN_FLIGHT:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            started += 1
            rc = s.connect_ex((host, port))
            if rc not in (0, errno.EINPROGRESS):
                failed += 1
                s.close()
                continue
            pending[s] = None
            sel.register(s, selectors.EVENT_WRITE)
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            if pending[s] is None:  # connect finished
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    fail(s)
                    continue
                try:
                    s.send(REQ)
                except OSError:
                    fail(s)
                    continue
                pending[s] = b""
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                fail(s)
                continue
            if not data:
                fail(s)
                continue
            pending[s] += data
            if pending[s].endswith(b"\r\n\r\nok\n"):  # nginx: return 200 "ok\n"
                sel.unregister(s)
                del pending[s]
                held.append(s)
    failed += len(pending) + (n - started)
    for s in pending:
        s.close()
    print(f"READY ok={len(held)} fail={failed} secs={time.monotonic() - t0:.2f}", flush=True)
    end = time.monotonic() + hold
    while not stop and time.monotonic() < end:
        time.sleep(0.05)
    for s in held:
        s.close()
    return 0 if len(held) == n else 1


if __name__ == "__main__":
    sys.exit(main())
