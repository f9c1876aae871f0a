#!/usr/bin/env bash
# tests/gpu/train_model.sh (the shipped model retrained and evaluated on a
# GPU) checked on the CPU at toy size: it trains, evaluates, and leaves the
# weights, the curve and a summary in $OUT. (The GPU run itself needs a GPU.)
. tests/shlib.sh
export OMP_WAIT_POLICY=passive
OUT=$TMP/out bash tests/gpu/train_model.sh --dry-run >"$TMP/log" 2>&1 || { tail -30 "$TMP/log"; fail "the dry run failed"; }
for f in siamese_omniglot.h5 training_curve.png train.log eval_seed7.txt eval_seed1.txt RESULTS.md; do
    [ -s "$TMP/out/$f" ] || fail "no $f in \$OUT"
done
grep -q "DRY RUN" "$TMP/out/RESULTS.md" || fail "the summary does not say it was a dry run"
grep -q "^- 2-way 1-shot within-alphabet: accuracy .* (seed 7)$" "$TMP/out/RESULTS.md" || fail "no accuracy in the summary: $(cat "$TMP/out/RESULTS.md")"
grep -q "^- verification (4 same and 4 different pairs)" "$TMP/out/RESULTS.md" || fail "no verification in the summary"
# The weights it wrote are a model predict reads.
"$SIAMESE" predict --device cpu --model "$TMP/out/siamese_omniglot.h5" img/a.png img/b.png >/dev/null 2>&1 ||
    fail "predict cannot use the retrained weights"
finish
