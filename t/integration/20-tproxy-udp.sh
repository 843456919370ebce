#!/usr/bin/env bash
# 20-tproxy-udp.sh - redu (transparent UDP, nat = "full-cone") through the gateway, IPv4 and IPv6 on a
# dual-stack ":12345" listener with 2 workers: dig to dnsmasq in srv, UDP echo checked byte for byte
# with the reply's source == the original destination, a STUN-style check (the server also answers
# from another port: the client must get it), write-back sockets (one shared per remote per worker, one
# connected per session while the remote has few clients), spec 5.2's pitfall (a UDP `socket` rule)
# defused, datagrams larger than
# read_buffer_size reported and dropped, the loop guard, a write-back bind failure (GOST's redu dies there) that must not stop the
# service, session ends (ttl) with counts in the access log.
# shellcheck disable=SC2317 # helper functions are called through tpi_check
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

tpi_require_root
tpi_require_cmd python3 nft ss dig dnsmasq
TPROXYD=${TPROXYD:-$TPI_ROOT/build/tproxyd}
[[ -x $TPROXYD ]] || tpi_fail "$TPROXYD not built (run make)"

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
log = { level = "info"; target = "stderr"; };
services = (
  { name = "udp-in"; addr = ":12345";
    sockopts = { mark = 255; };
    handler  = { type = "redu"; };
    listener = { type = "redu"; ttl = "3s"; read_buffer_size = 4096; }; }
);
CONF
tpi_check "config passes tproxyd -t" "$TPROXYD" -t -c "$T/tproxyd.conf"

tpi_bg srv dnsmasq --no-daemon --no-resolv --no-hosts --address=/example.test/10.9.9.9 \
    --listen-address="$TPI_SRV4" --listen-address="$TPI_SRV6" --bind-interfaces \
    --pid-file="$T/dnsmasq.pid" --log-queries --log-facility="$T/dnsmasq.log" >/dev/null
tpi_bg srv python3 "$T/udptool.py" serve 7007 7008 >/dev/null
tpi_wait_port srv udp 53 || tpi_fail "dnsmasq did not start"
tpi_wait_port srv udp 7008 || tpi_fail "echo server did not start"
pid=$(tpi_bg gw "$TPROXYD" -f -c "$T/tproxyd.conf")
LOG=$(tpi_bg_log "$pid")
tpi_wait_port gw udp 12345 || tpi_fail "tproxyd did not start"
tpi_rules_tproxy gw 12345 udp both

alive() { # the master and both workers
    local kids
    tpi_alive "$pid" || return 1
    read -ra kids <"/proc/$pid/task/$pid/children"
    [[ ${#kids[@]} -eq 2 ]] || { echo "workers: ${kids[*]}"; return 1; }
}
dig_is() { # dig_is SERVER: example.test must resolve to 10.9.9.9 through the gateway
    local out
    out=$(tpi_in cli dig +time=2 +tries=2 "@$1" example.test A +short) || { echo "$out"; return 1; }
    [[ $out == 10.9.9.9 ]] || { echo "got '$out'"; return 1; }
}
logged() { # logged REGEX [SECONDS=6]: wait until the tproxyd log has a matching line
    local i
    for ((i = 0; i < ${2:-6} * 10; i++)); do
        grep -Eq -- "$1" "$LOG" && return 0
        sleep 0.1
    done
    echo "no line matching: $1"
    tail -n 20 "$LOG"
    return 1
}

# ---- DNS
tpi_check "dig @$TPI_SRV4 through the gateway (IPv4)" dig_is "$TPI_SRV4"
tpi_check "dig @$TPI_SRV6 through the gateway (IPv6)" dig_is "$TPI_SRV6"
# proxied, not forwarded: the server sees the gateway's upstream sockets, never the client
tpi_check "dnsmasq got the queries from tproxyd's upstream sockets, not the client" bash -c \
    "grep -q 'query\[A\] example.test from $TPI_GW4_SRV' '$T/dnsmasq.log' &&
     grep -q 'query\[A\] example.test from $TPI_GW6_SRV' '$T/dnsmasq.log' &&
     ! grep -q 'from $TPI_CLI4' '$T/dnsmasq.log'"

# ---- DNS to the gateway's own resolver (GOST's redu dies on it): local destinations are not diverted
tpi_bg gw dnsmasq --no-daemon --no-resolv --no-hosts --address=/gw.test/10.9.9.8 \
    --listen-address="$TPI_GW4_CLI" --bind-interfaces --pid-file="$T/dnsmasq-gw.pid" >/dev/null
tpi_wait_port gw udp 53 || tpi_fail "dnsmasq in gw did not start"
gw_dns() {
    local out
    out=$(tpi_in cli dig +time=2 +tries=2 "@$TPI_GW4_CLI" gw.test A +short) || { echo "$out"; return 1; }
    [[ $out == 10.9.9.8 ]] || { echo "got '$out'"; return 1; }
}
tpi_check "dig @$TPI_GW4_CLI (the gateway's own resolver) works with the rules in place" gw_dns

# ---- echo, byte for byte, reply source == original destination
out4=$(tool cli echo "$TPI_SRV4" 7007 200 1400) || tpi_fail "UDP echo IPv4: $out4"
tpi_ok "UDP echo IPv4: ${out4%%$'\n'*}"
out6=$(tool cli echo "$TPI_SRV6" 7007 200 1400) || tpi_fail "UDP echo IPv6: $out6"
tpi_ok "UDP echo IPv6: ${out6%%$'\n'*}"
shared_wb() { # shared_wb ADDR:PORT: unconnected write-back sockets in gw bound to a server address
    tpi_in gw ss -Huan state unconnected "src $1" | wc -l
}
conn_wb() { # conn_wb PORT CLIENT-PORT: write-back sockets bound to srv:PORT connected to the client
    tpi_in gw ss -Hun state established "( sport = :$1 and dport = :$2 )" | wc -l
}
port4=$(sed -n 's/^LOCALPORT=\([0-9]*\) .*/\1/p' <<<"$out4")
tpi_check "200 replies: one shared write-back socket per worker at most (not one per packet)" \
    test "$(shared_wb "$TPI_SRV4:7007")" -ge 1 -a "$(shared_wb "$TPI_SRV4:7007")" -le 2
tpi_check "... and one connected write-back socket for that client" test "$(conn_wb 7007 "$port4")" -eq 1
tpi_check "UDP echo of a datagram of exactly read_buffer_size (4096)" tool cli echo "$TPI_SRV4" 7007 1 4096
for i in 1 2 3 4; do tool cli echo "$TPI_SRV4" 7007 3 100 >/dev/null || tpi_fail "echo client $i"; done
tpi_check "six clients of one server still share <= 1 unconnected write-back socket per worker" \
    test "$(shared_wb "$TPI_SRV4:7007")" -le 2
tpi_check "IPv6: the same" test "$(shared_wb "[$TPI_SRV6]:7007")" -le 2

# ---- full-cone: a reply from another port of the server reaches the client
tpi_check "full-cone STUN check IPv4: reply from the other port arrives" tool cli stun "$TPI_SRV4" 7007 7008 1
tpi_check "full-cone STUN check IPv6: reply from the other port arrives" tool cli stun "$TPI_SRV6" 7007 7008 1

# ---- larger than read_buffer_size: reported, dropped, service goes on
tpi_check "a 5000-byte datagram is dropped, not cut" tool cli big "$TPI_SRV4" 7007 5000 100
tpi_check "... and reported as truncated" logged "dropped a datagram 10\.77\.1\.2:[0-9]+ -> 10\.77\.2\.2:7007: truncated"

# ---- loop guard: a datagram to the listener itself (local destination, not diverted by the rules)
tpi_in cli python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(b"loop?", (sys.argv[1], 12345))' "$TPI_GW4_CLI"
tpi_check "a datagram to tproxyd's own listener is refused (loop)" logged "-> 10\.77\.1\.1:12345: loop: destination is tproxyd itself"

# ---- write-back bind failure (GOST's redu exits here): a local UDP server whose socket has no
# SO_REUSEADDR, and a rule diverting datagrams to it anyway
tpi_bg gw python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind((sys.argv[1], 5300))
while True:
    d, p = s.recvfrom(2048); s.sendto(d, p)' "$TPI_GW4_CLI" >/dev/null
tpi_wait_port gw udp 5300 || tpi_fail "local UDP server in gw did not start"
tpi_in gw nft insert rule inet tproxyd prerouting iifname "$TPI_GW_CLI_IF" ip daddr "$TPI_GW4_CLI" \
    udp dport 5300 tproxy ip to :12345 meta mark set 0x1 accept
tpi_in cli python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
for i in range(20):
    s.sendto(b"x" * 10, (sys.argv[1], 5300))
    try: s.recvfrom(100)
    except socket.timeout: pass' "$TPI_GW4_CLI"
tpi_check "write-back bind failure is counted and logged" logged "-> 10\.77\.1\.2:[0-9]+: write-back: write-back bind: Address already in use"
tpi_check "tproxyd and its workers still run" alive
tpi_check "UDP echo still works after the failures" tool cli echo "$TPI_SRV4" 7007 20 512

# ---- spec 5.2's pitfall: a rule matching UDP with `socket` delivers client datagrams to a live
# write-back socket (bound to the server's address) instead of the service socket; they must still
# be served (tproxyd reads its write-back sockets too) and the rule reported
tool cli echo "$TPI_SRV4" 7007 2 100 >/dev/null || tpi_fail "echo before the socket rule"
tpi_in gw nft insert rule inet tproxyd prerouting iifname "$TPI_GW_CLI_IF" meta l4proto udp \
    socket transparent 1 meta mark set 0x1 accept
tpi_check "with a UDP socket-match rule, echo through the gateway still works" tool cli echo "$TPI_SRV4" 7007 50 1000
tpi_check "... the datagrams that landed on a write-back socket were reported" \
    logged "client datagrams to 10\.77\.2\.2:7007 arrive on tproxyd's write-back socket"
h=$(tpi_in gw nft -a list chain inet tproxyd prerouting | sed -n 's/.*udp socket transparent 1 .*# handle \([0-9]*\)$/\1/p')
[[ -n $h ]] || h=$(tpi_in gw nft -a list chain inet tproxyd prerouting | sed -n 's/.*socket transparent 1 meta mark set 0x00000001 accept # handle \([0-9]*\)$/\1/p' | head -n 1)
tpi_in gw nft delete rule inet tproxyd prerouting handle "$h"

# ---- access log: session ends with counts (ttl 3s)
lp=$(sed -n 's/^LOCALPORT=\([0-9]*\) BYTES=\([0-9]*\)$/\1 \2/p' <<<"$out4")
read -r port4 bytes4 <<<"$lp"
lp=$(sed -n 's/^LOCALPORT=\([0-9]*\) BYTES=\([0-9]*\)$/\1 \2/p' <<<"$out6")
read -r port6 bytes6 <<<"$lp"
tpi_check "access log: IPv4 echo session ended by ttl with exact counts" \
    logged "redu 10\.77\.1\.2:$port4 -> 10\.77\.2\.2:7007 nat=full-cone via=direct up=$bytes4/200 down=$bytes4/200 remotes=1 ms=[0-9]+ end=ttl" 10
tpi_check "access log: IPv6 echo session ended by ttl with exact counts" \
    logged "redu \[fd77:1::2\]:$port6 -> \[fd77:2::2\]:7007 nat=full-cone via=direct up=$bytes6/200 down=$bytes6/200 remotes=1 ms=[0-9]+ end=ttl" 10
tpi_check "access log: the STUN session had two remotes" logged "-> 10\.77\.2\.2:7007 nat=full-cone via=direct up=[0-9]+/2 down=[0-9]+/3 remotes=2 .*end=ttl" 10
tpi_check "access log: the DNS sessions" logged "-> \[fd77:2::2\]:53 nat=full-cone via=direct up=[0-9]+/1 down=[0-9]+/1 remotes=1 .*end=ttl" 10
tpi_check "DNS to the gateway's own resolver never became a tproxyd session" \
    bash -c "! grep -q -- '-> $TPI_GW4_CLI:53 ' '$LOG'"
tpi_check "tproxyd did not log any error" bash -c "! grep -q '\[error\]' '$LOG'"

# ---- stop: the worker summary counts the drops
tpi_kill "$pid"
tpi_check "worker summary line with drop counters" logged "udp-in: udp sessions=[0-9]+ .*dropped: truncated=1 " 2
grep 'udp sessions=' "$LOG" | sed 's/^/# /'
exit 0
