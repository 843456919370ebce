#!/usr/bin/env bash
# Privileges (issue 7): the master stays root; workers run as `user` with
# only the network capabilities, and can still set SO_MARK on egress and
# serve TPROXY (transparent) connections.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
tpi_require_root
tpi_setup_topology

TP=$TPI_ROOT/build/tproxyd
T=$(tpi_tmpdir)
user=tproxyd-ptest
made_user=0
if ! id "$user" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$user"
    made_user=1
fi
uid=$(id -u "$user")

cat >"$T/tp.conf" <<CONF
worker_processes = 2;
user = "$user";
log = { level = "info"; target = "stderr"; };
services = (
  { name = "tcp-in"; addr = ":12345"; sockopts = { mark = 100; };
    handler = { type = "red"; tproxy = true; };
    listener = { type = "red"; tproxy = true; }; }
);
CONF
tpi_http_server srv 8080 "$T" >/dev/null
master=$(tpi_bg gw "$TP" -f -c "$T/tp.conf")
tpi_on_exit tpi_kill "$master"
[ "$made_user" = 1 ] && tpi_on_exit userdel "$user"
tpi_wait_port gw tcp 12345 || tpi_fail "tproxyd did not start"
tpi_rules_tproxy gw 12345 tcp 4
# Count egress packets that carry mark 100.
ip netns exec "$TPI_NS_GW" nft -f - <<'NFT'
table inet ptest {
  chain out { type filter hook output priority 0; policy accept;
    meta mark 100 counter
  }
}
NFT

workers=$(ps -o pid= --ppid "$master" | tr -d ' ')
tpi_check "master runs as root" \
    bash -c "[ \"\$(awk '/^Uid:/ { print \$2 }' /proc/$master/status)\" = 0 ]"
for w in $workers; do
    tpi_check "worker $w runs as $user (real, effective, saved)" \
        bash -c "awk '/^Uid:/ { exit !(\$2 == $uid && \$3 == $uid && \$4 == $uid) }' /proc/$w/status"
    tpi_check "worker $w keeps CAP_NET_ADMIN and nothing beyond network caps" \
        bash -c "eff=\$(awk '/^CapEff:/ { print \$2 }' /proc/$w/status); v=\$((16#\$eff)); [ \$((v & (1 << 12))) -ne 0 ] && [ \$((v & ~((1 << 10) | (1 << 12) | (1 << 13)))) -eq 0 ]"
done
tpi_check "TPROXY flow served by the unprivileged workers" \
    tpi_in cli curl -fsS -m 5 -o /dev/null "http://$TPI_SRV4:8080/"
tpi_check "egress carried SO_MARK 100" \
    bash -c "ip netns exec $TPI_NS_GW nft list chain inet ptest out | grep -Eq 'packets [1-9]'"
tpi_ok "privileges"
