# shellcheck shell=bash
# t/integration/tools/chain-lib.sh - what the chain scenarios (30-, 31-, 32-chain-*.sh) share.
# Source it after lib.sh and tpi_setup_topology. (Named 3x- so run.sh, which runs NN-*.sh, skips it.)
#
#   ch_www                      HTTP server in srv on 8080 (dual-stack): hello.txt and an 8 MiB
#                               blob whose sha256 is kept; REDIRECT rules in gw to :12345
#   ch_gw NAME HOPS [EXTRA]     (re)start tproxyd in gw: service "red-in" (red, REDIRECT) with
#                               handler.chain = NAME, chain NAME = HOPS (libconfig list body);
#                               EXTRA goes into the handler group (e.g. sniffing)
#   ch_fetch DESC [ADDR] [HOST] curl from cli to ADDR:8080 (default srv v4), optional Host header:
#                               hello.txt and the blob by sha256, through the chain
#   ch_fetch_fails DESC         the same request fails (reset/empty reply), promptly
#   ch_log ERE [N] [SECS]       wait until the gw log has N lines matching ERE (bounded)
#   ch_log_count ERE            how many gw log lines match ERE now
#   ch_srv_tproxyd              a second tproxyd in srv as upstream (socks5 :2080, http :3128,
#                               relay :8420 (with UDP association), relay over tls :8421, all
#                               with user u / password p)
#   ch_dante PORT auth|none     danted on srv PORT (socksmethod username: system user CH_USER)
#   ch_microsocks PORT [U P]    microsocks on srv PORT
#   ch_tinyproxy PORT           tinyproxy on srv PORT (CONNECT to 8080, 8081, 1080, 8421 allowed)
#   ch_garbage PORT             a server in srv that answers every connection with junk
#   ch_blackhole PORT           SYNs to srv PORT are dropped (a node that is "down" silently)

CH_TP=${CH_TP:-$TPI_ROOT/build/tproxyd}   # CH_TP=wrapper: e.g. under valgrind
CH_T=$(tpi_tmpdir)
CH_PORT=12345
CH_GW_PID=
CH_GW_LOG=
CH_USER=tpichain
CH_PASS=tpi-chain-secret
CH_BLOB_SHA=
CH_NAME=relay.tpi.test

ch_www() {
    mkdir -p "$CH_T/www"
    printf 'hello through the chain\n' >"$CH_T/www/hello.txt"
    head -c $((8 * 1024 * 1024)) /dev/urandom >"$CH_T/www/blob"
    CH_BLOB_SHA=$(sha256sum "$CH_T/www/blob" | cut -d' ' -f1)
    tpi_http_server srv 8080 "$CH_T/www" >/dev/null
    # an on-link address nobody has fails after 1 neighbour probe (~1 s) instead of 3
    tpi_in gw sysctl -qw "net.ipv4.neigh.$TPI_GW_SRV_IF.mcast_solicit=1" \
        "net.ipv6.neigh.$TPI_GW_SRV_IF.mcast_solicit=1" || tpi_fail "neigh sysctl in gw"
    tpi_rules_redirect gw "$CH_PORT" both
}

# ch_gw NAME HOPS [HANDLER-EXTRA] [SERVICE-EXTRA]
ch_gw() {
    local name=$1 hops=$2 extra=${3:-} sextra=${4:-} conf
    conf=$CH_T/gw-$name.conf
    CH_GW_LOG=$CH_T/gw-$name.log
    if [[ -n $CH_GW_PID ]]; then
        tpi_kill "$CH_GW_PID"
        CH_GW_PID=
    fi
    cat >"$conf" <<CONF
# written by $TPI_SCRIPT: red (REDIRECT) through chain "$name"
worker_processes = 1;
log = { level = "info"; target = "$CH_GW_LOG"; };
services = (
  { name = "red-in"; addr = ":$CH_PORT";
    connect_timeout = "3s"; idle_timeout = "5s"; $sextra
    handler  = { type = "red"; chain = "$name"; $extra };
    listener = { type = "red"; }; }
);
chains = (
  { name = "$name";
    hops = ( $hops ); }
);
CONF
    tpi_check "tproxyd -t accepts the gw config for chain $name" "$CH_TP" -t -c "$conf"
    : >"$CH_GW_LOG"
    CH_GW_PID=$(tpi_bg gw "$CH_TP" -f -c "$conf")
    tpi_wait_port gw tcp "$CH_PORT" || tpi_fail "tproxyd (chain $name) does not listen on :$CH_PORT"
}

_ch_url() { # ADDR PATH
    if [[ $1 == *:* ]]; then printf 'http://[%s]:8080/%s' "$1" "$2"; else printf 'http://%s:8080/%s' "$1" "$2"; fi
}

# _ch_get ADDR HOST: hello.txt and the blob through the proxy; checks body and sha256
_ch_get() {
    local addr=$1 host=$2 got sha
    local -a hdr=()
    [[ -n $host ]] && hdr=(-H "Host: $host:8080")
    got=$(tpi_in cli curl -fsS -m 15 "${hdr[@]}" "$(_ch_url "$addr" hello.txt)") || return 1
    [[ $got == "hello through the chain" ]] || { echo "hello.txt: got '$got'"; return 1; }
    sha=$(tpi_in cli curl -fsS -m 30 "${hdr[@]}" "$(_ch_url "$addr" blob)" | sha256sum | cut -d' ' -f1)
    [[ $sha == "$CH_BLOB_SHA" ]] || { echo "blob sha256 $sha, want $CH_BLOB_SHA"; return 1; }
}

# ch_fetch DESC [ADDR] [HOST]
ch_fetch() {
    tpi_check "$1: hello.txt + 8 MiB blob (sha256) from cli" _ch_get "${2:-$TPI_SRV4}" "${3:-}"
}

_ch_get_fails() {
    local start=$SECONDS out
    if out=$(tpi_in cli curl -sS -m 20 "$(_ch_url "$TPI_SRV4" hello.txt)" 2>&1); then
        echo "unexpected success: $out"
        return 1
    fi
    echo "curl: $out"
    ((SECONDS - start <= 15)) || { echo "took $((SECONDS - start)) s"; return 1; }
}

ch_fetch_fails() { tpi_check "$1" _ch_get_fails; }

ch_log_count() { grep -cE -- "$1" "$CH_GW_LOG" 2>/dev/null || true; }

# ch_log ERE [N=1] [SECS=10]
ch_log() {
    local re=$1 want=${2:-1} secs=${3:-10} i n=0
    for ((i = 0; i <= secs * 10; i++)); do
        n=$(ch_log_count "$re")
        ((n >= want)) && return 0
        sleep 0.1
    done
    echo "gw log: $n line(s) match /$re/, wanted $want; last lines:"
    tail -n 12 "$CH_GW_LOG"
    return 1
}

# ch_show ERE: the last matching gw log line as a diagnostic
ch_show() { grep -E -- "$1" "$CH_GW_LOG" | tail -n 1 | sed 's/^.*\] [^ ]*: /log: /' | while IFS= read -r l; do tpi_diag "$l"; done; }

_ch_userdel() { userdel "$CH_USER" >/dev/null 2>&1 || true; }

# ch_dante PORT auth|none
ch_dante() {
    local port=$1 mode=$2 conf=$CH_T/danted-$1.conf pid
    if [[ $mode == auth ]] && ! id "$CH_USER" >/dev/null 2>&1; then
        useradd -M -N -s /usr/sbin/nologin "$CH_USER" || tpi_fail "useradd $CH_USER"
        tpi_on_exit _ch_userdel
        printf '%s:%s\n' "$CH_USER" "$CH_PASS" | chpasswd || tpi_fail "chpasswd $CH_USER"
    fi
    cat >"$conf" <<CONF
logoutput: stderr
internal: $TPI_SRV4 port = $port
external: $TPI_SRV_IF
clientmethod: none
socksmethod: $([[ $mode == auth ]] && echo username || echo none)
user.privileged: root
user.unprivileged: nobody
client pass { from: 0/0 to: 0/0 }
socks pass { from: 0/0 to: 0/0 command: connect udpassociate }
socks pass { from: 0/0 to: 0/0 command: udpreply }
CONF
    pid=$(tpi_bg srv danted -f "$conf" -p "$CH_T/danted-$port.pid" -N 1)
    tpi_wait_port srv tcp "$port" || tpi_fail "danted on $port did not start"
    tpi_diag "danted ($mode) on $TPI_SRV4:$port, pid $pid"
}

# ch_microsocks PORT [USER PASS]
ch_microsocks() {
    local port=$1
    local -a auth=()
    (($# >= 3)) && auth=(-u "$2" -P "$3")
    tpi_bg srv microsocks -i "$TPI_SRV4" -p "$port" "${auth[@]}" >/dev/null
    tpi_wait_port srv tcp "$port" || tpi_fail "microsocks on $port did not start"
}

ch_tinyproxy() {
    local port=$1 conf=$CH_T/tinyproxy.conf
    cat >"$conf" <<CONF
User nobody
Group nogroup
Port $port
Listen $TPI_SRV4
Timeout 30
MaxClients 50
Allow 10.77.0.0/16
ConnectPort 8080
ConnectPort 8081
ConnectPort 1080
ConnectPort 8421
LogLevel Info
CONF
    tpi_bg srv tinyproxy -d -c "$conf" >/dev/null
    tpi_wait_port srv tcp "$port" || tpi_fail "tinyproxy on $port did not start"
}

ch_garbage() {
    tpi_bg srv python3 -c '
import socket, sys, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(64)
def serve(c):
    try:
        c.settimeout(5); c.sendall(b"garbage, not a proxy\r\n"); c.recv(4096)
    except OSError:
        pass
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
' "$TPI_SRV4" "$1" >/dev/null
    tpi_wait_port srv tcp "$1" || tpi_fail "garbage server on $1 did not start"
}

ch_blackhole() {
    tpi_in srv nft -f - <<NFT || tpi_fail "nft drop rule in srv"
table inet tpichaindrop {
    chain input {
        type filter hook input priority 0; policy accept;
        tcp dport $1 drop
    }
}
NFT
}

ch_cert() {
    [[ -s $CH_T/relay.crt ]] && return 0
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj "/CN=$CH_NAME" -addext "subjectAltName=DNS:$CH_NAME,IP:$TPI_SRV4" \
        -keyout "$CH_T/relay.key" -out "$CH_T/relay.crt" >/dev/null 2>&1 ||
        tpi_fail "openssl req (self-signed certificate)"
}

ch_srv_tproxyd() {
    local conf=$CH_T/srv.conf
    ch_cert
    cat >"$conf" <<CONF
# tproxyd as the upstream of the gateway (written by $TPI_SCRIPT)
worker_processes = 1;
log = { level = "info"; target = "$CH_T/srv-tproxyd.log"; };
services = (
  { name = "socks5-server"; addr = ":2080";
    handler = { type = "socks5"; auth = { username = "u"; password = "p"; }; };
    listener = { type = "tcp"; }; },
  { name = "http-server"; addr = ":3128";
    handler = { type = "http"; auth = { username = "u"; password = "p"; }; };
    listener = { type = "tcp"; }; },
  { name = "relay-server"; addr = ":8420";
    handler = { type = "relay"; auth = { username = "u"; password = "p"; }; bind = true; };
    listener = { type = "tcp"; }; },
  { name = "relay-tls-server"; addr = ":8421";
    handler = { type = "relay"; auth = { username = "u"; password = "p"; }; };
    listener = { type = "tls"; tls = { cert_file = "$CH_T/relay.crt"; key_file = "$CH_T/relay.key"; }; }; }
);
CONF
    tpi_check "tproxyd -t accepts the upstream-servers config" "$CH_TP" -t -c "$conf"
    tpi_bg srv "$CH_TP" -f -c "$conf" >/dev/null
    for p in 2080 3128 8420 8421; do
        tpi_wait_port srv tcp "$p" || tpi_fail "tproxyd in srv does not listen on :$p"
    done
}
