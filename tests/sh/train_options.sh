#!/usr/bin/env bash
# Bad command lines for train: out-of-range numbers (batch size 0, a
# negative learning rate, an input size the pooling cannot take), unknown
# flags: a message naming the option, the usage, exit status 2, and
# nothing trained or written; a --resume or --model-path file that cannot
# be read: exit status 1, before the dataset scan.
. tests/shlib.sh
if ! "$SIAMESE" train --help >/dev/null 2>&1; then
    echo "SKIP: this build has no train command"
    exit 77
fi
# train's usage is long: on an error it points to it instead.
usage() {
    expect 2 "$@"
    grep -qE "^usage:|train --help' lists the options" "$TMP/err" ||
        fail "no usage (or pointer to it) on standard error for: ${*: -3}"
}
mkdir -p "$TMP/data/a/x" "$TMP/data/a/y"
tr=("$SIAMESE" train --dataset "$TMP/data" --save-dir "$TMP/logs" --device cpu --epochs 1)
usage "unknown option '--bogus'" -- "${tr[@]}" --bogus
for n in 0 -1; do usage "--batch-size" "$n" -- "${tr[@]}" --batch-size "$n"; done
usage "--batch-size" "'many'" -- "${tr[@]}" --batch-size many
for lr in -0.1 0 nan inf; do usage "--lr" -- "${tr[@]}" --lr "$lr"; done
for n in 0 16 31 2048; do usage "--input-shape" "$n" -- "${tr[@]}" --input-shape "$n"; done
usage "--epochs" -- "${tr[@]}" --epochs 0
usage "--device: 'gpu'" -- "${tr[@]}" --device gpu
usage "option --lr needs a value" -- "${tr[@]}" --lr
[ -n "$(ls -A "$TMP/logs" 2>/dev/null)" ] && fail "a refused train wrote to logs/"
# A --resume or --model-path file that is missing or not weights is a
# runtime failure (exit 1, the file named), as any unreadable file, not a
# usage error: the two say so alike.
small_dataset "$TMP/good"
printf 'not weights\n' >"$TMP/text.h5"
small=(--save-dir "$TMP/logs" --device cpu --epochs 1 --plain --backbone compact --widths 2,2,4,4,4
       --hidden 8 --input-shape 32 --batch-size 2 --val-ratio 0.5)
tr=("$SIAMESE" train --dataset "$TMP/good" "${small[@]}")
for opt in --resume --model-path; do
    expect 1 "$TMP/text.h5: not an HDF5 file" -- "${tr[@]}" "$opt" "$TMP/text.h5"
    expect 1 "$TMP/none.h5: cannot open weights file: No such file or directory" -- "${tr[@]}" "$opt" "$TMP/none.h5"
    grep -q "lists the options" "$TMP/err" && fail "$opt of a missing file points to the usage"
done
[ -n "$(ls -A "$TMP/logs" 2>/dev/null)" ] && fail "a train that failed on its --resume or --model-path file wrote to logs/"
# A bad --model-path file is found before the dataset scan, which decodes
# every image (minutes on a large folder): here the scan would block for
# ever on a FIFO in the dataset that nothing writes, so a run that gets to
# it is cut short by timeout (exit 124) instead of failing on the file.
cp -r "$TMP/good" "$TMP/fifodata"
mkfifo "$TMP/fifodata/images_background/class1/fifo.png"
tiny_model "$TMP/tiny.h5"
"$SIAMESE" index --device cpu --model "$TMP/tiny.h5" img --out "$TMP/gallery.h5" >/dev/null ||
    fail "index img"
tr=("$SIAMESE" train --dataset "$TMP/fifodata" "${small[@]}")
t=(timeout -k 5 120)
expect 1 "--model-path: $TMP/none.h5: cannot open weights file: No such file or directory" -- \
    "${t[@]}" "${tr[@]}" --model-path "$TMP/none.h5"
expect 1 "--model-path: $TMP/text.h5: not an HDF5 file" -- "${t[@]}" "${tr[@]}" --model-path "$TMP/text.h5"
expect 1 "--model-path: $TMP/gallery.h5 is a gallery index" -- \
    "${t[@]}" "${tr[@]}" --model-path "$TMP/gallery.h5"
if [ -x "$H5EDIT" ]; then
    cp "$TMP/tiny.h5" "$TMP/no_names.h5"
    "$H5EDIT" "$TMP/no_names.h5" drop-attr layer_names || fail "h5edit drop-attr"
    expect 1 "--model-path: $TMP/no_names.h5: no 'layer_names' attribute: not a Keras weights file" -- \
        "${t[@]}" "${tr[@]}" --model-path "$TMP/no_names.h5"
    # Weights that are not numbers, in a file of this run's model (so
    # every layer loads): found when they are read, before the scan too;
    # and a --resume file's.
    "$SIAMESE" init --widths 2,2,4,4,4 --hidden 8 --input-shape 32 --seed 1 --out "$TMP/small.h5" >/dev/null ||
        fail "init small.h5"
    bad_weights() {  # NAME H5EDIT-ARGS...: small.h5 edited into $TMP/NAME.h5
        cp "$TMP/small.h5" "$TMP/$1.h5"
        "$H5EDIT" "$TMP/$1.h5" "${@:2}" || fail "h5edit $*"
    }
    bad_weights nan set block1_conv1 0 5 nan
    bad_weights inf set dense_1 1 0 inf
    bad_weights int retype block2_conv1 0 int32
    bad_weights str retype block3_conv2 1 string
    expect 1 "--model-path: $TMP/nan.h5: layer 'block1_conv1': weight 'block1_conv1/kernel:0' holds 1 NaN or infinite value" -- \
        "${t[@]}" "${tr[@]}" --model-path "$TMP/nan.h5"
    expect 1 "--model-path: $TMP/inf.h5: layer 'dense_1': weight 'dense_1/bias:0' holds 1 NaN or infinite value" -- \
        "${t[@]}" "${tr[@]}" --model-path "$TMP/inf.h5"
    expect 1 "--model-path: $TMP/int.h5: layer 'block2_conv1': weight 'block2_conv1/kernel:0' holds integer values, expected float32" -- \
        "${t[@]}" "${tr[@]}" --model-path "$TMP/int.h5"
    expect 1 "--model-path: $TMP/str.h5: layer 'block3_conv2': weight 'block3_conv2/bias:0' holds non-numeric values, expected float32" -- \
        "${t[@]}" "${tr[@]}" --model-path "$TMP/str.h5"
    # A checkpoint of a run that diverged, as --resume finds it.
    "$SIAMESE" train --dataset "$TMP/good" "${small[@]}" --save-dir "$TMP/ck" --stop-after-steps 1 \
        >/dev/null 2>&1 || fail "train a checkpoint"
    cp "$TMP/ck/last_epoch_weights.h5" "$TMP/diverged.h5"
    "$H5EDIT" "$TMP/diverged.h5" set block1_conv1 0 5 nan || fail "h5edit diverged.h5"
    expect 1 "$TMP/diverged.h5: layer 'block1_conv1': weight 'block1_conv1/kernel:0' holds 1 NaN or infinite value" -- \
        "${t[@]}" "${tr[@]}" --resume "$TMP/diverged.h5"
else
    skip_part "--model-path files without layer_names or with weights that are not numbers ($H5EDIT is not built)"
fi
[ -n "$(ls -A "$TMP/logs" 2>/dev/null)" ] && fail "a train that failed on its --model-path file wrote to logs/"
finish
