#!/usr/bin/env bash
# Reload (issue 7): under a steady load of short and long TCP connections
# through a `red` service, 20 reloads in a row produce zero failed or reset
# connections and every long transfer arrives whole; UDP sessions alive at a
# reload still get their (late) replies; adding and removing a service take
# effect on reload.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_setup_topology

TP=$TPI_ROOT/build/tproxyd
TOOLS=$TPI_ROOT/t/integration/tools
T=$(tpi_tmpdir)
conf=$T/tp.conf

write_conf() {   # $1 = idle timeout (changes each reload), $2 = extra service
    cat >"$conf" <<CONF
worker_processes = 2;
pid_file = "$T/tproxyd.pid";
log = { level = "info"; target = "$T/tproxyd.log"; };
services = (
  { name = "red-in"; addr = ":12345"; idle_timeout = "$1";
    handler = { type = "red"; }; listener = { type = "red"; }; },
  { name = "udp-fwd"; addr = ":18053";
    handler = { type = "udp"; }; listener = { type = "udp"; ttl = "20s"; };
    forwarder = { nodes = ( { addr = "$TPI_SRV4:9053"; } ); }; }$2
);
CONF
}
stop_daemon() { [ -f "$T/tproxyd.pid" ] && kill -TERM "$(cat "$T/tproxyd.pid")" 2>/dev/null || true; }
tpi_on_exit stop_daemon

tpi_bg srv python3 "$TOOLS/tcptool.py" server "$TPI_SRV4" 9000 >/dev/null
tpi_bg srv python3 "$TOOLS/udpdelay.py" server "$TPI_SRV4" 9053 2 >/dev/null
tpi_wait_port srv tcp 9000 || tpi_fail "server did not start"
write_conf 5m ""
tpi_in gw "$TP" -c "$conf"
tpi_wait_port gw tcp 12345 || tpi_fail "tproxyd did not start"
tpi_rules_redirect gw 12345 4

tpi_check "traffic before the reloads" \
    tpi_in cli python3 "$TOOLS/tcptool.py" client "$TPI_SRV4" 9000 sink 1000

# UDP requests answered 2 s late, across the reloads.
tpi_in cli python3 "$TOOLS/udpdelay.py" client "$TPI_GW4_CLI" 18053 12 \
    >"$T/udp.out" 2>&1 &
udp=$!
tpi_in cli python3 "$TOOLS/loadgen.py" "$TPI_SRV4" 9000 30 6 4 \
    >"$T/load.out" 2>&1 &
load=$!
sleep 2
for i in $(seq 20); do
    write_conf "$((300 + i))s" ""
    "$TP" -c "$conf" -s reload
    sleep 1
done
rc=0; wait "$load" || rc=$?
cat "$T/load.out"
tpi_check "zero failed connections across 20 reloads (short and long)" test "$rc" -eq 0
tpi_check "short connections really flowed" \
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^short_ok=/) { split($i, a, "="); exit !(a[2] > 500) } }' "$T/load.out"
rc=0; wait "$udp" || rc=$?
cat "$T/udp.out"
tpi_check "UDP replies arriving after reloads still reach the client" test "$rc" -eq 0
tpi_check "20 reloads logged, none failed" \
    bash -c "[ \$(grep -c 'reloading configuration' '$T/tproxyd.log') -eq 20 ] && ! grep -q 'reload failed' '$T/tproxyd.log'"
tpi_check "old generations exit after draining" \
    bash -c "for i in \$(seq 300); do [ \$(ps -o pid= --ppid \$(cat '$T/tproxyd.pid') | wc -l) -eq 2 ] && exit 0; sleep 0.1; done; exit 1"

# Adding a service on reload opens its port; removing it closes it.
write_conf 5m ',
  { name = "extra"; addr = ":18081";
    handler = { type = "tcp"; }; listener = { type = "tcp"; };
    forwarder = { nodes = ( { addr = "'"$TPI_SRV4"':9000"; } ); }; }'
"$TP" -c "$conf" -s reload
tpi_check "added service listens after reload" tpi_wait_port gw tcp 18081 5
tpi_check "added service forwards" \
    tpi_in cli python3 "$TOOLS/tcptool.py" client "$TPI_GW4_CLI" 18081 sink 1000
write_conf 5m ""
"$TP" -c "$conf" -s reload
tpi_check "removed service stops listening after reload" \
    bash -c "for i in \$(seq 100); do [ -z \"\$(ip netns exec $TPI_NS_GW ss -Hltn 'sport = :18081')\" ] && exit 0; sleep 0.1; done; exit 1"
tpi_check "the remaining service still works" \
    tpi_in cli python3 "$TOOLS/tcptool.py" client "$TPI_SRV4" 9000 sink 1000
tpi_ok "reload under load"
