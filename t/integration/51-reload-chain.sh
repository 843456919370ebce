#!/usr/bin/env bash
# Reload (issue 7): changing a chain takes effect on reload. A red service
# goes through chain "up" whose socks5 node is microsocks on :1080; after a
# reload the node is microsocks on :1081. nft counters in the gateway show
# which upstream carried the flows before and after.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_setup_topology

TP=$TPI_ROOT/build/tproxyd
T=$(tpi_tmpdir)
write_conf() {   # $1 = upstream port
    cat >"$T/tp.conf" <<CONF
worker_processes = 2;
pid_file = "$T/tproxyd.pid";
log = { level = "info"; target = "$T/tp.log"; };
services = (
  { name = "red-in"; addr = ":12345";
    handler = { type = "red"; chain = "up"; }; listener = { type = "red"; }; }
);
chains = (
  { name = "up"; hops = ( { name = "hop-0"; nodes = (
      { name = "socks-$1"; addr = "$TPI_SRV4:$1"; connector = { type = "socks5"; }; }
  ); } ); }
);
CONF
}
stop_daemon() { [ -f "$T/tproxyd.pid" ] && kill -TERM "$(cat "$T/tproxyd.pid")" 2>/dev/null || true; }
tpi_on_exit stop_daemon

mkdir -p "$T/www" && echo "through the chain" >"$T/www/index.html"
tpi_bg srv python3 -m http.server 8080 --bind "$TPI_SRV4" --directory "$T/www" >/dev/null
tpi_bg srv microsocks -i "$TPI_SRV4" -p 1080 >/dev/null
tpi_bg srv microsocks -i "$TPI_SRV4" -p 1081 >/dev/null
tpi_wait_port srv tcp 1080 && tpi_wait_port srv tcp 1081 && tpi_wait_port srv tcp 8080 \
    || tpi_fail "servers did not start"
ip netns exec "$TPI_NS_GW" nft -f - <<'NFT'
table inet rlchain {
  chain out { type filter hook output priority 0; policy accept;
    tcp dport 1080 tcp flags syn counter
    tcp dport 1081 tcp flags syn counter
  }
}
NFT
syns() {   # $1 = port
    ip netns exec "$TPI_NS_GW" nft list chain inet rlchain out \
        | awk -v p="$1" '$0 ~ "dport " p " " { for (i = 1; i <= NF; i++) if ($i == "packets") print $(i + 1) }'
}
fetch() { [ "$(ip netns exec "$TPI_NS_CLI" curl -fsS -m 5 "http://$TPI_SRV4:8080/")" = "through the chain" ]; }

write_conf 1080
tpi_in gw "$TP" -c "$T/tp.conf"
tpi_wait_port gw tcp 12345 || tpi_fail "tproxyd did not start"
tpi_rules_redirect gw 12345 4
for _ in 1 2 3; do tpi_check "fetch through chain node :1080" fetch; done
tpi_check "before reload: flows went to :1080 only" \
    bash -c "[ $(syns 1080) -ge 3 ] && [ $(syns 1081) -eq 0 ]"
before=$(syns 1080)

write_conf 1081
"$TP" -c "$T/tp.conf" -s reload
for _ in $(seq 50); do grep -q "started 2 workers (generation 1)" "$T/tp.log" && break; sleep 0.1; done
for _ in 1 2 3; do tpi_check "fetch after reload" fetch; done
tpi_check "after reload: new flows go to :1081, none more to :1080" \
    bash -c "[ $(syns 1081) -ge 3 ] && [ $(syns 1080) -eq $before ]"
# GOST's hop bypass: hop 0 bypassing the server's network means no hop is
# used for it; the flow goes directly.
sed -i 's|^  { name = "up"; hops = ( { name = "hop-0"; nodes = (|  { name = "up"; hops = ( { name = "hop-0"; bypass = "srv-net"; nodes = (|' "$T/tp.conf"
printf 'bypasses = ( { name = "srv-net"; matchers = [ "%s/24" ]; } );\n' "$TPI_SRV4" >>"$T/tp.conf"
tpi_check "hop bypass config is valid" "$TP" -t -c "$T/tp.conf"
s80=$(syns 1080); s81=$(syns 1081)
"$TP" -c "$T/tp.conf" -s reload
for _ in $(seq 50); do grep -q "started 2 workers (generation 2)" "$T/tp.log" && break; sleep 0.1; done
tpi_check "fetch with the hop bypassed" fetch
tpi_check "hop bypass: no SYN to either upstream" \
    bash -c "[ $(syns 1080) -eq $s80 ] && [ $(syns 1081) -eq $s81 ]"
tpi_check "hop bypass logged" grep -q "via=direct(hop-bypass)" "$T/tp.log"
tpi_ok "chain change on reload"
