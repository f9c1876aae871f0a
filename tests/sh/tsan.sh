#!/usr/bin/env bash
# Training under ThreadSanitizer (build-tsan/siamese, made by `make test`;
# tests/run.sh sets the options): any report fails. It covers what runs
# beside the training loop: its loader threads, OpenMP's parallel loops (2
# threads, through LLVM's Archer), a signal handler that stops the loop
# (SIGINT in plain mode), and the dashboard's thread driving the loop
# (pause and stop in the scripted dashboard, the real training in
# tests/expect/train_dashboard.exp).
A=build-tsan/siamese
if [ ! -x "$A" ]; then
    echo "SKIP: $A is not built (make tsan)"
    exit 77
fi
tests/tsan_run.sh true || exit 77
SIAMESE=$A
. tests/shlib.sh
small_dataset "$TMP/data"
args=(--device cpu --threads 2 --workers 2 --plain --backbone compact --widths 8,8,16,16,16
      --hidden 16 --input-shape 64 --steps-per-epoch 3 --val-steps 2 --batch-size 4
      --val-ratio 0.5 --save-period 1 --seed 3 --dataset "$TMP/data")
expect 0 -- "$A" train "${args[@]}" --epochs 2 --save-dir "$TMP/a"

# SIGINT: the handler asks the loop to stop; a checkpoint, exit 130, a resume.
CASES=$((CASES + 1))
"$A" train "${args[@]}" --epochs 400 --save-dir "$TMP/b" >"$TMP/b.log" 2>&1 &
pid=$!
for _ in $(seq 1200); do grep -q '^Epoch 1/400' "$TMP/b.log" && break; sleep 0.1; done
kill -INT $pid
wait $pid
rc=$?
{ [ $rc = 130 ] && grep -q "^stopped at epoch" "$TMP/b.log"; } ||
    fail "SIGINT: exit $rc: $(grep -A20 -m1 'WARNING\|ERROR' "$TMP/b.log" || tail -5 "$TMP/b.log")"
expect 0 -- "$A" train --resume "$TMP/b/last_epoch_weights.h5" --epochs 3

# The dashboard's thread and the loop's.
for t in dashboard train_dashboard; do
    CASES=$((CASES + 1))
    SIAMESE=$A TEST_DASHBOARD=build-tsan/tests/test_dashboard command expect "tests/expect/$t.exp" \
        >"$TMP/log" 2>&1
    rc=$?
    case $rc in
    0) echo "ok: $t.exp under ThreadSanitizer" ;;
    77) skip_part "$t.exp: $(cat "$TMP/log")" ;;
    *) fail "$t.exp under ThreadSanitizer: $(cat "$TMP/log")" ;;
    esac
done
finish
