#!/bin/sh
# akmalloc_layout: libakmalloc.so's text is laid out as hosted/akmalloc.ld
# says: the text segment starts on a 64 KiB boundary, everything a run
# executes (.init, .plt, .text, .fini) ends inside its first 64 KiB, and
# what a run does not execute (.text.ak_cold) follows: the malloc family
# before it, the checkers in it. A failure names the part that moved or
# grew. Needs readelf and nm (binutils); skips (77) without them.
# usage: akmalloc_layout.sh LIBAKMALLOC
set -u
lib=$1
echo "akmalloc_layout: $lib"
for tool in readelf nm; do
    command -v $tool >/dev/null 2>&1 || { echo "SKIP: no $tool (binutils) on this host"; exit 77; }
done
fail() { echo "FAIL: $*"; exit 1; }

# The executable LOAD segment: its address.
seg=$(readelf -lW "$lib" | awk '$1 == "LOAD" && $(NF-1) ~ /E/ { print $3; exit }')
[ -n "$seg" ] || fail "no executable LOAD segment"
seg=$((seg))
[ $((seg % 65536)) -eq 0 ] || fail "text segment at $(printf %#x $seg), not 64 KiB aligned"

# Section name -> start and end (the shell's arithmetic: mawk, Debian's
# awk, has no strtonum).
sections=$(readelf -SW "$lib" | sed 's/^ *\[ *[0-9]*\] *//' |
    awk '$2 == "PROGBITS" { print $1, $3, $5 }' | while read -r n a s; do
        echo "$n $((0x$a)) $((0x$a + 0x$s))"
    done)
start_of() { echo "$sections" | awk -v n="$1" '$1 == n { print $2; exit }'; }
end_of() { echo "$sections" | awk -v n="$1" '$1 == n { print $3; exit }'; }

cold=$(start_of .text.ak_cold)
[ -n "$cold" ] || fail "no .text.ak_cold section: the linker script did not apply"
[ $(($(end_of .text.ak_cold) - cold)) -gt 0 ] || fail ".text.ak_cold is empty"
window=$((seg + 65536))
for s in .init .plt .plt.got .plt.sec .text .fini; do
    e=$(end_of $s)
    [ -n "$e" ] || continue
    [ "$e" -le "$window" ] ||
        fail "$s ends $((e - seg)) bytes into the text segment, past its first 64 KiB"
    [ "$e" -le "$cold" ] || fail "$s ends after .text.ak_cold begins"
done
hot=$(($(end_of .fini) - seg))
echo "executed part: $hot bytes of the first window's 65536 ($((65536 - hot)) spare);" \
    "the rest: $(($(end_of .text.ak_cold) - cold)) bytes"

# Where the functions went: the malloc family before the cold part, every
# checker in it.
syms=$(nm "$lib" | awk '$2 ~ /^[tTwW]$/ { print $3, $1 }')
for f in malloc free calloc realloc; do
    a=$(echo "$syms" | awk -v n=$f '$1 == n { print $2; exit }')
    [ -n "$a" ] || fail "no symbol $f"
    [ $((0x$a)) -lt "$cold" ] || fail "$f is in the part a run does not execute"
done
checkers=0
for a in $(echo "$syms" | awk '$1 ~ /_check$/ { print $2 }'); do
    [ $((0x$a)) -ge "$cold" ] || fail "a checker (at 0x$a) is in the executed part"
    checkers=$((checkers + 1))
done
[ $checkers -gt 0 ] || fail "no checker found in the library"
echo "malloc, free, calloc, realloc before it; $checkers checkers in it"
echo "PASS"
