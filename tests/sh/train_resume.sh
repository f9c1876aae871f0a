# An interrupted run resumes exactly: run A trains 4 epochs; run B stops in
# the middle of epoch 2 (--stop-after-steps), then --resume finishes it.
# Their loss sequences (17 significant digits) and final weights must be
# equal. Then SIGINT: a clean stop with a checkpoint, exit 130, and a resume.
# The thread count is restored with the rest (run A uses 1 thread, the
# machine has more). A tiny model on Omniglot keeps it fast.
. tests/shlib.sh
data=$OMNIGLOT
need_omniglot "$data/images_background"
T=$TMP

args=(--dataset "$data" --backbone compact --widths 4,4,8,8,8 --hidden 16 --input-shape 32
      --batch-size 4 --steps-per-epoch 3 --val-steps 2 --epochs 4 --optimizer adam --lr 4e-2
      --weight-decay 0 --seed 18446744073709551557 --save-period 2 --threads 1 --workers 2
      --same-alphabet-negatives 0.5 --augment standard --invert)
./siamese train "${args[@]}" --save-dir "$T/a" >"$T/a.log" 2>&1 || { cat "$T/a.log"; fail "run A"; }
./siamese train "${args[@]}" --save-dir "$T/b" --stop-after-steps 5 >"$T/b1.log" 2>&1 ||
    { cat "$T/b1.log"; fail "run B, first part"; }
grep -q "stopped at epoch 2, step 2 of 3" "$T/b1.log" || { cat "$T/b1.log"; fail "B did not stop mid-epoch"; }
./siamese train --resume "$T/b/last_epoch_weights.h5" >"$T/b2.log" 2>&1 ||
    { cat "$T/b2.log"; fail "run B, resumed"; }
grep -q "resuming .* at epoch 2, step 2 of 3" "$T/b2.log" || fail "no resume line"
grep -q "^note:" "$T/b2.log" && fail "a plain resume must not change settings"

for f in epoch_loss.txt epoch_val_loss.txt; do
    [ "$(wc -l <"$T"/a/loss_*/$f)" -eq 4 ] || fail "$f of A has not 4 lines"
    cmp "$T"/a/loss_*/$f "$T"/b/loss_*/$f || { paste "$T"/a/loss_*/$f "$T"/b/loss_*/$f; fail "$f differs"; }
done
# The losses moved: the model learned something, so equality means something.
[ "$(sort -u "$T"/a/loss_*/epoch_loss.txt | wc -l)" -eq 4 ] || fail "losses do not change"
# Same epoch lines, times and speeds aside.
strip() { grep '^Epoch' "$1" | sed 's/  [0-9hms]*  [0-9.]* pairs\/s$//'; }
diff <(strip "$T/a.log") <(cat <(strip "$T/b1.log") <(strip "$T/b2.log")) || fail "epoch lines differ"
# Same final weights: the same predictions to 6 decimals on a few pairs.
imgs=("$data"/images_background/Latin/character01/*.png)
for m in a b; do
    ./siamese predict --model "$T/$m/last_epoch_weights.h5" --device cpu "${imgs[0]}" "${imgs[1]}"
    ./siamese predict --model "$T/$m/ep004-"*.h5 --device cpu "${imgs[2]}" "${imgs[3]}"
done >"$T/pred.txt" 2>/dev/null
[ "$(sed -n 1,2p "$T/pred.txt")" = "$(sed -n 3,4p "$T/pred.txt")" ] || { cat "$T/pred.txt"; fail "final weights differ"; }

# SIGINT: a clean stop at a step boundary, a checkpoint, exit 130.
./siamese train "${args[@]}" --epochs 400 --save-dir "$T/c" >"$T/c.log" 2>&1 &
pid=$!
for _ in $(seq 600); do grep -q '^Epoch 1/400' "$T/c.log" && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
[ $rc -eq 130 ] || { cat "$T/c.log"; fail "SIGINT gave exit $rc, not 130"; }
grep -q "^stopped at epoch" "$T/c.log" || fail "no stop message"
./siamese train --resume "$T/c/last_epoch_weights.h5" --epochs 3 --threads 2 >"$T/c2.log" 2>&1 ||
    { cat "$T/c2.log"; fail "resume after SIGINT"; }
grep -q "^note: epochs is 3 here but 400 in the checkpoint" "$T/c2.log" || { cat "$T/c2.log"; fail "changed setting not noted"; }
# The thread count is kept too (it changes the rounding of the CPU's reductions).
grep -q "^note: threads is 2 here but 1 in the checkpoint" "$T/c2.log" || { cat "$T/c2.log"; fail "changed thread count not noted"; }
grep -q "^finished 3 epochs" "$T/c2.log" || fail "resumed run did not finish"
# Another optimizer starts its state fresh: adam's moments are not sgd's
# velocity (both are a vector of the weights' size: loading them would pass).
./siamese train --resume "$T/c/last_epoch_weights.h5" --epochs 4 --optimizer sgd --stop-after-steps 1 \
    >"$T/c3.log" 2>&1 || { cat "$T/c3.log"; fail "resume with another optimizer"; }
grep -q "^note: the checkpoint's adam state does not carry over to sgd$" "$T/c3.log" ||
    { cat "$T/c3.log"; fail "another optimizer: its state was not started fresh"; }
# --time-limit MIN: a clean stop at a step boundary with a checkpoint, exit
# 0, in a run that would otherwise take hours. MIN is minutes: 0.1 is 6 s,
# ample for the first steps (as seconds, it would end before the first).
timeout 120 ./siamese train "${args[@]}" --epochs 400 --steps-per-epoch 100000 --time-limit 0.1 \
    --save-dir "$T/t" >"$T/t.log" 2>&1
rc=$?
[ $rc -eq 0 ] || { tail -5 "$T/t.log"; fail "--time-limit 0.1 gave exit $rc, not 0 (124: it did not stop)"; }
grep -q "^stopped at epoch 1, step [1-9][0-9]* of 100000; continue with --resume $T/t/last_epoch_weights.h5" "$T/t.log" &&
    [ -f "$T/t/last_epoch_weights.h5" ] || { tail -5 "$T/t.log"; fail "--time-limit: no stop with a checkpoint"; }
# A file without a training state is refused with advice (a file that is
# wrong: a runtime failure, exit 1, as any --resume file that cannot be used).
expect_status 1 ./siamese train --resume "$T/a/best_epoch_weights.h5"
expect_stderr "use --model-path"
finish
