#!/bin/sh
# Build allockit and the conformance suite for 32-bit x86 (-m32) with
# warnings as errors and run the suite (quick scale) and the fuzz corpus,
# to show the core is 32-bit clean (size_t of 32 bits).
#
# How the 32-bit programs run depends on the host: natively when the
# kernel runs i386 programs; else through qemu-i386 (user mode), given to
# ctest as CMAKE_CROSSCOMPILING_EMULATOR; else the check is skipped (exit
# 77) with the reason. Whether -m32 links and runs is probed with a tiny
# program first, so a host without 32-bit support is never a failure.
#
# usage: m32-check.sh SRCDIR BUILDDIR CC [cmake-args]
#        m32-check.sh --probe BUILDDIR CC   print how -m32 programs would run, run nothing else
# exit 77: no way to build or run -m32 programs here (skipped)
# env:   AK_M32_NO_NATIVE=1   act as if the kernel could not run i386 programs
#        AK_M32_EMULATORS     emulators to try, in order (default: qemu-i386-static qemu-i386)
set -u
probe_only=0
if [ "${1:-}" = "--probe" ]; then
    probe_only=1
    shift
    src=""; build=$1; cc=${2:-cc}; shift 2
else
    src=$1; build=$2; cc=${3:-cc}; shift 3
fi
mkdir -p "$build"
printf '#include <stdio.h>\nint main(void){printf("%%d\\n",(int)sizeof(void *));return 0;}\n' \
    >"$build/probe.c"
if ! "$cc" -m32 "$build/probe.c" -o "$build/probe" >"$build/probe.log" 2>&1; then
    echo "m32: skipped: $cc cannot link -m32 programs (scripts/deps.sh test installs libc6-dev-i386 and lib32gcc-12-dev)"
    exit 77
fi

# How to run a 32-bit program: "" (natively) or an emulator's path.
runner=none
why=""
if [ -z "${AK_M32_NO_NATIVE:-}" ] && [ "$("$build/probe" 2>/dev/null)" = 4 ]; then
    runner=""
else
    if [ -n "${AK_M32_NO_NATIVE:-}" ]; then
        why="native runs turned off (AK_M32_NO_NATIVE)"
    else
        why="this kernel does not run i386 programs ($("$build/probe" 2>&1 | head -n1))"
    fi
    for emu in ${AK_M32_EMULATORS:-qemu-i386-static qemu-i386}; do
        path=$(command -v "$emu" 2>/dev/null) || continue
        if [ "$("$path" "$build/probe" 2>/dev/null)" = 4 ]; then
            runner=$path
            break
        fi
        why="$why; $emu cannot run the probe"
    done
fi
if [ "$runner" = none ]; then
    echo "m32: skipped: $why, and no working qemu-i386 (scripts/deps.sh targets installs qemu-user-static)"
    exit 77
fi
if [ -z "$runner" ]; then
    echo "m32: running 32-bit programs natively"
else
    echo "m32: $why; running 32-bit programs under $runner"
fi
[ "$probe_only" = 1 ] && exit 0

emu_arg=""
[ -n "$runner" ] && emu_arg="-DCMAKE_CROSSCOMPILING_EMULATOR=$runner"
# shellcheck disable=SC2086 # emu_arg is one word or none
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$cc" "$@" \
      -DCMAKE_C_FLAGS=-m32 -DAK_WERROR=ON -DAK_BUILD_BENCH=OFF -DAK_BUILD_HOSTED=OFF \
      -DAK_BUILD_EXAMPLES=OFF $emu_arg >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
# The library (every source of src/) and the conformance programs; the
# other test programs run 32-bit under the i686 target of make test.
targets="allockit_static allockit_shared conformance"
for t in fuzz_byte_replay fuzz_page_replay fuzz_id_replay; do
    cmake --build "$build" --target help 2>/dev/null | grep -q "$t" && targets="$targets $t"
done
# shellcheck disable=SC2086
cmake --build "$build" -j2 --target $targets >>"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
file "$build/tests/conformance" 2>/dev/null | grep -q "32-bit" ||
    { echo "m32: the test binary is not 32-bit"; exit 1; }
AK_TEST_QUICK=1 ctest --test-dir "$build" -R '^(conformance|fuzz_corpus)\.' --output-on-failure -j2
