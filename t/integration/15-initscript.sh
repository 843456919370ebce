#!/usr/bin/env bash
# 15-initscript.sh - the init files in contrib/ against the real daemon (issue 7).
#
# contrib/tproxyd.init (sysvinit, LSB) runs inside the gateway namespace with
# DAEMON/CONF pointing at the build tree, once through start-stop-daemon and
# once through its plain-kill path: status (3 stopped, 0 running, 1 stale pid
# file), configtest (ok; a broken file -> non-zero with file:line), start
# (pid file, workers, traffic cli -> gw -> srv), start again (no second
# master), reload (same master, worker_processes 2 -> 3 takes effect,
# traffic), reload/restart with a broken file (refused, the daemon is
# untouched), restart (a new master), stop (graceful: a transfer in flight
# completes; master and workers gone, pid file removed).
# contrib/tproxyd.openrc's functions (sourced with stand-ins for OpenRC's
# ebegin/eend): configtest and reload. contrib/tproxyd.logrotate (a copy
# pointing at the temp dir) with logrotate(8): the rotated file is reopened.
# contrib/tproxyd.service: systemd-analyze verify, when systemd-analyze is
# there. shellcheck on the scripts, when shellcheck is there.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_require_cmd python3 ps
# shellcheck disable=SC2119 # no argument: default prefix derived from the script name
tpi_setup_topology

TP=${TPROXYD:-$TPI_ROOT/build/tproxyd}
INIT=$TPI_ROOT/contrib/tproxyd.init
OPENRC=$TPI_ROOT/contrib/tproxyd.openrc
LOGROTATE=$TPI_ROOT/contrib/tproxyd.logrotate
UNIT=$TPI_ROOT/contrib/tproxyd.service
TOOL=$TPI_ROOT/t/integration/tools/tcptool.py
T=$(tpi_tmpdir)
conf=$T/tproxyd.conf
pidfile=$T/run/tproxyd.pid
mkdir -p "$T/run" "$T/log"
[[ -x $TP ]] || tpi_fail "$TP is missing: run make first"

write_conf() {   # $1 = worker_processes
    cat >"$conf" <<CONF
worker_processes = $1;
pid_file = "$pidfile";
worker_shutdown_timeout = "20s";
log = { level = "info"; target = "$T/log/tproxyd.log"; };
services = (
  { name = "fwd-tcp"; addr = ":18080";
    handler = { type = "tcp"; }; listener = { type = "tcp"; };
    forwarder = { nodes = ( { addr = "$TPI_SRV4:9000"; } ); }; }
);
CONF
}
break_conf() {   # an unknown setting on line 2
    sed -i '2i bogus_setting = 1;' "$conf"
}

SSD_MODE=
n_out=0
# initd VERB: run the sysvinit script in the gateway namespace; its output
# goes to a file (the daemon keeps the descriptors it was started with).
initd() {
    n_out=$((n_out + 1))
    init_out=$T/init-$n_out.out
    ip netns exec "$TPI_NS_GW" env -i PATH="$PATH" DAEMON="$TP" CONF="$conf" \
        TPROXYD_DEFAULTS=/dev/null SSD="$SSD_MODE" sh "$INIT" "$@" >"$init_out" 2>&1 </dev/null
}
# expect_rc RC VERB: the script exits with RC; its output is shown on failure
expect_rc() {
    local want=$1 rc=0
    shift
    initd "$@" || rc=$?
    if [[ $rc != "$want" ]]; then
        echo "tproxyd.init $*: exit $rc, expected $want; it printed:"
        cat "$init_out"
        return 1
    fi
}
out_has() { grep -q -- "$1" "$init_out" || { echo "no '$1' in:"; cat "$init_out"; return 1; }; }

master_pid() { tr -cd 0-9 2>/dev/null <"$pidfile"; }
alive() { tpi_alive "$1"; }
workers_of() { ps -o pid= --ppid "$1" | wc -l; }
wait_workers() {   # MASTER COUNT: exactly COUNT workers within 10 s
    for _ in $(seq 100); do
        [[ $(workers_of "$1") -eq $2 ]] && return 0
        sleep 0.1
    done
    echo "master $1 has $(workers_of "$1") workers, expected $2"
    return 1
}
wait_gone() {
    for _ in $(seq 100); do
        alive "$1" || return 0
        sleep 0.1
    done
    return 1
}
tproxyd_in_ns() {   # how many tproxyd processes run in the gateway namespace
    local n=0 p
    for p in $(ip netns pids "$TPI_NS_GW"); do
        if tpi_alive "$p" && [[ $(cat "/proc/$p/comm" 2>/dev/null) == tproxyd ]]; then
            n=$((n + 1))
        fi
    done
    echo "$n"
}
traffic() {   # BYTES: a transfer cli -> gw:18080 -> srv:9000, hash checked
    tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 sink "${1:-200000}"
}
in_flight() {   # a client connection to the service is established
    for _ in $(seq 100); do
        [[ -n $(ip netns exec "$TPI_NS_GW" ss -Htn state established '( sport = :18080 )') ]] && return 0
        sleep 0.1
    done
    return 1
}
stop_daemon() {
    local p
    p=$(master_pid) || true
    [[ -n $p ]] && kill -TERM "$p" 2>/dev/null
    return 0
}
tpi_on_exit stop_daemon

tpi_bg srv python3 "$TOOL" server "$TPI_SRV4" 9000 >/dev/null
tpi_wait_port srv tcp 9000 || tpi_fail "tcp server did not start"

suite() {   # $1 = label; SSD_MODE set by the caller
    local m="[$1]" m1 m2 victim stale
    write_conf 2

    tpi_check "$m status when stopped: exit 3" expect_rc 3 status
    tpi_check "$m configtest: exit 0" expect_rc 0 configtest
    tpi_check "$m configtest says ok" out_has "is ok"
    break_conf
    tpi_check "$m configtest of a broken file: exit 1" expect_rc 1 configtest
    tpi_check "$m configtest names file:line" out_has "$conf:2: bogus_setting: unknown setting"
    tpi_check "$m start with a broken file fails" expect_rc 1 start
    tpi_check "$m ... and starts nothing" test "$(tproxyd_in_ns)" -eq 0
    write_conf 2

    tpi_check "$m start: exit 0" expect_rc 0 start
    tpi_check "$m pid file written" test -s "$pidfile"
    m1=$(master_pid)
    tpi_check "$m master $m1 runs" alive "$m1"
    tpi_check "$m 2 workers" wait_workers "$m1" 2
    tpi_check "$m traffic after start" traffic
    tpi_check "$m start again: exit 0" expect_rc 0 start
    tpi_check "$m ... same master, no second one" test "$(master_pid)" = "$m1" -a "$(tproxyd_in_ns)" -eq 3
    tpi_check "$m status running: exit 0" expect_rc 0 status
    tpi_check "$m status names the pid" out_has "pid $m1"

    write_conf 3
    tpi_check "$m reload: exit 0" expect_rc 0 reload
    tpi_check "$m reload: 3 workers" wait_workers "$m1" 3
    tpi_check "$m reload keeps the master" test "$(master_pid)" = "$m1"
    tpi_check "$m traffic after reload" traffic

    break_conf
    tpi_check "$m reload of a broken file is refused: exit 1" expect_rc 1 reload
    tpi_check "$m ... with file:line" out_has "$conf:2:"
    tpi_check "$m restart of a broken file is refused: exit 1" expect_rc 1 restart
    tpi_check "$m ... the master lives on" test "$(master_pid)" = "$m1"
    tpi_check "$m ... with its 3 workers" wait_workers "$m1" 3
    tpi_check "$m traffic after the refusals" traffic
    write_conf 2

    tpi_check "$m restart: exit 0" expect_rc 0 restart
    m2=$(master_pid)
    tpi_check "$m restart: a new master" test -n "$m2" -a "$m2" != "$m1"
    tpi_check "$m the old master is gone" wait_gone "$m1"
    tpi_check "$m 2 workers after restart" wait_workers "$m2" 2
    tpi_check "$m traffic after restart" traffic

    # stop is graceful: a transfer in flight finishes whole
    tpi_in cli python3 "$TOOL" client "$TPI_GW4_CLI" 18080 slowsink 6000000 3 \
        >"$T/slow-$1.out" 2>&1 &
    victim=$!
    tpi_check "$m a transfer is in flight" in_flight
    tpi_check "$m stop: exit 0" expect_rc 0 stop
    tpi_check "$m the transfer in flight during stop completed" wait "$victim"
    tpi_check "$m master gone" wait_gone "$m2"
    tpi_check "$m pid file removed" test ! -e "$pidfile"
    tpi_check "$m no tproxyd left in the namespace" test "$(tproxyd_in_ns)" -eq 0
    tpi_check "$m status after stop: exit 3" expect_rc 3 status
    tpi_check "$m stop when stopped: exit 0" expect_rc 0 stop
    tpi_check "$m reload when stopped: exit 7" expect_rc 7 reload

    # a pid file left behind by a dead master
    sleep 0 &
    stale=$!
    wait "$stale"
    echo "$stale" >"$pidfile"
    tpi_check "$m status with a stale pid file: exit 1" expect_rc 1 status
    tpi_check "$m start over a stale pid file: exit 0" expect_rc 0 start
    tpi_check "$m ... a master runs" alive "$(master_pid)"
    tpi_check "$m stop: exit 0" expect_rc 0 stop
    tpi_check "$m nothing left" test "$(tproxyd_in_ns)" -eq 0 -a ! -e "$pidfile"
    tpi_check "$m an unknown verb: exit 2" expect_rc 2 frobnicate
}

if SSD_MODE=$(command -v start-stop-daemon); then
    suite start-stop-daemon
else
    tpi_diag "start-stop-daemon is not installed: its path is not tested"
fi
SSD_MODE=
suite plain

# ---------------------------------------------------------------- OpenRC

# The service script's own functions, with stand-ins for OpenRC's helpers.
openrc() {   # FUNCTION
    # shellcheck disable=SC2016 # expanded by the inner sh
    ip netns exec "$TPI_NS_GW" env -i PATH="$PATH" DAEMON="$TP" CONF="$conf" \
        PIDFILE="$pidfile" OPENRC="$OPENRC" FN="$1" sh -c '
        ebegin() { echo "* $*"; }
        eend() { [ "$1" = 0 ] || { shift; echo "* failed: $*"; }; return "${1:-0}"; }
        eerror() { echo "* error: $*"; }
        . "$OPENRC"
        [ "$command" = "$DAEMON" ] && [ "$cfgfile" = "$CONF" ] && [ "$pidfile" = "$PIDFILE" ] ||
            { echo "variables: $command $cfgfile $pidfile"; exit 9; }
        "$FN"' >"$T/openrc.out" 2>&1 </dev/null
}
write_conf 2
SSD_MODE=
expect_rc 0 start || tpi_fail "cannot start the daemon for the OpenRC checks"
m1=$(master_pid)
tpi_check "openrc: configtest ok" openrc configtest
break_conf
fails() { ! "$@"; }
tpi_check "openrc: configtest of a broken file fails" fails openrc configtest
tpi_check "openrc: reload of a broken file is refused" fails openrc reload
write_conf 3
tpi_check "openrc: reload" openrc reload
tpi_check "openrc: reload took effect (3 workers, same master)" wait_workers "$m1" 3
tpi_check "openrc: depend() names its needs" grep -q 'need net' "$OPENRC"

# ---------------------------------------------------------------- logrotate

if command -v logrotate >/dev/null 2>&1; then
    owner="nobody adm"
    getent passwd nobody >/dev/null && getent group adm >/dev/null || owner="root root"
    printf 'DAEMON=%s\nCONF=%s\n' "$TP" "$conf" >"$T/default"
    sed -e "s#/var/log/tproxyd/\*\.log#$T/log/*.log#" -e "s#/etc/default/tproxyd#$T/default#g" \
        -e "s#create 0640 nobody adm#create 0640 $owner#" "$LOGROTATE" >"$T/logrotate.conf"
    tpi_check "logrotate: the copy points at the temp dir" grep -q "$T/log/\*.log" "$T/logrotate.conf"
    traffic 1000 >/dev/null
    tpi_check "logrotate -f rotates" logrotate -f -s "$T/logrotate.state" "$T/logrotate.conf"
    tpi_check "logrotate: the old log was renamed" test -s "$T/log/tproxyd.log.1"
    traffic 1000 >/dev/null
    tpi_check "logrotate: the daemon writes to the new file (-s reopen ran)" bash -c \
        "for i in \$(seq 50); do grep -q 'end=done' '$T/log/tproxyd.log' 2>/dev/null && exit 0; sleep 0.1; done; exit 1"
else
    tpi_diag "logrotate is not installed: contrib/tproxyd.logrotate not exercised"
fi
SSD_MODE=
tpi_check "stop after the OpenRC and logrotate checks" expect_rc 0 stop

# ---------------------------------------------------------------- static checks

if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$T/man/man8" "$T/man/man5"
    cp "$TPI_ROOT/man/tproxyd.8" "$T/man/man8/"
    cp "$TPI_ROOT/man/tproxyd.conf.5" "$T/man/man5/"
    sed "s#/usr/sbin/tproxyd#$TP#g" "$UNIT" >"$T/tproxyd.service"
    verify_unit() {
        local o
        o=$(MANPATH=$T/man systemd-analyze verify "$T/tproxyd.service" 2>&1) || { echo "$o"; return 1; }
        if grep -q 'tproxyd.service' <<<"$o"; then
            echo "$o"
            return 1
        fi
    }
    tpi_check "systemd-analyze verify tproxyd.service" verify_unit
    # shellcheck disable=SC2016 # literal $MAINPID
    for k in 'Type=forking' 'PIDFile=/run/tproxyd.pid' 'ExecStartPre=/usr/sbin/tproxyd -t' \
        'ExecReload=/bin/kill -HUP $MAINPID' 'KillSignal=SIGQUIT' 'NoNewPrivileges=yes' \
        'ProtectSystem=strict' 'CapabilityBoundingSet=CAP_NET_ADMIN'; do
        tpi_check "tproxyd.service has $k" grep -qF -- "$k" "$UNIT"
    done
else
    tpi_diag "systemd-analyze is not installed: tproxyd.service not verified"
fi

if command -v shellcheck >/dev/null 2>&1; then
    tpi_check "shellcheck contrib/tproxyd.init (sh)" shellcheck -s sh "$INIT"
    tpi_check "shellcheck contrib/tproxyd.openrc (sh)" shellcheck -s sh "$OPENRC"
    tpi_check "shellcheck of the docs and init-script tests" \
        shellcheck -x -P "$TPI_LIB_DIR" "$TPI_LIB_DIR/05-docs.sh" "$TPI_LIB_DIR/15-initscript.sh"
else
    tpi_diag "shellcheck is not installed: the scripts were not linted"
fi

tpi_ok "init files: sysvinit verbs, OpenRC functions, logrotate, systemd unit"
