#!/usr/bin/env bash
# 26-egress-source.sh - sockopts.source: a service's egress sockets (redu's UDP session sockets,
# red's direct TCP connections) bind to one of the listed addresses of the flow's family, round-robin
# per worker, skipping an address whose bind fails. The gateway gets a second address on its
# server-side link (10.77.2.3, fd77:2::3) and runs three pairs of TPROXY services (red + redu on one
# port, 2 workers): A on :12345 lists 10.77.2.1 and 10.77.2.3, B on :12346 lists 10.77.2.99 (not on
# the gateway), fd77:2::3 and 10.77.2.3, C on :12347 lists only 10.77.2.99 (nft rules divert UDP/TCP
# to ports 7101/8081 to B and 7102/8082 to C). The servers in srv say which address they saw (the
# udptool.py echo server answers "WHO" with the source, python http.server logs the client).
# Checks: tproxyd -t refuses a source that is not an IP literal (file:line and the setting); 20 UDP
# sessions and 10 HTTP connections through A each come back and spread over both addresses (>= 1/4
# each); IPv6 through A (no IPv6 source listed) works from the system's address; B skips the
# non-local address (IPv4 always via 10.77.2.3) and uses its IPv6 source for IPv6; C's IPv4 flows
# fail with "bind ... source" in the log while IPv6 still works and no worker dies; with the
# gateway's ephemeral port range cut to 4 ports, A carries exactly 8 concurrent UDP sessions (4 per
# address: a used-up address is skipped) and the 9th fails with "Address already in use".
# shellcheck disable=SC2317 # helper functions are called through tpi_check
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

tpi_require_root
tpi_require_cmd python3 curl nft ss
TPROXYD=${TPROXYD:-$TPI_ROOT/build/tproxyd}
[[ -x $TPROXYD ]] || tpi_fail "$TPROXYD not built (run make)"
UDPTOOL=$TPI_ROOT/t/integration/tools/udptool.py
T=$(tpi_tmpdir)

SRC4A=$TPI_GW4_SRV          # the gateway's address towards srv (10.77.2.1)
SRC4B=${TPI_GW4_SRV%.*}.3   # a second one added below (10.77.2.3)
NOLOCAL4=${TPI_GW4_SRV%.*}.99
SRC6B=${TPI_GW6_SRV%::*}::3 # fd77:2::3
NSESS=20                    # UDP sessions through A
NCONN=10                    # HTTP connections through A
PORTS_LO=61000 PORTS_HI=61003 # the cut ephemeral port range (outside the default 32768-60999)

# ---- 1. configuration: a source that is not an IP literal is refused with file:line and the setting
write_conf() { # write_conf FILE: the three service pairs
    cat >"$1" <<CONF
worker_processes = 2;
log = { level = "info"; target = "stderr"; };
services = (
  { name = "udp-a"; addr = ":12345";
    sockopts = { mark = 255; source = ["$SRC4A", "$SRC4B"]; };
    handler  = { type = "redu"; };
    listener = { type = "redu"; ttl = "10s"; }; },
  { name = "tcp-a"; addr = ":12345"; connect_timeout = "3s";
    sockopts = { mark = 255; source = ["$SRC4A", "$SRC4B"]; };
    handler  = { type = "red"; tproxy = true; };
    listener = { type = "red"; tproxy = true; }; },
  { name = "udp-b"; addr = ":12346";
    sockopts = { mark = 255; source = ["$NOLOCAL4", "$SRC6B", "$SRC4B"]; };
    handler  = { type = "redu"; };
    listener = { type = "redu"; ttl = "5s"; }; },
  { name = "tcp-b"; addr = ":12346"; connect_timeout = "3s";
    sockopts = { mark = 255; source = ["$NOLOCAL4", "$SRC6B", "$SRC4B"]; };
    handler  = { type = "red"; tproxy = true; };
    listener = { type = "red"; tproxy = true; }; },
  { name = "udp-c"; addr = ":12347";
    sockopts = { mark = 255; source = ["$NOLOCAL4"]; };
    handler  = { type = "redu"; };
    listener = { type = "redu"; ttl = "5s"; }; },
  { name = "tcp-c"; addr = ":12347"; connect_timeout = "3s";
    sockopts = { mark = 255; source = ["$NOLOCAL4"]; };
    handler  = { type = "red"; tproxy = true; };
    listener = { type = "red"; tproxy = true; }; }
);
CONF
}
write_conf "$T/tproxyd.conf"

bad_source() { # bad_source VALUE: tproxyd -t fails naming FILE:LINE and "source"
    local f=$T/bad.conf line out
    cat >"$f" <<CONF
worker_processes = 1;
services = (
  { name = "udp-in"; addr = ":12345";
    sockopts = { mark = 255;
                 source = ["$SRC4A", "$1"]; };
    handler  = { type = "redu"; };
    listener = { type = "redu"; }; }
);
CONF
    line=$(grep -n 'source = ' "$f" | cut -d: -f1)
    if out=$("$TPROXYD" -t -c "$f" 2>&1); then
        echo "tproxyd -t accepted source = [\"$SRC4A\", \"$1\"]: $out"
        return 1
    fi
    echo "$out"
    grep -q -- "$f:$line: .*source" <<<"$out" || {
        echo "(wanted a message naming $f:$line and the setting 'source')"
        return 1
    }
}
tpi_check "tproxyd -t refuses source = [\"not-an-ip\"] naming file:line and 'source'" bad_source not-an-ip
tpi_check "tproxyd -t refuses an address with a port (\"$SRC4A:80\")" bad_source "$SRC4A:80"
tpi_check "tproxyd -t accepts the test config (IPv4 and IPv6 sources)" "$TPROXYD" -t -c "$T/tproxyd.conf"

# ---- topology, servers, tproxyd, rules
# shellcheck disable=SC2119 # default prefix (from the script name)
tpi_setup_topology
tpi_in gw ip addr add "$SRC4B/$TPI_PLEN4" dev "$TPI_GW_SRV_IF" || tpi_fail "setup: add $SRC4B in gw"
# deprecated (preferred_lft 0): bindable, but the kernel never picks it itself (it would: longest match)
tpi_in gw ip addr add "$SRC6B/$TPI_PLEN6" dev "$TPI_GW_SRV_IF" nodad preferred_lft 0 ||
    tpi_fail "setup: add $SRC6B in gw"
sys_src() { tpi_in gw ip route get "$1" | sed -n 's/.* src \([^ ]*\).*/\1/p'; }
[[ $(sys_src "$TPI_SRV4") == "$TPI_GW4_SRV" && $(sys_src "$TPI_SRV6") == "$TPI_GW6_SRV" ]] ||
    tpi_fail "setup: the gateway's own source for srv is not $TPI_GW4_SRV / $TPI_GW6_SRV: $(sys_src "$TPI_SRV4") $(sys_src "$TPI_SRV6")"

mkdir -p "$T/www"
printf 'hello from the server namespace\n' >"$T/www/hello.txt"
declare -A HTTPLOG
for p in 8080 8081 8082; do
    HTTPLOG[$p]=$(tpi_bg_log "$(tpi_http_server srv "$p" "$T/www")")
done
for p in 7007 7101 7102; do
    tpi_bg srv python3 "$UDPTOOL" serve "$p" >/dev/null
    tpi_wait_port srv udp "$p" || tpi_fail "UDP echo server on $p did not start"
done

pid=$(tpi_bg gw "$TPROXYD" -f -c "$T/tproxyd.conf")
LOG=$(tpi_bg_log "$pid")
for p in 12345 12346 12347; do
    tpi_wait_port gw udp "$p" || tpi_fail "tproxyd does not listen on udp :$p"
    tpi_wait_port gw tcp "$p" || tpi_fail "tproxyd does not listen on tcp :$p"
done
tpi_rules_tproxy gw 12345 both both
# (inserted in front of the catch-all rule that sends everything to :12345)
for x in "7101, 8081 12346" "7102, 8082 12347"; do
    tpi_in gw nft insert rule inet tproxyd prerouting iifname "$TPI_GW_CLI_IF" meta l4proto '{ tcp, udp }' \
        th dport "{ ${x% *} }" tproxy to ":${x##* }" meta mark set 0x1 accept ||
        tpi_fail "setup: nft rule for ports ${x% *} -> :${x##* }"
done

# ---- helpers
# udp client: udp HOST PORT N ok|none
#   ok:   N sessions (a new socket each, all kept open): a payload must come back byte for byte from
#         HOST:PORT, then "WHO" tells the source address the server saw; prints "saw ADDR COUNT" lines
#   none: N sessions that must get no answer at all (3 tries each)
UDP_PY='
import collections, os, socket, sys, time
host, port, n, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
fam = socket.AF_INET6 if ":" in host else socket.AF_INET
def norm(a):
    a = a.split("%")[0]
    return a[7:] if a.startswith("::ffff:") else a
def ask(s, data):
    for attempt in range(3):
        s.sendto(data, (host, port))
        s.settimeout(1.0)
        try:
            got, src = s.recvfrom(70000)
        except socket.timeout:
            continue
        return got, src
    return None, None
socks, seen, bad = [], collections.Counter(), 0
for i in range(n):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.bind(("::" if fam == socket.AF_INET6 else "0.0.0.0", 0))
    socks.append(s)
    lport = s.getsockname()[1]
    data = b"data %d " % i + os.urandom(16 + i * 7)
    got, src = ask(s, data)
    if mode == "none":
        if got is not None:
            print("session %d (local port %d): unexpected answer from %s" % (i, lport, src)); bad += 1
        else:
            print("session %d (local port %d): no answer, as wanted" % (i, lport))
        continue
    if got is None:
        print("session %d (local port %d): no echo" % (i, lport)); bad += 1; continue
    if got != data or norm(src[0]) != norm(host) or src[1] != port:
        print("session %d: wrong echo (%d bytes from %s)" % (i, len(got), src)); bad += 1; continue
    got, src = ask(s, b"WHO %d" % i)
    if got is None:
        print("session %d: no answer to WHO" % i); bad += 1; continue
    who = got.decode().split()
    seen[who[0]] += 1
    print("session %d (local port %d): echo ok, server saw %s port %s" % (i, lport, who[0], who[1]))
for a, c in sorted(seen.items()):
    print("saw %s %d" % (a, c))
print("%d/%d sessions as wanted" % (n - bad, n))
sys.exit(1 if bad else 0)
'
udp() { tpi_in cli python3 -c "$UDP_PY" "$@"; }
udp_to() { # udp_to FILE ARGS...: udp ARGS, output kept in FILE and shown
    local f=$1
    shift
    if udp "$@" >"$f" 2>&1; then
        cat "$f"
        return 0
    fi
    cat "$f"
    return 1
}

# udp_split OUT N ADDR:MIN...: the "udp ... ok" output OUT saw exactly these addresses, each at least
# MIN times, N sessions in all
udp_split() {
    local out=$1 n=$2 spec a min c total=0 want=() got
    shift 2
    cat "$out"
    for spec in "$@"; do
        a=${spec%:*} min=${spec##*:}
        want+=("$a")
        c=$(awk -v a="$a" '$1 == "saw" && $2 == a { print $3 }' "$out")
        ((${c:-0} >= min)) || { echo "server saw $a ${c:-0} times, wanted >= $min"; return 1; }
        total=$((total + c))
    done
    ((total == n)) || {
        got=$(awk '$1 == "saw" { printf "%s ", $2 }' "$out")
        echo "the server also saw other addresses: $got (wanted only ${want[*]})"
        return 1
    }
}

# hp ADDR PORT -> 1.2.3.4:80 / [fd00::1]:80
hp() { if [[ $1 == *:* ]]; then printf '[%s]:%s' "$1" "$2"; else printf '%s:%s' "$1" "$2"; fi; }

# curls ADDR PORT N: N HTTP requests (one connection each), all 200 with the file
curls() {
    local i url code
    for ((i = 0; i < $3; i++)); do
        url="http://$(hp "$1" "$2")/hello.txt?n=$i-$RANDOM"
        code=$(tpi_in cli curl -sS -m 10 -o "$T/body" -w '%{http_code}' "$url") || {
            echo "curl $url failed"
            return 1
        }
        if [[ $code != 200 ]] || ! cmp -s "$T/body" "$T/www/hello.txt"; then
            echo "curl $url: status $code or wrong body"
            return 1
        fi
    done
    echo "$3 requests to $(hp "$1" "$2") ok"
}

# http_from PORT ADDR: how many requests the HTTP server on PORT logged from ADDR
http_from() {
    local re
    re=$(printf '%s' "$2" | sed 's/[.]/\\./g')
    grep -cE "^(::ffff:)?$re - - .*\"GET /hello\.txt\?n=" "${HTTPLOG[$1]}" || true
}

# http_split PORT N ADDR:MIN...: the last N requests logged by the server on PORT came from these
# addresses only, each at least MIN times (counted from BASE_* snapshots taken before)
declare -A BASE
http_mark() { # http_mark PORT ADDR...: remember the current counts
    local a
    for a in "${@:2}"; do BASE[$1 $a]=$(http_from "$1" "$a"); done
    BASE[$1 all]=$(grep -c '"GET /hello\.txt?n=' "${HTTPLOG[$1]}" || true)
}
http_split() {
    local port=$1 n=$2 spec a min c all total=0
    shift 2
    for spec in "$@"; do
        a=${spec%:*} min=${spec##*:}
        c=$(($(http_from "$port" "$a") - ${BASE[$port $a]:-0}))
        echo "server on $port: $c request(s) from $a"
        ((c >= min)) || { echo "wanted >= $min from $a"; return 1; }
        total=$((total + c))
    done
    all=$(($(grep -c '"GET /hello\.txt?n=' "${HTTPLOG[$port]}" || true) - ${BASE[$port all]:-0}))
    ((all == n && total == n)) || {
        echo "server on $port logged $all new request(s), $total from the wanted addresses; wanted $n:"
        tail -n "$n" "${HTTPLOG[$port]}"
        return 1
    }
}

# logged ERE... : wait (bounded, 6 s) for a tproxyd log line matching every ERE
logged() {
    local i l re
    for ((i = 0; i < 60; i++)); do
        l=$(grep -E -- "$1" "$LOG" || true)
        for re in "${@:2}"; do
            [[ -n $l ]] || break
            l=$(grep -E -- "$re" <<<"$l" || true)
        done
        if [[ -n $l ]]; then
            tail -n 1 <<<"$l"
            return 0
        fi
        sleep 0.1
    done
    echo "no tproxyd log line matching all of: $*"
    tail -n 15 "$LOG"
    return 1
}

workers() { cat "/proc/$pid/task/$pid/children" 2>/dev/null; }
same_workers() { # the master runs and has the same two workers as before
    local now
    tpi_alive "$pid" || { echo "the master $pid is gone"; return 1; }
    now=$(workers)
    echo "workers before: $W0; now: $now"
    [[ $now == "$W0" ]]
}
W0=$(workers)
read -ra wk <<<"$W0"
((${#wk[@]} == 2)) || tpi_fail "tproxyd should run 2 workers, has: $W0"

# ---- 2. UDP through A: sessions spread over both source addresses
tpi_check "$NSESS UDP sessions through A (source = [$SRC4A, $SRC4B]) all echo" \
    udp_to "$T/udp-a.out" "$TPI_SRV4" 7007 "$NSESS" ok
tpi_check "... the server saw both $SRC4A and $SRC4B, each for >= 1/4 of the sessions" \
    udp_split "$T/udp-a.out" "$NSESS" "$SRC4A:$((NSESS / 4))" "$SRC4B:$((NSESS / 4))"
tpi_diag "udp-a: $(grep '^saw' "$T/udp-a.out" | tr '\n' ' ')"

# ---- 3. TCP through A
http_mark 8080 "$SRC4A" "$SRC4B"
tpi_check "$NCONN HTTP requests through A (red, TPROXY) all answered" curls "$TPI_SRV4" 8080 "$NCONN"
tpi_check "... the HTTP server saw both $SRC4A and $SRC4B, each for >= 1/4 of the connections" \
    http_split 8080 "$NCONN" "$SRC4A:$(((NCONN + 3) / 4))" "$SRC4B:$(((NCONN + 3) / 4))"
tpi_check "... access log: the connections ended done" \
    logged "tcp-a $(hp "$TPI_CLI4" '[0-9]+' | sed 's/[.]/\\./g') -> $(hp "$TPI_SRV4" 8080 | sed 's/[.]/\\./g') .*end=done"

# ---- 4. IPv6 through A (only IPv4 sources listed): unbound, the system's address
tpi_check "IPv6 UDP through A (no IPv6 source listed) works" \
    udp_to "$T/udp-a6.out" "$TPI_SRV6" 7007 4 ok
tpi_check "... from the gateway's own address $TPI_GW6_SRV (the system's choice)" \
    udp_split "$T/udp-a6.out" 4 "$TPI_GW6_SRV:4"
http_mark 8080 "$TPI_GW6_SRV"
tpi_check "IPv6 HTTP through A works" curls "$TPI_SRV6" 8080 3
tpi_check "... from the gateway's own address $TPI_GW6_SRV" http_split 8080 3 "$TPI_GW6_SRV:3"

# ---- 5. B: a non-local address listed first is skipped; the IPv6 source is used for IPv6
tpi_check "UDP through B (source = [$NOLOCAL4, $SRC6B, $SRC4B]) works" \
    udp_to "$T/udp-b.out" "$TPI_SRV4" 7101 8 ok
tpi_check "... every session from $SRC4B ($NOLOCAL4 skipped, $SRC6B not IPv4)" \
    udp_split "$T/udp-b.out" 8 "$SRC4B:8"
http_mark 8081 "$SRC4B"
tpi_check "HTTP through B works" curls "$TPI_SRV4" 8081 6
tpi_check "... every connection from $SRC4B" http_split 8081 6 "$SRC4B:6"
tpi_check "IPv6 UDP through B works" \
    udp_to "$T/udp-b6.out" "$TPI_SRV6" 7101 4 ok
tpi_check "... from the listed IPv6 source $SRC6B" udp_split "$T/udp-b6.out" 4 "$SRC6B:4"
http_mark 8081 "$SRC6B"
tpi_check "IPv6 HTTP through B works" curls "$TPI_SRV6" 8081 3
tpi_check "... from $SRC6B" http_split 8081 3 "$SRC6B:3"

# ---- 5. C: the only IPv4 source is not on the gateway: IPv4 flows fail and say why
tpi_check "UDP through C (source = [$NOLOCAL4]) gets no answer" udp "$TPI_SRV4" 7102 1 none
tpi_check "... and the log says the source bind failed (EADDRNOTAVAIL)" \
    logged "udp-c" "source" "Cannot assign requested address"
tpi_diag "log: $(logged "udp-c" "source" "Cannot assign requested address" | tail -n 1)"
curl_fails() { # URL: curl fails within 3 s, not by its own timeout
    local rc=0 t0 ms
    t0=$(date +%s%N)
    tpi_in cli curl -sS -m 10 -o /dev/null "$1" 2>"$T/curl.err" || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "curl $1: exit $rc after $ms ms: $(cat "$T/curl.err")"
    ((rc != 0 && rc != 28 && ms < 3000))
}
tpi_check "HTTP through C fails at once" curl_fails "http://$(hp "$TPI_SRV4" 8082)/hello.txt"
tpi_check "... access log: end=dial-failed, naming the source bind" \
    logged "tcp-c .* -> $(hp "$TPI_SRV4" 8082 | sed 's/[.]/\\./g') .*end=dial-failed" "source" \
    "Cannot assign requested address"
tpi_diag "log: $(logged "tcp-c .*end=dial-failed" | tail -n 1)"
tpi_check "IPv6 UDP through C (no IPv6 source listed) works" \
    udp_to "$T/udp-c6.out" "$TPI_SRV6" 7102 3 ok
tpi_check "... from $TPI_GW6_SRV" udp_split "$T/udp-c6.out" 3 "$TPI_GW6_SRV:3"
http_mark 8082 "$TPI_GW6_SRV"
tpi_check "IPv6 HTTP through C works" curls "$TPI_SRV6" 8082 2
tpi_check "... from $TPI_GW6_SRV" http_split 8082 2 "$TPI_GW6_SRV:2"
tpi_check "no worker died (same master and workers)" same_workers
tpi_check "A still serves UDP (both addresses) after the failures" \
    udp_to "$T/udp-a2.out" "$TPI_SRV4" 7007 8 ok
tpi_check "... over both addresses" udp_split "$T/udp-a2.out" 8 "$SRC4A:2" "$SRC4B:2"

# ---- 6. ports used up: 4 ephemeral ports, so each address carries 4 sessions, 8 in all
read -r lo0 hi0 < <(tpi_in gw sysctl -n net.ipv4.ip_local_port_range)
tpi_in gw sysctl -qw net.ipv4.ip_local_port_range="$PORTS_LO $PORTS_HI" || tpi_fail "setup: port range"
tpi_check "with ports $PORTS_LO-$PORTS_HI only: 8 concurrent UDP sessions through A all echo" \
    udp_to "$T/udp-a3.out" "$TPI_SRV4" 7007 8 ok
tpi_check "... 4 from each address (a used-up address is skipped)" \
    udp_split "$T/udp-a3.out" 8 "$SRC4A:4" "$SRC4B:4"
tpi_check "... the 9th session gets no answer (both addresses used up)" udp "$TPI_SRV4" 7007 1 none
tpi_check "... and the log says why (EADDRINUSE)" logged "udp-a" "source" "Address already in use"
tpi_diag "log: $(logged "udp-a" "source" "Address already in use" | tail -n 1)"
tpi_in gw sysctl -qw net.ipv4.ip_local_port_range="$lo0 $hi0" || tpi_fail "restore port range"
tpi_check "with the port range back, a new session works at once" udp "$TPI_SRV4" 7007 2 ok
tpi_check "the master and both workers still run, none respawned" same_workers
tpi_check "tproxyd logged no error-level line" bash -c "! grep '\[error\]' '$LOG'"
tpi_ok "sockopts.source: UDP and TCP egress over several addresses, skipping, failing, v4 + v6"
exit 0
