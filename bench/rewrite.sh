#!/usr/bin/env bash
# Benchmark (not a test): a WordPress-style front controller. apache2 and rhttpd (event MPM, the
# same config) serve a docroot whose .htaccess holds WordPress's rules (AllowOverride All, as a
# WordPress site runs): a pretty URL goes through `!-f`/`!-d` to index.php (1 KiB), and a real
# 1 KiB file passes the rules untouched; nginx with the equivalent try_files is the reference.
# wrk -t1 -c64 keep-alive for DURATION each, ROUNDS rounds alternating the servers; prints the
# median requests/s and server CPU per request (utime+stime over requests) for each, and
# rhttpd's ratios to apache2 and nginx.
#
#   bench/rewrite.sh                      # DURATION=5s ROUNDS=3; RHTTPD=path to skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
export DEBIAN_FRONTEND=noninteractive
need apache2 apache2
need wrk wrk
need nginx nginx-light
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
if [[ -z ${RHTTPD:-} ]]; then
    cargo build --release --quiet
    RHTTPD=target/release/rhttpd
fi
work=$(mktemp -d)
chmod 755 "$work"
pid=
cleanup() { [[ -n $pid ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/htdocs/wp-content" "$work/logs"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/htdocs/index.php"
head -c 1024 /dev/zero | tr '\0' 'y' >"$work/htdocs/wp-content/1k.txt"
cat >"$work/htdocs/.htaccess" <<'EOF'
# BEGIN WordPress
<IfModule mod_rewrite.c>
RewriteEngine On
RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]
RewriteBase /
RewriteRule ^index\.php$ - [L]
RewriteCond %{REQUEST_FILENAME} !-f
RewriteCond %{REQUEST_FILENAME} !-d
RewriteRule . /index.php [L]
</IfModule>
# END WordPress
EOF
chmod -R a+rX "$work"
modules=/usr/lib/apache2/modules
port=$((20000 + RANDOM % 12000)) # below the ephemeral ports wrk's connections take
cat >"$work/httpd.conf" <<EOF
ServerRoot $work
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule mime_module $modules/mod_mime.so
LoadModule dir_module $modules/mod_dir.so
LoadModule rewrite_module $modules/mod_rewrite.so
ServerName localhost
Listen 127.0.0.1:$port
DocumentRoot $work/htdocs
PidFile $work/logs/httpd.pid
ErrorLog $work/logs/error_log
TypesConfig /etc/mime.types
DirectoryIndex index.php
AddType text/html .php
User www-data
Group www-data
StartServers 2
ThreadsPerChild 25
MaxRequestWorkers 150
MaxKeepAliveRequests 0
# As Debian's apache2.conf has it: no .htaccess looked for above the site.
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory $work/htdocs>
    Require all granted
    AllowOverride All
</Directory>
EOF
cat >"$work/nginx.conf" <<EOF
worker_processes 2;
pid $work/logs/nginx.pid;
error_log $work/logs/nginx.err;
events { worker_connections 1024; }
http {
    access_log off;
    types { text/html php; text/plain txt; }
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        root $work/htdocs;
        index index.php;
        location / { try_files \$uri \$uri/ /index.php?\$args; }
    }
}
EOF
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# measure NAME PATH: one wrk run against the server started for NAME; prints "req/s µs/request".
measure() {
    case $1 in
        apache2) /usr/sbin/apache2 -d "$work" -f "$work/httpd.conf" -D FOREGROUND </dev/null & ;;
        rhttpd) "$RHTTPD" -d "$work" -f "$work/httpd.conf" -D FOREGROUND </dev/null & ;;
        nginx) nginx -c "$work/nginx.conf" -g 'daemon off;' </dev/null & ;;
    esac
    pid=$!
    wait_port "$port"
    curl -fsS -o /dev/null "http://127.0.0.1:$port$2"
    local before after out
    before=$(ticks "$pid")
    out=$(wrk -t1 -c64 -d"$DURATION" "http://127.0.0.1:$port$2" </dev/null)
    after=$(ticks "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    python3 - "$before" "$after" "$(getconf CLK_TCK)" <<PY
import re, sys
out = """$out"""
requests = int(re.search(r"(\d+) requests in", out).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
before, after, hz = map(int, sys.argv[1:4])
print(f"{rate:.0f} {(after - before) / hz * 1e6 / max(requests, 1):.1f}")
PY
}
declare -A rates cpus
for path in /blog/hello-world/ /wp-content/1k.txt; do
    for server in apache2 rhttpd nginx; do rates[$server$path]=""; cpus[$server$path]=""; done
    for _ in $(seq "$ROUNDS"); do
        for server in apache2 rhttpd nginx; do
            read -r rate cpu < <(measure "$server" "$path")
            rates[$server$path]+=" $rate"
            cpus[$server$path]+=" $cpu"
        done
    done
done
for path in /blog/hello-world/ /wp-content/1k.txt; do
    case $path in
        /blog/*) echo "pretty URL rewritten to index.php (1 KiB), wrk -t1 -c64, median of $ROUNDS:" ;;
        *) echo "real 1 KiB file under the same rules, wrk -t1 -c64, median of $ROUNDS:" ;;
    esac
    for server in apache2 rhttpd nginx; do
        printf '  %-8s %8.0f req/s  %6.1f us/request\n' "$server" \
            "$(echo "${rates[$server$path]}" | median)" "$(echo "${cpus[$server$path]}" | median)"
    done
    r=$(echo "${rates[rhttpd$path]}" | median)
    a=$(echo "${rates[apache2$path]}" | median)
    n=$(echo "${rates[nginx$path]}" | median)
    rc=$(echo "${cpus[rhttpd$path]}" | median)
    ac=$(echo "${cpus[apache2$path]}" | median)
    nc=$(echo "${cpus[nginx$path]}" | median)
    python3 -c "print(f'  rhttpd/apache2 {$r/$a:.2f}x req/s, {$ac/$rc:.2f}x less CPU; rhttpd/nginx {$r/$n:.2f}x req/s, CPU {$rc/$nc:.2f}x nginx\'s')"
done
