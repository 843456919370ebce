#!/usr/bin/env bash
# 24-tproxy-udp-chain.sh - redu (TPROXY UDP) through a chain: every session's upstream is a UDP
# association through the chain instead of a direct socket. TPROXY rules in gw divert the client's
# UDP to tproxyd's redu service; the chain goes to
#   (a) tproxyd's own socks5 server in srv (UDP ASSOCIATE, user/password),
#   (b) tproxyd's own relay server in srv with `bind = true` (relay UDP association),
#   (c) dante (SOCKS5 UDP ASSOCIATE, no auth, udp.connectdst: no),
# each with nat = "full-cone": dig from cli to dnsmasq in srv (dnsmasq sees the proxy's address,
# not the gateway's), a UDP echo checked byte for byte with the reply's source == the original
# destination (IPv4 and IPv6), a STUN-style reply from another port of the server reaches the client
# (the proxies relay replies from any source), the access log names the chain and the tunnel; then
#   - nat = "symmetric" through socks5 (the other port's reply is filtered) and relay (UDP CONNECT),
#   - a slow proxy: datagrams sent while the association opens are queued (8 of them) and sent in
#     order, the rest dropped and counted,
#   - a chain that fails: end=upstream-failed (...) in the access log, a retry within 1 s is held
#     back ("backoff"), a datagram after it tries again,
#   - the chain's bypass sends a matching destination direct (via=direct(bypass)).
# shellcheck disable=SC2317 # helper functions are called through tpi_check
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

tpi_require_root
tpi_require_cmd python3 nft ss dig dnsmasq danted
TP=${TPROXYD:-$TPI_ROOT/build/tproxyd}
[[ -x $TP ]] || tpi_fail "$TP not built (run make)"

# shellcheck disable=SC2119
tpi_setup_topology
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/tools/chain-lib.sh"
T=$(tpi_tmpdir)
UDPTOOL=$TPI_ROOT/t/integration/tools/udptool.py
tool() { local ns=$1; shift; tpi_in "$ns" python3 "$UDPTOOL" "$@"; }

# ---- srv: dnsmasq, a UDP echo/STUN server, tproxyd's socks5/relay servers, dante
DNSLOG=$T/dnsmasq.log
tpi_bg srv dnsmasq --no-daemon --no-resolv --no-hosts --address=/example.test/10.9.9.9 \
    --listen-address="$TPI_SRV4" --listen-address="$TPI_SRV6" --bind-interfaces \
    --pid-file="$T/dnsmasq.pid" --log-queries --log-facility="$DNSLOG" >/dev/null
tpi_bg srv python3 "$UDPTOOL" serve 7007 7008 >/dev/null
tpi_wait_port srv udp 53 || tpi_fail "dnsmasq did not start"
tpi_wait_port srv udp 7008 || tpi_fail "echo server did not start"
ch_srv_tproxyd
# dante, no auth; udp.connectdst: no - its UDP relay socket stays unconnected, so replies from any
# source reach the client (with the default, a connected socket, only the destination answers)
cat >"$T/danted.conf" <<CONF
logoutput: stderr
internal: $TPI_SRV4 port = 1080
external: $TPI_SRV_IF
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
udp.connectdst: no
client pass { from: 0/0 to: 0/0 }
socks pass { from: 0/0 to: 0/0 command: bind connect udpassociate }
socks pass { from: 0/0 to: 0/0 command: bindreply udpreply }
CONF
tpi_bg srv danted -f "$T/danted.conf" -p "$T/danted.pid" -N 1 >/dev/null
tpi_wait_port srv tcp 1080 || tpi_fail "danted did not start"
# a TCP forwarder in gw (the SOCKS5 server then sees the gateway's address on both the control
# connection and the datagrams) to the socks5 server that waits 500 ms before it connects: a chain
# whose UDP association takes that long to open
tpi_bg gw python3 -c '
import socket, sys, threading, time
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(c):
    time.sleep(0.5)
    try:
        u = socket.create_connection((sys.argv[4], int(sys.argv[3])), timeout=5)
    except OSError:
        c.close(); return
    u.settimeout(None)
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    pipe(u, c)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
' 127.0.0.1 2081 2080 "$TPI_SRV4" >/dev/null
tpi_wait_port gw tcp 2081 || tpi_fail "slow forwarder did not start"

tpi_rules_tproxy gw 12345 udp both

S5_NODE="name = \"s5\"; addr = \"$TPI_SRV4:2080\";
    connector = { type = \"socks5\"; auth = { username = \"u\"; password = \"p\"; }; };"
RELAY_NODE="name = \"relay\"; addr = \"$TPI_SRV4:8420\";
    connector = { type = \"relay\"; auth = { username = \"u\"; password = \"p\"; }; };"
DANTE_NODE="name = \"dante\"; addr = \"$TPI_SRV4:1080\"; connector = { type = \"socks5\"; };"
SLOW_NODE="name = \"slow\"; addr = \"127.0.0.1:2081\";
    connector = { type = \"socks5\"; auth = { username = \"u\"; password = \"p\"; }; };"
DOWN_NODE="name = \"down\"; addr = \"$TPI_SRV4:2999\"; connector = { type = \"socks5\"; };"

GW_PID=
GW_LOG=
# gw_start NAME NAT NODE [CHAIN-EXTRA]: tproxyd in gw, redu on :12345 through chain NAME (one hop)
gw_start() {
    local name=$1 nat=$2 node=$3 extra=${4:-} conf=$T/gw-$1-$2.conf
    if [[ -n $GW_PID ]]; then
        tpi_kill "$GW_PID"
        GW_PID=
    fi
    GW_LOG=$T/gw-$name-$nat.log
    cat >"$conf" <<CONF
# written by $TPI_SCRIPT: redu through chain "$name" ($nat)
worker_processes = 1;
log = { level = "info"; target = "$GW_LOG"; };
services = (
  { name = "udp-in"; addr = ":12345"; connect_timeout = "3s";
    handler  = { type = "redu"; chain = "$name"; };
    listener = { type = "redu"; ttl = "3s"; nat = "$nat"; }; }
);
chains = (
  { name = "$name"; $extra
    hops = ( { nodes = ( { $node } ); } ); }
);
bypasses = (
  { name = "srv6"; matchers = [ "$TPI_SRV6" ]; }
);
CONF
    tpi_check "tproxyd -t accepts redu through chain $name ($nat)" "$TP" -t -c "$conf"
    : >"$GW_LOG"
    GW_PID=$(tpi_bg gw "$TP" -f -c "$conf")
    tpi_wait_port gw udp 12345 || tpi_fail "tproxyd (chain $name) does not listen on udp :12345"
}

logged() { # logged ERE [N=1] [SECS=6]: the gw log has N lines matching ERE (bounded wait)
    local i n=0
    for ((i = 0; i < ${3:-6} * 10; i++)); do
        n=$(grep -cE -- "$1" "$GW_LOG" || true)
        ((n >= ${2:-1})) && return 0
        sleep 0.1
    done
    echo "gw log: $n line(s) match /$1/, wanted ${2:-1}; last lines:"
    tail -n 15 "$GW_LOG"
    return 1
}
dig_is() { # dig_is SERVER: example.test resolves through the gateway
    local out
    out=$(tpi_in cli dig +time=2 +tries=3 "@$1" example.test A +short) || { echo "$out"; return 1; }
    [[ $out == 10.9.9.9 ]] || { echo "got '$out'"; return 1; }
}
DNS_SEEN=0
dns_from() { # dns_from ADDR: dnsmasq logged a new query from ADDR (and none from gw or cli)
    local n
    n=$(grep -c "query\[A\] example.test from $1\$" "$DNSLOG" || true)
    ((n > DNS_SEEN)) || { echo "no new query from $1 in the dnsmasq log:"; tail -n 5 "$DNSLOG"; return 1; }
    DNS_SEEN=$n
    ! grep -qE "from ($TPI_GW4_SRV|$TPI_GW6_SRV|$TPI_CLI4|$TPI_CLI6)\$" "$DNSLOG" ||
        { echo "dnsmasq saw the gateway or the client"; return 1; }
}
echo_ok() { # echo_ok ADDR COUNT: byte-for-byte echo, replies from ADDR:7007
    local out
    out=$(tool cli echo "$1" 7007 "$2" 1200) || { echo "$out"; return 1; }
    echo "$out"
}

# full_cone NAME NODE TUNNEL: the checks of one proxy under full-cone
full_cone() {
    local name=$1 node=$2 tun=$3
    gw_start "$name" full-cone "$node"
    DNS_SEEN=$(grep -c "query\[A\] example.test from $TPI_SRV4\$" "$DNSLOG" || true)
    tpi_check "$name: dig @$TPI_SRV4 from cli through the chain" dig_is "$TPI_SRV4"
    tpi_check "$name: dnsmasq saw the proxy ($TPI_SRV4), not the gateway" dns_from "$TPI_SRV4"
    DNS_SEEN=$(grep -c "query\[A\] example.test from $TPI_SRV6\$" "$DNSLOG" || true)
    tpi_check "$name: dig @$TPI_SRV6 from cli through the chain" dig_is "$TPI_SRV6"
    tpi_check "$name: dnsmasq saw the proxy ($TPI_SRV6), not the gateway" dns_from "$TPI_SRV6"
    tpi_check "$name: UDP echo IPv4, 100 datagrams byte for byte, reply source == destination" \
        echo_ok "$TPI_SRV4" 100
    tpi_check "$name: UDP echo IPv6, 100 datagrams byte for byte, reply source == destination" \
        echo_ok "$TPI_SRV6" 100
    tpi_check "$name: full-cone STUN check IPv4: the reply from the other port arrives" \
        tool cli stun "$TPI_SRV4" 7007 7008 1
    tpi_check "$name: access log: the echo session through $name/$tun, ended by ttl" \
        logged "redu $TPI_CLI4:[0-9]+ -> $TPI_SRV4:7007 nat=full-cone via=$name/$tun up=[0-9]+/100 down=[0-9]+/100 remotes=1 .*end=ttl" 1 8
    tpi_check "$name: access log: the STUN session had two remotes" \
        logged "-> $TPI_SRV4:7007 nat=full-cone via=$name/$tun up=[0-9]+/2 down=[0-9]+/3 remotes=2 .*end=ttl" 1 8
    grep -E "via=$name/" "$GW_LOG" | tail -n 2 | sed 's/^.*\] [^ ]*: /log: /' |
        while IFS= read -r l; do tpi_diag "$l"; done
}

# ---- (a) tproxyd's socks5 server, (b) tproxyd's relay server (bind = true), (c) dante
full_cone socks5 "$S5_NODE" socks5-udp
full_cone relay "$RELAY_NODE" relay-udp
full_cone dante "$DANTE_NODE" socks5-udp

# ---- symmetric: socks5 (any-destination association, other remotes filtered) and relay (UDP CONNECT)
gw_start socks5 symmetric "$S5_NODE"
tpi_check "socks5 symmetric: UDP echo IPv4 byte for byte" echo_ok "$TPI_SRV4" 50
tpi_check "socks5 symmetric: UDP echo IPv6 byte for byte" echo_ok "$TPI_SRV6" 50
tpi_check "socks5 symmetric: dig @$TPI_SRV4" dig_is "$TPI_SRV4"
tpi_check "socks5 symmetric: STUN check: the reply from the other port is filtered" \
    tool cli stun "$TPI_SRV4" 7007 7008 0
tpi_check "socks5 symmetric: ... counted as a foreign reply" \
    logged "dropped a datagram $TPI_SRV4:7008 -> $TPI_CLI4:[0-9]+: foreign"
tpi_check "socks5 symmetric: one client port to two destinations" \
    tool cli multi "$TPI_SRV4" 7007 7008
tpi_check "socks5 symmetric: access log" \
    logged "-> $TPI_SRV4:7007 nat=symmetric via=socks5/socks5-udp up=[0-9]+/50 down=[0-9]+/50 .*end=ttl" 1 8
tpi_check "socks5 symmetric: two sessions for the client port that talked to two destinations" \
    logged "-> $TPI_SRV4:7008 nat=symmetric via=socks5/socks5-udp up=[0-9]+/1 down=[0-9]+/1 .*end=ttl" 1 8
gw_start relay symmetric "$RELAY_NODE"
tpi_check "relay symmetric (UDP CONNECT): UDP echo IPv4 byte for byte" echo_ok "$TPI_SRV4" 50
tpi_check "relay symmetric (UDP CONNECT): UDP echo IPv6 byte for byte" echo_ok "$TPI_SRV6" 50
tpi_check "relay symmetric: STUN check: only the destination answers" \
    tool cli stun "$TPI_SRV4" 7007 7008 0
tpi_check "relay symmetric: access log" \
    logged "-> \[$TPI_SRV6\]:7007 nat=symmetric via=relay/relay-udp up=[0-9]+/50 down=[0-9]+/50 .*end=ttl" 1 8

# ---- a slow chain: 12 datagrams at once, 8 wait for the association, 4 are dropped
gw_start slow full-cone "$SLOW_NODE"
queued() {
    tpi_in cli python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(12):
    s.sendto(b"q%02d" % i, (sys.argv[1], 7007))
got = []
s.settimeout(0.3)
end = time.time() + 3
while time.time() < end:
    try:
        d, src = s.recvfrom(100)
    except socket.timeout:
        if got: break
        continue
    got.append(d.decode())
print(" ".join(got))
sys.exit(0 if got == ["q%02d" % i for i in range(8)] else 1)' "$TPI_SRV4" || { tail -n 20 "$GW_LOG"; return 1; }
}
tpi_check "slow chain: the first 8 datagrams were queued and echoed in order, the rest dropped" queued
tpi_check "slow chain: the drops are counted as queue" \
    logged "dropped a datagram $TPI_CLI4:[0-9]+ -> $TPI_SRV4:7007: queue: the chain's association is opening"
tpi_check "slow chain: access log: 8 datagrams up" \
    logged "-> $TPI_SRV4:7007 nat=full-cone via=slow/socks5-udp up=[0-9]+/8 down=[0-9]+/8 .*end=ttl" 1 8

# ---- a chain whose only node is down: the session ends with upstream-failed, retries are limited
gw_start down full-cone "$DOWN_NODE"
failing() { # one client port: a datagram, another 0.3 s later (held back), a third 1.3 s after that
    tpi_in cli python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for pause in (0, 0.3, 1.3):
    time.sleep(pause)
    s.sendto(b"x", (sys.argv[1], 7007))' "$TPI_SRV4"
}
tpi_check "down chain: the client sends 3 datagrams" failing
tpi_check "down chain: end=upstream-failed (...) names the node and the error, twice" \
    logged "redu $TPI_CLI4:[0-9]+ -> $TPI_SRV4:7007 nat=full-cone via=down up=0/0 .*end=upstream-failed \(node \"down\": .*Connection refused\)" 2
tpi_check "down chain: the datagram within 1 s was held back (backoff)" \
    logged "dropped a datagram $TPI_CLI4:[0-9]+ -> $TPI_SRV4:7007: backoff"
tpi_check "down chain: no third attempt" test "$(grep -c 'end=upstream-failed' "$GW_LOG")" -eq 2
tpi_check "down chain: tproxyd still runs" tpi_alive "$GW_PID"

# ---- the chain's bypass: srv's IPv6 address goes direct, IPv4 through the chain
gw_start bypass full-cone "$S5_NODE" 'bypass = "srv6";'
tpi_check "bypass: dig @$TPI_SRV6 goes direct" dig_is "$TPI_SRV6"
tpi_check "bypass: dnsmasq saw the gateway ($TPI_GW6_SRV)" \
    grep -q "query\[A\] example.test from $TPI_GW6_SRV\$" "$DNSLOG"
tpi_check "bypass: UDP echo IPv4 through the chain" echo_ok "$TPI_SRV4" 10
tpi_check "bypass: access log: via=direct(bypass) for IPv6" \
    logged "-> \[$TPI_SRV6\]:53 nat=full-cone via=direct\(bypass\) .*end=ttl" 1 8
tpi_check "bypass: access log: via=bypass/socks5-udp for IPv4" \
    logged "-> $TPI_SRV4:7007 nat=full-cone via=bypass/socks5-udp .*end=ttl" 1 8

tpi_kill "$GW_PID"
tpi_check "worker summary: associations opened and bypassed" \
    logged "chain associations: opened=[1-9][0-9]* failed=0 bypassed=[1-9]"
tpi_check "tproxyd did not log any error" bash -c "! grep -q '\[error\]' '$T'/gw-*.log"
exit 0
