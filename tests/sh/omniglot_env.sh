#!/usr/bin/env bash
# Every test that reads Omniglot reads it from $OMNIGLOT, and says so when
# it is not there: pointed at a missing folder, each expect script and shell
# test that needs it skips (exit 77) naming that folder, and those with an
# Omniglot part name the part they leave out. (The expect scripts used to
# read ../shared/omniglot whatever $OMNIGLOT said.)
. tests/shlib.sh
missing=$TMP/no-omniglot
for t in $(grep -l 'omniglot_dir\|omniglot_root' tests/expect/*.exp); do
    CASES=$((CASES + 1))
    OMNIGLOT=$missing command expect "$t" >"$TMP/log" 2>&1
    rc=$?
    { [ $rc = 77 ] && grep -q "SKIP: .*$missing" "$TMP/log"; } ||
        fail "$t with OMNIGLOT=$missing: exit $rc: $(head -3 "$TMP/log")"
done
# The shell tests that need it (need_omniglot) skip the same way.
for t in $(grep -l '^need_omniglot' tests/sh/*.sh); do
    CASES=$((CASES + 1))
    OMNIGLOT=$missing bash "$t" >"$TMP/log" 2>&1
    rc=$?
    { [ $rc = 77 ] && grep -q "SKIP: .*$missing" "$TMP/log"; } ||
        fail "$t with OMNIGLOT=$missing: exit $rc: $(head -3 "$TMP/log")"
done
CASES=$((CASES + 1))
OMNIGLOT=$missing bash tests/sh/predict_cli.sh >"$TMP/log" 2>&1
grep -q "SKIP (part): no Omniglot at $missing" "$TMP/log" ||
    fail "predict_cli.sh does not name the part it leaves out: $(tail -3 "$TMP/log")"
finish
