# shellcheck shell=bash
# Helpers for the benchmark parts (sourced). Expects the environment scripts/bench exports.
: "${VINYL_BIN:?run through scripts/bench}" "${VINYL_BENCH_INPUT:?}" "${VINYL_BENCH_WORK:?}"
bin=$VINYL_BIN
input=$VINYL_BENCH_INPUT
work=$VINYL_BENCH_WORK
quick=${VINYL_BENCH_QUICK:-0}

# cpu FILE...: sum of user+system seconds in /usr/bin/time -f '%U %S %M' output files.
cpu() {
    awk '{ s += $1 + $2 } END { printf "%.3f", s }' "$@"
}

# rss FILE: peak RSS in MiB from a /usr/bin/time -f '%U %S %M' output file.
rss() {
    awk '{ printf "%.1f", $3 / 1024 }' "$1"
}

# median N...: the median of its numeric arguments.
median() {
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

# wait_mount PORT MOUNT: until icecast lists MOUNT as a source (10 s at most).
wait_mount() {
    local i
    for i in $(seq 100); do
        curl -fs "http://127.0.0.1:$1/status-json.xsl" | grep -q "$2" && return 0
        sleep 0.1
    done
    echo "bench: icecast mount $2 did not appear" >&2
    return 1
}

# The measurement probes (examples/bench_probe.rs), built by scripts/bench.
# "$probe" rusage OUT CMD... is T with microsecond resolution (getrusage of the child, which the
# kernel accounts to the nanosecond), and it passes SIGTERM/SIGINT/SIGHUP on to CMD. Run it as a
# simple command (not through a shell function), so that $! of "$probe" rusage ... & is its PID.
probe="$bin/examples/bench_probe"

# ring_up RING: until a writer (the capture or fill) holds RING (10 s at most).
ring_up() {
    local i
    for i in $(seq 200); do
        "$bin/vinyl-preroll" info --ring "$1" --json 2>/dev/null | grep -q '"writer_alive":true' && return 0
        sleep 0.05
    done
    echo "bench: no writer on $1 within 10 s" >&2
    return 1
}

# T OUT CMD...: runs CMD under /usr/bin/time, writing "user system maxrss_kib" to OUT.
T() {
    local out=$1
    shift
    /usr/bin/time -f '%U %S %M' -o "$out" "$@"
}
