#!/usr/bin/env bash
# Issue 3: transparent TCP in REDIRECT mode (nat table, SO_ORIGINAL_DST and IP6T_SO_ORIGINAL_DST).
# tproxyd runs `red` on ":12345" (dual-stack, tproxy off) in the gateway namespace; nft redirect
# rules from contrib/tproxyd-rules divert the client's TCP. Checked, IPv4 and IPv6: curl to a real
# HTTP server with the original destination in the access log, the sockopts.mark on upstream
# sockets, 1 GB by sha256, half-close both ways, a client reset mid-stream, 1000 concurrent
# connections, unreachable destinations (refused, no route, no host, timeout -> prompt reset and
# a dial-failed/dial-timeout log line with the reason), and the loop guard.
# The cases live in tools/red-cases.sh (shared with 12-red-tproxy.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_require_cmd curl nft python3 ss
# shellcheck disable=SC2119 # default prefix (from the script name)
tpi_setup_topology
. "$TPI_LIB_DIR/tools/red-cases.sh"

red_start redirect
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
tpi_ok "REDIRECT v4 + v6 through tproxyd"
