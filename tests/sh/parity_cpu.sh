#!/usr/bin/env bash
# The parity harness (tests/test_backend_parity.c) on any machine: the CPU
# against a second CPU backend of one thread, every operation and the
# compact model; then its self-test: near-tie max-pool flips planted in the
# second side's forward pass must not fail the model check (it compares
# both backward passes from the same activations), and a gradient element
# planted 1% off must fail it. What the GPU check's parity step relies on,
# proven before a GPU session spends its minutes on it.
set -u
P=build/tests/test_backend_parity
export OMP_WAIT_POLICY=passive  # a loaded CI machine: don't spin
out=$($P --device cpu 2>&1) || { echo "$out" | tail -30; echo "FAIL: the harness, CPU against CPU"; exit 1; }
grep -q "^CPU 2: cpu, 1 thread" <<<"$out" || { echo "$out" | head; echo "FAIL: no second CPU backend"; exit 1; }
out=$($P --device cpu --selftest 2>&1) || { echo "$out" | tail -30; echo "FAIL: the self-test"; exit 1; }
echo "$out" | grep "planted\|caught\|decisions differ"
grep -q "(planted: [1-9][0-9]* argmax flips" <<<"$out" || { echo "FAIL: no flips planted"; exit 1; }
grep -q "^the planted gradient error was caught" <<<"$out" || { echo "FAIL: the planted error went unnoticed"; exit 1; }
echo "all checks passed"
