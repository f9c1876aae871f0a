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
source tests/sh/lib/common.bash
M=$T/tiny.h5
tiny_model "$M"
vg=(valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite)
p=(--device cpu --threads 2 --model "$M")
expect 0 -- "${vg[@]}" "$SIAMESE" predict "${p[@]}" img/a.png img/d.jpg
printf '%s\n' img/a.png img/b.png /nonexistent.png img/c.png >"$T/pairs"
cases=$((cases + 1))
"${vg[@]}" "$SIAMESE" predict "${p[@]}" <"$T/pairs" >"$T/out" 2>"$T/err"
rc=$?
[ $rc = 1 ] && [ "$(sed -n 2p "$T/out")" = error ] ||
    fail "line protocol with a missing image: exit $rc (expected 1), output: $(cat "$T/out")"
grep -q '^==' "$T/err" && fail "valgrind reported: $(grep '^==' "$T/err" | head -20)"
printf 'not weights' >"$T/bad.h5"
expect 1 "not an HDF5 file" -- "${vg[@]}" "$SIAMESE" predict --device cpu --model "$T/bad.h5" img/a.png img/b.png
grep -q '^==' "$T/err" && fail "valgrind reported: $(grep '^==' "$T/err" | head -20)"
finish
