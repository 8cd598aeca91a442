#!/bin/sh
# Write every ```c block of a Markdown file, in order, to OUT.
# usage: extract.sh README.md OUT
set -eu
awk '/^```c$/{on=1; next} /^```/{on=0} on' "$1" > "$2.tmp"
mv "$2.tmp" "$2"
