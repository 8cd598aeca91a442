#!/bin/sh
# Compile the allocator core for bare-metal targets with clang and fail if
# the objects need any symbol beyond what a compiler may emit for plain C
# (memcpy, memset, memmove). The system include directories are removed
# (-nostdlibinc), so an #include of any libc header also fails here.
#
# usage: freestanding-check.sh SRCDIR GENERATED_INCLUDE_DIR source.c...
# Exit 77 (ctest: skipped) when clang or an ELF linker/nm is missing.
set -u
srcdir=$1; gen=$2; shift 2

CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null 2>&1 || { echo "SKIP: clang not found (apt-get install clang)"; exit 77; }
LLD=$(command -v ld.lld || command -v ld.lld-14 || ls /usr/lib/llvm-*/bin/ld.lld 2>/dev/null | head -n1)
NM=$(command -v llvm-nm || command -v llvm-nm-14 || ls /usr/lib/llvm-*/bin/llvm-nm 2>/dev/null | head -n1)
[ -n "$LLD" ] || { echo "SKIP: ld.lld not found (apt-get install lld)"; exit 77; }
[ -n "$NM" ] || { echo "SKIP: llvm-nm not found (apt-get install llvm)"; exit 77; }

allowed="memcpy memset memmove"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
# target | extra flags
targets="x86_64-unknown-elf|-mno-red-zone -mcmodel=kernel
riscv64-unknown-elf|-march=rv64imac -mabi=lp64 -mcmodel=medany
aarch64-none-elf|-mgeneral-regs-only
i686-unknown-elf|
riscv32-unknown-elf|-march=rv32imac -mabi=ilp32
thumbv7m-none-eabi|-mfloat-abi=soft"
echo "$targets" | while IFS='|' read -r triple extra; do
    d="$tmp/$triple"; mkdir -p "$d"
    objs=""
    ok=1
    for src in "$@"; do
        obj="$d/$(basename "$src" .c).o"
        # shellcheck disable=SC2086
        if ! "$CLANG" --target="$triple" $extra -std=c11 -O2 -ffreestanding -fno-builtin-malloc \
            -nostdlibinc -nostdlib -Wall -Wextra -Werror \
            -I"$srcdir/include" -I"$gen" -I"$srcdir/src" -c "$src" -o "$obj"; then
            echo "FAIL $triple: $src does not compile freestanding"; ok=0
        fi
        objs="$objs $obj"
    done
    if [ $ok = 1 ]; then
        # shellcheck disable=SC2086
        "$LLD" -r -o "$d/core.o" $objs || { echo "FAIL $triple: partial link"; ok=0; }
    fi
    if [ $ok = 1 ]; then
        undef=$("$NM" -u "$d/core.o" | awk '{print $NF}' | sort -u)
        bad=""
        for s in $undef; do
            case " $allowed " in *" $s "*) ;; *) bad="$bad $s" ;; esac
        done
        if [ -n "$bad" ]; then
            echo "FAIL $triple: undefined symbols beyond '$allowed':$bad"; ok=0
        else
            echo "ok   $triple: $(echo $objs | wc -w) objects, undefined: $(echo $undef)"
        fi
    fi
    [ $ok = 1 ] || echo x >> "$tmp/failed"
done
if [ -f "$tmp/failed" ]; then
    echo "freestanding check: $(wc -l < "$tmp/failed") target(s) failed"
    exit 1
fi
echo "freestanding check: all targets passed"
