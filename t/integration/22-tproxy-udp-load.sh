#!/usr/bin/env bash
# 22-tproxy-udp-load.sh - redu under load: 10,000 concurrent sessions (10,000 client ports, each
# answered through the gateway), the memory per idle session (the workers' RSS with the 10k sessions
# minus the idle workers, from /proc/PID/status; printed), fds per session; then a flood of 200,000
# bogus datagrams to random ports and addresses (4 senders, new source port every 100, bounded to 10 s)
# while an established session keeps talking to an echo server (must not starve: >= 95% answered,
# p99 < 500 ms) and a second probe opens a new session every 5 datagrams (reported; most must work);
# the workers must survive and serve afterwards.
# Two workers (the reuseport hash splits the clients), so each stays well inside a 20,000-fd limit.
# shellcheck disable=SC2317 # helper functions are called through tpi_check
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

tpi_require_root
tpi_require_cmd python3 nft ss
TPROXYD=${TPROXYD:-$TPI_ROOT/build/tproxyd}
[[ -x $TPROXYD ]] || tpi_fail "$TPROXYD not built (run make)"
SESSIONS=${TPI_UDP_SESSIONS:-10000}
FLOOD=${TPI_UDP_FLOOD:-200000}

# shellcheck disable=SC2119
tpi_setup_topology
T=$(tpi_tmpdir)
UDPTOOL=$TPI_ROOT/t/integration/tools/udptool.py
tool() { local ns=$1; shift; tpi_in "$ns" python3 "$UDPTOOL" "$@"; }

cat >"$T/tproxyd.conf" <<CONF
worker_processes = 2;
log = { level = "notice"; target = "stderr"; };
services = (
  { name = "udp-load"; addr = ":12345";
    sockopts = { mark = 255; };
    handler  = { type = "redu"; };
    listener = { type = "redu"; ttl = "60s"; max_sessions = 65536; }; }
);
CONF
tpi_bg srv python3 "$UDPTOOL" serve 7007 >/dev/null
tpi_bg srv python3 "$UDPTOOL" serve 7009 >/dev/null    # for the probes: not crowded by the 10k
tpi_wait_port srv udp 7007 || tpi_fail "echo server did not start"
tpi_wait_port srv udp 7009 || tpi_fail "echo server did not start"
pid=$(tpi_bg gw "$TPROXYD" -f -c "$T/tproxyd.conf")
LOG=$(tpi_bg_log "$pid")
tpi_wait_port gw udp 12345 || tpi_fail "tproxyd did not start"
tpi_rules_tproxy gw 12345 udp 4
hard=$(ulimit -Hn)
[[ $hard == unlimited ]] || ((hard >= SESSIONS + 2000)) ||
    tpi_skip "RLIMIT_NOFILE hard limit $hard is too low for $SESSIONS sessions over 2 workers"

workers=()
for ((i = 0; i < 50; i++)); do
    read -ra workers <"/proc/$pid/task/$pid/children" || true
    ((${#workers[@]} == 2)) && break
    sleep 0.1
done
((${#workers[@]} == 2)) || tpi_fail "expected 2 worker processes, got: ${workers[*]}"
rss() { # kB, summed over the workers
    local w t=0
    for w in "${workers[@]}"; do t=$((t + $(awk '/^VmRSS:/ { print $2 }' "/proc/$w/status"))); done
    echo "$t"
}
nfds() {
    local w t=0
    for w in "${workers[@]}"; do t=$((t + $(find "/proc/$w/fd" -mindepth 1 -maxdepth 1 | wc -l))); done
    echo "$t"
}
alive() { local w; for w in "${workers[@]}"; do tpi_alive "$w" || return 1; done; }

# ---- 10k concurrent sessions
tpi_check "warm-up: one session answers" tool cli echo "$TPI_SRV4" 7007 5 512
rss0=$(rss) fd0=$(nfds)
start=$SECONDS
out=$(timeout 120 ip netns exec "$TPI_NS_CLI" python3 "$UDPTOOL" many "$TPI_SRV4" 7007 "$SESSIONS" 200) ||
    tpi_fail "$SESSIONS concurrent sessions: $out"
tpi_ok "$SESSIONS concurrent sessions: $out"
tpi_check "... within 60 s" test $((SECONDS - start)) -le 60
sleep 1
rss1=$(rss) fd1=$(nfds)
per=$(((rss1 - rss0) * 1024 / SESSIONS))
fdper=$(awk -v a="$fd0" -v b="$fd1" -v n="$SESSIONS" 'BEGIN { printf "%.2f", (b - a) / n }')
tpi_diag "memory: workers' VmRSS idle ${rss0} kB, with $SESSIONS idle sessions ${rss1} kB"
tpi_diag "memory per idle session: $per bytes of worker RSS (user space; plus the kernel's memory for $fdper fd/session)"
tpi_diag "fds: $fd0 idle, $fd1 with $SESSIONS sessions (an upstream socket each; write-back: 1 shared + <= 16 connected per remote per worker)"
tpi_check "each idle session costs under 1 KiB of worker RSS" test "$per" -lt 1024
tpi_check "one fd per session (its upstream socket), plus a bounded few for write-back" \
    test $((fd1 - fd0)) -le $((SESSIONS + 2 * 17 + 4))

# ---- flood vs. a live probe
probe=$(tpi_bg cli python3 -u "$UDPTOOL" probe "$TPI_SRV4" 7009 8 0.01 0 0.95 500)
probe2=$(tpi_bg cli python3 -u "$UDPTOOL" probe "$TPI_SRV4" 7009 8 0.05 5 0.5 5000)
sleep 1
fl=()
for ((k = 0; k < 4; k++)); do   # 4 senders in parallel, FLOOD/4 datagrams each, at most 10 s
    fl+=("$(tpi_bg cli python3 "$UDPTOOL" flood "$TPI_SRV4,203.0.113.0/24" $((FLOOD / 4)) 10 100)")
done
for ((i = 0; i < 150; i++)); do
    left=0
    for f in "${fl[@]}"; do if tpi_alive "$f"; then left=1; fi; done
    ((left)) || break
    sleep 0.1
done
total=0 took=0
for f in "${fl[@]}"; do
    line=$(grep '^flood:' "$(tpi_bg_log "$f")") || tpi_fail "flood sender $f gave no result"
    [[ $line =~ flood:\ ([0-9]+)\ datagrams.*in\ ([0-9.]+)s ]] || tpi_fail "flood: $line"
    total=$((total + BASH_REMATCH[1]))
    took=$(awk -v a="$took" -v b="${BASH_REMATCH[2]}" 'BEGIN { print (b > a) ? b : a }')
done
tpi_ok "flood: $total bogus datagrams to random ports/addresses in ${took}s (4 senders, new source port every 100)"
for ((i = 0; i < 150; i++)); do tpi_alive "$probe" || tpi_alive "$probe2" || break; sleep 0.1; done
pres=$(grep '^probe:' "$(tpi_bg_log "$probe")" || true)
pres2=$(grep '^probe:' "$(tpi_bg_log "$probe2")" || true)
probe_ok() { # probe_ok RESULT MIN-RATIO MAX-P99
    local sent recv p99
    [[ $1 =~ sent=([0-9]+)\ recv=([0-9]+).*p99=([0-9.]+) ]] || { echo "no probe result"; return 1; }
    sent=${BASH_REMATCH[1]} recv=${BASH_REMATCH[2]} p99=${BASH_REMATCH[3]}
    awk -v r="$recv" -v s="$sent" -v m="$2" 'BEGIN { exit !(r >= s * m) }' || { echo "answered $recv of $sent"; return 1; }
    awk -v p="$p99" -v m="$3" 'BEGIN { exit !(p < m) }' || { echo "p99 $p99 ms"; return 1; }
}
tpi_check "an established session was not starved by the flood: $pres" probe_ok "$pres" 0.95 500
tpi_check "new sessions opened during the flood mostly work: $pres2" probe_ok "$pres2" 0.5 5000
tpi_check "the workers survived the flood" alive
tpi_check "sessions still answer after the flood" tool cli echo "$TPI_SRV4" 7007 20 1200
tpi_check "tproxyd did not log any error" bash -c "! grep -q '\[error\]' '$LOG'"
tpi_diag "workers' RSS after the flood: $(rss) kB, fds: $(nfds)"
tpi_kill "$pid"
grep -E 'udp sessions=|dropped a datagram' "$LOG" | tail -n 4 | sed 's/^/# /'
exit 0
