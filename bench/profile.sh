#!/usr/bin/env bash
# bench/profile.sh - profile tproxyd under one bench workload, in a topology of its own
# (namespaces tpp-cli/-gw/-srv, so it can run while bench/run.sh has tpb-* up).
#
# usage: bench/profile.sh perf|strace|heap [conn|tcp1|tcp4|udprr|udp200|udp1g|hold] [redirect|tproxy]
#   perf    perf record -a (cpu-clock, 999 Hz, call graphs) over the workload; writes
#           perf-all.txt (by command/dso/symbol) and perf-tproxyd.txt (tproxyd's own samples)
#   strace  strace -c -f on the workers over the workload: syscalls per connection / per GB
#   heap    heaptrack attached to each worker while HOLD_TCP connections are held idle
#           (workload forced to hold): the allocation sites that stay per connection
# Every run also writes udp-counters.txt: the Udp lines of /proc/net/snmp in each namespace,
# before and after (where UDP datagrams were dropped: RcvbufErrors, InErrors, ...).
# env: DURATION=8 HOLD_TCP=2000 TPROXYD=build/tproxyd TPROXYD_WORKERS=2
#      OUT=build/bench/profile-<tool>-<workload>-<mode>-<time>
# Root only; uses the packages of `make bench` plus linux-perf / strace / heaptrack.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TOOL=${1:-perf} WL=${2:-conn} MODE=${3:-tproxy}
[[ $TOOL == heap ]] && WL=hold
DURATION=${DURATION:-8}
HOLD_TCP=${HOLD_TCP:-2000}
TPROXYD=${TPROXYD:-$ROOT/build/tproxyd}
TPROXYD_WORKERS=${TPROXYD_WORKERS:-2}
OUT=${OUT:-$ROOT/build/bench/profile-$TOOL-$WL-$MODE-$(date +%Y%m%d-%H%M%S)}

case $TOOL in perf | strace | heap) ;; *) sed -n '2,15p' "$0"; exit 2 ;; esac
case $WL in conn | tcp1 | tcp4 | udprr | udp200 | udp1g | hold) ;; *) sed -n '2,15p' "$0"; exit 2 ;; esac
case $MODE in redirect | tproxy) ;; *) sed -n '2,15p' "$0"; exit 2 ;; esac
if ! [[ $DURATION =~ ^[0-9]+$ ]] || ((DURATION == 0 || DURATION > 60)); then
    echo "DURATION: 1..60" >&2
    exit 2
fi
[[ $(id -u) == 0 ]] || { echo "profile.sh: needs root" >&2; exit 1; }
need=(perf)
[[ $TOOL == strace ]] && need=(strace)
[[ $TOOL == heap ]] && need=(heaptrack heaptrack_print)
for c in "${need[@]}" ip nft iperf3 wrk nginx python3 cc; do
    command -v "$c" >/dev/null 2>&1 || { echo "profile.sh: '$c' is missing" >&2; exit 1; }
done
[[ -x $TPROXYD ]] || { echo "profile.sh: $TPROXYD is not built" >&2; exit 1; }

mkdir -p "$OUT"
TPB_PREFIX=tpp
TPB_LOGDIR=$OUT
TPB_PIDFILE=$OUT/pids
TPB_RULES=$ROOT/contrib/tproxyd-rules
: >"$TPB_PIDFILE"
# shellcheck source-path=SCRIPTDIR
. "$HERE/lib.sh"

cleanup() {
    local rc=$? pids
    trap - EXIT INT TERM
    mapfile -t pids <"$TPB_PIDFILE" 2>/dev/null || pids=()
    ((${#pids[@]})) && tpb_kill "${pids[@]}"
    topo_down
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)
UDPRR=$OUT/udprr
cc -O2 -Wall -Wextra -std=gnu11 -o "$UDPRR" "$HERE/udprr.c"
topo_up
tpb_nginx_conf "$OUT/nginx.conf" "$OUT" "$NOFILE"
bench_start "$TPB_SRV" nginx nginx -c "$OUT/nginx.conf" -g "daemon off;"
bench_start "$TPB_SRV" echo "$UDPRR" echo -b "$TPB_SRV_IP" -p 7
bench_start "$TPB_SRV" iperf3 iperf3 -s -B "$TPB_SRV_IP" -p 5201
for p in 80 5201; do tpb_wait_listen "$TPB_SRV" tcp "$p" 10 || { echo "server :$p did not start" >&2; exit 1; }; done

udp=no
[[ $MODE == tproxy && $WL == udp* ]] && udp=yes
tpb_tproxyd_conf "$OUT/tproxyd.conf" "$MODE" "$TPROXYD_WORKERS" none "$udp" "$NOFILE"
bench_start "$TPB_GW" tproxyd "$TPROXYD" -f -c "$OUT/tproxyd.conf"
TPD_PID=$BG_PID
tpb_wait_listen "$TPB_GW" tcp "$TPB_PORT" 10 || { cat "$OUT/tproxyd.log" >&2; exit 1; }
rules_apply "$MODE" "$udp"
[[ $(nsx "$TPB_CLI" curl -s -m 5 "http://$TPB_SRV_IP/") == ok ]] || { echo "no HTTP through tproxyd" >&2; exit 1; }
sleep 0.5
mapfile -t WORKERS < <(tpb_session_pids "$TPD_PID" | grep -vx "$TPD_PID")
echo "tproxyd master $TPD_PID, workers ${WORKERS[*]}; $TOOL over $WL ($MODE), output in $OUT" >&2

run_workload() { # -> $OUT/workload.txt
    case $WL in
    conn) timeout $((DURATION + 20)) ip netns exec "$TPB_CLI" wrk -t2 -c64 -d"${DURATION}s" --latency \
        -H "Connection: close" "http://$TPB_SRV_IP/" ;;
    tcp1) timeout $((DURATION + 20)) ip netns exec "$TPB_CLI" iperf3 -c "$TPB_SRV_IP" -t "$DURATION" ;;
    tcp4) timeout $((DURATION + 20)) ip netns exec "$TPB_CLI" iperf3 -c "$TPB_SRV_IP" -t "$DURATION" -P 4 ;;
    udprr) timeout $((DURATION + 20)) ip netns exec "$TPB_CLI" "$UDPRR" rr -s "$TPB_SRV_IP" -p 7 -c 32 \
        -d "$DURATION" -w 0 ;;
    udp200 | udp1g) timeout $((DURATION + 20)) ip netns exec "$TPB_CLI" iperf3 -c "$TPB_SRV_IP" -u -l 1400 \
        -b "$([[ $WL == udp200 ]] && echo 200M || echo 1G)" -t "$DURATION" ;;
    hold) timeout $((DURATION + 90)) ip netns exec "$TPB_CLI" python3 "$HERE/holdtcp.py" "$TPB_SRV_IP" 80 \
        "$HOLD_TCP" "$DURATION" ;;
    esac >"$OUT/workload.txt" 2>&1 || true
}

udp_counters() { # LABEL: the Udp lines of /proc/net/snmp in each namespace
    local ns
    for ns in "$TPB_CLI" "$TPB_GW" "$TPB_SRV"; do
        printf '%s %s ' "$1" "$ns"
        # shellcheck disable=SC2016 # awk fields
        nsx "$ns" awk '/^Udp:/ { if (h) print substr($0, 6); h = 1 }' /proc/net/snmp
    done
}
{
    # shellcheck disable=SC2016 # awk fields
    nsx "$TPB_CLI" awk '/^Udp:/ { print "label ns " substr($0, 6); exit }' /proc/net/snmp
    udp_counters before
} >"$OUT/udp-counters.txt"
# shellcheck disable=SC2154 # prc is set inside the trap
trap 'prc=$?; udp_counters after >>"$OUT/udp-counters.txt"; (exit "$prc"); cleanup' EXIT

case $TOOL in
perf)
    timeout $((DURATION + 30)) perf record -q -F 999 -e cpu-clock -g -a -o "$OUT/perf.data" \
        -- sleep $((DURATION + 1)) 2>"$OUT/perf-record.err" &
    PERF=$!
    sleep 0.3
    run_workload
    wait "$PERF" || true
    perf report -i "$OUT/perf.data" --no-children --sort comm,dso,sym --stdio --percent-limit 0.3 \
        2>/dev/null | grep -v '^$' >"$OUT/perf-all.txt" || true
    perf report -i "$OUT/perf.data" --no-children --comms tproxyd --sort sym --stdio -g none \
        --percent-limit 0.3 2>/dev/null | grep -v '^$' >"$OUT/perf-tproxyd.txt" || true
    perf report -i "$OUT/perf.data" --no-children --sort comm --stdio -g none 2>/dev/null |
        grep -v '^$' >"$OUT/perf-comm.txt" || true
    ;;
strace)
    args=()
    for p in "${WORKERS[@]}"; do args+=(-p "$p"); done
    strace -c -f -o "$OUT/strace.txt" "${args[@]}" 2>/dev/null &
    ST=$!
    sleep 0.5
    run_workload
    kill -INT "$ST" 2>/dev/null || true
    wait "$ST" 2>/dev/null || true
    ;;
heap)
    HT=()
    for p in "${WORKERS[@]}"; do
        # this heaptrack takes no -o with -p: it writes heaptrack.tproxyd.PID.zst in the cwd
        (cd "$OUT" && exec heaptrack -p "$p") >"$OUT/heaptrack-$p.log" 2>&1 &
        HT+=("$!")
    done
    sleep 3
    run_workload
    ;;
esac

grep -E "Requests/sec|Latency|sender|receiver|rr_per_s|READY|99%" "$OUT/workload.txt" >&2 || true
if [[ $TOOL == heap ]]; then
    # heaptrack stops recording when the worker exits: stop tproxyd now
    bench_stop "$TPD_PID"
    for h in "${HT[@]}"; do timeout 60 tail --pid="$h" -f /dev/null || true; done
    for f in "$OUT"/heaptrack.*.zst "$OUT"/heaptrack.*.gz; do
        [[ -e $f ]] || continue
        heaptrack_print -f "$f" --print-peaks 1 --print-allocators 0 --print-temporary 0 --print-leaks 0 \
            -n 12 -s 0 >"${f%.*}.txt" 2>/dev/null || true
    done
fi
echo "profile written to $OUT" >&2
ls "$OUT" >&2
