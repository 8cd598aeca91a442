#!/bin/sh
# Build the hosted heap's tests with ThreadSanitizer in a third build
# directory and run them at quick scale (about 15 s): the heap's lock-free
# paths (pages, remote frees, magazines) under a race detector. Any report
# fails the test (halt_on_error).
# Not yet covered: the magazine layer used directly over TLSF, buddy or
# slab (test_magazine, test_buddy), whose class free runs the allocator's
# cache hook without the lock; ThreadSanitizer reports those reads.
# usage: sanitize-thread.sh [BUILDDIR] [JOBS]
set -u
build=${1:-build-tsan}; jobs=${2:-2}
cc=${AK_SANITIZE_CC:-}
if [ -z "$cc" ]; then
    if command -v clang >/dev/null 2>&1; then cc=clang; else cc=cc; fi
fi
mkdir -p "$build"
printf '#include <pthread.h>\nstatic void *f(void *a){return a;}\nint main(void){pthread_t t;pthread_create(&t,0,f,0);return pthread_join(t,0);}\n' >"$build/probe.c"
if ! "$cc" -fsanitize=thread -pthread "$build/probe.c" -o "$build/probe" >/dev/null 2>&1; then
    echo "sanitize-thread: $cc cannot link -fsanitize=thread; skipped"
    exit 77
fi
# Some kernels' address-space layouts make the runtime refuse to start.
if ! "$build/probe" >"$build/probe.log" 2>&1; then
    echo "sanitize-thread: a -fsanitize=thread program does not start here ($(head -1 "$build/probe.log")); skipped"
    exit 77
fi
echo "sanitize-thread: $cc -fsanitize=thread in $build (AK_TEST_QUICK=1)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER="$cc" ${AK_CMAKE_ARGS:-} \
      -DAK_SANITIZE=thread -DAK_WERROR=${WERROR:-OFF} -DAK_BUILD_BENCH=OFF \
      >"$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "$jobs" --target test_heap test_heap_threads >"$build/build.log" 2>&1 ||
    { cat "$build/build.log"; exit 1; }
TSAN_OPTIONS=halt_on_error=1 AK_TEST_QUICK=1 ctest --test-dir "$build" -R '^test_heap(_threads)?$' \
    --output-on-failure -j "$jobs"
