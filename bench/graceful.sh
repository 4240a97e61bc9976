#!/usr/bin/env bash
# Benchmark (not a test): graceful restarts under load, rhttpd against Debian's apache2 with the
# same configuration, one MPM and one server at a time. For DURATION, KEEPALIVE_CLIENTS
# keep-alive clients and CLOSE_CLIENTS "Connection: close" clients (two wrk runs side by side)
# fetch a 1 KiB file while the parent gets SIGUSR1 (apachectl graceful) every INTERVAL seconds,
# with MaxConnectionsPerChild 20000 recycling children too. Reports, per server: the answers
# each kind of client got, the requests that failed (wrk's socket errors and non-2xx answers),
# and the server's total RSS and open descriptors before and after (back to where they were,
# or something leaks across generations).
#
#   bench/graceful.sh                                  # builds rhttpd --release; event and prefork
#   MPMS=event DURATION=120 bench/graceful.sh          # the 2-minute soak of issue 17
#
# Env: MPMS (default "event prefork"), DURATION (seconds, default 40), INTERVAL (default 10),
# KEEPALIVE_CLIENTS (default 50), CLOSE_CLIENTS (default 10), RHTTPD (binary; when unset,
# `cargo build --release`). Installs apache2 and wrk with apt when missing. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/common.sh
export DEBIAN_FRONTEND=noninteractive
need apache2 apache2
need wrk wrk

MPMS=${MPMS:-event prefork}
DURATION=${DURATION:-40}
INTERVAL=${INTERVAL:-10}
KEEPALIVE_CLIENTS=${KEEPALIVE_CLIENTS:-50}
CLOSE_CLIENTS=${CLOSE_CLIENTS:-10}
if [[ -z ${RHTTPD:-} ]]; then
    cargo build --release --quiet
    RHTTPD=target/release/rhttpd
fi
RHTTPD=$(realpath "$RHTTPD")

work=$(mktemp -d)
chmod 755 "$work"
server_pid=
trap '[[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/htdocs" "$work/logs"
head -c 1024 /dev/zero | tr '\0' 'x' >"$work/htdocs/1k.txt"
chmod -R a+rX "$work"
modules=/usr/lib/apache2/modules

# rss PID, descriptors PID: totals over the server's processes.
rss() { local s=0 p v; for p in $(family "$1"); do v=$(awk '/^VmRSS:/ {print $2}' /proc/"$p"/status 2>/dev/null) || v=0; s=$((s + ${v:-0})); done; echo "$((s / 1024)) MiB in $(family "$1" | wc -w) processes"; }
descriptors() { local s=0 p; for p in $(family "$1"); do s=$((s + $(ls /proc/"$p"/fd 2>/dev/null | wc -l))); done; echo "$s"; }
# answers FILE: requests wrk completed; failures FILE: socket errors plus non-2xx answers.
answers() { awk '/requests in/ {print $1}' "$1"; }
failures() {
    awk '/Socket errors/ {gsub(",", ""); s += $4 + $6 + $8 + $10} /Non-2xx/ {s += $5} END {print s + 0}' "$1"
}

printf '| server | keep-alive answers | close answers | failed | restarts | RSS before -> after | descriptors before -> after |\n'
printf '|---|---|---|---|---|---|---|\n'
for mpm in $MPMS; do
    for server in apache2 rhttpd; do
        port=$((20000 + RANDOM % 12000)) # below the ephemeral ports wrk's connections take
        conf=$work/$server-$mpm.conf
        cat >"$conf" <<EOF
ServerRoot $work
LoadModule mpm_${mpm}_module $modules/mod_mpm_${mpm}.so
LoadModule mime_module $modules/mod_mime.so
LoadModule authz_core_module $modules/mod_authz_core.so
Listen 127.0.0.1:$port
ServerName localhost
PidFile $work/logs/$server-$mpm.pid
ErrorLog $work/logs/$server-$mpm.err
DocumentRoot $work/htdocs
TypesConfig /etc/mime.types
User www-data
Group www-data
MaxConnectionsPerChild 20000
<Directory $work/htdocs>
    Require all granted
</Directory>
EOF
        # In a session of its own: Apache's prefork signals its whole process group on the
        # way out, which would otherwise include this script.
        case $server in
        apache2) setsid apache2 -f "$conf" -D FOREGROUND >"$work/logs/$server.out" 2>&1 & ;;
        rhttpd) setsid "$RHTTPD" -f "$conf" -D FOREGROUND >"$work/logs/$server.out" 2>&1 & ;;
        esac
        server_pid=$!
        for _ in $(seq 50); do
            curl -s -o /dev/null "http://127.0.0.1:$port/1k.txt" && break
            sleep 0.1
        done
        sleep 1
        rss_before=$(rss "$server_pid")
        fds_before=$(descriptors "$server_pid")
        wrk -t1 -c"$KEEPALIVE_CLIENTS" -d"${DURATION}s" "http://127.0.0.1:$port/1k.txt" >"$work/ka.wrk" 2>&1 &
        ka=$!
        wrk -t1 -c"$CLOSE_CLIENTS" -d"${DURATION}s" -H 'Connection: close' "http://127.0.0.1:$port/1k.txt" >"$work/close.wrk" 2>&1 &
        close=$!
        restarts=0
        for _ in $(seq $((DURATION / INTERVAL - 1))); do
            sleep "$INTERVAL"
            kill -USR1 "$server_pid"
            restarts=$((restarts + 1))
        done
        wait "$ka" "$close" || true
        # Time for the last generation's leavers to go, and for the spare-server maintenance
        # to retire what the load made it start (one a second), before the second reading.
        sleep 30
        rss_after=$(rss "$server_pid")
        fds_after=$(descriptors "$server_pid")
        failed=$(($(failures "$work/ka.wrk") + $(failures "$work/close.wrk")))
        printf '| %s-%s | %s | %s | %s | %s | %s -> %s | %s -> %s |\n' "$server" "$mpm" \
            "$(answers "$work/ka.wrk")" "$(answers "$work/close.wrk")" "$failed" "$restarts" \
            "$rss_before" "$rss_after" "$fds_before" "$fds_after"
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=
        sleep 1
    done
done
