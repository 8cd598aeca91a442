#!/bin/sh
# Build allockit and its tests with AddressSanitizer and UBSan in a second
# build directory and run the unit and model tiers at quick scale.
# Uses clang when present (so `make test` exercises both compilers: the
# main build uses cc), else cc.
# usage: sanitize.sh [BUILDDIR] [JOBS]   (WERROR=ON: warnings are errors here too)
set -u
build=${1:-build-asan}; jobs=${2:-2}
cc=${AK_SANITIZE_CC:-}
if [ -z "$cc" ]; then
    if command -v clang >/dev/null 2>&1; then cc=clang; else cc=cc; fi
fi
mkdir -p "$build"
printf 'int main(void){return 0;}\n' >"$build/probe.c"
if ! "$cc" -fsanitize=address,undefined "$build/probe.c" -o "$build/probe" >/dev/null 2>&1; then
    echo "sanitize: $cc cannot link -fsanitize=address,undefined; skipped"
    exit 77
fi
echo "sanitize: $cc -fsanitize=address,undefined in $build (AK_TEST_QUICK=1)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" ${AK_CMAKE_ARGS:-} \
      -DAK_SANITIZE=address,undefined -DAK_WERROR=${WERROR:-OFF} -DAK_BUILD_BENCH=OFF \
      >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    AK_TEST_QUICK=1 ctest --test-dir "$build" -L "unit|model" \
    --output-on-failure -j "$jobs"
