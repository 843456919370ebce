#!/usr/bin/env python3
"""redtool.py - client-side checks for the transparent-proxy scenarios.

conc HOST PORT N [BYTES]     open N TCP connections to HOST:PORT at once
                             (non-blocking, one thread), then on every one
                             send "echo\\n" + BYTES distinct bytes (default
                             1000) and read them back; no connection is
                             closed before all N have echoed, so all N flows
                             are open at the same time. Then all are closed
                             (FIN) and each must see EOF. The peer is
                             `tcptool.py server` (its "echo" command).
                             Prints "ok N/N ..." and exits 0 when all succeed.
bulk HOST PORT N             stream N bytes (deterministic, distinct per
                             MiB, generated on the fly: little memory) after
                             "sink\\n" to `tcptool.py server`, shutdown(SHUT_WR),
                             and compare its "<sha256> <bytes>" reply with the
                             hash of what was sent; prints "ok ... MB/s"
close HOST PORT [SECS]       connect, send "hold\\n" + a little data and wait
                             (at most SECS, default 10) for the connection to
                             be closed by the other side without any data;
                             prints "reset after 0.004s local-port=PORT" or
                             "eof after ..." (the local port is bound
                             explicitly, 20000-29999). Exit 0 on reset/EOF, 1
                             when data arrived, the wait timed out, or
                             connect failed otherwise (e.g. refused).
exhaust HOST PORT K N SECS   descriptor exhaustion, client side (peer: `tcptool.py
                             server`): K "keeper" connections echo; then N
                             "hold" connections are opened at once and held
                             SECS seconds (the proxy runs out of descriptors);
                             the keepers must still echo; a flooder may be
                             closed by the proxy, never left half-served.
                             Then the flooders are closed, and a fresh
                             connection must echo within 10 s (the proxy
                             recovered); the keepers echo once more and close.
                             Prints "ok keepers=K flood=N closed=C ..." and
                             exits 0 when every keeper echoed every time.
Options (before the command): --timeout S: overall limit for conc, socket
timeout for bulk (default 60).
"""
import errno
import hashlib
import os
import selectors
import socket
import sys
import time

TIMEOUT = 60.0


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def conc(host, port, n, nbytes):
    deadline = time.monotonic() + TIMEOUT
    sel = selectors.DefaultSelector()
    st = {}      # fd -> dict(sock, phase, out, want, got)
    errors = {}
    t0 = time.monotonic()

    def err(fd, what):
        errors[what] = errors.get(what, 0) + 1
        c = st.pop(fd)
        sel.unregister(c["sock"])
        c["sock"].close()

    for i in range(n):
        s = socket.socket(family(host), socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((host, port))
        if rc not in (0, errno.EINPROGRESS):
            errors["connect: " + os.strerror(rc)] = \
                errors.get("connect: " + os.strerror(rc), 0) + 1
            s.close()
            continue
        payload = (b"%06d:" % i) * (nbytes // 7 + 1)
        payload = payload[:nbytes]
        st[s.fileno()] = {"sock": s, "phase": "connect",
                          "out": b"echo\n" + payload, "want": payload,
                          "got": b""}
        sel.register(s, selectors.EVENT_WRITE)

    connected = echoed = closed = 0
    t_connected = t_echoed = None
    # phase 1 + 2: connect, send, read the echo; keep the socket open
    while any(c["phase"] in ("connect", "send", "recv") for c in st.values()):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, ev in sel.select(min(left, 1.0)):
            fd = key.fd
            c = st.get(fd)
            if c is None:
                continue
            s = c["sock"]
            if c["phase"] == "connect":
                e = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if e:
                    err(fd, "connect: " + os.strerror(e))
                    continue
                connected += 1
                c["phase"] = "send"
            if c["phase"] == "send" and ev & selectors.EVENT_WRITE:
                try:
                    k = s.send(c["out"])
                except BlockingIOError:
                    continue
                except OSError as e:
                    err(fd, "send: " + e.strerror)
                    continue
                c["out"] = c["out"][k:]
                if not c["out"]:
                    c["phase"] = "recv"
                    sel.modify(s, selectors.EVENT_READ)
                continue
            if c["phase"] == "recv" and ev & selectors.EVENT_READ:
                try:
                    d = s.recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    err(fd, "recv: " + e.strerror)
                    continue
                if not d:
                    err(fd, "early EOF")
                    continue
                c["got"] += d
                if len(c["got"]) >= len(c["want"]):
                    if c["got"] != c["want"]:
                        err(fd, "echo mismatch")
                        continue
                    echoed += 1
                    c["phase"] = "held"
                    sel.unregister(s)
        if connected == n and t_connected is None:
            t_connected = time.monotonic() - t0
    t_echoed = time.monotonic() - t0
    peak = sum(1 for c in st.values() if c["phase"] == "held")

    # phase 3: all open at once; now close our side, expect EOF on each
    for c in st.values():
        if c["phase"] == "held":
            c["phase"] = "fin"
            try:
                c["sock"].shutdown(socket.SHUT_WR)
            except OSError as e:
                errors["shutdown: " + e.strerror] = \
                    errors.get("shutdown: " + e.strerror, 0) + 1
                continue
            sel.register(c["sock"], selectors.EVENT_READ)
    while any(c["phase"] == "fin" for c in st.values()):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in sel.select(min(left, 1.0)):
            c = st.get(key.fd)
            if c is None:
                continue
            try:
                d = c["sock"].recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                err(key.fd, "recv after FIN: " + e.strerror)
                continue
            if d:
                err(key.fd, "data after FIN")
                continue
            closed += 1
            c["phase"] = "done"
            sel.unregister(c["sock"])
    pending = sum(1 for c in st.values() if c["phase"] != "done")
    for c in st.values():
        c["sock"].close()
    elapsed = time.monotonic() - t0
    ok = closed == n and not errors
    print("%s %d/%d connected=%d echoed=%d open-at-once=%d closed=%d "
          "t-connect=%s t-echo=%.2fs total=%.2fs%s%s" % (
              "ok" if ok else "FAILED", closed, n, connected, echoed, peak,
              closed, "%.2fs" % t_connected if t_connected else "-", t_echoed,
              elapsed,
              " pending=%d" % pending if pending else "",
              "".join(" [%s x%d]" % kv for kv in sorted(errors.items()))))
    return 0 if ok else 1


def bulk(host, port, n):
    blk = 1 << 20
    base = b"".join(hashlib.sha256(i.to_bytes(8, "big")).digest()
                    for i in range((blk + 8192) // 32))
    mv = memoryview(base)
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    t0 = time.monotonic()
    h = hashlib.sha256()
    s.sendall(b"sink\n")
    sent, i = 0, 0
    while sent < n:
        off = (i * 4093) % 8192        # every MiB starts elsewhere in base
        chunk = mv[off:off + min(blk, n - sent)]
        h.update(chunk)
        s.sendall(chunk)
        sent += len(chunk)
        i += 1
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while not reply.endswith(b"\n"):
        d = s.recv(4096)
        if not d:
            break
        reply += d
    secs = time.monotonic() - t0
    want = "%s %d" % (h.hexdigest(), n)
    if reply.decode().strip() != want:
        print("mismatch: got %r want %r" % (reply, want))
        return 1
    print("ok %s in %.1fs (%.0f MB/s)" % (want, secs, n / secs / 1e6))
    return 0


def bind_random_port(s):
    """Bind to a random port outside the ephemeral range, so the local port
    is known even when the connection is reset during connect()."""
    import random
    for _ in range(100):
        port = random.randint(20000, 29999)
        try:
            s.bind(("::" if s.family == socket.AF_INET6 else "0.0.0.0", port))
            return port
        except OSError as e:
            if e.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, "no free local port")


def expect_close(host, port, secs):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    lport = bind_random_port(s)
    s.settimeout(secs)
    t0 = time.monotonic()
    try:
        s.connect((host, port))
        s.sendall(b"hold\nhello\n")
        d = s.recv(65536)
    except socket.timeout:
        print("hang: still open after %.1fs local-port=%d" % (secs, lport))
        return 1
    except ConnectionResetError:
        # also when the reset comes before connect() has looked: the
        # handshake completed (with the proxy), then the proxy reset it
        print("reset after %.3fs local-port=%d" % (time.monotonic() - t0,
                                                   lport))
        return 0
    except OSError as e:
        print("error %s after %.3fs local-port=%d" % (
            e, time.monotonic() - t0, lport))
        return 1
    if d:
        print("unexpected data (%d bytes) local-port=%d" % (len(d), lport))
        return 1
    print("eof after %.3fs local-port=%d" % (time.monotonic() - t0, lport))
    return 0


def echo_once(s, tag):
    """tag + newline through an echo connection; True when it came back."""
    msg = ("%s\n" % tag).encode()
    try:
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            d = s.recv(len(msg) - len(got))
            if not d:
                return False
            got += d
        return got == msg
    except OSError:
        return False


def echo_conn(host, port, secs):
    s = socket.create_connection((host, port), timeout=secs)
    s.sendall(b"echo\n")
    return s


def flood_closed(socks):
    """How many of the held flood connections the proxy has closed (EOF or
    reset), and how: {"eof": n, "ECONNRESET": n, ...}; data on one is an
    error (hold sends nothing)."""
    how = {}
    for s in socks:
        try:
            d = s.recv(1, socket.MSG_DONTWAIT)
            if d:
                raise SystemExit("data on a hold connection")
            how["eof"] = how.get("eof", 0) + 1
        except BlockingIOError:
            pass
        except OSError as e:
            k = errno.errorcode.get(e.errno, str(e.errno))
            how[k] = how.get(k, 0) + 1
    return how


def exhaust(host, port, k, n, secs):
    keepers = [echo_conn(host, port, 10) for _ in range(k)]
    for i, s in enumerate(keepers):
        if not echo_once(s, "before-%d" % i):
            print("keeper %d did not echo before the flood" % i)
            return 1
    flood = []
    for _ in range(n):
        s = socket.socket(family(host), socket.SOCK_STREAM)
        s.setblocking(False)
        rc = s.connect_ex((host, port))
        if rc not in (0, errno.EINPROGRESS):
            s.close()
            continue
        flood.append(s)
    # once connected (the kernel completes the handshake even while the
    # proxy cannot accept), each asks the server to hold
    t_end = time.monotonic() + secs
    pending = list(flood)
    while pending and time.monotonic() < t_end:
        rest = []
        for s in pending:
            try:
                s.send(b"hold\n")
            except (BlockingIOError, OSError):
                rest.append(s)
        pending = rest
        time.sleep(0.05)
    time.sleep(max(0.0, t_end - time.monotonic()))
    for i, s in enumerate(keepers):
        if not echo_once(s, "during-%d" % i):
            print("keeper %d did not echo while descriptors were exhausted" % i)
            return 1
    how = flood_closed(flood)
    closed = sum(how.values())
    for s in flood:
        s.close()
    t0 = time.monotonic()
    while True:
        try:
            s = echo_conn(host, port, 3)
            if echo_once(s, "after"):
                s.close()
                break
            s.close()
        except OSError:
            pass
        if time.monotonic() - t0 > 10:
            print("no fresh connection echoed within 10 s of the flood's end")
            return 1
        time.sleep(0.2)
    recovered = time.monotonic() - t0
    for i, s in enumerate(keepers):
        if not echo_once(s, "after-%d" % i):
            print("keeper %d did not echo after the flood" % i)
            return 1
        s.shutdown(socket.SHUT_WR)
        s.settimeout(10)
        if s.recv(1) != b"":
            print("keeper %d: no EOF after close" % i)
            return 1
        s.close()
    print("ok keepers=%d flood=%d closed=%d (%s) unsent=%d "
          "recovered_after=%.1fs"
          % (k, len(flood), closed,
             " ".join("%s:%d" % kv for kv in sorted(how.items())) or "-",
             len(pending), recovered))
    return 0


def main(argv):
    global TIMEOUT
    if "--timeout" in argv:
        i = argv.index("--timeout")
        TIMEOUT = float(argv[i + 1])
        del argv[i:i + 2]
    if len(argv) >= 4 and argv[0] == "conc":
        return conc(argv[1], int(argv[2]), int(argv[3]),
                    int(argv[4]) if len(argv) > 4 else 1000)
    if len(argv) >= 4 and argv[0] == "bulk":
        return bulk(argv[1], int(argv[2]), int(argv[3]))
    if len(argv) >= 6 and argv[0] == "exhaust":
        return exhaust(argv[1], int(argv[2]), int(argv[3]), int(argv[4]),
                       float(argv[5]))
    if len(argv) >= 3 and argv[0] == "close":
        return expect_close(argv[1], int(argv[2]),
                     float(argv[3]) if len(argv) > 3 else 10.0)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
