#!/usr/bin/env bash
# Descriptor exhaustion (the developers' guide: "an exhausted fd table ... is logged once, that
# flow is closed cleanly, every other flow goes on, and no worker dies"). One tproxyd worker with
# worker_rlimit_nofile = 64 relays TPROXY TCP; a client keeps 3 echo connections, then opens 80
# more that the server holds, far beyond what 64 descriptors carry. Checks: the keepers echo all
# along, the worker logs the exhaustion once per episode (not once per attempt) and says when it
# takes connections again, every flow it gave up on has an access-log line, a fresh connection
# echoes once the flood is closed, and the worker is the same process at the end.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_require_cmd nft python3
# shellcheck disable=SC2119 # default prefix (from the script name)
tpi_setup_topology

TP=${TPROXYD:-$TPI_ROOT/build/tproxyd}
TCPTOOL=$TPI_ROOT/t/integration/tools/tcptool.py
REDTOOL=$TPI_ROOT/t/integration/tools/redtool.py
T=$(tpi_tmpdir)
LOG=$T/tproxyd.log
CONF=$T/fd.conf
PORT=12345
NOFILE=64
FLOOD=80

cat >"$CONF" <<CONF
worker_processes = 1;
worker_rlimit_nofile = $NOFILE;
log = { level = "info"; target = "$LOG"; };
services = (
  { name = "fd-in"; addr = ":$PORT";
    handler  = { type = "red"; tproxy = true; };
    listener = { type = "red"; tproxy = true; }; }
);
CONF

ulimit -n 4096 2>/dev/null || true
tpi_bg srv python3 "$TCPTOOL" server :: 9001 >/dev/null
tpi_wait_port srv tcp 9001 || tpi_fail "tcptool server did not start"
tpi_check "tproxyd -t accepts the config" "$TP" -t -c "$CONF"
TP_PID=$(tpi_bg gw "$TP" -f -c "$CONF")
tpi_wait_port gw tcp "$PORT" || tpi_fail "tproxyd does not listen on :$PORT"
tpi_rules_tproxy gw "$PORT" tcp 4

worker_pid() { pgrep -P "$TP_PID" | head -n 1; }
W0=$(worker_pid)
[[ -n $W0 ]] || tpi_fail "no worker process"
tpi_check "the worker runs with RLIMIT_NOFILE $NOFILE" \
    bash -c "grep -E '^Max open files +$NOFILE ' /proc/$W0/limits"
tpi_diag "worker $W0: $(find "/proc/$W0/fd" -mindepth 1 | wc -l) descriptors open at rest"

out=$T/exhaust.out
if tpi_in cli python3 "$REDTOOL" exhaust "$TPI_SRV4" 9001 3 "$FLOOD" 4 >"$out" 2>&1; then
    tpi_ok "keepers echo before, during and after the flood; a fresh flow echoes after it"
else
    tpi_fail "exhaust: $(cat "$out")"
fi
tpi_diag "client: $(cat "$out")"
sleep 5.2   # an accept 5 s after the last failure (TP_STARVED_QUIET_MS) ends the episode
tpi_check "a fresh connection echoes after the episode" \
    tpi_in cli python3 "$REDTOOL" --timeout 10 conc "$TPI_SRV4" 9001 1

n_warn=$(grep -c 'accept: Too many open files' "$LOG" || true)
tpi_diag "exhaustion warnings: $n_warn; $(grep -m1 'accept: Too many open files' "$LOG" | sed 's/^.*\] //')"
tpi_check "the worker ran out of descriptors and said so" test "$n_warn" -ge 1
tpi_check "... once for the episode, not once per attempt" test "$n_warn" -eq 1
tpi_check "... and logged when it took connections again" \
    grep -q 'accepting connections again' "$LOG"
tpi_diag "$(grep -m1 'accepting connections again' "$LOG" | sed 's/^.*\] //')"
# keepers: "echo\n" + before-N\n + during-N\n + after-N\n up, the three lines echoed down
tpi_check "the 3 keepers' flows, across the exhaustion, logged with their exact bytes" \
    test "$(grep -cE 'fd-in .* up=31 down=26 ms=[0-9]+ end=done' "$LOG")" -eq 3
tpi_check "flows given up for want of descriptors are logged, one line each (end=...)" \
    bash -c "! grep -E 'fd-in .* -> .* end=' '$LOG' | grep -vqE 'end=(done|client-reset|upstream-reset|dial-failed|client-closed)'"
# (No count-for-count check against the client's closed flows: the kernel may also reset
# flows still queued for accept, and a dial may fail just after the client looked.)
tpi_diag "$(grep -cE 'fd-in .* end=dial-failed' "$LOG" || true) flows ended dial-failed, $(grep -cE 'fd-in .* end=done' "$LOG" || true) done; the client saw $(sed -n 's/.* closed=\([^u]*\) unsent.*/\1/p' "$out") closed"
tpi_check "the same worker process at the end (no crash, no respawn)" test "$(worker_pid)" = "$W0"
tpi_check "tproxyd master still running" tpi_alive "$TP_PID"
tpi_check "nothing above warn logged but the exhaustion itself" \
    bash -c "! grep -E '\\[(error|crit|alert|emerg)\\]' '$LOG'"
tpi_ok "descriptor exhaustion: logged once, other flows go on, recovery"
