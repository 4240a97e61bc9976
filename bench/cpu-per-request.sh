#!/usr/bin/env bash
# Benchmark (not a test): CPU time per request of two or more rhttpd binaries (and, with
# APACHE=1 / NGINX=1, apache2 and nginx) serving the same 1 KiB file with the same event-MPM
# configuration, measured in alternating rounds in one run so that the machine's noise falls on
# every server alike. CPU per request is the server's utime+stime (parent and every child, from
# /proc) over the requests wrk completed: steadier than requests/s on a busy machine.
#
#   bench/cpu-per-request.sh before=/tmp/rhttpd-old after=target/release/rhttpd
#   ROUNDS=5 DURATION=5s APACHE=1 NGINX=1 bench/cpu-per-request.sh now=target/release/rhttpd
#
# Env: ROUNDS (default 5), DURATION (wrk -d, default 5s), CONNS (default 64), THREADS (wrk -t,
# default 1), HEADER (one request header for wrk to send, e.g. "Connection: close"). Prints
# per round, then the median µs/request per server and its ratio to the first. Installs wrk
# (and apache2/nginx when asked) with apt when missing. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
export DEBIAN_FRONTEND=noninteractive
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-1}

need wrk wrk
[[ ${APACHE:-0} == 1 ]] && need apache2 apache2
[[ ${NGINX:-0} == 1 ]] && need nginx nginx-light

[[ $# -gt 0 ]] || { echo "usage: $0 name=binary [name=binary ...]" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $(cat "$work"/*.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/htdocs" "$work/logs"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/htdocs/1k.txt"
chmod -R a+rX "$work"
port=$((20000 + RANDOM % 12000)) # below the ephemeral ports wrk's connections take
modules=/usr/lib/apache2/modules

# One configuration for rhttpd and apache2: Debian's default event sizing, no access log.
cat >"$work/httpd.conf" <<EOF
ServerRoot $work
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule mime_module $modules/mod_mime.so
LoadModule dir_module $modules/mod_dir.so
LoadModule authz_core_module $modules/mod_authz_core.so
Listen 127.0.0.1:$port
ServerName localhost
PidFile $work/logs/httpd.pid
ErrorLog $work/logs/error_log
DocumentRoot $work/htdocs
TypesConfig /etc/mime.types
StartServers 2
ThreadsPerChild 25
MaxRequestWorkers 150
KeepAliveTimeout 60
MaxKeepAliveRequests 0
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
pid $work/logs/nginx.pid;
error_log $work/logs/nginx_error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 60;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$port; root $work/htdocs; }
}
EOF


start() { # name, binary -> pid of the server's parent
    local name=$1 bin=$2
    case $name in
    apache2) APACHE_RUN_USER=www-data APACHE_RUN_GROUP=www-data apache2 -f "$work/httpd.conf" -D FOREGROUND >"$work/$name.out" 2>&1 & ;;
    nginx) nginx -c "$work/nginx.conf" -g 'daemon off;' >"$work/$name.out" 2>&1 & ;;
    *) "$bin" -f "$work/httpd.conf" -D FOREGROUND >"$work/$name.out" 2>&1 & ;;
    esac
    echo $! >"$work/$name.pid"
    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port/1k.txt" && return 0
        sleep 0.1
    done
    echo "$name did not start:" >&2
    tail "$work/$name.out" >&2
    exit 1
}

stop() {
    local pid
    pid=$(cat "$work/$1.pid")
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    rm -f "$work/$1.pid"
    sleep 0.5
}

servers=("$@")
[[ ${APACHE:-0} == 1 ]] && servers+=(apache2=apache2)
[[ ${NGINX:-0} == 1 ]] && servers+=(nginx=nginx)
declare -A results
for round in $(seq "$ROUNDS"); do
    for spec in "${servers[@]}"; do
        name=${spec%%=*}
        bin=${spec#*=}
        start "$name" "$bin"
        pid=$(cat "$work/$name.pid")
        # Warm up, then measure.
        wrk -t"$THREADS" -c"$CONNS" -d1s ${HEADER:+-H "$HEADER"} "http://127.0.0.1:$port/1k.txt" >/dev/null
        before=$(ticks "$pid")
        out=$(wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" ${HEADER:+-H "$HEADER"} "http://127.0.0.1:$port/1k.txt")
        after=$(ticks "$pid")
        requests=$(echo "$out" | awk '/requests in/ {print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
        hz=$(getconf CLK_TCK)
        us=$(awk -v t=$((after - before)) -v n="$requests" -v hz="$hz" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')
        printf 'round %s  %-10s %8s req/s  %6s us/request\n' "$round" "$name" "$rps" "$us"
        results[$name]="${results[$name]:-} $us"
        stop "$name"
    done
done

first=""
echo
for spec in "${servers[@]}"; do
    name=${spec%%=*}
    m=$(echo "${results[$name]}" | median)
    [[ -z $first ]] && first=$m
    ratio=$(awk -v a="$m" -v b="$first" 'BEGIN {printf "%.2f", a / b}')
    printf 'median %-10s %6s us/request  (x%s of %s)\n' "$name" "$m" "$ratio" "${servers[0]%%=*}"
done
