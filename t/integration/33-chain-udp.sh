#!/usr/bin/env bash
# Issue 6: UDP (DNS) through SOCKS5 UDP ASSOCIATE and the relay protocol. dnsmasq in srv answers
# www.tpi.test; a SOCKS5 client in cli (python, RFC 1928 section 7) asks tproxyd's socks5 server in
# gw for a UDP association and sends DNS queries (to srv's IPv4 and IPv6 address) through it. The
# server forwards them
#   - directly,
#   - through a chain to dante (the gateway is then a SOCKS5 UDP ASSOCIATE client of dante),
#   - through a chain to tproxyd's relay server in srv (relay UDP association),
#   - through 2 hops: socks5 (TCP) -> relay (UDP framed inside the socks5 tunnel);
# each time the answer comes back with the DNS server as its source, and the gateway's access log
# has the association with its byte counts. The association ends with its TCP connection.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_require_cmd nft python3 ss danted dnsmasq
# shellcheck disable=SC2119 # default prefix (from the script name)
tpi_setup_topology
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/tools/chain-lib.sh"

DNSMASQ_LOG=$CH_T/dnsmasq.log
tpi_bg srv dnsmasq -k -C /dev/null -u root --no-resolv --no-hosts --bind-interfaces \
    --listen-address="$TPI_SRV4" --listen-address="$TPI_SRV6" --port=53 \
    --host-record=www.tpi.test,10.77.2.53 --log-queries --log-facility="$DNSMASQ_LOG" >/dev/null
tpi_wait_port srv udp 53 || tpi_fail "dnsmasq did not start"
ch_dante 1080 none
ch_srv_tproxyd

CLIENT=$CH_T/s5udp.py
cat >"$CLIENT" <<'PY'
# s5udp.py PROXY PORT DNS-SERVER NAME: one SOCKS5 UDP association, NAME resolved (A) through it;
# prints the address, or exits 1. Every wait is bounded.
import ipaddress, random, socket, struct, sys
proxy, port, server, name = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
def addr(a, p):
    ip = ipaddress.ip_address(a)
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed + struct.pack("!H", p)
c = socket.create_connection((proxy, port), timeout=5)
c.sendall(b"\x05\x01\x00")
assert c.recv(2) == b"\x05\x00", "method"
c.sendall(b"\x05\x03\x00" + addr("0.0.0.0", 0))
rep = c.recv(262)
assert rep[:2] == b"\x05\x00", "reply %r" % rep[:2]
if rep[3] == 1:
    relay = (socket.inet_ntop(socket.AF_INET, rep[4:8]), struct.unpack("!H", rep[8:10])[0])
else:
    relay = (socket.inet_ntop(socket.AF_INET6, rep[4:20]), struct.unpack("!H", rep[20:22])[0])
u = socket.socket(socket.AF_INET6 if ":" in relay[0] else socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(1)
qid = random.randrange(65536)
q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00" + struct.pack("!HH", 1, 1)
for attempt in range(8):          # the chain may still be opening: retry as a resolver does
    u.sendto(b"\x00\x00\x00" + addr(server, 53) + q, relay)
    try:
        d = u.recv(65535)
    except socket.timeout:
        continue
    hl = 10 if d[3] == 1 else 22
    src = ipaddress.ip_address(d[4:8] if d[3] == 1 else d[4:20])
    assert str(src) == str(ipaddress.ip_address(server)), "source %s" % src
    r = d[hl:]
    assert struct.unpack("!H", r[:2])[0] == qid and struct.unpack("!H", r[6:8])[0] >= 1, "answer"
    print(socket.inet_ntoa(r[-4:]))
    sys.exit(0)
print("no answer after 8 tries")
sys.exit(1)
PY

GW_CONF=$CH_T/gw-udp.conf
GW_LOG=$CH_T/gw-udp.log
cat >"$GW_CONF" <<CONF
# written by $TPI_SCRIPT: socks5 servers with UDP ASSOCIATE, direct and through chains
worker_processes = 1;
log = { level = "info"; target = "$GW_LOG"; };
services = (
  { name = "s5-direct"; addr = "$TPI_GW4_CLI:1080"; idle_timeout = "10s";
    handler = { type = "socks5"; }; listener = { type = "tcp"; }; },
  { name = "s5-dante"; addr = "$TPI_GW4_CLI:1081";
    handler = { type = "socks5"; chain = "dante"; }; listener = { type = "tcp"; }; },
  { name = "s5-relay"; addr = "$TPI_GW4_CLI:1082";
    handler = { type = "socks5"; chain = "relay"; }; listener = { type = "tcp"; }; },
  { name = "s5-two"; addr = "$TPI_GW4_CLI:1083";
    handler = { type = "socks5"; chain = "two"; }; listener = { type = "tcp"; }; }
);
chains = (
  { name = "dante"; hops = ( { nodes = ( { name = "dante"; addr = "$TPI_SRV4:1080";
      connector = { type = "socks5"; }; } ); } ); },
  { name = "relay"; hops = ( { nodes = ( { name = "relay"; addr = "$TPI_SRV4:8420";
      connector = { type = "relay"; auth = { username = "u"; password = "p"; }; }; } ); } ); },
  { name = "two"; hops = (
      { nodes = ( { name = "socks"; addr = "$TPI_SRV4:2080";
          connector = { type = "socks5"; auth = { username = "u"; password = "p"; }; }; } ); },
      { nodes = ( { name = "relay"; addr = "$TPI_SRV4:8420";
          connector = { type = "relay"; auth = { username = "u"; password = "p"; }; }; } ); } ); }
);
CONF
tpi_check "tproxyd -t accepts the UDP config" "$CH_TP" -t -c "$GW_CONF"
tpi_bg gw "$CH_TP" -f -c "$GW_CONF" >/dev/null
for p in 1080 1081 1082 1083; do
    tpi_wait_port gw tcp "$p" || tpi_fail "tproxyd does not listen on :$p"
done

resolves() { # PORT SERVER
    local got
    got=$(tpi_in cli timeout 20 python3 "$CLIENT" "$TPI_GW4_CLI" "$1" "$2" www.tpi.test) || {
        echo "$got"
        return 1
    }
    [[ $got == 10.77.2.53 ]] || { echo "got '$got'"; return 1; }
}
gw_log() { # ERE: waits (bounded) for a line
    local i
    for ((i = 0; i < 100; i++)); do
        grep -qE -- "$1" "$GW_LOG" && return 0
        sleep 0.1
    done
    tail -n 5 "$GW_LOG"
    return 1
}

tpi_check "DNS over SOCKS5 UDP, direct, to the IPv4 server" resolves 1080 "$TPI_SRV4"
tpi_check "DNS over SOCKS5 UDP, direct, to the IPv6 server" resolves 1080 "$TPI_SRV6"
tpi_check "access log: the association (ended with its TCP connection)" \
    gw_log "s5-direct $TPI_CLI4:[0-9]+ -> $TPI_SRV4:53 .* via=direct up=[0-9]+ down=[0-9]+ .*end=done"
tpi_check "DNS through a chain to dante (SOCKS5 UDP ASSOCIATE client)" resolves 1081 "$TPI_SRV4"
tpi_check "... and to the IPv6 server" resolves 1081 "$TPI_SRV6"
tpi_check "access log: via=dante" gw_log "s5-dante .* via=dante up=[1-9][0-9]* down=[1-9][0-9]* "
tpi_check "the first query waited for the chain, not for a retry (ms < 1000)" \
    gw_log "s5-dante .* via=dante up=30 down=46 ms=[0-9]{1,3} "
tpi_check "DNS through a chain to tproxyd's relay server (relay UDP)" resolves 1082 "$TPI_SRV4"
tpi_check "... and to the IPv6 server" resolves 1082 "$TPI_SRV6"
tpi_check "access log: via=relay" gw_log "s5-relay .* via=relay up=[1-9][0-9]* down=[1-9][0-9]* "
tpi_check "DNS through 2 hops: socks5 (TCP) -> relay (UDP in the tunnel)" resolves 1083 "$TPI_SRV4"
tpi_check "access log: via=two" gw_log "s5-two .* via=two up=[1-9][0-9]* down=[1-9][0-9]* "
grep -E 's5-(direct|dante|relay|two) ' "$GW_LOG" | tail -n 4 | sed 's/^.*\] [^ ]*: /log: /' |
    while IFS= read -r l; do tpi_diag "$l"; done
tpi_check "dnsmasq answered every query" \
    test "$(grep -c 'www.tpi.test is 10.77.2.53' "$DNSMASQ_LOG")" -ge 7

tpi_ok "UDP (DNS) through socks5 and relay"
