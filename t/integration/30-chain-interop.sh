#!/usr/bin/env bash
# Issue 6: upstream chains against real servers nobody here wrote. tproxyd in gw runs `red`
# (REDIRECT) with handler.chain; the chain's one hop is a third-party proxy in srv:
#   dante (socks5, no auth and username/password with a throwaway system user), microsocks
#   (no auth and -u/-P), dante as a SOCKS4 and SOCKS4a server (it refuses 4a names: the flow
#   falls back to the original address), tinyproxy (HTTP CONNECT);
# traffic: curl from cli to the HTTP server in srv (hello.txt and an 8 MiB blob by sha256),
# IPv4 and IPv6 targets, and a sniffed host name the proxy resolves itself (a hosts entry only in
# srv: the gateway cannot resolve it). The access log names the chain and ends `done`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_require_cmd curl nft python3 ss danted microsocks tinyproxy useradd chpasswd
# shellcheck disable=SC2119 # default prefix (from the script name)
tpi_setup_topology
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/tools/chain-lib.sh"

# A name only srv can resolve: ip netns exec bind-mounts /etc/netns/NS/hosts over /etc/hosts.
HOSTS_DIR=/etc/netns/$TPI_NS_SRV
rm -rf "$HOSTS_DIR"
mkdir -p "$HOSTS_DIR"
tpi_on_exit rm -rf "$HOSTS_DIR"
tpi_on_exit rmdir --ignore-fail-on-non-empty /etc/netns
printf '127.0.0.1 localhost\n%s www.tpi.test\n' "$TPI_SRV4" >"$HOSTS_DIR/hosts"

ch_www
ch_dante 1080 none
ch_dante 1081 auth
ch_microsocks 1082
ch_microsocks 1083 mu mp
ch_tinyproxy 8888

node() { # NAME ADDR CONNECTOR-BODY
    printf '{ name = "%s"; addr = "%s"; connector = { %s }; }' "$1" "$2" "$3"
}
hop() { printf '{ nodes = ( %s ); }' "$1"; }

done_re() { printf 'red-in .* via=%s up=[0-9]+ down=[0-9]+ ms=[0-9]+ end=done' "$1"; }

# ---- dante, socks5 without auth: IPv4 and IPv6 targets
ch_gw dante "$(hop "$(node dante "$TPI_SRV4:1080" 'type = "socks5";')")"
ch_fetch "socks5 (dante, no auth), IPv4 target"
ch_fetch "socks5 (dante, no auth), IPv6 target" "$TPI_SRV6"
tpi_check "access log: flows via chain dante ended done" ch_log "$(done_re dante)" 4
tpi_check "access log: the IPv6 original destination" \
    ch_log "red-in \\[$TPI_CLI6\\]:[0-9]+ -> \\[$TPI_SRV6\\]:8080 .* via=dante .* end=done"
ch_show "$(done_re dante)"

# ---- dante with username/password (system user)
ch_gw dante-auth "$(hop "$(node dante-auth "$TPI_SRV4:1081" \
    "type = \"socks5\"; auth = { username = \"$CH_USER\"; password = \"$CH_PASS\"; };")")"
ch_fetch "socks5 (dante, username/password)"
ch_gw dante-badpw "$(hop "$(node dante-auth "$TPI_SRV4:1081" \
    "type = \"socks5\"; auth = { username = \"$CH_USER\"; password = \"wrong\"; };")")"
ch_fetch_fails "socks5 (dante) with a wrong password: the flow fails promptly"
tpi_check "one clear log line: socks5 authentication failed" \
    ch_log 'end=dial-failed node "dante-auth": socks5: authentication failed \(user "tpichain", status 0x[0-9a-f]+\)'
ch_show 'end=dial-failed'
ch_gw dante-noauth "$(hop "$(node dante-auth "$TPI_SRV4:1081" 'type = "socks5";')")"
ch_fetch_fails "socks5 (dante wants auth, none configured): the flow fails promptly"
tpi_check "one clear log line: the proxy requires authentication" \
    ch_log 'end=dial-failed node "dante-auth": socks5: the proxy requires authentication'

# ---- microsocks
ch_gw microsocks "$(hop "$(node microsocks "$TPI_SRV4:1082" 'type = "socks5";')")"
ch_fetch "socks5 (microsocks)"
ch_fetch "socks5 (microsocks), IPv6 target" "$TPI_SRV6"
ch_gw microsocks-auth "$(hop "$(node microsocks-auth "$TPI_SRV4:1083" \
    'type = "socks5"; auth = { username = "mu"; password = "mp"; };')")"
ch_fetch "socks5 (microsocks, username/password)"
tpi_check "access log: via=microsocks-auth, done" ch_log "$(done_re microsocks-auth)" 2

# ---- SOCKS4 / SOCKS4a (dante)
ch_gw dante-socks4 "$(hop "$(node dante4 "$TPI_SRV4:1080" 'type = "socks4"; userid = "tpi";')")"
ch_fetch "socks4 (dante)"
ch_gw dante-socks4a "$(hop "$(node dante4a "$TPI_SRV4:1080" 'type = "socks4a";')")" \
    'sniffing = { enabled = true; timeout = "2s"; fallback = true; };'
ch_fetch "socks4a (dante), IPv4 target"
# dante does not take SOCKS4a names: the sniffed name is refused (0x5b), and sniffing.fallback
# retries the flow with the original address.
ch_fetch "socks4a (dante) with a sniffed name: refused, then the original address" \
    "$TPI_SRV4" www.tpi.test
tpi_check "log: the refusal of the name, then the fallback" \
    ch_log 'sniffed name failed \(node "dante4a": socks4: server replied 0x5b request rejected or failed\); falling back'
ch_show 'falling back'

# ---- tinyproxy, HTTP CONNECT
ch_gw tinyproxy "$(hop "$(node tinyproxy "$TPI_SRV4:8888" 'type = "http";')")"
ch_fetch "http CONNECT (tinyproxy)"
tpi_check "access log: via=tinyproxy, done" ch_log "$(done_re tinyproxy)" 2

# ---- a name only the proxy can resolve (socks5 ATYP domain)
ch_gw dante-name "$(hop "$(node dante "$TPI_SRV4:1080" 'type = "socks5";')")" \
    'sniffing = { enabled = true; timeout = "2s"; };'
ch_fetch "socks5 (dante) with a sniffed name resolved by dante" "$TPI_SRV4" www.tpi.test
tpi_check "access log: host=www.tpi.test dialled by name" \
    ch_log 'host=www\.tpi\.test dial=www\.tpi\.test:8080 via=dante-name .* end=done'
tpi_check "the gateway itself cannot resolve www.tpi.test" \
    bash -c "! ip netns exec '$TPI_NS_GW' getent hosts www.tpi.test"
ch_show 'via=dante-name'

tpi_ok "chains through dante, microsocks and tinyproxy"
