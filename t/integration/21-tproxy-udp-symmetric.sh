#!/usr/bin/env bash
# 21-tproxy-udp-symmetric.sh - redu with nat = "symmetric" (a session per client and destination, as
# GOST's redu): UDP echo byte for byte over IPv4 and IPv6 with the reply's source == the original
# destination, the STUN-style check (a reply from another port of the server must NOT reach the client),
# one client port to two destinations = two sessions in the access log, the session cap (max_sessions
# per worker: the least recently used session is closed, logged and counted); then a reload (SIGHUP) in
# the middle of a live session: the session keeps its NAT mapping (the server sees the same source
# port), because the client's datagrams reach the old worker's connected write-back socket; the old
# worker exits once its sessions expire.
# shellcheck disable=SC2317 # helper functions are called through tpi_check
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

tpi_require_root
tpi_require_cmd python3 nft ss dig dnsmasq
TPROXYD=${TPROXYD:-$TPI_ROOT/build/tproxyd}
[[ -x $TPROXYD ]] || tpi_fail "$TPROXYD not built (run make)"

# shellcheck disable=SC2119
tpi_setup_topology
T=$(tpi_tmpdir)
UDPTOOL=$TPI_ROOT/t/integration/tools/udptool.py
tool() { local ns=$1; shift; tpi_in "$ns" python3 "$UDPTOOL" "$@"; }

cat >"$T/tproxyd.conf" <<CONF
worker_processes = 2;
worker_shutdown_timeout = "20s";
log = { level = "info"; target = "stderr"; };
services = (
  { name = "udp-sym"; addr = ":12345";
    sockopts = { mark = 255; };
    handler  = { type = "redu"; };
    listener = { type = "redu"; ttl = "3s"; nat = "symmetric"; max_sessions = 100; }; }
);
CONF
tpi_check "config passes tproxyd -t" "$TPROXYD" -t -c "$T/tproxyd.conf"

tpi_bg srv dnsmasq --no-daemon --no-resolv --no-hosts --address=/example.test/10.9.9.9 \
    --listen-address="$TPI_SRV4" --listen-address="$TPI_SRV6" --bind-interfaces \
    --pid-file="$T/dnsmasq.pid" >/dev/null
tpi_bg srv python3 "$UDPTOOL" serve 7007 7008 >/dev/null
tpi_wait_port srv udp 53 || tpi_fail "dnsmasq did not start"
tpi_wait_port srv udp 7008 || tpi_fail "echo server did not start"
pid=$(tpi_bg gw "$TPROXYD" -f -c "$T/tproxyd.conf")
LOG=$(tpi_bg_log "$pid")
tpi_wait_port gw udp 12345 || tpi_fail "tproxyd did not start"
tpi_rules_tproxy gw 12345 udp both

logged() { # logged REGEX [SECONDS=6]
    local i
    for ((i = 0; i < ${2:-6} * 10; i++)); do
        grep -Eq -- "$1" "$LOG" && return 0
        sleep 0.1
    done
    echo "no line matching: $1"
    tail -n 20 "$LOG"
    return 1
}
workers() { local k; read -ra k <"/proc/$pid/task/$pid/children"; echo "${#k[@]}"; }
dig_is() {
    local out
    out=$(tpi_in cli dig +time=2 +tries=2 "@$1" example.test A +short) || { echo "$out"; return 1; }
    [[ $out == 10.9.9.9 ]] || { echo "got '$out'"; return 1; }
}

tpi_check "dig @$TPI_SRV4 (IPv4)" dig_is "$TPI_SRV4"
tpi_check "dig @$TPI_SRV6 (IPv6)" dig_is "$TPI_SRV6"
tpi_check "UDP echo IPv4, byte for byte, from the original destination" tool cli echo "$TPI_SRV4" 7007 100 1400
tpi_check "UDP echo IPv6, byte for byte, from the original destination" tool cli echo "$TPI_SRV6" 7007 100 1400
tpi_check "symmetric STUN check IPv4: no reply from the other port" tool cli stun "$TPI_SRV4" 7007 7008 0
tpi_check "symmetric STUN check IPv6: no reply from the other port" tool cli stun "$TPI_SRV6" 7007 7008 0

out=$(tool cli multi "$TPI_SRV4" 7007 7008) || tpi_fail "one client port to two destinations: $out"
tpi_ok "one client port to two destinations"
cport=${out#LOCALPORT=}
tpi_check "... is two sessions (access log)" logged "redu 10\.77\.1\.2:$cport -> 10\.77\.2\.2:7007 nat=symmetric via=direct up=12/1 down=12/1 remotes=1 ms=[0-9]+ end=ttl" 10
tpi_check "... the second one" logged "redu 10\.77\.1\.2:$cport -> 10\.77\.2\.2:7008 nat=symmetric via=direct up=12/1 down=12/1 remotes=1 ms=[0-9]+ end=ttl" 10
tpi_check "symmetric: the filtered reply left the session at one remote" \
    logged "-> 10\.77\.2\.2:7007 nat=symmetric via=direct up=20/1 down=20/1 remotes=1 .*end=ttl"

# ---- the cap: 300 client ports over 2 workers with max_sessions = 100 each
tpi_check "300 sessions through a table capped at 100 per worker" tool cli many "$TPI_SRV4" 7007 300 10
tpi_check "the cap is logged" logged "session table full \(max_sessions 100\): closing the least recently used session"
tpi_check "evicted sessions get an access-log line" logged "nat=symmetric via=direct up=[0-9]+/1 down=[0-9]+/1 remotes=1 ms=[0-9]+ end=evicted \(session table full\)"

# ---- reload in the middle of a live session: 3 rounds 2 s apart, SIGHUP right after round 0
who=$(tpi_bg cli python3 -u "$UDPTOOL" who "$TPI_SRV4" 7008 3 2)
WHO=$(tpi_bg_log "$who")
for ((i = 0; i < 50; i++)); do grep -q "^round 0" "$WHO" && break; sleep 0.1; done
tpi_check "round 0 of the live session answered" grep -q "^round 0" "$WHO"
kill -HUP "$pid"
for ((i = 0; i < 100; i++)); do tpi_alive "$who" || break; sleep 0.1; done
same_mapping() { # "server saw: A | A | A"
    local line
    line=$(grep '^server saw: ' "$WHO") || { cat "$WHO"; return 1; }
    line=${line#server saw: }
    [[ $(tr '|' '\n' <<<"$line" | sed 's/^ *//;s/ *$//' | sort -u | wc -l) -eq 1 ]] || { echo "$line"; return 1; }
}
tpi_check "the session kept its NAT mapping across the reload ($(sed -n 's/^server saw: //p' "$WHO"))" same_mapping
tpi_check "the reload happened" logged "reloading configuration"
tpi_check "the old worker carried all 3 datagrams of that session" \
    logged "redu 10\.77\.1\.2:[0-9]+ -> 10\.77\.2\.2:7008 nat=symmetric via=direct up=15/3 down=[0-9]+/3 remotes=1 .*end=ttl" 10
tpi_check "the old worker drains and exits after the ttl" bash -c \
    "for i in \$(seq 100); do [ \"\$(cat /proc/$pid/task/$pid/children | wc -w)\" = 2 ] && exit 0; sleep 0.1; done; exit 1"
tpi_check "the new workers serve new sessions" tool cli echo "$TPI_SRV6" 7007 20 512
tpi_check "tproxyd did not log any error" bash -c "! grep -q '\[error\]' '$LOG'"
tpi_check "worker count back to 2" test "$(workers)" -eq 2
exit 0
