#!/usr/bin/env bash
# Benchmark (not a test): TLS under rhttpd, apache2 with mod_ssl and nginx, side by side in one
# run, with the same RSA-2048 certificate (made here) and the same 1 KiB file:
#   - full TLS 1.3 handshakes (openssl s_time -new: a new session per connection, one GET each)
#   - resumed TLS 1.3 handshakes (openssl s_time -reuse: the first session's ticket reused)
#   - 1 KiB keep-alive requests over TLS (wrk -c CONNS)
# each reported as clients see it (connections/s, requests/s) and as server CPU time per
# handshake or request (utime+stime of every server process, from /proc: steadier on a busy
# machine), medians over ROUNDS alternating rounds; then IDLE kept-alive TLS connections held
# open at once and the servers' memory with them (RSS and PSS summed over their processes).
#
#   bench/tls.sh target/release/rhttpd
#   ROUNDS=3 DURATION=5 IDLE=10000 bench/tls.sh target/release/rhttpd
#
# Installs wrk, apache2, nginx and openssl with apt when missing. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
export DEBIAN_FRONTEND=noninteractive
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNS=${CONNS:-64}
IDLE=${IDLE:-10000}
[[ $# -eq 1 ]] || { echo "usage: $0 path/to/rhttpd" >&2; exit 2; }
rhttpd=$(realpath "$1")

need wrk wrk
need apache2 apache2
need nginx nginx-light
need openssl openssl

work=$(mktemp -d)
trap 'for f in "$work"/*.pid; do [[ -e $f ]] && kill "$(cat "$f")" 2>/dev/null; done; rm -rf "$work"' EXIT
mkdir -p "$work/htdocs" "$work/logs"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/htdocs/1k.txt"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/server.key" -out "$work/server.crt" \
    -days 30 -subj /CN=localhost 2>/dev/null
chmod -R a+rX "$work"
port=$((20000 + RANDOM % 12000)) # below the ephemeral ports wrk's connections take
modules=/usr/lib/apache2/modules
# Descriptors for IDLE connections on each side (a container may cap the hard limit).
fds=$((IDLE * 2 + 1000))
hard=$(ulimit -Hn)
[[ $hard != unlimited && $hard -lt $fds ]] && fds=$hard
ulimit -n "$fds"

# One configuration for rhttpd and apache2: the event MPM sized for IDLE parked connections
# (two children, each accepting ThreadsPerChild x AsyncRequestWorkerFactor of them).
cat >"$work/httpd.conf" <<EOF
ServerRoot $work
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule mime_module $modules/mod_mime.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule socache_shmcb_module $modules/mod_socache_shmcb.so
LoadModule ssl_module $modules/mod_ssl.so
Listen 127.0.0.1:$port
ServerName localhost
PidFile $work/logs/httpd.pid
ErrorLog $work/logs/error_log
DocumentRoot $work/htdocs
TypesConfig /etc/mime.types
StartServers 2
ServerLimit 2
ThreadsPerChild 64
MaxRequestWorkers 128
AsyncRequestWorkerFactor $((IDLE / 64 + 10))
KeepAliveTimeout 300
MaxKeepAliveRequests 0
SSLSessionCache shmcb:$work/logs/scache(512000)
SSLEngine on
SSLCertificateFile $work/server.crt
SSLCertificateKeyFile $work/server.key
# As Debian's apache2.conf and the upstream httpd.conf have it: no .htaccess looked for above
# the site (without it both servers consult one in every directory from / down, each request).
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory $work/htdocs>
    Require all granted
    AllowOverride None
</Directory>
EOF
cat >"$work/nginx.conf" <<EOF
worker_processes 2;
worker_rlimit_nofile $fds;
pid $work/logs/nginx.pid;
error_log $work/logs/nginx_error.log;
events { worker_connections $((IDLE + 1000)); }
http {
    access_log off;
    keepalive_timeout 300;
    keepalive_requests 1000000;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:SSL:1m;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $work/server.crt;
        ssl_certificate_key $work/server.key;
        root $work/htdocs;
    }
}
EOF



# RSS and PSS in KiB, summed over a process and its descendants.
memory() {
    local rss=0 pss=0 r s
    for p in $(family "$1"); do
        r=$(awk '/^Rss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
        s=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null || echo 0)
        rss=$((rss + ${r:-0}))
        pss=$((pss + ${s:-0}))
    done
    echo "$rss $pss"
}

start() { # name -> pid of the server's parent
    local name=$1
    case $name in
    apache2) APACHE_RUN_USER=www-data APACHE_RUN_GROUP=www-data apache2 -f "$work/httpd.conf" -D FOREGROUND >"$work/$name.out" 2>&1 & ;;
    nginx) nginx -c "$work/nginx.conf" -g 'daemon off;' >"$work/$name.out" 2>&1 & ;;
    rhttpd) "$rhttpd" -f "$work/httpd.conf" -D FOREGROUND >"$work/$name.out" 2>&1 & ;;
    esac
    echo $! >"$work/$name.pid"
    for _ in $(seq 100); do
        curl -sk -o /dev/null "https://127.0.0.1:$port/1k.txt" && return 0
        sleep 0.1
    done
    echo "$name did not start:" >&2
    tail "$work/$name.out" "$work/logs/error_log" >&2
    exit 1
}

stop() {
    local pid
    pid=$(cat "$work/$1.pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$work/$1.pid"
    sleep 1
}

hz=$(getconf CLK_TCK)
# Runs a measurement (a command printing its count of handshakes or requests) against a
# server: "count/s us-per-unit".
measure() {
    local pid=$1 before after count
    shift
    before=$(ticks "$pid")
    count=$("$@")
    count=${count:-0}
    after=$(ticks "$pid")
    awk -v n="$count" -v t=$((after - before)) -v hz="$hz" -v d="$DURATION" \
        'BEGIN {printf "%.0f %.1f\n", n / d, (n > 0) ? t * 1e6 / hz / n : 0}'
}

s_time() { # -new or -reuse -> connections made
    openssl s_time -connect "127.0.0.1:$port" -tls1_3 "$1" -time "$DURATION" -www /1k.txt 2>/dev/null |
        awk '/connections in/ && /real seconds/ {print $1; exit}'
}

keepalive() {
    wrk -t1 -c"$CONNS" -d"${DURATION}s" "https://127.0.0.1:$port/1k.txt" | awk '/requests in/ {print $1}'
}

# Opens IDLE kept-alive TLS connections (a handshake and one request each), reports how many
# are open, holds them until stdin closes.
cat >"$work/idle.py" <<'EOF'
import socket, ssl, sys
port, wanted = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
held = []
for _ in range(wanted):
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30))
        s.sendall(b"GET /1k.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
        got = b""
        while not got.endswith(b"x" * 16):
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
        held.append(s)
    except OSError:
        break
print(len(held), flush=True)
sys.stdin.read()
EOF

servers=(rhttpd apache2 nginx)
declare -A full resumed kept
for round in $(seq "$ROUNDS"); do
    for name in "${servers[@]}"; do
        start "$name"
        pid=$(cat "$work/$name.pid")
        wrk -t1 -c"$CONNS" -d1s "https://127.0.0.1:$port/1k.txt" >/dev/null
        read -r f_rate f_us < <(measure "$pid" s_time -new)
        read -r r_rate r_us < <(measure "$pid" s_time -reuse)
        read -r k_rate k_us < <(measure "$pid" keepalive)
        printf 'round %s  %-8s full %6s/s %7s us | resumed %6s/s %6s us | keep-alive %7s req/s %6s us\n' \
            "$round" "$name" "$f_rate" "$f_us" "$r_rate" "$r_us" "$k_rate" "$k_us"
        full[$name]="${full[$name]:-} $f_rate:$f_us"
        resumed[$name]="${resumed[$name]:-} $r_rate:$r_us"
        kept[$name]="${kept[$name]:-} $k_rate:$k_us"
        stop "$name"
    done
done

field() { tr ' ' '\n' | grep -v '^$' | cut -d: -f"$1" | tr '\n' ' '; }
echo
printf '%-8s %14s %12s %14s %12s %16s %12s\n' server "full/s" "us/hs" "resumed/s" "us/hs" "keep-alive/s" "us/req"
for name in "${servers[@]}"; do
    printf '%-8s %14s %12s %14s %12s %16s %12s\n' "$name" \
        "$(echo "${full[$name]}" | field 1 | median)" "$(echo "${full[$name]}" | field 2 | median)" \
        "$(echo "${resumed[$name]}" | field 1 | median)" "$(echo "${resumed[$name]}" | field 2 | median)" \
        "$(echo "${kept[$name]}" | field 1 | median)" "$(echo "${kept[$name]}" | field 2 | median)"
done

echo
echo "$IDLE idle kept-alive TLS connections:"
for name in "${servers[@]}"; do
    start "$name"
    pid=$(cat "$work/$name.pid")
    read -r base_rss base_pss < <(memory "$pid")
    coproc IDLER { python3 "$work/idle.py" "$port" "$IDLE"; }
    read -r opened <&"${IDLER[0]}"
    sleep 2
    read -r rss pss < <(memory "$pid")
    printf '%-8s %6s open  RSS %7s KiB (idle server %6s)  PSS %7s KiB (idle server %6s)\n' \
        "$name" "$opened" "$rss" "$base_rss" "$pss" "$base_pss"
    exec {IDLER[1]}>&-
    wait "$IDLER_PID" 2>/dev/null || true
    stop "$name"
done
