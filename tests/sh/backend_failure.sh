#!/usr/bin/env bash
# A failed backend operation is an error that reaches the user, never an
# abort. SIAMESE_INJECT_OOM=N fails the Nth operation as out of memory, as a
# full GPU does (backend.h), so this runs without one:
#  - train: the run is saved, exit 1 with a message that names --batch-size
#    and --resume, and the resumed run computes exactly what an
#    uninterrupted one does (the failed step changed nothing), whether the
#    failure hit a training step or the validation pass;
#  - init, predict (two images, and the line protocol), eval and rank: exit 1
#    with the message.
# Our own images (copies of img/*.png), so it runs without Omniglot; also
# run against the sanitizer build by asan_cli.sh.
. tests/shlib.sh
small_dataset "$TMP/data"
data=$TMP/data/images_background
tiny=(--device cpu --threads 1 --workers 1 --plain --backbone compact --widths 2,2,4,4,4
      --hidden 8 --input-shape 32 --steps-per-epoch 2 --val-steps 1 --batch-size 2 --val-ratio 0.5
      --save-period 1 --seed 3 --optimizer adam --dataset "$TMP/data" --epochs 3)
# Predictions of a checkpoint on a few pairs, to 6 decimals.
predictions() {
    for p in "img/a.png img/b.png" "img/a.png img/c.png" "img/b.png img/c.png"; do
        # shellcheck disable=SC2086
        "$SIAMESE" predict --device cpu --threads 1 --model "$1" $p 2>&1
    done
}
expect 0 -- "$SIAMESE" train "${tiny[@]}" --save-dir "$TMP/a"
predictions "$TMP/a/last_epoch_weights.h5" >"$TMP/a.pred"

# ---- train: an out-of-memory step saves the run, which resumes exactly ----------
# (A step of this model is about 50 operations: operation 280 falls in the
# second step of epoch 2, 320 in its validation pass. With the pipelined
# loop, step 1 is queued before step 0 is read: the checkpoint must hold
# step 0's loss and not step 1's.)
for at in "280 epoch 2, step 1 of 2" "320 epoch 2, step 2 of 2"; do
    n=${at%% *} where=${at#* } dir=$TMP/b$n
    SIAMESE_INJECT_OOM=$n expect 1 "out of memory (injected" "the run is saved at $where" \
        "lower --batch-size (2 now; try 1)" "continue with --resume $dir/last_epoch_weights.h5" \
        -- "$SIAMESE" train "${tiny[@]}" --save-dir "$dir"
    grep -q "^  saved $dir/last_epoch_weights.h5" "$TMP/out" || fail "$n: no checkpoint line"
    expect 0 -- "$SIAMESE" train --resume "$dir/last_epoch_weights.h5"
    grep -q "^resuming $dir/last_epoch_weights.h5 at $where" "$TMP/out" || fail "$n: no resume line"
    for f in epoch_loss.txt epoch_val_loss.txt; do
        cmp -s "$TMP"/a/loss_*/$f "$dir"/loss_*/$f ||
            fail "$n: $f differs from the uninterrupted run's: $(paste "$TMP"/a/loss_*/$f "$dir"/loss_*/$f)"
    done
    predictions "$dir/last_epoch_weights.h5" >"$TMP/b.pred"
    cmp -s "$TMP/a.pred" "$TMP/b.pred" ||
        fail "$n: the resumed run's weights differ: $(paste "$TMP/a.pred" "$TMP/b.pred")"
done
# Before the first step (the initial weights' upload): nothing to save yet.
SIAMESE_INJECT_OOM=2 expect 1 "out of memory (injected" -- "$SIAMESE" train "${tiny[@]}" --save-dir "$TMP/c"

# ---- the other commands: exit 1 with the message ------------------------------------
model=$TMP/tiny.h5
tiny_model "$model"
SIAMESE_INJECT_OOM=2 expect 1 "out of memory (injected" -- "$SIAMESE" init --widths 4,4,8,8,8 \
    --hidden 8 --input-shape 32 --out "$TMP/never.h5"
[ -e "$TMP/never.h5" ] && fail "init wrote a file after a failure"
for n in 3 30; do  # loading the weights; inside the network
    SIAMESE_INJECT_OOM=$n expect 1 "out of memory (injected: SIAMESE_INJECT_OOM=$n" -- \
        "$SIAMESE" predict --device cpu --model "$model" img/a.png img/b.png
done
# The line protocol: "error" for the pair that failed; the next pair fits again.
CASES=$((CASES + 1))
printf '%s\n' img/a.png img/b.png img/a.png img/c.png |
    SIAMESE_INJECT_OOM=30 "$SIAMESE" predict --device cpu --model "$model" >"$TMP/out" 2>"$TMP/err"
rc=$?
{ [ $rc = 1 ] && [ "$(sed -n 1p "$TMP/out")" = error ] && grep -qE '^0\.[0-9]{6}$' <(sed -n 2p "$TMP/out") &&
    grep -q "out of memory (injected" "$TMP/err"; } ||
    fail "line protocol: exit $rc, stdout $(cat "$TMP/out"), stderr $(cat "$TMP/err")"
for n in 30 80; do  # embedding the images; the head's pairs
    SIAMESE_INJECT_OOM=$n expect 1 "out of memory" -- "$SIAMESE" eval --device cpu --model "$model" \
        --ways 3 --episodes 5 "$data"
    SIAMESE_INJECT_OOM=$n expect 1 "out of memory" -- "$SIAMESE" rank --device cpu --model "$model" \
        img/a.png "$TMP/data"
done
finish
