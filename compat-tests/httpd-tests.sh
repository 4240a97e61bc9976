#!/usr/bin/env bash
# Apache's own test suite (apache/httpd-tests, run by Apache::Test) against apache2 and rhttpd
# in one run: both servers inherit only rhttpd's module set (no C test modules, no apxs), each
# runs the same test files in its own copy of the suite, and a table shows per file the
# subtests and which failed for each server. Exits 1 when rhttpd fails a subtest that apache2
# passes.
#
#   compat-tests/httpd-tests.sh /path/to/httpd-tests [t/apache t/http11 t/modules/alias.t ...]
#
# The suite is not part of this repository: point the script at a checkout of
# https://github.com/apache/httpd-tests (trunk). Without test paths it runs t/apache, t/http11
# and t/modules (files whose modules are not loaded skip themselves). RHTTPD names the binary
# (default: target/release/rhttpd, built first). Installs apache2 and Apache::Test (Debian's
# libapache2-mod-perl2, whose mod_perl it leaves disabled) when missing. Apache::Test refuses
# to run as root: as root the suite runs as the user rhttpd-tests, created when missing.
# Takes about two minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 1 && -d $1/t ]] || { echo "usage: $0 /path/to/httpd-tests [test paths...]" >&2; exit 2; }
suite=$(cd "$1" && pwd)
shift
tests=("$@")
[[ ${#tests[@]} -gt 0 ]] || tests=(t/apache t/http11 t/modules)
export DEBIAN_FRONTEND=noninteractive

if ! command -v apache2 >/dev/null || ! perl -MApache::Test -e 1 2>/dev/null; then
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends apache2 libapache2-mod-perl2 >&2
    # Only the Perl side is wanted: a loaded mod_perl would change Debian's own tree.
    a2dismod -q -f perl >/dev/null 2>&1 || true
fi
if [[ -z ${RHTTPD:-} ]]; then
    cargo build --release -q
    RHTTPD=target/release/rhttpd
fi

work=$(mktemp -d)
trap 'for d in "$work"/apache2 "$work"/rhttpd; do [[ -x $d/t/TEST ]] && (cd "$d" && run t/TEST -stop >/dev/null 2>&1); done; rm -rf "$work"' EXIT
cp "$RHTTPD" "$work/rhttpd-bin"
chmod 755 "$work" "$work/rhttpd-bin"
if [[ $(id -u) == 0 ]]; then
    id rhttpd-tests >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin rhttpd-tests
    run() { runuser -u rhttpd-tests -- "$@"; }
else
    run() { "$@"; }
fi

# The module set both servers inherit, as rhttpd implements it.
inherit=$work/inherit.conf
{
    echo "LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so"
    for module in access_compat alias auth_basic authn_core authn_file authz_core \
        authz_groupfile authz_host authz_user autoindex deflate dir env expires filter headers \
        mime negotiation reqtimeout setenvif status; do
        echo "LoadModule ${module}_module /usr/lib/apache2/modules/mod_${module}.so"
    done
    echo "TypesConfig /etc/mime.types"
} >"$inherit"

for server in apache2 rhttpd; do
    binary=/usr/sbin/apache2
    [[ $server == rhttpd ]] && binary=$work/rhttpd-bin
    cp -a "$suite" "$work/$server"
    [[ $(id -u) == 0 ]] && chown -R rhttpd-tests "$work/$server"
    (
        cd "$work/$server"
        run perl Makefile.PL -httpd "$binary" -httpd_conf "$inherit" >"$work/$server.setup" 2>&1
        run t/TEST -verbose "${tests[@]}" >"$work/$server.log" 2>&1 || true
    )
done

python3 - "$work/apache2.log" "$work/rhttpd.log" <<'EOF'
import re, sys

def results(path):
    """Per test file: (planned subtests, failed subtest numbers, skip reason or None)."""
    files, current = {}, None
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        head = re.match(r"^(t/\S+\.t) \.+ ?(.*)$", line)
        if head:
            current = head.group(1)
            skipped = re.match(r"skipped: (.*)", head.group(2))
            files[current] = [0, set(), skipped.group(1) if skipped else None]
            continue
        if current is None:
            continue
        plan = re.match(r"^1\.\.(\d+)", line)
        if plan:
            files[current][0] = int(plan.group(1))
        failed = re.match(r"^not ok (\d+)", line)
        if failed:
            files[current][1].add(int(failed.group(1)))
        if re.match(r"^Test Summary Report", line):
            current = None
    return files

apache, rhttpd = results(sys.argv[1]), results(sys.argv[2])
worse = []
print(f"{'test file':34} {'subtests':>8}  {'apache2 fails':18} {'rhttpd fails':18}")
for name in sorted(set(apache) | set(rhttpd)):
    a = apache.get(name, [0, set(), "not run"])
    r = rhttpd.get(name, [0, set(), "not run"])
    if a[2] and r[2]:
        print(f"{name:34} {'skipped':>8}  ({a[2]})")
        continue
    fmt = lambda f: ",".join(map(str, sorted(f))) or "-"
    print(f"{name:34} {max(a[0], r[0]):>8}  {fmt(a[1]):18} {fmt(r[1]):18}")
    extra = r[1] - a[1]
    if r[2] and not a[2]:
        extra = {"skipped: " + r[2]}
    if extra:
        worse.append(f"{name}: {fmt(extra) if not r[2] else r[2]}")
if worse:
    print("\nrhttpd fails where apache2 passes:\n  " + "\n  ".join(worse))
    sys.exit(1)
print("\nrhttpd fails no subtest that apache2 passes.")
EOF
