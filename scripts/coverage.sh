#!/bin/sh
# Line and branch coverage of src/ by the unit and model tiers (quick
# scale), with gcc's gcov instrumentation and gcovr.
# usage: coverage.sh [BUILDDIR] [JOBS]
set -u
build=${1:-build-cov}; jobs=${2:-2}
command -v gcovr >/dev/null 2>&1 || { echo "coverage: gcovr is not installed; skipped"; exit 77; }
mkdir -p "$build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER=gcc -DAK_COVERAGE=ON ${AK_CMAKE_ARGS:-} \
      -DAK_BUILD_BENCH=OFF >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" >"$build/build.log" 2>&1 || { cat "$build/build.log"; exit 1; }
find "$build" -name '*.gcda' -delete
AK_TEST_QUICK=1 ctest --test-dir "$build" -L "unit|model" -j "$jobs" \
    >"$build/ctest.log" 2>&1
rc=$?
grep -E "tests passed|tests failed" "$build/ctest.log"
echo "---- lines per file ----"
gcovr -r . --object-directory "$build" --filter 'src/' -j "$jobs" --print-summary || rc=1
echo "---- branches per file ----"
gcovr -r . --object-directory "$build" --filter 'src/' -j "$jobs" --branches --print-summary || rc=1
exit $rc
