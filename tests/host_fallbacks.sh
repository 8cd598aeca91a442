#!/bin/sh
# host_fallbacks: the paths `make test` takes when the host lacks a tool or
# a CPU mode are taken, and say why, rather than failing. Exercised with
# stubs, so no second machine is needed:
#  - deps.sh with AK_NO_INSTALL=1 and a package that is not installed:
#    names it, installs nothing, exits 0;
#  - m32-check.sh when the kernel cannot run i386 programs
#    (AK_M32_NO_NATIVE=1): with a stub emulator that works it runs the
#    32-bit programs under the emulator; with one that fails, and with
#    none at all, it skips (exit 77) and gives the reason;
#  - test-targets.sh with a PATH that has no clang or qemu: every target
#    is skipped with the missing tool named, none fails.
# usage: host_fallbacks.sh SRCDIR WORKDIR CC
set -u
src=$1; work=$2; cc=${3:-cc}
rm -rf "$work"
mkdir -p "$work/bin"
passed=0; failed=0
ok() { passed=$((passed + 1)); echo "  ok   $*"; }
bad() { failed=$((failed + 1)); echo "  FAIL $*"; }
echo "host_fallbacks"

# deps.sh: a missing package with installing turned off.
out=$(AK_NO_INSTALL=1 AK_DEPS_EXTRA=ak-no-such-package "$src/scripts/deps.sh" fuzz 2>&1)
rc=$?
if [ $rc -eq 0 ] && echo "$out" | grep -q "not installing (AK_NO_INSTALL set).*ak-no-such-package" &&
    echo "$out" | grep -q "will be skipped"; then
    ok "deps.sh names a missing package and installs nothing with AK_NO_INSTALL=1"
else
    bad "deps.sh with AK_NO_INSTALL=1: exit $rc, said: $out"
fi

# m32-check.sh: only meaningful where -m32 programs link.
printf 'int main(void){return 0;}\n' >"$work/link.c"
if "$cc" -m32 "$work/link.c" -o "$work/link" >/dev/null 2>&1; then
    # A stub emulator that "runs" the probe (prints what a 32-bit probe prints).
    printf '#!/bin/sh\necho 4\n' >"$work/bin/stub-qemu-good"
    printf '#!/bin/sh\necho "stub: cannot run $1" >&2\nexit 1\n' >"$work/bin/stub-qemu-bad"
    chmod +x "$work/bin/stub-qemu-good" "$work/bin/stub-qemu-bad"
    out=$(PATH="$work/bin:$PATH" AK_M32_NO_NATIVE=1 AK_M32_EMULATORS=stub-qemu-good \
        "$src/scripts/m32-check.sh" --probe "$work/m32a" "$cc" 2>&1)
    rc=$?
    if [ $rc -eq 0 ] && echo "$out" | grep -q "running 32-bit programs under $work/bin/stub-qemu-good"; then
        ok "m32-check.sh runs 32-bit programs under an emulator when the kernel cannot"
    else
        bad "m32-check.sh with a working emulator: exit $rc, said: $out"
    fi
    out=$(PATH="$work/bin:$PATH" AK_M32_NO_NATIVE=1 AK_M32_EMULATORS=stub-qemu-bad \
        "$src/scripts/m32-check.sh" --probe "$work/m32b" "$cc" 2>&1)
    rc=$?
    if [ $rc -eq 77 ] && echo "$out" | grep -q "skipped: .*stub-qemu-bad cannot run the probe"; then
        ok "m32-check.sh skips with the reason when the emulator fails"
    else
        bad "m32-check.sh with a failing emulator: exit $rc, said: $out"
    fi
    out=$(AK_M32_NO_NATIVE=1 AK_M32_EMULATORS=ak-no-such-emulator \
        "$src/scripts/m32-check.sh" --probe "$work/m32c" "$cc" 2>&1)
    rc=$?
    if [ $rc -eq 77 ] && echo "$out" | grep -q "skipped: native runs turned off.*no working qemu-i386"; then
        ok "m32-check.sh skips with the reason when there is no emulator"
    else
        bad "m32-check.sh with no emulator: exit $rc, said: $out"
    fi
else
    echo "  skip m32-check.sh paths: $cc cannot link -m32 programs here"
fi

# test-targets.sh on a PATH of basic tools only (no clang, no qemu, no
# cross gcc): every target skipped with its reason, exit 0.
mkdir -p "$work/path"
for t in sh dash bash cat cut date dirname grep head mkdir pwd rm sed tail tr wc awk mawk \
    env ls printf echo; do
    p=$(command -v "$t" 2>/dev/null) && [ -x "$p" ] && ln -sf "$p" "$work/path/$t"
done
out=$(PATH="$work/path" sh "$src/scripts/test-targets.sh" "$work/targets" 2>&1)
rc=$?
nskip=$(echo "$out" | grep -c '^skip .*not installed')
if [ $rc -eq 0 ] && [ "$nskip" -eq 8 ] && ! echo "$out" | grep -q '^FAIL'; then
    ok "test-targets.sh skips all 8 targets, naming the missing tool, when none is installed"
else
    bad "test-targets.sh without tools: exit $rc, $nskip skipped, said: $out"
fi

echo "host_fallbacks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
