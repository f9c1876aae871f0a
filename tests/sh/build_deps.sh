#!/usr/bin/env bash
# The build follows headers into the tests: the dependency files that -MMD
# writes for the test programs are read, so a header only tests include
# (tests/synth.h) rebuilds the tests that include it, and those alone
# (make -n -W: what would be rebuilt were the file newer; nothing is built).
. tests/shlib.sh
for t in test_dataset test_loader test_optim; do
    [ -x "build/tests/$t" ] || { echo "SKIP: build/tests/$t is not built"; exit 77; }
done
if make -n NO_CUDA=1 build/tests/test_dataset build/tests/test_loader build/tests/test_optim | grep -q "tests/test_[a-z_]*\\.c"; then
    echo "SKIP: the tests are not up to date (run make test first)"
    exit 77
fi
make -n NO_CUDA=1 -W tests/synth.h build/tests/test_dataset build/tests/test_loader \
    build/tests/test_optim >"$TMP/plan" 2>&1
for t in test_dataset test_loader; do
    CASES=$((CASES + 1))
    grep -q "tests/$t\.c" "$TMP/plan" || fail "a newer tests/synth.h does not rebuild $t: $(cat "$TMP/plan")"
done
CASES=$((CASES + 1))
grep -q 'tests/test_optim\.c' "$TMP/plan" && fail "a newer tests/synth.h rebuilds test_optim, which does not include it"
finish
