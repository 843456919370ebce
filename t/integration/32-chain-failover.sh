#!/usr/bin/env bash
# Issue 6: node selection and failure handling in a chain, tproxyd in gw (red, REDIRECT).
#   - fifo hop: a node that refuses, one that answers garbage, one whose address is down (no
#     neighbour), one that drops SYNs (the attempt's timeout), then a good one: the first flow
#     succeeds through the good node after one clear "trying another node" line per bad one,
#     the next flow goes straight to the good node (bad ones marked down per max_fails)
#   - fail_timeout brings a node back; round robin spreads flows and skips a garbage node
#   - a proxy refusing the final target (socks5 REP, HTTP 500) fails the flow promptly with the
#     reason, charges no node and retries nothing; a refusal of the next hop's node is charged
#     to that node and the flow goes on through another one
#   - non-2xx (403), relay unauthorized: one clear log line each
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_require_cmd curl nft python3 ss danted microsocks tinyproxy openssl
# shellcheck disable=SC2119 # default prefix (from the script name)
tpi_setup_topology
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/tools/chain-lib.sh"

ch_www
ch_dante 1080 none
ch_tinyproxy 8888
ch_garbage 9999
ch_blackhole 9997
ch_srv_tproxyd
MS_PID=$(tpi_bg srv microsocks -i "$TPI_SRV4" -p 1082)
tpi_wait_port srv tcp 1082 || tpi_fail "microsocks did not start"
DOWN=10.77.2.99     # on srv's link, owned by nobody

node() { printf '{ name = "%s"; addr = "%s"; connector = { %s }; }' "$1" "$2" "$3"; }
S5='type = "socks5";'
retry_re() { printf 'chain "%s" hop 0: node "%s": %s; trying another node' "$1" "$2" "$3"; }

# ---- fifo: refused, garbage, down, silent, good
ch_gw failover "{ selector = { strategy = \"fifo\"; max_fails = 1; fail_timeout = \"60s\"; }; nodes = (
    $(node refused "$TPI_SRV4:9998" "$S5"), $(node garbage "$TPI_SRV4:9999" "$S5"),
    $(node down "$DOWN:1080" "$S5"), $(node silent "$TPI_SRV4:9997" "$S5"),
    $(node good "$TPI_SRV4:1080" "$S5") ); }"
start=$SECONDS
ch_fetch "fifo: four bad nodes skipped, the flow goes through the fifth"
tpi_diag "first flow (with 4 failed attempts, one a 3 s timeout) took $((SECONDS - start)) s"
tpi_check "log: the refusing node, with its reason" \
    ch_log "$(retry_re failover refused 'connect: Connection refused')"
tpi_check "log: the garbage node, with its reason" \
    ch_log "$(retry_re failover garbage 'socks5: not a SOCKS5 server \(answered 67 61 72 62 61 67 65 2c\)')"
tpi_check "log: the node whose address is down" \
    ch_log "$(retry_re failover down 'connect: No route to host')"
tpi_check "log: the silent node timed out" \
    ch_log "$(retry_re failover silent 'timed out connecting')"
n=$(ch_log_count 'trying another node')
ch_fetch "fifo: the next flow"
tpi_check "the next flows go straight to the good node (no new attempts)" \
    test "$(ch_log_count 'trying another node')" -eq "$n"
tpi_check "access log: the flows ended done" ch_log 'via=failover .* end=done' 4

# ---- fail_timeout brings a node back
ch_gw comeback "{ selector = { strategy = \"fifo\"; max_fails = 1; fail_timeout = \"2s\"; }; nodes = (
    $(node late "$TPI_SRV4:1084" "$S5"), $(node good "$TPI_SRV4:1080" "$S5") ); }"
ch_fetch "fifo: node 'late' not up yet, the flow goes through 'good'"
tpi_check "log: 'late' refused" ch_log "$(retry_re comeback late 'connect: Connection refused')"
LATE_PID=$(tpi_bg srv microsocks -i "$TPI_SRV4" -p 1084)
tpi_wait_port srv tcp 1084 || tpi_fail "microsocks on 1084 did not start"
ch_fetch "fifo: within fail_timeout 'late' is still skipped"
tpi_check "... and microsocks on 1084 saw nothing" test "$(grep -c connected "$(tpi_bg_log "$LATE_PID")")" -eq 0
sleep 2.2
ch_fetch "fifo: after fail_timeout 'late' is tried again"
tpi_check "... and carries the flows (microsocks on 1084 connected them)" \
    grep -q 'connected to 10.77.2.2:8080' "$(tpi_bg_log "$LATE_PID")"

# ---- round robin skipping a garbage node
ch_gw round "{ selector = { strategy = \"round\"; max_fails = 1; fail_timeout = \"60s\"; }; nodes = (
    $(node garbage "$TPI_SRV4:9999" "$S5"), $(node dante "$TPI_SRV4:1080" "$S5"),
    $(node microsocks "$TPI_SRV4:1082" "$S5") ); }"
ms_before=$(grep -c 'connected to' "$(tpi_bg_log "$MS_PID")" || true)
for i in 1 2 3; do ch_fetch "round robin, flow pair $i"; done
tpi_check "the garbage node failed once only" test "$(ch_log_count 'node "garbage"')" -eq 1
tpi_check "microsocks carried some of the flows" \
    test "$(grep -c 'connected to' "$(tpi_bg_log "$MS_PID")")" -gt "$ms_before"

# ---- the proxy cannot reach the final target: clean failure, no node charged, no retry
ch_gw target-refused "{ selector = { strategy = \"fifo\"; }; nodes = (
    $(node dante "$TPI_SRV4:1080" "$S5"), $(node tinyproxy "$TPI_SRV4:8888" 'type = "http";') ); }"
gone() { # PORT: nothing listens there
    local out
    out=$(tpi_in cli curl -sS -m 10 "http://$TPI_SRV4:$1/" 2>&1) && return 1
    echo "curl: $out"
}
tpi_check "socks5 (dante) refuses the target: the flow fails promptly" gone 8081
tpi_check "one clear log line with dante's REP code" \
    ch_log 'end=dial-failed node "dante": socks5: server replied 0x0[45] (connection refused|host unreachable)'
ch_show 'end=dial-failed'
tpi_check "no retry through the other node" test "$(ch_log_count 'trying another node')" -eq 0
ch_fetch "the same node still carries the next flow"
ch_gw http-500 "{ nodes = ( $(node tinyproxy "$TPI_SRV4:8888" 'type = "http";') ); }"
tpi_check "http (tinyproxy) cannot connect the target: the flow fails promptly" gone 8081
tpi_check "one clear log line with the status" \
    ch_log 'end=dial-failed node "tinyproxy": http: proxy answered 500 '
ch_show 'end=dial-failed'
tpi_check "http: a non-2xx for a port the proxy refuses (403)" gone 9000
tpi_check "one clear log line with the status" \
    ch_log 'end=dial-failed node "tinyproxy": http: proxy answered 403 '
ch_show 'answered 403'

# ---- the proxy of hop 0 cannot reach hop 1's first node: that node is charged
ch_gw next-hop "{ nodes = ( $(node dante "$TPI_SRV4:1080" "$S5") ); },
    { selector = { strategy = \"fifo\"; }; nodes = (
      $(node gone "$TPI_SRV4:9998" 'type = "http";'), $(node tinyproxy "$TPI_SRV4:8888" 'type = "http";') ); }"
ch_fetch "2 hops, hop 1's first node unreachable from hop 0: through the second"
tpi_check "log: counted against hop 1 node 'gone'" \
    ch_log 'chain "next-hop" hop 0: node "dante": socks5: server replied 0x0[45] [a-z ]+; counted against hop 1 node "gone", trying another node'

# ---- relay refusals
ch_gw relay-badpw "{ nodes = ( $(node relay "$TPI_SRV4:8420" \
    'type = "relay"; nodelay = true; auth = { username = "u"; password = "bad"; };') ); }"
ch_fetch_fails "relay with a wrong password: the flow fails promptly"
tpi_check "one clear log line: relay unauthorized" \
    ch_log 'end=dial-failed node "relay": relay: server answered 0x02 unauthorized'
ch_gw relay-target "{ nodes = ( $(node relay "$TPI_SRV4:8420" \
    'type = "relay"; nodelay = true; auth = { username = "u"; password = "p"; };') ); }"
tpi_check "relay: the server cannot reach the target" gone 8081
tpi_check "one clear log line: network unreachable (what GOST answers)" \
    ch_log 'end=dial-failed node "relay": relay: server answered 0x07 network unreachable'

tpi_ok "node selection, failover and failure reports"
