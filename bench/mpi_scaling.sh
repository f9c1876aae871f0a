#!/usr/bin/env bash
# bench/mpi_scaling.sh: data-parallel training on this machine's cores, one
# process with all of them (threads) against one rank per core (mpirun,
# one thread each), the same training otherwise: the model, batch, seed
# and steps. Prints, per model, the median over REPS runs of the training
# pairs/s of the second epoch (the first warms up), and for the ranks the
# share of rank 0's step time spent summing gradients and waiting for the
# other ranks, with the load average before each run. For bench/NOTES.md.
#
#   MPI_BENCH_REPS=3          runs of each configuration (interleaved)
#   MPI_BENCH_MODELS="compact vgg16"
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${MPI_BENCH_REPS:-3}
MODELS=${MPI_BENCH_MODELS:-compact vgg16}
CORES=$(nproc)
DATA=${OMNIGLOT:-../shared/omniglot}
[ -x siamese ] && [ -f libsiamese_mpi.so ] || { echo "build first: make (with mpicc)"; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
# Five alphabets: a quick scan, enough images.
mkdir -p "$OUT/data/images_background"
for a in Latin Greek Korean Bengali Futurama; do
    ln -s "$(cd "$DATA/images_background/$a" && pwd)" "$OUT/data/images_background/$a"
done

# The training of each model: batch (samples, 2 pairs each) and steps an
# epoch, so that an epoch takes some 20 s at this machine's speed.
config() {
    case $1 in
    compact) echo "--backbone compact --batch-size 16 --steps-per-epoch 12" ;;
    vgg16) echo "--backbone vgg16 --batch-size 4 --steps-per-epoch 5" ;;
    esac
}

# run NAME MODEL CMD...: one training; prints "pairs/s sum% wait% load"
run() {
    local name=$1 model=$2 load
    shift 2
    load=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2046
    "$@" ./siamese train --dataset "$OUT/data" $(config "$model") --input-shape 105 --val-steps 1 \
        --epochs 2 --seed 1 --save-dir "$OUT/$name" --save-period 100 >"$OUT/$name.log" 2>&1 ||
        { cat "$OUT/$name.log" >&2; exit 1; }
    local pps sum wait
    pps=$(sed -n 's/^Epoch 2\/2 .*  \([0-9.]*\) pairs\/s$/\1/p' "$OUT/$name.log")
    sum=$(sed -n 's/.*s (\([0-9.]*\)%) summing gradients.*/\1/p' "$OUT/$name.log")
    wait=$(sed -n 's/.*s (\([0-9.]*\)%) waiting for the other ranks.*/\1/p' "$OUT/$name.log")
    echo "$pps ${sum:--} ${wait:--} $load"
}

median() { sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "| model | configuration | training pairs/s (median of $REPS) | runs | summing gradients | waiting for the other rank | load average before each run |"
echo "| --- | --- | ---: | --- | ---: | ---: | --- |"
for model in $MODELS; do
    : >"$OUT/one" && : >"$OUT/ranks"
    for i in $(seq "$REPS"); do
        run "one$i" "$model" env >>"$OUT/one"
        run "ranks$i" "$model" mpirun --oversubscribe --bind-to none -np "$CORES" \
            >>"$OUT/ranks"
    done
    for f in one ranks; do
        if [ $f = one ]; then what="1 process x $CORES threads"; else what="$CORES ranks x 1 thread"; fi
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$model" "$what" \
            "$(cut -d' ' -f1 "$OUT/$f" | median)" "$(cut -d' ' -f1 "$OUT/$f" | paste -sd' ')" \
            "$([ $f = one ] && echo - || echo "$(cut -d' ' -f2 "$OUT/$f" | median)%")" \
            "$([ $f = one ] && echo - || echo "$(cut -d' ' -f3 "$OUT/$f" | median)%")" \
            "$(cut -d' ' -f4 "$OUT/$f" | paste -sd' ')"
    done
done
