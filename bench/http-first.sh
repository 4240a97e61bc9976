#!/usr/bin/env bash
# Benchmark (not a test): a first throughput figure for the HTTP engine before the MPMs land.
# rhttpd -X and apache2 -X (event MPM) serve the same 1 KiB file with the same config; wrk
# drives each for 10 s with keep-alive (-t1 -c64); prints requests/s and the ratio.
#
#   bench/http-first.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
command -v apache2 >/dev/null || { apt-get update; apt-get install -y --no-install-recommends apache2; }
command -v wrk >/dev/null || { apt-get update; apt-get install -y --no-install-recommends wrk; }
cargo build --release --quiet
WORK=$(mktemp -d)
chmod 755 "$WORK"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir -p "$WORK/htdocs" "$WORK/logs"
head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/htdocs/1k.txt"
chmod 644 "$WORK/htdocs/1k.txt"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
config() {
    cat <<CONF
ServerRoot $WORK
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
ServerName localhost
Listen 127.0.0.1:$1
DocumentRoot $WORK/htdocs
PidFile $WORK/logs/$2.pid
ErrorLog $WORK/logs/$2.err
TypesConfig /etc/mime.types
User www-data
Group www-data
ThreadsPerChild 64
ThreadLimit 64
MaxRequestWorkers 64
MaxKeepAliveRequests 0
<Directory $WORK/htdocs>
    Require all granted
</Directory>
CONF
}
APORT=$(free_port); RPORT=$(free_port)
config "$APORT" apache > "$WORK/apache.conf"
config "$RPORT" rhttpd > "$WORK/rhttpd.conf"
apache2 -d "$WORK" -f "$WORK/apache.conf" -X & pids+=($!)
target/release/rhttpd -d "$WORK" -f "$WORK/rhttpd.conf" -X 2>/dev/null & pids+=($!)
sleep 1
rate() { wrk -t1 -c64 -d10s "http://127.0.0.1:$1/1k.txt" | awk '/Requests\/sec/ {print $2}'; }
A=$(rate "$APORT"); R=$(rate "$RPORT")
python3 - "$A" "$R" <<'PY'
import sys
a, r = float(sys.argv[1]), float(sys.argv[2])
print(f"1 KiB keep-alive, wrk -t1 -c64 -d10s: apache2 -X (event) {a:,.0f} req/s, rhttpd -X {r:,.0f} req/s, ratio {r / a:.2f}x")
PY
