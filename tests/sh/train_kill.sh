#!/usr/bin/env bash
# Nothing lost in training: SIGKILL at random moments, many times, always
# leaves last_epoch_weights.h5 and best_epoch_weights.h5 loadable (and the
# last one resumable); SIGTERM finishes the step, saves, exits 143, and
# --resume continues; a stop before the first step writes nothing; a full disk (a file-size limit) or a read-only
# save folder stops with a clear error and the last good checkpoint
# intact. Our own images (copies of img/*.png), so it runs without Omniglot.
. tests/shlib.sh
small_dataset "$TMP/data"
L=$TMP/logs
tiny=(--device cpu --threads 1 --workers 1 --plain --backbone compact --widths 2,2,4,4,4
      --hidden 8 --input-shape 32 --steps-per-epoch 2 --val-steps 1 --batch-size 2 --val-ratio 0.5
      --save-period 1 --seed 3)
loads() {  # loads FILE: predict with it succeeds
    "$SIAMESE" predict --device cpu --threads 1 --model "$1" img/a.png img/b.png >/dev/null 2>"$TMP/load_err" ||
        fail "$1 does not load: $(cat "$TMP/load_err")"
}
expect 0 -- "$SIAMESE" train "${tiny[@]}" --dataset "$TMP/data" --save-dir "$L" --epochs 2
loads "$L/last_epoch_weights.h5"
loads "$L/best_epoch_weights.h5"

# ---- SIGKILL at random moments ------------------------------------------------
RANDOM=11
kills=0
for i in $(seq 1 12); do
    "$SIAMESE" train --resume "$L/last_epoch_weights.h5" --epochs 100000 >"$TMP/run.log" 2>&1 &
    pid=$!
    sleep "$((RANDOM % 2)).$(printf '%03d' $((RANDOM % 1000)))"
    if kill -KILL $pid 2>/dev/null; then
        kills=$((kills + 1))
    else
        fail "the resumed run $i ended on its own: $(tail -3 "$TMP/run.log")"
    fi
    wait $pid 2>/dev/null
    CASES=$((CASES + 1))
    loads "$L/last_epoch_weights.h5"
    loads "$L/best_epoch_weights.h5"
done
epoch=$(grep -o '^Epoch [0-9]*' "$TMP/run.log" | tail -1)
echo "ok: $kills runs killed at random moments (the last one at '${epoch:-its start}'); both checkpoints always loaded and resumed"
rm -f "$L"/*.tmp*

# ---- SIGTERM: finish the step, save, exit 143, resume ---------------------------
T2=$TMP/term
"$SIAMESE" train "${tiny[@]}" --dataset "$TMP/data" --save-dir "$T2" --epochs 400 >"$TMP/term.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q '^Epoch 1/400' "$TMP/term.log" && break; sleep 0.1; done
kill -TERM $pid
wait $pid
rc=$?
CASES=$((CASES + 1))
[ $rc -eq 143 ] || fail "SIGTERM gave exit status $rc, not 143: $(tail -3 "$TMP/term.log")"
grep -q "^stopped at epoch" "$TMP/term.log" || fail "no stop message after SIGTERM"
# The tiny epochs take milliseconds, so under load the signal can land some
# epochs after the poll saw the first: the resumed run goes two past the
# one that stopped.
stopped=$(sed -n 's/^stopped at epoch \([0-9]*\),.*/\1/p' "$TMP/term.log")
more=$((${stopped:-1} + 2))
expect 0 -- "$SIAMESE" train --resume "$T2/last_epoch_weights.h5" --epochs $more
grep -q "^finished $more epochs" "$TMP/out" || fail "the run resumed after SIGTERM did not finish"

# ---- Ctrl-C before the first step: nothing written ---------------------------------
# A new run started in the folder of an earlier one and stopped at once
# must leave that run's checkpoint alone. The stop lands for sure before
# the first step: the dataset holds a FIFO that the scan blocks on (this
# shell holds its other end) until the signal has come.
cp -r "$TMP/data" "$TMP/fifodata"
mkfifo "$TMP/fifodata/images_background/class1/fifo.png"
exec 3<>"$TMP/fifodata/images_background/class1/fifo.png"
cp "$L/last_epoch_weights.h5" "$TMP/last_before.h5"
n_logs=$(ls -d "$L"/loss_* | wc -l)
"$SIAMESE" train "${tiny[@]}" --dataset "$TMP/fifodata" --save-dir "$L" --epochs 3 >"$TMP/early.log" 2>&1 3>&- &
pid=$!
# (Open for reading: the scan has reached it.)
for _ in $(seq 600); do ls -l /proc/$pid/fd 2>/dev/null | grep -q '^lr-x.*fifo\.png' && break; sleep 0.1; done
kill -INT $pid
exec 3>&-
wait $pid
rc=$?
CASES=$((CASES + 1))
[ $rc -eq 130 ] || fail "Ctrl-C before the first step gave exit status $rc, not 130: $(tail -3 "$TMP/early.log")"
grep -q "^stopped before the first step; nothing written$" "$TMP/early.log" ||
    fail "no 'nothing written' after a stop before the first step: $(tail -3 "$TMP/early.log")"
if ! cmp -s "$L/last_epoch_weights.h5" "$TMP/last_before.h5"; then
    fail "a run stopped before its first step replaced the earlier run's checkpoint"
    cp "$TMP/last_before.h5" "$L/last_epoch_weights.h5"  # (the cases below resume it)
fi
rm "$TMP/fifodata/images_background/class1/fifo.png"
[ "$(ls -d "$L"/loss_* | wc -l)" -eq "$n_logs" ] || fail "a run stopped before its first step left a loss folder"

# ---- a full disk while saving: a clear error, the last checkpoint intact ---------
cp "$L/last_epoch_weights.h5" "$TMP/last_before.h5"
# The limit sits below the smallest file an epoch writes: the loss curve
# (written before the checkpoint) outgrows a tiny model's checkpoint after
# enough epochs, and then it is the file that fails.
kb=$(stat -c %s "$L/last_epoch_weights.h5" "$L"/loss_*/epoch_loss.png | sort -n | head -1)
kb=$((kb / 1024 - 1))
expect 1 "writing failed: File too large" "the previous file is unchanged" -- \
    bash -c 'ulimit -f "$1" && exec "$2" train --resume "$3" --epochs 100000' _ "$kb" "$SIAMESE" "$L/last_epoch_weights.h5"
cmp -s "$L/last_epoch_weights.h5" "$TMP/last_before.h5" || fail "the last checkpoint changed after a failed save"
loads "$L/last_epoch_weights.h5"
ls "$L"/*.tmp* >/dev/null 2>&1 && fail "a failed save left a temporary file"

# ---- a read-only save folder: refused at once ------------------------------------
mkdir "$TMP/ro" && chmod 555 "$TMP/ro"
chmod 755 "$TMP" && chmod -R a+rX "$TMP/data"
as=()
[ "$(id -u)" = 0 ] && as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if "${as[@]}" test -x "$SIAMESE" 2>/dev/null; then
    expect 1 "$TMP/ro" "Permission denied" -- \
        "${as[@]}" "$SIAMESE" train "${tiny[@]}" --dataset "$TMP/data" --save-dir "$TMP/ro" --epochs 1
else
    echo "note: the read-only case needs a user who can run $SIAMESE; not run"
fi
finish
