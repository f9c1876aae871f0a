# A run stopped in its first epoch (no epoch finished, so its loss folder
# holds no loss file yet) resumes into the same loss folder, without a note
# that the loss log is "incomplete", and that folder gets the run's losses:
# one loss folder for one run. (Before, the resume said the log was
# incomplete, started a second folder and left the first one empty.)
. tests/shlib.sh
small_dataset "$TMP/data"
tiny=(--dataset "$TMP/data" --save-dir "$TMP/logs" --backbone compact --widths 2,2,4,4,4
      --hidden 8 --input-shape 32 --batch-size 2 --val-ratio 0.4 --steps-per-epoch 2
      --val-steps 1 --epochs 2 --threads 1 --workers 1 --plain)
"$SIAMESE" train "${tiny[@]}" --stop-after-steps 1 >"$TMP/first.log" 2>&1 ||
    { cat "$TMP/first.log"; fail "the first part"; }
grep -q "stopped at epoch 1, step 1 of 2" "$TMP/first.log" || { cat "$TMP/first.log"; fail "no stop in epoch 1"; }
"$SIAMESE" train --resume "$TMP/logs/last_epoch_weights.h5" --plain >"$TMP/second.log" 2>&1 ||
    { cat "$TMP/second.log"; fail "the resumed part"; }
grep -q "^finished 2 epochs" "$TMP/second.log" || { cat "$TMP/second.log"; fail "the resumed run did not finish"; }
grep "incomplete" "$TMP/second.log" && fail "the first epoch's loss log was called incomplete"
n=$(ls -d "$TMP"/logs/loss_* | wc -l)
[ "$n" -eq 1 ] || { ls "$TMP/logs"; fail "$n loss folders for one run"; }
[ "$(cat "$TMP"/logs/loss_*/epoch_loss.txt 2>/dev/null | wc -l)" -eq 2 ] ||
    fail "the loss folder lacks the run's 2 epochs"
finish
