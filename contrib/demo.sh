#!/usr/bin/env bash
# contrib/demo.sh - `make demo`: real traffic crossing tproxyd in REDIRECT and TPROXY mode.
#
# Builds a throwaway network of three namespaces on this machine (nothing outside them is touched):
#
#   tpdemo-cli  (a LAN client)    tpdemo-gw  (the gateway: tproxyd)          tpdemo-srv  ("the internet")
#   192.168.77.2  fd77:77::2  --  192.168.77.1  fd77:77::1 | 203.0.113.1  --  203.0.113.2  2001:db8:77::2
#                                 2001:db8:77::1                              HTTP :8080, iperf3 :5201
#
# then, for each mode: installs the interception rules with contrib/tproxyd-rules, starts tproxyd
# with conf/examples/redirect.conf or conf/examples/tproxy-tcp.conf, runs curl (IPv4 and IPv6) and
# iperf3 (-t 3, IPv4 and IPv6) from the client to the server, and prints what the client got and
# what tproxyd logged for those flows. Everything is removed on exit or Ctrl-C.
#
# Needs root (namespaces, nftables) and: ip, nft, curl, iperf3, python3 (make demo installs them).
# Exit status: 0 when every flow crossed tproxyd in both modes, 1 otherwise.
# Environment: DEMO_SECONDS (iperf3 -t, default 3), DEMO_PREFIX (namespace prefix, default tpdemo).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TP=$ROOT/build/tproxyd
RULES=$ROOT/contrib/tproxyd-rules
SECS=${DEMO_SECONDS:-3}
PORT=12345

if [[ $(id -u) != 0 ]]; then
    echo "demo.sh: needs root: it creates network namespaces and nftables rules (only inside them)." >&2
    echo "demo.sh: run it as root, e.g.  sudo make demo" >&2
    exit 1
fi
missing=()
for c in ip nft curl iperf3 python3 ss setsid; do
    command -v "$c" >/dev/null 2>&1 || missing+=("$c")
done
if ((${#missing[@]})); then
    echo "demo.sh: missing commands: ${missing[*]} (contrib/install-deps.sh test installs them)" >&2
    exit 1
fi
[[ -x $TP ]] || { echo "demo.sh: $TP not built; run make (or make demo)" >&2; exit 1; }
[[ $SECS =~ ^[1-9][0-9]?$ ]] || { echo "demo.sh: DEMO_SECONDS must be 1..99" >&2; exit 1; }

# The playground: t/integration/lib.sh builds the namespaces and tears them down (EXIT/INT/TERM,
# processes killed by PID). Addresses outside the private ranges for the server side, so the rules
# helper's default bypass list (LAN, loopback, ...) applies unchanged, as on a real gateway.
export TPI_PREFIX=${DEMO_PREFIX:-tpdemo}
export TPI_CLI4=192.168.77.2 TPI_GW4_CLI=192.168.77.1 TPI_GW4_SRV=203.0.113.1 TPI_SRV4=203.0.113.2
export TPI_CLI6=fd77:77::2 TPI_GW6_CLI=fd77:77::1 TPI_GW6_SRV=2001:db8:77::1 TPI_SRV6=2001:db8:77::2
# shellcheck source=../t/integration/lib.sh
. "$ROOT/t/integration/lib.sh"
T=$(tpi_tmpdir)
# shellcheck disable=SC2317 # runs from the trap
demo_interrupted() { printf '\ndemo.sh: interrupted; removing the playground\n'; exit 130; }
trap demo_interrupted INT

if [[ -t 1 ]]; then
    B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' D=$'\e[2m' N=$'\e[0m'
else
    B='' G='' R='' D='' N=''
fi
say() { printf '%s\n' "$*"; }
head1() { printf '\n%s== %s ==%s\n' "$B" "$*" "$N"; }
head2() { printf '\n%s-- %s%s\n' "$B" "$*" "$N"; }
good() { printf '   %sok%s    %s\n' "$G" "$N" "$*"; }
bad() { printf '   %sFAIL%s  %s\n' "$R" "$N" "$*"; FAILS+=("$MODE: $*"); }
FAILS=()
MODE=setup

# a second Ctrl-C must not cut the teardown short
# shellcheck disable=SC2317 # runs from tpi_teardown
demo_quiet_teardown() { trap '' INT TERM HUP; }
tpi_on_exit demo_quiet_teardown

head1 "tproxyd demo: a client, a gateway running tproxyd, a server (network namespaces ${TPI_PREFIX}-*)"
cat <<EOF
   ${TPI_PREFIX}-cli  $TPI_CLI4  $TPI_CLI6      (default route via the gateway)
        |
   ${TPI_PREFIX}-gw   $TPI_GW4_CLI  $TPI_GW6_CLI  <- interception rules on gw0, tproxyd on :$PORT
        |         $TPI_GW4_SRV  $TPI_GW6_SRV
   ${TPI_PREFIX}-srv  $TPI_SRV4  $TPI_SRV6  (HTTP :8080, iperf3 :5201)
EOF
tpi_setup_topology "$TPI_PREFIX"
trap demo_interrupted INT    # (tpi_setup_topology re-installed lib.sh's traps)

mkdir -p "$T/www"
printf 'Hello from the server namespace %s\n' "$TPI_PREFIX-srv" >"$T/www/index.html"
tpi_http_server srv 8080 "$T/www" >/dev/null
tpi_bg srv iperf3 -s -p 5201 >/dev/null
tpi_wait_port srv tcp 5201 || tpi_fail "iperf3 server did not start"
say "   servers: python3 http.server on [::]:8080, iperf3 -s on :5201 (in ${TPI_PREFIX}-srv)"

# flow_re CLIENT-ADDR SERVER-ADDR PORT -> ERE for an access-log line client -> server:port
flow_re() {
    local c=$1 s=$2
    [[ $c == *:* ]] && c="\\[$c\\]"
    [[ $s == *:* ]] && s="\\[$s\\]"
    printf ' %s:[0-9]+ -> %s:%s ' "${c//./\\.}" "${s//./\\.}" "$3"
}

# wait_log LOG ERE [SECS=3]: bounded wait for a matching line
wait_log() {
    local i
    for ((i = 0; i < ${3:-3} * 10; i++)); do
        grep -qE -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

hp() { if [[ $1 == *:* ]]; then printf '[%s]:%s' "$1" "$2"; else printf '%s:%s' "$1" "$2"; fi; }

do_curl() {   # FAMILY SERVER LOG
    local fam=$1 srv=$2 log=$3 url out rc=0 body
    url="http://$(hp "$srv" 8080)/"
    say "   \$ curl $url   ${D}(from ${TPI_PREFIX}-cli)${N}"
    out=$(tpi_in cli curl -sS -m 10 -o "$T/body" -w '%{http_code} %{size_download}' "$url" 2>&1) || rc=$?
    if ((rc != 0)); then
        bad "curl IPv$fam: exit $rc: $out"
        return 0
    fi
    body=$(head -c 80 "$T/body" | tr -d '\n')
    if [[ ${out%% *} == 200 ]]; then
        good "curl IPv$fam: HTTP ${out%% *}, ${out##* } bytes: \"$body\""
    else
        bad "curl IPv$fam: HTTP ${out%% *}"
        return 0
    fi
    if wait_log "$log" "$(flow_re "$(cli_for "$srv")" "$srv" 8080).*end=done"; then
        good "tproxyd logged the HTTP flow (IPv$fam) to $(hp "$srv" 8080)"
    else
        bad "no access-log line from tproxyd for curl IPv$fam: the flow did not cross tproxyd"
    fi
}

do_iperf() {   # FAMILY SERVER LOG
    local fam=$1 srv=$2 log=$3 out rc=0 line
    say "   \$ iperf3 -c $srv -t $SECS   ${D}(from ${TPI_PREFIX}-cli)${N}"
    out=$(tpi_in cli timeout $((SECS + 15)) iperf3 -c "$srv" -p 5201 -t "$SECS" --connect-timeout 3000 2>&1) || rc=$?
    line=$(printf '%s\n' "$out" | grep -E ' receiver$' | tail -n 1 | sed 's/^\[ *[0-9]*\] *//; s/  */ /g')
    if ((rc != 0)) || [[ -z $line ]]; then
        bad "iperf3 IPv$fam: exit $rc: $(printf '%s\n' "$out" | tail -n 2 | tr '\n' ' ')"
        return 0
    fi
    good "iperf3 IPv$fam: $line"
    # the data connection: megabytes client -> server
    if wait_log "$log" "$(flow_re "$(cli_for "$srv")" "$srv" 5201).* up=[0-9]{7,} .*end="; then
        good "tproxyd logged the iperf3 flows (IPv$fam) to $(hp "$srv" 5201)"
    else
        bad "no access-log line from tproxyd for iperf3 IPv$fam: the flow did not cross tproxyd"
    fi
}

cli_for() { if [[ $1 == *:* ]]; then printf '%s' "$TPI_CLI6"; else printf '%s' "$TPI_CLI4"; fi; }

# run_mode NAME CONF RULES-ARGS...
run_mode() {
    local name=$1 conf=$2 pid log nfail out
    shift 2
    MODE=$name
    nfail=${#FAILS[@]}
    head2 "rules: tproxyd-rules apply $*   ${D}(in ${TPI_PREFIX}-gw)${N}"
    if ! out=$(tpi_in gw "$RULES" apply "$@" 2>&1); then
        printf '%s\n' "$out" | sed 's/^/   /'
        bad "tproxyd-rules apply failed"
        return 0
    fi
    {   # show the heart of what was installed (display only)
        tpi_in gw nft list table inet tproxyd | grep -E '(redirect|tproxy) to' |
            sed "s/^[[:space:]]*/   ${D}nft: /; s/\$/${N}/"
        if [[ $name == TPROXY ]]; then
            for f in 4 6; do
                ip -n "$TPI_NS_GW" -$f rule | grep 'lookup 100' |
                    sed "s/^[0-9]*:[[:space:]]*/   ${D}ip -$f rule: /; s/\$/${N}/"
                ip -n "$TPI_NS_GW" -$f route show table 100 |
                    sed "s/^/   ${D}ip -$f route (table 100): /; s/\$/${N}/"
            done
        fi
    } 2>/dev/null || true

    head2 "tproxyd -f -c ${conf#"$ROOT"/}   ${D}(in ${TPI_PREFIX}-gw)${N}"
    pid=$(tpi_bg gw "$TP" -f -c "$conf")
    log=$(tpi_bg_log "$pid")
    if ! tpi_wait_port gw tcp "$PORT" 10 2>/dev/null; then
        bad "tproxyd did not start:"
        sed 's/^/   /' "$log"
        return 0
    fi
    grep -E 'started' "$log" | sed "s/^[0-9-]* /   ${D}/; s/\$/${N}/" || true

    head2 "traffic from the client"
    do_curl 4 "$TPI_SRV4" "$log"
    do_curl 6 "$TPI_SRV6" "$log"
    do_iperf 4 "$TPI_SRV4" "$log"
    do_iperf 6 "$TPI_SRV6" "$log"

    head2 "what tproxyd logged (one line per flow; iperf3 opens a control and a data connection)"
    grep -E ' end=' "$log" | sed 's/^[0-9-]* //; s/ \[info\] / /; s/^/   /' || say "   (nothing)"
    if grep -qE ':5201 .*end=upstream-reset' "$log"; then
        say "   ${D}(upstream-reset on an iperf3 data flow is iperf3's own doing: its server resets the data${N}"
        say "   ${D} connection when the test time is up; tproxyd passes the reset on to the client)${N}"
    fi

    tpi_kill "$pid"
    tpi_in gw "$RULES" remove >/dev/null 2>&1 || bad "tproxyd-rules remove failed"
    if ((${#FAILS[@]} == nfail)); then
        say "   ${G}=> $name: every flow crossed tproxyd${N}"
    else
        say "   ${R}=> $name: $((${#FAILS[@]} - nfail)) problem(s)${N}"
    fi
}

head1 "REDIRECT mode: nat table; tproxyd reads the original destination with SO_ORIGINAL_DST"
run_mode REDIRECT "$ROOT/conf/examples/redirect.conf" \
    --mode redirect --port "$PORT" --iface "$TPI_GW_CLI_IF"

head1 "TPROXY mode: mangle table + policy routing; the original destination is the socket's own address"
run_mode TPROXY "$ROOT/conf/examples/tproxy-tcp.conf" \
    --mode tproxy --proto tcp --port "$PORT" --iface "$TPI_GW_CLI_IF"

head1 "result"
if ((${#FAILS[@]} == 0)); then
    say "${G}${B}PASS${N}: curl (IPv4, IPv6) and iperf3 (IPv4, IPv6) crossed tproxyd in REDIRECT and TPROXY mode."
    say "Removing the playground (namespaces ${TPI_PREFIX}-cli/-gw/-srv)."
    exit 0
fi
say "${R}${B}FAIL${N}: ${#FAILS[@]} problem(s):"
printf '   %s\n' "${FAILS[@]}"
say "Removing the playground (namespaces ${TPI_PREFIX}-cli/-gw/-srv)."
tpi_teardown    # now, so lib.sh does not add its own failure report (everything is said above)
exit 1
