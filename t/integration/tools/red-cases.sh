# shellcheck shell=bash
# t/integration/tools/red-cases.sh - the transparent-TCP ("red" module) cases shared by
# 11-red-redirect.sh and 12-red-tproxy.sh. Source it after lib.sh and tpi_setup_topology.
#
#   red_start redirect|tproxy   servers in srv, tproxyd in gw (red on ":12345", dual-stack),
#                               interception rules (contrib/tproxyd-rules via lib.sh)
#   red_http FAM                curl v4|v6 to the HTTP server; the access log names the original dst
#   red_mark                    upstream sockets carry sockopts.mark (nft counter in gw's output hook)
#   red_bulk ADDR BYTES         BYTES client->server through the proxy, checked by sha256 (tcptool sink)
#   red_halfclose ADDR          half-close client->server and server->client
#   red_reset ADDR              client resets mid-stream: end=client-reset, upstream sees a reset
#   red_conc ADDR N             N connections open through the proxy at the same time
#   red_unreachable             refused / no route / no host / timeout: prompt reset + dial-failed log
#   red_loop                    flows to tproxyd's own listener are refused (end=loop)
#   red_still_serving           one more curl after the error cases
#
# Servers in srv: python http.server on 8080 (dual-stack), tcptool.py servers on [::]:9000 (bulk,
# half-close), 9001 (concurrency), 9002 (reset), 12345 (a remote service on the listener's port);
# SYNs to 9003 are dropped (dial timeout).

RED_TP=${RED_TP:-$TPI_ROOT/build/tproxyd}   # RED_TP=wrapper: e.g. under valgrind
RED_TCPTOOL=$TPI_ROOT/t/integration/tools/tcptool.py
RED_TOOL=$TPI_ROOT/t/integration/tools/redtool.py
RED_T=$(tpi_tmpdir)
RED_LOG=$RED_T/tproxyd.log
RED_CONF=$RED_T/red.conf
RED_PORT=12345
RED_SVC=red-in
RED_MARK=0xff
RED_CONNECT_TIMEOUT=3
RED_RESET_SRV_PID=
RED_TP_PID=

# red_hp ADDR PORT -> "10.0.0.1:80" or "[fd00::1]:80" (the access log's spelling)
red_hp() {
    if [[ $1 == *:* ]]; then printf '[%s]:%s' "$1" "$2"; else printf '%s:%s' "$1" "$2"; fi
}

# red_re STRING -> STRING with ERE metacharacters escaped
red_re() { printf '%s' "$1" | sed 's/[][\.*^$+?(){}|]/\\&/g'; }

# red_tee FILE CMD...: run CMD, keep its output in FILE and print it; CMD's status
red_tee() {
    local out=$1
    shift
    if "$@" >"$out" 2>&1; then
        cat "$out"
        return 0
    fi
    cat "$out"
    return 1
}

# red_client_re ADDR -> ERE for the access log's "SERVICE CLIENT:ANYPORT"
red_client_re() {
    if [[ $1 == *:* ]]; then
        printf '%s \\[%s\\]:[0-9]+' "$RED_SVC" "$(red_re "$1")"
    else
        printf '%s %s:[0-9]+' "$RED_SVC" "$(red_re "$1")"
    fi
}

# red_cli_for ADDR -> the client's address of the same family
red_cli_for() { if [[ $1 == *:* ]]; then printf '%s' "$TPI_CLI6"; else printf '%s' "$TPI_CLI4"; fi; }

# red_wait_log ERE [COUNT=1] [SECS=10]: wait (bounded) until the tproxyd log has COUNT matching lines
red_wait_log() {
    local re=$1 want=${2:-1} secs=${3:-10} i n=0
    for ((i = 0; i <= secs * 10; i++)); do
        n=$(grep -cE -- "$re" "$RED_LOG" 2>/dev/null) || n=0
        ((n >= want)) && return 0
        sleep 0.1
    done
    echo "tproxyd log: $n line(s) match /$re/, wanted $want after ${secs}s; last lines:"
    tail -n 8 "$RED_LOG" 2>/dev/null
    return 1
}

# red_show_log ERE [N=1]: print the last N matching access-log lines as diagnostics
red_show_log() {
    grep -E -- "$1" "$RED_LOG" | tail -n "${2:-1}" | sed 's/^.* \[info\] [^ ]*: /log: /' |
        while IFS= read -r l; do tpi_diag "$l"; done
}

# red_access_re CLIENT ORIG END: ERE for an access-log line of one flow
red_access_re() {
    printf '%s -> %s host=[^ ]+ dial=[^ ]+ via=direct up=[0-9]+ down=[0-9]+ ms=[0-9]+ end=%s' \
        "$(red_re "$RED_SVC $1")" "$(red_re "$2")" "$3"
}

red_write_conf() {   # $1 = redirect|tproxy
    local tp=false
    [[ $1 == tproxy ]] && tp=true
    cat >"$RED_CONF" <<CONF
# written by $TPI_SCRIPT ($1 mode)
worker_processes = 2;
log = { level = "info"; target = "$RED_LOG"; };
services = (
  { name = "$RED_SVC"; addr = ":$RED_PORT";
    connect_timeout = "${RED_CONNECT_TIMEOUT}s";
    sockopts = { mark = $((RED_MARK)); };
    handler  = { type = "red"; tproxy = $tp; };
    listener = { type = "red"; tproxy = $tp; }; }
);
CONF
}

# red_start MODE: everything a case needs
red_start() {
    local mode=$1 p
    # 1000 connections = 1000 client fds, 2000+ in tproxyd, 1000 in the server
    ulimit -n 16384 2>/dev/null || ulimit -n "$(ulimit -Hn)"
    (($(ulimit -n) >= 4096)) || tpi_fail "open-file limit $(ulimit -n) < 4096 and cannot be raised"

    mkdir -p "$RED_T/www"
    printf 'hello from the server namespace\n' >"$RED_T/www/hello.txt"
    tpi_http_server srv 8080 "$RED_T/www" >/dev/null
    tpi_bg srv python3 "$RED_TCPTOOL" server :: 9000 >/dev/null
    tpi_bg srv python3 "$RED_TCPTOOL" server :: 9001 >/dev/null
    RED_RESET_SRV_PID=$(tpi_bg srv python3 "$RED_TCPTOOL" server :: 9002)
    tpi_bg srv python3 "$RED_TCPTOOL" server :: 12345 >/dev/null
    for p in 9000 9001 9002 12345; do
        tpi_wait_port srv tcp "$p" || tpi_fail "tcptool server on port $p did not start"
    done
    # a destination that never answers: SYNs to srv:9003 are dropped
    tpi_in srv nft -f - <<'NFT' || tpi_fail "nft drop rule in srv"
table inet tpidrop {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport 9003 drop
    }
}
NFT
    # an on-link address nobody has fails after 1 neighbour probe (~1 s) instead of 3
    tpi_in gw sysctl -qw "net.ipv4.neigh.$TPI_GW_SRV_IF.mcast_solicit=1" \
        "net.ipv6.neigh.$TPI_GW_SRV_IF.mcast_solicit=1" || tpi_fail "neigh sysctl in gw"
    # count tproxyd's marked upstream packets
    tpi_in gw nft -f - <<NFT || tpi_fail "nft mark counter in gw"
table inet tpimark {
    chain output {
        type filter hook output priority 0; policy accept;
        meta mark $RED_MARK tcp dport 8080 counter
    }
}
NFT

    red_write_conf "$mode"
    tpi_check "tproxyd -t accepts the $mode config" "$RED_TP" -t -c "$RED_CONF"
    RED_TP_PID=$(tpi_bg gw "$RED_TP" -f -c "$RED_CONF")
    tpi_wait_port gw tcp "$RED_PORT" || tpi_fail "tproxyd does not listen on :$RED_PORT"
    if [[ $mode == tproxy ]]; then
        tpi_rules_tproxy gw "$RED_PORT" tcp both
    else
        tpi_rules_redirect gw "$RED_PORT" both
    fi
    tpi_check "listener :$RED_PORT is one dual-stack socket per worker (v6only:0)" \
        bash -c "ip netns exec '$TPI_NS_GW' ss -Hltne 'sport = :$RED_PORT' | grep -q 'v6only:0'"
}

_red_curl() {   # ADDR -> checks status/body, prints "LOCALPORT"
    local addr=$1 url out body=$RED_T/curl.body
    url="http://$(red_hp "$addr" 8080)/hello.txt"
    out=$(tpi_in cli curl -sS -m 10 -o "$body" -w '%{http_code} %{local_port}' "$url") || return 1
    [[ ${out%% *} == 200 ]] || { echo "HTTP status ${out%% *} from $url"; return 1; }
    cmp -s "$body" "$RED_T/www/hello.txt" || { echo "wrong body from $url"; return 1; }
    printf '%s\n' "${out##* }" >"$RED_T/curl.lport"
}

# red_http 4|6
red_http() {
    local fam=$1 srv cli lport re
    if [[ $fam == 6 ]]; then srv=$TPI_SRV6 cli=$TPI_CLI6; else srv=$TPI_SRV4 cli=$TPI_CLI4; fi
    tpi_check "curl IPv$fam http://$(red_hp "$srv" 8080)/ through tproxyd: 200 and the file" _red_curl "$srv"
    lport=$(cat "$RED_T/curl.lport")
    re=$(red_access_re "$(red_hp "$cli" "$lport")" "$(red_hp "$srv" 8080)" "done")
    tpi_check "IPv$fam access log: client $(red_hp "$cli" "$lport") -> original destination $(red_hp "$srv" 8080)" \
        red_wait_log "$re"
    red_show_log "$re"
}

_red_mark_count() {
    local n
    n=$(tpi_in gw nft list table inet tpimark | sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
    echo "marked upstream packets to :8080: ${n:-none}"
    [[ ${n:-0} -gt 0 ]]
}

red_mark() {
    tpi_check "upstream sockets carry sockopts.mark $RED_MARK (SO_MARK)" _red_mark_count
}

# red_bulk ADDR BYTES: streamed by redtool.py (little memory), hashed by both ends
red_bulk() {
    local addr=$1 n=$2 out=$RED_T/bulk.out
    tpi_check "$n bytes to $(red_hp "$addr" 9000) arrive whole (sha256)" \
        red_tee "$out" tpi_in cli python3 "$RED_TOOL" --timeout 60 bulk "$addr" 9000 "$n"
    tpi_diag "client: $(cat "$out")"
    tpi_check "access log counts up=$((n + 5)) bytes" \
        red_wait_log "$(red_client_re "$(red_cli_for "$addr")") -> $(red_re "$(red_hp "$addr" 9000)") .* up=$((n + 5)) down=[0-9]+ ms=[0-9]+ end=done"
    red_show_log "up=$((n + 5)) "
}

# red_halfclose ADDR
red_halfclose() {
    local addr=$1 res re
    res=$RED_T/source.$RANDOM
    tpi_check "half-close client->server via $addr: the reply still arrives" \
        tpi_in cli python3 "$RED_TCPTOOL" --timeout 20 client "$addr" 9000 sink 1000
    tpi_check "half-close server->client via $addr: the client can still send" \
        tpi_in cli python3 "$RED_TCPTOOL" --timeout 20 client "$addr" 9000 source 5000000 "$res"
    re="$(red_client_re "$(red_cli_for "$addr")") -> $(red_re "$(red_hp "$addr" 9000)") "
    tpi_check "half-close via $addr: access log has the client->server flow (up=1005), end=done" \
        red_wait_log "$re.* up=1005 down=[0-9]+ ms=[0-9]+ end=done"
    tpi_check "half-close via $addr: access log has the server->client flow (down=5000000), end=done" \
        red_wait_log "$re.* up=[0-9]+ down=5000000 ms=[0-9]+ end=done"
}

_red_reset_seen() {   # COUNT-BEFORE: the 9002 server logged one more reset
    local before=$1 i n=0 log
    log=$(tpi_bg_log "$RED_RESET_SRV_PID")
    for ((i = 0; i < 100; i++)); do
        n=$(grep -c 'Connection reset by peer' "$log" 2>/dev/null) || n=0
        ((n > before)) && return 0
        sleep 0.1
    done
    echo "server log has $n reset(s), had $before before"
    cat "$log"
    return 1
}

# red_reset ADDR
red_reset() {
    local addr=$1 before cli
    cli=$(red_cli_for "$addr")
    before=$(grep -c 'Connection reset by peer' "$(tpi_bg_log "$RED_RESET_SRV_PID")" 2>/dev/null) || before=0
    tpi_check "client via $addr resets mid-stream" \
        tpi_in cli python3 "$RED_TCPTOOL" --timeout 10 client "$addr" 9002 reset
    tpi_check "reset via $addr: access log says end=client-reset" \
        red_wait_log "$(red_client_re "$cli") -> $(red_re "$(red_hp "$addr" 9002)") .* up=[1-9][0-9]* .*end=client-reset"
    red_show_log "$(red_re "$(red_hp "$addr" 9002)") .*end=client-reset"
    tpi_check "reset via $addr: the server sees the reset (not a clean FIN)" _red_reset_seen "$before"
}

# red_conc ADDR N
red_conc() {
    local addr=$1 n=$2 before re out=$RED_T/conc.out
    re="$(red_re " -> $(red_hp "$addr" 9001) ").* up=1005 down=1000 ms=[0-9]+ end=done"
    before=$(grep -cE -- "$re" "$RED_LOG" 2>/dev/null) || before=0
    tpi_check "$n concurrent connections to $(red_hp "$addr" 9001) through tproxyd all echo" \
        red_tee "$out" tpi_in cli python3 "$RED_TOOL" --timeout 60 conc "$addr" 9001 "$n"
    tpi_diag "$(cat "$out")"
    tpi_check "$n access-log lines for them, all end=done" red_wait_log "$re" $((before + n)) 20
}

# _red_close_case DESC ADDR PORT SECS END DETAIL-ERE: the client sees a reset/EOF within SECS,
# tproxyd logs END (with DETAIL) for that client port
_red_close_case() {
    local desc=$1 addr=$2 port=$3 secs=$4 end=$5 detail=$6 out lport loc
    out=$RED_T/close.out
    tpi_check "$desc: client gets a reset or close within ${secs}s, no hang" \
        red_tee "$out" tpi_in cli python3 "$RED_TOOL" close "$addr" "$port" "$secs"
    lport=$(sed -n 's/.* local-port=\([0-9]*\).*/\1/p' "$out")
    loc=$(red_hp "$(red_cli_for "$addr")" "$lport")
    tpi_diag "client: $(cat "$out")"
    tpi_check "$desc: access log says end=$end${detail:+ (${detail#.\*})}" \
        red_wait_log "$(red_re "$RED_SVC $loc -> $(red_hp "$addr" "$port") ").*end=$end$detail"
    red_show_log "$(red_re "$RED_SVC $loc ")"
}

_red_curl_fails_fast() {   # URL: curl fails (not its own timeout) within 3 s
    local url=$1 rc=0 t0 ms
    t0=$(date +%s%N)
    tpi_in cli curl -sS -m 10 -o /dev/null "$url" 2>"$RED_T/curl.err" || rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
    echo "curl $url: exit $rc after ${ms} ms: $(cat "$RED_T/curl.err")"
    ((rc != 0 && rc != 28 && ms < 3000))
}

red_unreachable() {
    local t=$RED_CONNECT_TIMEOUT
    tpi_check "curl to a port with nothing listening fails at once, no hang" \
        red_tee "$RED_T/curl.out" _red_curl_fails_fast "http://$(red_hp "$TPI_SRV4" 9)/"
    tpi_diag "$(cat "$RED_T/curl.out")"
    tpi_check "curl to an address routed nowhere fails at once, no hang" \
        red_tee "$RED_T/curl.out" _red_curl_fails_fast "http://[fd77:3::3]/"
    tpi_diag "$(cat "$RED_T/curl.out")"
    _red_close_case "refused (v4, nothing on $TPI_SRV4:9)" "$TPI_SRV4" 9 3 dial-failed '.*Connection refused'
    _red_close_case "refused (v6, nothing on [$TPI_SRV6]:9)" "$TPI_SRV6" 9 3 dial-failed '.*Connection refused'
    _red_close_case "no route (v4 10.77.3.3, gw has no route)" 10.77.3.3 80 3 dial-failed '.*Network is unreachable'
    _red_close_case "no route (v6 fd77:3::3, gw has no route)" fd77:3::3 80 3 dial-failed '.*Network is unreachable'
    # (neighbour resolution gives up after ~1 s here, well within connect_timeout)
    _red_close_case "no host (v4 10.77.2.99, on-link, nobody answers ARP)" 10.77.2.99 80 $((t + 3)) \
        dial-failed '.*No route to host'
    _red_close_case "no host (v6 fd77:2::99, nobody answers ND)" fd77:2::99 80 $((t + 3)) \
        dial-failed '.*No route to host'
    _red_close_case "timeout (SYNs to $TPI_SRV4:9003 dropped; connect_timeout ${t}s)" "$TPI_SRV4" 9003 \
        $((t + 3)) dial-timeout ''
}

red_loop() {
    local cli4_re
    _red_close_case "loop: v4 flow to the gateway's own listener $TPI_GW4_CLI:$RED_PORT" \
        "$TPI_GW4_CLI" "$RED_PORT" 3 loop ''
    _red_close_case "loop: v4 flow to the gateway's other address $TPI_GW4_SRV:$RED_PORT" \
        "$TPI_GW4_SRV" "$RED_PORT" 3 loop ''
    _red_close_case "loop: v6 flow to the gateway's own listener [$TPI_GW6_CLI]:$RED_PORT" \
        "$TPI_GW6_CLI" "$RED_PORT" 3 loop ''
    # a remote service that happens to use the listener's port is not a loop
    cli4_re=$(red_client_re "$TPI_CLI4")
    tpi_check "not a loop: a remote server on port $RED_PORT ($TPI_SRV4) is reached" \
        tpi_in cli python3 "$RED_TCPTOOL" --timeout 10 client "$TPI_SRV4" "$RED_PORT" sink 1000
    tpi_check "not a loop: access log end=done for $(red_hp "$TPI_SRV4" "$RED_PORT")" \
        red_wait_log "$cli4_re -> $(red_re "$(red_hp "$TPI_SRV4" "$RED_PORT")") .*end=done"
}

red_still_serving() {
    tpi_check "tproxyd master still running" tpi_alive "$RED_TP_PID"
    tpi_check "tproxyd still serves after resets, dial failures and loops" _red_curl "$TPI_SRV4"
}
