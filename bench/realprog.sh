#!/bin/sh
# make bench, last part (full runs only): real programs under each malloc.
# The workloads of tests/realprog/run.sh run plainly (glibc), with
# jemalloc, mimalloc and tcmalloc LD_PRELOADed where installed, and under
# libakmalloc.so with each of our allocators; the table gives wall seconds,
# CPU seconds (user + system) and peak RSS, the best of BENCH_REAL_RUNS
# runs (default 1) after one untimed run of each program (file cache,
# generated inputs).
#
# To keep a full `make bench` within its 3 minutes, only python3 (with
# PYTHONMALLOC=malloc, so that every object goes through malloc) and
# sqlite3 run by default, about 15 s on an idle 2-core machine, 20 s on a
# busy one. The others of run.sh on request, 8 timed runs of 1-3 s each:
# BENCH_REAL_CASES="python sqlite git sort gcc".
#
# Skipped under BENCH_QUICK=1, and when BENCH_FILTER is set and does not
# name `realprog`.
# usage: bench/realprog.sh BUILDDIR
set -u
build=$(cd "$1" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
if [ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ]; then
    echo "real programs: skipped under BENCH_QUICK"; exit 0
fi
case ",${BENCH_FILTER:-realprog}," in
*realprog*) ;;
*) exit 0 ;;
esac
lib=$build/hosted/libakmalloc.so
[ -f "$lib" ] || { echo "real programs: skipped (libakmalloc.so not built)"; exit 0; }
[ -x /usr/bin/time ] || { echo "real programs: skipped (GNU time, /usr/bin/time, is not installed)"; exit 0; }
cases=${BENCH_REAL_CASES:-python sqlite}
runs=${BENCH_REAL_RUNS:-1}

# columns: name=library to preload ("" for glibc, ak:BACKEND for ours)
cols="glibc="
for p in jemalloc:libjemalloc.so.2 mimalloc:libmimalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4; do
    name=${p%%:*} so=${p#*:}
    path=$(ldconfig -p 2>/dev/null | awk -v s="$so" '$1 == s && /x86-64|64bit/ {print $NF; exit}')
    [ -n "$path" ] || path=$(ldconfig -p 2>/dev/null | awk -v s="$so" '$1 == s {print $NF; exit}')
    if [ -n "$path" ]; then cols="$cols $name=$path"; else echo "real programs: $name not installed, skipped"; fi
done
for b in tlsf buddy slab; do
    if AK_MALLOC=$b LD_PRELOAD=$lib /bin/true 2>&1 | grep -q "not built in"; then
        echo "real programs: $b not in this build, skipped"
    else
        cols="$cols $b=ak:$b"
    fi
done

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# One program once: "wall cpu rss_kib", or FAILED.
once() { # case what
    case $2 in
    "") mode=plain peer="" backend=tlsf ;;
    ak:*) mode=ak peer="" backend=${2#ak:} ;;
    *) mode=peer peer=$2 backend=tlsf ;;
    esac
    /usr/bin/time -f "%e %U %S %M" -o "$work/t" env TIMING=1 MODE=$mode PEER_LIB="$peer" \
        AK_MALLOC_STATS=0 "$src/tests/realprog/run.sh" "$1" "$backend" "$lib" "$work/$1" "$src" \
        /bin/true >/dev/null 2>&1 || { echo FAILED; return; }
    awk '{ printf "%s %.2f %d\n", $1, $2 + $3, $4 }' "$work/t"
}

# The best wall and CPU time (each minimised on its own) and the largest RSS.
cell() { # case what
    best=""
    i=0
    while [ $i -lt "$runs" ]; do
        r=$(once "$1" "$2")
        [ "$r" = FAILED ] && { printf " %20s" FAILED; return; }
        best=$(echo "$best" "$r" | awk 'NF == 3 { print; exit }
            { w = $4 < $1 ? $4 : $1; c = $5 < $2 ? $5 : $2; m = $6 > $3 ? $6 : $3; print w, c, m }')
        i=$((i + 1))
    done
    echo "$best" | awk '{ printf " %6ss %6ss %4dM", $1, $2, $3 / 1024 }'
}

out="$build/bench/realprog.txt"
mkdir -p "$build/bench"
{
    echo
    echo "Real programs (wall s / CPU s / peak RSS MiB, best of $runs after one untimed run; ours"
    echo "under LD_PRELOAD=libakmalloc.so, peers LD_PRELOADed the same way; python with"
    echo "PYTHONMALLOC=malloc; BENCH_REAL_CASES=\"$cases\"):"
    printf "%-8s" case
    for c in $cols; do printf " %20s" "${c%%=*}"; done
    echo
    for k in $cases; do
        once "$k" "" >/dev/null
        printf "%-8s" "$k"
        for c in $cols; do cell "$k" "${c#*=}"; done
        echo
    done
} | tee "$out"
echo "(also in $out)"
grep -q FAILED "$out" && exit 1
exit 0
