#!/usr/bin/env python3
"""udptool.py - UDP peers for the redu scenarios (echo/STUN-style servers,
clients that check bytes and reply sources, load and flood generators).
Shared by t/integration/2x-tproxy-udp*.sh; run without arguments for usage."""
import ipaddress, os, random, resource, selectors, socket, sys, time

def fam(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET

def norm(ip):
    a = ipaddress.ip_address(ip.split("%")[0])
    return str(getattr(a, "ipv4_mapped", None) or a)

def same(src, host, port):
    return norm(src[0]) == norm(host) and src[1] == port

def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, min(max(hard, n), 1 << 20))
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

def serve(port, alt):
    # dual-stack echo on [::]:port; "STUN" payloads are also answered from
    # [::]:alt (a different source port, as a STUN server's CHANGE-PORT)
    socks = {}
    for p in [port] + ([alt] if alt else []):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind(("::", p))
        socks[p] = s
    sel = selectors.DefaultSelector()
    for p, s in socks.items():
        sel.register(s, selectors.EVENT_READ, p)
    while True:
        for key, _ in sel.select():
            s = key.fileobj
            while True:
                try:
                    data, peer = s.recvfrom(65535, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                try:
                    if data.startswith(b"WHO"):   # who am I: the source address seen here
                        s.sendto(("%s %d" % (norm(peer[0]), peer[1])).encode(), peer)
                        continue
                    s.sendto(data, peer)
                    if alt and key.data == port and data.startswith(b"STUN"):
                        socks[alt].sendto(b"ALT:" + data, peer)
                except OSError:
                    pass

def recv_until(s, deadline):
    s.settimeout(max(0.01, deadline - time.time()))
    try:
        return s.recvfrom(70000)
    except socket.timeout:
        return None, None

def echo(host, port, count, maxsize):
    # count datagrams of random sizes/bytes; each reply must be identical
    # and come from (host, port) - the original destination
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.bind(("::" if fam(host) == socket.AF_INET6 else "0.0.0.0", 0))
    total = 0
    for i in range(count):
        size = maxsize if i == 0 else random.randint(1, maxsize)
        data = os.urandom(size)
        for attempt in range(3):
            s.sendto(data, (host, port))
            got, src = recv_until(s, time.time() + 1.0)
            if got is not None:
                break
        if got is None:
            print("no reply to datagram %d (%d bytes)" % (i, size)); return 1
        if got != data:
            print("datagram %d: reply differs (%d vs %d bytes)" % (i, len(got), size)); return 1
        if not same(src, host, port):
            print("datagram %d: reply from %s, want %s:%d" % (i, src, host, port)); return 1
        total += size
    print("echo ok: %d datagrams, %d bytes, replies from %s:%d, local port %d"
          % (count, total, host, port, s.getsockname()[1]))
    print("LOCALPORT=%d BYTES=%d" % (s.getsockname()[1], total))
    return 0

def stun(host, port, alt, expect_alt):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.sendto(b"STUN binding request", (host, port))
    seen = {}
    deadline = time.time() + 1.5
    while time.time() < deadline and len(seen) < 2:
        got, src = recv_until(s, deadline)
        if got is None:
            break
        seen[src[1]] = (got, src)
    if port not in seen or not same(seen[port][1], host, port):
        print("no reply from the port the client sent to: %s" % seen); return 1
    print("reply from %s:%d (sent-to port)" % (host, port))
    if not expect_alt:
        if alt in seen:
            print("symmetric NAT let a reply from port %d through" % alt); return 1
        print("reply from the other port %d was filtered, as symmetric NAT must" % alt)
        return 0
    if alt not in seen or not same(seen[alt][1], host, alt) or seen[alt][0] != b"ALT:STUN binding request":
        print("full-cone: no reply from the other port %d: %s" % (alt, seen)); return 1
    print("reply from %s:%d (other port) reached the client" % (host, alt))
    # now talk to the other remote: this goes through the connected
    # write-back socket, replies must come back from it
    s.sendto(b"hello alt", (host, alt))
    got, src = recv_until(s, time.time() + 1.5)
    if got != b"hello alt" or not same(src, host, alt):
        print("datagram to the other port: got %r from %s" % (got, src)); return 1
    print("client -> other port -> echo ok; LOCALPORT=%d" % s.getsockname()[1])
    return 0

def big(host, port, size, small):
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    s.sendto(os.urandom(size), (host, port))
    got, src = recv_until(s, time.time() + 1.0)
    if got is not None:
        print("a %d-byte datagram came back (%d bytes): it should be dropped" % (size, len(got))); return 1
    data = os.urandom(small)
    s.sendto(data, (host, port))
    got, src = recv_until(s, time.time() + 2.0)
    if got != data:
        print("the following %d-byte datagram did not come back" % small); return 1
    print("%d-byte datagram dropped, the next %d-byte one echoed" % (size, small))
    return 0

def many(host, port, n, batch):
    # n sockets (n sessions), one datagram each, paced in batches; resend
    # to the silent ones up to 4 rounds; all must answer
    raise_nofile(n + 100)
    t0 = time.time()
    socks = []
    for i in range(n):
        s = socket.socket(fam(host), socket.SOCK_DGRAM)
        s.setblocking(False)
        socks.append(s)
    waiting = set(range(n))
    sel = selectors.DefaultSelector()
    for i, s in enumerate(socks):
        sel.register(s, selectors.EVENT_READ, i)
    for rnd in range(5):
        todo = sorted(waiting)
        for k in range(0, len(todo), batch):
            for i in todo[k:k + batch]:
                try:
                    socks[i].sendto(b"session %d" % i, (host, port))
                except BlockingIOError:
                    pass
            end = time.time() + 0.2
            while time.time() < end:
                for key, _ in sel.select(timeout=0.05):
                    i = key.data
                    try:
                        data, src = socks[i].recvfrom(100)
                    except BlockingIOError:
                        continue
                    if data == b"session %d" % i and same(src, host, port):
                        waiting.discard(i)
                if len(waiting) <= len(todo) - min(k + batch, len(todo)):
                    break
        if not waiting:
            break
    took = time.time() - t0
    print("sessions: %d/%d answered in %.1fs (%d rounds)" % (n - len(waiting), n, took, rnd + 1))
    return 0 if not waiting else 1

def flood(targets, count, seconds, per_socket):
    # count bogus datagrams to random ports of random targets from a new
    # source port every per_socket datagrams, within `seconds`
    raise_nofile(4096)
    hosts = targets.split(",")
    t0 = time.time(); sent = errs = 0; s = None
    payload = os.urandom(64)
    while sent < count and time.time() - t0 < seconds:
        if sent % per_socket == 0:
            if s: s.close()
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setblocking(False)
        h = random.choice(hosts)
        if "/" in h:
            net = ipaddress.ip_network(h)
            h = str(net[random.randrange(1, net.num_addresses - 1)])
        try:
            s.sendto(payload, (h, random.randint(1, 65535)))
        except OSError:
            errs += 1
        sent += 1
    print("flood: %d datagrams (%d send errors) in %.2fs" % (sent, errs, time.time() - t0))
    return 0

def probe(host, port, seconds, interval, newsock_every, min_ratio, max_p99):
    # seq-numbered datagrams every interval; newsock_every > 0: a new source
    # port (a new session, through the service socket) every that many
    sent = recv = 0; rtts = []; pending = {}
    socks = []; t0 = time.time()
    sel = selectors.DefaultSelector()
    while time.time() - t0 < seconds:
        if not socks or (newsock_every and sent % newsock_every == 0):
            s = socket.socket(fam(host), socket.SOCK_DGRAM); s.setblocking(False)
            socks.append(s); sel.register(s, selectors.EVENT_READ)
        msg = b"probe %d" % sent
        pending[msg] = time.time()
        socks[-1].sendto(msg, (host, port)); sent += 1
        end = time.time() + interval
        while True:
            left = end - time.time()
            if left <= 0:
                break
            for key, _ in sel.select(timeout=left):
                try:
                    data, src = key.fileobj.recvfrom(100)
                except BlockingIOError:
                    continue
                if data in pending and same(src, host, port):
                    rtts.append((time.time() - pending.pop(data)) * 1000); recv += 1
    end = time.time() + 1.0          # stragglers
    while pending and time.time() < end:
        for key, _ in sel.select(timeout=0.1):
            try:
                data, src = key.fileobj.recvfrom(100)
            except BlockingIOError:
                continue
            if data in pending and same(src, host, port):
                rtts.append((time.time() - pending.pop(data)) * 1000); recv += 1
    rtts.sort()
    p99 = rtts[max(0, int(len(rtts) * 0.99) - 1)] if rtts else -1
    print("probe: sessions=%d sent=%d recv=%d loss=%.1f%% rtt_ms p50=%.1f p99=%.1f max=%.1f"
          % (len(socks), sent, recv, 100.0 * (sent - recv) / max(sent, 1),
             rtts[len(rtts) // 2] if rtts else -1, p99, rtts[-1] if rtts else -1))
    return 0 if recv >= sent * min_ratio and 0 <= p99 < max_p99 else 1

def who(host, port, rounds, pause):
    # the address the server sees for this client socket, asked `rounds`
    # times `pause` seconds apart (the test reloads tproxyd in between)
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    seen = []
    for i in range(rounds):
        if i:
            time.sleep(pause)
        s.sendto(b"WHO %d" % i, (host, port))
        got, src = recv_until(s, time.time() + 2.0)
        if got is None or not same(src, host, port):
            print("round %d: no answer" % i); return 1
        seen.append(got.decode())
        print("round %d: %s" % (i, seen[-1]), flush=True)
    print("server saw: %s" % " | ".join(seen))
    return 0 if len(set(seen)) == 1 else 1

def multi(host, ports):
    # one client socket talking to several ports of the server
    s = socket.socket(fam(host), socket.SOCK_DGRAM)
    for p in ports:
        data = b"to port %d" % p
        s.sendto(data, (host, p))
        got, src = recv_until(s, time.time() + 2.0)
        if got != data or not same(src, host, p):
            print("port %d: got %r from %s" % (p, got, src)); return 1
    print("LOCALPORT=%d" % s.getsockname()[1])
    return 0

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "serve": serve(int(a[0]), int(a[1]) if len(a) > 1 else 0)
elif cmd == "echo": sys.exit(echo(a[0], int(a[1]), int(a[2]), int(a[3])))
elif cmd == "who": sys.exit(who(a[0], int(a[1]), int(a[2]), float(a[3])))
elif cmd == "multi": sys.exit(multi(a[0], [int(x) for x in a[1:]]))
elif cmd == "stun": sys.exit(stun(a[0], int(a[1]), int(a[2]), a[3] == "1"))
elif cmd == "big": sys.exit(big(a[0], int(a[1]), int(a[2]), int(a[3])))
elif cmd == "many": sys.exit(many(a[0], int(a[1]), int(a[2]), int(a[3])))
elif cmd == "flood": sys.exit(flood(a[0], int(a[1]), float(a[2]), int(a[3])))
elif cmd == "probe": sys.exit(probe(a[0], int(a[1]), float(a[2]), float(a[3]), int(a[4]), float(a[5]), float(a[6])))
else: sys.exit("unknown command " + cmd)
