#!/bin/sh
# Install allockit from a build tree into a temporary prefix, then build and
# run one small program with pkg-config and another with find_package().
# usage: check-install.sh BUILDDIR CONSUMER_SRC_DIR CC
set -eu
build=$1; here=$2; cc=$3
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
echo "installed into $prefix"

pcdir=$(dirname "$(find "$prefix" -name allockit.pc | head -n1)")
if command -v pkg-config >/dev/null 2>&1; then
    flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs allockit)
    echo "pkg-config --cflags --libs allockit: $flags"
    libdir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=libdir allockit)
    # shellcheck disable=SC2086
    "$cc" -std=c11 -Wall -Wextra -Werror "$here/consumer/main.c" -o "$prefix/by-pkg-config" \
        $flags -Wl,-rpath,"$libdir"
    "$prefix/by-pkg-config"
else
    echo "SKIP (pkg-config part): pkg-config not installed (apt-get install pkg-config)"
    skipped=1
fi

cmake -S "$here/consumer" -B "$prefix/consumer-build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_C_COMPILER="$cc" >/dev/null
cmake --build "$prefix/consumer-build" >/dev/null
"$prefix/consumer-build/by-find-package"
[ "${skipped:-0}" = 0 ] || exit 77
echo "install check: both consumers built and ran"
