#!/usr/bin/env bash
# siamese bench --mode profile on the CPU (the clock around each operation;
# CUDA events on a GPU, tests/gpu/check.sh): a table of one training step
# by layer and piece, every layer a row, each conv layer's backward pass
# split into its bias, filter and data gradients (the first layer has no
# data gradient; a conv before a pool has its ReLU mask and bias gradient
# in the pool's backward pass: maxpool2_relu_backward), the optimizer and
# the input copy on rows of their own, and PROFILE lines whose cells add up
# to the table's total.
. tests/shlib.sh
export OMP_WAIT_POLICY=passive
out=$TMP/profile.txt
"$SIAMESE" bench --mode profile --device cpu --threads 1 --backbone compact --input-shape 32 \
    --batch 2 --repeat 3 >"$out" 2>"$TMP/err" || { cat "$TMP/err"; fail "bench --mode profile"; finish; }
head -3 "$out"
grep -q "^profile compact, input 32, 2 pairs a step, cpu, 1 thread, fp32: the median of 3 steps" "$out" ||
    fail "no header line"
grep -qE "^layer +copy +forward .* total$" "$out" || fail "no column header"
for row in input block1_conv1 block1_conv2 block1_pool block3_conv3 block5_pool head dense_1 dense_2 \
    loss optimizer total; do
    grep -qE "^$row +[0-9]" "$out" || fail "no row for $row"
done
has() { grep -q "^PROFILE layer=$1 piece=$2 ms=[0-9.]*$" "$out"; }
for l in block2_conv1 block3_conv2; do
    for p in forward "relu bwd" "bias grad" wgrad dgrad; do has "$l" "$p" || fail "$l has no '$p'"; done
done
for l in block1_conv2 block5_conv3; do
    for p in forward wgrad dgrad; do has "$l" "$p" || fail "$l has no '$p'"; done
    has "$l" "bias grad" && fail "$l has a bias gradient of its own, which its pool makes"
done
for l in block1_pool block5_pool; do
    for p in "relu bwd" "bias grad" "pool bwd"; do has "$l" "$p" || fail "$l has no '$p'"; done
done
has block1_conv1 wgrad || fail "block1_conv1 has no wgrad"
has block1_conv1 dgrad && fail "block1_conv1 has a data gradient, which nothing needs"
has block2_pool pool && has block2_pool "pool bwd" || fail "block2_pool's passes"
has input copy || fail "the batch's upload is not a copy of 'input'"
has optimizer optimizer || fail "no optimizer time"
has dense_1 forward && has dense_1 dgrad || fail "dense_1's passes"
grep -q "^step: .* ms from its first operation to its last" "$out" || fail "no step line"
# The cells add up to the table's total (the sum of their medians), and the
# step's span holds its time inside operations (the medians over the steps
# of each step's figures; the sum of the cells' medians need not fit in the
# span's median, so it is not compared with it).
total=$(awk '/^total / {print $NF}' "$out")
awk -v total="$total" -F'ms=' '/^PROFILE layer=/ {s += $2}
    /^PROFILE step_ms=/ {split($0, a, /[= ]/); step = a[3]; ops = a[5]}
    END {d = s - total; d = d < 0 ? -d : d;
         exit !(total > 0 && d < 0.01 * total + 0.01 && ops > 0 && step >= ops)}' "$out" ||
    fail "the PROFILE cells do not add up to the total $total, or the step: $(grep '^PROFILE step' "$out")"
expect 2 "--mode: 'profiles' is not latency, batch, train, layers, profile or sgemm" -- \
    "$SIAMESE" bench --mode profiles
finish
