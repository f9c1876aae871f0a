#!/usr/bin/env bash
# Writes one-shot runs in the official Omniglot runs format from an
# evaluation folder (<alphabet>/<character>/<id>_<drawer>.png):
#   OUT/runNN/training/classNN.png   one drawing per candidate (drawer A)
#   OUT/runNN/test/itemNN.png        the drawings to classify (drawer B)
#   OUT/runNN/class_labels.txt       "runNN/test/itemXX.png runNN/training/classYY.png"
# Run r uses the r-th alphabet (cycling), its first 20 characters, and two
# drawers that change from run to run; items are in a shuffled order.
# The images are copied (into OUT, a scratch folder: never the repository).
# usage: tests/make_runs.sh EVAL_DIR OUT [RUNS (default 20)] [WAYS (default 20)]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 EVAL_DIR OUT [RUNS (default 20)] [WAYS (default 20)]" >&2; exit 2; }
src=$1 out=$2 runs=${3:-20} ways=${4:-20}
mapfile -t alphabets < <(cd "$src" && ls -d */ | sed 's:/$::' | sort)
[ ${#alphabets[@]} -gt 0 ] || { echo "make_runs: no alphabets in $src" >&2; exit 1; }
mkdir -p "$out"
for ((r = 1; r <= runs; r++)); do
    run=$(printf 'run%02d' "$r")
    alpha=${alphabets[$(((r - 1) % ${#alphabets[@]}))]}
    mapfile -t chars < <(cd "$src/$alpha" && ls -d */ | sed 's:/$::' | sort | head -n "$ways")
    [ ${#chars[@]} -eq "$ways" ] || { echo "make_runs: $alpha has fewer than $ways characters" >&2; exit 1; }
    da=$(printf '%02d' $(((r - 1) % 20 + 1)))
    db=$(printf '%02d' $(((r + 6) % 20 + 1)))
    mkdir -p "$out/$run/training" "$out/$run/test"
    : >"$out/$run/class_labels.txt"
    # Items visit the characters in a shuffled (but fixed) order.
    mapfile -t order < <(seq 1 "$ways" | awk -v s="$r" 'BEGIN{srand(s)} {print rand() "\t" $1}' | sort -n | cut -f2)
    for ((c = 1; c <= ways; c++)); do
        dir="$src/$alpha/${chars[$((c - 1))]}"
        cp "$(ls "$dir"/*_"$da".png | head -1)" "$out/$run/training/$(printf 'class%02d.png' "$c")"
    done
    for ((i = 1; i <= ways; i++)); do
        c=${order[$((i - 1))]}
        dir="$src/$alpha/${chars[$((c - 1))]}"
        cp "$(ls "$dir"/*_"$db".png | head -1)" "$out/$run/test/$(printf 'item%02d.png' "$i")"
        printf '%s/test/item%02d.png %s/training/class%02d.png\n' "$run" "$i" "$run" "$c" >>"$out/$run/class_labels.txt"
    done
done
