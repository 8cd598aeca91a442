#!/bin/sh
# allockit on real targets (make test-targets):
#  - bare metal under qemu-system: the boot harness (targets/baremetal/) for
#    riscv64, aarch64, riscv32 and big-endian aarch64 `virt` boards, no
#    OS, no libc, on the board's RAM;
#    plus the same image built with -DAK_TEST_BREAK_ALIGN, which must FAIL
#    (else the harness could not catch a broken allocator, and the target
#    fails);
#  - foreign CPUs under qemu-user: the unit tier of the test suite,
#    cross-built with Debian's gcc for s390x (64-bit big-endian), armhf and
#    i686 (32-bit) and aarch64, run through CMAKE_CROSSCOMPILING_EMULATOR.
# Each target whose tools are missing is skipped with the reason; the
# closing lines are one per target. Exit status 1 if any target that ran
# failed.
#
# usage: test-targets.sh [OUTDIR]        (default: build/targets)
# env:   AK_TARGETS   targets to run (default: all of
#                     "riscv64 aarch64 riscv32 aarch64_be s390x armhf i686 aarch64-linux")
#        JOBS         parallel jobs for the cross builds (default 2)
#        WERROR       ON to build the cross targets with -Werror
#        AK_QEMU_TIMEOUT  seconds per bare-metal run (default 120)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/targets}
mkdir -p "$out"
out=$(cd "$out" && pwd)
targets=${AK_TARGETS:-riscv64 aarch64 riscv32 aarch64_be s390x armhf i686 aarch64-linux}
jobs=${JOBS:-2}
[ "$jobs" -gt 2 ] 2>/dev/null && jobs=2 # the machines this runs on have 2 cores to share
werror=${WERROR:-OFF}
qtimeout=${AK_QEMU_TIMEOUT:-120}
summary="$out/summary.txt"
: > "$summary"
failed=0
t0=$(date +%s)

# One closing line per target, with its time.
line() {
    l="$* ($(($(date +%s) - ${ts:-$t0})) s)"
    echo "$l" >>"$summary"
    echo "$l"
}
have() { command -v "$1" >/dev/null 2>&1; }

# The closing "<name>: N passed, M failed" line of a log, as "N M".
counts() {
    grep -E "^$2: [0-9]+ passed, [0-9]+ failed" "$1" | tail -n1 |
        sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/'
}

# Every board runs with no NIC and no default devices but the serial
# port: a default NIC makes qemu load an option ROM (efi-virtio.rom) from a
# package it only recommends, which a machine installed with
# --no-install-recommends lacks.
qemu_cmd() {
    common="-m 128M -smp 1 -nodefaults -nic none"
    case $1 in
    riscv64) echo "qemu-system-riscv64 -machine virt -bios none $common" ;;
    riscv32) echo "qemu-system-riscv32 -machine virt -bios none $common" ;;
    aarch64 | aarch64_be) echo "qemu-system-aarch64 -machine virt -cpu cortex-a53 $common -semihosting" ;;
    esac
}

baremetal() {
    arch=$1
    label="$arch (bare metal, qemu-system virt)"
    qemu=$(qemu_cmd "$arch" | cut -d' ' -f1)
    for tool in clang "$qemu" timeout; do
        have "$tool" || { line "skip $label: $tool not installed (scripts/deps.sh targets)"; return; }
    done
    have ld.lld || have ld.lld-14 || ls /usr/lib/llvm-*/bin/ld.lld >/dev/null 2>&1 ||
        { line "skip $label: ld.lld not installed (scripts/deps.sh targets)"; return; }
    d="$out/$arch"
    rm -rf "$d" "$d-broken"
    if ! img=$("$root/targets/baremetal/build.sh" "$arch" "$d" 2>"$d.build.log"); then
        line "FAIL $label: image does not build, see $d.build.log"; cat "$d.build.log"; failed=1; return
    fi
    # shellcheck disable=SC2046
    timeout "$qtimeout" $(qemu_cmd "$arch") -display none -monitor none -serial stdio \
        -kernel "$img" </dev/null >"$d.log" 2>&1
    rc=$?
    # shellcheck disable=SC2046 # two numbers, split on purpose
    set -- $(counts "$d.log" "$arch")
    n=${1:-0}; m=${2:-?}
    if [ $rc -ne 0 ] || [ "$m" != 0 ] || [ "$n" -eq 0 ]; then
        grep -E "FAIL|^    |trap|exception" "$d.log" | head -n 20
        [ $rc -eq 124 ] && echo "(timed out after ${qtimeout}s)"
        line "FAIL $label: $n passed, $m failed, exit $rc (log: $d.log)"; failed=1; return
    fi
    # The self-test: an allocator that honours half the alignment must fail.
    if ! bimg=$("$root/targets/baremetal/build.sh" "$arch" "$d-broken" -DAK_TEST_BREAK_ALIGN 2>"$d-broken.build.log"); then
        line "FAIL $label: broken-align image does not build, see $d-broken.build.log"; failed=1; return
    fi
    # shellcheck disable=SC2046
    timeout "$qtimeout" $(qemu_cmd "$arch") -display none -monitor none -serial stdio \
        -kernel "$bimg" </dev/null >"$d-broken.log" 2>&1
    brc=$?
    # shellcheck disable=SC2046
    set -- $(counts "$d-broken.log" "$arch")
    bm=${2:-0}
    if [ $brc -eq 0 ] || [ "$bm" -eq 0 ] 2>/dev/null || [ $brc -eq 124 ]; then
        line "FAIL $label: $n passed, 0 failed, but the broken-align image was not caught (exit $brc, $bm failed; log: $d-broken.log)"
        failed=1; return
    fi
    parts=$(sed -n "s/^$arch: built in: *//p" "$d.log" | head -n1)
    line "ok   $label: $n passed, 0 failed [${parts:-core only}]; broken-align image caught ($bm failed, exit $brc)"
}

cross() {
    name=$1; tc=$2; triple=$3; qemu=$4; what=$5
    label="$name (qemu-user, $what)"
    for tool in cmake "$triple-gcc" "$qemu"; do
        have "$tool" || { line "skip $label: $tool not installed (scripts/deps.sh targets)"; return; }
    done
    [ -e "/usr/$triple/lib/libc.so.6" ] || [ -e "/usr/$triple/lib/libc.so" ] ||
        { line "skip $label: no libc for $triple under /usr/$triple (scripts/deps.sh targets)"; return; }
    d="$out/$name"
    # Parts whose sources this tree does not have yet are configured out.
    # (Both ways explicitly: the cache of an earlier run must not keep a part out.)
    extra=""; parts=""
    for part in tlsf:TLSF buddy:BUDDY slab:SLAB bitmap_page:BITMAP_PAGE bitmap_id:BITMAP_ID; do
        if [ -f "$root/src/${part%%:*}.c" ]; then
            parts="$parts -DAK_${part#*:}=ON"
        else
            extra="$extra -DAK_${part#*:}=OFF"
        fi
    done
    configure() {
        # shellcheck disable=SC2086
        cmake -S "$root" -B "$d" -DCMAKE_TOOLCHAIN_FILE="$root/targets/cross/$tc.cmake" \
            -DCMAKE_BUILD_TYPE=Release -DAK_WERROR="$werror" -DAK_BUILD_BENCH=OFF \
            -DAK_BUILD_HOSTED=OFF -DAK_BUILD_EXAMPLES=OFF $parts $extra >"$d.log" 2>&1
    }
    # A build directory left by another tree or toolchain: start it afresh.
    if ! configure && ! { rm -rf "$d" && configure; }; then
        tail -n 20 "$d.log"; line "FAIL $label: configure failed (log: $d.log)"; failed=1; return
    fi
    if ! cmake --build "$d" -j "$jobs" >>"$d.log" 2>&1; then
        grep -E "error|warning" "$d.log" | head -n 20
        line "FAIL $label: build failed (log: $d.log)"; failed=1; return
    fi
    AK_TEST_QUICK=1 ctest --test-dir "$d" -L unit -j "$jobs" --output-on-failure >>"$d.log" 2>&1
    rc=$?
    # ctest's tally of programs (it knows which must fail: the conformance
    # mutants), and the sum of the passed checks the programs report.
    progs=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$d.log" | tail -n1)
    total=$(echo "$progs" | sed -E 's/.* out of ([0-9]+).*/\1/')
    pfail=$(echo "$progs" | sed -E 's/.*, ([0-9]+) tests failed.*/\1/')
    log="$d/Testing/Temporary/LastTest.log"
    n=0
    [ -f "$log" ] && n=$(grep -hE "^([^ ].*: )?[0-9]+ passed, [0-9]+ failed\$" "$log" |
        sed -E 's/^(.*: )?([0-9]+) passed.*/\2/' | awk '{s+=$1} END {print s+0}')
    if [ $rc -ne 0 ] || [ -z "$total" ] || [ "${total:-0}" -eq 0 ] || [ "${pfail:-1}" -ne 0 ] || [ "$n" -eq 0 ]; then
        grep -E "FAIL|Failed|\*\*\*" "$d.log" | head -n 30
        line "FAIL $label: ${pfail:-?} of ${total:-0} programs failed, $n checks passed (log: $d.log)"
        failed=1; return
    fi
    line "ok   $label: $total programs passed, 0 failed ($n checks)${extra:+ [not in this tree:$(echo "$extra" | sed -E 's/ -DAK_([A-Z_]+)=OFF/ \1/g' | tr 'A-Z' 'a-z')]}"
}

for t in $targets; do
    ts=$(date +%s)
    case $t in
    riscv64 | riscv32 | aarch64 | aarch64_be) baremetal "$t" ;;
    s390x) cross s390x s390x s390x-linux-gnu qemu-s390x-static "64-bit big-endian" ;;
    armhf) cross armhf armhf arm-linux-gnueabihf qemu-arm-static "32-bit" ;;
    i686) cross i686 i686 i686-linux-gnu qemu-i386-static "32-bit" ;;
    aarch64-linux) cross aarch64-linux aarch64 aarch64-linux-gnu qemu-aarch64-static "64-bit" ;;
    *) line "FAIL $t: unknown target (riscv64 aarch64 riscv32 aarch64_be s390x armhf i686 aarch64-linux)"; failed=1 ;;
    esac
done

echo "test-targets: $(grep -c '^ok' "$summary") ok, $(grep -c '^FAIL' "$summary") failed, $(grep -c '^skip' "$summary") skipped in $(($(date +%s) - t0)) s (logs in $out)"
exit $failed
