#!/usr/bin/env bash
# 00-topology.sh - self-test of t/integration/lib.sh and contrib/tproxyd-rules (no tproxyd needed):
# builds the cli/gw/srv namespaces, pings cli->srv through gw (v4+v6), fetches a file from the
# HTTP server in srv, checks that the redirect/tproxy rules installed through lib.sh really divert
# traffic to a listener in gw (socat stands in for tproxyd), tears down and checks nothing is left.
# shellcheck disable=SC2317 # helper functions below are called indirectly through tpi_check
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh"

tpi_require_root
tpi_require_cmd python3 curl nft ss sysctl
[[ $TPI_RULES_BACKEND == nft ]] || tpi_require_cmd iptables ip6tables iptables-save ip6tables-save

# shellcheck disable=SC2119 # no argument: default prefix derived from the script name
tpi_setup_topology
tpi_diag "namespaces: $TPI_NS_CLI $TPI_NS_GW $TPI_NS_SRV"

ns_exist() { local n; for n in "$@"; do ip netns list | awk '{ print $1 }' | grep -x -- "$n" >/dev/null || return 1; done; }
tpi_check "three namespaces exist" ns_exist "$TPI_NS_CLI" "$TPI_NS_GW" "$TPI_NS_SRV"
tpi_check "gw forwards IPv4" test "$(tpi_in gw sysctl -n net.ipv4.ip_forward)" = 1
tpi_check "gw forwards IPv6" test "$(tpi_in gw sysctl -n net.ipv6.conf.all.forwarding)" = 1

# ---- reachability
tpi_check "ping cli -> gw (v4)" tpi_ping cli "$TPI_GW4_CLI"
tpi_check "ping cli -> gw (v6)" tpi_ping cli "$TPI_GW6_CLI"
tpi_check "ping cli -> srv through gw (v4)" tpi_ping cli "$TPI_SRV4"
tpi_check "ping cli -> srv through gw (v6)" tpi_ping cli "$TPI_SRV6"
tpi_check "ping srv -> cli through gw (v4)" tpi_ping srv "$TPI_CLI4"
tpi_check "ping srv -> cli through gw (v6)" tpi_ping srv "$TPI_CLI6"
# the client's route to srv really goes via gw
tpi_check "cli routes srv via gw" bash -c \
    "ip netns exec '$TPI_NS_CLI' ip route get '$TPI_SRV4' | grep 'via $TPI_GW4_CLI' >/dev/null"

# ---- HTTP server in srv
www=$(tpi_tmpdir)/www
mkdir -p "$www"
token="tpi-$$-$RANDOM"
printf '%s\n' "$token" >"$www/hello.txt"
http_pid=$(tpi_http_server srv 8080 "$www")
tpi_check "http server pid $http_pid runs in $TPI_NS_SRV" test "$(ip netns identify "$http_pid")" = "$TPI_NS_SRV"

fetch_is() { # fetch_is URL EXPECTED
    local body
    body=$(tpi_in cli curl -fsS --max-time 5 "$1") || return 1
    [[ $body == "$2" ]] || { echo "got '$body', want '$2'"; return 1; }
}
tpi_check "curl cli -> srv http (v4)" fetch_is "http://$TPI_SRV4:8080/hello.txt" "$token"
tpi_check "curl cli -> srv http (v6)" fetch_is "http://[$TPI_SRV6]:8080/hello.txt" "$token"

# ---- tpi_wait_port (UDP + bounded timeout)
udp_pid=$(tpi_bg srv python3 -c '
import socket, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 5353))
time.sleep(600)')
tpi_check "tpi_wait_port sees a UDP socket (pid $udp_pid)" tpi_wait_port srv udp 5353 5
start=$SECONDS
if tpi_wait_port srv tcp 1 1 2>/dev/null; then
    tpi_fail "tpi_wait_port reported a listener on tcp/1"
fi
tpi_check "tpi_wait_port gives up after its timeout" test $((SECONDS - start)) -le 3
tpi_kill "$udp_pid"
not_alive() { ! tpi_alive "$1"; }
tpi_check "tpi_kill stopped pid $udp_pid" not_alive "$udp_pid"

# ---- interception rules, with a tiny python listener standing in for tproxyd
# dst_echo.py server PORT [transparent]: TCP listener on [::]:PORT (dual-stack) answering each connection
#   with "<local addr> <local port>" = getsockname() of the accepted socket (IPv4-mapped shown as IPv4)
# dst_echo.py client HOST PORT: connect, print the answer
# dst_echo.py udp PORT LOG: transparent UDP socket, logs "<peer addr> <orig dst addr> <orig dst port> <data>"
helper=$(tpi_tmpdir)/dst_echo.py
cat >"$helper" <<'PY'
import ipaddress, socket, struct, sys
def fmt(a):
    ip = ipaddress.ip_address(a.split("%")[0])
    return str(getattr(ip, "ipv4_mapped", None) or ip)
def transparent(s):
    s.setsockopt(socket.SOL_IP, 19, 1)      # IP_TRANSPARENT
    s.setsockopt(socket.IPPROTO_IPV6, 75, 1)    # IPV6_TRANSPARENT
if sys.argv[1] == "server":
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    if len(sys.argv) > 3:
        transparent(s)
    s.bind(("::", int(sys.argv[2])))
    s.listen(16)
    while True:
        c, _ = s.accept()
        a = c.getsockname()
        c.sendall(("%s %d\n" % (fmt(a[0]), a[1])).encode())
        c.close()
elif sys.argv[1] == "client":
    c = socket.create_connection((sys.argv[2], int(sys.argv[3])), timeout=3)
    sys.stdout.write(c.recv(200).decode())
elif sys.argv[1] == "udp":
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    transparent(s)
    s.setsockopt(socket.SOL_IP, 20, 1)      # IP_RECVORIGDSTADDR
    s.setsockopt(socket.IPPROTO_IPV6, 74, 1)    # IPV6_RECVORIGDSTADDR
    s.bind(("::", int(sys.argv[2])))
    with open(sys.argv[3], "a") as f:
        while True:
            data, anc, _, peer = s.recvmsg(2048, 256)
            dst = "none"
            for lvl, typ, d in anc:
                if (lvl, typ) == (socket.SOL_IP, 20):
                    dst = "%s %d" % (socket.inet_ntop(socket.AF_INET, d[4:8]), struct.unpack("!H", d[2:4])[0])
                elif (lvl, typ) == (socket.IPPROTO_IPV6, 74):
                    dst = "%s %d" % (socket.inet_ntop(socket.AF_INET6, d[8:24]), struct.unpack("!H", d[2:4])[0])
            f.write("%s %s %s\n" % (fmt(peer[0]), dst, data.decode().strip()))
            f.flush()
PY
answer_is() { # answer_is HOST PORT WANT: connect from cli (nothing listens on PORT 9 in srv)
    local got
    got=$(tpi_in cli python3 "$helper" client "$1" "$2" 2>&1) || true
    [[ $got == "$3" ]] || { echo "got '$got', want '$3'"; return 1; }
}
refused() {
    local out
    out=$(tpi_in cli python3 "$helper" client "$1" 9 2>&1) && return 1
    [[ $out == *"Connection refused"* ]] || { echo "$out"; return 1; }
}
gw_ruleset_empty() {
    local nft ipt
    nft=$(tpi_in gw nft list ruleset 2>&1)
    ipt=$(tpi_in gw iptables-save 2>/dev/null; tpi_in gw ip6tables-save 2>/dev/null)
    [[ -z $nft && $ipt != *TPROXYD* ]] || { echo "$nft"; echo "$ipt"; return 1; }
}
rules_present() { # for $TPI_RULES_BACKEND
    if [[ $TPI_RULES_BACKEND == nft ]]; then
        tpi_in gw nft list table inet tproxyd
    else
        [[ $(tpi_in gw iptables-save) == *"-j TPROXYD"* && $(tpi_in gw ip6tables-save) == *"-j TPROXYD"* ]]
    fi
}
gw_has_rule() { tpi_in gw ip "-$1" rule | grep 'fwmark 0x1 lookup 100' >/dev/null; }

tpi_check "before rules: cli -> srv:9 (v4) is refused by srv" refused "$TPI_SRV4"
tpi_check "before rules: cli -> srv:9 (v6) is refused by srv" refused "$TPI_SRV6"

# REDIRECT: the listener sees the gw's own address (original dst only via SO_ORIGINAL_DST)
lp=$(tpi_bg gw python3 "$helper" server 12345)
tpi_check "listener (pid $lp) up in gw" tpi_wait_port gw tcp 12345 5
tpi_rules_redirect gw 12345 both
tpi_check "redirect rules installed ($TPI_RULES_BACKEND)" rules_present
tpi_check "redirect: cli -> srv:9 (v4) lands on the gw listener" answer_is "$TPI_SRV4" 9 "$TPI_GW4_CLI 12345"
tpi_check "redirect: cli -> srv:9 (v6) lands on the gw listener" answer_is "$TPI_SRV6" 9 "$TPI_GW6_CLI 12345"
tpi_check "redirect: traffic entering from the server side is not intercepted" bash -c \
    "ip netns exec '$TPI_NS_SRV' python3 '$helper' client '$TPI_CLI4' 9 2>&1 | grep 'Connection refused' >/dev/null"
tpi_rules_remove gw
tpi_check "redirect rules removed" gw_ruleset_empty
tpi_check "after removal: cli -> srv:9 is refused again" refused "$TPI_SRV4"
tpi_kill "$lp"

# TPROXY: the accepted socket's local address is the original destination
lp=$(tpi_bg gw python3 "$helper" server 12345 transparent)
up=$(tpi_bg gw python3 "$helper" udp 12345 "$(tpi_tmpdir)/udp.log")
tpi_check "transparent TCP listener (pid $lp) up in gw" tpi_wait_port gw tcp 12345 5
tpi_check "transparent UDP socket (pid $up) up in gw" tpi_wait_port gw udp 12345 5
tpi_rules_tproxy gw 12345 both both
tpi_check "tproxy rules installed ($TPI_RULES_BACKEND)" rules_present
tpi_check "tproxy: ip rule fwmark 0x1 -> table 100 (v4)" gw_has_rule 4
tpi_check "tproxy: ip rule fwmark 0x1 -> table 100 (v6)" gw_has_rule 6
tpi_check "tproxy: cli -> srv:9 (v4) arrives with its original dst" answer_is "$TPI_SRV4" 9 "$TPI_SRV4 9"
tpi_check "tproxy: cli -> srv:9 (v6) arrives with its original dst" answer_is "$TPI_SRV6" 9 "$TPI_SRV6 9"
tpi_check "tproxy: cli -> srv:8080 is intercepted too" answer_is "$TPI_SRV4" 8080 "$TPI_SRV4 8080"
send_udp() { tpi_in cli python3 -c 'import socket, sys
a = (sys.argv[1], int(sys.argv[2]))
s = socket.socket(socket.AF_INET6 if ":" in a[0] else socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(sys.argv[3].encode(), a)' "$@"; }
udp_logged() {
    local i
    for ((i = 0; i < 30; i++)); do
        grep -qxF -- "$1" "$(tpi_tmpdir)/udp.log" 2>/dev/null && return 0
        sleep 0.1
    done
    cat "$(tpi_tmpdir)/udp.log"
    return 1
}
send_udp "$TPI_SRV4" 53 hello-udp4
send_udp "$TPI_SRV6" 5353 hello-udp6
tpi_check "tproxy: UDP v4 datagram to srv:53 intercepted, orig dst kept" udp_logged "$TPI_CLI4 $TPI_SRV4 53 hello-udp4"
tpi_check "tproxy: UDP v6 datagram to srv:5353 intercepted, orig dst kept" udp_logged "$TPI_CLI6 $TPI_SRV6 5353 hello-udp6"
tpi_rules_remove gw
tpi_check "tproxy rules removed" gw_ruleset_empty
tpi_check "tproxy ip rules removed (v4)" bash -c "! ip netns exec '$TPI_NS_GW' ip -4 rule | grep fwmark >/dev/null"
tpi_check "tproxy ip rules removed (v6)" bash -c "! ip netns exec '$TPI_NS_GW' ip -6 rule | grep fwmark >/dev/null"

# ---- teardown leaves nothing behind
mapfile -t bg_pids < <(awk '{ print $1 }' "$(tpi_tmpdir)/.tpi/pids")
tmp=$(tpi_tmpdir)
tpi_teardown
tpi_check "no namespace ${TPI_PREFIX}-* remains" bash -c "! ip netns list | grep '^${TPI_PREFIX}-' >/dev/null"
alive=()
for p in "${bg_pids[@]}"; do
    if tpi_alive "$p"; then alive+=("$p"); fi
done
tpi_check "all ${#bg_pids[@]} background processes are gone" test "${#alive[@]}" -eq 0
tpi_check "temp dir removed" test ! -e "$tmp"
exit 0
