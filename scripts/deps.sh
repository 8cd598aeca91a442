#!/bin/sh
# Install what a make target needs beyond gcc/clang/cmake/make, when this
# is a Debian-like machine and we may (root, apt-get present, and
# AK_NO_INSTALL unset). Otherwise say what is missing; the targets then
# skip the parts that need it, each with its own message.
# usage: deps.sh test|bench|targets|fuzz|coverage
set -u
want=""
case "${1:-test}" in
# test: libc6-dev-i386 + lib32gcc-12-dev give gcc -m32 (m32_build) without
# gcc-multilib, which conflicts with the cross compilers of `targets`.
test) want="clang lld llvm pkg-config valgrind libclang-rt-14-dev sqlite3 libsqlite3-dev python3 git libc6-dev-i386 lib32gcc-12-dev" ;;
# bench: valgrind for the instruction counts (callgrind, and its client
# requests in <valgrind/callgrind.h>, which the valgrind package ships).
bench) want="libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev gnuplot-nox valgrind time python3 sqlite3 git" ;;
# targets: gcc-i686-linux-gnu rather than gcc-multilib, which conflicts
# with the other cross compilers on Debian.
targets) want="clang lld llvm qemu-system-misc qemu-system-arm qemu-user-static gcc-s390x-linux-gnu libc6-dev-s390x-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross gcc-i686-linux-gnu libc6-dev-i386-cross gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;;
fuzz) want="clang libclang-rt-14-dev" ;;
coverage) want="gcovr" ;;
*) echo "deps.sh: unknown group $1"; exit 2 ;;
esac
# AK_DEPS_EXTRA: more package names (the tests use it to exercise the
# path taken for a package that is missing).
want="$want ${AK_DEPS_EXTRA:-}"

missing=""
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ -n "${AK_NO_INSTALL:-}" ] || ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
    echo "note: not installing (${AK_NO_INSTALL:+AK_NO_INSTALL set}$(command -v apt-get >/dev/null || echo ' no apt-get')$([ "$(id -u)" = 0 ] || echo ' not root')):$missing"
    echo "note: the parts that need them will be skipped"
    exit 0
fi
echo "installing:$missing"
stamp=/var/lib/apt/periodic/allockit-update-stamp
if [ ! -f "$stamp" ] || [ -n "$(find "$stamp" -mmin +360 2>/dev/null)" ]; then
    apt-get update -qq >/dev/null 2>&1 && mkdir -p "$(dirname "$stamp")" && touch "$stamp"
fi
# One package at a time, so a name this release lacks does not stop the rest.
for p in $missing; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" \
        >/dev/null 2>&1 || echo "note: could not install $p; the parts that need it will be skipped"
done
exit 0
