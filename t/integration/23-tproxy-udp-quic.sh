#!/usr/bin/env bash
# 23-tproxy-udp-quic.sh - QUIC sniffing on redu (issue 5). The client sends to a dead address
# (10.77.2.99 / fd77:2::99) with the TLS SNI quic.test, a name only the gateway can resolve
# (dnsmasq in srv, the gateway's resolv.conf), so only a correctly sniffed QUIC Initial reaches the
# server, and only a write-back from the ORIGINAL address lets the client accept the replies.
#   - real HTTP/3: ngtcp2's gtlsclient -> gtlsserver (self-signed cert for quic.test), GET of a file,
#     compared byte for byte; full-cone and symmetric; access log host=quic.test dial=10.77.2.2:4433;
#   - the same request with sniffing off fails (dead address);
#   - Initials built by tools/quictool.py (v1, v2, split over two datagrams, IPv6) to an echo server
#     that records what reaches it: the bytes arrive unchanged at the resolved address, the echo
#     comes back from the dead address the client used;
#   - a non-QUIC flow with sniffing on is not held (echo at once), neither is a QUIC-looking
#     datagram that does not decrypt; a partial ClientHello is held for the UDP cap (300 ms, with
#     the 5 s default timeout), then it and the datagrams after it go out unchanged and in order;
#   - a name that does not resolve (or resolves to loopback, or whose resolver stays silent until
#     connect_timeout, 8 datagrams held meanwhile): dropped and logged without fallback, sent to
#     the original address with it; dial_original_dst routes/logs by name but sends to the original
#     address; a service bypass list refuses a sniffed name, and by address unsniffed UDP.
# Needs ngtcp2-client, ngtcp2-server (gtlsclient/gtlsserver) and python3-cryptography.
# shellcheck disable=SC2317 # helper functions are called through tpi_check
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

tpi_require_root
tpi_require_cmd python3 nft ss dnsmasq openssl gtlsclient gtlsserver
python3 -c 'import cryptography' 2>/dev/null || tpi_skip "python3-cryptography is not installed"
TPROXYD=${TPROXYD:-$TPI_ROOT/build/tproxyd}
[[ -x $TPROXYD ]] || tpi_fail "$TPROXYD not built (run make)"

# shellcheck disable=SC2119
tpi_setup_topology
T=$(tpi_tmpdir)
QT=$TPI_ROOT/t/integration/tools/quictool.py
DEAD4=10.77.2.99 DEAD6=fd77:2::99

# tproxyd's resolver (ip netns exec bind-mounts /etc/netns/NS/resolv.conf). The client resolves
# quic.test to the dead address by its hosts file (gtlsclient sends the <HOST> argument as SNI; its
# --sni option does not override that for a numeric host in ngtcp2 0.12).
mkdir -p "/etc/netns/$TPI_NS_GW" "/etc/netns/$TPI_NS_CLI"
tpi_on_exit rm -rf "/etc/netns/$TPI_NS_GW" "/etc/netns/$TPI_NS_CLI"
echo "nameserver $TPI_SRV4" >"/etc/netns/$TPI_NS_GW/resolv.conf"
: >"/etc/netns/$TPI_NS_CLI/resolv.conf"
printf '127.0.0.1 localhost\n%s quic.test\n' "$DEAD4" >"/etc/netns/$TPI_NS_CLI/hosts"
tpi_bg srv dnsmasq --no-daemon --no-resolv --no-hosts --listen-address="$TPI_SRV4" \
    --bind-interfaces --pid-file="$T/dnsmasq.pid" --log-queries --log-facility="$T/dnsmasq.log" \
    --address=/quic.test/"$TPI_SRV4" --address=/quic.test/"$TPI_SRV6" \
    --address=/blocked.test/"$TPI_SRV4" --address=/other.test/"$TPI_SRV4" >/dev/null

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=quic.test \
    -addext subjectAltName=DNS:quic.test -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
mkdir -p "$T/www"
head -c 300000 /dev/urandom >"$T/www/blob.bin"
tpi_bg srv gtlsserver -q -d "$T/www" '*' 4433 "$T/key.pem" "$T/cert.pem" >/dev/null
tpi_bg srv python3 "$QT" serve 7443 "$T/echo.log" >/dev/null
for port in 53 4433 7443; do
    tpi_wait_port srv udp "$port" || tpi_fail "server on UDP port $port did not start"
done

start_tp() { # start_tp NAT SNIFFING-GROUP [SERVICE-EXTRA]
    cat >"$T/tp.conf" <<CONF
worker_processes = 1;
log = { level = "debug"; target = "$T/tp.log"; };
bypasses = ( { name = "blocked"; matchers = [ "blocked.test", "$TPI_SRV4" ]; } );
services = (
  { name = "quic-in"; addr = ":12345"; connect_timeout = "2s";
    sockopts = { mark = 255; };
    ${3:-}
    handler  = { type = "redu"; sniffing = $2; };
    listener = { type = "redu"; ttl = "2s"; nat = "$1"; }; }
);
CONF
    "$TPROXYD" -t -c "$T/tp.conf" >/dev/null 2>&1 || tpi_fail "config rejected: $2"
    : >"$T/tp.log"
    tp=$(tpi_bg gw "$TPROXYD" -f -c "$T/tp.conf")
    tpi_wait_port gw udp 12345 || tpi_fail "tproxyd did not start"
}
stop_tp() { tpi_kill "$tp"; cat "$T/tp.log" >>"$T/all.log"; }
logged() { # logged REGEX [SECONDS=6]: wait until tproxyd's log has a matching line
    local i
    for ((i = 0; i < ${2:-6} * 10; i++)); do
        grep -Eq -- "$1" "$T/tp.log" && return 0
        sleep 0.1
    done
    echo "no line matching: $1"
    tail -n 20 "$T/tp.log"
    return 1
}
qt() { tpi_in cli python3 "$QT" "$@"; }
h3get() { # h3get: HTTP/3 GET https://quic.test:4433/blob.bin (quic.test = $DEAD4 for the client);
    # the download must equal the server's file
    local dl
    dl=$(mktemp -d "$T/dl.XXXXXX")
    tpi_in cli timeout 12 gtlsclient -q --exit-on-all-streams-close --handshake-timeout=4s \
        --timeout=4s --download="$dl" quic.test 4433 "https://quic.test:4433/blob.bin" \
        >"$dl.out" 2>&1 || true
    if ! cmp -s "$dl/blob.bin" "$T/www/blob.bin"; then
        echo "download differs or is missing:"
        ls -la "$dl"
        tail -n 5 "$dl.out"
        return 1
    fi
    echo "HTTP/3 GET of $(stat -c %s "$dl/blob.bin") bytes from quic.test ($DEAD4 for the client): identical"
}
no_h3get() { ! h3get "$@"; }
fast() { # fast MAX-MS CMD...: CMD prints MS=<first echo delay>; it must be below MAX-MS
    local out ms
    out=$("${@:2}") || { echo "$out"; return 1; }
    echo "$out"
    ms=$(sed -n 's/.*MS=\([0-9]*\).*/\1/p' <<<"$out")
    [[ -n $ms && $ms -lt $1 ]] || { echo "first echo after ${ms}ms, want < $1ms"; return 1; }
}
held() { # held MIN-MS MAX-MS CMD...: the first echo comes between MIN-MS and MAX-MS
    local out ms
    out=$("${@:3}") || { echo "$out"; return 1; }
    echo "$out"
    ms=$(sed -n 's/.*MS=\([0-9]*\).*/\1/p' <<<"$out")
    [[ -n $ms && $ms -ge $1 && $ms -lt $2 ]] || { echo "first echo after ${ms}ms, want $1..$2ms"; return 1; }
}
arrived() { # arrived SHA256: the echo server got that datagram, from the gateway
    grep -q " $1 $TPI_GW4_SRV\$" "$T/echo.log" || grep -q " $1 $TPI_GW6_SRV\$" "$T/echo.log" || {
        echo "not in the echo server's log: $1"
        tail -n 5 "$T/echo.log"
        return 1
    }
}
first_sha() { sed -n 's/^sent [0-9]* bytes sha256=\([0-9a-f]*\)$/\1/p' <<<"$1" | head -n 1; }

tpi_rules_tproxy gw 12345 udp both

# ---- sniffing on, no fallback, full-cone
start_tp full-cone '{ enabled = true; }'
tpi_check "HTTP/3 by QUIC SNI: client sent to $DEAD4, tproxyd resolved quic.test" h3get
tpi_check "access log: the QUIC session with host=quic.test, sent to the resolved address" \
    logged "quic-in redu $TPI_CLI4:[0-9]+ -> $DEAD4:4433 host=quic.test dial=$TPI_SRV4:4433 nat=full-cone via=direct up=[0-9]+/[0-9]+ down=[0-9]+/[0-9]+ remotes=1 .*end=ttl" 8
tpi_check "the sniff was logged with the name" logged "-> $DEAD4:4433: sniff: quic host=quic.test \(1 datagrams held"

out=$(qt send "$DEAD4" 7443 initial:quic.test) || tpi_fail "crafted v1 Initial: $out"
tpi_ok "crafted v1 Initial to $DEAD4:7443 echoed back from $DEAD4:7443: ${out##*$'\n'}"
tpi_check "... its bytes reached the resolved address $TPI_SRV4:7443 unchanged" arrived "$(first_sha "$out")"
out=$(qt send "$DEAD4" 7443 initial2:quic.test) || tpi_fail "crafted v2 Initial: $out"
tpi_ok "crafted QUIC v2 Initial: ${out##*$'\n'}"
tpi_check "... reached the resolved address unchanged" arrived "$(first_sha "$out")"
out=$(qt send "$DEAD4" 7443 split:quic.test raw:100) || tpi_fail "split Initial: $out"
tpi_ok "ClientHello over two Initials (second half first) + a datagram after: ${out##*$'\n'}"
tpi_check "... logged as found after 2 datagrams" logged "-> $DEAD4:7443: sniff: quic host=quic.test \(2 datagrams held"
out=$(qt send "$DEAD6" 7443 initial:quic.test) || tpi_fail "crafted Initial over IPv6: $out"
tpi_ok "IPv6: crafted Initial to [$DEAD6]:7443 echoed from there: ${out##*$'\n'}"
tpi_check "... reached [$TPI_SRV6]:7443 unchanged (AAAA of quic.test)" arrived "$(first_sha "$out")"

tpi_check "non-QUIC UDP with sniffing on: echoed at once (not held)" \
    fast 100 qt send "$TPI_SRV4" 7443 raw:1300 raw:40 raw:1300
tpi_check "a QUIC-looking datagram that does not decrypt: echoed at once, unchanged" \
    fast 100 qt send "$TPI_SRV4" 7443 garbage raw:50
tpi_check "a partial ClientHello is held for the UDP cap (300 ms), then it and the next ones go out unchanged, in order" \
    held 250 1500 qt send "$TPI_SRV4" 7443 partial:quic.test raw:64 raw:1200 --wait 4
tpi_check "... logged as a timeout" logged "-> $TPI_SRV4:7443: sniff: timeout \(3 datagrams held, (29[0-9]|3[0-9][0-9]) ms\)"

tpi_check "a name that does not resolve, no fallback: nothing goes anywhere" \
    qt send "$TPI_SRV4" 7443 initial:nx.test --expect none --wait 2
tpi_check "... logged, and the session dropped" \
    logged "-> $TPI_SRV4:7443: sniffed name nx.test failed \(resolve: .*\); no fallback: dropping the session"
tpi_check "... access log end=name-failed" \
    logged "-> $TPI_SRV4:7443 host=nx.test dial=- nat=full-cone .*end=name-failed"
tpi_check "a name that resolves to a loopback address (localhost) is refused, not sent to the gateway itself" \
    qt send "$TPI_SRV4" 7443 initial:localhost --expect none --wait 2
tpi_check "... logged" logged "sniffed name localhost failed \(resolve: a loopback address\); no fallback"
stop_tp
tpi_check "worker summary counts named and unnamed QUIC sessions" \
    logged "quic-in: udp sessions=[0-9]+ .*dropped: .*sniffing=[1-9][0-9]*; quic sniffing: named=[1-9][0-9]* unnamed=[1-9][0-9]* not-tried=0"

# ---- a service bypass list (blocked.test, $TPI_SRV4) refuses a sniffed name, and by address a
# flow that is not sniffed
start_tp full-cone '{ enabled = true; }' 'bypass = "blocked";'
tpi_check "bypass: the sniffed name blocked.test is refused" \
    qt send "$DEAD4" 7443 initial:blocked.test --expect none --wait 2
tpi_check "... access log end=denied" logged "-> $DEAD4:7443 host=blocked.test dial=- .*end=denied \(bypass \"blocked\"\)"
tpi_check "bypass: another name to the same address passes" qt send "$DEAD4" 7443 initial:quic.test
tpi_check "bypass: non-QUIC UDP to the listed address is refused" \
    qt send "$TPI_SRV4" 7443 raw:100 --expect none --wait 1
tpi_check "... reported as denied" \
    logged "dropped a datagram $TPI_CLI4:[0-9]+ -> $TPI_SRV4:7443: denied: the service's bypass list refuses it"
stop_tp

# ---- fallback, symmetric NAT
start_tp symmetric '{ enabled = true; fallback = true; }'
tpi_check "symmetric NAT: HTTP/3 by QUIC SNI via $DEAD4" h3get
tpi_check "... access log" logged "-> $DEAD4:4433 host=quic.test dial=$TPI_SRV4:4433 nat=symmetric .*end=ttl" 8
out=$(qt send "$TPI_SRV4" 7443 initial:nx.test) || tpi_fail "fallback: $out"
tpi_ok "fallback: a name that does not resolve goes to the original address: ${out##*$'\n'}"
tpi_check "... fallback logged" logged "sniffed name nx.test failed \(resolve: .*\); falling back to the original destination"
stop_tp

# ---- route only (dial_original_dst): the name is logged, the original address used
start_tp full-cone '{ enabled = true; dial_original_dst = true; }'
tpi_check "dial_original_dst: to $TPI_SRV4 with SNI other.test goes to $TPI_SRV4" \
    qt send "$TPI_SRV4" 7443 initial:other.test
tpi_check "... logged with the name and the original address" \
    logged "-> $TPI_SRV4:7443 host=other.test dial=$TPI_SRV4:7443 nat=full-cone .*end=ttl" 8
tpi_check "dial_original_dst: HTTP/3 to the dead address fails" no_h3get
stop_tp

# ---- a resolver that does not answer: resolving ends at connect_timeout (2 s); meanwhile the
# session holds at most 8 datagrams (the rest are dropped and counted); fallback sends those 8
echo "nameserver 10.77.2.98" >"/etc/netns/$TPI_NS_GW/resolv.conf"
start_tp full-cone '{ enabled = true; fallback = true; }'
tpi_check "silent resolver: after connect_timeout the held datagrams fall back to the original address, the first 8 in order" \
    held 1900 3500 qt send "$TPI_SRV4" 7443 initial:quic.test raw:100*11 --expect 8 --wait 5
tpi_check "... logged as a timeout of the name" \
    logged "sniffed name quic.test failed \(resolve: timed out\); falling back to the original destination"
tpi_check "... the datagrams over the cap were reported" \
    logged "dropped a datagram $TPI_CLI4:[0-9]+ -> $TPI_SRV4:7443: sniffing: held while the sniffed name resolves"
stop_tp
echo "nameserver $TPI_SRV4" >"/etc/netns/$TPI_NS_GW/resolv.conf"

# ---- sniffing off: the same HTTP/3 request fails
start_tp full-cone '{ enabled = false; }'
tpi_check "sniffing off: HTTP/3 to $DEAD4 with SNI quic.test fails (dead address)" no_h3get
tpi_check "... its session went to the dead address, no host" \
    logged "-> $DEAD4:4433 nat=full-cone via=direct up=[0-9]+/[0-9]+ down=0/0 .*end=ttl" 8
stop_tp
tpi_check "tproxyd did not log any error" bash -c "! grep -q '\[error\]' '$T/all.log'"
exit 0
