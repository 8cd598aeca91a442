#!/bin/sh
# Configure, build and run the unit tests of allockit with some options
# changed (e.g. -DAK_TLSF=OFF), to show that any subset of the allocators
# builds, links only itself and passes its tests.
# usage: subset-build.sh SRCDIR BUILDDIR cmake-args...
set -eu
src=$1; build=$2; shift 2
cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAK_BUILD_BENCH=OFF \
      -DAK_BUILD_HOSTED=OFF -DAK_BUILD_EXAMPLES=OFF "$@" >"$build.log" 2>&1 ||
    { cat "$build.log"; exit 1; }
cmake --build "$build" -j2 >>"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
# Only the unit tier: the build tier would recurse into itself.
ctest --test-dir "$build" -L unit --output-on-failure -j2
