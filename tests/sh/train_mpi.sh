# Data-parallel training (engine/dist.h) on the CPU with Open MPI, one
# thread a rank, more ranks than cores (--oversubscribe):
#  1. 1 process, and 2 and 3 ranks, train the same 50 steps (10 epochs of 5,
#     fine-tuning the shipped model's convolutions at 32 px with a new head):
#     the train and validation loss curves agree to a relative 1e-5, the
#     final weights to 1e-5; the validation loss fell (the curves mean
#     something); rank 0 alone prints, its table showing every rank's
#     device (ranks in a row on the same device as one row, "device (ranks
#     0-2)"). 1 rank under mpirun is bit for bit the single process.
#  2. A run stopped by 2 ranks and resumed by 3 is the same run.
#  3. SIGTERM to one rank (not rank 0): every rank stops at the same step,
#     one checkpoint, exit 143, and the run resumes. SIGTERM to mpirun (as
#     Ctrl-C: Open MPI sends every rank SIGTERM odls_base_sigkill_timeout
#     seconds later, then SIGKILL as many seconds after): one stop, one
#     checkpoint.
#  4. A rank killed: the job ends, naming it. A rank that hangs: rank 0 names
#     it after SIAMESE_DIST_TIMEOUT and the job ends.
#  5. Errors: ranks that disagree about the data, and fewer pairs than
#     ranks, each told once, with a status (mpi_errors.sh: the errors met
#     before MPI starts). Ranks on devices that differ get a row each in
#     the table.
. tests/shlib.sh
data=$OMNIGLOT
need_omniglot "$data/images_background"
need_mpi
T=$TMP

# Three alphabets are enough (a quicker scan).
mkdir -p "$T/data/images_background"
for a in Latin Greek Korean; do ln -s "$(cd "$data/images_background/$a" && pwd)" "$T/data/images_background/$a"; done

# The shipped model's convolutions, a new head (its Dense layers do not fit
# 32 px), SGD at a rate where float rounding does not grow over the 50
# steps: the runs differ by 1e-7. (A ReLU or max-pool decision that the
# rounding flips can make that grow tenfold every few steps, more likely
# the larger the batch and the rate: at 16 pairs a step and twice the
# rate some seeds reach 1e-4, as two thread counts of one process do.
# Another shipped model may need another setting: this comparison says so.)
args=(--dataset "$T/data" --backbone compact --input-shape 32 --invert --hidden 32
      --model-path model_data/siamese_omniglot.h5 --optimizer sgd --lr 0.08 --lr-decay step
      --batch-size 4 --steps-per-epoch 5 --val-steps 1 --epochs 10 --save-period 10
      --augment standard --same-alphabet-negatives 0.5 --seed 7 --threads 1 --workers 1)

# curves_agree A B: both loss files, line by line, to a relative 1e-5
curves_agree() {
    paste "$1" "$2" | awk '{d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > m) m = d}
        END {printf "max relative difference %.2e over %d epochs\n", m, NR; exit !(NR == 10 && m <= 1e-5)}'
}
# same_run DIR_A DIR_B WHAT: loss curves and final weights agree
same_run() {
    local f
    for f in epoch_loss.txt epoch_val_loss.txt; do
        curves_agree "$1"/loss_*/$f "$2"/loss_*/$f || { paste "$1"/loss_*/$f "$2"/loss_*/$f; fail "$3: $f differs"; }
    done
    h5diff -d 1e-5 --exclude-path /siamese_state "$1"/ep010-*.h5 "$2"/ep010-*.h5 >"$T/h5diff.txt" ||
        { head -20 "$T/h5diff.txt"; fail "$3: final weights differ by more than 1e-5"; }
}

./siamese train "${args[@]}" --save-dir "$T/one" >"$T/one.log" 2>&1 || { cat "$T/one.log"; fail "1 process"; }
awk 'NR == 1 {f = $1} END {exit !(f - $1 > 1e-3)}' "$T"/one/loss_*/epoch_val_loss.txt ||
    fail "the validation loss did not fall: the comparison would mean little"
for n in 2 3; do
    mpi $n ./siamese train "${args[@]}" --save-dir "$T/n$n" >"$T/n$n.log" 2>&1 || { cat "$T/n$n.log"; fail "$n ranks"; }
    same_run "$T/one" "$T/n$n" "1 process vs $n ranks"
    grep -q "$n ranks; gradients summed by MPI" "$T/n$n.log" || fail "$n ranks: no line saying how gradients are summed"
    grep -q "|  *ranks | $n (data-parallel" "$T/n$n.log" || fail "$n ranks: not in the configuration table"
    # Every rank's device, ranks on the same one in a row (rank 0's alone before).
    grep -q "|  *device (ranks 0-$((n - 1))) |  *cpu, 1 thread|$" "$T/n$n.log" && ! grep -q "|  *device | " "$T/n$n.log" ||
        { grep device "$T/n$n.log"; fail "$n ranks: the table does not name every rank's device"; }
    [ "$(grep -c '^Configurations:' "$T/n$n.log")" = 1 ] && [ "$(grep -c '^Epoch 10/10' "$T/n$n.log")" = 1 ] ||
        fail "$n ranks: rank 0 alone must print"
done
# One rank under mpirun is the single process, bit for bit.
mpi 1 ./siamese train "${args[@]}" --stop-after-steps 10 --save-dir "$T/n1" >"$T/n1.log" 2>&1 || { cat "$T/n1.log"; fail "1 rank"; }
cmp <(head -2 "$T"/one/loss_*/epoch_loss.txt) "$T"/n1/loss_*/epoch_loss.txt || fail "1 rank differs from 1 process"

# 2. Stopped by 2 ranks in epoch 5, resumed by 3: the run of one process.
mpi 2 ./siamese train "${args[@]}" --save-dir "$T/r" --stop-after-steps 23 >"$T/r1.log" 2>&1 || { cat "$T/r1.log"; fail "2 ranks, first part"; }
grep -q "stopped at epoch 5, step 3 of 5" "$T/r1.log" || { cat "$T/r1.log"; fail "2 ranks did not stop mid-epoch"; }
mpi 3 ./siamese train --resume "$T/r/last_epoch_weights.h5" >"$T/r2.log" 2>&1 || { cat "$T/r2.log"; fail "3 ranks, resumed"; }
grep -q "resuming .* at epoch 5, step 3 of 5" "$T/r2.log" || fail "no resume line"
same_run "$T/one" "$T/r" "1 process vs 2 ranks resumed by 3"

# 3.-5. on a tiny model.
tiny=(--dataset "$T/data" --backbone compact --widths 4,4,8,8,8 --hidden 16 --input-shape 32
      --batch-size 4 --steps-per-epoch 3 --val-steps 2 --threads 1 --workers 1 --seed 3)
# start_job NAME NP [env...]: a long run in the background ($job), once it runs epoch 2
start_job() {
    local name=$1 np=$2
    shift 2
    env "$@" mpirun --oversubscribe --bind-to none -np "$np" ./siamese train "${tiny[@]}" --epochs 400 \
        --save-dir "$T/$name" >"$T/$name.log" 2>&1 &
    job=$!
    for _ in $(seq 600); do grep -qs '^Epoch 2/400' "$T/$name.log" && return 0; sleep 0.1; done
    fail "$name: the job did not start"
}
# end_job SECONDS: its exit status, waiting at most SECONDS ($took: how long)
end_job() {
    local t0=$SECONDS
    for _ in $(seq $(($1 * 10))); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
    if kill -0 $job 2>/dev/null; then
        fail "the job did not end within $1 s"
        kill -KILL $job
    fi
    wait $job
    status=$?
    took=$((SECONDS - t0))
}

start_job stop 3
kill -TERM "$(rank_pid train 1)"
end_job 60
[ $status = 143 ] || { tail -20 "$T/stop.log"; fail "SIGTERM to rank 1: mpirun exited $status, not 143"; }
[ "$(grep -c '^stopped at epoch' "$T/stop.log")" = 1 ] || { cat "$T/stop.log"; fail "not one stop message"; }
[ "$(grep -c 'saved .*last_epoch_weights.h5' "$T/stop.log")" -ge 1 ] || fail "no checkpoint"
# (Resumed on 2 ranks for one epoch more than it reached.)
e=$(($(sed -n 's/^stopped at epoch \([0-9]*\),.*/\1/p' "$T/stop.log") + 1))
mpi 2 ./siamese train --resume "$T/stop/last_epoch_weights.h5" --epochs $e >"$T/stop2.log" 2>&1 ||
    { cat "$T/stop2.log"; fail "resume after SIGTERM"; }
grep -q "^finished $e epochs" "$T/stop2.log" || fail "the resumed run did not finish"

start_job term 2 OMPI_MCA_odls_base_sigkill_timeout=5
kill -TERM $job
end_job 60
[ $status != 0 ] || fail "SIGTERM to mpirun: exit status 0"
[ "$(grep -c '^stopped at epoch' "$T/term.log")" = 1 ] || { cat "$T/term.log"; fail "SIGTERM to mpirun: not one stop message"; }

start_job kill 3
kill -KILL "$(rank_pid train 2)"
end_job 60
[ $status != 0 ] || fail "a killed rank: exit status 0"
grep -q "process rank 2 .*exited on signal 9" "$T/kill.log" || { tail -20 "$T/kill.log"; fail "the killed rank is not named"; }

start_job hang 3 SIAMESE_DIST_TIMEOUT=3
kill -STOP "$(rank_pid train 2)"
end_job 60
[ $status != 0 ] || fail "a hung rank: exit status 0"
# Rank 0 names it, and it alone, whether it stopped before the step's
# exchange or in the gradient sum: rank 1, still waiting in the sum with
# it, answers rank 0's ping (it was named too, at times, under load).
grep -q "rank 2 does not answer" "$T/hang.log" ||
    { tail -20 "$T/hang.log"; fail "the hung rank is not named (alone)"; }
echo "a hung rank ended the job in $took s"

# Ranks that do not see the same dataset: rank 0 says so, once.
mkdir -p "$T/other/images_background"
for a in Latin Greek Bengali; do ln -s "$(cd "$data/images_background/$a" && pwd)" "$T/other/images_background/$a"; done
mpirun --oversubscribe -np 1 ./siamese train "${tiny[@]}" --epochs 1 --save-dir "$T/x" : \
    -np 1 ./siamese train "${tiny[@]}" --epochs 1 --save-dir "$T/x" --dataset "$T/other" >"$T/x.log" 2>&1 &&
    fail "ranks with different data: exit status 0"
[ "$(grep -c 'rank 1 differs from rank 0 in the dataset' "$T/x.log")" = 1 ] || { cat "$T/x.log"; fail "different data: not told once"; }
# Ranks on devices that differ (other thread counts here, through
# mpirun's several command lines: GPUs in the wild): a row each in the
# table, naming its rank, in rank order (only rank 0's before). (Their
# options differ too: --threads rounds sums otherwise, so the job stops.)
mpirun --oversubscribe --bind-to none -np 1 ./siamese train "${tiny[@]}" --epochs 1 --save-dir "$T/w" : \
    -np 1 ./siamese train "${tiny[@]}" --epochs 1 --save-dir "$T/w" --threads 2 >"$T/w.log" 2>&1 &&
    fail "ranks with other thread counts: exit status 0"
printf '|%25s | %40s|\n' "device (rank 0)" "cpu, 1 thread" "device (rank 1)" "cpu, 2 threads" |
    cmp -s - <(grep "^| *device" "$T/w.log") || { cat "$T/w.log"; fail "ranks on other devices: not a row each, in rank order"; }
[ "$(grep -c 'rank 1 differs from rank 0 in the options' "$T/w.log")" = 1 ] || { cat "$T/w.log"; fail "other thread counts: not told once"; }
# More ranks than pairs: told once.
mpi 3 ./siamese train "${tiny[@]}" --batch-size 1 --epochs 1 --save-dir "$T/y" >"$T/y.log" 2>&1 && fail "3 ranks, 2 pairs: exit 0"
[ "$(grep -c 'fewer than the 3 ranks' "$T/y.log")" = 1 ] || { cat "$T/y.log"; fail "3 ranks, 2 pairs: not told once"; }
finish
