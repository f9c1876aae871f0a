#!/usr/bin/env bash
# Text sized to its content: a run whose --dataset and --save-dir paths are
# over 2,000 characters each (its checkpoint's state over 6 KB: the limits
# were 4 KiB for the state, 2 KiB for the strings read back from it and for
# the loss folder's path, 160 characters for a row of the configuration
# table) shows its settings whole, saves, and when stopped and resumed after
# 17 of 40 epochs continues its loss log and repeats an uninterrupted run
# exactly. Our own images (copies of img/*.png), so it runs without Omniglot.
. tests/shlib.sh
long=$TMP
for i in $(seq 10); do long=$long/$(printf 'p%.0s' $(seq 200))$i; done  # 10 folders, 2,000+ characters
small_dataset "$long/data"
args=(--device cpu --threads 1 --workers 1 --plain --backbone compact --widths 2,2,4,4,4
      --hidden 8 --input-shape 32 --steps-per-epoch 1 --val-steps 1 --batch-size 2
      --val-ratio 0.5 --save-period 100 --seed 5 --epochs 40 --dataset "$long/data")
expect 0 -- "$SIAMESE" train "${args[@]}" --save-dir "$long/a"
CASES=$((CASES + 1))
grep -qF "| $long/data|" "$TMP/out" || fail "the configuration table does not show the whole --dataset path"
expect 0 -- "$SIAMESE" train "${args[@]}" --save-dir "$long/b" --stop-after-steps 17
CASES=$((CASES + 1))
grep -q "^stopped at epoch 18, step 0 of 1; continue with --resume $long/b/last_epoch_weights.h5$" "$TMP/out" ||
    fail "no stop line naming the whole checkpoint path: $(grep '^stopped' "$TMP/out" | cut -c1-200)"
expect 0 -- "$SIAMESE" train --resume "$long/b/last_epoch_weights.h5"
CASES=$((CASES + 1))
grep -q "^resuming .* at epoch 18, step 0 of 1" "$TMP/out" || fail "no resume line"
grep -q "^note:" "$TMP/out" && fail "a plain resume noted changes: $(grep '^note:' "$TMP/out" | cut -c1-300)"
for d in a b; do
    CASES=$((CASES + 1))
    n=$(ls -d "$long/$d"/loss_* | wc -l)
    [ "$n" = 1 ] || fail "$d: $n loss folders, expected the one continued"
done
for f in epoch_loss.txt epoch_val_loss.txt; do
    CASES=$((CASES + 1))
    [ "$(wc -l <"$long"/a/loss_*/$f)" = 40 ] || fail "$f of the uninterrupted run has not 40 lines"
    cmp -s "$long"/a/loss_*/$f "$long"/b/loss_*/$f ||
        fail "$f of the resumed run differs: $(paste "$long"/a/loss_*/$f "$long"/b/loss_*/$f | head -5)"
done
for d in a b; do
    "$SIAMESE" predict --device cpu --threads 1 --model "$long/$d/last_epoch_weights.h5" img/a.png img/b.png
done >"$TMP/pred" 2>&1
CASES=$((CASES + 1))
[ "$(sed -n 1p "$TMP/pred")" = "$(sed -n 2p "$TMP/pred")" ] || fail "final weights differ: $(cat "$TMP/pred")"
finish
