#!/usr/bin/env bash
# bench/run.sh - `make bench`: tproxyd side by side with plain routing and the Debian peers.
#
# Builds its own 3-namespace topology (bench/lib.sh: tpb-cli -> tpb-gw -> tpb-srv, veth, MTU 1500),
# then runs the same workloads against every proxy below, ROUNDS interleaved rounds (each round
# runs every proxy once, plain routing first), and prints one table of medians with ratios to plain
# routing and to the best peer, plus the issue-9 targets met/missed.
#
#   plain             no proxy: the gateway routes (the physical limit)
#   tproxyd-redirect  tproxyd `red`, nat REDIRECT (SO_ORIGINAL_DST), direct egress      TCP only
#   tproxyd-tproxy    tproxyd `red` + `redu`, TPROXY TCP + UDP, direct egress  (UDP rows only when
#                     `tproxyd -t` accepts a redu service and a datagram makes it through)
#   tproxyd-socks     tproxyd `red`, REDIRECT -> socks5 upstream (microsocks in tpb-srv) TCP only
#   redsocks          redsocks, REDIRECT -> microsocks (no UDP: microsocks has no UDP ASSOCIATE)
#   ss-redir          ss-redir, REDIRECT TCP + TPROXY UDP -> ss-server (chacha20-ietf-poly1305)
#   v2ray             v2ray dokodemo-door, TPROXY TCP + UDP, freedom outbound (SO_MARK 100)
#   (not in the default set: tproxyd-tproxy-auto = worker_processes "auto",
#    tproxyd-tproxy-w1 = 1 worker; name them in PROXIES=...)
#
# Workloads (client tpb-cli -> server tpb-srv 10.203.2.2; every command bounded by `timeout`):
#   mem     RSS summed over the proxy's processes (tproxyd: master + workers) idle, and with
#           HOLD_TCP (2000) idle relayed TCP connections (bench/holdtcp.py, keep-alive to nginx)
#   tcp1    iperf3 -t DURATION, 1 stream;  tcp4: 4 streams  (+ proxy CPU s per GB from /proc)
#   conn    wrk -t2 -c64 -d DURATION --latency -H "Connection: close" against nginx `return 200`
#   udprr   bench/udprr rr: 32 UDP flows, 1 request in flight each, 64 B, DURATION s (+1 s warm-up)
#   udploss iperf3 -u -l 1400 -b 200M and -b 1G, DURATION/2 s each
#   udpmem  a fresh proxy: RSS idle, then with UDP_SESSIONS (10000) idle UDP sessions
#   scale   tproxyd-tproxy only (other rows: skip): a tproxyd with SCALE_WORKERS workers holds
#           SCALE_TCP (20000) idle relayed TCP connections (SCALE_TCP_PROCS holdtcp.py processes,
#           to a 4-worker nginx on :81) and at the same time SCALE_UDP (100000) UDP sessions
#           (SCALE_UDP_PROCS `udprr sessions` processes, spread over extra client addresses;
#           the gateway gets one egress address per 50,000 sessions, in redu's sockopts.source);
#           every process stays under the per-process descriptor cap (see bench/README.md).
#           Then the row's normal tproxyd is started again for the workloads that follow.
#
# Environment:
#   ROUNDS=3 DURATION=10   QUICK=1 (= ROUNDS=1 DURATION=3, for development)
#   PROXIES="plain tproxyd-redirect ..."  WORKLOADS="mem tcp1 tcp4 conn udprr udploss scale udpmem"
#   HOLD_TCP=2000 UDP_SESSIONS=10000 TPROXYD_WORKERS=2 TPROXYD=build/tproxyd
#   SCALE_TCP=20000 SCALE_UDP=100000 SCALE_TCP_PROCS=4 SCALE_UDP_PROCS=8
#   SCALE_WORKERS=(enough that each worker averages <= 60 % of the fd limit: 12 at 20000)
#   BENCH_OUT=build/bench (a run directory per run; build/bench/latest points at the newest)
#   KEEP_NETNS=1 (leave the namespaces up at the end, for profiling by hand)
# Needs root (namespaces, nftables). Builds nothing but bench/udprr (make builds tproxyd).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

if [[ ${QUICK:-0} == 1 ]]; then
    ROUNDS=${ROUNDS:-1} DURATION=${DURATION:-3}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
PROXIES=${PROXIES:-"plain tproxyd-redirect tproxyd-tproxy tproxyd-socks redsocks ss-redir v2ray"}
WORKLOADS=${WORKLOADS:-"mem tcp1 tcp4 conn udprr udploss scale udpmem"}
HOLD_TCP=${HOLD_TCP:-2000}
UDP_SESSIONS=${UDP_SESSIONS:-10000}
SCALE_TCP=${SCALE_TCP:-20000}
SCALE_UDP=${SCALE_UDP:-100000}
SCALE_TCP_PROCS=${SCALE_TCP_PROCS:-4}
SCALE_UDP_PROCS=${SCALE_UDP_PROCS:-8}
SCALE_WORKERS=${SCALE_WORKERS:-}     # default: from the fd limit, below
SCALE_PORT=81                        # the scale workload's own nginx (tpb-srv)
SCALE_HOLD=240                       # holders' hold time (s); they are stopped as soon as measured
SCALE_EGRESS_PER_ADDR=50000          # UDP sessions per gateway egress address (< 64,512 ports)
SC_EGRESS=()
TPROXYD=${TPROXYD:-$ROOT/build/tproxyd}
TPROXYD_WORKERS=${TPROXYD_WORKERS:-2}
BENCH_OUT=${BENCH_OUT:-$ROOT/build/bench}
SS_CIPHER=chacha20-ietf-poly1305
SS_KEY=tpbench-key

for v in ROUNDS DURATION HOLD_TCP UDP_SESSIONS SCALE_TCP SCALE_UDP SCALE_TCP_PROCS SCALE_UDP_PROCS \
    ${SCALE_WORKERS:+SCALE_WORKERS}; do
    if ! [[ ${!v} =~ ^[0-9]+$ ]] || ((${!v} == 0)); then
        echo "bench: $v must be a positive integer" >&2
        exit 2
    fi
done
((ROUNDS <= 20 && DURATION <= 120)) || { echo "bench: ROUNDS <= 20 and DURATION <= 120, please" >&2; exit 2; }
((SCALE_TCP <= 100000 && SCALE_UDP <= 400000 && SCALE_TCP_PROCS <= 64 && SCALE_UDP_PROCS <= 64)) ||
    { echo "bench: SCALE_TCP <= 100000, SCALE_UDP <= 400000, SCALE_*_PROCS <= 64, please" >&2; exit 2; }
((${SCALE_WORKERS:-1} <= 256)) || { echo "bench: SCALE_WORKERS <= 256, please" >&2; exit 2; }
has_wl() { [[ " $WORKLOADS " == *" $1 "* ]]; }
[[ $(id -u) == 0 ]] || { echo "bench: needs root (network namespaces, nftables)" >&2; exit 1; }
# the bench group of contrib/install-deps.sh has the load generators and peers; the
# namespace plumbing (ip, ss, nft) and curl come with the test group
for c in ip ss nft curl; do
    if ! command -v "$c" >/dev/null 2>&1; then
        "$ROOT/contrib/install-deps.sh" test || true
        break
    fi
done
for c in ip nft ss iperf3 wrk nginx python3 cc curl setsid timeout; do
    command -v "$c" >/dev/null 2>&1 || { echo "bench: '$c' is missing (contrib/install-deps.sh bench test)" >&2; exit 1; }
done
[[ -x $TPROXYD ]] || { echo "bench: $TPROXYD is not built (run make)" >&2; exit 1; }

RUN=$BENCH_OUT/run-$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUN/logs" "$RUN/conf" "$RUN/bin"
ln -sfn "$(basename "$RUN")" "$BENCH_OUT/latest"
TPB_LOGDIR=$RUN/logs
TPB_PIDFILE=$RUN/pids
export TPB_RULES=$ROOT/contrib/tproxyd-rules
: >"$TPB_PIDFILE"
# shellcheck source-path=SCRIPTDIR
. "$HERE/lib.sh"

TSV=$RUN/results.tsv
HZ=$(getconf CLK_TCK)
UDPRR=$RUN/bin/udprr
IPERF_PID="" P_PID="" UP_PID=""

cleanup() {
    local rc=$? pids
    trap - EXIT INT TERM
    mapfile -t pids <"$TPB_PIDFILE" 2>/dev/null || pids=()
    ((${#pids[@]})) && tpb_kill "${pids[@]}"
    if [[ ${KEEP_NETNS:-0} == 1 ]]; then
        tpb_log "KEEP_NETNS=1: namespaces $TPB_CLI $TPB_GW $TPB_SRV left up (bench/run.sh removes them next time)"
    else
        topo_down
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------------ setup

cc -O2 -Wall -Wextra -std=gnu11 -o "$UDPRR" "$HERE/udprr.c"
# every round runs the same tproxyd, even if the tree is rebuilt meanwhile
TPROXYD_SRC=$TPROXYD
cp "$TPROXYD_SRC" "$RUN/bin/tproxyd"
TPROXYD=$RUN/bin/tproxyd
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
[[ $NOFILE =~ ^[0-9]+$ ]] || NOFILE=1048576   # "unlimited"

# scale: the descriptor limit is per process, so the load is spread over processes that each
# stay under it: tproxyd workers (SO_REUSEPORT spreads flows over them), holder processes, nginx
# workers. ceil(A / B) in integers:
ceil_div() { echo $((($1 + $2 - 1) / $2)); }
SCALE_FD_BUDGET=$((NOFILE - 256))            # per holder process: sockets + python/epoll/stdio
while (($(ceil_div "$SCALE_TCP" "$SCALE_TCP_PROCS") > SCALE_FD_BUDGET)); do SCALE_TCP_PROCS=$((SCALE_TCP_PROCS + 1)); done
while (($(ceil_div "$SCALE_UDP" "$SCALE_UDP_PROCS") > SCALE_FD_BUDGET)); do SCALE_UDP_PROCS=$((SCALE_UDP_PROCS + 1)); done
# tproxyd: a relayed idle TCP connection holds 2 descriptors, a UDP session 1 (its upstream
# socket); enough workers that each averages at most 60 % of worker_rlimit_nofile
[[ -n $SCALE_WORKERS ]] || SCALE_WORKERS=$(ceil_div $(((2 * SCALE_TCP + SCALE_UDP) * 10)) $((NOFILE * 6)))
((SCALE_WORKERS >= 2)) || SCALE_WORKERS=2
# redu's per-worker LRU cap: 3/4 of a worker's descriptors (a worker can never run out of fds on
# sessions), and across the workers room for all the sessions with 25 % to spare
SCALE_MAX_SESSIONS=$((NOFILE * 3 / 4))
while ((SCALE_MAX_SESSIONS * SCALE_WORKERS < SCALE_UDP * 5 / 4)); do SCALE_WORKERS=$((SCALE_WORKERS + 1)); done
# nginx: each worker holds at most worker_connections (16000) and NOFILE descriptors
SCALE_NGINX_WORKERS=$(($(ceil_div "$SCALE_TCP" 8000) + 1))

tpb_log "run directory $RUN"
tpb_log "topology: $TPB_CLI -> $TPB_GW -> $TPB_SRV"
topo_up

tpb_nginx_conf "$RUN/conf/nginx.conf" "$RUN" "$NOFILE"
bench_start "$TPB_SRV" nginx nginx -c "$RUN/conf/nginx.conf" -g "daemon off;"
bench_start "$TPB_SRV" echo "$UDPRR" echo -b "$TPB_SRV_IP" -p 7
tpb_wait_listen "$TPB_SRV" tcp 80 10 || { tpb_log "nginx did not start"; cat "$RUN/logs/nginx.log" >&2; exit 1; }
tpb_wait_listen "$TPB_SRV" udp 7 10 || { tpb_log "udp echo did not start"; exit 1; }
SCALE_NGINX_PID=""
if has_wl scale; then
    # the scale workload's server: its own nginx, so the other rows keep their 1-worker nginx on :80
    tpb_nginx_conf "$RUN/conf/nginx-scale.conf" "$RUN" "$NOFILE" "$SCALE_NGINX_WORKERS" "$SCALE_PORT" nginx-scale
    bench_start "$TPB_SRV" nginx-scale nginx -c "$RUN/conf/nginx-scale.conf" -g "daemon off;"
    SCALE_NGINX_PID=$BG_PID
    tpb_wait_listen "$TPB_SRV" tcp "$SCALE_PORT" 10 || { tpb_log "nginx-scale did not start (scale rows will say so)"; SCALE_NGINX_PID=""; }
fi

# redu availability: decided by the binary itself, so the UDP rows appear once redu lands
TPD_UDP=yes TPD_UDP_WHY=""
cat >"$RUN/conf/redu-probe.conf" <<EOF
log = { level = "warn"; target = "stderr"; };
services = ( { name = "udp-in"; addr = ":$TPB_PORT"; handler = { type = "redu"; };
               listener = { type = "redu"; }; } );
EOF
if ! out=$("$TPROXYD" -t -c "$RUN/conf/redu-probe.conf" 2>&1); then
    TPD_UDP=no
    TPD_UDP_WHY="redu_module_not_available:$(printf '%s' "$out" | head -n 1 | tr -c 'A-Za-z0-9_.:-' '_' | cut -c1-80)"
    tpb_log "tproxyd: no redu module yet ($out): tproxyd's UDP rows are skipped"
fi

{
    echo "date: $(date -Is)"
    echo "host: $(uname -srm), $(nproc) CPUs: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "tproxyd: $("$TPROXYD" -v 2>&1 | head -n 1), copy of $TPROXYD_SRC (built $(date -r "$TPROXYD_SRC" +%FT%T), sha256 $(sha256sum "$TPROXYD" | cut -c1-16)), tree $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo '?')"
    echo "settings: ROUNDS=$ROUNDS DURATION=$DURATION HOLD_TCP=$HOLD_TCP UDP_SESSIONS=$UDP_SESSIONS TPROXYD_WORKERS=$TPROXYD_WORKERS nofile=$NOFILE"
    has_wl scale && echo "scale: SCALE_TCP=$SCALE_TCP in $SCALE_TCP_PROCS processes, SCALE_UDP=$SCALE_UDP in $SCALE_UDP_PROCS processes, tproxyd workers=$SCALE_WORKERS worker_rlimit_nofile=$NOFILE redu max_sessions=$SCALE_MAX_SESSIONS, nginx-scale workers=$SCALE_NGINX_WORKERS; host: nf_conntrack_max=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo -) fs.file-max=$(cat /proc/sys/fs/file-max) fs.nr_open=$(cat /proc/sys/fs/nr_open)"
    dpkg-query -W -f='${Package} ${Version}\n' iperf3 wrk nginx-light redsocks shadowsocks-libev v2ray microsocks nftables 2>/dev/null
} >"$RUN/versions.txt"

# ------------------------------------------------------------------ proxies

# proxy_info NAME: P_MODE (interception), P_UP (upstream label), P_UDP (yes, or the skip reason)
proxy_info() {
    P_UP=- P_UDP=yes
    case $1 in
    plain) P_MODE=direct ;;
    tproxyd-redirect) P_MODE=redirect P_UDP=redirect_intercepts_tcp_only:udp_rows_are_under_tproxyd-tproxy ;;
    tproxyd-tproxy | tproxyd-tproxy-auto | tproxyd-tproxy-w1)
        P_MODE=tproxy
        [[ $TPD_UDP == yes ]] || P_UDP=$TPD_UDP_WHY
        ;;
    tproxyd-socks) P_MODE=redirect P_UP=microsocks P_UDP=microsocks_has_no_udp_associate ;;
    redsocks) P_MODE=redirect P_UP=microsocks P_UDP=microsocks_has_no_udp_associate ;;
    ss-redir) P_MODE=mixed P_UP=ss-server/$SS_CIPHER ;;
    v2ray) P_MODE=tproxy P_UP=freedom ;;
    *) return 1 ;;
    esac
}

# tpd_conf FILE MODE WORKERS CHAIN(none|socks) UDP(yes|no)  (bench/lib.sh writes it)
tpd_conf() { tpb_tproxyd_conf "$@" "$NOFILE"; }

v2ray_conf() {
    cat >"$1" <<EOF
{
  "log": { "loglevel": "none", "access": "none" },
  "inbounds": [ {
    "tag": "tpb-in", "listen": "0.0.0.0", "port": $TPB_PORT, "protocol": "dokodemo-door",
    "settings": { "network": "tcp,udp", "followRedirect": true },
    "sniffing": { "enabled": false },
    "streamSettings": { "sockopt": { "tproxy": "tproxy" } }
  } ],
  "outbounds": [ {
    "tag": "direct", "protocol": "freedom", "settings": { "domainStrategy": "AsIs" },
    "streamSettings": { "sockopt": { "mark": $TPB_MARK } }
  } ]
}
EOF
}

redsocks_conf() {
    cat >"$1" <<EOF
base { log_debug = off; log_info = off; log = stderr; daemon = off; redirector = iptables; }
redsocks { local_ip = 0.0.0.0; local_port = $TPB_PORT; ip = $TPB_SRV_IP; port = 1080; type = socks5; }
EOF
}

# need CMD PACKAGE: fail with SKIP_WHY when CMD is missing
need() { command -v "$1" >/dev/null 2>&1 || { SKIP_WHY="not_installed:$2"; return 1; }; }

# up_start PORT LOG CMD...: start the upstream in tpb-srv, wait until it listens on TCP PORT
up_start() {
    local port=$1 log=$2
    shift 2
    bench_start "$TPB_SRV" "$log" "$@"
    UP_PID=$BG_PID
    tpb_wait_listen "$TPB_SRV" tcp "$port" 10 || { SKIP_WHY="upstream_did_not_start"; return 1; }
}

# proxy_start NAME TAG: upstream + proxy up and listening; sets P_PID (UP_PID), or SKIP_WHY.
# With P_SCALE=1, tproxyd-tproxy gets the scale workload's config (conf/tproxyd-tproxy-scale.conf).
P_SCALE=0
proxy_start() {
    local name=$1 tag=$2 conf=$RUN/conf/$1 udp=no
    P_PID="" UP_PID="" SKIP_WHY=""
    proxy_info "$name"
    [[ $P_UDP == yes ]] && udp=yes
    case $name in
    plain) rules_apply direct; return 0 ;;
    tproxyd-redirect) tpd_conf "$conf.conf" redirect "$TPROXYD_WORKERS" none no ;;
    tproxyd-tproxy)
        if ((P_SCALE)); then
            conf=$conf-scale
            tpb_tproxyd_conf "$conf.conf" tproxy "$SCALE_WORKERS" none "$udp" "$NOFILE" 300s "$SCALE_MAX_SESSIONS" \
                "${SC_EGRESS[*]}"
        else
            tpd_conf "$conf.conf" tproxy "$TPROXYD_WORKERS" none "$udp"
        fi
        ;;
    tproxyd-tproxy-auto) tpd_conf "$conf.conf" tproxy '"auto"' none "$udp" ;;
    tproxyd-tproxy-w1) tpd_conf "$conf.conf" tproxy 1 none "$udp" ;;
    tproxyd-socks)
        need microsocks microsocks || return 1
        tpd_conf "$conf.conf" redirect "$TPROXYD_WORKERS" socks no
        up_start 1080 "$name-up-$tag" microsocks -i "$TPB_SRV_IP" -p 1080 || return 1
        ;;
    redsocks)
        need redsocks redsocks || return 1
        need microsocks microsocks || return 1
        redsocks_conf "$conf.conf"
        up_start 1080 "$name-up-$tag" microsocks -i "$TPB_SRV_IP" -p 1080 || return 1
        ;;
    ss-redir)
        need ss-redir shadowsocks-libev || return 1
        up_start 8388 "$name-up-$tag" ss-server -s "$TPB_SRV_IP" -p 8388 -k "$SS_KEY" -m "$SS_CIPHER" -u || return 1
        ;;
    v2ray)
        need v2ray v2ray || return 1
        v2ray_conf "$conf.json"
        ;;
    *) SKIP_WHY=unknown_proxy; return 1 ;;
    esac
    if [[ $name == tproxyd-* ]]; then
        if ! out=$("$TPROXYD" -t -c "$conf.conf" 2>&1); then
            SKIP_WHY="config_rejected:$(printf '%s' "$out" | head -n 1 | tr -c 'A-Za-z0-9_.:-' '_' | cut -c1-80)"
            return 1
        fi
        bench_start "$TPB_GW" "$name-$tag" "$TPROXYD" -f -c "$conf.conf"
    elif [[ $name == redsocks ]]; then
        bench_start "$TPB_GW" "$name-$tag" redsocks -c "$conf.conf"
    elif [[ $name == ss-redir ]]; then
        bench_start "$TPB_GW" "$name-$tag" ss-redir -s "$TPB_SRV_IP" -p 8388 -b 0.0.0.0 -l "$TPB_PORT" \
            -k "$SS_KEY" -m "$SS_CIPHER" -u
    elif [[ $name == v2ray ]]; then
        bench_start "$TPB_GW" "$name-$tag" v2ray -config "$conf.json"
    fi
    P_PID=$BG_PID
    if ! tpb_wait_listen "$TPB_GW" tcp "$TPB_PORT" 10; then
        SKIP_WHY="did_not_listen:$(tail -n 1 "$TPB_LOGDIR/$name-$tag.log" 2>/dev/null | tr -c 'A-Za-z0-9_.:-' '_' | cut -c1-80)"
        return 1
    fi
    if [[ $udp == yes ]] && ! tpb_wait_listen "$TPB_GW" udp "$TPB_PORT" 5; then
        P_UDP=no_udp_listener
        udp=no
    fi
    rules_apply "$P_MODE" "$udp"
}

proxy_stop() {
    bench_stop "$P_PID" "$UP_PID"
    P_PID="" UP_PID=""
}

# the processes whose RSS/CPU count: the proxy's session (tproxyd: master + workers), the upstream's
proxy_pids() { [[ -n $P_PID ]] && tpb_session_pids "$P_PID"; return 0; }
up_pids() { [[ -n $UP_PID ]] && tpb_session_pids "$UP_PID"; return 0; }

# sanity: one HTTP request and (when UDP is relayed) one datagram end to end
sanity_http() {
    local body
    body=$(nsx "$TPB_CLI" curl -s -m 5 "http://$TPB_SRV_IP/" 2>/dev/null) || true
    [[ $body == ok ]]
}
sanity_udp() {
    local r
    r=$(timeout 10 ip netns exec "$TPB_CLI" "$UDPRR" rr -s "$TPB_SRV_IP" -p 7 -c 4 -d 1 -w 0 -t 300 2>/dev/null) || true
    [[ $r =~ done=([0-9]+) ]] && ((BASH_REMATCH[1] > 0))
}

# ------------------------------------------------------------------ results

CUR_ROUND=0 CUR_PROXY=""
emit() { # WORKLOAD key=val...
    local wl=$1
    shift
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$CUR_ROUND" "$CUR_PROXY" "$P_MODE" "$P_UP" "$wl" "$*" >>"$TSV"
    tpb_log "r$CUR_ROUND $CUR_PROXY $wl: $*"
}

# ------------------------------------------------------------------ workloads

# measure CMD...: run a load generator, with proxy/upstream CPU and box busy % around it
# sets M_CPU M_UPCPU M_BUSY (seconds, seconds, %)
measure() {
    local pp up c0 c1 u0 u1 s0 s1
    mapfile -t pp < <(proxy_pids)
    mapfile -t up < <(up_pids)
    c0=$(tpb_cpu_ticks "${pp[@]}") u0=$(tpb_cpu_ticks "${up[@]}") s0=$(tpb_sys_cpu)
    "$@" || true
    c1=$(tpb_cpu_ticks "${pp[@]}") u1=$(tpb_cpu_ticks "${up[@]}") s1=$(tpb_sys_cpu)
    M_CPU=$(awk -v t=$((c1 - c0)) -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')
    M_UPCPU=$(awk -v t=$((u1 - u0)) -v hz="$HZ" 'BEGIN { printf "%.2f", t / hz }')
    M_BUSY=$(tpb_busy_pct "$s0" "$s1")
}

iperf_srv_start() {
    bench_start "$TPB_SRV" "iperf3-$CUR_PROXY-r$CUR_ROUND" iperf3 -s -B "$TPB_SRV_IP" -p 5201
    IPERF_PID=$BG_PID
    tpb_wait_listen "$TPB_SRV" tcp 5201 10
}

wl_tcp() { # WORKLOAD STREAMS
    local f=$RUN/logs/$1-$CUR_PROXY-r$CUR_ROUND.json
    measure timeout $((DURATION + 30)) ip netns exec "$TPB_CLI" \
        iperf3 -c "$TPB_SRV_IP" -p 5201 -t "$DURATION" -P "$2" -J >"$f" 2>&1
    emit "$1" "$(python3 "$HERE/parse.py" iperf "$f")" "proxy_cpu_s=$M_CPU up_cpu_s=$M_UPCPU busy_pct=$M_BUSY"
}

wl_conn() {
    local f=$RUN/logs/conn-$CUR_PROXY-r$CUR_ROUND.txt
    measure timeout $((DURATION + 30)) ip netns exec "$TPB_CLI" \
        wrk -t2 -c64 -d"${DURATION}s" --latency -H "Connection: close" "http://$TPB_SRV_IP/" >"$f" 2>&1
    emit conn "$(python3 "$HERE/parse.py" wrk "$f")" "proxy_cpu_s=$M_CPU up_cpu_s=$M_UPCPU busy_pct=$M_BUSY"
}

wl_udprr() {
    local r
    if [[ $P_UDP != yes ]]; then emit udprr "skip=$P_UDP"; return; fi
    # shellcheck disable=SC2329 # invoked through measure
    run_rr() {
        r=$(timeout $((DURATION + 20)) ip netns exec "$TPB_CLI" "$UDPRR" rr -s "$TPB_SRV_IP" -p 7 -c 32 \
            -d "$DURATION" -w 1 -l 64 -t 200 2>&1 | tail -n 1)
    }
    r=""
    measure run_rr
    [[ $r == rr_per_s=* ]] || r="error=$(printf '%s' "$r" | tr -c 'A-Za-z0-9_.:-' '_' | cut -c1-60)"
    emit udprr "$r" "proxy_cpu_s=$M_CPU busy_pct=$M_BUSY"
}

wl_udploss() {
    local rate f secs=$(((DURATION + 1) / 2))
    ((secs >= 2)) || secs=2
    for rate in 200M 1G; do
        if [[ $P_UDP != yes ]]; then emit "udploss_$rate" "skip=$P_UDP"; continue; fi
        f=$RUN/logs/udploss_$rate-$CUR_PROXY-r$CUR_ROUND.json
        measure timeout $((secs + 30)) ip netns exec "$TPB_CLI" \
            iperf3 -c "$TPB_SRV_IP" -p 5201 -u -b "$rate" -l 1400 -t "$secs" -J >"$f" 2>&1
        emit "udploss_$rate" "$(python3 "$HERE/parse.py" iperfu "$f")" "proxy_cpu_s=$M_CPU"
        sleep 0.5
    done
}

# wait_ready LOGFILE SECS PID: until the holder printed READY (bounded)
wait_ready() {
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        grep -q '^READY' "$1" 2>/dev/null && return 0
        tpb_alive "$3" || return 1
        sleep 0.1
    done
    return 1
}

# idle RSS, then HOLD_TCP idle relayed connections
wl_mem() {
    local pp idle hold hwm fds est ready log=mem-hold-$CUR_PROXY-r$CUR_ROUND
    if [[ -z $P_PID ]]; then emit mem "skip=no_proxy_process"; return; fi
    mapfile -t pp < <(proxy_pids)
    idle=$(tpb_rss_kb "${pp[@]}")
    bench_start "$TPB_CLI" "$log" timeout 150 python3 "$HERE/holdtcp.py" "$TPB_SRV_IP" 80 "$HOLD_TCP" 120
    local hp=$BG_PID
    if wait_ready "$TPB_LOGDIR/$log.log" 90 "$hp"; then
        sleep 1.5
        mapfile -t pp < <(proxy_pids)
        hold=$(tpb_rss_kb "${pp[@]}") hwm=$(tpb_hwm_kb "${pp[@]}") fds=$(tpb_fds "${pp[@]}")
        est=$(nsx "$TPB_GW" ss -Htn state established 2>/dev/null | wc -l)
        ready=$(grep -m1 '^READY' "$TPB_LOGDIR/$log.log" | sed 's/^READY //; s/ok=/held=/')
        emit mem "rss_idle_kb=$idle rss_hold_kb=$hold hwm_kb=$hwm fds=$fds gw_estab=$est nprocs=${#pp[@]} n=$HOLD_TCP $ready"
    else
        emit mem "rss_idle_kb=$idle error=holder_not_ready"
    fi
    bench_stop "$hp"
}

# a fresh proxy: idle RSS, then UDP_SESSIONS idle UDP sessions
wl_udpmem() {
    local pp idle hold fds ready log=udpmem-hold-$CUR_PROXY-r$CUR_ROUND
    if [[ -z $P_PID ]]; then emit udpmem "skip=no_proxy_process"; return; fi
    if [[ $P_UDP != yes ]]; then emit udpmem "skip=$P_UDP"; return; fi
    proxy_stop
    if ! proxy_start "$CUR_PROXY" "r$CUR_ROUND-udpmem" || ! sanity_udp; then
        emit udpmem "error=restart_failed:${SKIP_WHY:-no_udp_reply}"
        return
    fi
    sleep 0.5
    mapfile -t pp < <(proxy_pids)
    idle=$(tpb_rss_kb "${pp[@]}")
    bench_start "$TPB_CLI" "$log" timeout 150 "$UDPRR" sessions -s "$TPB_SRV_IP" -p 7 -n "$UDP_SESSIONS" -H 120
    local hp=$BG_PID
    if wait_ready "$TPB_LOGDIR/$log.log" 90 "$hp"; then
        sleep 1.5
        mapfile -t pp < <(proxy_pids)
        hold=$(tpb_rss_kb "${pp[@]}") fds=$(tpb_fds "${pp[@]}")
        ready=$(grep -m1 '^READY' "$TPB_LOGDIR/$log.log" | sed 's/^READY //; s/ok=/held=/')
        emit udpmem "rss_idle_kb=$idle rss_hold_kb=$hold fds=$fds n=$UDP_SESSIONS $ready"
    else
        emit udpmem "rss_idle_kb=$idle error=holder_not_ready"
    fi
    bench_stop "$hp"
}

# ------------------------------------------------------------------ scale (issue 9)

# scale_workers: tproxyd's worker PIDs (its session minus the master)
scale_workers() { tpb_session_pids "$P_PID" | awk -v m="$P_PID" '$1 != m'; }

# scale_holder NAME CMD...: one holder in the client namespace (bounded by SCALE_HOLD + 60 s),
# tracked for scale_ready (SC_PIDS, SC_LOGS) and for the calling workload's cleanup (its hp)
scale_holder() {
    local name=$1-$CUR_PROXY-r$CUR_ROUND
    shift
    bench_start "$TPB_CLI" "$name" timeout $((SCALE_HOLD + 60)) "$@"
    SC_PIDS+=("$BG_PID") SC_LOGS+=("$TPB_LOGDIR/$name.log")
    hp+=("$BG_PID")
}

# scale_ready SECS N...: wait (at most SECS) until every holder (SC_LOGS, SC_PIDS; N = its count)
# printed READY or died, then add up their READY lines
# sets SR_OK SR_FAIL SR_SECS (slowest holder) SR_MISSING (holders that never printed READY)
scale_ready() {
    local secs=$1 i k line ok fail t all
    shift
    local -a ns=("$@")
    for ((i = 0; i < secs * 10; i++)); do
        all=1
        for k in "${!SC_LOGS[@]}"; do
            grep -q '^READY' "${SC_LOGS[$k]}" 2>/dev/null && continue
            if tpb_alive "${SC_PIDS[$k]}"; then all=0; fi
        done
        ((all)) && break
        sleep 0.1
    done
    SR_OK=0 SR_FAIL=0 SR_SECS=0 SR_MISSING=0
    for k in "${!SC_LOGS[@]}"; do
        line=$(grep -m1 '^READY' "${SC_LOGS[$k]}" 2>/dev/null) || line=""
        if [[ $line =~ ok=([0-9]+)\ fail=([0-9]+)\ secs=([0-9.]+) ]]; then
            ok=${BASH_REMATCH[1]} fail=${BASH_REMATCH[2]} t=${BASH_REMATCH[3]}
            SR_OK=$((SR_OK + ok)) SR_FAIL=$((SR_FAIL + fail))
            SR_SECS=$(awk -v a="$SR_SECS" -v b="$t" 'BEGIN { print (b > a ? b : a) }')
        else
            SR_MISSING=$((SR_MISSING + 1)) SR_FAIL=$((SR_FAIL + ns[k]))
        fi
    done
}

# scale_restore: the namespaces' settings back, and the row's normal proxy for what follows
# sets SC_STOP (s to stop the scale tproxyd: TERM, after 3 s KILL, until its last process is gone)
scale_restore() {
    local a i old=$P_PID ok=0 t=$SECONDS
    P_SCALE=0
    proxy_stop
    # a tproxyd with 100k sockets may outlive the 3 s of TERM (then KILL) while the kernel closes
    # them: start the next one only when no process and no listener of the old one is left
    # (a new listener would otherwise join the old one's SO_REUSEPORT group)
    for ((i = 0; i < 600; i++)); do
        [[ -z $(tpb_session_pids "$old") && -z $(nsx "$TPB_GW" ss -Hltn "sport = :$TPB_PORT" 2>/dev/null) ]] && break
        sleep 0.1
    done
    SC_STOP=$((SECONDS - t))
    nsx "$TPB_GW" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
    for a in "${SC_ADDRS[@]}"; do
        [[ $a == "$TPB_CLI_IP" ]] || ip -n "$TPB_CLI" addr del "$a/24" dev c0 2>/dev/null || true
    done
    for a in "${SC_EGRESS[@]}"; do
        [[ $a == "$TPB_GWS_IP" ]] || ip -n "$TPB_GW" addr del "$a/24" dev g1 2>/dev/null || true
    done
    SC_EGRESS=()
    if proxy_start "$CUR_PROXY" "r$CUR_ROUND-after-scale"; then
        for ((i = 0; i < 5 && !ok; i++)); do
            if sanity_http; then ok=1; else sleep 1; fi
        done
    fi
    if ((!ok)); then
        tpb_log "WARNING: $CUR_PROXY did not come back after scale (${SKIP_WHY:-no HTTP through it})"
        return 0
    fi
    if [[ $P_UDP == yes ]] && ! sanity_udp; then
        P_UDP=no_udp_reply_through_it
    fi
}

# SCALE_TCP idle relayed TCP connections and SCALE_UDP UDP sessions, held at the same time by a
# tproxyd with SCALE_WORKERS workers (each under the per-process fd limit); then the row's
# normal proxy again
wl_scale() {
    local t0=$SECONDS tag=r$CUR_ROUND-scale i k n ip used lo hi
    local pp wk idle rss_tcp rss hwm est_tcp est srv_est udp0 udps fds f fmax fmin ct ctmax ports
    local tcp_ok tcp_fail tcp_secs tcp_miss udp_ok udp_fail udp_secs udp_miss lw le tlog
    local -a tcp_n=() udp_n=() udp_ip=() hp=()
    SC_ADDRS=()
    if [[ $CUR_PROXY != tproxyd-tproxy ]]; then emit scale "skip=scale_runs_on_tproxyd-tproxy_only"; return; fi
    if [[ -z $P_PID ]]; then emit scale "skip=no_proxy_process"; return; fi
    if [[ $P_UDP != yes ]]; then emit scale "skip=$P_UDP"; return; fi
    if [[ -z $SCALE_NGINX_PID ]] || ! tpb_alive "$SCALE_NGINX_PID"; then emit scale "error=nginx-scale_not_running"; return; fi

    # the split: holders of at most SCALE_FD_BUDGET sockets; UDP holders on client addresses of at
    # most per_ip sessions each (an address has the client's ephemeral ports, 1024-65000)
    n=$(ceil_div "$SCALE_TCP" "$SCALE_TCP_PROCS")
    for ((i = 0, k = SCALE_TCP; i < SCALE_TCP_PROCS && k > 0; i++, k -= n)); do tcp_n+=($((k < n ? k : n))); done
    read -r lo hi < <(nsx "$TPB_CLI" cat /proc/sys/net/ipv4/ip_local_port_range)
    local per_ip=$((hi - lo + 1 - 8000))
    ((per_ip > 50000)) && per_ip=50000
    n=$(ceil_div "$SCALE_UDP" "$SCALE_UDP_PROCS")
    ip=${TPB_CLI_IP##*.} used=0
    for ((i = 0, k = SCALE_UDP; i < SCALE_UDP_PROCS && k > 0; i++, k -= n)); do
        udp_n+=($((k < n ? k : n)))
        if ((used + udp_n[i] > per_ip && used > 0)); then ip=$((ip + 1)) used=0; fi
        used=$((used + udp_n[i]))
        udp_ip+=("${TPB_CLI_IP%.*}.$ip")
    done
    ((ip <= ${TPB_CLI_IP##*.} + 50)) || { emit scale "error=too_many_client_addresses"; return; }

    # a tproxyd with the scale settings (conf/tproxyd-tproxy-scale.conf); a full-cone UDP session
    # holds a gateway port, so one egress address carries < 64,512 sessions: as a real gateway
    # would, give the gateway one more address per SCALE_EGRESS_PER_ADDR sessions on its egress
    # link and list them in redu's sockopts.source
    SC_EGRESS=("$TPB_GWS_IP")
    for ((i = 1; i < $(ceil_div "$SCALE_UDP" "$SCALE_EGRESS_PER_ADDR"); i++)); do
        SC_EGRESS+=("${TPB_GWS_IP%.*}.$((100 + i))")
        ip -n "$TPB_GW" addr replace "${SC_EGRESS[i]}/24" dev g1
    done
    proxy_stop
    P_SCALE=1
    if ! proxy_start "$CUR_PROXY" "$tag" || ! sanity_http || ! sanity_udp; then
        emit scale "error=scale_proxy_failed:${SKIP_WHY:-no_reply_through_it}"
        scale_restore
        return
    fi
    P_SCALE=0
    tlog=$TPB_LOGDIR/$CUR_PROXY-$tag.log
    # limits in the namespaces, as a real gateway raises them: the gateway's UDP ephemeral ports
    # (one per session: tproxyd's upstream sockets) as wide as they go; extra client addresses
    nsx "$TPB_GW" sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
    read -r lo hi < <(nsx "$TPB_GW" cat /proc/sys/net/ipv4/ip_local_port_range)
    ports=$((hi - lo + 1))
    for ip in $(printf '%s\n' "${udp_ip[@]}" | sort -u); do
        SC_ADDRS+=("$ip")
        [[ $ip == "$TPB_CLI_IP" ]] || ip -n "$TPB_CLI" addr replace "$ip/24" dev c0
    done
    sleep 0.5
    mapfile -t pp < <(proxy_pids)
    idle=$(tpb_rss_kb "${pp[@]}")
    udp0=$(timeout 30 ip netns exec "$TPB_GW" ss -Hua 2>/dev/null | wc -l)

    # TCP: all holders at once; each counts a connection once its HTTP response came back
    SC_LOGS=() SC_PIDS=()
    for i in "${!tcp_n[@]}"; do
        scale_holder "scale-tcp$i" \
            python3 "$HERE/holdtcp.py" "$TPB_SRV_IP" "$SCALE_PORT" "${tcp_n[i]}" "$SCALE_HOLD"
    done
    scale_ready 90 "${tcp_n[@]}"
    tcp_ok=$SR_OK tcp_fail=$SR_FAIL tcp_secs=$SR_SECS tcp_miss=$SR_MISSING
    sleep 1
    mapfile -t pp < <(proxy_pids)
    rss_tcp=$(tpb_rss_kb "${pp[@]}")
    est_tcp=$(timeout 30 ip netns exec "$TPB_GW" ss -Htn state established 2>/dev/null | wc -l)

    # UDP, while the TCP connections stay open
    SC_LOGS=() SC_PIDS=()
    for i in "${!udp_n[@]}"; do
        scale_holder "scale-udp$i" \
            "$UDPRR" sessions -s "$TPB_SRV_IP" -p 7 -n "${udp_n[i]}" -H "$SCALE_HOLD" -b "${udp_ip[i]}"
    done
    scale_ready 90 "${udp_n[@]}"
    udp_ok=$SR_OK udp_fail=$SR_FAIL udp_secs=$SR_SECS udp_miss=$SR_MISSING
    sleep 2

    # everything held: count it
    mapfile -t pp < <(proxy_pids)
    rss=$(tpb_rss_kb "${pp[@]}") hwm=$(tpb_hwm_kb "${pp[@]}")
    fds=0 fmax=0 fmin=-1
    mapfile -t wk < <(scale_workers)
    for i in "${wk[@]}"; do
        f=$(tpb_fds "$i")
        fds=$((fds + f))
        if ((f > fmax)); then fmax=$f; fi
        if ((fmin < 0 || f < fmin)); then fmin=$f; fi
    done
    est=$(timeout 30 ip netns exec "$TPB_GW" ss -Htn state established 2>/dev/null | wc -l)
    srv_est=$(timeout 30 ip netns exec "$TPB_SRV" ss -Htn state established "( sport = :$SCALE_PORT )" 2>/dev/null | wc -l)
    udps=$(($(timeout 30 ip netns exec "$TPB_GW" ss -Hua 2>/dev/null | wc -l) - udp0))
    ct=$(nsx "$TPB_GW" cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null) || ct=-
    ctmax=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null) || ctmax=-
    local held=$((SECONDS - t0)) t1 n_egress=${#SC_EGRESS[@]}
    # the holders close their sockets; let tproxyd relay the closes before it is stopped (15 s at most)
    t1=$SECONDS
    bench_stop "${hp[@]}"
    while ((SECONDS - t1 < 15)); do
        (($(timeout 10 ip netns exec "$TPB_GW" ss -Htn state established 2>/dev/null | wc -l) < 100)) && break
        sleep 0.2
    done
    t1=$((SECONDS - t1))
    SC_STOP=-
    scale_restore
    # the scale tproxyd's whole log (a busy worker logs its drops late, after the holders gave up)
    lw=$(grep -c '\[warn\]' "$tlog" 2>/dev/null) || lw=0
    le=$(grep -c '\[error\]' "$tlog" 2>/dev/null) || le=0
    ((lw + le == 0)) || tpb_log "scale: tproxyd logged $le errors, $lw warnings; first: $(grep -m1 -E '\[(warn|error)\]' "$tlog" | cut -c1-300)"
    emit scale "tcp_n=$SCALE_TCP tcp_ok=$tcp_ok tcp_fail=$tcp_fail tcp_procs=${#tcp_n[@]}" \
        "gw_estab_tcp=$est_tcp gw_estab=$est srv_estab=$srv_est" \
        "udp_n=$SCALE_UDP udp_ok=$udp_ok udp_fail=$udp_fail udp_procs=${#udp_n[@]} cli_addrs=${#SC_ADDRS[@]} gw_egress_addrs=$n_egress gw_udp_socks=$udps gw_udp_ports=$ports" \
        "rss_idle_kb=$idle rss_tcp_kb=$rss_tcp rss_kb=$rss hwm_kb=$hwm" \
        "workers=${#wk[@]} nofile=$NOFILE max_sessions=$SCALE_MAX_SESSIONS fds=$fds max_worker_fds=$fmax min_worker_fds=$fmin" \
        "ct_gw=$ct ct_max=$ctmax log_err=$le log_warn=$lw holders_not_ready=$((tcp_miss + udp_miss))" \
        "tcp_secs=$tcp_secs udp_secs=$udp_secs held_at_s=$held holders_stop_s=$t1 proxy_stop_s=$SC_STOP" \
        "secs=$((SECONDS - t0))"
}

run_proxy() { # NAME ROUND
    CUR_PROXY=$1 CUR_ROUND=$2
    local w
    proxy_info "$1" || { tpb_log "unknown proxy $1 (skipped)"; return 0; }
    tpb_log "=== round $2/$ROUNDS: $1 (mode $P_MODE, upstream $P_UP)"
    iperf_srv_start || { emit all "error=iperf3_server_did_not_start"; bench_stop "$IPERF_PID"; return 0; }
    if ! proxy_start "$1" "r$2"; then
        emit all "skip=${SKIP_WHY:-start_failed}"
        proxy_stop
        bench_stop "$IPERF_PID"
        rules_clear
        return 0
    fi
    if ! sanity_http; then
        emit all "skip=no_http_through_it"
        proxy_stop
        bench_stop "$IPERF_PID"
        rules_clear
        return 0
    fi
    if [[ $P_UDP == yes ]] && ! sanity_udp; then
        P_UDP=no_udp_reply_through_it
        tpb_log "$1: no UDP reply through it: UDP rows skipped"
    fi
    sleep 0.5
    for w in mem tcp1 tcp4 conn udprr udploss scale udpmem; do
        has_wl "$w" || continue
        case $w in
        mem) wl_mem ;;
        tcp1) wl_tcp tcp1 1 ;;
        tcp4) wl_tcp tcp4 4 ;;
        conn) wl_conn ;;
        udprr) wl_udprr ;;
        udploss) wl_udploss ;;
        scale) wl_scale ;;
        udpmem) wl_udpmem ;;
        esac
        if [[ -n $P_PID ]] && ! tpb_alive "$P_PID"; then
            tpb_log "WARNING: $1 died during $w (log: $TPB_LOGDIR/$1-r$2.log)"
            emit "died" "after=$w"
            break
        fi
        sleep 0.5
    done
    if [[ -n $P_PID ]]; then
        local pp
        mapfile -t pp < <(proxy_pids)
        emit end "rss_hwm_kb=$(tpb_hwm_kb "${pp[@]}") nprocs=${#pp[@]}"
    fi
    proxy_stop
    bench_stop "$IPERF_PID"
    rules_clear
}

T0=$(date +%s)
tpb_log "2 cores shared: load generators, proxy, upstream, servers and softirq all run on the same $(nproc) CPUs"
for ((r = 1; r <= ROUNDS; r++)); do
    for p in $PROXIES; do
        run_proxy "$p" "$r"
    done
done
tpb_log "measured in $(($(date +%s) - T0)) s"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/versions.txt"

python3 "$HERE/summarize.py" "$TSV" --versions "$RUN/versions.txt" --json "$RUN/summary.json" \
    --markdown "$RUN/table.md" --tproxyd-udp "${TPD_UDP_WHY:-yes}"
tpb_log "results: $RUN/results.tsv (raw), $RUN/summary.json, $RUN/table.md"
