#!/usr/bin/env bash
# 40-cmdline-urls.sh - issue 8: the GOST seed command line in namespaces,
#   tproxyd -f -L "red://:12345?sniffing=true&tproxy=true&so_mark=100" \
#              -L "redu://:12345?ttl=30s" -F "relay://SRV:8420?so_mark=100"
# with TPROXY rules in gw: TCP v4+v6 through red (sniffed host in the access
# log, SO_MARK 100 on the upstream packets), UDP v4+v6 through redu, and the
# relay hop (tproxyd itself as the relay server in srv, -L "relay://:8420?
# bind=true": the UDP association redu's full-cone sessions ask for) carrying
# both TCP and UDP. Then -T of the same command line, fed back with -c, must
# move the same traffic. Parts whose modules are not built (tproxyd -t -L
# "redu://:1" fails, ...) are left out; the diag lines say which.
# shellcheck disable=SC2317 # helper functions below are called indirectly through tpi_check
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_require_cmd python3 curl nft socat ss

TP=$TPI_ROOT/build/tproxyd
TOOL=$TPI_ROOT/t/integration/tools/tcptool.py
T=$(tpi_tmpdir)
MARK=100
RELAY_PORT=8420
[[ -x $TP ]] || tpi_fail "$TP is not built (run make)"

RED_URL="red://:12345?sniffing=true&tproxy=true&so_mark=$MARK"
REDU_URL="redu://:12345?ttl=30s"
RELAY_URL="relay://$TPI_SRV4:$RELAY_PORT?so_mark=$MARK"

# ---- which parts of the seed command line this build has
have_redu=0 have_relay=0
if "$TP" -t -L "redu://:1" 2>/dev/null; then have_redu=1; fi
if "$TP" -t -L "relay://:1" 2>/dev/null &&
    "$TP" -t -L "red://:1" -F "relay://192.0.2.1:1" 2>/dev/null; then
    have_relay=1
fi
((have_redu)) || tpi_diag "not built: redu - the UDP part is left out"
((have_relay)) || tpi_diag "not built: relay handler/connector - no -F hop"

# phases: "UDP RELAY" flags (0/1) and the arguments, one phase per line
phases=()
seed=(-L "$RED_URL")
((have_redu)) && seed+=(-L "$REDU_URL")
((have_relay)) && seed+=(-F "$RELAY_URL")
"$TP" -t "${seed[@]}" 2>"$T/seed.err" ||
    tpi_fail "tproxyd -t refuses the seed line: $(head -n 1 "$T/seed.err")"
phases+=("$have_redu $have_relay")
tpi_diag "phase 1: the seed line: tproxyd -f ${seed[*]}"
phase_args() { # phase_args UDP RELAY -> the tproxyd arguments, one a line
    printf '%s\n' -L "$RED_URL"
    if (($1)); then printf '%s\n' -L "$REDU_URL"; fi
    if (($2)); then printf '%s\n' -F "$RELAY_URL"; fi
}

# ---- command-line errors
bad_url() { # bad_url EXPECTED-TEXT ARGS...: tproxyd -t fails and says so
    local want=$1 out
    shift
    if out=$("$TP" -t "$@" 2>&1); then
        echo "accepted: $*"
        return 1
    fi
    echo "$out"
    [[ $out == *"$want"* ]]
}
tpi_check "a bad port is refused, naming the URL" \
    bad_url '-L "red://:x": ' -L "red://:x"
tpi_check "an unknown key is refused with the setting path" \
    bad_url 'handler.bogus: unknown setting' -L "red://:1?bogus=1"
tpi_check "an unknown scheme is refused" \
    bad_url 'unknown scheme "nosuch"' -L "nosuch://:1"
tpi_check "-F without -L is refused" bad_url '-F needs at least one -L' \
    -F "relay://192.0.2.1:1"
tpi_check "-c together with -L is refused" bad_url 'cannot be used together' \
    -c /dev/null -L "red://:1"

# ---- namespaces, servers, rules
# shellcheck disable=SC2119 # no argument: default prefix derived from the script name
tpi_setup_topology
mkdir -p "$T/www"
token="cmdline-$$-$RANDOM"
printf '%s\n' "$token" >"$T/www/hello.txt"
head -c 10000000 /dev/urandom >"$T/www/big.bin"
big_sha=$(sha256sum <"$T/www/big.bin" | cut -d' ' -f1)
tpi_http_server srv 8080 "$T/www" >/dev/null
tpi_bg srv python3 "$TOOL" server :: 9000 >/dev/null
tpi_wait_port srv tcp 9000 || tpi_fail "tcptool server did not start"
if ((have_redu)); then
    tpi_bg srv socat UDP4-RECVFROM:9053,fork EXEC:cat >/dev/null
    tpi_bg srv socat UDP6-RECVFROM:9053,ipv6only=1,fork EXEC:cat >/dev/null
    tpi_wait_port srv udp 9053 || tpi_fail "UDP echo server did not start"
fi
relay_log=
if ((have_relay)); then
    relay_log=$(tpi_bg_log "$(tpi_bg srv "$TP" -f -L "relay://:$RELAY_PORT?bind=true")")
    tpi_wait_port srv tcp "$RELAY_PORT" || tpi_fail "relay server did not start"
fi
# packets of tproxyd's upstream sockets carry the mark: count them in gw
tpi_in gw nft -f - <<NFT || tpi_fail "nft mark counter in gw"
table inet tpimark {
    chain output {
        type filter hook output priority 0; policy accept;
        meta mark $MARK counter
    }
}
NFT
if ((have_redu)); then
    tpi_rules_tproxy gw 12345 both both
else
    tpi_rules_tproxy gw 12345 tcp both
fi

marked() {
    tpi_in gw nft list table inet tpimark |
        sed -n 's/.*counter packets \([0-9]*\).*/\1/p'
}
relayed() { grep -c 'end=done' "$relay_log" || true; }

start_gw() { # start_gw UDP ARGS...: tproxyd -f ARGS in gw, wait for it
    local udp=$1 pid
    shift
    pid=$(tpi_bg gw "$TP" -f "$@")
    tpi_wait_port gw tcp 12345 || tpi_fail "tproxyd $* does not listen"
    if ((udp)); then
        tpi_wait_port gw udp 12345 || tpi_fail "tproxyd $* has no udp 12345"
    fi
    printf '%s\n' "$pid"
}

fetch_is() { # fetch_is URL: the token comes back
    local body
    body=$(tpi_in cli curl -fsS --max-time 10 "$1") || return 1
    [[ $body == "$token" ]] || { echo "got '$body', want '$token'"; return 1; }
}

fetch_big() { # fetch_big URL: 10 MB download, same sha256
    local got
    got=$(tpi_in cli curl -fsS --max-time 30 "$1" | sha256sum | cut -d' ' -f1)
    [[ $got == "$big_sha" ]] || { echo "sha256 $got, want $big_sha"; return 1; }
}

log_has() { # log_has FILE REGEX: within 5 s
    local i
    for ((i = 0; i < 50; i++)); do
        grep -qE -- "$2" "$1" && return 0
        sleep 0.1
    done
    tail -n 20 "$1"
    return 1
}

udp_echo() { # udp_echo ADDR
    local got want="udp-$RANDOM" a=UDP4:$1:9053
    [[ $1 == *:* ]] && a=UDP6:[$1]:9053
    got=$(echo "$want" | tpi_in cli timeout 5 socat -t 3 - "$a") || true
    [[ $got == "$want" ]] || { echo "got '$got', want '$want'"; return 1; }
}

# move_traffic WHAT UDP RELAY LOG: what the running gw tproxyd must do
move_traffic() {
    local what=$1 udp=$2 relay=$3 log=$4 m0 m1 r0 r1 srv=${TPI_SRV4//./\\.}
    m0=$(marked)
    r0=$( ((relay)) && relayed || echo 0)
    tpi_check "$what: HTTP v4 through red (tproxy)" \
        fetch_is "http://$TPI_SRV4:8080/hello.txt"
    tpi_check "$what: HTTP v6 through red (tproxy)" \
        fetch_is "http://[$TPI_SRV6]:8080/hello.txt"
    tpi_check "$what: the access log shows the sniffed host" log_has "$log" \
        "service-0 .* -> $srv:8080 host=$srv.* end=done"
    tpi_check "$what: 10 MB download v4 arrives whole (sha256)" \
        fetch_big "http://$TPI_SRV4:8080/big.bin"
    tpi_check "$what: 10 MB download v6 arrives whole (sha256)" \
        fetch_big "http://[$TPI_SRV6]:8080/big.bin"
    tpi_check "$what: 10 MB upload v4 + half-close arrive whole (sha256)" \
        tpi_in cli python3 "$TOOL" client "$TPI_SRV4" 9000 sink 10000000
    tpi_check "$what: 10 MB upload v6 + half-close arrive whole (sha256)" \
        tpi_in cli python3 "$TOOL" client "$TPI_SRV6" 9000 sink 10000000
    m1=$(marked)
    tpi_check "$what: upstream packets carry so_mark $MARK ($m0 -> $m1)" \
        test "${m1:-0}" -gt "${m0:-0}"
    if ((relay)); then
        sleep 0.5
        r1=$(relayed)
        tpi_check "$what: the flows went through the relay ($r0 -> $r1)" \
            test "$r1" -ge $((r0 + 4))
    fi
    if ((udp)); then
        tpi_check "$what: UDP v4 through redu" udp_echo "$TPI_SRV4"
        tpi_check "$what: UDP v6 through redu" udp_echo "$TPI_SRV6"
    fi
    if ((udp && relay)); then
        # the two UDP sessions (ttl 30s) each hold their association: a relay stream from gw
        tpi_check "$what: the UDP sessions went through the relay (2 relay streams open)" \
            relay_streams 2
    fi
}

relay_streams() { # relay_streams N: at least N established TCP connections from gw to the relay
    local n
    n=$(tpi_in gw ss -Htn state established "dport = :$RELAY_PORT" | wc -l)
    ((n >= $1)) || { echo "$n relay stream(s) from gw"; return 1; }
}

same_print() { # same_print FILE: -T of the file = the file (but line 1)
    "$TP" -T -c "$1" >"$1.again" || return 1
    diff <(tail -n +2 "$1") <(tail -n +2 "$1.again")
}

# run_phase N UDP RELAY: the command line, then its -T file with -c
run_phase() {
    local n=$1 udp=$2 relay=$3 pid conf=$T/phase-$1.conf
    local -a args
    mapfile -t args < <(phase_args "$udp" "$relay")
    "$TP" -T "${args[@]}" >"$conf" 2>"$conf.err" ||
        tpi_fail "tproxyd -T ${args[*]}: $(cat "$conf.err")"
    tpi_check "phase $n: -T prints so_mark, tproxy and sniffing" \
        grep -Pzq 'mark = 100;(.|\n)*tproxy = true;(.|\n)*enabled = true;' \
        "$conf"
    if ((udp)); then
        tpi_check "phase $n: -T prints redu's ttl" grep -q 'ttl = "30s";' "$conf"
    fi
    tpi_check "phase $n: -T output fed back with -T -c prints the same" \
        same_print "$conf"

    pid=$(start_gw "$udp" "${args[@]}")
    move_traffic "phase $n, command line" "$udp" "$relay" "$(tpi_bg_log "$pid")"
    tpi_kill "$pid"
    tpi_check "phase $n: port 12345 is free again" \
        bash -c "! ip netns exec '$TPI_NS_GW' ss -Hltn 'sport = :12345' | grep -q ."

    pid=$(start_gw "$udp" -c "$conf")
    move_traffic "phase $n, -T file with -c" "$udp" "$relay" "$(tpi_bg_log "$pid")"
    tpi_kill "$pid"
}

n=0
for p in "${phases[@]}"; do
    n=$((n + 1))
    # shellcheck disable=SC2086 # two flags
    run_phase "$n" $p
done

parts="red (TCP, tproxy, sniffing, so_mark)"
((have_redu)) && parts+=", redu (UDP)"
((have_relay)) && parts+=", -F relay"
((${#phases[@]} > 1)) && parts+="; as ${#phases[@]} separate command lines"
tpi_ok "seed command line: $parts; its -T file behaves the same"
exit 0
