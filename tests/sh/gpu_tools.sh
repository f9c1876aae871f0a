#!/usr/bin/env bash
# The GPU check's programs (tests/gpu/) run on the CPU, both backends "cpu",
# so that they are known to work before a GPU session spends its minutes on
# them: identical loss curves, the Omniglot-layout loader, benchmark lines.
set -euo pipefail
B=build/tests/gpu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMP_WAIT_POLICY=passive  # a loaded CI machine: don't spin

# A two-character "alphabet" from the sample images.
mkdir -p "$tmp/data/alpha/char1" "$tmp/data/alpha/char2"
cp img/a.png img/b.png "$tmp/data/alpha/char1/"
cp img/c.png img/d.jpg "$tmp/data/alpha/char2/"

out=$($B/train_compare --a cpu --b cpu --backbone compact --input 32 --batch 2 --steps 3 \
    --every 1 --data "$tmp/data" --csv "$tmp/curves.csv")
echo "$out"
grep -q "(2 classes)" <<<"$out"
grep -q "max |loss A - loss B| = 0.00e+00" <<<"$out"
grep -q "^PASS: the loss curves agree" <<<"$out"
[ "$(wc -l <"$tmp/curves.csv")" -eq 4 ]

out=$($B/train_compare --a cpu --b cpu --backbone compact --input 32 --batch 2 --steps 2 \
    --optimizer adam)
grep -q "^PASS" <<<"$out"

for args in "--mode infer --batch 1" "--mode infer --batch 2 --u8" "--mode train --batch 2"; do
    # shellcheck disable=SC2086
    out=$($B/bench_model --device cpu --backbone compact --input 32 --seconds 0.1 --warmup 1 $args)
    echo "$out"
    grep -Eq "^RESULT mode=(infer|train) batch=[12] pairs_per_s=[0-9.]+ ms_per_batch=[0-9.]+ precision=fp32$" <<<"$out"
done

# Usage errors exit 2; a backend that cannot open exits 1.
set +e
$B/bench_model --mode fly >/dev/null 2>&1; [ $? -eq 2 ] || exit 1
$B/train_compare --backbone huge >/dev/null 2>&1; [ $? -eq 2 ] || exit 1
$B/bench_model --device tpu >/dev/null 2>&1; [ $? -eq 1 ] || exit 1
# --precision: a bad value exits 2; bf16 where the backend has no bfloat16 (the CPU) exits 1.
$B/bench_model --device cpu --mode train --precision fp8 >/dev/null 2>&1; [ $? -eq 2 ] || exit 1
$B/bench_model --device cpu --mode train --precision bf16 >/dev/null 2>&1; [ $? -eq 1 ] || exit 1
$B/train_compare --a cpu --b cpu --backbone compact --input 32 --precision bf16 >/dev/null 2>&1
[ $? -eq 1 ] || exit 1
exit 0
