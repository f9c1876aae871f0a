# Errors met before MPI starts, under Open MPI (tui/cli.h: cli_usage_error,
# cli_open_dist), more ranks than cores, without Omniglot:
#  1. A usage error (the command line alone decides it, so every rank meets
#     it alike) is said as one process says it, once, with its hint and its
#     exit status: an out-of-range value, an unknown option, a missing
#     value, a missing --dataset, in train, eval and index, an unknown
#     command; and train's --precision bf16 without a GPU (--device cpu, or
#     auto on this machine: each rank on it meets it alike).
#  2. The commands that run in one process refuse several (each would do
#     all of it; init's copies would race to replace one file), said once,
#     exit status 2, nothing written; under 1 rank they run.
#  3. A build without MPI started by mpirun: told once (every rank on the
#     machine meets it alike), exit status 1, nothing written.
#  4. What a rank may meet alone is said by the rank that meets it: a
#     --resume file missing from rank 1's folder (by rank 1 naming itself,
#     once the ranks are connected: a --resume file missing everywhere is
#     said once); on mpirun's several command lines, an error in rank 1's
#     alone.
#  5. --help (the command line alone decides it too) printed once, as one
#     process prints it, exit status 0: the program's and train's, eval's
#     and index's (the commands that run under mpirun).
. tests/shlib.sh
need_mpi
T=$TMP

# 1.
shared_failure 3 "train, --batch-size 0" 2 train --batch-size 0
shared_failure 3 "train, an unknown option" 2 train --batch-sise 4
shared_failure 3 "train, --dataset without a value" 2 train --epochs 1 --dataset
shared_failure 3 "train, --dataset empty" 2 train --dataset ""
shared_failure 3 "train, an operand" 2 train "$T/data"
shared_failure 2 "eval, --ways 1" 2 eval --ways 1 "$T/data"
shared_failure 2 "index without --out" 2 index "$T/data"
shared_failure 2 "an unknown command" 2 trian --epochs 1
# bf16 on the CPU: --device cpu (the command line decides) and auto on a
# machine without a GPU (every rank on it meets it alike).
shared_failure 2 "train, bf16 on --device cpu" 2 train --device cpu --precision bf16 --dataset "$T"
CUDA_VISIBLE_DEVICES= shared_failure 2 "train, bf16 without a GPU" 2 train --precision bf16 --dataset "$T"
# (Every one was said by each rank, the hint too.)
[ "$(grep -c "'siamese train --help' lists the options" "$T/train, --batch-size 0.3.err")" = 1 ] ||
    fail "train, --batch-size 0: the hint is not said once"

# 2. (mpirun's status is the first failing rank's.)
for cmd in predict rank bench "init --out $T/init.h5"; do
    name=${cmd%% *}
    mpi 2 ./siamese $cmd >"$T/$name.log" 2>&1
    status=$?
    [ $status = 2 ] || { cat "$T/$name.log"; fail "$name under mpirun -np 2: exit status $status, not 2"; }
    [ "$(grep -c "'$name' runs in one process, but an MPI launcher started 2" "$T/$name.log")" = 1 ] ||
        { cat "$T/$name.log"; fail "$name under mpirun -np 2: not told once"; }
done
[ -e "$T/init.h5" ] && fail "init under mpirun -np 2 wrote its file"
mpi 1 ./siamese init --out "$T/one.h5" >"$T/o.log" 2>&1 || { cat "$T/o.log"; fail "init under mpirun -np 1 failed"; }

# 3. (The copy cannot load its libsiamese_mpi.so.)
mkdir -p "$T/bin" && cp siamese "$T/bin/"
mpi 3 "$T/bin/siamese" train --dataset "$T/data" --epochs 1 --save-dir "$T/z" >"$T/z.log" 2>&1
status=$?
[ $status = 1 ] || { cat "$T/z.log"; fail "no MPI library: exit status $status, not 1"; }
[ "$(grep -c "built without MPI" "$T/z.log")" = 1 ] || { cat "$T/z.log"; fail "no MPI library: not told once"; }
[ -e "$T/z" ] && fail "no MPI library: files were written"

# 4. Each rank resumes from ck.h5 in a folder of its own: rank 0's is a
# checkpoint (so it goes on to start MPI, and the job ends when rank 1
# fails), rank 1's is missing, which rank 1 says.
small_dataset "$T/data"
./siamese train --dataset "$T/data" --backbone compact --widths 2,2,4,4,4 --hidden 8 --input-shape 32 --val-ratio 0.5 \
    --batch-size 2 --epochs 1 --steps-per-epoch 1 --val-steps 1 --threads 1 --workers 1 --save-dir "$T/c" \
    >"$T/c.log" 2>&1 || { cat "$T/c.log"; fail "the checkpoint to resume"; }
mkdir -p "$T/r0" "$T/r1"
cp "$T/c/last_epoch_weights.h5" "$T/r0/ck.h5"
bin=$PWD/siamese
(cd "$T/r1" && "$bin" train --resume ck.h5) 2>"$T/r.want"
missing=$(ours "$T/r.want" | sed 's/^siamese: //')
mpi 2 sh -c 'cd "$0/r$OMPI_COMM_WORLD_RANK" && exec "$1" train --resume ck.h5' "$T" "$bin" >"$T/r.log" 2>&1
status=$?
[ $status = 1 ] || { cat "$T/r.log"; fail "rank 1's --resume file missing: exit status $status, not 1"; }
# (Once the ranks are connected, as a failure of a rank's own after MPI
# starts: rank 1 says it, naming itself, and rank 0 which rank failed.)
grep -q "cannot open weights file" "$T/r.want" &&
    printf 'siamese: %s\n' "rank 1 failed (its message says why): every rank stopped" "rank 1: $missing" |
    cmp -s - <(ours "$T/r.log" | LC_ALL=C sort) ||
    { cat "$T/r.log"; fail "rank 1's --resume file missing: not said once by rank 1, naming it"; }
# The same file missing on every rank: said once, as one process says it
# (each rank said it before).
shared_failure 3 "train, --resume missing everywhere" 1 train --resume "$T/r1/ck.h5"
# Several command lines, rank 1's alone bad: rank 1 says it.
mpirun --oversubscribe --bind-to none -np 1 ./siamese train --dataset "$T/data" --epochs 1 --save-dir "$T/s" : \
    -np 1 ./siamese train --batch-size 0 >"$T/l.log" 2>&1
status=$?
[ $status = 2 ] || { cat "$T/l.log"; fail "rank 1's command line bad: exit status $status, not 2"; }
[ "$(grep -c -- "--batch-size: 0 is out of range" "$T/l.log")" = 1 ] ||
    { cat "$T/l.log"; fail "rank 1's command line bad: not said once"; }

# 5. (Each rank printed it, the text twice under 2 ranks.)
for cmd in "" train eval index; do
    ./siamese $cmd --help >"$T/help1.txt" 2>&1
    mpi 2 ./siamese $cmd --help >"$T/help2.txt" 2>"$T/help2.err"
    status=$?
    [ $status = 0 ] || { cat "$T/help2.err"; fail "siamese $cmd --help under mpirun -np 2: exit status $status"; }
    cmp -s "$T/help1.txt" "$T/help2.txt" ||
        fail "siamese $cmd --help under mpirun -np 2: not one process's text ($(wc -l <"$T/help2.txt") lines, not $(wc -l <"$T/help1.txt"))"
done
finish
