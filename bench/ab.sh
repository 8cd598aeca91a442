#!/bin/sh
# A/B comparison of two builds of the benchmark worker on one workload, for
# a change whose effect is smaller than this machine's run-to-run noise:
# both workers run at the same time, each pinned to its own CPU, so a burst
# of load from elsewhere hits both; the figure that counts is the median of
# the per-run ratios B/A. Run it twice with A and B swapped (CPU 0 and 1 are
# not identical under other tenants' load).
#
# usage: bench/ab.sh WORKER_A WORKER_B WORKLOAD CONTENDER [SCALE] [RUNS]
#   WORKER_*   paths to akbench-worker binaries (e.g. build/bench/akbench-worker
#              of two checkouts)
#   CONTENDER  as for akbench-worker: tlsf, buddy, slab, bitmap_page,
#              bitmap_id, or system (the process's malloc)
#   SCALE      workload scale (default 1; 0.01 keeps small_churn in cache)
#   RUNS       timed runs per worker (default 12)
# Prints each worker's median ns/op and the median, min and max of B/A.
# Needs taskset (util-linux) and 2 CPUs.
set -eu
[ $# -ge 4 ] || { sed -n '2,16p' "$0"; exit 2; }
a=$1 b=$2 wl=$3 c=$4 scale=${5:-1} runs=${6:-12}
command -v taskset >/dev/null 2>&1 || { echo "ab.sh: taskset not found" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
i=0
while [ $i -lt "$runs" ]; do echo run; i=$((i + 1)); done >"$tmp/in"
# The worker wants a "check" line to end; without one it reports that the
# driver went away, which is expected here.
taskset -c 0 "$a" "$wl" "$c" 1 "$scale" "$tmp" <"$tmp/in" 2>/dev/null |
    awk '/^run/ {print $3 / $4}' >"$tmp/a" &
taskset -c 1 "$b" "$wl" "$c" 1 "$scale" "$tmp" <"$tmp/in" 2>/dev/null |
    awk '/^run/ {print $3 / $4}' >"$tmp/b" &
wait
paste "$tmp/a" "$tmp/b" | awk '
    function median(v, n,    i, j, t) {
        for (i = 2; i <= n; i++)
            for (j = i; j > 1 && v[j - 1] > v[j]; j--) { t = v[j]; v[j] = v[j - 1]; v[j - 1] = t }
        return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    }
    NF == 2 { n++; x[n] = $1; y[n] = $2; r[n] = $2 / $1
              if (n == 1 || r[n] < lo) lo = r[n]; if (n == 1 || r[n] > hi) hi = r[n] }
    END {
        if (n == 0) { print "ab.sh: no runs (does the workload and contender exist?)"; exit 1 }
        printf "A median %.1f ns/op, B median %.1f ns/op, B/A median %.3f (min %.3f, max %.3f, %d runs)\n",
               median(x, n), median(y, n), median(r, n), lo, hi, n
    }'
