#!/bin/sh
# The README's C examples must compile and do what they say: extract every
# ```c block, build them together against this build of allockit with a
# main() that exercises each, and run it.
# usage: check-readme-examples.sh README.md BUILD_INCLUDE_DIR SRC_INCLUDE_DIR LIBALLOCKIT_A CC [EMULATOR...]
# EMULATOR: how to run the program in a cross build (CMAKE_CROSSCOMPILING_EMULATOR).
set -eu
readme=$1; geninc=$2; srcinc=$3; lib=$4; cc=$5
shift 5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^```c$/{on=1; next} /^```/{on=0} on' "$readme" > "$tmp/examples.c"
n=$(grep -c '^```c$' "$readme")
[ "$n" -ge 4 ] || { echo "expected at least 4 C examples in the README, found $n"; exit 1; }
cat > "$tmp/main.c" <<'EOC'
#include <stdio.h>
#include "examples.c"
int main(void)
{
    int fail = 0;
    if (use_tlsf() != 0) { puts("use_tlsf failed"); fail = 1; }
    if (grab(ak_tlsf_as_byte(&heap), 100) == NULL) { puts("grab failed"); fail = 1; }
    uintptr_t pg = four_aligned_pages();
    if (pg == 0 || pg % 16384 != 0 || ak_bitmap_page_used_pages(&pages) != 4) {
        puts("four_aligned_pages failed"); fail = 1;
    }
    size_t a = new_pid(), b = new_pid();
    if (a != 1 || b != 2) { printf("new_pid gave %zu, %zu\n", a, b); fail = 1; }
    printf("README examples: %d C blocks, %s\n", 4, fail ? "FAILED" : "all ran as described");
    return fail;
}
EOC
"$cc" -std=c11 -Wall -Wextra -Werror -Wno-unused-function -I"$tmp" -I"$geninc" -I"$srcinc" \
    "$tmp/main.c" "$lib" -o "$tmp/readme-examples"
"$@" "$tmp/readme-examples"
