# shellcheck shell=bash
# bench/lib.sh - topology, process and measurement helpers for bench/run.sh (source it).
#
#   tpb-cli                       tpb-gw (proxy under test)                      tpb-srv
#   c0 10.203.1.2/24  <------>  g0 10.203.1.1/24 | g1 10.203.2.1/24  <------>  s0 10.203.2.2/24
#   default via 10.203.1.1      ip_forward=1, interception on packets      default via 10.203.2.1
#                               entering g0 (contrib/tproxyd-rules)        nginx :80, iperf3 :5201,
#                                                                          udprr echo :7, upstreams
# veth pairs, MTU 1500, default offloads; the host's own namespace is not touched.
# Namespace names: $TPB_PREFIX-cli/-gw/-srv (TPB_PREFIX=tpb; bench/profile.sh uses tpp).
# Everything started here is recorded by PID and killed by PID (bench_stop / bench_cleanup).

: "${TPB_PREFIX:=tpb}"   # bench/run.sh: tpb; bench/profile.sh: tpp (both can exist at once)
TPB_CLI=$TPB_PREFIX-cli TPB_GW=$TPB_PREFIX-gw TPB_SRV=$TPB_PREFIX-srv
TPB_CLI_IP=10.203.1.2 TPB_GWC_IP=10.203.1.1 TPB_GWS_IP=10.203.2.1 TPB_SRV_IP=10.203.2.2
TPB_CLI_NET=10.203.1.0/24
TPB_PORT=12345           # every proxy listens here (TCP, and UDP where it relays UDP)
TPB_MARK=100             # SO_MARK on the proxies' egress (tproxyd, v2ray); RETURNed by the rules
TPB_MIXED_TABLE=tpbench  # nft table for the UDP half of "mixed" mode (REDIRECT TCP + TPROXY UDP)
TPB_RT_PROTO=202         # tags the ip rule/route the mixed mode adds (tproxyd-rules uses 201)

: "${TPB_LOGDIR:=/tmp}"
TPB_PIDFILE=${TPB_PIDFILE:-$TPB_LOGDIR/pids}

tpb_log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

tpb_ns_exists() { [[ -e /run/netns/$1 ]]; }

# tpb_alive PID: exists and is not a zombie
tpb_alive() {
    local st
    [[ -r /proc/$1/stat ]] || return 1
    st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [[ -n $st && $st != Z ]]
}

# tpb_session_pids SID: every live process of the session SID (a bench_start'ed process and
# whatever it forked, e.g. tproxyd's master and workers)
tpb_session_pids() {
    ps -e -o pid=,sid= 2>/dev/null | awk -v s="$1" '$2 == s { print $1 }'
}

# tpb_kill PID...: TERM each PID and the rest of its session, wait up to 3 s, then KILL.
tpb_kill() {
    local p q i left all=()
    for p in "$@"; do
        [[ $p =~ ^[0-9]+$ ]] || continue
        all+=("$p")
        for q in $(tpb_session_pids "$p"); do [[ $q != "$p" ]] && all+=("$q"); done
    done
    ((${#all[@]})) || return 0
    for p in "${all[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for ((i = 0; i < 30; i++)); do
        left=0
        for p in "${all[@]}"; do tpb_alive "$p" && left=1; done
        ((left)) || break
        sleep 0.1
    done
    for p in "${all[@]}"; do tpb_alive "$p" && kill -KILL "$p" 2>/dev/null; done
    for p in "$@"; do wait "$p" 2>/dev/null || true; done
    return 0
}

# bench_start NS LOGNAME CMD...: start CMD in NS in its own session (so its children can be
# found by session id), output to $TPB_LOGDIR/LOGNAME.log; sets BG_PID.
bench_start() {
    local ns=$1 name=$2
    shift 2
    setsid ip netns exec "$ns" "$@" </dev/null >"$TPB_LOGDIR/$name.log" 2>&1 &
    BG_PID=$!
    echo "$BG_PID" >>"$TPB_PIDFILE"
}

# bench_stop PID...: stop bench_start'ed processes (and their sessions)
bench_stop() { tpb_kill "$@"; }

# tpb_wait_listen NS tcp|udp PORT SECS
tpb_wait_listen() {
    local flag=-Hltn i
    [[ $2 == udp ]] && flag=-Hlun
    for ((i = 0; i < $4 * 10; i++)); do
        [[ -n $(nsx "$1" ss $flag "sport = :$3" 2>/dev/null) ]] && return 0
        sleep 0.1
    done
    return 1
}

# ------------------------------------------------------------------ topology

_tpb_del_ns() {
    local ns=$1 pids
    tpb_ns_exists "$ns" || return 0
    # whatever still runs in a tpb-* namespace was started by an earlier bench run
    mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null)
    ((${#pids[@]})) && tpb_kill "${pids[@]}"
    ip netns del "$ns" 2>/dev/null || true
}

topo_down() {
    local ns
    for ns in "$TPB_CLI" "$TPB_GW" "$TPB_SRV"; do _tpb_del_ns "$ns"; done
}

topo_up() {
    local ns
    topo_down
    for ns in "$TPB_CLI" "$TPB_GW" "$TPB_SRV"; do
        ip netns add "$ns"
        ip -n "$ns" link set lo up
        nsx "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65000" net.ipv4.tcp_tw_reuse=1 \
            net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
            net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0
    done
    ip -n "$TPB_CLI" link add c0 mtu 1500 type veth peer name g0 netns "$TPB_GW"
    ip -n "$TPB_GW" link add g1 mtu 1500 type veth peer name s0 netns "$TPB_SRV"
    ip -n "$TPB_GW" link set g0 mtu 1500
    ip -n "$TPB_SRV" link set s0 mtu 1500
    ip -n "$TPB_CLI" addr add "$TPB_CLI_IP/24" dev c0
    ip -n "$TPB_GW" addr add "$TPB_GWC_IP/24" dev g0
    ip -n "$TPB_GW" addr add "$TPB_GWS_IP/24" dev g1
    ip -n "$TPB_SRV" addr add "$TPB_SRV_IP/24" dev s0
    ip -n "$TPB_CLI" link set c0 up
    ip -n "$TPB_GW" link set g0 up
    ip -n "$TPB_GW" link set g1 up
    ip -n "$TPB_SRV" link set s0 up
    ip -n "$TPB_CLI" route add default via "$TPB_GWC_IP"
    ip -n "$TPB_SRV" route add default via "$TPB_GWS_IP"
    nsx "$TPB_GW" sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.g0.rp_filter=0 \
        net.ipv4.conf.g1.rp_filter=0 net.ipv4.conf.lo.rp_filter=0
}

# ------------------------------------------------------------------ interception rules

# rules_clear: no interception (plain routing)
rules_clear() {
    nsx "$TPB_GW" sh "$TPB_RULES" remove >/dev/null
    nsx "$TPB_GW" nft delete table inet "$TPB_MIXED_TABLE" 2>/dev/null || true
    while nsx "$TPB_GW" ip rule del protocol "$TPB_RT_PROTO" 2>/dev/null; do :; done
    nsx "$TPB_GW" ip route flush table 100 protocol "$TPB_RT_PROTO" 2>/dev/null || true
}

# rules_apply MODE [UDP=yes|no]: direct | redirect (TCP) | tproxy (TCP, + UDP) | mixed (REDIRECT TCP +
# TPROXY UDP). tproxyd-rules does redirect and tproxy; the UDP half of mixed is a table of ours.
rules_apply() {
    local mode=$1 udp=${2:-yes} proto=both
    local -a common=(--backend nft --port "$TPB_PORT" --family 4 --iface g0 --no-default-bypass
        --bypass 127.0.0.0/8 --bypass "$TPB_CLI_NET" --bypass 224.0.0.0/4 --bypass-mark "$TPB_MARK")
    rules_clear
    # A proxy row leaves TIME_WAIT sockets in the gateway whose local address is the server's
    # (transparent sockets) for 60 s. Early demux attaches a forwarded SYN on the same 4-tuple to
    # such a socket and ip_forward() then drops it (skb->sk set): plain routing right after a
    # proxy row would stall on SYN retries. Plain routing has no local sockets to demux to, so it
    # runs without; the proxy rows keep it (it saves their local deliveries a route lookup).
    nsx "$TPB_GW" sysctl -qw net.ipv4.tcp_early_demux="$([[ $mode == direct ]] && echo 0 || echo 1)"
    case $mode in
    direct) ;;
    redirect) nsx "$TPB_GW" sh "$TPB_RULES" apply --mode redirect --proto tcp "${common[@]}" >/dev/null ;;
    tproxy)
        [[ $udp == yes ]] || proto=tcp
        nsx "$TPB_GW" sh "$TPB_RULES" apply --mode tproxy --proto "$proto" "${common[@]}" >/dev/null
        ;;
    mixed)
        nsx "$TPB_GW" sh "$TPB_RULES" apply --mode redirect --proto tcp "${common[@]}" >/dev/null
        nsx "$TPB_GW" ip rule add fwmark 0x1 lookup 100 protocol "$TPB_RT_PROTO"
        nsx "$TPB_GW" ip route add local default dev lo table 100 protocol "$TPB_RT_PROTO"
        nsx "$TPB_GW" nft -f - <<EOF
table inet $TPB_MIXED_TABLE {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        iifname != "g0" return
        meta nfproto != ipv4 return
        meta mark $TPB_MARK return
        fib daddr type local return
        ip daddr { 127.0.0.0/8, $TPB_CLI_NET, 224.0.0.0/4 } return
        meta l4proto udp tproxy ip to :$TPB_PORT meta mark set 0x1 accept
    }
}
EOF
        ;;
    *) tpb_log "unknown interception mode $mode"; return 2 ;;
    esac
    # REDIRECT needs conntrack: a short TIME_WAIT lifetime in the gateway keeps hundreds of
    # thousands of closed connections (conn-rate test) from filling the host-wide table
    nsx "$TPB_GW" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=5 2>/dev/null || true
}

# ------------------------------------------------------------------ /proc accounting

# tpb_rss_kb PID...: VmRSS summed (KiB)
tpb_rss_kb() {
    local t=0 v p
    for p in "$@"; do
        v=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# tpb_hwm_kb PID...: VmHWM summed (KiB)
tpb_hwm_kb() {
    local t=0 v p
    for p in "$@"; do
        v=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$p/status" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# tpb_cpu_ticks PID...: utime+stime+cutime+cstime summed (clock ticks). The fields are counted
# after the ")" that closes comm, which may contain spaces.
tpb_cpu_ticks() {
    local t=0 v p
    for p in "$@"; do
        v=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }') || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# tpb_fds PID...: open file descriptors summed
tpb_fds() {
    local t=0 p n
    for p in "$@"; do
        n=$(find "/proc/$p/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l) || n=0
        t=$((t + n))
    done
    echo "$t"
}

# tpb_sys_cpu: "total idle" jiffies of the whole box (for the busy %)
tpb_sys_cpu() { awk '/^cpu / { idle = $5 + $6; tot = 0; for (i = 2; i <= NF; i++) tot += $i; print tot, idle }' /proc/stat; }

# tpb_busy_pct "TOT0 IDLE0" "TOT1 IDLE1"
tpb_busy_pct() {
    echo "$1 $2" | awk '{ dt = $3 - $1; di = $4 - $2; if (dt > 0) printf "%.0f", 100 * (dt - di) / dt; else print "NA" }'
}

# ------------------------------------------------------------------ configs shared by run.sh and profile.sh

# tpb_nginx_conf FILE DIR NOFILE [WORKERS=1 PORT=80 NAME=nginx]: nginx in the server namespace,
# `return 200 "ok\n"`. The bench's server is 1 worker on :80. Each worker holds at most
# worker_connections (16000) connections and NOFILE descriptors, so more idle connections than that
# take more workers: with WORKERS > 1 the listener is `reuseport` (one socket per worker, the kernel
# spreads connections over them by hash). NAME keeps pid file, error log and temp dir apart.
tpb_nginx_conf() {
    local workers=${4:-1} port=${5:-80} name=${6:-nginx} rp=""
    ((workers > 1)) && rp=" reuseport"
    mkdir -p "$2/$name-tmp"
    cat >"$1" <<EOF
user root;
worker_processes $workers;
worker_rlimit_nofile $3;
pid $2/$name.pid;
error_log $2/$name.err warn;
events { worker_connections 16000; multi_accept on; }
http {
    access_log off;
    keepalive_timeout 300s;
    keepalive_requests 1000000;
    client_body_temp_path $2/$name-tmp;
    proxy_temp_path $2/$name-tmp;
    fastcgi_temp_path $2/$name-tmp;
    uwsgi_temp_path $2/$name-tmp;
    scgi_temp_path $2/$name-tmp;
    server { listen $TPB_SRV_IP:$port backlog=8192$rp; location / { return 200 "ok\n"; } }
}
EOF
}

# tpb_tproxyd_conf FILE MODE(redirect|tproxy) WORKERS CHAIN(none|socks) UDP(yes|no) NOFILE
#                  [REDU_TTL=60s REDU_MAX_SESSIONS=(tproxyd's default) UDP_SOURCES="ip ip ..."]
# The bench's tproxyd: log level warn (access-log lines cost), SO_MARK 100 on egress, `red` on
# :12345 (+ `redu` on :12345 when UDP=yes), optionally through the socks5 upstream in tpb-srv.
# NOFILE is worker_rlimit_nofile (per worker); REDU_MAX_SESSIONS is redu's max_sessions (per
# worker, the LRU cap); the scale workload sets both ttl and max_sessions, and UDP_SOURCES: the
# gateway addresses redu's session sockets bind to (sockopts.source; one address carries at most
# one session per ephemeral port).
tpb_tproxyd_conf() {
    local file=$1 tp=false chain="" chains="" ttl=${7:-60s} maxs="" src="" a
    [[ -n ${8:-} ]] && maxs=" max_sessions = $8;"
    for a in ${9:-}; do src+="${src:+, }\"$a\""; done
    [[ -n $src ]] && src=" source = [$src];"
    [[ $2 == tproxy ]] && tp=true
    if [[ $4 == socks ]]; then
        chain='chain = "up"; '
        chains="chains = ( { name = \"up\"; hops = ( { name = \"hop-0\"; nodes = (
    { name = \"microsocks\"; addr = \"$TPB_SRV_IP:1080\"; connector = { type = \"socks5\"; }; } ); } ); } );"
    fi
    {
        echo "# written by bench/ (make bench)"
        echo "worker_processes = $3;"
        echo "worker_rlimit_nofile = $6;"
        echo 'log = { level = "warn"; target = "stderr"; };'
        echo "$chains"
        echo "services = ("
        echo "  { name = \"tcp-in\"; addr = \":$TPB_PORT\"; sockopts = { mark = $TPB_MARK; };"
        echo "    handler  = { type = \"red\"; tproxy = $tp; $chain};"
        echo "    listener = { type = \"red\"; tproxy = $tp; }; }"
        if [[ $5 == yes ]]; then
            echo "  ,{ name = \"udp-in\"; addr = \":$TPB_PORT\"; sockopts = { mark = $TPB_MARK;$src };"
            echo "    handler  = { type = \"redu\"; };"
            echo "    listener = { type = \"redu\"; ttl = \"$ttl\";$maxs }; }"
        fi
        echo ");"
    } >"$file"
}
