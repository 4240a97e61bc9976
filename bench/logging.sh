#!/usr/bin/env bash
# Benchmark (not a test): what access logging costs. apache2 and rhttpd (event MPM, the same
# config) serve a 1 KiB file with keep-alive, each without a log and with a combined-format
# CustomLog, in one run; wrk -t2 -c64 for DURATION each. Prints requests/s, the logged/unlogged
# ratio for each server (rhttpd must stay above 0.85) and rhttpd/apache2 with logging on.
#
#   bench/logging.sh                       # DURATION=10s by default; RHTTPD=path to skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
command -v apache2 >/dev/null || { apt-get update; apt-get install -y --no-install-recommends apache2; }
command -v wrk >/dev/null || { apt-get update; apt-get install -y --no-install-recommends wrk; }
DURATION=${DURATION:-10s}
if [[ -z ${RHTTPD:-} ]]; then
    cargo build --release --quiet
    RHTTPD=target/release/rhttpd
fi
WORK=$(mktemp -d)
chmod 755 "$WORK"
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/htdocs" "$WORK/logs"
chown www-data "$WORK/logs" 2>/dev/null || true
head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/htdocs/1k.txt"
chmod 644 "$WORK/htdocs/1k.txt"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
config() { # port name logged
    cat <<CONF
ServerRoot $WORK
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
ServerName localhost
Listen 127.0.0.1:$1
DocumentRoot $WORK/htdocs
PidFile $WORK/logs/$2.pid
ErrorLog $WORK/logs/$2.err
TypesConfig /etc/mime.types
User www-data
Group www-data
StartServers 2
ThreadsPerChild 64
ThreadLimit 64
MinSpareThreads 64
MaxSpareThreads 256
MaxRequestWorkers 1024
MaxKeepAliveRequests 0
LogFormat "%h %l %u %t \"%r\" %>s %b \"%{Referer}i\" \"%{User-Agent}i\"" combined
<Directory $WORK/htdocs>
    Require all granted
</Directory>
CONF
    [[ $3 == yes ]] && echo "CustomLog $WORK/logs/$2.access combined"
    return 0
}
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
rate() { # binary name logged
    local port; port=$(free_port)
    config "$port" "$2" "$3" > "$WORK/$2.conf"
    "$1" -d "$WORK" -f "$WORK/$2.conf" -D FOREGROUND >"$WORK/logs/$2.out" 2>&1 </dev/null &
    pid=$!
    wait_port "$port"
    wrk -t2 -c64 -d"$DURATION" "http://127.0.0.1:$port/1k.txt" </dev/null | awk '/Requests\/sec/ {print $2}'
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
A0=$(rate /usr/sbin/apache2 apache-plain no); A1=$(rate /usr/sbin/apache2 apache-logged yes)
R0=$(rate "$RHTTPD" rhttpd-plain no); R1=$(rate "$RHTTPD" rhttpd-logged yes)
lines=$(wc -l < "$WORK/logs/rhttpd-logged.access")
python3 - "$A0" "$A1" "$R0" "$R1" "$lines" <<'PY'
import sys
a0, a1, r0, r1 = map(float, sys.argv[1:5])
print(f"1 KiB keep-alive, wrk -t2 -c64, event MPM; req/s without / with a combined CustomLog:")
print(f"  apache2 {a0:,.0f} / {a1:,.0f}  (logged/unlogged {a1 / a0:.2f})")
print(f"  rhttpd  {r0:,.0f} / {r1:,.0f}  (logged/unlogged {r1 / r0:.2f}; {int(sys.argv[5]):,} lines written)")
print(f"  rhttpd/apache2 with logging: {r1 / a1:.2f}x")
PY
