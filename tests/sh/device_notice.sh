#!/usr/bin/env bash
# Where no GPU can be used, --device auto runs on the CPU without a word
# (nothing on standard error), -v says why on one line and what it
# computes in, and --device cuda is an error (exit status 1). Skipped where
# a GPU is in use.
. tests/shlib.sh
expect 0 -- "$SIAMESE" predict -v img/a.png img/b.png
if ! grep -q "no GPU in use" "$TMP/err"; then
    echo "SKIP: a GPU is in use here"
    exit 77
fi
[ "$(grep -c "no GPU in use" "$TMP/err")" -eq 1 ] || fail "-v says 'no GPU in use' more than once"
grep -q "device cpu" "$TMP/err" || fail "-v does not name the device"
# and what it computes in: the default tf32 is fp32 on the CPU, and why.
grep -q "; precision fp32 (this device has no TF32)$" "$TMP/err" ||
    fail "-v does not say the CPU computes tf32 in fp32: $(cat "$TMP/err")"
expect 0 -- "$SIAMESE" predict -v --precision fp32 img/a.png img/b.png
grep -q "; precision fp32$" "$TMP/err" || fail "-v --precision fp32: $(cat "$TMP/err")"
expect 0 -- "$SIAMESE" predict img/a.png img/b.png
[ -s "$TMP/err" ] && fail "predict without -v wrote to standard error: $(cat "$TMP/err")"
printf '%s\n' img/a.png img/b.png > "$TMP/pairs"
"$SIAMESE" < "$TMP/pairs" > "$TMP/out" 2> "$TMP/err" || fail "the line protocol failed"
[ -s "$TMP/err" ] && fail "the line protocol wrote to standard error: $(cat "$TMP/err")"
expect 1 "CUDA backend is not available" -- "$SIAMESE" predict --device cuda img/a.png img/b.png
[ -s "$TMP/out" ] && fail "--device cuda without a GPU printed a score"
finish
