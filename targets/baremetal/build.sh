#!/bin/sh
# Build the allockit boot harness for one bare-metal target, the way a
# kernel would vendor the library: compile src/*.c with clang --target= and
# the freestanding flags of scripts/freestanding-check.sh, no libc, a config
# header written here instead of CMake's, link with ld.lld and the board's
# linker script.
#
# usage: build.sh riscv64|riscv32|aarch64|aarch64_be OUTDIR [extra compiler flags...]
#   e.g. build.sh riscv64 build/targets/riscv64-broken -DAK_TEST_BREAK_ALIGN
# Prints the path of the ELF image on success.
set -eu
arch=$1; out=$2; shift 2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

CLANG=${CLANG:-clang}
LLD=$(command -v ld.lld || command -v ld.lld-14 || ls /usr/lib/llvm-*/bin/ld.lld 2>/dev/null | head -n1)
[ -n "$LLD" ] || { echo "build.sh: ld.lld not found" >&2; exit 77; }

board=$arch
case $arch in
riscv64) triple=riscv64-unknown-elf; archflags="-march=rv64imac -mabi=lp64 -mcmodel=medany -mno-relax" ;;
# The same virt board with a 32-bit hart: riscv64/ serves both.
riscv32) triple=riscv32-unknown-elf; archflags="-march=rv32imac -mabi=ilp32 -mcmodel=medany -mno-relax"; board=riscv64 ;;
aarch64) triple=aarch64-none-elf; archflags="-mgeneral-regs-only -mstrict-align" ;;
# Big-endian data on the same board: aarch64/ serves both.
aarch64_be) triple=aarch64_be-none-elf; archflags="-mgeneral-regs-only -mstrict-align"; board=aarch64 ;;
*) echo "build.sh: unknown target $arch (riscv64, riscv32, aarch64, aarch64_be)" >&2; exit 2 ;;
esac

mkdir -p "$out"
# The allocators this tree has: a part is in when its source and header are.
# (Slab takes its pages from an internal TLSF, so it needs tlsf.c too.)
have() { [ -f "$root/src/$1.c" ] && [ -f "$root/include/allockit/$1.h" ] && echo 1 || echo 0; }
have_tlsf=$(have tlsf); have_buddy=$(have buddy); have_slab=$(have slab)
have_page=$(have bitmap_page); have_id=$(have bitmap_id)
[ -f "$root/src/hbitmap.c" ] || { have_page=0; have_id=0; }
[ "$have_tlsf" = 1 ] || have_slab=0
# The cache layer sits in front of a byte allocator: in when one is.
have_mag=$(have magazine)
[ "$have_tlsf$have_buddy$have_slab" = 000 ] && have_mag=0
cfg="$out/bm_config.h"
cat > "$cfg.tmp" <<CFG
/* Written by targets/baremetal/build.sh: what this image contains. */
#define AK_HAVE_TLSF $have_tlsf
#define AK_HAVE_BUDDY $have_buddy
#define AK_HAVE_SLAB $have_slab
#define AK_HAVE_BITMAP_PAGE $have_page
#define AK_HAVE_BITMAP_ID $have_id
#define AK_HAVE_MAGAZINE $have_mag
#define AK_PAGE_ALLOC_CAPACITY_PAGES 1048576u
#define AK_ID_CAPACITY 65536u
CFG
mv "$cfg.tmp" "$cfg"

srcs="$root/src/core.c"
[ -f "$root/src/region.c" ] && srcs="$srcs $root/src/region.c"
[ "$have_tlsf" = 1 ] && srcs="$srcs $root/src/tlsf.c"
[ "$have_buddy" = 1 ] && srcs="$srcs $root/src/buddy.c"
[ "$have_slab" = 1 ] && srcs="$srcs $root/src/slab.c"
[ "$have_mag" = 1 ] && srcs="$srcs $root/src/magazine.c"
{ [ "$have_page" = 1 ] || [ "$have_id" = 1 ]; } && srcs="$srcs $root/src/hbitmap.c"
[ "$have_page" = 1 ] && srcs="$srcs $root/src/bitmap_page.c"
[ "$have_id" = 1 ] && srcs="$srcs $root/src/bitmap_id.c"

# Same flags as the freestanding check, plus what a kernel image needs.
cflags="--target=$triple $archflags -std=c11 -O2 -g -ffreestanding -fno-builtin-malloc
  -nostdlibinc -nostdlib -fno-pic -fno-stack-protector -ffunction-sections -fdata-sections
  -Wall -Wextra -Werror -I$root/include -I$out -I$root/src -I$root/tests"
objs=""
for src in $srcs "$here/common/rt.c" "$here/common/harness.c" "$here/$board/board.c" "$here/$board/start.S"; do
    obj="$out/$(basename "$src" | sed 's/\.[cS]$//').o"
    # shellcheck disable=SC2086
    "$CLANG" $cflags '-DAK_CONFIG_HEADER="bm_config.h"' "$@" -c "$src" -o "$obj"
    objs="$objs $obj"
done
# shellcheck disable=SC2086
"$LLD" -T "$here/$board/link.ld" --gc-sections -o "$out/allockit-$arch.elf" $objs
echo "$out/allockit-$arch.elf"
