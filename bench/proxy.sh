#!/usr/bin/env bash
# Benchmark (not a test): reverse proxy of a 1 KiB answer. One backend, nginx serving a static
# 1 KiB file on its own port (fast, and the same for everyone), sits behind three front ends in
# turn: apache2 and rhttpd (event MPM, one config text: mod_proxy + mod_proxy_http,
# `ProxyPass /p/ http://127.0.0.1:BPORT/`, whose connections to the backend are reused by
# default) and nginx (`proxy_pass` to an upstream with `keepalive 32`, `proxy_http_version 1.1`,
# `proxy_set_header Connection ""`). wrk -t1 -c64 with keep-alive GETs /p/1k.txt for DURATION,
# ROUNDS rounds alternating the front ends; prints each one's median requests/s, CPU per request
# of its processes (utime+stime over requests, as bench/rewrite.sh measures it) and of the
# backend's, and rhttpd's ratios to apache2 and nginx. Then bench/mpm.sh's idle test, its three
# servers given the same proxy virtual host: 10,000 keep-alive connections each served one GET
# through the proxy, then held while fresh requests are timed and the RSS read.
#
#   bench/proxy.sh                        # DURATION=5s ROUNDS=3; builds rhttpd --release
#   RHTTPD=target/release/rhttpd IDLE=0 bench/proxy.sh      # a given binary, no idle test
#
# Env: DURATION (wrk -d, default 5s), ROUNDS (default 3), CONNS (wrk -c, default 64), RHTTPD
# (binary; when unset `cargo build --release`), BACKEND_WORKERS (the backend nginx's
# worker_processes, default 1), WARMUP (an unmeasured wrk run first, default 1s), KEEP_WORK=1
# (keep the work directory and its logs), IDLE (0 skips the idle test), IDLE_CONNS (default 10000),
# IDLE_PATH (what the idle connections GET, default /p/1k.txt; /1k.txt has them served by the
# front end itself with the proxy only configured). A front end that does not start, or does
# not answer /p/1k.txt with 200 and 1024 bytes, is reported as FAILED with the reason (rhttpd
# before it has mod_proxy: "does not implement proxy_module") and the others still run.
# Installs apache2, wrk and nginx with apt when missing. Run as root (servers switch users).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
export DEBIAN_FRONTEND=noninteractive
need apache2 apache2
need wrk wrk
need nginx nginx-light
need curl curl
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
BACKEND_WORKERS=${BACKEND_WORKERS:-1}
WARMUP=${WARMUP:-1s}
if [[ -z ${RHTTPD:-} ]]; then
    cargo build --release --quiet
    RHTTPD=target/release/rhttpd
fi
RHTTPD=$(realpath "$RHTTPD")
ulimit -n 65536 2>/dev/null || true

work=$(mktemp -d)
chmod 755 "$work"
pid=
backend_pid=
# stop PID: SIGTERM, then after 10 s SIGKILL to whatever is left of its process tree.
stop() {
    local procs left p
    procs=$(family "$1")
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 100); do
        left=
        for p in $procs; do kill -0 "$p" 2>/dev/null && left+=" $p"; done
        [[ -z $left ]] && break
        sleep 0.1
    done
    for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
    wait "$1" 2>/dev/null || true
}
cleanup() {
    [[ -n $pid ]] && stop "$pid"
    [[ -n $backend_pid ]] && stop "$backend_pid"
    [[ -n ${KEEP_WORK:-} ]] && echo "proxy.sh: work dir kept: $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# detached NAME COMMAND...: starts the command in its own process group (Apache may signal its
# group on shutdown; this script must not be in it), output to logs/NAME.out; sets $!.
detached() {
    local name=$1
    shift
    python3 -c 'import os, sys; os.getpgrp() == os.getpid() or os.setpgid(0, 0); os.execvp(sys.argv[1], sys.argv[1:])' "$@" \
        </dev/null >"$work/logs/$name.out" 2>&1 &
}
# ready PORT PID: waits until the port accepts a connection; fails if PID exits or after 15 s.
ready() {
    for _ in $(seq 150); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

mkdir -p "$work/backend" "$work/htdocs" "$work/logs"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/backend/1k.txt"
head -c 1024 /dev/zero | tr '\0' 'y' >"$work/htdocs/1k.txt"
chmod -R a+rX "$work"
bport=$(free_port)
port=$(free_port)
modules=/usr/lib/apache2/modules

cat >"$work/backend.conf" <<EOF
worker_processes $BACKEND_WORKERS;
pid $work/logs/backend.pid;
error_log $work/logs/backend.err;
events { worker_connections 20000; }
http {
    access_log off;
    types { text/plain txt; }
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$bport;
        root $work/backend;
    }
}
EOF
# The front ends' configs: apache2 and rhttpd read the same text (Debian's event sizing).
cat >"$work/httpd.conf" <<EOF
ServerRoot $work
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule proxy_module $modules/mod_proxy.so
LoadModule proxy_http_module $modules/mod_proxy_http.so
ServerName localhost
Listen 127.0.0.1:$port
DocumentRoot $work/htdocs
PidFile $work/logs/httpd.pid
ErrorLog $work/logs/error_log
User www-data
Group www-data
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
</Directory>
ProxyPass /p/ http://127.0.0.1:$bport/
EOF
cat >"$work/nginx.conf" <<EOF
worker_processes 2;
pid $work/logs/nginx.pid;
error_log $work/logs/nginx.err;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_timeout 60s;
    keepalive_requests 1000000;
    upstream backend {
        server 127.0.0.1:$bport;
        keepalive 32;
    }
    server {
        listen 127.0.0.1:$port;
        root $work/htdocs;
        location /p/ {
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF

detached backend nginx -c "$work/backend.conf" -p "$work" -e "$work/logs/backend.err" -g 'daemon off;'
backend_pid=$!
if ! ready "$bport" "$backend_pid" || [[ $(curl -sS -o /dev/null -w '%{size_download}' "http://127.0.0.1:$bport/1k.txt") != 1024 ]]; then
    echo "proxy.sh: the backend nginx did not start: $(tail -n 3 "$work/logs/backend.out" "$work/logs/backend.err" 2>/dev/null)" >&2
    exit 1
fi

# measure NAME: one wrk run through the front end NAME; prints "req/s us/request
# backend-us/request notes", or "FAILED reason".
measure() {
    local name=$1 code out
    case $name in
        apache2) detached "$name" /usr/sbin/apache2 -d "$work" -f "$work/httpd.conf" -D FOREGROUND ;;
        rhttpd) detached "$name" "$RHTTPD" -d "$work" -f "$work/httpd.conf" -D FOREGROUND ;;
        nginx) detached "$name" nginx -c "$work/nginx.conf" -p "$work" -e "$work/logs/nginx.err" -g 'daemon off;' ;;
    esac
    pid=$!
    if ! ready "$port" "$pid"; then
        echo "FAILED did not start: $(tail -n 2 "$work/logs/$name.out" | tr '\n' ' ' | cut -c1-300)"
        stop "$pid"; pid=
        return
    fi
    # The answer must be the backend's file, whole, before it is timed.
    code=$(curl -sS -o "$work/got" -w '%{http_code}' "http://127.0.0.1:$port/p/1k.txt" 2>&1 || true)
    if [[ $code != 200 ]] || ! cmp -s "$work/got" "$work/backend/1k.txt"; then
        echo "FAILED /p/1k.txt answered $code, $(wc -c <"$work/got" 2>/dev/null || echo 0) bytes"
        stop "$pid"; pid=
        return
    fi
    # Unmeasured warm-up: Apache's children settle (its first seconds after start close some
    # connections) and every proxy fills its pool of backend connections.
    wrk -t1 -c"$CONNS" -d"$WARMUP" "http://127.0.0.1:$port/p/1k.txt" </dev/null >/dev/null 2>&1 || true
    local before after bbefore bafter
    before=$(ticks "$pid")
    bbefore=$(ticks "$backend_pid")
    out=$(wrk -t1 -c"$CONNS" -d"$DURATION" "http://127.0.0.1:$port/p/1k.txt" </dev/null 2>&1 || true)
    after=$(ticks "$pid")
    bafter=$(ticks "$backend_pid")
    stop "$pid"; pid=
    python3 - "$before" "$after" "$bbefore" "$bafter" "$(getconf CLK_TCK)" "$out" <<'PY'
import re, sys
before, after, bbefore, bafter, hz = map(int, sys.argv[1:6])
out = sys.argv[6]
done = re.search(r"(\d+) requests in", out)
rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
if not done or not rate:
    print("FAILED wrk: " + " ".join(out.split())[-200:])
    sys.exit()
requests = max(int(done.group(1)), 1)
notes = []
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
if bad:
    notes.append(f"non-2xx={bad.group(1)}")
err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
if err and any(v != "0" for v in err.groups()):
    notes.append("socket errors " + "/".join(err.groups()))
cpu = (after - before) / hz * 1e6 / requests
backend = (bafter - bbefore) / hz * 1e6 / requests
print(f"{float(rate.group(1)):.0f} {cpu:.1f} {backend:.1f} {';'.join(notes) or '-'}")
PY
}

servers=(apache2 rhttpd nginx)
declare -A rates cpus bcpus notes failed
for server in "${servers[@]}"; do rates[$server]=""; cpus[$server]=""; bcpus[$server]=""; notes[$server]=""; failed[$server]=""; done
echo "proxy.sh: backend nginx on $bport (pid $backend_pid), front ends on $port, wrk -t1 -c$CONNS -d$DURATION, $ROUNDS rounds, rhttpd $RHTTPD" >&2
for round in $(seq "$ROUNDS"); do
    for server in "${servers[@]}"; do
        [[ -n ${failed[$server]} ]] && continue
        result=$(measure "$server")
        echo "proxy.sh: round $round $server: $result" >&2
        if [[ $result == FAILED* ]]; then
            failed[$server]=${result#FAILED }
            continue
        fi
        read -r rate cpu bcpu note <<<"$result"
        rates[$server]+=" $rate"
        cpus[$server]+=" $cpu"
        bcpus[$server]+=" $bcpu"
        [[ $note != - ]] && notes[$server]+="; round $round: $note"
    done
done

echo
echo "reverse proxy of a 1 KiB file (backend: nginx, $BACKEND_WORKERS worker), GET /p/1k.txt with keep-alive,"
echo "wrk -t1 -c$CONNS -d$DURATION, median of $ROUNDS rounds; CPU = utime+stime of the server's processes per request:"
printf '  %-8s %9s %12s %20s\n' server req/s "us/request" "backend us/request"
for server in "${servers[@]}"; do
    if [[ -n ${failed[$server]} ]]; then
        printf '  %-8s FAILED: %s\n' "$server" "${failed[$server]}"
        continue
    fi
    printf '  %-8s %9.0f %12.1f %20.1f%s\n' "$server" "$(echo "${rates[$server]}" | median)" \
        "$(echo "${cpus[$server]}" | median)" "$(echo "${bcpus[$server]}" | median)" \
        "${notes[$server]:+  (${notes[$server]#; })}"
done
ratio() { # other: rhttpd's req/s and CPU per request over OTHER's
    local other=$1
    if [[ -n ${failed[rhttpd]} || -n ${failed[$other]} ]]; then
        echo "  rhttpd/$other: n/a (a server failed)"
        return
    fi
    python3 -c "import sys; r, o, rc, oc = map(float, sys.argv[1:]); print(f'  rhttpd/$other: {r / o:.2f}x req/s, CPU per request {rc / oc:.2f}x $other\'s')" \
        "$(echo "${rates[rhttpd]}" | median)" "$(echo "${rates[$other]}" | median)" \
        "$(echo "${cpus[rhttpd]}" | median)" "$(echo "${cpus[$other]}" | median)"
}
ratio apache2
ratio nginx

if [[ ${IDLE:-1} != 0 ]]; then
    echo
    echo "idle connections with the proxy virtual host (bench/mpm.sh, event MPM):"
    MPMS=event MPM_WORKLOADS= PROXY_BACKEND=127.0.0.1:$bport IDLE_PATH=${IDLE_PATH:-/p/1k.txt} \
        RHTTPD=$RHTTPD bench/mpm.sh
fi
