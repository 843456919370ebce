#!/usr/bin/env bash
# Issue 3: transparent TCP in TPROXY mode (mangle table + fwmark policy routing; the listener has
# IP_TRANSPARENT/IPV6_TRANSPARENT and the original destination is the accepted socket's local
# address). tproxyd runs `red` with tproxy = true on ":12345" (dual-stack) in the gateway
# namespace; nft tproxy rules and `ip rule`/`ip route` from contrib/tproxyd-rules divert the
# client's TCP. Same cases as 11-red-redirect.sh, IPv4 and IPv6: curl with the original
# destination in the access log, sockopts.mark on upstream sockets, 1 GB by sha256, half-close
# both ways, client reset mid-stream, 1000 concurrent connections, unreachable destinations,
# and the loop guard. The cases live in tools/red-cases.sh.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_require_cmd curl nft python3 ss
# shellcheck disable=SC2119 # default prefix (from the script name)
tpi_setup_topology
. "$TPI_LIB_DIR/tools/red-cases.sh"

red_start tproxy
tpi_check "policy routing: fwmark rule and local default route in table 100" \
    bash -c "ip -n '$TPI_NS_GW' rule | grep -q 'fwmark 0x1 lookup 100' &&
             ip -n '$TPI_NS_GW' route show table 100 | grep -q '^local default dev lo' &&
             ip -n '$TPI_NS_GW' -6 route show table 100 | grep -q '^local default dev lo'"
red_http 4
red_http 6
red_mark
red_bulk "$TPI_SRV4" 1000000000
red_bulk "$TPI_SRV6" 1000000000
red_halfclose "$TPI_SRV4"
red_halfclose "$TPI_SRV6"
red_reset "$TPI_SRV4"
red_reset "$TPI_SRV6"
red_conc "$TPI_SRV4" 1000
red_conc "$TPI_SRV6" 1000
red_unreachable
red_loop
red_still_serving
tpi_ok "TPROXY v4 + v6 through tproxyd"
