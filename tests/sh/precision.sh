#!/usr/bin/env bash
# --precision fp32|tf32|bf16 (and --amp, its older spelling) on a machine
# without a GPU. bf16 needs the GPU: `train --precision bf16` is refused
# before anything starts (exit status 2, one sentence, nothing scanned or
# written), with --device cpu and when --device auto falls back to the CPU;
# so are predict, eval, rank and bench. tf32, the default, is a permission
# the CPU meets in fp32: the same scores as --precision fp32, and the
# configuration table says so. Bad values are named. Every command's help
# shows the option, and a checkpoint keeps it: --resume of a bf16 run is
# refused on the CPU (with the way out), trains with --precision fp32, and
# a checkpoint from before --precision (amp=bf16) reads as bf16.
. tests/shlib.sh
msg="--precision bf16 needs the CUDA backend (--device cuda); the CPU computes in fp32"
mkdir -p "$TMP/data/images_background/a/x"  # never scanned: the refusal comes first
tr=("$SIAMESE" train --dataset "$TMP/data" --save-dir "$TMP/logs" --epochs 1 --plain)

nothing_started() {
    grep -q "Configurations\|scanning" "$TMP/out" && fail "a refused bf16 run started"
}
expect 2 "$msg" -- "${tr[@]}" --device cpu --precision bf16
nothing_started
expect 2 "$msg" -- "${tr[@]}" --device cpu --amp bf16
nothing_started
# No GPU visible to CUDA, whatever this machine has: auto takes the CPU.
expect 2 "$msg" "no GPU in use" -- env CUDA_VISIBLE_DEVICES= "${tr[@]}" --precision bf16
nothing_started
expect 2 "--precision: 'xyz' is not fp32, tf32 or bf16" -- "${tr[@]}" --device cpu --precision xyz
expect 2 "--amp: 'xyz' is not bf16 or off" -- "${tr[@]}" --device cpu --amp xyz
expect 2 "option --precision needs a value" -- "${tr[@]}" --precision
[ -e "$TMP/logs" ] && fail "a refused train wrote $TMP/logs"

tiny_model "$TMP/m.h5"
expect 2 "$msg" -- "$SIAMESE" predict --model "$TMP/m.h5" --device cpu --precision bf16 img/a.png img/b.png
[ -s "$TMP/out" ] && fail "a refused predict printed a score"
expect 2 "$msg" "no GPU in use" -- env CUDA_VISIBLE_DEVICES= "$SIAMESE" predict --model "$TMP/m.h5" \
    --precision bf16 img/a.png img/b.png
expect 2 "--precision: 'fp16' is not fp32, tf32 or bf16" -- "$SIAMESE" predict --precision fp16 img/a.png img/b.png
expect 2 "$msg" -- "$SIAMESE" eval --model "$TMP/m.h5" --device cpu --precision bf16 "$TMP/data"
expect 2 "$msg" -- "$SIAMESE" rank --model "$TMP/m.h5" --device cpu --precision bf16 img/a.png img
expect 2 "$msg" -- "$SIAMESE" bench --device cpu --mode train --precision bf16 --backbone compact \
    --input-shape 32 --batch 1
expect 2 "$msg" -- "$SIAMESE" bench --device cpu --amp bf16 --backbone compact --input-shape 32
expect 2 "--amp: 'fp8' is not bf16 or off" -- "$SIAMESE" bench --device cpu --mode train --amp fp8

# tf32 (the default) on the CPU computes what fp32 does.
for p in fp32 tf32 ""; do
    "$SIAMESE" predict --model "$TMP/m.h5" --device cpu ${p:+--precision $p} img/a.png img/c.png
done >"$TMP/scores" 2>"$TMP/err" || { cat "$TMP/err"; fail "predict --precision"; }
[ "$(sort -u "$TMP/scores" | wc -l)" -eq 1 ] || { cat "$TMP/scores"; fail "tf32 on the CPU differs from fp32"; }
out=$("$SIAMESE" bench --device cpu --mode batch --backbone compact --input-shape 32 --batch 1 \
    --repeat 1 --precision tf32) || fail "bench --precision tf32"
grep -q " precision=fp32 " <<<"$out" || fail "bench on the CPU does not say it computed fp32: $out"

for cmd in train predict eval rank bench; do
    "$SIAMESE" "$cmd" --help >"$TMP/help" 2>&1
    grep -q -- "--precision" "$TMP/help" || fail "$cmd --help does not show --precision"
done
for cmd in train bench; do
    "$SIAMESE" "$cmd" --help >"$TMP/help" 2>&1
    grep -q -- "--amp bf16|off" "$TMP/help" || fail "$cmd --help does not show --amp"
done

# A real run on the CPU (a tiny model on two Omniglot alphabets): the
# table's precision row, and the setting in the checkpoint.
if [ -d "$OMNIGLOT/images_background/Latin" ] && [ -d "$OMNIGLOT/images_background/Greek" ]; then
    data=$TMP/omniglot
    mkdir -p "$data/images_background"
    cp -r "$OMNIGLOT/images_background/Latin" "$OMNIGLOT/images_background/Greek" "$data/images_background/"
    args=(--dataset "$data" --backbone compact --widths 4,4,8,8,8 --hidden 16 --input-shape 32
          --batch-size 2 --steps-per-epoch 2 --val-steps 1 --epochs 2 --threads 1 --workers 1
          --device cpu --plain --save-dir "$TMP/run")
    expect 0 -- "$SIAMESE" train "${args[@]}" --stop-after-steps 1
    grep -qE '^\| +precision \| +fp32 \(this device has no TF32\)\|$' "$TMP/out" ||
        fail "no 'precision | fp32 (this device has no TF32)' row in the table"
    ckpt=$TMP/run/last_epoch_weights.h5
    [ -f "$ckpt" ] || fail "no checkpoint written"
    expect 0 -- "$SIAMESE" train --resume "$ckpt" --plain --stop-after-steps 1
    grep -q "^note: precision" "$TMP/out" && fail "a plain resume of the default precision noted a change"
    # The checkpoint of a bf16 run (made from this one: the CPU cannot train one).
    "$H5EDIT" "$ckpt" state precision bf16 || fail "h5edit state"
    expect 2 "$msg" "add --precision tf32 (or fp32)" -- "$SIAMESE" train --resume "$ckpt" --device cpu --plain
    expect 0 -- "$SIAMESE" train --resume "$ckpt" --device cpu --plain --precision fp32 --stop-after-steps 1
    grep -q "^note: precision is fp32 here but bf16 in the checkpoint" "$TMP/out" ||
        fail "the changed --precision of a resumed run is not noted"
    # A checkpoint from before --precision: amp=bf16 means bf16, amp=off fp32.
    "$H5EDIT" "$ckpt" state-key precision amp bf16 || fail "h5edit state-key"
    expect 2 "$msg" -- "$SIAMESE" train --resume "$ckpt" --device cpu --plain
    "$H5EDIT" "$ckpt" state-key amp amp off || fail "h5edit state-key"
    expect 0 -- "$SIAMESE" train --resume "$ckpt" --device cpu --plain --stop-after-steps 1
    grep -qE '^\| +precision \| +fp32\|$' "$TMP/out" || fail "amp=off did not resume as fp32"
else
    skip_part "no Omniglot at $OMNIGLOT: the configuration table and checkpoint checks"
fi
finish
