#!/usr/bin/env bash
# Listener families (issue 3): "[::]:port" is IPv6 only and "0.0.0.0:port"
# IPv4 only, while ":port" takes both (tested in 12-red-tproxy.sh). Under
# nft's tproxy a packet no listener takes just goes on as routed, so each
# family must reach tproxyd only where its listener is.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_setup_topology

TP=$TPI_ROOT/build/tproxyd
T=$(tpi_tmpdir)
mkdir -p "$T/www" && echo "family page" >"$T/www/index.html"
tpi_http_server srv 8080 "$T/www" >/dev/null
tpi_rules_tproxy gw 12345 tcp both

run_with() {   # $1 = listen address
    cat >"$T/tp.conf" <<CONF
worker_processes = 1;
log = { level = "info"; target = "$T/tp.log"; };
services = ( { name = "fam"; addr = "$1";
    handler = { type = "red"; tproxy = true; };
    listener = { type = "red"; tproxy = true; }; } );
CONF
    : >"$T/tp.log"
    tp=$(tpi_bg gw "$TP" -f -c "$T/tp.conf")
    tpi_wait_port gw tcp 12345 || tpi_fail "tproxyd did not start on $1"
}
fetch() { [ "$(ip netns exec "$TPI_NS_CLI" curl -fsS -m 5 "http://$1:8080/")" = "family page" ]; }
logged() { for _ in $(seq 30); do grep -q -e "$1" "$T/tp.log" && return 0; sleep 0.1; done; return 1; }

run_with "[::]:12345"
tpi_check "[::]:12345: IPv6 flow works" fetch "[$TPI_SRV6]"
tpi_check "[::]:12345: IPv6 flow crossed tproxyd" logged "-> \[$TPI_SRV6\]:8080 .*end=done"
tpi_check "[::]:12345: IPv4 flow still works (routed)" fetch "$TPI_SRV4"
tpi_check "[::]:12345: IPv4 flow did not cross tproxyd" bash -c "! grep -q -e '-> $TPI_SRV4:8080' '$T/tp.log'"
tpi_kill "$tp"

run_with "0.0.0.0:12345"
tpi_check "0.0.0.0:12345: IPv4 flow works" fetch "$TPI_SRV4"
tpi_check "0.0.0.0:12345: IPv4 flow crossed tproxyd" logged "-> $TPI_SRV4:8080 .*end=done"
tpi_check "0.0.0.0:12345: IPv6 flow still works (routed)" fetch "[$TPI_SRV6]"
tpi_check "0.0.0.0:12345: IPv6 flow did not cross tproxyd" bash -c "! grep -q -e '-> \[$TPI_SRV6\]' '$T/tp.log'"
tpi_kill "$tp"
tpi_ok "listener families"
