#!/usr/bin/env bash
# The parity harness (tests/test_backend_parity.c) on any machine: the CPU
# against a second CPU backend of one thread, every operation and the
# compact model; then its self-test: near-tie max-pool flips planted in the
# second side's forward pass must not fail the model check (it compares
# both backward passes from the same activations), and a gradient element
# planted 1% off must fail it. What the GPU check's parity step relies on,
# proven before a GPU session spends its minutes on it. Last, the checks of
# bfloat16 activations (--precision bf16 on a GPU, by default) against a second CPU backend that emulates them (tests/act_emu.h),
# and a failed backend reported as such.
set -u
P=build/tests/test_backend_parity
export OMP_WAIT_POLICY=passive  # a loaded CI machine: don't spin
out=$($P --device cpu 2>&1) || { echo "$out" | tail -30; echo "FAIL: the harness, CPU against CPU"; exit 1; }
grep -q "^CPU 2: cpu, 1 thread" <<<"$out" || { echo "$out" | head; echo "FAIL: no second CPU backend"; exit 1; }
out=$($P --device cpu --selftest 2>&1) || { echo "$out" | tail -30; echo "FAIL: the self-test"; exit 1; }
echo "$out" | grep "planted\|caught\|decisions differ"
grep -q "(planted: [1-9][0-9]* argmax flips" <<<"$out" || { echo "FAIL: no flips planted"; exit 1; }
grep -q "^the planted gradient error was caught" <<<"$out" || { echo "FAIL: the planted error went unnoticed"; exit 1; }
out=$($P --device cpu-bf16 --precision bf16 2>&1) ||
    { echo "$out" | tail -30; echo "FAIL: the harness of bfloat16 activations"; exit 1; }
grep "^bfloat16 activations\|checks," <<<"$out"
grep -q "^bfloat16 activations" <<<"$out" || { echo "FAIL: the bfloat16 activations' checks did not run"; exit 1; }
# A backend that fails ends the run with its failure (file, line, call),
# not with comparisons failing for no stated reason: a GPU run's one chance
# to say what went wrong.
out=$(SIAMESE_INJECT_OOM=40 $P --device cpu 2>&1) && { echo "$out" | tail; echo "FAIL: a failed backend went unnoticed"; exit 1; }
grep -q "^FAIL: the backend cpu.* failed: out of memory (injected: SIAMESE_INJECT_OOM=40" <<<"$out" ||
    { echo "$out" | tail; echo "FAIL: the backend's failure is not reported"; exit 1; }
echo "all checks passed"
