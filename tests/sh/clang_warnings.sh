#!/usr/bin/env bash
# The clang builds (make tsan, make fuzz) compile without a warning, as the
# GCC build does: each C file of theirs, with the flags make gives it (read
# from 'make -n', so the check follows the Makefile), checked by clang
# -fsyntax-only. (GCC's optimize attribute once gave a screen of "unknown
# attribute" warnings there, which hide the warnings that matter.)
. tests/shlib.sh
command -v clang >/dev/null || { echo "SKIP: clang is not installed (make setup installs it)"; exit 77; }
# 'make -n -B' prints every command of a full rebuild and runs none
# (the sub-make of 'tsan' too, also under -n). The compile commands are
# the lines that run clang with -c; run here as syntax checks, without
# their object and dependency files.
make -n -B --no-print-directory NO_CUDA=1 NO_MPI=1 tsan fuzz >"$TMP/commands" 2>"$TMP/make.err" ||
    { cat "$TMP/make.err"; fail "make -n"; finish; }
grep -E '^clang .* -c ' "$TMP/commands" | sed -e 's/ -c -o [^ ]*/ -fsyntax-only/' -e 's/ -MMD -MP / /' \
    >"$TMP/checks"
n=$(wc -l <"$TMP/checks")
[ "$n" -ge 40 ] || fail "only $n clang compile commands found in make -n's output"
while read -r cmd; do
    CASES=$((CASES + 1))
    eval "$cmd" >"$TMP/out" 2>&1 || fail "clang failed: $cmd"
    if [ -s "$TMP/out" ]; then
        fail "clang warns: ${cmd##* }"
        head -20 "$TMP/out" | sed 's/^/    | /' >&2
    fi
done <"$TMP/checks"
echo "$CASES files checked"
finish
