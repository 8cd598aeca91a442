#!/bin/sh
# make bench, second part: real programs (python3, sqlite3, git, sort, gcc;
# tests/realprog/run.sh) timed with glibc, with jemalloc, mimalloc and
# tcmalloc preloaded where installed, and under libakmalloc.so with each of
# our allocators. Wall s / CPU s / peak RSS, best of RUNS (default 2).
# Skipped under BENCH_QUICK=1, and when BENCH_FILTER is set and does not
# name `realprog`.
# usage: bench/realprog.sh BUILDDIR
set -u
build=$1
here=$(cd "$(dirname "$0")" && pwd)
if [ -n "${BENCH_QUICK:-}" ] && [ "${BENCH_QUICK}" != 0 ]; then
    echo "real programs: skipped under BENCH_QUICK"; exit 0
fi
case ",${BENCH_FILTER:-realprog}," in
*realprog*) ;;
*) exit 0 ;;
esac
[ -f "$build/hosted/libakmalloc.so" ] || { echo "real programs: skipped (libakmalloc.so not built)"; exit 0; }

peers=""
for p in jemalloc:libjemalloc.so.2 mimalloc:libmimalloc.so.2 tcmalloc:libtcmalloc_minimal.so.4; do
    name=${p%%:*} so=${p#*:}
    path=$(ldconfig -p 2>/dev/null | awk -v s="$so" '$1 == s && /x86-64|64bit/ {print $NF; exit}')
    [ -n "$path" ] || path=$(ldconfig -p 2>/dev/null | awk -v s="$so" '$1 == s {print $NF; exit}')
    if [ -n "$path" ]; then peers="$peers $name=$path"; else echo "real programs: $name not installed, skipped"; fi
done

out="$build/bench/realprog.txt"
mkdir -p "$build/bench"
echo
echo "Real programs (wall s / CPU s / peak RSS MiB, best of ${BENCH_REAL_RUNS:-2}; ours under"
echo "LD_PRELOAD=libakmalloc.so, peers LD_PRELOADed the same way; python with PYTHONMALLOC=malloc):"
AK_TIMING_PEERS="$peers" "$here/../tests/realprog/timing.sh" "$build" "${BENCH_REAL_RUNS:-2}" \
    tlsf buddy slab | tee "$out"
rc=$?
echo "(also in $out)"
exit $rc
