#!/usr/bin/env bash
# Benchmark (not a test): `rhttpd -t` against `apache2 -t` on the same configurations, one run,
# reported as medians and a ratio. Installs apache2 and hyperfine from Debian if missing.
#
#   bench/config-check.sh            # builds rhttpd --release, prints a table
#
# Configurations:
#   debian-full   Debian's /etc/apache2 with every module of rhttpd's set, every conf-available
#                 file and 500 generated name-based sites enabled (envvars sourced)
#   generated-100k  a generated 100,000-line config: vhosts, <Directory>/<Files>/<Location>
#                 sections, Options, AllowOverride, Require, AddType, Alias, Header lines
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
command -v apache2 >/dev/null || { apt-get update; apt-get install -y --no-install-recommends apache2; }
command -v hyperfine >/dev/null || { apt-get update; apt-get install -y --no-install-recommends hyperfine; }
cargo build --release --quiet
RHTTPD=$PWD/target/release/rhttpd
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SET="access_compat alias auth_basic authn_core authn_file authz_core authz_groupfile authz_host authz_user autoindex deflate dir env expires filter headers mime negotiation reqtimeout setenvif status"

# --- Debian's tree, everything of the set enabled ---------------------------------------------
DEB=$WORK/apache2
cp -a /etc/apache2 "$DEB"
sed -i "1i ServerRoot \"$DEB\"" "$DEB/apache2.conf"
for m in $SET; do
    for ext in load conf; do
        [ -e "$DEB/mods-available/$m.$ext" ] && ln -sf "../mods-available/$m.$ext" "$DEB/mods-enabled/$m.$ext"
    done
done
for c in "$DEB"/conf-available/*.conf; do ln -sf "../conf-available/$(basename "$c")" "$DEB/conf-enabled/"; done
for i in $(seq 1 500); do
    cat > "$DEB/sites-enabled/site$i.conf" <<SITE
<VirtualHost *:80>
    ServerName site$i.example.com
    ServerAlias www.site$i.example.com *.site$i.example.org
    ServerAdmin webmaster@site$i.example.com
    DocumentRoot /var/www/html
    ErrorLog \${APACHE_LOG_DIR}/site$i-error.log
    CustomLog \${APACHE_LOG_DIR}/site$i-access.log combined
    <Directory /var/www/html/site$i>
        Options -Indexes +FollowSymLinks
        AllowOverride FileInfo AuthConfig
        Require all granted
    </Directory>
</VirtualHost>
SITE
done
mkdir -p "$WORK/run" "$WORK/lock" "$WORK/log"
export APACHE_RUN_USER=www-data APACHE_RUN_GROUP=www-data APACHE_PID_FILE=$WORK/run/apache2.pid \
       APACHE_RUN_DIR=$WORK/run APACHE_LOCK_DIR=$WORK/lock APACHE_LOG_DIR=$WORK/log LANG=C

# --- a generated 100,000-line config ---------------------------------------------------------
GEN=$WORK/gen
mkdir -p "$GEN/logs" "$GEN/htdocs"
python3 - "$GEN" "$SET" <<'PY'
import sys
root, mods = sys.argv[1], sys.argv[2].split()
out = [f'ServerRoot "{root}"', 'LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so']
out += [f'LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so' for m in mods]
out += ['ServerName localhost', f'DocumentRoot "{root}/htdocs"', 'Listen 127.0.0.1:8080', 'ErrorLog logs/error_log']
i = 0
while len(out) + 20 <= 100_000:
    i += 1
    out += [f'<VirtualHost *:8080>', f'    ServerName v{i}.example.com', f'    ServerAlias www.v{i}.example.com',
            f'    DocumentRoot "{root}/htdocs"', f'    Alias /static{i}/ "{root}/htdocs/"',
            f'    <Directory "{root}/htdocs/d{i}">', '        Options -Indexes +FollowSymLinks +MultiViews',
            '        AllowOverride FileInfo AuthConfig Limit', '        Require all granted',
            '        <Files "*.bak">', '            Require all denied', '        </Files>', '    </Directory>',
            f'    <Location /app{i}>', '        Header set X-Frame-Options SAMEORIGIN',
            f'        AddType application/x-app{i} .app{i}', '    </Location>',
            '    KeepAliveTimeout 5', '    LogLevel warn', '</VirtualHost>']
n = 0
while len(out) < 100_000:
    n += 1
    out.append(f'AddType application/x-pad{n} .pad{n}')
open(f'{root}/httpd.conf', 'w').write('\n'.join(out) + '\n')
print(len(out), 'lines')
PY

run() {
    local name=$1; shift
    local args="$*"
    "$RHTTPD" $args -t >/dev/null 2>&1 || { echo "rhttpd rejects $name:"; "$RHTTPD" $args -t; exit 1; }
    apache2 $args -t >/dev/null 2>&1 || { echo "apache2 rejects $name:"; apache2 $args -t; exit 1; }
    hyperfine --warmup 2 --runs 15 --export-json "$WORK/$name.json" -N \
        "apache2 $args -t" "$RHTTPD $args -t" >/dev/null 2>&1
    python3 - "$WORK/$name.json" "$name" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))['results']
a, b = r[0]['median'] * 1000, r[1]['median'] * 1000
print(f'{sys.argv[2]:<16} apache2 -t {a:8.1f} ms   rhttpd -t {b:8.1f} ms   {a / b:5.1f}x faster')
PY
}

echo "config check, medians of 15 runs on $(nproc) cores:"
run debian-full -d "$DEB" -f apache2.conf
run generated-100k -d "$GEN" -f httpd.conf
