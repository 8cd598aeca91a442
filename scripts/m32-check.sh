#!/bin/sh
# Build allockit and the conformance suite for 32-bit x86 (-m32) with
# warnings as errors and run the suite (quick scale) and the fuzz corpus,
# to show the core is 32-bit clean (size_t of 32 bits).
# usage: m32-check.sh SRCDIR BUILDDIR CC [cmake-args]   exit 77: no -m32 toolchain
set -u
src=$1; build=$2; cc=${3:-cc}; shift 3
mkdir -p "$build"
printf 'int main(void){return 0;}\n' >"$build/probe.c"
if ! "$cc" -m32 "$build/probe.c" -o "$build/probe" >/dev/null 2>&1; then
    echo "m32: $cc cannot link -m32 programs (install gcc-multilib); skipped"
    exit 77
fi
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc" "$@" \
      -DCMAKE_C_FLAGS=-m32 -DAK_WERROR=ON -DAK_BUILD_BENCH=OFF -DAK_BUILD_HOSTED=OFF \
      -DAK_BUILD_EXAMPLES=OFF >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
# The library (every source of src/) and the conformance programs; the
# other test programs run 32-bit under the i686 target of make test.
targets="allockit_static allockit_shared conformance"
for t in fuzz_byte_replay fuzz_page_replay fuzz_id_replay; do
    cmake --build "$build" --target help 2>/dev/null | grep -q "$t" && targets="$targets $t"
done
cmake --build "$build" -j2 --target $targets >>"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
file "$build/tests/conformance" 2>/dev/null | grep -q "32-bit" ||
    { echo "m32: the test binary is not 32-bit"; exit 1; }
AK_TEST_QUICK=1 ctest --test-dir "$build" -R '^(conformance|fuzz_corpus)\.' --output-on-failure -j2
