#!/bin/sh
# Build the libFuzzer targets with clang (-DAK_FUZZ=ON) and run each for
# SECONDS, starting from the checked-in corpus (new inputs go to
# BUILDDIR/corpus/<target>, the checked-in corpus is not modified). The
# page capacity is 256m and the ID capacity 4096 there: the checks walk
# the whole bitmap, and the windows of fuzz_page (1024 pages) and fuzz_id
# (256 IDs) fit in them.
# usage: fuzz.sh [BUILDDIR] [SECONDS]
set -u
build=${1:-build-fuzz}; secs=${2:-60}
command -v clang >/dev/null 2>&1 || { echo "fuzz: clang is not installed; skipped"; exit 0; }
mkdir -p "$build"
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n){(void)d;(void)n;return 0;}\n' >"$build/probe.c"
if ! clang -fsanitize=fuzzer "$build/probe.c" -o "$build/probe" >/dev/null 2>&1; then
    echo "fuzz: clang cannot link -fsanitize=fuzzer (install libclang-rt-14-dev); skipped"
    exit 0
fi
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DAK_FUZZ=ON \
      -DAK_PAGE_ALLOC_CAPACITY=256m -DAK_ID_CAPACITY=4096 ${AK_CMAKE_ARGS:-} \
      -DAK_BUILD_BENCH=OFF -DAK_BUILD_HOSTED=OFF -DAK_BUILD_EXAMPLES=OFF \
      >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
rc=0
for t in fuzz_byte fuzz_page fuzz_id; do
    cmake --build "$build" -j2 --target "$t" >"$build/build-$t.log" 2>&1 ||
        { echo "fuzz: $t not built (see $build/build-$t.log)"; continue; }
    mkdir -p "$build/corpus/$t"
    echo "fuzz: $t for $secs s"
    "$build/tests/$t" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$build/$t-" \
        "$build/corpus/$t" fuzz/corpus/$t >"$build/$t.log" 2>&1 || rc=1
    grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec|ERROR|SUMMARY|Done' \
        "$build/$t.log" | sed "s/^/  $t: /"
done
[ "$rc" = 0 ] && echo "fuzz: no failures" || echo "fuzz: FAILURES (see $build/*.log and crash files)"
exit $rc
