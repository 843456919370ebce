#!/bin/sh
# install-deps.sh GROUP... - installs the Debian packages a task needs, only
# those missing. Groups: build, test, fuzz, bench. Root runs apt-get; anyone
# else is told the command to run. The one list of packages lives here.
set -eu

pkgs_build="gcc make autoconf automake pkg-config libevent-dev libconfig-dev libssl-dev libcap-dev check"
pkgs_test="iproute2 nftables iptables procps curl iperf3 nginx-light dante-server microsocks tinyproxy dnsmasq-base dnsutils socat ncat openssl python3 valgrind man-db groff-base shellcheck ngtcp2-client ngtcp2-server python3-cryptography"
pkgs_fuzz="clang libclang-rt-14-dev"
pkgs_bench="iperf3 wrk nginx-light redsocks shadowsocks-libev v2ray microsocks python3 curl nftables iproute2 gcc"

want=""
for g in "$@"; do
    case $g in
    build) want="$want $pkgs_build" ;;
    test)  want="$want $pkgs_test" ;;
    fuzz)  want="$want $pkgs_fuzz" ;;
    bench) want="$want $pkgs_bench" ;;
    *) echo "install-deps.sh: unknown group '$g' (build, test, fuzz, bench)" >&2; exit 2 ;;
    esac
done

missing=""
for p in $want; do
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case $st in
    *" installed") ;;
    *) case " $missing " in *" $p "*) ;; *) missing="$missing $p" ;; esac ;;
    esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages:$missing" >&2
    echo "run as root: apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
echo "installing Debian packages:$missing"
export DEBIAN_FRONTEND=noninteractive
# Packaged daemons (nginx, danted, tinyproxy, dnsmasq) must not start
# system-wide services on install: the tests start their own copies.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
fi
rc=0
{ apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } || rc=$?
[ "$made_policy" = 1 ] && rm -f "$policy"
exit $rc
