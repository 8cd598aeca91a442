#!/bin/sh
# bench_mt_smoke: every multi-threaded workload of akbench (bench/mt.c) at
# 1, 2 and 4 threads, at a tiny scale, over libakmalloc.so with each of
# allockit's allocators this build has, through the protocol the driver
# uses (a warm-up run, one timed run, the checking run, which fills and
# checks every byte). Each workload checks its blocks' tags before every
# free; then each one runs once more with BENCH_MT_CORRUPT=1, which damages
# one block, and must fail saying so: checks that cannot fail would pass
# the first part too.
# usage: mt_smoke.sh AKBENCH_WORKER LIBAKMALLOC
set -u
worker=$1; lib=$2
fail() { echo "bench_mt_smoke: FAIL: $*"; exit 1; }
[ -x "$worker" ] || fail "no worker at $worker"
[ -f "$lib" ] || fail "no libakmalloc.so at $lib"
workloads="mt_larson mt_xmalloc mt_glibc_thread mt_cache_scratch"
n=0
for be in tlsf buddy slab; do
    if AK_MALLOC=$be LD_PRELOAD=$lib /bin/true 2>&1 | grep -q "not built in"; then
        echo "bench_mt_smoke: $be not in this build, skipped"
        continue
    fi
    for w in $workloads; do
        for t in 1 2 4; do
            out=$(printf 'run\ncheck\n' | AK_MALLOC=$be LD_PRELOAD=$lib "$worker" "${w}_t$t" system 1 0.01 /tmp 2>&1)
            rc=$?
            [ $rc -eq 0 ] || fail "$w at $t threads over akmalloc-$be exited with $rc: $out"
            echo "$out" | grep -qx "malloc akmalloc-$be" || fail "$w/$t/$be: not akmalloc-$be's malloc: $out"
            echo "$out" | grep -qx ready || fail "$w/$t/$be: no warm-up run: $out"
            # run 0 WALL_NS OPS CPU_NS, all positive
            echo "$out" | awk '$1 == "run" && $2 == 0 && $3 > 0 && $4 > 0 && $5 > 0 { ok = 1 } END { exit !ok }' ||
                fail "$w/$t/$be: no timed run: $out"
            [ "$(echo "$out" | tail -1)" = ok ] || fail "$w/$t/$be: checking run did not end with ok: $out"
            echo "bench_mt_smoke: ${w}_t$t over akmalloc-$be: $(echo "$out" | awk '$1 == "run" { printf "%d ops, %.0f ns/op", $4, $3 / $4 }')"
            n=$((n + 1))
        done
    done
done
[ $n -gt 0 ] || fail "no allocator of libakmalloc.so ran"
for w in $workloads; do
    out=$(printf 'run\ncheck\n' | BENCH_MT_CORRUPT=1 LD_PRELOAD=$lib "$worker" "${w}_t2" system 1 0.01 /tmp 2>&1)
    rc=$?
    [ $rc -ne 0 ] || fail "$w: a damaged block went unnoticed (exit status 0): $out"
    echo "$out" | grep -q "^fail $w: " || fail "$w: damaged block, but no failure of its own: $out"
    echo "bench_mt_smoke: $w caught the damaged block: $(echo "$out" | grep "^fail" | cut -c1-100)"
done
echo "bench_mt_smoke: $n runs checked"
echo "1 passed, 0 failed"
