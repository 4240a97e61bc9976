#!/usr/bin/env bash
# A TLS scanner's view of rhttpd and apache2 with the same mod_ssl configuration: testssl.sh
# (github.com/drwetter/testssl.sh, checked out by hand; not part of this repository) lists the
# protocols and every cipher suite each offers, and this script fails if rhttpd offers a
# protocol or suite apache2 does not. Not run by CI (a scan takes minutes).
#
#   compat-tests/tls-scan.sh /path/to/testssl.sh [rhttpd binary]
#
# The configuration is Debian's ssl.conf and default-ssl.conf with the snakeoil certificate
# (package ssl-cert); EXTRA adds lines to the virtual host (e.g. EXTRA='SSLProtocol TLSv1.2').
# testssl.sh needs dig (bind9-dnsutils) and hexdump (bsdextrautils).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 ]] || { echo "usage: $0 TESTSSL_DIR [RHTTPD]" >&2; exit 2; }
testssl=$(realpath "$1")/testssl.sh
rhttpd=$(realpath "${2:-target/release/rhttpd}")
work=$(mktemp -d)
trap 'for f in "$work"/*.pid; do [[ -e $f ]] && kill "$(cat "$f")" 2>/dev/null; done; rm -rf "$work"' EXIT
modules=/usr/lib/apache2/modules

config() { # name port
    mkdir -p "$work/$1/logs" "$work/$1/htdocs"
    echo ok >"$work/$1/htdocs/index.html"
    cat >"$work/$1/httpd.conf" <<EOF
ServerRoot $work/$1
LoadModule mpm_event_module $modules/mod_mpm_event.so
LoadModule mime_module $modules/mod_mime.so
LoadModule authz_core_module $modules/mod_authz_core.so
LoadModule socache_shmcb_module $modules/mod_socache_shmcb.so
LoadModule ssl_module $modules/mod_ssl.so
Listen 127.0.0.1:$2
ServerName localhost
PidFile $work/$1/logs/httpd.pid
ErrorLog $work/$1/logs/error_log
TypesConfig /etc/mime.types
SSLRandomSeed startup builtin
SSLRandomSeed connect builtin
SSLSessionCache shmcb:$work/$1/logs/ssl_scache(512000)
SSLSessionCacheTimeout 300
SSLCipherSuite HIGH:!aNULL
SSLProtocol all -SSLv3
SSLSessionTickets off
<VirtualHost *:$2>
    DocumentRoot $work/$1/htdocs
    SSLEngine on
    SSLCertificateFile /etc/ssl/certs/ssl-cert-snakeoil.pem
    SSLCertificateKeyFile /etc/ssl/private/ssl-cert-snakeoil.key
    ${EXTRA:-}
</VirtualHost>
EOF
}

port_a=$((20000 + RANDOM % 20000))
port_r=$((port_a + 1))
config apache2 "$port_a"
config rhttpd "$port_r"
chmod -R a+rX "$work"
APACHE_RUN_USER=www-data APACHE_RUN_GROUP=www-data apache2 -f "$work/apache2/httpd.conf" -D FOREGROUND &
echo $! >"$work/apache2.pid"
"$rhttpd" -f "$work/rhttpd/httpd.conf" -D FOREGROUND &
echo $! >"$work/rhttpd.pid"
sleep 2

scan() { # port -> "protocol suite" lines offered
    "$testssl" --quiet --color 0 --warnings off --protocols --each-cipher \
        --csvfile "$work/$1.csv" "127.0.0.1:$1" >/dev/null 2>&1 || true
    # Protocols offered, then every cipher found.
    # CSV fields: "id","fqdn/ip","port","severity","finding",... (a cipher's finding is its
    # hex code, OpenSSL name, key exchange and size, ...: the name is what is compared).
    awk -F'","' '
        $1 ~ /^"(SSLv2|SSLv3|TLS1|TLS1_1|TLS1_2|TLS1_3)$/ && $5 ~ /^offered/ { print "protocol " substr($1, 2) }
        $1 ~ /^"cipher_x/ { split($5, w, " +"); print "cipher " w[2] }
    ' "$work/$1.csv" | sort -u
}
scan "$port_a" >"$work/apache2.offered"
scan "$port_r" >"$work/rhttpd.offered"
echo "apache2 offers:"; sed 's/^/  /' "$work/apache2.offered"
echo "rhttpd offers:"; sed 's/^/  /' "$work/rhttpd.offered"
extra=$(comm -13 "$work/apache2.offered" "$work/rhttpd.offered")
if [[ -n $extra ]]; then
    echo "rhttpd offers what apache2 does not:"
    echo "$extra" | sed 's/^/  /'
    exit 1
fi
echo "rhttpd offers nothing apache2 does not."
