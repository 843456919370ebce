#!/usr/bin/env python3
"""tcptool.py - TCP peers for the integration tests (client and server).

server HOST PORT             threaded server; each connection starts with one
                             command line:
  sink                       read to EOF, reply "<sha256> <bytes>\n", close
  source N                   send N pseudo-random bytes, shutdown(SHUT_WR), then
                             read to EOF and reply nothing; logs what it read
  echo                       echo until EOF, then close
  hold                       keep the connection open and idle until EOF
client HOST PORT sink N      send N bytes, shutdown(SHUT_WR), read the reply;
                             checks hash and size; prints "ok <sha> <n>"
client HOST PORT slowsink N SECS   sink, spread over SECS seconds
client HOST PORT source N    read N bytes to EOF while the server has shut its
                             side; then send 1000 bytes more and close: checks
                             the server saw them (half-close server->client)
client HOST PORT reset       send some bytes, then reset (SO_LINGER 0)
Every wait is bounded (--timeout, default 60 s). Exit 0 on success.
"""
import hashlib, os, socket, struct, sys, threading, time

TIMEOUT = 60.0
LOG = sys.stderr


def pattern(n):
    """Deterministic bytes: sha256 counter stream."""
    out, i = bytearray(), 0
    while len(out) < n:
        out += hashlib.sha256(i.to_bytes(8, "big")).digest() * 64
        i += 1
    return bytes(out[:n])


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def readline(s):
    buf = b""
    while not buf.endswith(b"\n"):
        c = s.recv(1)
        if not c:
            break
        buf += c
    return buf.decode().strip()


def serve_conn(s, results):
    s.settimeout(TIMEOUT)
    try:
        cmd = readline(s).split()
        if not cmd:
            return
        if cmd[0] == "sink":
            h, n = hashlib.sha256(), 0
            while True:
                d = s.recv(1 << 16)
                if not d:
                    break
                h.update(d)
                n += len(d)
            s.sendall(("%s %d\n" % (h.hexdigest(), n)).encode())
        elif cmd[0] == "source":
            s.sendall(pattern(int(cmd[1])))
            s.shutdown(socket.SHUT_WR)
            n = 0
            while True:
                d = s.recv(1 << 16)
                if not d:
                    break
                n += len(d)
            results.append(("source-after-fin", n))
            if len(cmd) > 2:
                with open(cmd[2], "w") as f:
                    f.write("%d\n" % n)
        elif cmd[0] == "echo":
            while True:
                d = s.recv(1 << 16)
                if not d:
                    break
                s.sendall(d)
        elif cmd[0] == "hold":
            while s.recv(1 << 16):
                pass
    except OSError as e:
        print("server: %s" % e, file=LOG)
    finally:
        s.close()


def server(host, port):
    ls = socket.socket(family(host), socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, int(port)))
    ls.listen(4096)
    results = []
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve_conn, args=(c, results),
                         daemon=True).start()


def connect(host, port):
    s = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    return s


def client_sink(host, port, n):
    s = connect(host, port)
    data = pattern(n)
    s.sendall(b"sink\n")
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    reply = readline(s)
    want = "%s %d" % (hashlib.sha256(data).hexdigest(), n)
    if reply != want:
        print("mismatch: got %r want %r" % (reply, want))
        return 1
    print("ok " + reply)
    return 0


def client_slowsink(host, port, n, seconds):
    """Like sink, but spreads the bytes over `seconds` (a long transfer)."""
    s = connect(host, port)
    data = pattern(n)
    s.sendall(b"sink\n")
    steps = 50
    chunk = (n + steps - 1) // steps
    for i in range(steps):
        s.sendall(data[i * chunk:(i + 1) * chunk])
        time.sleep(seconds / steps)
    s.shutdown(socket.SHUT_WR)
    reply = readline(s)
    want = "%s %d" % (hashlib.sha256(data).hexdigest(), n)
    if reply != want:
        print("mismatch: got %r want %r" % (reply, want))
        return 1
    print("ok " + reply)
    return 0


def client_source(host, port, n, resultfile):
    s = connect(host, port)
    s.sendall(("source %d %s\n" % (n, resultfile)).encode())
    h, got = hashlib.sha256(), 0
    while True:
        d = s.recv(1 << 16)
        if not d:
            break
        h.update(d)
        got += len(d)
    if got != n or h.hexdigest() != hashlib.sha256(pattern(n)).hexdigest():
        print("source mismatch: got %d bytes" % got)
        return 1
    # The server has half-closed; we can still talk to it.
    s.sendall(b"x" * 1000)
    s.shutdown(socket.SHUT_WR)
    s.recv(1)
    s.close()
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            with open(resultfile) as f:
                v = f.read().strip()
            if v:
                ok = v == "1000"
                print(("ok" if ok else "bad") + " server read %s after FIN" % v)
                return 0 if ok else 1
        except OSError:
            pass
        time.sleep(0.05)
    print("server never reported")
    return 1


def client_reset(host, port):
    s = connect(host, port)
    s.sendall(b"hold\n" + b"y" * 10000)
    time.sleep(0.2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    print("ok reset sent")
    return 0


def main(argv):
    global TIMEOUT
    if "--timeout" in argv:
        i = argv.index("--timeout")
        TIMEOUT = float(argv[i + 1])
        del argv[i:i + 2]
    if len(argv) >= 3 and argv[0] == "server":
        server(argv[1], argv[2])
        return 0
    if len(argv) >= 4 and argv[0] == "client":
        host, port, mode = argv[1], argv[2], argv[3]
        if mode == "sink":
            return client_sink(host, port, int(argv[4]))
        if mode == "slowsink":
            return client_slowsink(host, port, int(argv[4]), float(argv[5]))
        if mode == "source":
            return client_source(host, port, int(argv[4]), argv[5])
        if mode == "reset":
            return client_reset(host, port)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
