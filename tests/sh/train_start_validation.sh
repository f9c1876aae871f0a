#!/usr/bin/env bash
# A run from --model-path weights measures them on the validation pairs
# before its first step. Validation images are never distorted: with one
# seed, that loss is the same under --augment none, koch and standard,
# while the training losses (of distorted images) differ. A run from random
# weights, or a resumed one, measures nothing before its steps.
. tests/shlib.sh
T=$TMP
need_shipped_model
M=$SHIPPED_MODEL
small_dataset "$T/data"
args=(--dataset "$T/data" --val-ratio 0.5 --backbone compact --input-shape 105 --invert
      --batch-size 2 --steps-per-epoch 1 --val-steps 2 --epochs 1 --seed 3 --threads 1
      --workers 1 --plain)
for a in none koch standard; do
    "$SIAMESE" train "${args[@]}" --model-path "$M" --augment "$a" --save-dir "$T/$a" \
        >"$T/$a.log" 2>&1 || { cat "$T/$a.log"; fail "train --augment $a"; }
done
start() { sed -n "s|^--model-path $M before training: validation loss \([0-9.]*\), accuracy \([0-9.]*\)%$|\1 \2|p" "$T/$1.log"; }
train_loss() { sed -n 's/^Epoch 1\/1  loss \([^ ]*\) .*/\1/p' "$T/$1.log"; }
none=$(start none)
[ -n "$none" ] || { cat "$T/none.log"; fail "no validation loss of the --model-path weights before training"; }
# (The shipped model is not the untrained one: a loss away from ln 2.)
[ "${none%% *}" != 0.6931 ] || fail "the --model-path weights score as untrained ones: $none"
# The line comes before the first step.
[ "$(grep -n -m1 'before training: validation loss' "$T/none.log" | cut -d: -f1)" -lt \
  "$(grep -n -m1 '^Epoch 1/1 ' "$T/none.log" | cut -d: -f1)" ] || fail "the validation before training comes after the epoch"
for a in koch standard; do
    [ "$(start "$a")" = "$none" ] ||
        fail "--augment $a changes the validation pairs: loss and accuracy '$(start "$a")', with none '$none'"
    [ -n "$(train_loss "$a")" ] && [ "$(train_loss "$a")" != "$(train_loss none)" ] ||
        fail "--augment $a trains on what none does (loss '$(train_loss "$a")', none '$(train_loss none)'): the comparison tests nothing"
done

# Every epoch is measured on the same pairs (the best epoch is chosen on a
# fair comparison): the weights after epoch 2 of a run score at its epoch 2
# what they score before training in a new run.
"$SIAMESE" train "${args[@]}" --model-path "$M" --augment none --epochs 2 --save-dir "$T/two" \
    >"$T/two.log" 2>&1 || { cat "$T/two.log"; fail "train 2 epochs"; }
"$SIAMESE" train "${args[@]}" --model-path "$T/two/last_epoch_weights.h5" --save-dir "$T/after" \
    >"$T/after.log" 2>&1 || { cat "$T/after.log"; fail "train from the weights after epoch 2"; }
epoch2=$(sed -n 2p "$T"/two/loss_*/epoch_val_loss.txt)
after=$(sed -n "s|^--model-path $T/two/last_epoch_weights.h5 before training: validation loss \([0-9.]*\),.*|\1|p" "$T/after.log")
[ -n "$epoch2" ] && [ -n "$after" ] && [ "$(printf %.4f "$epoch2")" = "$after" ] ||
    fail "the weights after epoch 2 scored $epoch2 at epoch 2, $after before training: epoch 2 was measured on other pairs"

# No measure before the steps from random weights, nor when resuming.
"$SIAMESE" train "${args[@]}" --save-dir "$T/random" >"$T/random.log" 2>&1 || { cat "$T/random.log"; fail "train from random weights"; }
grep -q 'before training' "$T/random.log" && fail "a run from random weights measured them before training"
"$SIAMESE" train --resume "$T/none/last_epoch_weights.h5" --epochs 2 --plain >"$T/resume.log" 2>&1 ||
    { cat "$T/resume.log"; fail "--resume"; }
grep -q 'before training' "$T/resume.log" && fail "a resumed run measured its weights before training"
grep -q '^Epoch 2/2 ' "$T/resume.log" || { cat "$T/resume.log"; fail "the resumed run has no epoch 2"; }
finish
