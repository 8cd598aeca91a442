#!/bin/sh
# Wall time, CPU time and peak RSS of the realprog workloads, plain (glibc
# malloc) and under libakmalloc.so with each allocator: the best of N runs
# each (wall and CPU minimised separately; CPU = user + system, which a
# busy machine disturbs less than wall time).
# usage: timing.sh BUILDDIR [RUNS] [BACKENDS...]
#   e.g. tests/realprog/timing.sh build 5 tlsf buddy slab
# Needs GNU time (/usr/bin/time). Prints a table: wall s / CPU s / peak RSS
# in MiB (RSS: the largest process of the workload).
# AK_TIMING_PEERS="jemalloc=/path/libjemalloc.so.2 ..." adds other mallocs,
# each preloaded the same way as libakmalloc.so.
set -u
build=$(cd "$1" && pwd); runs=${2:-3}; shift; [ $# -gt 0 ] && shift
backends=${*:-tlsf buddy slab}
here=$(cd "$(dirname "$0")" && pwd); src=$(cd "$here/../.." && pwd)
lib=$build/hosted/libakmalloc.so
[ -x /usr/bin/time ] || { echo "timing.sh: /usr/bin/time (GNU time) is not installed"; exit 77; }
[ -f "$lib" ] || { echo "timing.sh: $lib not built"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

measure() { # case mode backend [peer_lib] -> "best_wall best_cpu max_rss_mib"
    best=""; cpu=""; rss=0
    i=0
    while [ $i -lt "$runs" ]; do
        /usr/bin/time -f "%e %U %S %M" -o "$work/t" env TIMING=1 MODE="$2" AK_MALLOC_STATS=0 \
            PEER_LIB="${4:-}" \
            "$here/run.sh" "$1" "$3" "$lib" "$work/$1" "$src" /bin/true >/dev/null 2>&1 || { echo "FAILED"; return; }
        read -r s u k m <"$work/t"
        best=$(awk -v a="$best" -v b="$s" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }')
        cpu=$(awk -v a="$cpu" -v b="$u" -v c="$k" 'BEGIN { b += c; if (a == "" || b < a + 0) printf "%.2f", b; else print a }')
        [ "$m" -gt "$rss" ] && rss=$m
        i=$((i + 1))
    done
    echo "$best $cpu $((rss / 1024))"
}

# One table cell from measure's output (or FAILED).
cell() {
    if [ "$1" = FAILED ]; then printf " %20s" FAILED; else printf " %6ss %6ss %4sM" "$1" "$2" "$3"; fi
}

peers=${AK_TIMING_PEERS:-}
printf "%-8s %20s" case glibc
for p in $peers; do printf " %20s" "${p%%=*}"; done
for b in $backends; do printf " %20s" "$b"; done
echo
for c in python sqlite git sort gcc; do
    measure "$c" plain tlsf >/dev/null # warm-up: caches, generated inputs
    printf "%-8s" "$c"
    cell $(measure "$c" plain tlsf)
    for p in $peers; do
        cell $(measure "$c" peer tlsf "${p#*=}")
    done
    for b in $backends; do
        if AK_MALLOC=$b LD_PRELOAD=$lib /bin/true 2>&1 | grep -q "not built in"; then
            printf " %20s" "-"
            continue
        fi
        cell $(measure "$c" ak "$b")
    done
    echo
done
