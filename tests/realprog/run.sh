#!/bin/sh
# Run a real program twice, plainly and with LD_PRELOAD=libakmalloc.so
# (AK_MALLOC=<backend>), and compare what it produced. Each workload is
# deterministic and takes a few seconds at most.
# usage: run.sh CASE BACKEND LIBAKMALLOC WORKDIR SRCDIR PRELOAD_PROG [SANITIZE]
#   CASE: preload python sqlite git sort gcc cxx
# Exit 0: same output; 1: different or failed; 77: skipped (says why).
# With TIMING=1 only the named mode runs (MODE=plain|ak|peer) for timing
# loops; MODE=peer preloads PEER_LIB (another malloc) instead.
set -u
case_name=$1 backend=$2 lib=$3 work=$4 src=$5 preload_prog=$6 sanitize=${7:-}

skip() {
    echo "SKIP realprog $case_name/$backend: $*"
    exit 77
}
need() {
    command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed"
}

[ -z "$sanitize" ] || skip "sanitizer build (-fsanitize=$sanitize): libakmalloc.so cannot be preloaded under the sanitizer runtime"
[ -f "$lib" ] || skip "$lib not built"

# ---- workloads: each runs in the current directory and writes ./out ----

case_preload() {
    "$preload_prog" >out 2>err
}

case_python() {
    cat >work.py <<'PY'
import json
# dicts, lists, strings, tuples, sets: many small objects, growth, frees
d = {}
for i in range(100000):
    d["key%d" % i] = [i, str(i) * (i % 7 + 1), {"x": i, "y": (i, i + 1)}]
total = sum(len(v[1]) for v in d.values())
for i in range(0, 100000, 3):
    del d["key%d" % i]
words = ["".join(chr(97 + (i * j) % 26) for j in range(i % 25 + 1)) for i in range(40000)]
text = " ".join(words)
counts = {}
for w in text.split():
    counts[w] = counts.get(w, 0) + 1
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
blob = json.dumps([list(range(i % 50)) for i in range(20000)])
back = json.loads(blob)
s = set()
for i in range(100000):
    s.add((i * 7919) % 100003)
big = bytearray()
for i in range(20000):
    big += b"x" * (i % 100)
print(total, len(d), len(text), top, len(blob), sum(len(x) for x in back), len(s), len(big))
PY
    # PYTHONMALLOC=malloc: every object through malloc/free, not only the
    # big ones (pymalloc would serve small objects from its own arenas).
    PYTHONMALLOC=malloc python3 work.py >out 2>err
}

case_sqlite() {
    awk 'BEGIN {
        print "CREATE TABLE people(id INTEGER PRIMARY KEY, name TEXT, city INTEGER, score REAL);";
        print "CREATE TABLE cities(id INTEGER PRIMARY KEY, name TEXT);";
        print "BEGIN;";
        for (i = 0; i < 100; i++) printf "INSERT INTO cities VALUES(%d, \"city%03d\");\n", i, i;
        for (i = 0; i < 6000; i++)
            printf "INSERT INTO people(name, city, score) VALUES(\"person-%d-%s\", %d, %d.%d);\n",
                   i, substr("abcdefghijklmnopqrstuvwxyz", i % 26 + 1, i % 13 + 1), (i * 37) % 100, i % 997, i % 10;
        print "COMMIT;";
        print "CREATE INDEX people_city ON people(city);";
        print "SELECT count(*), sum(score), max(length(name)) FROM people;";
        print "SELECT c.name, count(*), round(avg(p.score), 3) FROM people p JOIN cities c ON p.city = c.id GROUP BY c.name ORDER BY 2 DESC, 1 LIMIT 15;";
        for (i = 0; i < 500; i++)
            printf "SELECT name FROM people WHERE city = %d ORDER BY score DESC, id LIMIT 1;\n", i % 100;
        print "UPDATE people SET score = score * 2 WHERE id % 3 = 0;";
        print "DELETE FROM people WHERE id % 5 = 0;";
        print "SELECT count(*), sum(score) FROM people;";
        print "SELECT group_concat(name, \",\") FROM (SELECT name FROM people ORDER BY name DESC LIMIT 50);";
    }' >work.sql
    sqlite3 work.db <work.sql >out 2>err
}

case_git() (
    export GIT_AUTHOR_NAME=allockit GIT_AUTHOR_EMAIL=ak@example.invalid
    export GIT_COMMITTER_NAME=allockit GIT_COMMITTER_EMAIL=ak@example.invalid
    export GIT_AUTHOR_DATE="2024-01-01T00:00:00Z" GIT_COMMITTER_DATE="2024-01-01T00:00:00Z"
    export GIT_CONFIG_NOSYSTEM=1 HOME="$PWD"
    mkdir tree
    awk 'BEGIN { for (d = 0; d < 20; d++) for (f = 0; f < 20; f++) {
        file = sprintf("tree/dir%02d/file%02d.txt", d, f);
        if (f == 0) system("mkdir -p tree/dir" sprintf("%02d", d));
        for (l = 0; l < 40; l++) printf "line %d of %d/%d: %s\n", l, d, f, substr("the quick brown fox jumps over the lazy dog", 1, (d * f + l) % 43 + 1) > file;
        close(file) } }'
    {
        cd tree &&
        git init -q -b main . &&
        git add . && git commit -q -m "first tree" &&
        sed -i 's/quick/slow/' dir0*/file1*.txt && git commit -q -am "second: slower foxes" &&
        git mv dir19 dir20 && git commit -q -m "third: rename" &&
        git log --stat --format='%H %s' &&
        git rev-list --count HEAD && git ls-files | wc -l &&
        git gc -q && git fsck --no-progress --strict && git count-objects -v | grep -v size
    } >out 2>err
)

case_sort() {
    if [ ! -f "$work/input.txt" ]; then
        awk 'BEGIN { x = 12345; for (i = 0; i < 400000; i++) {
            x = (x * 1103515245 + 12345) % 2147483648;
            printf "%d %s%d\n", x % 100000, substr("zyxwvutsrqponmlkjihgfedcba", x % 26 + 1, 5), i } }' >"$work/input.txt"
    fi
    {
        LC_ALL=C sort "$work/input.txt" | md5sum
        LC_ALL=C sort -n -k1,1 -k2 "$work/input.txt" | md5sum
        LC_ALL=C sort -u -k2,2 "$work/input.txt" | wc -l
    } >out 2>err
}

case_gcc() {
    gen=$(dirname "$lib")/../include
    for f in src/core.c src/tlsf.c hosted/heap.c; do
        [ -f "$src/$f" ] || continue
        o=$(echo "$f" | tr / _).o
        gcc -std=c11 -O2 -g -Wall -Wextra -I"$src/include" -I"$src/hosted/include" -I"$src/src" \
            -I"$src/tests" -I"$gen" -c "$src/$f" -o "$o" || return 1
        # The object, without the path-dependent debug strings.
        objcopy --strip-debug "$o" "$o.s" && md5sum <"$o.s" | sed "s|-|$f|"
    done >out 2>err
}

case_cxx() {
    "$work/cxx_prog" >out 2>err
}

case "$case_name" in
preload) [ -x "$preload_prog" ] || skip "heap_preload_prog not built" ;;
python) need python3 ;;
sqlite) need sqlite3 ;;
git) need git ;;
sort) need sort ;;
gcc) need gcc; need objcopy ;;
cxx)
    need c++
    mkdir -p "$work"
    c++ -std=c++17 -O2 -Wall -Wextra -o "$work/cxx_prog" "$src/tests/realprog/cxx.cc" $( [ "$(uname)" = Linux ] && echo -ldl ) \
        || skip "c++ cannot build tests/realprog/cxx.cc"
    ;;
*) echo "unknown case $case_name"; exit 2 ;;
esac

mkdir -p "$work"
run_mode() { # plain|ak
    rm -rf "$work/$1" && mkdir -p "$work/$1" && cd "$work/$1" || exit 1
    if [ "$1" = ak ]; then
        AK_MALLOC=$backend AK_MALLOC_STATS=${AK_MALLOC_STATS:-1} LD_PRELOAD=$lib "case_$case_name"
    elif [ "$1" = peer ]; then # another malloc (jemalloc, ...) for timing: PEER_LIB
        LD_PRELOAD=$PEER_LIB "case_$case_name"
    else
        "case_$case_name"
    fi
    echo $? >rc
    cd "$work" || exit 1
}

if [ "${TIMING:-0}" = 1 ]; then
    run_mode "${MODE:-ak}"
    exit "$(cat "$work/${MODE:-ak}/rc")"
fi

if [ "$case_name" = preload ]; then
    run_mode ak
    cat "$work/ak/out" "$work/ak/err"
    exit "$(cat "$work/ak/rc")"
fi

run_mode plain
run_mode ak
rc_plain=$(cat "$work/plain/rc") rc_ak=$(cat "$work/ak/rc")
echo "realprog $case_name/$backend: exit status plain=$rc_plain akmalloc=$rc_ak"
grep -m4 '^akmalloc stats' "$work/ak/err" || true
if [ "$rc_plain" != 0 ]; then
    echo "the plain run failed:"; tail -n 20 "$work/plain/err"; exit 1
fi
if [ "$rc_ak" != 0 ]; then
    echo "the run under libakmalloc failed:"; tail -n 20 "$work/ak/err"; exit 1
fi
if ! grep -q "^akmalloc stats: backend=$backend" "$work/ak/err"; then
    echo "no statistics from libakmalloc with backend $backend on stderr:"; tail -n 20 "$work/ak/err"; exit 1
fi
if ! cmp -s "$work/plain/out" "$work/ak/out"; then
    echo "outputs differ:"; diff "$work/plain/out" "$work/ak/out" | head -n 20; exit 1
fi
echo "realprog $case_name/$backend: same output ($(wc -l <"$work/ak/out") lines)"
exit 0
