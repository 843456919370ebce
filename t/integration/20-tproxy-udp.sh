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
UDPTOOL=$TPI_ROOT/t/integration/tools/udptool.py
tool() { local ns=$1; shift; tpi_in "$ns" python3 "$UDPTOOL" "$@"; }

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
tpi_bg srv python3 "$UDPTOOL" serve 7007 7008 >/dev/null
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
