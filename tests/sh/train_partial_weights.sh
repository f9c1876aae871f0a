#!/usr/bin/env bash
# train --model-path with a partial file: the layers it holds load by name,
# the rest are reported, and the report names each layer for the part it
# plays. A file with one Dense layer does not say which of the two it is:
# 1 unit makes it the output layer (whose input is the hidden width), any
# other width the hidden layer; a model with 1 hidden unit takes it for the
# role it fits. The note of the options that build the file's model comes
# only when a layer of the file did not fit, and names the hidden width the
# file says (none when it has no Dense layer).
. tests/shlib.sh
T=$TMP
small_dataset "$T/data"
convs="block1_conv1 block1_conv2 block2_conv1 block2_conv2 block3_conv1 block3_conv2 block3_conv3 block4_conv1 block4_conv2 block4_conv3 block5_conv1 block5_conv2 block5_conv3"
# partial NAME HIDDEN LAYER...: a model with HIDDEN units written by init,
# without the LAYERs.
partial() {
    local name=$1 hidden=$2 l
    shift 2
    "$SIAMESE" init --widths 2,2,4,4,4 --hidden "$hidden" --input-shape 32 --seed 1 \
        --out "$T/$name.h5" >/dev/null || fail "init $name"
    for l in "$@"; do "$H5EDIT" "$T/$name.h5" delete "$l" || fail "h5edit delete $l"; done
}
partial out_only 8 dense_1
partial hid_only 8 dense_2
partial notop 8 dense_1 dense_2
partial hid1_only 1 dense_2
# (every layer but the first)
partial first_only 8 block1_conv2 block2_conv1 block2_conv2 block3_conv1 block3_conv2 block3_conv3 \
    block4_conv1 block4_conv2 block4_conv3 block5_conv1 block5_conv2 block5_conv3 dense_1 dense_2

# report FILE HIDDEN: the run's report of --model-path FILE (its lines
# about the file) for a run with HIDDEN units, in $T/report.
report() {
    "$SIAMESE" train --dataset "$T/data" --val-ratio 0.5 --backbone compact --widths 2,2,4,4,4 \
        --hidden "$2" --input-shape 32 --batch-size 2 --steps-per-epoch 1 --val-steps 1 --epochs 1 \
        --threads 1 --workers 1 --plain --model-path "$T/$1.h5" --save-dir "$T/logs_$1_$2" \
        >"$T/out" 2>&1 || { cat "$T/out"; fail "train --model-path $1.h5 --hidden $2"; }
    grep -e "^--model-path $T/$1.h5: " -e '^  not loaded: ' -e "^note: --model-path $T/$1.h5 " \
        "$T/out" | sed "s|$T/||" >"$T/report"
}
# expect_report FILE HIDDEN LINE...: the report is those lines.
expect_report() {
    local file=$1 hidden=$2
    shift 2
    report "$file" "$hidden"
    printf '%s\n' "$@" | diff - "$T/report" >"$T/diff" ||
        fail "--model-path $file.h5 with --hidden $hidden: the report differs (< expected, > got): $(cat "$T/diff")"
}

# The lone Dense layer fits the run's model: it loads, the other is missing.
expect_report out_only 8 \
    "--model-path out_only.h5: 14 layers loaded: $convs dense_2" \
    "  not loaded: hidden Dense layer: not in the file"
expect_report hid_only 8 \
    "--model-path hid_only.h5: 14 layers loaded: $convs dense_1" \
    "  not loaded: output Dense layer: not in the file"
# It does not fit: it is reported against its role, and the note names the
# hidden width of the file (8, the output layer's input or the hidden
# layer's output).
expect_report out_only 16 \
    "--model-path out_only.h5: 13 layers loaded: $convs" \
    "  not loaded: hidden Dense layer: not in the file" \
    "  not loaded: dense_2: kernel shape is (8,1), expected (16,1)" \
    "note: --model-path out_only.h5 was trained otherwise; to start from all of it, give --widths 2,2,4,4,4 --hidden 8"
expect_report hid_only 16 \
    "--model-path hid_only.h5: 13 layers loaded: $convs" \
    "  not loaded: dense_1: kernel shape is (4,8), expected (4,16)" \
    "  not loaded: output Dense layer: not in the file" \
    "note: --model-path hid_only.h5 was trained otherwise; to start from all of it, give --widths 2,2,4,4,4 --hidden 8"
# The hidden layer of a model with 1 hidden unit has 1 unit too: a run
# with 1 hidden unit loads it as its hidden layer.
expect_report hid1_only 1 \
    "--model-path hid1_only.h5: 14 layers loaded: $convs dense_1" \
    "  not loaded: output Dense layer: not in the file"
# One layer: said in the singular ("1 layers loaded" was).
report first_only 8
[ "$(head -1 "$T/report")" = "--model-path first_only.h5: 1 layer loaded: block1_conv1" ] ||
    fail "one layer loaded: $(head -1 "$T/report")"
# No Dense layer: any hidden width fits the backbone, and no note.
expect_report notop 16 \
    "--model-path notop.h5: 13 layers loaded: $convs" \
    "  not loaded: hidden Dense layer: not in the file" \
    "  not loaded: output Dense layer: not in the file"
finish
