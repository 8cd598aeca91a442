#!/bin/sh
# bench_smoke: run akbench at a tiny scale and check that every workload ran
# against every contender this build has, each with an "ok" row in
# results.csv, and that the report files exist.
# usage: smoke.sh AKBENCH OUTDIR
set -u
akbench=$1; out=$2
rm -rf "$out"; mkdir -p "$out"
fail() { echo "bench_smoke: FAIL: $*"; exit 1; }

# The workloads the benchmark promises; a name that disappears is a defect.
for w in vec_push_3M vec_rand_free_25K_64 vec_rand_free_7500_520 btree_map_50K \
         small_churn small_churn_hot mixed_aligned page_single_1M page_mixed page_64_aligned \
         id_churn_1M latency_scaling memory heap_map \
         mt_larson_t2 mt_xmalloc_t2 mt_glibc_thread_t2 mt_cache_scratch_t2; do
    BENCH_FILTER=$w "$akbench" --list >/dev/null 2>&1 || fail "akbench does not know workload $w"
done

BENCH_SMOKE=1 BENCH_OUT="$out" BENCH_FILTER= "$akbench" >"$out/log.txt" 2>&1
rc=$?
cat "$out/log.txt"
[ $rc -eq 0 ] || fail "akbench exited with status $rc"
[ -s "$out/results.csv" ] || fail "no results.csv"
[ -s "$out/results.md" ] || fail "no results.md"

expected=$(BENCH_SMOKE=1 BENCH_FILTER= "$akbench" --list)
[ -n "$expected" ] || fail "akbench --list is empty"
n=0
for pair in $expected; do
    w=${pair%,*}; c=${pair#*,}
    row=$(grep -E "^[a-z_]+,$w,$c," "$out/results.csv" | head -1)
    [ -n "$row" ] || fail "no row for $w / $c in results.csv"
    case "$c,$row" in
    *'"ok"' | *',"skipped: '*) ;;
    # A preloaded third-party malloc may have bugs of its own (the row then
    # says FAIL with the reason); allockit's allocators (libakmalloc.so
    # included) and glibc may not.
    jemalloc,*',"fail: '* | mimalloc,*',"fail: '* | tcmalloc,*',"fail: '*)
        echo "bench_smoke: note: $w / $c failed: $row" ;;
    *) fail "row for $w / $c is not ok: $row" ;;
    esac
    case "$row" in
    perf,*'"ok"' | mt,*'"ok"')
        # runs and a positive median
        echo "$row" | awk -F, '{ exit !($4 >= 1 && $5 > 0) }' || fail "no timing in: $row" ;;
    esac
    n=$((n + 1))
done
# Every byte workload has the glibc baseline.
for w in vec_push_3M vec_rand_free_25K_64 vec_rand_free_7500_520 btree_map_50K small_churn small_churn_hot mixed_aligned; do
    grep -q "^perf,$w,glibc,.*\"ok\"$" "$out/results.csv" || fail "no glibc row for $w"
done
grep -q "targets met:" "$out/log.txt" || fail "no targets summary"
# The multi-threaded workloads: their own table, with the glibc baseline.
grep -q "^## Multi-threaded workloads" "$out/log.txt" || fail "no multi-threaded table"
for w in mt_larson_t2 mt_xmalloc_t2 mt_glibc_thread_t2 mt_cache_scratch_t2; do
    grep -q "^mt,$w,glibc,.*\"ok\"$" "$out/results.csv" || fail "no glibc row for $w"
    grep -q "^mt_cpu,$w,glibc,.*\"ok\"$" "$out/results.csv" || fail "no CPU row for $w"
done
# Instructions per op: every pair whose timed runs went well was counted,
# unless the counts were skipped (no valgrind), which the report must say.
if grep -q "^Instruction counts skipped: " "$out/log.txt"; then
    echo "bench_smoke: note: $(grep "^Instruction counts skipped: " "$out/log.txt")"
    if command -v valgrind >/dev/null 2>&1 && grep -q "valgrind is not installed" "$out/log.txt"; then
        fail "valgrind is installed but the counts say it is not"
    fi
else
    grep -q "^## Instructions per op" "$out/log.txt" || fail "no instruction table"
    ncount=0
    for pair in $expected; do
        w=${pair%,*}; c=${pair#*,}
        grep -q "^perf,$w,$c,.*\"ok\"$" "$out/results.csv" || continue
        row=$(grep "^instr,$w,$c," "$out/results.csv")
        echo "$row" | awk -F, '$16 == "instr_per_op" && $17 > 0 && $18 == "\"ok\"" { ok = 1 } END { exit !ok }' ||
            fail "no instruction count for $w / $c: ${row:-no row}"
        ncount=$((ncount + 1))
    done
    [ "$ncount" -gt 0 ] || fail "no pair was counted"
    grep -q "small_churn below mimalloc, instructions per op\|small_churn <= 0.6x glibc, instructions per op" \
        "$out/log.txt" || fail "no target on instructions per op"
    echo "bench_smoke: $ncount instruction counts checked"
fi
for f in $(grep '^heap_map,' "$out/results.csv" | grep '"ok"$' | sed 's/.*,svg,"\([^"]*\)".*/\1/'); do
    grep -q "<rect" "$f" || fail "heap map $f has no rectangles"
done
echo "bench_smoke: $n rows checked"
echo "1 passed, 0 failed"
