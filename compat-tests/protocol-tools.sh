#!/usr/bin/env bash
# Two public HTTP/1.1 protocol checkers run against apache2 and rhttpd serving the same site,
# each case's verdict compared: h1spec (its test cases, read out of http_test.ts, run by a
# small client here that waits 500 ms as h1spec does) and smuggler (request-smuggling
# mutations, its default and exhaustive configurations). Exits 1 when a verdict differs.
#
#   compat-tests/protocol-tools.sh /path/to/h1spec /path/to/smuggler
#
# The tools are not part of this repository: point the script at checkouts of
# https://github.com/uNetworking/h1spec and https://github.com/defparam/smuggler. Needs
# apache2, python3 and node (to read h1spec's case list); RHTTPD names the binary (default:
# target/release/rhttpd, built first). The exhaustive smuggler run takes several minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 2 && -f $1/http_test.ts && -f $2/smuggler.py ]] || {
    echo "usage: $0 /path/to/h1spec /path/to/smuggler" >&2
    exit 2
}
h1spec=$(cd "$1" && pwd)
smuggler=$(cd "$2" && pwd)
if [[ -z ${RHTTPD:-} ]]; then
    cargo build --release -q
    RHTTPD=target/release/rhttpd
fi
work=$(mktemp -d)
trap 'kill $(cat "$work"/*/logs/httpd.pid 2>/dev/null) 2>/dev/null || true; rm -rf "$work"' EXIT
chmod 755 "$work"

# One site per server: a file, and the module set loaded.
modules=/usr/lib/apache2/modules
start() { # name binary port
    local root=$work/$1
    mkdir -p "$root/htdocs" "$root/logs"
    echo hello >"$root/htdocs/index.html"
    chmod -R a+rX "$root"
    {
        echo "ServerRoot $root"
        echo "LoadModule mpm_event_module $modules/mod_mpm_event.so"
        for m in access_compat alias auth_basic authn_core authn_file authz_core authz_groupfile \
            authz_host authz_user autoindex deflate dir env expires filter headers mime \
            negotiation reqtimeout setenvif status; do
            echo "LoadModule ${m}_module $modules/mod_${m}.so"
        done
        echo "Listen 127.0.0.1:$3"
        echo "ServerName localhost"
        echo "PidFile $root/logs/httpd.pid"
        echo "ErrorLog $root/logs/error_log"
        echo "TypesConfig /etc/mime.types"
        echo "DocumentRoot $root/htdocs"
        echo "<Directory $root/htdocs>"
        echo "    Require all granted"
        echo "</Directory>"
    } >"$root/httpd.conf"
    APACHE_RUN_USER=www-data APACHE_RUN_GROUP=www-data "$2" -d "$root" -f "$root/httpd.conf" -k start
    for _ in $(seq 50); do
        (echo >/dev/tcp/127.0.0.1/"$3") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$1 did not start" >&2
    exit 1
}
port_a=$((20000 + RANDOM % 10000))
port_r=$((port_a + 1))
start apache2 /usr/sbin/apache2 "$port_a"
start rhttpd "$(pwd)/$RHTTPD" "$port_r"

# h1spec's cases: the array literal of http_test.ts, read by node.
node -e '
const text = require("fs").readFileSync(process.argv[1], "utf8");
const start = text.indexOf("= [", text.indexOf("const testCases")) + 2;
let depth = 0, end = start;
for (; end < text.length; end++) {
    if (text[end] === "[") depth++;
    if (text[end] === "]" && --depth === 0) break;
}
console.log(JSON.stringify(eval(text.slice(start, end + 1))));
' "$h1spec/http_test.ts" >"$work/h1spec.json"

status=0
python3 - "$work/h1spec.json" "$port_a" "$port_r" <<'EOF' || status=1
import json, re, socket, sys

cases = json.load(open(sys.argv[1]))
ports = {"apache2": int(sys.argv[2]), "rhttpd": int(sys.argv[3])}

def verdict(port, case):
    """What h1spec sees: the status of the first read within 500 ms, or a wait."""
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(0.5)
    try:
        s.sendall(case["request"].encode("latin-1"))
        data = s.recv(1024)
    except socket.timeout:
        return "waited"
    except OSError as err:
        return f"error {err.errno}"
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.\d (\d{3})", data)
    return m.group(1).decode() if m else ("closed" if not data else "no status")

differ = 0
print(f"{'h1spec case':64} {'apache2':>10} {'rhttpd':>10}")
for case in cases:
    a, r = verdict(ports["apache2"], case), verdict(ports["rhttpd"], case)
    mark = "" if a == r else "  <-- differs"
    differ += a != r
    print(f"{case['description'][:64]:64} {a:>10} {r:>10}{mark}")
print(f"h1spec: {len(cases)} cases, {differ} verdicts differ")
sys.exit(1 if differ else 0)
EOF

for config in default exhaustive; do
    for server in apache2 rhttpd; do
        port=$port_a
        [[ $server == rhttpd ]] && port=$port_r
        # smuggler reads a configuration by name from its own configs/ folder. Each
        # mutation's line keeps its verdict and the statuses; the times go.
        python3 "$smuggler/smuggler.py" -u "http://127.0.0.1:$port/" -c "$config.py" \
            --no-color -t 2 </dev/null 2>&1 | tr '\r' '\n' |
            grep -E '^\[[^+]' | grep -v 'Checking' |
            sed -E 's/[0-9]+\.[0-9]+ - //g' >"$work/smuggler-$config-$server.txt" || true
    done
    if diff "$work/smuggler-$config-apache2.txt" "$work/smuggler-$config-rhttpd.txt" >"$work/diff.txt"; then
        echo "smuggler $config: $(wc -l <"$work/smuggler-$config-apache2.txt") mutations, every verdict the same"
    else
        echo "smuggler $config: verdicts differ (< apache2, > rhttpd):"
        cat "$work/diff.txt"
        status=1
    fi
done
exit $status
