# --resume from another working directory: a run started with a relative
# --dataset and --save-dir, stopped, is resumed from a sibling folder. The
# checkpoint records the paths absolute, so the resumed run finds the
# dataset, writes on into the run's folder (not a new logs/ where it was
# resumed) and notes no difference of settings; the same dataset named by
# another path is no difference either. (Before, the dataset was "no such
# folder", named as if the user had typed it, and a --dataset given to get
# past that was called a change that would not repeat the run.)
. tests/shlib.sh
SIAMESE=$(realpath "$SIAMESE")
small_dataset "$TMP/data"
mkdir -p "$TMP/first" "$TMP/elsewhere"
tiny=(--backbone compact --widths 2,2,4,4,4 --hidden 8 --input-shape 32 --batch-size 2
      --val-ratio 0.4 --steps-per-epoch 2 --val-steps 1 --epochs 3 --threads 1 --workers 1 --plain)

(cd "$TMP/first" && "$SIAMESE" train --dataset ../data --save-dir ./logs "${tiny[@]}" \
    --stop-after-steps 3) >"$TMP/first.log" 2>&1 || { cat "$TMP/first.log"; fail "the first part"; }
grep -q "stopped at epoch 2, step 1 of 2" "$TMP/first.log" || { cat "$TMP/first.log"; fail "no stop mid-epoch"; }

(cd "$TMP/elsewhere" && "$SIAMESE" train --resume ../first/logs/last_epoch_weights.h5 --plain \
    --stop-after-steps 1) >"$TMP/second.log" 2>&1 || { cat "$TMP/second.log"; fail "the resumed part"; }
grep -q "stopped at epoch 3, step 0 of 2; continue with --resume $TMP/first/logs/last_epoch_weights.h5" \
    "$TMP/second.log" || { cat "$TMP/second.log"; fail "the resumed run did not go on in first/logs"; }
[ -e "$TMP/elsewhere/logs" ] && fail "the resumed run wrote into a new logs/ where it was resumed"
grep "^note:" "$TMP/second.log" && fail "a plain resume from elsewhere noted a difference"

# The same dataset by another name (absolute, from another folder): no note.
(cd "$TMP/elsewhere" && "$SIAMESE" train --resume "$TMP/first/logs/last_epoch_weights.h5" \
    --dataset "$TMP/data" --plain --stop-after-steps 1) >"$TMP/third.log" 2>&1 ||
    { cat "$TMP/third.log"; fail "the resume naming the dataset"; }
grep "^note: dataset" "$TMP/third.log" && fail "the same dataset by another path was called a change"
grep -q "stopped at epoch 3, step 1 of 2" "$TMP/third.log" || { cat "$TMP/third.log"; fail "no third part"; }
finish
