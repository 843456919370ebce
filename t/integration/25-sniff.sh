#!/usr/bin/env bash
# Sniffing (issue 5): the client resolves names to a dead address
# (10.77.2.99), so only a correctly sniffed TLS SNI / HTTP Host, resolved by
# tproxyd's own DNS (dnsmasq in the server namespace), makes curl succeed.
# Also: a silent client is released to its original destination by the
# timeout; fallback on/off; server-first ports are not sniffed; the
# route-only mode dials the original address.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_setup_topology

TP=$TPI_ROOT/build/tproxyd
T=$(tpi_tmpdir)
DEAD=10.77.2.99

# tproxyd's resolver (ip netns exec bind-mounts /etc/netns/NS/resolv.conf).
mkdir -p "/etc/netns/$TPI_NS_GW"
tpi_on_exit rm -rf "/etc/netns/$TPI_NS_GW"
echo "nameserver $TPI_SRV4" >"/etc/netns/$TPI_NS_GW/resolv.conf"
tpi_bg srv dnsmasq --no-daemon --no-resolv --no-hosts --listen-address="$TPI_SRV4" \
    --bind-interfaces --pid-file="$T/dnsmasq.pid" \
    --address=/secure.test/"$TPI_SRV4" --address=/plain.test/"$TPI_SRV4" \
    --address=/dead.test/10.77.2.98 >/dev/null

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=secure.test \
    -addext subjectAltName=DNS:secure.test -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
tpi_bg srv openssl s_server -quiet -www -accept 443 -cert "$T/cert.pem" -key "$T/key.pem" >/dev/null
mkdir -p "$T/www" && echo "plain page" >"$T/www/index.html"
tpi_bg srv python3 -m http.server 80 --bind "$TPI_SRV4" --directory "$T/www" >/dev/null
tpi_bg srv bash -c "while true; do printf '220 smtp.test ESMTP\r\n' | timeout 5 ncat -l $TPI_SRV4 25 >/dev/null || exit; done" >/dev/null
tpi_wait_port srv tcp 443 && tpi_wait_port srv tcp 80 && tpi_wait_port srv tcp 25 \
    && tpi_wait_port srv udp 53 || tpi_fail "servers did not start"

start_tp() {   # $1 = fallback, $2 = dial_original_dst
    cat >"$T/tp.conf" <<CONF
worker_processes = 1;
log = { level = "debug"; target = "$T/tp.log"; };
services = (
  { name = "sniff-in"; addr = ":12345"; connect_timeout = "2s";
    handler = { type = "red"; tproxy = true;
                sniffing = { enabled = true; timeout = "1s"; fallback = $1;
                             dial_original_dst = $2; }; };
    listener = { type = "red"; tproxy = true; }; }
);
CONF
    : >"$T/tp.log"
    tp=$(tpi_bg gw "$TP" -f -c "$T/tp.conf")
    tpi_wait_port gw tcp 12345 || tpi_fail "tproxyd did not start"
}
stop_tp() { tpi_kill "$tp"; }
logged() { for _ in $(seq 50); do grep -Eq -e "$1" "$T/tp.log" && return 0; sleep 0.1; done; return 1; }

tpi_rules_tproxy gw 12345 tcp 4
start_tp false false

tpi_check "HTTPS by SNI: client DNS says $DEAD, tproxyd dials secure.test" \
    tpi_in cli curl -fsS -m 8 --cacert "$T/cert.pem" \
        --resolve "secure.test:443:$DEAD" https://secure.test/ -o /dev/null
tpi_check "access log shows the sniffed TLS host" \
    logged "sniff-in .* -> $DEAD:443 host=secure.test dial=secure.test:443 .*end=done"
tpi_check "HTTP by Host header" \
    bash -c "[ \"\$(ip netns exec $TPI_NS_CLI curl -fsS -m 8 --resolve plain.test:80:$DEAD http://plain.test/)\" = 'plain page' ]"
tpi_check "access log shows the sniffed HTTP host" \
    logged "-> $DEAD:80 host=plain.test dial=plain.test:80"

# A client that stays silent past the timeout goes to its original address.
cat >"$T/silent.py" <<PY
import socket, time
s = socket.create_connection(("$TPI_SRV4", 80), timeout=10)
time.sleep(1.6)
s.sendall(b"GET / HTTP/1.0\r\n\r\n")
data = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    data += d
assert b"plain page" in data, data
PY
tpi_check "silent client released by the timeout to its original destination" \
    tpi_in cli python3 "$T/silent.py"
tpi_check "sniff timeout logged" logged "sniff: timeout"

# Server-first protocols: no sniffing on port 25, so no 1 s wait.
tpi_check "SMTP banner arrives at once (port 25 is not sniffed)" \
    bash -c "s=\$(date +%s%N); out=\$(ip netns exec $TPI_NS_CLI timeout 3 ncat $TPI_SRV4 25 </dev/null | head -c 3); e=\$(date +%s%N); [ \"\$out\" = 220 ] && [ \$(( (e - s) / 1000000 )) -lt 900 ]"

# Garbage is "no name": the flow still reaches its original destination.
tpi_check "garbage first bytes still reach the original destination" \
    bash -c "printf '\x16\x03\x01\xff\xffgarbage\r\n\r\n' | ip netns exec $TPI_NS_CLI timeout 5 ncat $TPI_SRV4 80 | grep -qi 'error response'"

# A client-chosen name must not reach the gateway's own loopback services.
mkdir -p "$T/secret" && echo "gateway secret" >"$T/secret/index.html"
tpi_bg gw python3 -m http.server 80 --bind 127.0.0.1 --directory "$T/secret" >/dev/null
tpi_wait_port gw tcp 80 || tpi_fail "loopback server in gw did not start"
tpi_check "Host: localhost does not reach the gateway's loopback" \
    bash -c "! ip netns exec $TPI_NS_CLI curl -sS -m 6 -H 'Host: localhost' http://$TPI_SRV4/ | grep -q 'gateway secret'"
tpi_check "refusal logged" logged "host=localhost .*end=dial-failed.*loopback"
tpi_check "Host: 127.0.0.1 goes to the original address instead" \
    bash -c "[ \"\$(ip netns exec $TPI_NS_CLI curl -fsS -m 6 -H 'Host: 127.0.0.1' http://$TPI_SRV4/)\" = 'plain page' ]"

# Sniffed name unreachable: without fallback the flow is closed and logged.
tpi_check "no fallback: a dead sniffed name fails the flow" \
    bash -c "! ip netns exec $TPI_NS_CLI curl -fsS -m 6 --resolve dead.test:80:$TPI_SRV4 http://dead.test/ -o /dev/null"
tpi_check "no fallback: logged as dial failure for the name" \
    logged "host=dead.test dial=dead.test:80 .*end=dial-(failed|timeout)"
stop_tp

start_tp true false
tpi_check "fallback: a dead sniffed name falls back to the original address" \
    bash -c "[ \"\$(ip netns exec $TPI_NS_CLI curl -fsS -m 8 --resolve dead.test:80:$TPI_SRV4 http://dead.test/)\" = 'plain page' ]"
tpi_check "fallback logged" logged "falling back to the original destination"
stop_tp

start_tp false true
tpi_check "dial_original_dst: the name is logged, the original IP dialed" \
    bash -c "[ \"\$(ip netns exec $TPI_NS_CLI curl -fsS -m 8 --resolve plain.test:80:$TPI_SRV4 http://plain.test/)\" = 'plain page' ]"
tpi_check "dial_original_dst logged with host and original dial" \
    logged "host=plain.test dial=$TPI_SRV4:80"
stop_tp
tpi_ok "sniffing"
