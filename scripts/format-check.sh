#!/bin/sh
# Fail if any tracked C file differs from what clang-format (with the
# repo's .clang-format) would make of it. Exit 77 (skipped) without
# clang-format or outside a git checkout.
set -u
cd "$(dirname "$0")/.." || exit 1
command -v clang-format >/dev/null 2>&1 || { echo "SKIP: clang-format not installed"; exit 77; }
files=$(git ls-files '*.c' '*.h' 2>/dev/null) || { echo "SKIP: not a git checkout"; exit 77; }
[ -n "$files" ] || { echo "SKIP: no tracked C files"; exit 77; }
# shellcheck disable=SC2086
if clang-format --dry-run --Werror $files; then
    echo "format: $(echo "$files" | wc -l) files match .clang-format"
else
    echo "format: run 'make format' (clang-format -i) on the files above"
    exit 1
fi
