#!/usr/bin/env bash
# 22-tproxy-udp-load.sh - redu under load: 10,000 concurrent sessions (10,000 client ports, each
# answered through the gateway), the memory per idle session (the workers' RSS with the 10k sessions
# minus the idle workers, from /proc/PID/status; printed), fds per session; then a flood of 200,000
# bogus datagrams to random ports and addresses (4 senders, new source port every 100, bounded to 10 s)
# while an established session keeps talking to an echo server (must not starve: >= 95% answered,
# p99 < 500 ms) and a second probe opens a new session every 5 datagrams (reported; most must work);
# the workers must survive and serve afterwards.
# Two workers (the reuseport hash splits the clients), so each stays well inside a 20,000-fd limit.
# shellcheck disable=SC2317 # helper functions are called through tpi_check
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

tpi_require_root
tpi_require_cmd python3 nft ss
TPROXYD=${TPROXYD:-$TPI_ROOT/build/tproxyd}
[[ -x $TPROXYD ]] || tpi_fail "$TPROXYD not built (run make)"
SESSIONS=${TPI_UDP_SESSIONS:-10000}
FLOOD=${TPI_UDP_FLOOD:-200000}

# shellcheck disable=SC2119
tpi_setup_topology
T=$(tpi_tmpdir)
cat >"$T/udptool.py" <<'PY'
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
PY
tool() { local ns=$1; shift; tpi_in "$ns" python3 "$T/udptool.py" "$@"; }

cat >"$T/tproxyd.conf" <<CONF
worker_processes = 2;
log = { level = "notice"; target = "stderr"; };
services = (
  { name = "udp-load"; addr = ":12345";
    sockopts = { mark = 255; };
    handler  = { type = "redu"; };
    listener = { type = "redu"; ttl = "60s"; max_sessions = 65536; }; }
);
CONF
tpi_bg srv python3 "$T/udptool.py" serve 7007 >/dev/null
tpi_bg srv python3 "$T/udptool.py" serve 7009 >/dev/null    # for the probes: not crowded by the 10k
tpi_wait_port srv udp 7007 || tpi_fail "echo server did not start"
tpi_wait_port srv udp 7009 || tpi_fail "echo server did not start"
pid=$(tpi_bg gw "$TPROXYD" -f -c "$T/tproxyd.conf")
LOG=$(tpi_bg_log "$pid")
tpi_wait_port gw udp 12345 || tpi_fail "tproxyd did not start"
tpi_rules_tproxy gw 12345 udp 4
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] || ((hard >= SESSIONS + 2000)) ||
    tpi_skip "RLIMIT_NOFILE hard limit $hard is too low for $SESSIONS sessions over 2 workers"

workers=()
for ((i = 0; i < 50; i++)); do
    read -ra workers <"/proc/$pid/task/$pid/children" || true
    ((${#workers[@]} == 2)) && break
    sleep 0.1
done
((${#workers[@]} == 2)) || tpi_fail "expected 2 worker processes, got: ${workers[*]}"
rss() { # kB, summed over the workers
    local w t=0
    for w in "${workers[@]}"; do t=$((t + $(awk '/^VmRSS:/ { print $2 }' "/proc/$w/status"))); done
    echo "$t"
}
nfds() {
    local w t=0
    for w in "${workers[@]}"; do t=$((t + $(find "/proc/$w/fd" -mindepth 1 -maxdepth 1 | wc -l))); done
    echo "$t"
}
alive() { local w; for w in "${workers[@]}"; do tpi_alive "$w" || return 1; done; }

# ---- 10k concurrent sessions
tpi_check "warm-up: one session answers" tool cli echo "$TPI_SRV4" 7007 5 512
rss0=$(rss) fd0=$(nfds)
start=$SECONDS
out=$(timeout 120 ip netns exec "$TPI_NS_CLI" python3 "$T/udptool.py" many "$TPI_SRV4" 7007 "$SESSIONS" 200) ||
    tpi_fail "$SESSIONS concurrent sessions: $out"
tpi_ok "$SESSIONS concurrent sessions: $out"
tpi_check "... within 60 s" test $((SECONDS - start)) -le 60
sleep 1
rss1=$(rss) fd1=$(nfds)
per=$(((rss1 - rss0) * 1024 / SESSIONS))
fdper=$(awk -v a="$fd0" -v b="$fd1" -v n="$SESSIONS" 'BEGIN { printf "%.2f", (b - a) / n }')
tpi_diag "memory: workers' VmRSS idle ${rss0} kB, with $SESSIONS idle sessions ${rss1} kB"
tpi_diag "memory per idle session: $per bytes of worker RSS (user space; plus the kernel's memory for $fdper fd/session)"
tpi_diag "fds: $fd0 idle, $fd1 with $SESSIONS sessions (an upstream socket each; write-back: 1 shared + <= 16 connected per remote per worker)"
tpi_check "each idle session costs under 1 KiB of worker RSS" test "$per" -lt 1024
tpi_check "one fd per session (its upstream socket), plus a bounded few for write-back" \
    test $((fd1 - fd0)) -le $((SESSIONS + 2 * 17 + 4))

# ---- flood vs. a live probe
probe=$(tpi_bg cli python3 -u "$T/udptool.py" probe "$TPI_SRV4" 7009 8 0.01 0 0.95 500)
probe2=$(tpi_bg cli python3 -u "$T/udptool.py" probe "$TPI_SRV4" 7009 8 0.05 5 0.5 5000)
sleep 1
fl=()
for ((k = 0; k < 4; k++)); do   # 4 senders in parallel, FLOOD/4 datagrams each, at most 10 s
    fl+=("$(tpi_bg cli python3 "$T/udptool.py" flood "$TPI_SRV4,203.0.113.0/24" $((FLOOD / 4)) 10 100)")
done
for ((i = 0; i < 150; i++)); do
    left=0
    for f in "${fl[@]}"; do if tpi_alive "$f"; then left=1; fi; done
    ((left)) || break
    sleep 0.1
done
total=0 took=0
for f in "${fl[@]}"; do
    line=$(grep '^flood:' "$(tpi_bg_log "$f")") || tpi_fail "flood sender $f gave no result"
    [[ $line =~ flood:\ ([0-9]+)\ datagrams.*in\ ([0-9.]+)s ]] || tpi_fail "flood: $line"
    total=$((total + BASH_REMATCH[1]))
    took=$(awk -v a="$took" -v b="${BASH_REMATCH[2]}" 'BEGIN { print (b > a) ? b : a }')
done
tpi_ok "flood: $total bogus datagrams to random ports/addresses in ${took}s (4 senders, new source port every 100)"
for ((i = 0; i < 150; i++)); do tpi_alive "$probe" || tpi_alive "$probe2" || break; sleep 0.1; done
pres=$(grep '^probe:' "$(tpi_bg_log "$probe")" || true)
pres2=$(grep '^probe:' "$(tpi_bg_log "$probe2")" || true)
probe_ok() { # probe_ok RESULT MIN-RATIO MAX-P99
    local sent recv p99
    [[ $1 =~ sent=([0-9]+)\ recv=([0-9]+).*p99=([0-9.]+) ]] || { echo "no probe result"; return 1; }
    sent=${BASH_REMATCH[1]} recv=${BASH_REMATCH[2]} p99=${BASH_REMATCH[3]}
    awk -v r="$recv" -v s="$sent" -v m="$2" 'BEGIN { exit !(r >= s * m) }' || { echo "answered $recv of $sent"; return 1; }
    awk -v p="$p99" -v m="$3" 'BEGIN { exit !(p < m) }' || { echo "p99 $p99 ms"; return 1; }
}
tpi_check "an established session was not starved by the flood: $pres" probe_ok "$pres" 0.95 500
tpi_check "new sessions opened during the flood mostly work: $pres2" probe_ok "$pres2" 0.5 5000
tpi_check "the workers survived the flood" alive
tpi_check "sessions still answer after the flood" tool cli echo "$TPI_SRV4" 7007 20 1200
tpi_check "tproxyd did not log any error" bash -c "! grep -q '\[error\]' '$LOG'"
tpi_diag "workers' RSS after the flood: $(rss) kB, fds: $(nfds)"
tpi_kill "$pid"
grep -E 'udp sessions=|dropped a datagram' "$LOG" | tail -n 4 | sed 's/^/# /'
exit 0
