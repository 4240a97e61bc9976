# Shell functions the benchmarks share (sourced, not run): installing a tool, a server's
# processes, their CPU time, and medians.

# need COMMAND PACKAGE: installs PACKAGE with apt when COMMAND is missing.
need() {
    command -v "$1" >/dev/null && return 0
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "$2" >&2
}

# family PID: the pid and all its descendants'.
family() {
    local pids=$1 all="" next
    while [[ -n $pids ]]; do
        all="$all $pids"
        next=""
        for p in $pids; do next="$next $(cat /proc/"$p"/task/*/children 2>/dev/null)"; done
        pids=$(echo $next)
    done
    echo $all
}

# ticks PID: utime+stime in clock ticks, summed over the process and its descendants
# (fields 14 and 15 of /proc/PID/stat, counted after the parenthesised command name).
ticks() {
    local sum=0 ut st
    for p in $(family "$1"); do
        [[ -r /proc/$p/stat ]] || continue
        read -r ut st < <(sed 's/^.*) //' /proc/"$p"/stat | awk '{print $12, $13}')
        sum=$((sum + ut + st))
    done
    echo "$sum"
}

# median: of the numbers on standard input, separated by spaces or lines.
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

# switches PID: context switches (voluntary and not) of every thread of the process and its
# descendants, from /proc/PID/task/*/status.
switches() {
    local sum=0 p t n
    for p in $(family "$1"); do
        for t in /proc/"$p"/task/*; do
            n=$(awk '/ctxt_switches/ {s += $2} END {print s + 0}' "$t/status" 2>/dev/null) || n=0
            sum=$((sum + ${n:-0}))
        done
    done
    echo "$sum"
}
