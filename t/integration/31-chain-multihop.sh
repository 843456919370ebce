#!/usr/bin/env bash
# Issue 6: tproxyd as its own upstream, and multi-hop chains. A second tproxyd in srv serves
# socks5, http and relay (user u / password p) and relay over a tls listener (self-signed
# certificate made here with openssl req); tproxyd in gw (red, REDIRECT) reaches it:
#   - one hop each: socks5, http, relay (nodelay on and off), relay+tls (ca_file, server_name)
#   - 2 hops: http (tinyproxy) -> socks5 (dante)
#   - 3 hops with a tls hop: socks5 (dante) -> relay+tls (tproxyd) -> http (tinyproxy), and
#     http (tinyproxy) -> relay+tls (tproxyd) -> socks5 (tproxyd): TLS inside the previous tunnel
#   - a tls dialer without the CA refuses the server (one clear log line)
#   - sockopts.mark of a hop, overridden by a node's (nft counters on gw's output)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_require_cmd curl nft python3 ss danted tinyproxy openssl
# shellcheck disable=SC2119 # default prefix (from the script name)
tpi_setup_topology
# shellcheck source-path=SCRIPTDIR
. "$(dirname "$0")/tools/chain-lib.sh"

ch_www
ch_dante 1080 none
ch_tinyproxy 8888
ch_srv_tproxyd

node() { # NAME ADDR CONNECTOR-BODY [DIALER-BODY]
    printf '{ name = "%s"; addr = "%s"; connector = { %s }; dialer = { %s }; }' \
        "$1" "$2" "$3" "${4:-type = \"tcp\";}"
}
hop() { printf '{ nodes = ( %s ); }' "$1"; }
UP='auth = { username = "u"; password = "p"; };'
TLS="type = \"tls\"; tls = { ca_file = \"$CH_T/relay.crt\"; server_name = \"$CH_NAME\"; };"

done_re() { printf 'red-in .* via=%s up=[0-9]+ down=[0-9]+ ms=[0-9]+ end=done' "$1"; }
# A relay connector without nodelay, or a tls hop, is not a plain socket: relay.c sends no FIN
# through it, so such flows end by idle_timeout (5 s here) instead of `done`.
ended_re() { printf 'red-in .* via=%s up=[0-9]+ down=[0-9]{7,} ms=[0-9]+ end=(done|idle-timeout)' "$1"; }

# ---- one hop: tproxyd's own servers
ch_gw tp-socks5 "$(hop "$(node s5 "$TPI_SRV4:2080" "type = \"socks5\"; $UP")")"
ch_fetch "socks5 (tproxyd server, auth)"
tpi_check "access log: via=tp-socks5, done" ch_log "$(done_re tp-socks5)" 2
ch_gw tp-http "$(hop "$(node h "$TPI_SRV4:3128" "type = \"http\"; $UP")")"
ch_fetch "http CONNECT (tproxyd server, Basic auth)"
ch_fetch "http CONNECT (tproxyd server), IPv6 target" "$TPI_SRV6"
ch_gw tp-relay "$(hop "$(node r "$TPI_SRV4:8420" "type = \"relay\"; nodelay = true; $UP")")"
ch_fetch "relay (tproxyd server, nodelay = true)"
tpi_check "access log: via=tp-relay, done" ch_log "$(done_re tp-relay)" 2
ch_gw tp-relay-lazy "$(hop "$(node r "$TPI_SRV4:8420" "type = \"relay\"; $UP")")"
ch_fetch "relay (tproxyd server, response read lazily)"
tpi_check "access log: via=tp-relay-lazy" ch_log "$(ended_re tp-relay-lazy)" 1 10
ch_gw tp-relay-tls "$(hop "$(node rt "$TPI_SRV4:8421" "type = \"relay\"; nodelay = true; $UP" "$TLS")")"
ch_fetch "relay+tls (tproxyd relay on a tls listener; ca_file, server_name)"
tpi_check "access log: via=tp-relay-tls" ch_log "$(ended_re tp-relay-tls)" 1 10

# ---- a tls dialer that does not trust the server
ch_gw tls-untrusted "$(hop "$(node rt "$TPI_SRV4:8421" "type = \"relay\"; $UP" 'type = "tls";')")"
ch_fetch_fails "relay+tls without the CA: the flow fails promptly"
tpi_check "one clear log line: certificate verify failed" \
    ch_log 'end=dial-failed node "rt": tls: certificate verify failed: self-signed certificate'
ch_gw tls-wrongname "$(hop "$(node rt "$TPI_SRV4:8421" "type = \"relay\"; $UP" \
    "type = \"tls\"; tls = { ca_file = \"$CH_T/relay.crt\"; server_name = \"other.tpi.test\"; };")")"
ch_fetch_fails "relay+tls with a name the certificate lacks: the flow fails"
tpi_check "one clear log line: hostname mismatch" \
    ch_log 'end=dial-failed node "rt": tls: certificate verify failed: hostname mismatch'

# ---- 2 hops: http -> socks5
ch_gw http-socks5 "$(hop "$(node tinyproxy "$TPI_SRV4:8888" 'type = "http";')"), $(hop \
    "$(node dante "$TPI_SRV4:1080" 'type = "socks5";')")"
ch_fetch "2 hops: http (tinyproxy) -> socks5 (dante)"
tpi_check "access log: via=http-socks5, done" ch_log "$(done_re http-socks5)" 2

# ---- 3 hops with a tls hop in the middle (TLS inside the socks5 / http tunnel)
ch_gw three-hops "$(hop "$(node dante "$TPI_SRV4:1080" 'type = "socks5";')"), $(hop \
    "$(node rt "$TPI_SRV4:8421" "type = \"relay\"; nodelay = true; $UP" "$TLS")"), $(hop \
    "$(node tinyproxy "$TPI_SRV4:8888" 'type = "http";')")"
ch_fetch "3 hops: socks5 (dante) -> relay+tls (tproxyd) -> http (tinyproxy)"
tpi_check "access log: via=three-hops" ch_log "$(ended_re three-hops)" 1 10
ch_show 'via=three-hops'
ch_gw three-hops-b "$(hop "$(node tinyproxy "$TPI_SRV4:8888" 'type = "http";')"), $(hop \
    "$(node rt "$TPI_SRV4:8421" "type = \"relay\"; $UP" "$TLS")"), $(hop \
    "$(node s5 "$TPI_SRV4:2080" "type = \"socks5\"; $UP")")"
ch_fetch "3 hops: http (tinyproxy) -> relay+tls (tproxyd, lazy) -> socks5 (tproxyd)"
tpi_check "access log: via=three-hops-b" ch_log "$(ended_re three-hops-b)" 1 10
tpi_check "half-close crosses the tls and relay-filter layers (no idle-timeout end)" \
    test "$(ch_log_count 'via=three-hops-b .* end=idle-timeout')" -eq 0

# ---- sockopts.mark: hop level, overridden at node level
tpi_in gw nft -f - <<'NFT' || tpi_fail "nft mark counters in gw"
table inet tpichainmark {
    chain output {
        type filter hook output priority 0; policy accept;
        meta mark 0x10 tcp dport 1080 counter
        meta mark 0x20 tcp dport 1080 counter
    }
}
NFT
mark_count() { # MARK -> packets to :1080 with it
    tpi_in gw nft list table inet tpichainmark |
        sed -n "s/.*meta mark $1 tcp dport 1080 counter packets \([0-9]*\).*/\1/p"
}
ch_gw mark-hop "{ sockopts = { mark = 16; }; nodes = ( $(node dante "$TPI_SRV4:1080" 'type = "socks5";') ); }"
ch_fetch "socks5 with hop sockopts.mark = 16"
tpi_check "egress to the node carries the hop's mark 0x10" test "$(mark_count 0x00000010)" -gt 0
ch_gw mark-node "{ sockopts = { mark = 16; }; nodes = ( { name = \"dante\"; addr = \"$TPI_SRV4:1080\"; \
    sockopts = { mark = 32; }; connector = { type = \"socks5\"; }; } ); }"
n16=$(mark_count 0x00000010)
ch_fetch "socks5 with node sockopts.mark = 32 over the hop's 16"
tpi_check "egress carries the node's mark 0x20" test "$(mark_count 0x00000020)" -gt 0
tpi_check "and no more packets with the hop's mark" test "$(mark_count 0x00000010)" -eq "$n16"

tpi_ok "tproxyd upstreams and multi-hop chains"
