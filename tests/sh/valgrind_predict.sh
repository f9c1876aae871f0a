#!/usr/bin/env bash
# The predict path under valgrind's memcheck: a tiny model and two small
# images, the line protocol with a bad image in it, a bad weights file.
# Any memory error, or memory definitely lost, fails. (Memory still
# reachable at exit, and OpenMP's thread stacks that valgrind counts as
# "possibly lost", are not errors; no suppressions are needed.)
if ! command -v valgrind >/dev/null; then
    echo "SKIP: valgrind is not installed (make setup installs it)"
    exit 77
fi
. tests/shlib.sh
M=$TMP/tiny.h5
tiny_model "$M"
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite)
p=(--device cpu --threads 2 --model "$M")
expect 0 -- "${vg[@]}" "$SIAMESE" predict "${p[@]}" img/a.png img/d.jpg
printf '%s\n' img/a.png img/b.png /nonexistent.png img/c.png >"$TMP/pairs"
CASES=$((CASES + 1))
"${vg[@]}" "$SIAMESE" predict "${p[@]}" <"$TMP/pairs" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 1 ] && [ "$(sed -n 2p "$TMP/out")" = error ] ||
    fail "line protocol with a missing image: exit $rc (expected 1), output: $(cat "$TMP/out")"
grep -q '^==' "$TMP/err" && fail "valgrind reported: $(grep '^==' "$TMP/err" | head -20)"
printf 'not weights' >"$TMP/bad.h5"
expect 1 "not an HDF5 file" -- "${vg[@]}" "$SIAMESE" predict --device cpu --model "$TMP/bad.h5" img/a.png img/b.png
grep -q '^==' "$TMP/err" && fail "valgrind reported: $(grep '^==' "$TMP/err" | head -20)"
finish
