#!/bin/sh
# Wall time and peak RSS of the realprog workloads, plain (glibc malloc)
# and under libakmalloc.so with each allocator: the best of N runs each.
# usage: timing.sh BUILDDIR [RUNS] [BACKENDS...]
#   e.g. tests/realprog/timing.sh build 5 tlsf buddy slab
# Needs GNU time (/usr/bin/time). Prints a table: seconds / peak RSS in MiB
# (RSS: the largest process of the workload).
set -u
build=$(cd "$1" && pwd); runs=${2:-3}; shift; [ $# -gt 0 ] && shift
backends=${*:-tlsf buddy slab}
here=$(cd "$(dirname "$0")" && pwd); src=$(cd "$here/../.." && pwd)
lib=$build/hosted/libakmalloc.so
[ -x /usr/bin/time ] || { echo "timing.sh: /usr/bin/time (GNU time) is not installed"; exit 77; }
[ -f "$lib" ] || { echo "timing.sh: $lib not built"; exit 1; }
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

measure() { # case mode backend -> "best_seconds max_rss_kib"
    best=""; rss=0
    i=0
    while [ $i -lt "$runs" ]; do
        /usr/bin/time -f "%e %M" -o "$work/t" env TIMING=1 MODE="$2" AK_MALLOC_STATS=0 \
            "$here/run.sh" "$1" "$3" "$lib" "$work/$1" "$src" /bin/true >/dev/null 2>&1 || { echo "FAILED"; return; }
        read -r s m <"$work/t"
        best=$(awk -v a="$best" -v b="$s" 'BEGIN { if (a == "" || b + 0 < a + 0) print b; else print a }')
        [ "$m" -gt "$rss" ] && rss=$m
        i=$((i + 1))
    done
    echo "$best $((rss / 1024))"
}

printf "%-8s %14s" case glibc
for b in $backends; do printf " %14s" "$b"; done
echo
for c in python sqlite git sort gcc; do
    measure "$c" plain tlsf >/dev/null # warm-up: caches, generated inputs
    printf "%-8s" "$c"
    set -- $(measure "$c" plain tlsf); printf " %7ss %4sM" "$1" "$2"
    for b in $backends; do
        if AK_MALLOC=$b LD_PRELOAD=$lib /bin/true 2>&1 | grep -q "not built in"; then
            printf " %14s" "-"
            continue
        fi
        set -- $(measure "$c" ak "$b"); printf " %7ss %4sM" "$1" "$2"
    done
    echo
done
