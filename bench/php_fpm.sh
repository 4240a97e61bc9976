#!/usr/bin/env bash
# Benchmark (not a test): a PHP "hello" through php-fpm. apache2 and rhttpd (event MPM, the same
# config: Debian's php8.2-fpm.conf shape, SetHandler "proxy:unix:SOCK|fcgi://localhost" in a
# <FilesMatch \.php$>) and nginx (fastcgi_pass to the same socket, Debian's fastcgi_params) in
# front of one private php-fpm master (static pool). wrk -t1 -c32 keep-alive for DURATION each,
# ROUNDS rounds alternating the servers; prints the median requests/s, the web server's CPU per
# request and php-fpm's (utime+stime over requests) for each, and rhttpd's ratios.
#
#   bench/php_fpm.sh                      # DURATION=5s ROUNDS=3; RHTTPD=path to skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
export DEBIAN_FRONTEND=noninteractive
need apache2 apache2
need wrk wrk
need nginx nginx-light
need php-fpm8.2 php-fpm
DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CHILDREN=${CHILDREN:-4}
if [[ -z ${RHTTPD:-} ]]; then
    cargo build --release --quiet
    RHTTPD=target/release/rhttpd
fi
work=$(mktemp -d)
chmod 755 "$work"
pid=
fpm=
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null
    [[ -n $fpm ]] && kill "$fpm" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/htdocs" "$work/logs"
echo '<?php echo "hello\n";' >"$work/htdocs/hello.php"
chmod -R a+rX "$work"
sock=$work/php-fpm.sock
cat >"$work/php-fpm.conf" <<EOF
[global]
pid = $work/logs/php-fpm.pid
error_log = $work/logs/php-fpm.log
daemonize = no
[www]
listen = $sock
listen.mode = 0666
listen.backlog = 1024
pm = static
pm.max_children = $CHILDREN
EOF
/usr/sbin/php-fpm8.2 -F -R -y "$work/php-fpm.conf" </dev/null &
fpm=$!
modules=/usr/lib/apache2/modules
port=$((20000 + RANDOM % 12000)) # below the ephemeral ports wrk's connections take
cat >"$work/httpd.conf" <<EOF
ServerRoot $work
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule mime_module $modules/mod_mime.so
LoadModule proxy_module $modules/mod_proxy.so
LoadModule proxy_fcgi_module $modules/mod_proxy_fcgi.so
ServerName localhost
Listen 127.0.0.1:$port
DocumentRoot $work/htdocs
PidFile $work/logs/httpd.pid
ErrorLog $work/logs/error_log
TypesConfig /etc/mime.types
User www-data
Group www-data
StartServers 2
ThreadsPerChild 25
MaxRequestWorkers 150
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
<FilesMatch ".+\.ph(?:ar|p|tml)$">
    SetHandler "proxy:unix:$sock|fcgi://localhost"
</FilesMatch>
EOF
cat >"$work/nginx.conf" <<EOF
worker_processes 2;
pid $work/logs/nginx.pid;
error_log $work/logs/nginx.err;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$port;
        root $work/htdocs;
        location ~ \.php\$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_pass unix:$sock;
        }
    }
}
EOF
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
for _ in $(seq 100); do [[ -S $sock ]] && break; sleep 0.1; done
# measure NAME: one wrk run against the server started for NAME; prints "req/s µs/request
# µs-of-php-fpm/request".
measure() {
    case $1 in
        apache2) /usr/sbin/apache2 -d "$work" -f "$work/httpd.conf" -D FOREGROUND </dev/null & ;;
        rhttpd) "$RHTTPD" -d "$work" -f "$work/httpd.conf" -D FOREGROUND </dev/null & ;;
        nginx) nginx -c "$work/nginx.conf" -g 'daemon off;' </dev/null & ;;
    esac
    pid=$!
    wait_port "$port"
    local body
    body=$(curl -fsS "http://127.0.0.1:$port/hello.php")
    [[ $body == hello ]] || { echo "$1 answered '$body', not hello" >&2; exit 1; }
    local before after fpm_before fpm_after out
    before=$(ticks "$pid")
    fpm_before=$(ticks "$fpm")
    out=$(wrk -t1 -c32 -d"$DURATION" "http://127.0.0.1:$port/hello.php" </dev/null)
    after=$(ticks "$pid")
    fpm_after=$(ticks "$fpm")
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    python3 - "$before" "$after" "$fpm_before" "$fpm_after" "$(getconf CLK_TCK)" <<PY
import re, sys
out = """$out"""
requests = int(re.search(r"(\d+) requests in", out).group(1))
rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
if errors:
    sys.exit(f"{errors.group(1)} failed responses")
before, after, fpm_before, fpm_after, hz = map(int, sys.argv[1:6])
per = lambda a, b: (b - a) / hz * 1e6 / max(requests, 1)
print(f"{rate:.0f} {per(before, after):.1f} {per(fpm_before, fpm_after):.1f}")
PY
}
declare -A rates cpus fpms
for server in apache2 rhttpd nginx; do rates[$server]=""; cpus[$server]=""; fpms[$server]=""; done
for _ in $(seq "$ROUNDS"); do
    for server in apache2 rhttpd nginx; do
        read -r rate cpu fpmcpu < <(measure "$server")
        rates[$server]+=" $rate"
        cpus[$server]+=" $cpu"
        fpms[$server]+=" $fpmcpu"
    done
done
echo "PHP hello through php-fpm ($CHILDREN static children, unix socket), wrk -t1 -c32, median of $ROUNDS:"
for server in apache2 rhttpd nginx; do
    printf '  %-8s %8.0f req/s  %6.1f us/request (server)  %6.1f us/request (php-fpm)\n' "$server" \
        "$(echo "${rates[$server]}" | median)" "$(echo "${cpus[$server]}" | median)" \
        "$(echo "${fpms[$server]}" | median)"
done
r=$(echo "${rates[rhttpd]}" | median)
a=$(echo "${rates[apache2]}" | median)
n=$(echo "${rates[nginx]}" | median)
rc=$(echo "${cpus[rhttpd]}" | median)
ac=$(echo "${cpus[apache2]}" | median)
nc=$(echo "${cpus[nginx]}" | median)
python3 -c "print(f'  rhttpd/apache2 {$r/$a:.2f}x req/s, {$ac/$rc:.2f}x less CPU; rhttpd/nginx {$r/$n:.2f}x req/s, CPU {$rc/$nc:.2f}x nginx\'s')"
