# shellcheck shell=bash
# t/integration/lib.sh - helpers for tproxyd integration tests (bash; source it, do not run it).
#
# Topology built by tpi_setup_topology (one scenario per test script):
#
#   ${P}-cli                      ${P}-gw (runs tproxyd)                       ${P}-srv
#   cli0 10.77.1.2/24  <------>  gw0 10.77.1.1/24 | gw1 10.77.2.1/24  <------>  srv0 10.77.2.2/24
#        fd77:1::2/64                 fd77:1::1/64 |     fd77:2::1/64                fd77:2::2/64
#   default via gw0 addresses    forwarding on, rp_filter off                 default via gw1 addresses
#
# Typical test:
#   #!/usr/bin/env bash
#   set -euo pipefail
#   . "$(dirname "$0")/lib.sh"
#   tpi_require_root
#   tpi_setup_topology                 # traps EXIT/INT/TERM -> tpi_teardown
#   tpi_http_server srv 8080 "$(tpi_tmpdir)" >/dev/null
#   pid=$(tpi_bg gw ./tproxyd -c "$(tpi_tmpdir)/conf")
#   tpi_wait_port gw tcp 12345 || tpi_fail "tproxyd did not start"
#   tpi_rules_tproxy gw 12345 tcp 4
#   tpi_check "http through the proxy" tpi_in cli curl -fsS -m 5 "http://$TPI_SRV4:8080/"
#
# Namespace arguments (NS) accept the short names cli, gw, srv or a full namespace name.
# Do not install your own `trap ... EXIT` (it would replace the teardown); use tpi_on_exit.
# The *_proxy environment variables are unset (nothing outside the namespaces is reachable).
#
# Environment knobs: TPI_PREFIX (namespace prefix, <= 11 chars), TPI_CLI4 TPI_GW4_CLI TPI_GW4_SRV TPI_SRV4
# TPI_CLI6 TPI_GW6_CLI TPI_GW6_SRV TPI_SRV6 TPI_PLEN4 TPI_PLEN6 (addresses), TPI_RULES_BACKEND (nft|iptables,
# default nft), TPI_NO_SKIP=1 (turn "skip, exit 77" into a failure), TPI_KEEP_TMP=1 (keep the temp dir),
# TPI_VERBOSE=1 (show background process logs at teardown even on success).

if [[ -n ${_TPI_LIB_LOADED:-} ]]; then
    return 0
fi
_TPI_LIB_LOADED=1

TPI_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TPI_ROOT=$(cd "$TPI_LIB_DIR/../.." && pwd)
: "${TPI_RULES:=$TPI_ROOT/contrib/tproxyd-rules}"

: "${TPI_CLI4:=10.77.1.2}" "${TPI_GW4_CLI:=10.77.1.1}" "${TPI_GW4_SRV:=10.77.2.1}" "${TPI_SRV4:=10.77.2.2}"
: "${TPI_CLI6:=fd77:1::2}" "${TPI_GW6_CLI:=fd77:1::1}" "${TPI_GW6_SRV:=fd77:2::1}" "${TPI_SRV6:=fd77:2::2}"
: "${TPI_PLEN4:=24}" "${TPI_PLEN6:=64}"
: "${TPI_RULES_BACKEND:=nft}"
TPI_CLI_IF=cli0     # in ${P}-cli
TPI_GW_CLI_IF=gw0   # in ${P}-gw, towards the client (interception happens on packets entering here)
TPI_GW_SRV_IF=gw1   # in ${P}-gw, towards the server
TPI_SRV_IF=srv0     # in ${P}-srv
TPI_NS_CLI='' TPI_NS_GW='' TPI_NS_SRV=''

unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY ftp_proxy FTP_PROXY

TPI_MAIN_PID=$BASHPID
TPI_SCRIPT=$(basename -- "$0")

_tpi_default_prefix() {
    local n h
    n=${TPI_SCRIPT%.sh}
    n=${n,,}
    n=${n//[^a-z0-9]/}
    [[ -n $n ]] || n=tpi
    if ((${#n} > 11)); then
        h=$(printf '%s' "$n" | cksum | awk '{ printf "%04x", $1 % 65536 }')
        n="${n:0:6}-$h"
    fi
    printf '%s' "$n"
}
: "${TPI_PREFIX:=$(_tpi_default_prefix)}"

TPI_TMP=$(mktemp -d "${TMPDIR:-/tmp}/tpi-${TPI_PREFIX}.XXXXXX") || {
    echo "lib.sh: cannot create a temporary directory" >&2
    exit 1
}
_TPI_STATE=$TPI_TMP/.tpi
mkdir -p "$_TPI_STATE"
: >"$_TPI_STATE/pids"
_TPI_TORN_DOWN=0
# results go to the test's original stdout, even from inside $(...)
exec {_TPI_OUT}>&1
_TPI_EXIT_HOOKS=()

# ------------------------------------------------------------------ output helpers

# tpi_diag MSG...   print "# MSG" (TAP comment)
tpi_diag() { printf '# %s\n' "$*" >&"$_TPI_OUT"; }

# tpi_ok MSG        print "ok - MSG"
tpi_ok() { printf 'ok - %s\n' "$*" >&"$_TPI_OUT"; }

_tpi_dump_logs() {
    local f n
    for f in "$TPI_TMP"/bg-*.log; do
        [[ -e $f ]] || continue
        n=$(basename "$f" .log)
        if [[ -s $f ]]; then
            tpi_diag "---- last lines of $n ($(head -n 1 "$_TPI_STATE/cmd.${n#bg-}" 2>/dev/null))"
            tail -n 25 "$f" | sed 's/^/#   /' >&"$_TPI_OUT"
        fi
    done
}

# tpi_fail MSG      print "not ok - MSG", show background logs, tear down, exit 1.
#                   Works from subshells too (it signals the main test shell).
tpi_fail() {
    printf 'not ok - %s\n' "$*" >&"$_TPI_OUT"
    if [[ -d $_TPI_STATE ]]; then
        : >"$_TPI_STATE/failed"
        if [[ $_TPI_TORN_DOWN == 0 ]] && [[ ! -e $_TPI_STATE/logs-dumped ]]; then
            : >"$_TPI_STATE/logs-dumped"
            _tpi_dump_logs
        fi
    fi
    if [[ $BASHPID != "$TPI_MAIN_PID" ]]; then
        kill -TERM "$TPI_MAIN_PID" 2>/dev/null
    fi
    exit 1
}

# tpi_skip MSG      print "# SKIP MSG" and exit 77 (or fail when TPI_NO_SKIP=1)
tpi_skip() {
    if [[ ${TPI_NO_SKIP:-0} == 1 ]]; then
        tpi_fail "cannot run (TPI_NO_SKIP=1): $*"
    fi
    printf '# SKIP %s: %s\n' "$TPI_SCRIPT" "$*" >&"$_TPI_OUT"
    exit 77
}

# _tpi_run_check DESC CMD... -> 0/1, prints ok/not ok and the command's output on failure
_tpi_run_check() {
    local desc=$1 out rc
    shift
    if [[ -d $TPI_TMP ]]; then
        out=$(mktemp "$TPI_TMP/check.XXXXXX")
    else # after tpi_teardown
        out=$(mktemp "${TMPDIR:-/tmp}/tpi-check.XXXXXX")
    fi
    if "$@" >"$out" 2>&1; then
        rm -f "$out"
        tpi_ok "$desc"
        return 0
    else
        rc=$?
    fi
    tpi_diag "failed command (exit $rc): $*"
    tail -n 25 "$out" | sed 's/^/#   /' >&"$_TPI_OUT"
    rm -f "$out"
    return 1
}

# tpi_check DESC CMD...        run CMD; "ok - DESC" on success, else show its output and tpi_fail DESC
tpi_check() {
    local desc=$1
    shift
    _tpi_run_check "$desc" "$@" || tpi_fail "$desc"
}

# tpi_check_soft DESC CMD...   like tpi_check but on failure prints "not ok - DESC" and continues
#                    (returns 0, safe under set -e); the test then exits 1 at the end
tpi_check_soft() {
    local desc=$1
    shift
    if ! _tpi_run_check "$desc" "$@"; then
        printf 'not ok - %s\n' "$desc" >&"$_TPI_OUT"
        : >"$_TPI_STATE/failed"
    fi
    return 0
}

# ------------------------------------------------------------------ requirements

# tpi_require_root  skip (exit 77) unless root with working `ip netns`
tpi_require_root() {
    local probe
    [[ $(id -u) == 0 ]] || tpi_skip "needs root (network namespaces, nftables)"
    command -v ip >/dev/null 2>&1 || tpi_skip "iproute2 'ip' is not installed"
    ip netns list >/dev/null 2>&1 || tpi_skip "'ip netns' is unavailable"
    probe="tpi-probe-$BASHPID"
    if ! ip netns add "$probe" >/dev/null 2>&1; then
        tpi_skip "cannot create network namespaces here (ip netns add failed)"
    fi
    ip netns del "$probe" >/dev/null 2>&1
    return 0
}

# tpi_require_cmd CMD...  skip (exit 77) when one of the commands is missing
tpi_require_cmd() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || tpi_skip "'$c' is not installed"
    done
}

# ------------------------------------------------------------------ namespaces and processes

# _tpi_ns NAME -> full namespace name (cli|gw|srv are expanded with the prefix)
_tpi_ns() {
    case $1 in
    cli | gw | srv) printf '%s-%s' "$TPI_PREFIX" "$1" ;;
    *) printf '%s' "$1" ;;
    esac
}

_tpi_ns_exists() { [[ -e /run/netns/$1 ]] || ip netns list 2>/dev/null | awk '{ print $1 }' | grep -x -- "$1" >/dev/null; }

# tpi_alive PID      0 if the process exists and is not a zombie
tpi_alive() {
    local st
    [[ -r /proc/$1/stat ]] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [[ -n $st && $st != Z ]]
}

# _tpi_starttime PID: start time (clock ticks since boot) of PID, guards against PID reuse
_tpi_starttime() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{ print $20 }'; }

# _tpi_kill_pids PID...: TERM (process group first), wait up to 3 s, then KILL
_tpi_kill_pids() {
    local p i left
    (($# > 0)) || return 0
    for p in "$@"; do
        kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null
    done
    for ((i = 0; i < 30; i++)); do
        left=0
        for p in "$@"; do
            if tpi_alive "$p"; then left=1; fi
        done
        ((left)) || break
        sleep 0.1
    done
    for p in "$@"; do
        if tpi_alive "$p"; then
            kill -KILL -- "-$p" 2>/dev/null || kill -KILL "$p" 2>/dev/null
        fi
    done
    for ((i = 0; i < 20; i++)); do
        left=0
        for p in "$@"; do
            if tpi_alive "$p"; then left=1; fi
        done
        ((left)) || break
        sleep 0.1
    done
    return 0
}

# _tpi_delete_ns NS: kill what still runs inside it (by PID), delete it
_tpi_delete_ns() {
    local ns=$1 pids
    _tpi_ns_exists "$ns" || return 0
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
    _tpi_kill_pids "${pids[@]}"
    ip netns del "$ns" 2>/dev/null || ip netns del "$ns"
}

# tpi_bg NS CMD...   start CMD in the background inside NS (own session/process group, stdin /dev/null,
#                    stdout+stderr to $(tpi_bg_log PID)); records the PID for teardown and prints it.
#                    Safe to use as pid=$(tpi_bg ...).
tpi_bg() {
    local ns pid
    (($# >= 2)) || tpi_fail "usage: tpi_bg NS CMD..."
    ns=$(_tpi_ns "$1")
    shift
    _tpi_ns_exists "$ns" || tpi_fail "tpi_bg: no network namespace '$ns'"
    # setsid does not fork here (we are no process group leader) and every step execs, so $! is the
    # PID of CMD itself, which names its log file
    # shellcheck disable=SC2016 # expanded by the inner bash
    setsid bash -c 'exec >"$1/bg-$$.log" 2>&1; shift; exec ip netns exec "$@"' tpi-bg "$TPI_TMP" "$ns" "$@" \
        </dev/null {_TPI_OUT}>&- &
    pid=$!
    printf '%s\n' "$ns: $*" >"$_TPI_STATE/cmd.$pid"
    printf '%s %s %s\n' "$pid" "$ns" "$(_tpi_starttime "$pid")" >>"$_TPI_STATE/pids"
    printf '%s\n' "$pid"
}

# tpi_bg_log PID     path of the stdout/stderr log of a tpi_bg process
tpi_bg_log() { printf '%s\n' "$TPI_TMP/bg-$1.log"; }

# tpi_kill PID...    stop tpi_bg processes now (TERM, then KILL after 3 s)
tpi_kill() { _tpi_kill_pids "$@"; }

# tpi_in NS CMD...   run CMD in the foreground inside NS, returning its status
tpi_in() {
    local ns
    (($# >= 2)) || tpi_fail "usage: tpi_in NS CMD..."
    ns=$(_tpi_ns "$1")
    shift
    ip netns exec "$ns" "$@"
}

# tpi_tmpdir         print the per-test temporary directory (removed at teardown)
tpi_tmpdir() { printf '%s\n' "$TPI_TMP"; }

# tpi_on_exit CMD... run CMD (in the main shell) at teardown, before processes and namespaces go
tpi_on_exit() { _TPI_EXIT_HOOKS+=("$(printf '%q ' "$@")"); }

# tpi_teardown       kill tpi_bg processes (by recorded PID), delete the namespaces, remove the temp dir.
#                    Idempotent; installed on EXIT/INT/TERM by tpi_setup_topology (and at source time).
tpi_teardown() {
    local - h pid ns st pids=()
    set +e
    [[ $_TPI_TORN_DOWN == 0 ]] || return 0
    [[ $BASHPID == "$TPI_MAIN_PID" ]] || return 0
    _TPI_TORN_DOWN=1
    for h in "${_TPI_EXIT_HOOKS[@]}"; do
        eval "$h"
    done
    if [[ ${TPI_VERBOSE:-0} == 1 ]] && [[ ! -e $_TPI_STATE/logs-dumped ]]; then
        _tpi_dump_logs
    fi
    if [[ -r $_TPI_STATE/pids ]]; then
        while read -r pid ns st; do
            [[ $pid =~ ^[0-9]+$ ]] || continue
            tpi_alive "$pid" || continue
            # only signal it if it is still the process we started (same start time)
            [[ $(_tpi_starttime "$pid") == "$st" ]] && pids+=("$pid")
        done <"$_TPI_STATE/pids"
    fi
    _tpi_kill_pids "${pids[@]}"
    for ns in "$TPI_NS_CLI" "$TPI_NS_GW" "$TPI_NS_SRV"; do
        [[ -n $ns ]] && _tpi_delete_ns "$ns"
    done
    if [[ ${TPI_KEEP_TMP:-0} == 1 ]]; then
        tpi_diag "kept temp dir $TPI_TMP"
    else
        rm -rf -- "$TPI_TMP"
    fi
    return 0
}

_tpi_on_exit() {
    local rc=$? cmd=$BASH_COMMAND
    trap - EXIT
    if [[ -e $_TPI_STATE/failed ]]; then
        ((rc != 0)) || rc=1
    elif ((rc != 0 && rc != 77 && rc != 130 && rc != 143 && rc != 129)) && [[ $_TPI_TORN_DOWN == 0 ]]; then
        # e.g. a command failing under set -e: say so instead of ending silently
        printf 'not ok - %s exited with status %s (last command: %s)\n' "$TPI_SCRIPT" "$rc" "$cmd" >&"$_TPI_OUT"
        [[ -e $_TPI_STATE/logs-dumped ]] || _tpi_dump_logs
    fi
    tpi_teardown
    exit "$rc"
}

_tpi_on_signal() {
    if [[ -e $_TPI_STATE/failed ]]; then
        exit 1
    fi
    tpi_diag "interrupted by signal ($1)"
    exit "$1"
}

_tpi_traps() {
    trap _tpi_on_exit EXIT
    trap '_tpi_on_signal 130' INT
    trap '_tpi_on_signal 143' TERM
    trap '_tpi_on_signal 129' HUP
}
_tpi_traps

# _tpi_do DESC CMD...: run a setup step, fail the test with its output on error
_tpi_do() {
    local desc=$1 out
    shift
    if ! out=$("$@" 2>&1); then
        [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/#   /' >&"$_TPI_OUT"
        tpi_fail "setup: $desc ($*)"
    fi
}

_tpi_sysctl() {
    local ns=$1
    shift
    _tpi_do "sysctl in $ns" ip netns exec "$ns" sysctl -qw "$@"
}

# tpi_setup_topology [PREFIX]  create ${PREFIX}-cli/-gw/-srv as drawn above (removing leftovers of an
#                    earlier run first), export TPI_NS_CLI/TPI_NS_GW/TPI_NS_SRV, install the teardown traps.
#                    PREFIX defaults to $TPI_PREFIX (derived from the script name, <= 11 chars).
tpi_setup_topology() {
    local p=${1:-$TPI_PREFIX} ns i
    [[ $p =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || tpi_fail "tpi_setup_topology: bad prefix '$p'"
    ((${#p} <= 11)) || tpi_fail "tpi_setup_topology: prefix '$p' is longer than 11 characters"
    TPI_PREFIX=$p
    TPI_NS_CLI=$p-cli TPI_NS_GW=$p-gw TPI_NS_SRV=$p-srv
    export TPI_PREFIX TPI_NS_CLI TPI_NS_GW TPI_NS_SRV
    _tpi_traps
    for ns in "$TPI_NS_CLI" "$TPI_NS_GW" "$TPI_NS_SRV"; do
        _tpi_delete_ns "$ns"
    done
    for ns in "$TPI_NS_CLI" "$TPI_NS_GW" "$TPI_NS_SRV"; do
        _tpi_do "create namespace" ip netns add "$ns"
        _tpi_do "lo up" ip -n "$ns" link set lo up
        _tpi_sysctl "$ns" net.ipv6.conf.all.disable_ipv6=0 net.ipv6.conf.default.disable_ipv6=0 \
            net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
            net.ipv6.conf.default.accept_ra=0 \
            net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    done
    _tpi_do "veth cli<->gw" ip -n "$TPI_NS_CLI" link add "$TPI_CLI_IF" type veth \
        peer name "$TPI_GW_CLI_IF" netns "$TPI_NS_GW"
    _tpi_do "veth gw<->srv" ip -n "$TPI_NS_GW" link add "$TPI_GW_SRV_IF" type veth \
        peer name "$TPI_SRV_IF" netns "$TPI_NS_SRV"
    _tpi_sysctl "$TPI_NS_CLI" "net.ipv6.conf.$TPI_CLI_IF.accept_dad=0"
    _tpi_sysctl "$TPI_NS_SRV" "net.ipv6.conf.$TPI_SRV_IF.accept_dad=0"
    _tpi_sysctl "$TPI_NS_GW" "net.ipv6.conf.$TPI_GW_CLI_IF.accept_dad=0" "net.ipv6.conf.$TPI_GW_SRV_IF.accept_dad=0" \
        net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
        "net.ipv4.conf.$TPI_GW_CLI_IF.rp_filter=0" "net.ipv4.conf.$TPI_GW_SRV_IF.rp_filter=0" \
        net.ipv4.conf.lo.rp_filter=0

    _tpi_do "cli addr" ip -n "$TPI_NS_CLI" addr add "$TPI_CLI4/$TPI_PLEN4" dev "$TPI_CLI_IF"
    _tpi_do "cli addr6" ip -n "$TPI_NS_CLI" addr add "$TPI_CLI6/$TPI_PLEN6" dev "$TPI_CLI_IF" nodad
    _tpi_do "gw addr" ip -n "$TPI_NS_GW" addr add "$TPI_GW4_CLI/$TPI_PLEN4" dev "$TPI_GW_CLI_IF"
    _tpi_do "gw addr6" ip -n "$TPI_NS_GW" addr add "$TPI_GW6_CLI/$TPI_PLEN6" dev "$TPI_GW_CLI_IF" nodad
    _tpi_do "gw addr" ip -n "$TPI_NS_GW" addr add "$TPI_GW4_SRV/$TPI_PLEN4" dev "$TPI_GW_SRV_IF"
    _tpi_do "gw addr6" ip -n "$TPI_NS_GW" addr add "$TPI_GW6_SRV/$TPI_PLEN6" dev "$TPI_GW_SRV_IF" nodad
    _tpi_do "srv addr" ip -n "$TPI_NS_SRV" addr add "$TPI_SRV4/$TPI_PLEN4" dev "$TPI_SRV_IF"
    _tpi_do "srv addr6" ip -n "$TPI_NS_SRV" addr add "$TPI_SRV6/$TPI_PLEN6" dev "$TPI_SRV_IF" nodad
    _tpi_do "link up" ip -n "$TPI_NS_CLI" link set "$TPI_CLI_IF" up
    _tpi_do "link up" ip -n "$TPI_NS_GW" link set "$TPI_GW_CLI_IF" up
    _tpi_do "link up" ip -n "$TPI_NS_GW" link set "$TPI_GW_SRV_IF" up
    _tpi_do "link up" ip -n "$TPI_NS_SRV" link set "$TPI_SRV_IF" up
    _tpi_do "cli route" ip -n "$TPI_NS_CLI" route add default via "$TPI_GW4_CLI" dev "$TPI_CLI_IF"
    _tpi_do "cli route6" ip -n "$TPI_NS_CLI" -6 route add default via "$TPI_GW6_CLI" dev "$TPI_CLI_IF"
    _tpi_do "srv route" ip -n "$TPI_NS_SRV" route add default via "$TPI_GW4_SRV" dev "$TPI_SRV_IF"
    _tpi_do "srv route6" ip -n "$TPI_NS_SRV" -6 route add default via "$TPI_GW6_SRV" dev "$TPI_SRV_IF"

    # bounded wait: carrier up on all four ends, no tentative IPv6 address left
    for ((i = 0; i < 50; i++)); do
        if ip -n "$TPI_NS_CLI" link show "$TPI_CLI_IF" | grep LOWER_UP >/dev/null &&
            ip -n "$TPI_NS_SRV" link show "$TPI_SRV_IF" | grep LOWER_UP >/dev/null &&
            [[ $(ip -n "$TPI_NS_GW" link show up | grep -c LOWER_UP) -ge 3 ]] &&
            [[ -z $(ip -n "$TPI_NS_CLI" -6 addr show tentative) ]] &&
            [[ -z $(ip -n "$TPI_NS_GW" -6 addr show tentative) ]] &&
            [[ -z $(ip -n "$TPI_NS_SRV" -6 addr show tentative) ]]; then
            return 0
        fi
        sleep 0.1
    done
    tpi_fail "setup: links/addresses not ready after 5 s"
}

# ------------------------------------------------------------------ waiting and traffic

# tpi_wait_port NS tcp|udp PORT [TIMEOUT=10]  wait (bounded, whole seconds) for a listening TCP / bound
#                    UDP socket on PORT inside NS; returns 0, or 1 with a message on stderr
tpi_wait_port() {
    local ns proto=$2 port=$3 timeout=${4:-10} opt i
    ns=$(_tpi_ns "$1")
    case $proto in
    tcp) opt=-Hltn ;;
    udp) opt=-Hlun ;;
    *) tpi_fail "tpi_wait_port: protocol must be tcp or udp, not '$proto'" ;;
    esac
    [[ $port =~ ^[0-9]+$ && $timeout =~ ^[0-9]+$ ]] || tpi_fail "tpi_wait_port: bad port/timeout '$port' '$timeout'"
    for ((i = 0; i <= timeout * 10; i++)); do
        if [[ -n $(ip netns exec "$ns" ss "$opt" "sport = :$port" 2>/dev/null) ]]; then
            return 0
        fi
        sleep 0.1
    done
    printf '# tpi_wait_port: nothing listening on %s port %s in %s after %ss\n' "$proto" "$port" "$ns" "$timeout" >&2
    return 1
}

_TPI_PY_PING='
import os, select, socket, struct, sys, time
addr, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
v6 = ":" in addr
if v6:
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    req, rep = 128, 129
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    req, rep = 8, 0
ident = os.getpid() & 0xFFFF
def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xFFFF)
    t += t >> 16
    return ~t & 0xFFFF
got = 0
for seq in range(1, count + 1):
    payload = b"tpi-ping" + struct.pack("!d", time.time())
    pkt = struct.pack("!BBHHH", req, 0, 0, ident, seq) + payload
    if not v6:
        pkt = struct.pack("!BBHHH", req, 0, csum(pkt), ident, seq) + payload
    s.sendto(pkt, (addr, 0))
    end = time.time() + timeout
    while True:
        left = end - time.time()
        if left <= 0 or not select.select([s], [], [], left)[0]:
            print("no reply from %s seq=%d" % (addr, seq))
            break
        data, src = s.recvfrom(65535)
        if not v6:
            data = data[(data[0] & 15) * 4:]
        if len(data) >= 8:
            t, _, _, rid, rseq = struct.unpack("!BBHHH", data[:8])
            if t == rep and rid == ident and rseq == seq:
                print("reply from %s seq=%d" % (src[0], seq))
                got += 1
                break
sys.exit(0 if got else 1)
'

# tpi_ping NS ADDR [COUNT=1] [TIMEOUT=2]  ICMP echo from NS; 0 if any reply came back.
#                    Uses ping(8) when installed, else a python3 raw-socket implementation.
tpi_ping() {
    local ns addr=$2 count=${3:-1} timeout=${4:-2} fam=-4
    ns=$(_tpi_ns "$1")
    [[ $addr == *:* ]] && fam=-6
    if command -v ping >/dev/null 2>&1; then
        ip netns exec "$ns" ping "$fam" -n -c "$count" -W "$timeout" "$addr"
    else
        ip netns exec "$ns" python3 -c "$_TPI_PY_PING" "$addr" "$count" "$timeout"
    fi
}

# tpi_http_server NS PORT DIR [ADDR=::]  serve DIR over HTTP (python3 -m http.server; "::" is dual-stack)
#                    in NS via tpi_bg, wait until it listens, print its PID
tpi_http_server() {
    local ns=$1 port=$2 dir=$3 addr=${4:-::} pid
    [[ -d $dir ]] || tpi_fail "tpi_http_server: no directory '$dir'"
    pid=$(tpi_bg "$ns" python3 -u -m http.server "$port" --bind "$addr" --directory "$dir")
    tpi_wait_port "$ns" tcp "$port" 10 || tpi_fail "http server on port $port in $ns did not start"
    printf '%s\n' "$pid"
}

# ------------------------------------------------------------------ interception rules (contrib/tproxyd-rules)

_tpi_rules() {
    local ns out
    ns=$(_tpi_ns "$1")
    shift
    [[ -r $TPI_RULES ]] || tpi_fail "rules script $TPI_RULES not found"
    if ! out=$(ip netns exec "$ns" sh "$TPI_RULES" "$@" 2>&1); then
        [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/#   /' >&"$_TPI_OUT"
        tpi_fail "tproxyd-rules $* (in $ns) failed"
    fi
    [[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/# /' >&"$_TPI_OUT"
    return 0
}

# bypass list for the test topology: 10.77.x / fd77:: must be intercepted, so the private ranges are off
_tpi_bypass_args() {
    local fam=$1 c
    local -a v4=(127.0.0.0/8 169.254.0.0/16 224.0.0.0/4 255.255.255.255/32) v6=(::1/128 fe80::/10 ff00::/8)
    if [[ $fam != 6 ]]; then for c in "${v4[@]}"; do printf -- '--bypass\n%s\n' "$c"; done; fi
    if [[ $fam != 4 ]]; then for c in "${v6[@]}"; do printf -- '--bypass\n%s\n' "$c"; done; fi
}

# tpi_rules_tproxy NS PORT [tcp|udp|both=both] [4|6|both=both] [EXTRA tproxyd-rules ARGS...]
#                    TPROXY rules (+ fwmark 1 -> table 100 local route) in NS for packets entering the
#                    client-side veth ($TPI_GW_CLI_IF); backend $TPI_RULES_BACKEND; fails the test on error
tpi_rules_tproxy() {
    local ns=$1 port=$2 proto=${3:-both} fam=${4:-both}
    local -a byp
    shift 2
    shift $(($# > 2 ? 2 : $#))
    mapfile -t byp < <(_tpi_bypass_args "$fam")
    _tpi_rules "$ns" apply --mode tproxy --backend "$TPI_RULES_BACKEND" --port "$port" --proto "$proto" \
        --family "$fam" --iface "$TPI_GW_CLI_IF" --no-default-bypass "${byp[@]}" "$@"
}

# tpi_rules_redirect NS PORT [4|6|both=both] [EXTRA tproxyd-rules ARGS...]
#                    nat REDIRECT (TCP) rules in NS for packets entering $TPI_GW_CLI_IF
tpi_rules_redirect() {
    local ns=$1 port=$2 fam=${3:-both}
    local -a byp
    shift 2
    shift $(($# > 1 ? 1 : $#))
    mapfile -t byp < <(_tpi_bypass_args "$fam")
    _tpi_rules "$ns" apply --mode redirect --backend "$TPI_RULES_BACKEND" --port "$port" --proto tcp \
        --family "$fam" --iface "$TPI_GW_CLI_IF" --no-default-bypass "${byp[@]}" "$@"
}

# tpi_rules_remove NS  remove every tproxyd-rules rule in NS
tpi_rules_remove() { _tpi_rules "$1" remove; }
