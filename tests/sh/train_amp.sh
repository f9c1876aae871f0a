#!/usr/bin/env bash
# --amp (mixed precision) on a machine without a GPU: `train --amp bf16` is
# refused before anything starts (exit status 2, one sentence, nothing
# scanned or written), with --device cpu and when --device auto falls back
# to the CPU; so is `bench --amp bf16`. A bad value is named. The help and
# the configuration table show the option, and a checkpoint keeps it:
# --resume of a bf16 run is refused on the CPU, and trains with --amp off.
. tests/shlib.sh
if ! "$SIAMESE" train --help >/dev/null 2>&1; then
    echo "SKIP: this build has no train command"
    exit 77
fi
msg="--amp bf16 needs the CUDA backend (--device cuda); the CPU backend trains in fp32"
mkdir -p "$TMP/data/images_background/a/x"  # never scanned: the refusal comes first
tr=("$SIAMESE" train --dataset "$TMP/data" --save-dir "$TMP/logs" --epochs 1 --plain)

nothing_started() {
    grep -q "Configurations\|scanning" "$TMP/out" && fail "a refused --amp bf16 run started"
}
expect 2 "$msg" -- "${tr[@]}" --device cpu --amp bf16
nothing_started
# No GPU visible to CUDA, whatever this machine has: auto takes the CPU.
expect 2 "$msg" "no GPU in use" -- env CUDA_VISIBLE_DEVICES= "${tr[@]}" --amp bf16
nothing_started
expect 2 "--amp: 'xyz' is not bf16 or off" -- "${tr[@]}" --device cpu --amp xyz
expect 2 "option --amp needs a value" -- "${tr[@]}" --amp
[ -e "$TMP/logs" ] && fail "a refused train wrote $TMP/logs"

expect 2 "$msg" -- "$SIAMESE" bench --device cpu --mode train --amp bf16 --backbone compact \
    --input-shape 32 --batch 1
expect 2 "--amp bf16 applies to training only" -- "$SIAMESE" bench --device cpu --amp bf16
expect 2 "--amp: 'fp8' is not bf16 or off" -- "$SIAMESE" bench --device cpu --mode train --amp fp8

"$SIAMESE" train --help >"$TMP/help" 2>&1
grep -q -- "--amp bf16|off" "$TMP/help" || fail "train --help does not show --amp"
"$SIAMESE" bench --help >"$TMP/help" 2>&1
grep -q -- "--amp bf16|off" "$TMP/help" || fail "bench --help does not show --amp"

# A real run on the CPU (a tiny model on two Omniglot alphabets): the
# table's amp row, and the setting in the checkpoint.
if [ -d "$OMNIGLOT/images_background/Latin" ] && [ -d "$OMNIGLOT/images_background/Greek" ]; then
    data=$TMP/omniglot
    mkdir -p "$data/images_background"
    cp -r "$OMNIGLOT/images_background/Latin" "$OMNIGLOT/images_background/Greek" "$data/images_background/"
    args=(--dataset "$data" --backbone compact --widths 4,4,8,8,8 --hidden 16 --input-shape 32
          --batch-size 2 --steps-per-epoch 2 --val-steps 1 --epochs 2 --threads 1 --workers 1
          --device cpu --plain --save-dir "$TMP/run")
    expect 0 -- "$SIAMESE" train "${args[@]}" --amp off --stop-after-steps 1
    grep -qE '^\| +amp \| +off \(fp32\)\|$' "$TMP/out" || fail "no 'amp | off (fp32)' row in the table"
    ckpt=$TMP/run/last_epoch_weights.h5
    [ -f "$ckpt" ] || fail "no checkpoint written"
    # The checkpoint of a bf16 run (made from this one: the CPU cannot train one).
    "$H5EDIT" "$ckpt" state amp bf16 || fail "h5edit state"
    expect 2 "$msg" "add --amp off to train in fp32" -- "$SIAMESE" train --resume "$ckpt" --device cpu --plain
    expect 0 -- "$SIAMESE" train --resume "$ckpt" --device cpu --plain --amp off --stop-after-steps 1
    grep -q "^note: amp is off here but bf16 in the checkpoint" "$TMP/out" ||
        fail "the changed --amp of a resumed run is not noted"
else
    echo "note: $OMNIGLOT is absent: the configuration table and checkpoint checks are skipped"
fi
finish
