#!/bin/sh
# `make test`: the main build's ctest (unit, model, build tiers, valgrind,
# -m32, fuzz corpus replay), then the sanitizer builds (scripts/sanitize.sh,
# scripts/sanitize-thread.sh).
# Says what was skipped and why, and ends with one line "N passed, M
# failed" over everything; exits non-zero on any failure.
# usage: run-tests.sh BUILDDIR JOBS
set -u
build=${1:-build}; jobs=${2:-2}
start=$(date +%s)
passed=0; failed=0; skipped=""

# ctest's summary "NN% tests passed, F tests failed out of T" -> counts.
count() { # log
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -1)
    [ -n "$line" ] || { failed=$((failed + 1)); return; }
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    t=$(echo "$line" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
    nrun=$(grep -cE '\*\*\*Skipped' "$1")
    passed=$((passed + t - f - nrun)); failed=$((failed + f))
}

log=$(mktemp); trap 'rm -f "$log" "$log.asan" "$log.tsan"' EXIT
(cd "$build" && ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log"
count "$log"
# Each skipped test with the reason it printed (a line "...: skipped: why").
grep -E '\*\*\*(Skipped|Not Run)' "$log" | sed -E 's/^.*Test +#[0-9]+: ([^ ]+).*/\1/' |
    while read -r t; do
        why=$(sed -n "/^[0-9]*\/[0-9]* Test: $t\$/,/^Test Skipped\|^Test Passed\|^Test Failed/p" \
            "$build/Testing/Temporary/LastTest.log" 2>/dev/null | grep -m1 'skipped: ' | sed 's/.*skipped: //')
        echo "skipped: $t${why:+ ($why)}"
    done >"$log.skip"
[ -s "$log.skip" ] && skipped="$skipped$(cat "$log.skip")
"
rm -f "$log.skip"
command -v valgrind >/dev/null 2>&1 || skipped="${skipped}skipped: valgrind runs (valgrind not installed)
"
skipped="${skipped}skipped: libFuzzer runs (make fuzz FUZZ_SECONDS=N; make test replays fuzz/corpus)
"

./scripts/sanitize.sh build-asan "$jobs" 2>&1 | tee "$log.asan"
rc=$?
if [ "$rc" = 77 ] || grep -q '^sanitize: .*skipped' "$log.asan"; then
    skipped="${skipped}skipped: sanitizer build ($(grep '^sanitize:' "$log.asan" | tail -1))
"
else
    count "$log.asan"
fi

./scripts/sanitize-thread.sh build-tsan "$jobs" 2>&1 | tee "$log.tsan"
if grep -q '^sanitize-thread: .*skipped' "$log.tsan"; then
    skipped="${skipped}skipped: thread sanitizer build ($(grep '^sanitize-thread:' "$log.tsan" | tail -1))
"
else
    count "$log.tsan"
fi
rm -f "$log.tsan"

# Bare metal and foreign CPUs: one count per target (a target is a whole
# test program run on that machine).
JOBS=$jobs ./scripts/test-targets.sh "$build/targets" 2>&1 | tee "$log.targets"
passed=$((passed + $(grep -c '^ok ' "$log.targets")))
failed=$((failed + $(grep -c '^FAIL ' "$log.targets")))
grep '^skip' "$log.targets" | sed 's/^skip[^ ]* */skipped: target /' >"$log.skip"
[ -s "$log.skip" ] && skipped="$skipped$(cat "$log.skip")
"
rm -f "$log.skip" "$log.targets"

echo
printf '%s' "$skipped"
echo "make test: main build, sanitizer build and targets, $(( $(date +%s) - start )) s"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
