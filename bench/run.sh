#!/usr/bin/env bash
# make bench: our CPU engine against PyTorch on the CPU, same model, same
# weights, same batch, same thread count (all cores), on this machine in
# one run. Prints the side-by-side table and writes bench/RESULTS.md.
#
#   BENCH_ROUNDS=3   rounds; each figure is the median over rounds (each
#                    round's figure is itself a median over repeated runs)
#   BENCH_QUICK=1    fewer repetitions (a smoke run, not a measurement)
#   BENCH_ARCHS="vgg16 compact"   the backbones to time
#
# Every configuration runs in its own process so that peak resident
# memory (getrusage) is that configuration's alone. Rounds interleave ours
# and PyTorch's runs so that load from other programs hits both alike.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${BENCH_ROUNDS:-3}
ARCHS=${BENCH_ARCHS:-vgg16 compact}
THREADS=$(nproc)
OUT=bench/out
VENV=bench/venv
mkdir -p "$OUT"

# The peer: PyTorch from PyPI in a virtual environment of our own. (PyPI's
# Linux wheel brings CUDA libraries it does not use here; pip caches them.)
if ! "$VENV/bin/python" -c 'import torch, numpy, h5py' 2>/dev/null; then
    echo "== creating $VENV (torch, numpy, h5py from PyPI; the first time takes a while)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet torch numpy h5py
fi
PY="$VENV/bin/python"

make --no-print-directory siamese >/dev/null
for arch in vgg16 compact; do
    [ -f "$OUT/$arch.h5" ] || ./siamese init --backbone "$arch" --seed 1 --out "$OUT/$arch.h5"
done

# The line protocol's input: 40 pairs of the repository's sample images.
PAIRS="$OUT/pairs.txt"
for i in $(seq 20); do printf '%s\n' img/a.png img/b.png img/c.png img/d.jpg; done >"$PAIRS"

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    REP_LAT=5 REP_BATCH=2 REP_TRAIN=1 ROUNDS=1
else
    REP_LAT=20 REP_BATCH=3 REP_TRAIN=2
fi
reps() { case $1 in latency) echo $REP_LAT ;; batch) echo $REP_BATCH ;; train) echo $REP_TRAIN ;; esac; }

RAW="$OUT/raw.txt"
: >"$RAW"
log() {  # tag, command... : runs it, appends "tag line" to the raw file
    local tag=$1 line
    shift
    line=$("$@" | tail -1)
    echo "$tag $line" | tee -a "$RAW"
}

echo "== machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $THREADS threads, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "round=0 load=$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW"
log sgemm ./siamese bench --mode sgemm --threads "$THREADS" --repeat 5
log sgemm "$PY" bench/torch_peer.py --mode sgemm --threads "$THREADS" --repeat 5
./siamese bench --weights "$OUT/vgg16.h5" --mode layers --batch 32 --repeat 3 \
    --threads "$THREADS" | sed 's/^/layers /' | tee -a "$RAW"

# PyTorch's faster tensor layout (channels-last or contiguous), chosen in
# round 1 for latency and batch inference; training uses the batch winner.
declare -A LAYOUT
for r in $(seq 1 "$ROUNDS"); do
    echo "== round $r of $ROUNDS (load $(cut -d' ' -f1 /proc/loadavg))"
    echo "round=$r load=$(cut -d' ' -f1 /proc/loadavg)" >>"$RAW"
    for arch in $ARCHS; do
        for mode in latency batch train; do
            key="$arch-$mode"
            # Training (the slowest to time) takes the layout that won at inference.
            [ "$mode" = train ] && [ -n "${LAYOUT[$arch-batch]:-}" ] && LAYOUT[$key]=${LAYOUT[$arch-batch]}
            log "ours $key" ./siamese bench --weights "$OUT/$arch.h5" --mode "$mode" --batch 32 \
                --repeat "$(reps "$mode")" --threads "$THREADS"
            if [ -z "${LAYOUT[$key]:-}" ]; then
                best="" best_ms=""
                for layout in nhwc nchw; do
                    line=$("$PY" bench/torch_peer.py --weights "$OUT/$arch.h5" --mode "$mode" \
                        --batch 32 --repeat "$(reps "$mode")" --threads "$THREADS" --layout "$layout" | tail -1)
                    echo "torch $key $line" | tee -a "$RAW"
                    ms=$(sed 's/.*median_ms=\([0-9.]*\).*/\1/' <<<"$line")
                    if [ -z "$best" ] || awk "BEGIN{exit !($ms < $best_ms)}"; then best=$layout best_ms=$ms; fi
                done
                LAYOUT[$key]=$best
            else
                log "torch $key" "$PY" bench/torch_peer.py --weights "$OUT/$arch.h5" --mode "$mode" \
                    --batch 32 --repeat "$(reps "$mode")" --threads "$THREADS" --layout "${LAYOUT[$key]}"
            fi
        done
        # The line protocol, a pair at a time as a pipe feeds it: our default
        # thread count, ours on one thread, and PyTorch serving the same loop
        # (Pillow decoding, its latency layout) on every core.
        log "ours $arch-lines" "$PY" bench/line_rate.py "$PAIRS" -- ./siamese --model "$OUT/$arch.h5"
        log "ours1 $arch-lines" "$PY" bench/line_rate.py "$PAIRS" -- ./siamese --model "$OUT/$arch.h5" \
            --threads 1
        log "torch $arch-lines" "$PY" bench/line_rate.py "$PAIRS" -- "$PY" bench/torch_peer.py \
            --weights "$OUT/$arch.h5" --mode lines --threads "$THREADS" \
            --layout "${LAYOUT[$arch-latency]:-nhwc}"
    done
done

"$PY" bench/report.py "$RAW" bench/RESULTS.md
