#!/usr/bin/env bash
# The gallery index, measured; writes bench/GALLERY.md (report.py appends it
# to bench/RESULTS.md):
#  1. agreement: rank's default two-stage search against --exact on
#     images_evaluation (13,180 images, the shipped model): on how many of
#     QUERIES queries the top 10 are the same, at the default shortlist and
#     at smaller ones;
#  2. a made-up 1,000,000-entry index for the compact model (index
#     --synthetic): its size; per query (median of ROUNDS runs, page cache
#     warm) the wall and CPU time and the peak resident memory of rank, by
#     default and with --exact; the machine's matrix-multiply rate measured
#     in each round, beside the exact search's rate. The machine is shared:
#     the load average is recorded at each run.
#
#   GALLERY_ROUNDS=5 GALLERY_QUERIES=300 GALLERY_ENTRIES=1000000 OMNIGLOT=../shared/omniglot
# Needs bench/venv (make bench makes it) for h5py, to read the indexes' attributes.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${GALLERY_ROUNDS:-5}
QUERIES=${GALLERY_QUERIES:-300}
ENTRIES=${GALLERY_ENTRIES:-1000000}
DATA=${OMNIGLOT:-../shared/omniglot}/images_evaluation
MODEL=model_data/siamese_omniglot.h5
OUT=bench/out
mkdir -p "$OUT"
make --no-print-directory siamese >/dev/null
common=(--model "$MODEL" --device cpu)
PY=bench/venv/bin/python
attr() { "$PY" -c 'import sys, h5py; print(int(h5py.File(sys.argv[1], "r").attrs[sys.argv[2]]))' "$1" "$2"; }
load() { cut -d' ' -f1 /proc/loadavg; }
median() { sort -g | awk '{v[NR] = $1} END {print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# ---- 1. agreement on images_evaluation -------------------------------------------------
EVAL=$OUT/images_evaluation.h5
echo "== indexing $DATA (only what changed since the last run)"
./siamese index "${common[@]}" "$DATA" --out "$EVAL"
n_eval=$(attr "$EVAL" count)
step=$((n_eval / QUERIES))
mapfile -t queries < <(find "$DATA" -name '*.png' | sort | awk -v s="$step" -v n="$QUERIES" \
    'NR % s == 1 && c < n {print; c++}')
SHORTLISTS="33 66 132"  # 0.25%, 0.5%, 1% of 13,180; the default is 256
declare -A agree
for k in default $SHORTLISTS; do agree[$k]=0; done
echo "== agreement: ${#queries[@]} queries, top 10, two stages against --exact"
for q in "${queries[@]}"; do
    exact=$(./siamese rank "${common[@]}" --exact "$q" "$EVAL" 2>/dev/null)
    for k in default $SHORTLISTS; do
        opt=()
        [ "$k" != default ] && opt=(--shortlist "$k")
        two=$(./siamese rank "${common[@]}" "${opt[@]}" "$q" "$EVAL" 2>/dev/null)
        [ "$two" = "$exact" ] && agree[$k]=$((agree[$k] + 1))
    done
done
for k in default $SHORTLISTS; do echo "shortlist $k: ${agree[$k]} of ${#queries[@]}"; done

# ---- 2. a million made-up entries ------------------------------------------------------
SYN=$OUT/synthetic_$ENTRIES.h5
q=img/a.png
if ! ./siamese rank "${common[@]}" --top 1 "$q" "$SYN" >/dev/null 2>&1; then
    echo "== writing $SYN ($ENTRIES made-up entries for $MODEL)"
    rm -f "$SYN"
    ./siamese index "${common[@]}" --synthetic "$ENTRIES" --out "$SYN"
fi
size=$(stat -c %s "$SYN")
feat_dim=$(attr "$SYN" feat_dim)
shortlist=$((ENTRIES / 100 > 256 ? ENTRIES / 100 : 256))
feat_bytes=$((ENTRIES * feat_dim * 4))
# One run of each first: the page cache then holds what a query reads.
./siamese rank "${common[@]}" "$q" "$SYN" >/dev/null
./siamese rank "${common[@]}" --exact "$q" "$SYN" >/dev/null
RAW=$OUT/gallery_raw.txt
: >"$RAW"
run() {  # tag, rank options...: one timed query
    local tag=$1 l
    shift
    l=$(load)
    /usr/bin/time -f "%e %U %S %M" -o "$OUT/time.txt" ./siamese rank "${common[@]}" "$@" "$q" "$SYN" >/dev/null
    echo "$tag $(cat "$OUT/time.txt") $l" | tee -a "$RAW"
}
for r in $(seq "$ROUNDS"); do
    echo "== round $r of $ROUNDS (load $(load))"
    echo "sgemm $(./siamese bench --mode sgemm --repeat 5 | sed 's/.*gflops=//') $(load)" | tee -a "$RAW"
    run default
    run exact --exact
done

# ---- the report ------------------------------------------------------------------------
col() { awk -v t="$1" -v c="$2" '$1 == t {print $c}' "$RAW" | median; }
sg=$(col sgemm 2)
d_wall=$(col default 2) d_cpu=$(awk '$1 == "default" {print $3 + $4}' "$RAW" | median)
d_rss=$(col default 5)
x_wall=$(col exact 2) x_cpu=$(awk '$1 == "exact" {print $3 + $4}' "$RAW" | median)
x_rss=$(col exact 5)
hidden=512
flop=$(awk -v n="$ENTRIES" -v f="$feat_dim" -v h="$hidden" 'BEGIN {print 2 * n * f * h}')
loads=$(awk '{print $NF}' "$RAW" | sort -g | awk 'NR == 1 {lo = $1} {hi = $1} END {print lo " to " hi}')
fmt() { awk -v x="$1" -v d="$2" 'BEGIN {printf "%.*f", d, x}'; }
{
    echo "## Gallery index (bench/gallery.sh)"
    echo
    echo "- Date: $(date '+%Y-%m-%d %H:%M'); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
    echo "- Load average during the timed runs: $loads (other engineers' jobs share the cores:"
    echo "  wall times are medians over $ROUNDS rounds; CPU time, user + system, depends less on the load)"
    echo "- Model: $MODEL (compact, $feat_dim features); page cache warm (one run of each first)"
    echo
    echo "Two-stage search against \`--exact\` on images_evaluation ($n_eval images indexed, the query's own"
    echo "entry left out), ${#queries[@]} queries (every ${step}th image): the top 10 identical on"
    echo
    echo "| shortlist | share of the index | queries agreeing |"
    echo "| ---: | ---: | ---: |"
    echo "| 256 (the default: 1%, at least 256) | $(fmt "$(awk -v n="$n_eval" 'BEGIN {print 25600 / n}')" 1)% | ${agree[default]} of ${#queries[@]} |"
    for k in $SHORTLISTS; do
        echo "| $k | $(fmt "$(awk -v k="$k" -v n="$n_eval" 'BEGIN {print 100 * k / n}')" 2)% | ${agree[$k]} of ${#queries[@]} |"
    done
    echo
    echo "A query against $ENTRIES made-up entries (\`siamese index --synthetic\`; features shaped as"
    echo "the model's, in clusters), index file $(fmt "$(awk -v s="$size" 'BEGIN {print s / 1e9}')" 2) GB"
    echo "(features $(fmt "$(awk -v s="$feat_bytes" 'BEGIN {print s / 1e9}')" 2) GB):"
    echo
    echo "| search | wall (s) | CPU (s) | peak RSS (MB) | RSS / feature bytes |"
    echo "| --- | ---: | ---: | ---: | ---: |"
    for m in default exact; do
        if [ $m = default ]; then w=$d_wall c=$d_cpu r=$d_rss; else w=$x_wall c=$x_cpu r=$x_rss; fi
        echo "| $( [ $m = default ] && echo "default (two stages, shortlist $shortlist)" || echo '`--exact`') | $w | $c | $(fmt "$(awk -v r="$r" 'BEGIN {print r / 1024}')" 0) | $(fmt "$(awk -v r="$r" -v b="$feat_bytes" 'BEGIN {print r * 1024 / b}')" 3) |"
    done
    echo
    echo "\`--exact\` runs the head on every entry: $(fmt "$(awk -v f="$flop" 'BEGIN {print f / 1e12}')" 2) TFLOP, at"
    echo "$(fmt "$(awk -v f="$flop" -v t="$x_wall" 'BEGIN {print f / t / 1e9}')" 1) GFLOP/s (wall) against our 2048^3 sgemm's $sg GFLOP/s"
    echo "measured in the same rounds: $(fmt "$(awk -v f="$flop" -v t="$x_wall" -v g="$sg" 'BEGIN {print 100 * f / t / 1e9 / g}')" 0)% of the machine's rate."
} >bench/GALLERY.md
cat bench/GALLERY.md
# RESULTS.md ends with this section (report.py appends it after the notes):
# replace the previous one.
awk '/^## Gallery index \(bench\/gallery.sh\)/ {exit} {print}' bench/RESULTS.md >"$OUT/results.md"
{ cat "$OUT/results.md"; echo; cat bench/GALLERY.md; } | cat -s >bench/RESULTS.md
