#!/usr/bin/env bash
# Core (issue 2): the real daemon, daemonized with a pid file, forwards TCP
# and UDP between namespaces; a 100 MB transfer arrives whole; half-close
# works both ways; every signal does what it says; a bad config is refused
# with file:line; a killed worker is respawned; QUIT lets a transfer finish.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_setup_topology

TP=$TPI_ROOT/build/tproxyd
TOOL=$TPI_ROOT/t/integration/tools/tcptool.py
T=$(tpi_tmpdir)
conf=$T/fwd.conf

write_conf() {   # $1 = worker count
    cat >"$conf" <<CONF
worker_processes = $1;
pid_file = "$T/tproxyd.pid";
worker_shutdown_timeout = "20s";
log = { level = "info"; target = "$T/tproxyd.log"; };
services = (
  { name = "fwd-tcp"; addr = ":18080";
    handler = { type = "tcp"; }; listener = { type = "tcp"; };
    forwarder = { nodes = ( { addr = "$TPI_SRV4:9000"; } ); }; },
  { name = "fwd-udp"; addr = ":18053";
    handler = { type = "udp"; }; listener = { type = "udp"; ttl = "5s"; };
    forwarder = { nodes = ( { addr = "$TPI_SRV4:9053"; } ); }; }
);
CONF
}

master_pid() { cat "$T/tproxyd.pid"; }
workers() { ps -o pid= --ppid "$(master_pid)" | wc -l; }
wait_workers() {   # $1 = count
    for _ in $(seq 100); do
        [ "$(workers)" -eq "$1" ] && return 0
        sleep 0.1
    done
    return 1
}
stop_daemon() {
    if [ -f "$T/tproxyd.pid" ]; then
        kill -TERM "$(master_pid)" 2>/dev/null || true
    fi
}
tpi_on_exit stop_daemon

tpi_bg srv python3 "$TOOL" server "$TPI_SRV4" 9000 >/dev/null
tpi_bg srv socat UDP-RECVFROM:9053,bind="$TPI_SRV4",fork EXEC:cat >/dev/null
tpi_wait_port srv tcp 9000 || tpi_fail "tcp server did not start"

# A broken config is refused with file:line and the setting.
printf 'services = ( { name = "x"; addr = ":1";\n  handler = { type = "tcp"; bogus = 1; };\n  listener = { type = "tcp"; }; } );\n' >"$T/bad.conf"
tpi_check "-t refuses a bad config with file:line" \
    bash -c "! '$TP' -t -c '$T/bad.conf' 2>'$T/bad.err' && grep -q '$T/bad.conf:2: services\[0\].handler.bogus: unknown setting' '$T/bad.err'"

write_conf 2
tpi_check "-t accepts the config" "$TP" -t -c "$conf"
tpi_in gw "$TP" -c "$conf"        # daemonizes
for _ in $(seq 50); do [ -s "$T/tproxyd.pid" ] && break; sleep 0.1; done
tpi_check "pid file written" test -s "$T/tproxyd.pid"
tpi_check "2 workers running" wait_workers 2
tpi_wait_port gw tcp 18080 || tpi_fail "tproxyd does not listen"

tpi_check "100 MB forwarded whole (sha256)" \
    tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 sink 100000000
tpi_check "half-close client->server: reply still arrives" \
    tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 sink 1000
tpi_check "half-close server->client: client can still send" \
    tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 source 5000000 "$T/src.result"
tpi_check "UDP echo through the forwarder" \
    bash -c "[ \"\$(echo udp-hello | ip netns exec $TPI_NS_CLI timeout 5 socat - UDP:$TPI_GW4_CLI:18053)\" = udp-hello ]"
tpi_check "access log has one line per flow with bytes and outcome" \
    grep -qE 'fwd-tcp .* up=100000005 down=[0-9]+ ms=[0-9]+ end=done' "$T/tproxyd.log"

# USR1 / -s reopen: the log file is reopened after rotation.
mv "$T/tproxyd.log" "$T/tproxyd.log.1"
"$TP" -c "$conf" -s reopen
sleep 0.5
tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 sink 10 >/dev/null
tpi_check "-s reopen: new log file gets the next flow" \
    bash -c "for i in \$(seq 50); do grep -q 'end=done' '$T/tproxyd.log' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"

# A killed worker is respawned.
victim=$(ps -o pid= --ppid "$(master_pid)" | head -n 1 | tr -d ' ')
kill -KILL "$victim"
sleep 0.5
tpi_check "killed worker respawned" wait_workers 2
tpi_check "respawn is logged" grep -q "killed by signal 9; respawning" "$T/tproxyd.log"
tpi_check "traffic after respawn" \
    tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 sink 100000

# HUP with a broken config keeps the old one running.
cp "$conf" "$T/good.conf"
cp "$T/bad.conf" "$conf"
"$TP" -c "$T/good.conf" -s reload
sleep 0.5
tpi_check "bad reload is logged with file:line" \
    grep -q "reload failed, keeping the running configuration: $conf:2:" "$T/tproxyd.log"
tpi_check "still 2 workers after a bad reload" wait_workers 2
tpi_check "traffic after a bad reload" \
    tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 sink 100000

# HUP with a good config changing worker_processes.
write_conf 3
"$TP" -c "$conf" -s reload
tpi_check "reload to 3 workers" wait_workers 3
tpi_check "traffic after reload" \
    tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 sink 1000000

# QUIT during a transfer: it finishes whole, then the master exits.
tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 slowsink 20000000 3 \
    >"$T/slow.out" 2>&1 &
slow=$!
sleep 1
mpid=$(master_pid)
"$TP" -c "$conf" -s quit
tpi_check "transfer in flight during -s quit completes whole" wait "$slow"
tpi_check "master exits after the drain" \
    bash -c "for i in \$(seq 100); do kill -0 $mpid 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
tpi_check "pid file removed" test ! -e "$T/tproxyd.pid"

# -s stop: fast stop.
tpi_in gw "$TP" -c "$conf"
for _ in $(seq 50); do [ -s "$T/tproxyd.pid" ] && break; sleep 0.1; done
mpid=$(master_pid)
"$TP" -c "$conf" -s stop
tpi_check "-s stop ends the master" \
    bash -c "for i in \$(seq 50); do kill -0 $mpid 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
# QUIT while a killed worker waits out its respawn back-off: the master
# must not wait for a worker that will never come.
tpi_in gw "$TP" -c "$conf"
for _ in $(seq 50); do [ -s "$T/tproxyd.pid" ] && break; sleep 0.1; done
tpi_check "workers up again" wait_workers 3
mpid=$(master_pid)
kill -KILL "$(ps -o pid= --ppid "$mpid" | head -n 1 | tr -d ' ')"
"$TP" -c "$conf" -s quit
tpi_check "QUIT during a respawn back-off still ends the master" \
    bash -c "for i in \$(seq 100); do kill -0 $mpid 2>/dev/null || exit 0; sleep 0.1; done; exit 1"
tpi_ok "core forwarding and signals"
