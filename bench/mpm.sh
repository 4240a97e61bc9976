#!/usr/bin/env bash
# Benchmark (not a test): rhttpd against Debian's apache2 under each MPM, with nginx as an outside
# reference, on loopback. Nothing here passes or fails; it prints figures to compare by eye.
#
# For each MPM (prefork, worker, event) one configuration text is generated and served in turn
# by apache2 and by rhttpd (started in the foreground with -D FOREGROUND, one server at a time);
# nginx runs once with the equivalent configuration. wrk (-t2, --latency, DURATION each) drives:
#   1k-keepalive   GET /1k.txt (1024 bytes), keep-alive, 64 connections
#   1k-close       GET /1k.txt with "Connection: close", 64 connections
#   1m-keepalive   GET /1m.bin (1 MiB), keep-alive, 16 connections
#   404            GET /missing, keep-alive, 64 connections
# and records requests/s, the CPU time per request (utime+stime of the server's parent and every
# child, from /proc, over the requests wrk completed: steadier than requests/s on a busy
# machine), the 99th-percentile latency (ms) and the peak total RSS of the server (parent plus
# every descendant, VmRSS summed, sampled every 0.5 s; shared pages count once per process, so
# multi-process servers read higher than their real footprint). Ratios of rhttpd to apache2
# and to nginx follow, for requests/s and for CPU per request.
# Idle wakeups (every server): after it starts, the context switches per second of all its
# processes and threads over IDLE_SECONDS with no connection at all (a server that polls a
# timer wakes there; Apache sleeps).
# Concurrency sweep (event, with Debian's default sizing: StartServers 2, ThreadsPerChild 25,
# MaxRequestWorkers 150, AsyncRequestWorkerFactor 2): 1 KiB keep-alive with wrk -t1 at each
# client count of SWEEP, req/s, p99 and socket errors for apache2, rhttpd and nginx.
# Idle test (event rows and nginx): 10,000 keep-alive connections are opened and each served one
# GET, then held open while 20 fresh connect+GET+response timings are taken (median, ms) and the
# server's total RSS is read; "still open" counts the held connections the server had not closed
# by the end (Apache's event MPM closes older keep-alive connections when a process is full).
#
#   bench/mpm.sh                              # builds rhttpd --release, all three MPMs
#   MPMS="event" DURATION=3s bench/mpm.sh     # a quick run
#   RHTTPD=/tmp/rhttpd bench/mpm.sh           # a given binary, no cargo build
#
# Env: MPMS (default "prefork worker event"), DURATION (wrk -d, default 10s), RHTTPD (binary;
# when unset, `cargo build --release` and target/release/rhttpd), IDLE_CONNS (default 10000),
# MPM_WORKLOADS (the wrk workloads to run, default all four; empty runs only the idle test),
# PROXY_BACKEND (HOST:PORT: every server also has a reverse-proxy virtual host, `ProxyPass /p/
# http://HOST:PORT/` with mod_proxy_http for apache2 and rhttpd, an upstream with keep-alive for
# nginx; bench/proxy.sh sets it), IDLE_PATH (what the idle test's and the readiness check's GETs
# ask for, default /1k.txt; /p/1k.txt goes through the proxy), IDLE_SECONDS (default 10; 0 skips
# the idle wakeups), SWEEP (client counts of the concurrency sweep, default "64 1000 4000";
# empty skips it), SWEEP_DURATION (default DURATION).
# A server that fails to start or dies is reported as FAILED with the tail of its output.
# Installs apache2, wrk, nginx-light (or nginx) and python3 with apt when missing. Run as root
# (servers switch to www-data).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
. bench/common.sh

need() { # command, then the apt packages to try in order
    local cmd=$1 pkg
    shift
    command -v "$cmd" >/dev/null && return 0
    apt-get update -qq >&2
    for pkg in "$@"; do
        apt-get install -y -qq --no-install-recommends "$pkg" >&2 && command -v "$cmd" >/dev/null && return 0
    done
    echo "mpm.sh: cannot install $cmd" >&2
    exit 1
}
need python3 python3
need apache2 apache2
need wrk wrk
need nginx nginx-light nginx

if [[ -z ${RHTTPD:-} ]]; then
    cargo build --release --quiet
    RHTTPD=target/release/rhttpd
fi
RHTTPD=$(realpath "$RHTTPD")
MPMS=${MPMS:-prefork worker event}
DURATION=${DURATION:-10s}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_SECONDS=${IDLE_SECONDS:-10}
SWEEP=${SWEEP-64 1000 4000}
SWEEP_DURATION=${SWEEP_DURATION:-$DURATION}
HZ=$(getconf CLK_TCK)
# One keep-alive timeout for every server (Apache KeepAliveTimeout, nginx keepalive_timeout):
# long enough that the idle test's connections stay open while it measures.
KEEPALIVE_TIMEOUT=60
PY=$(command -v python3)

# 10,000 idle connections need that many descriptors in the server and in the client.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d)
chmod 755 "$WORK"
SERVER_PID=
SAMPLER_PID=
mkdir -p "$WORK/htdocs" "$WORK/logs"
head -c 1024 /dev/zero | tr '\0' 'x' > "$WORK/htdocs/1k.txt"
head -c 1048576 /dev/urandom > "$WORK/htdocs/1m.bin"
chmod 644 "$WORK/htdocs/1k.txt" "$WORK/htdocs/1m.bin"
RESULTS=$WORK/results.tsv
IDLE=$WORK/idle.tsv
WAKEUPS=$WORK/wakeups.tsv
SWEPT=$WORK/sweep.tsv
: > "$RESULTS"
: > "$IDLE"
: > "$WAKEUPS"
: > "$SWEPT"
H=$WORK/helper.py

cat > "$H" <<'PY'
"""mpm.sh helper: ports, readiness, process-tree RSS, wrk parsing, the idle test, the report."""
import errno, os, re, resource, selectors, signal, socket, statistics, sys, time

REQ = f"GET {os.environ.get('IDLE_PATH') or '/1k.txt'} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode()


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for want in (65536, hard):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
            return
        except (ValueError, OSError):
            pass


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def tree(pid):
    """pid and all its descendants, from the ppid field of /proc/*/stat."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_mib(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total / 1024.0


def complete(buf):
    """A full response to GET: headers, then Content-Length bytes of body."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", bytes(buf[:end]))
    return len(buf) >= end + 4 + (int(m.group(1)) if m else 0)


def get_once(port, timeout):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(REQ)
        buf = bytearray()
        while not complete(buf):
            data = s.recv(65536)
            if not data:
                raise ConnectionError("closed before a full response")
            buf += data
        return bytes(buf)
    finally:
        s.close()


def cmd_freeport():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])


def cmd_wait(port, pid, timeout):
    """Polls until the server answers GET /1k.txt; fails early if it exits."""
    port, pid, deadline = int(port), int(pid), time.monotonic() + float(timeout)
    while time.monotonic() < deadline:
        if not alive(pid):
            print("server exited before answering")
            sys.exit(1)
        try:
            resp = get_once(port, 2)
            print(resp.split(b"\r\n", 1)[0].decode(errors="replace"))
            sys.exit(0)
        except OSError:
            time.sleep(0.1)
    print(f"no answer on port {port} within {timeout} s")
    sys.exit(1)


def cmd_tree(pid):
    print(" ".join(map(str, tree(int(pid)))))


def cmd_rss(pid):
    print(f"{rss_mib(int(pid)):.1f}")


def cmd_sample(pid, out):
    """Every 0.5 s, writes the largest total RSS seen so far to out, until killed."""
    pid, peak = int(pid), 0.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while alive(pid):
        peak = max(peak, rss_mib(pid))
        with open(out + ".tmp", "w") as f:
            f.write(f"{peak:.1f}\n")
        os.replace(out + ".tmp", out)
        time.sleep(0.5)


def cmd_wrkparse(path, workload):
    text = open(path).read()
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not rps:
        sys.exit(1)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m|h)\s*$", text, re.M)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}
    p99ms = f"{float(p99.group(1)) * scale[p99.group(2)]:.2f}" if p99 else "?"
    notes = []
    err = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if err:
        kinds = ("connect", "read", "write", "timeout")
        notes.append("sock errors " + " ".join(f"{k}={v}" for k, v in zip(kinds, err.groups()) if v != "0"))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx and workload != "404":
        notes.append(f"non-2xx={non2xx.group(1)}")
    if workload == "404" and not non2xx:
        notes.append("no 404s seen")
    done = re.search(r"(\d+) requests in", text)
    print(f"{float(rps.group(1)):.0f}\t{p99ms}\t{done.group(1) if done else 0}\t{'; '.join(notes)}")


def cmd_idle(port, pid, n):
    """Opens n keep-alive connections (one GET each), holds them, times 20 fresh requests."""
    raise_nofile()
    port, pid, n = int(port), int(pid), int(n)
    addr = ("127.0.0.1", port)
    sel = selectors.DefaultSelector()
    held, inflight, failed, started, not_ok = [], {}, 0, 0, 0
    window, stall = 256, 10.0
    last = time.monotonic()
    t0 = last
    while started < n or inflight:
        while started < n and len(inflight) < window:
            started += 1
            s = socket.socket()
            s.setblocking(False)
            rc = s.connect_ex(addr)
            if rc not in (0, errno.EINPROGRESS):
                failed += 1
                s.close()
                continue
            inflight[s] = bytearray()
            sel.register(s, selectors.EVENT_WRITE)
        for key, mask in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                if mask & selectors.EVENT_WRITE:
                    rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if rc:
                        raise OSError(rc, os.strerror(rc))
                    s.send(REQ)
                    sel.modify(s, selectors.EVENT_READ)
                    continue
                data = s.recv(65536)
                if not data:
                    raise ConnectionError("closed")
                inflight[s] += data
                if complete(inflight[s]):
                    not_ok += not inflight[s].startswith(b"HTTP/1.1 200 ")
                    sel.unregister(s)
                    del inflight[s]
                    held.append(s)
                    last = time.monotonic()
            except BlockingIOError:
                pass
            except OSError:
                sel.unregister(s)
                del inflight[s]
                s.close()
                failed += 1
                last = time.monotonic()
        if time.monotonic() - last > stall:
            break
    pending = len(inflight)
    for s in list(inflight):
        sel.unregister(s)
        s.close()
    setup = time.monotonic() - t0
    time.sleep(1)
    rss = rss_mib(pid)
    times, errors = [], 0
    for _ in range(20):
        t = time.monotonic()
        try:
            get_once(port, 5)
            times.append((time.monotonic() - t) * 1000)
        except OSError:
            errors += 1
            if errors >= 3:
                break
    rss = max(rss, rss_mib(pid))
    still = 0
    for s in held:
        try:
            if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                still += 1
        except BlockingIOError:
            still += 1
        except OSError:
            pass
        s.close()
    fresh = f"{statistics.median(times):.2f}" if times else "FAILED"
    note = f"setup {setup:.1f} s"
    if failed or pending:
        note += f"; {failed} failed, {pending} unanswered (stalled {stall:.0f} s)"
    if errors:
        note += f"; {errors} fresh requests timed out or failed"
    if not_ok:
        note += f"; {not_ok} answers not 200"
    print(f"{len(held)}/{n}\t{fresh}\t{len(times)}/{len(times) + errors}\t{rss:.1f}\t{still}\t{note}")


def cmd_report(results, idle, mpms):
    rows = [l.rstrip("\n").split("\t") for l in open(results) if l.strip()]
    if rows:
        report_workloads(rows, mpms)
    irows = [l.rstrip("\n").split("\t") for l in open(idle) if l.strip()]
    if irows:
        if rows:
            print()
        table(("server", "idle conns held", "fresh ms (median)", "fresh ok", "RSS MiB", "still open", "notes"), irows, left=(0,))


def table(heads, rows, left=(0, 1)):
    """A Markdown table; the last column is free text, the rest are padded."""
    rows = [tuple(r + [""] * (len(heads) - len(r)))[: len(heads)] for r in rows]
    n = len(heads) - 1
    widths = [max(len(t[i]) for t in [heads] + rows) for i in range(n)]
    def line(t):
        cells = [t[i].ljust(widths[i]) if i in left else t[i].rjust(widths[i]) for i in range(n)]
        return "| " + " | ".join(cells) + " | " + t[n]
    print(line(heads))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|---")
    for t in rows:
        print(line(t))


def report_workloads(rows, mpms):
    table(("server", "workload", "req/s", "CPU us/req", "p99 ms", "RSS MiB", "notes"), rows)
    rate, cpu = {}, {}
    for r in rows:
        for i, into in ((2, rate), (3, cpu)):
            try:
                into[(r[0], r[1])] = float(r[i])
            except (ValueError, IndexError):
                pass
    workloads = list(dict.fromkeys(r[1] for r in rows))
    print()
    for what, values in (("req/s", rate), ("CPU per request", cpu)):
        for mpm in mpms.split():
            for other in ("apache2-" + mpm, "nginx"):
                parts = []
                for w in workloads:
                    a, b = values.get((f"rhttpd-{mpm}", w)), values.get((other, w))
                    parts.append(f"{w} {a / b:.2f}x" if a and b else f"{w} n/a")
                print(f"{what} rhttpd-{mpm} / {other}: " + ", ".join(parts))


def cmd_sweep_report(path):
    rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    if not rows:
        return
    table(("server", "clients", "req/s", "CPU us/req", "p99 ms", "notes"), rows)
    p99 = {}
    for r in rows:
        try:
            p99[(r[0], r[1])] = float(r[4])
        except (ValueError, IndexError):
            pass
    print()
    for other in ("apache2-event", "nginx"):
        parts = []
        for clients in dict.fromkeys(r[1] for r in rows):
            a, b = p99.get(("rhttpd-event", clients)), p99.get((other, clients))
            parts.append(f"{clients} clients {a / b:.2f}x" if a and b else f"{clients} clients n/a")
        print(f"p99 rhttpd-event / {other}: " + ", ".join(parts))


def cmd_wakeups_report(path):
    rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    if rows:
        table(("server", "context switches/s", "CPU ms/s", "notes"), rows, left=(0,))


if __name__ == "__main__":
    globals()["cmd_" + sys.argv[1]](*sys.argv[2:])
PY

free_port() { "$PY" "$H" freeport; }
alive() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=${s##*) }; [[ ${s%% *} != Z ]]; }
log_tail() { tail -n 3 "$1" 2>/dev/null | tr '\n\t' '  ' | cut -c1-200; }
secs() { local d=$1; case $d in *ms) echo 1;; *s) echo "${d%s}";; *m) echo $((${d%m} * 60));; *h) echo $((${d%h} * 3600));; *) echo "$d";; esac; }
WRK_TIMEOUT=$(($(secs "$DURATION") + 60))

# Starts "$@" in the background, detached from our stdout/stderr/stdin, as SERVER_PID; waits
# until it answers on $2. The server gets its own process group (setpgid, then exec in place so
# $! is the server's pid): Apache's prefork sends SIGTERM to its whole process group on
# shutdown, which would otherwise include this script.
start_server() { # name port command...
    local name=$1 port=$2
    shift 2
    "$PY" -c 'import os, sys; os.getpgrp() == os.getpid() or os.setpgid(0, 0); os.execvp(sys.argv[1], sys.argv[1:])' "$@" \
        </dev/null >"$WORK/logs/$name.out" 2>&1 &
    SERVER_PID=$!
    timeout 60 "$PY" "$H" wait "$port" "$SERVER_PID" 30 </dev/null >"$WORK/logs/$name.wait" 2>&1
}

# SIGTERM to the parent; after 10 s SIGKILL whatever is left of the process tree.
stop_server() { # name
    [[ -n $SERVER_PID ]] || return 0
    local pid=$SERVER_PID p left i
    local procs
    procs=$("$PY" "$H" tree "$pid" 2>/dev/null || echo "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 100); do
        left=
        for p in $procs; do alive "$p" && left+=" $p"; done
        [[ -z $left ]] && break
        sleep 0.1
    done
    if [[ -n $left ]]; then
        echo "mpm.sh: $1: still running 10 s after SIGTERM, SIGKILL:$left" >&2
        for p in $left; do kill -KILL "$p" 2>/dev/null || true; done
    fi
    wait "$pid" 2>/dev/null || true
    SERVER_PID=
}

start_sampler() {
    rm -f "$WORK/rss.max"
    "$PY" "$H" sample "$SERVER_PID" "$WORK/rss.max" </dev/null >>"$WORK/logs/sampler.out" 2>&1 &
    SAMPLER_PID=$!
}
stop_sampler() {
    [[ -n $SAMPLER_PID ]] || return 0
    kill -TERM "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
}

cleanup() {
    stop_sampler
    stop_server cleanup
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

read -r -a WORKLOADS <<<"${MPM_WORKLOADS-1k-keepalive 1k-close 1m-keepalive 404}"
PROXY_BACKEND=${PROXY_BACKEND:-}
export IDLE_PATH=${IDLE_PATH:-/1k.txt}
# CPU microseconds per request: clock ticks spent over requests answered.
per_request() { awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "?" }'; }

run_wrk() { # server port workload
    local server=$1 port=$2 w=$3 out=$WORK/logs/$1.$3.wrk args parsed rss before after
    case $w in
        1k-keepalive) args=(-c64 "http://127.0.0.1:$port/1k.txt") ;;
        1k-close) args=(-c64 -H 'Connection: close' "http://127.0.0.1:$port/1k.txt") ;;
        1m-keepalive) args=(-c16 "http://127.0.0.1:$port/1m.bin") ;;
        404) args=(-c64 "http://127.0.0.1:$port/missing") ;;
    esac
    echo "mpm.sh: $server $w ..." >&2
    start_sampler
    before=$(ticks "$SERVER_PID")
    timeout "$WRK_TIMEOUT" wrk -t2 -d"$DURATION" --latency "${args[@]}" </dev/null >"$out" 2>&1 || true
    after=$(ticks "$SERVER_PID")
    stop_sampler
    rss=$(cat "$WORK/rss.max" 2>/dev/null || echo "?")
    if ! alive "$SERVER_PID"; then
        printf '%s\t%s\tFAILED\t-\t-\t-\tserver died: %s\n' "$server" "$w" "$(log_tail "$WORK/logs/$server.out")" >> "$RESULTS"
    elif parsed=$("$PY" "$H" wrkparse "$out" "$w"); then
        IFS=$'\t' read -r rps p99 done notes <<<"$parsed"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$w" "$rps" "$(per_request $((after - before)) "$done")" "$p99" "$rss" "$notes" >> "$RESULTS"
    else
        printf '%s\t%s\tFAILED\t-\t-\t%s\twrk: %s\n' "$server" "$w" "$rss" "$(log_tail "$out")" >> "$RESULTS"
    fi
}

# Context switches per second of every process and thread of the server, with no connection.
run_wakeups() { # server
    local server=$1 before after t0 t1 c0 c1
    [[ $IDLE_SECONDS -gt 0 ]] || return 0
    echo "mpm.sh: $server idle wakeups over $IDLE_SECONDS s ..." >&2
    sleep 1
    c0=$(switches "$SERVER_PID"); before=$(ticks "$SERVER_PID"); t0=$(date +%s.%N)
    sleep "$IDLE_SECONDS"
    c1=$(switches "$SERVER_PID"); after=$(ticks "$SERVER_PID"); t1=$(date +%s.%N)
    awk -v s="$server" -v c=$((c1 - c0)) -v t=$((after - before)) -v hz="$HZ" -v a="$t0" -v b="$t1" -v n="$(family "$SERVER_PID" | wc -w)" \
        'BEGIN { d = b - a; printf "%s\t%.1f\t%.2f\t%d processes\n", s, c / d, t * 1000 / hz / d, n }' >> "$WAKEUPS"
}

run_idle() { # server port
    local server=$1 port=$2 out
    echo "mpm.sh: $server idle $IDLE_CONNS connections ..." >&2
    if out=$(timeout 600 "$PY" "$H" idle "$port" "$SERVER_PID" "$IDLE_CONNS" </dev/null 2>"$WORK/logs/$server.idle.err"); then
        printf '%s\t%s\n' "$server" "$out" >> "$IDLE"
    else
        printf '%s\tFAILED\t-\t-\t-\t-\t%s\n' "$server" "$(log_tail "$WORK/logs/$server.idle.err")" >> "$IDLE"
    fi
}

bench_server() { # server port idle(yes/no) command...
    local server=$1 port=$2 idle=$3 w
    shift 3
    echo "mpm.sh: starting $server on port $port" >&2
    if ! start_server "$server" "$port" "$@"; then
        local why
        why="did not start: $(log_tail "$WORK/logs/$server.wait") $(log_tail "$WORK/logs/$server.out")"
        for w in "${WORKLOADS[@]}"; do
            printf '%s\t%s\tFAILED\t-\t-\t-\t%s\n' "$server" "$w" "$why" >> "$RESULTS"
        done
        [[ $idle == yes ]] && printf '%s\tFAILED\t-\t-\t-\t-\t%s\n' "$server" "$why" >> "$IDLE"
        stop_server "$server"
        return 0
    fi
    echo "mpm.sh: $server ready, pid $SERVER_PID ($(cat "/proc/$SERVER_PID/comm" 2>/dev/null)): $(cat "$WORK/logs/$server.wait")" >&2
    run_wakeups "$server"
    for w in "${WORKLOADS[@]}"; do
        if alive "$SERVER_PID"; then
            run_wrk "$server" "$port" "$w"
        else
            printf '%s\t%s\tFAILED\t-\t-\t-\tserver died: %s\n' "$server" "$w" "$(log_tail "$WORK/logs/$server.out")" >> "$RESULTS"
        fi
    done
    if [[ $idle == yes ]]; then
        if alive "$SERVER_PID"; then
            run_idle "$server" "$port"
        else
            printf '%s\tFAILED\t-\t-\t-\t-\tserver died\n' "$server" >> "$IDLE"
        fi
    fi
    stop_server "$server"
}

# The configuration shared by apache2 and rhttpd: the same text apart from the server's name
# (pid and error log files) and its port.
config() { # mpm name port [sizing: bench (default) or debian]
    local mpm=$1 name=$2 port=$3 sizing=${4:-bench}
    cat <<CONF
ServerRoot $WORK
LoadModule mpm_${mpm}_module /usr/lib/apache2/modules/mod_mpm_${mpm}.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule mime_module /usr/lib/apache2/modules/mod_mime.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
ServerName localhost
Listen 127.0.0.1:$port
DocumentRoot $WORK/htdocs
PidFile $WORK/logs/$name.pid
ErrorLog $WORK/logs/$name.err
TypesConfig /etc/mime.types
User www-data
Group www-data
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout $KEEPALIVE_TIMEOUT
CONF
    case $mpm in
        # A keep-alive connection holds a prefork child: 72 started so wrk's 64 connections
        # are served from the first second, not after the pool's one-per-second ramp-up.
        prefork) cat <<CONF
StartServers 72
MinSpareServers 8
MaxSpareServers 96
ServerLimit 256
MaxRequestWorkers 256
CONF
        ;;
        # Debian's mpm_event.conf, for the concurrency sweep.
        *) [[ $sizing == debian ]] && cat <<CONF
StartServers 2
MinSpareThreads 25
MaxSpareThreads 75
ThreadLimit 64
ThreadsPerChild 25
MaxRequestWorkers 150
MaxConnectionsPerChild 0
CONF
        ;;&
        worker | event) [[ $sizing == debian ]] || cat <<CONF
StartServers 2
ServerLimit 16
ThreadLimit 64
ThreadsPerChild 64
MinSpareThreads 64
MaxSpareThreads 256
MaxRequestWorkers 1024
CONF
        ;;
    esac
    # An event child accepts while it holds fewer than ThreadsPerChild + idle threads x
    # AsyncRequestWorkerFactor connections (idle keep-alive ones need no thread): with 160 one
    # child holds 64 + 64 x 160 = 10,304, so the idle test's 10,000 connections fit in one or
    # two children under both servers. The default factor 2 caps a child at 192 connections.
    [[ $mpm == event && $sizing == bench ]] && echo "AsyncRequestWorkerFactor 160"
    cat <<CONF
# As Debian's apache2.conf and the upstream httpd.conf have it: no .htaccess looked for above
# the site (without it both servers consult one in every directory from / down, each request).
<Directory />
    AllowOverride None
    Require all denied
</Directory>
<Directory $WORK/htdocs>
    Require all granted
</Directory>
CONF
    # The reverse-proxy virtual host (PROXY_BACKEND): the address's only host, so it serves
    # /1k.txt from the main server's DocumentRoot and /p/ from the backend.
    [[ -n $PROXY_BACKEND ]] && cat <<CONF
LoadModule proxy_module /usr/lib/apache2/modules/mod_proxy.so
LoadModule proxy_http_module /usr/lib/apache2/modules/mod_proxy_http.so
<VirtualHost 127.0.0.1:$port>
    ServerName localhost
    ProxyPass /p/ http://$PROXY_BACKEND/
</VirtualHost>
CONF
    return 0
}

# nginx's equivalent: same files, keep-alive timeout, no access log, error log and pid in $WORK.
# (Apache's EnableSendfile defaults to Off and the shared config leaves it so; nginx has sendfile on.)
nginx_config() { # port
    cat <<CONF
daemon off;
master_process on;
worker_processes auto;
worker_rlimit_nofile 65536;
user www-data www-data;
pid $WORK/logs/nginx.pid;
error_log $WORK/logs/nginx.err;
events { worker_connections 20000; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile on;
    keepalive_timeout ${KEEPALIVE_TIMEOUT}s;
    keepalive_requests 1000000;
$(nginx_proxy_upstream)
    server {
        listen 127.0.0.1:$1;
        server_name localhost;
        root $WORK/htdocs;
$(nginx_proxy_location)
    }
}
CONF
}

# With PROXY_BACKEND, nginx's reverse proxy as nginx recommends it for keep-alive to the
# backend: an upstream holding up to 32 idle connections per worker, HTTP/1.1, and no
# "Connection: close" passed on.
nginx_proxy_upstream() {
    [[ -n $PROXY_BACKEND ]] || return 0
    printf '    upstream backend {\n        server %s;\n        keepalive 32;\n    }\n' "$PROXY_BACKEND"
}
nginx_proxy_location() {
    [[ -n $PROXY_BACKEND ]] || return 0
    printf '        location /p/ {\n            proxy_pass http://backend/;\n            proxy_http_version 1.1;\n            proxy_set_header Connection "";\n        }\n'
}

echo "mpm.sh: rhttpd $RHTTPD, MPMS: $MPMS, workloads: ${WORKLOADS[*]:-none}, wrk -t2 -d$DURATION, work dir $WORK, open files $(ulimit -n)${PROXY_BACKEND:+, proxy to $PROXY_BACKEND}, idle GET $IDLE_PATH" >&2
for mpm in $MPMS; do
    case $mpm in prefork | worker | event) ;; *) echo "mpm.sh: unknown MPM $mpm" >&2; exit 2 ;; esac
    idle=no
    [[ $mpm == event ]] && idle=yes
    for server in apache2 rhttpd; do
        name=$server-$mpm
        port=$(free_port)
        config "$mpm" "$name" "$port" > "$WORK/$name.conf"
        if [[ $server == apache2 ]]; then bin=apache2; else bin=$RHTTPD; fi
        bench_server "$name" "$port" "$idle" "$bin" -d "$WORK" -f "$WORK/$name.conf" -D FOREGROUND
    done
done
port=$(free_port)
nginx_config "$port" > "$WORK/nginx.conf"
bench_server nginx "$port" yes nginx -c "$WORK/nginx.conf" -p "$WORK" -e "$WORK/logs/nginx.err"

# The concurrency sweep: one server at a time, each client count in turn.
run_sweep() { # server port
    local server=$1 port=$2 clients out parsed before after rps p99 done notes
    for clients in $SWEEP; do
        out=$WORK/logs/$server.sweep$clients.wrk
        echo "mpm.sh: $server sweep, $clients clients ..." >&2
        before=$(ticks "$SERVER_PID")
        timeout "$WRK_TIMEOUT" wrk -t1 -c"$clients" -d"$SWEEP_DURATION" --latency "http://127.0.0.1:$port/1k.txt" </dev/null >"$out" 2>&1 || true
        after=$(ticks "$SERVER_PID")
        if parsed=$("$PY" "$H" wrkparse "$out" 1k); then
            IFS=$'\t' read -r rps p99 done notes <<<"$parsed"
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$clients" "$rps" "$(per_request $((after - before)) "$done")" "$p99" "$notes" >> "$SWEPT"
        else
            printf '%s\t%s\tFAILED\t-\t-\twrk: %s\n' "$server" "$clients" "$(log_tail "$out")" >> "$SWEPT"
        fi
    done
}
if [[ -n $SWEEP ]]; then
    for server in apache2 rhttpd nginx; do
        port=$(free_port)
        name=$server-event
        if [[ $server == nginx ]]; then
            nginx_config "$port" > "$WORK/nginx-sweep.conf"
            set -- nginx -c "$WORK/nginx-sweep.conf" -p "$WORK" -e "$WORK/logs/nginx.err"
        else
            config event "$name-sweep" "$port" debian > "$WORK/$name-sweep.conf"
            if [[ $server == apache2 ]]; then bin=apache2; else bin=$RHTTPD; fi
            set -- "$bin" -d "$WORK" -f "$WORK/$name-sweep.conf" -D FOREGROUND
        fi
        [[ $server == nginx ]] && name=nginx
        echo "mpm.sh: starting $name (Debian's sizing) for the sweep on port $port" >&2
        if start_server "$name-sweep" "$port" "$@"; then
            run_sweep "$name" "$port"
        else
            printf '%s\t-\tFAILED\t-\t-\tdid not start: %s\n' "$name" "$(log_tail "$WORK/logs/$name-sweep.out")" >> "$SWEPT"
        fi
        stop_server "$name"
    done
fi

echo
if [[ ${#WORKLOADS[@]} -gt 0 ]]; then
    echo "wrk -t2 -d$DURATION --latency on loopback; RSS = peak total VmRSS of the server's processes;"
else
    echo "RSS = total VmRSS of the server's processes;"
fi
echo "KeepAliveTimeout $KEEPALIVE_TIMEOUT s everywhere; idle test: $IDLE_CONNS keep-alive connections held open, each after one GET $IDLE_PATH."
[[ -n $PROXY_BACKEND ]] && echo "Every server has a reverse-proxy virtual host: /p/ to http://$PROXY_BACKEND/."
echo
"$PY" "$H" report "$RESULTS" "$IDLE" "$MPMS"
if [[ -s $WAKEUPS ]]; then
    echo
    echo "Idle wakeups: no connection, $IDLE_SECONDS s after start; context switches of every process and thread."
    echo
    "$PY" "$H" wakeups_report "$WAKEUPS"
fi
if [[ -s $SWEPT ]]; then
    echo
    echo "Concurrency sweep: event MPM with Debian's default sizing (StartServers 2, ThreadsPerChild 25, MaxRequestWorkers 150), nginx as above; wrk -t1 -d$SWEEP_DURATION --latency, 1 KiB keep-alive."
    echo
    "$PY" "$H" sweep_report "$SWEPT"
fi
