#!/usr/bin/env bash
# Bad weight files given to predict: each exits 1 with a message that
# names the file and what is wrong (and what was expected), NaN or Inf
# values included, with the file's own strings escaped; weights that are
# not numbers given to eval, index, rank and the line protocol too. The
# bad files are made at test time from a tiny model written by our own
# init, damaged by tests/tools/h5edit.
. tests/shlib.sh
[ -x "$H5EDIT" ] || { echo "$H5EDIT is not built (make test builds it)"; exit 1; }
M=$TMP/tiny.h5
tiny_model "$M"
predict() { "$SIAMESE" predict --device cpu --threads 1 --model "$1" img/a.png img/b.png; }
# damaged NAME H5EDIT-ARGS...: a copy of the tiny model, edited.
damaged() {
    local f=$TMP/$1
    shift
    cp "$M" "$f"
    "$H5EDIT" "$f" "$@" || fail "h5edit $* failed"
    echo "$f"
}
bad() {  # bad FILE PHRASE...
    local f=$1
    shift
    expect 1 "$f" "$@" -- predict "$f"
}

expect 0 -- predict "$M"
size=$(stat -c %s "$M")

# ---- not a weights file ----------------------------------------------------------
bad "$TMP/missing.h5" "cannot open weights file" "No such file or directory"
mkdir "$TMP/folder.h5"
bad "$TMP/folder.h5" "is a directory"
: >"$TMP/empty.h5"
bad "$TMP/empty.h5" "the weights file is empty"
printf 'not hdf5 at all\n' >"$TMP/text.h5"
bad "$TMP/text.h5" "not an HDF5 file"
cp img/a.png "$TMP/picture.h5"
bad "$TMP/picture.h5" "not an HDF5 file"
# A gallery index (HDF5 too) given as the model: said what it is, and where it goes.
"$SIAMESE" index --device cpu --threads 1 --model "$M" img --out "$TMP/gallery.h5" >/dev/null 2>&1 ||
    fail "index of img/ failed"
bad "$TMP/gallery.h5" "is a gallery index (written by 'siamese index'), not model weights" \
    "siamese rank QUERY $TMP/gallery.h5"
for cut in $((size / 2)) 4000 600; do
    head -c $cut "$M" >"$TMP/cut_$cut.h5"
    bad "$TMP/cut_$cut.h5" "truncated" "it has $cut bytes, its header says $size"
done
# Damage inside (the header intact): bytes zeroed in the middle.
cp "$M" "$TMP/holes.h5"
dd if=/dev/zero of="$TMP/holes.h5" bs=1 seek=$((size / 3)) count=4096 conv=notrunc status=none
bad "$TMP/holes.h5" "$TMP/holes.h5"

# ---- a Keras file, but not right ---------------------------------------------------
bad "$(damaged no_names.h5 drop-attr layer_names)" "no 'layer_names' attribute" "not a Keras weights file"
bad "$(damaged no_conv.h5 delete block3_conv2)" "block3_conv2" "missing"
bad "$(damaged no_first.h5 delete block1_conv1)" "no layer 'block1_conv1'" "expected a Siamese VGG16"
bad "$(damaged no_head.h5 delete dense_2)" "Dense layer" "expected a Siamese VGG16"
bad "$(damaged kernel_shape.h5 reshape block2_conv1 0 3,3,8,8)" \
    "layer 'block2_conv1'" "kernel shape is (3,3,8,8), expected (3,3,4,8)"
bad "$(damaged bias_shape.h5 reshape block2_conv1 1 5)" "layer 'block2_conv1'" "bias shape is (5,), expected (4,)"
bad "$(damaged dense_shape.h5 reshape dense_1 0 9,8)" "layer 'dense_1'" "kernel shape is (9,8), expected (8,8)"
bad "$(damaged int_kernel.h5 retype block1_conv1 0 int32)" "block1_conv1/kernel:0" "integer values, expected float32"
bad "$(damaged text_bias.h5 retype block4_conv2 1 string)" "block4_conv2/bias:0" "non-numeric values"
bad "$(damaged unwritten.h5 unwritten block5_conv1 0)" "block5_conv1/kernel:0" "has no data stored"
# A float type claiming 4 GB per value (found by fuzzing: HDF5 would
# allocate and zero that much to convert it).
bad tests/fuzz/corpus/weights/regress-huge-float-type.h5 "block3_conv2/kernel:0" \
    "4294965764-byte floating-point values, expected float32"
# float64 weights are converted, as Keras would load them.
expect 0 -- predict "$(damaged f64.h5 retype block1_conv1 0 float64)"

# ---- NaN and Inf: an error at load, naming the layer and the weight ---------------
# A NaN in the first convolution vanishes in its ReLU and the score looked
# plausible (0.5, exit 0); an infinite output bias gave a score of 1.
for spec in "block1_conv1 0 7 nan" "block3_conv1 0 7 nan" "block5_conv3 1 0 -inf" "dense_2 1 0 inf"; do
    set -- $spec
    f=$(damaged "nonfinite_$1_$2.h5" set "$@")
    w=$([ "$2" = 0 ] && echo kernel || echo bias)
    bad "$f" "layer '$1'" "weight '$1/$w:0' holds 1 NaN or infinite value (the first at index $3)"
    [ -s "$TMP/out" ] && fail "$1: a score was printed: $(cat "$TMP/out")"
done

# ---- the other commands that load a model: the same messages, exit 1 -------------
# eval, index, rank (on a folder and on an index) and the line protocol,
# given weights that are not numbers: each names the file, the layer and
# the weight, before any image is read (a FIFO among the images would
# block the read for ever: timeout's exit 124 instead), and writes nothing.
ev=$TMP/ev/images_evaluation/alpha
mkdir -p "$ev/c1" "$ev/c2"
cp img/a.png img/b.png img/c.png "$ev/c1/" && cp img/a.png img/b.png img/c.png "$ev/c2/"
mkfifo "$ev/c1/fifo.png"
"$SIAMESE" index --device cpu --threads 1 --model "$M" img --out "$TMP/good_index.h5" >/dev/null 2>&1 ||
    fail "index of img/ failed"
cp "$TMP/good_index.h5" "$TMP/good_index_before.h5"
t=(timeout -k 5 60)
for f in "$TMP/nonfinite_block1_conv1_0.h5" "$TMP/int_kernel.h5" "$TMP/text_bias.h5"; do
    case $f in
    *nonfinite*) what=("layer 'block1_conv1'" "weight 'block1_conv1/kernel:0' holds 1 NaN or infinite value") ;;
    *int_kernel*) what=("layer 'block1_conv1'" "weight 'block1_conv1/kernel:0' holds integer values") ;;
    *) what=("layer 'block4_conv2'" "weight 'block4_conv2/bias:0' holds non-numeric values") ;;
    esac
    m=(--device cpu --threads 1 --model "$f")
    expect 1 "$f" "${what[@]}" -- "${t[@]}" "$SIAMESE" eval "${m[@]}" --ways 2 --episodes 2 --pairs 2 "$TMP/ev"
    expect 1 "$f" "${what[@]}" -- "${t[@]}" "$SIAMESE" index "${m[@]}" "$TMP/ev" --out "$TMP/new_index.h5"
    [ -e "$TMP/new_index.h5" ] && fail "index with $f wrote an index"
    expect 1 "$f" "${what[@]}" -- "${t[@]}" "$SIAMESE" index "${m[@]}" img --out "$TMP/good_index.h5"
    cmp -s "$TMP/good_index.h5" "$TMP/good_index_before.h5" || fail "index with $f changed an index"
    expect 1 "$f" "${what[@]}" -- "${t[@]}" "$SIAMESE" rank "${m[@]}" img/a.png "$TMP/ev"
    expect 1 "$f" "${what[@]}" -- "${t[@]}" "$SIAMESE" rank "${m[@]}" img/a.png "$TMP/good_index.h5"
    printf '%s\n' img/a.png img/b.png >"$TMP/pairs"
    "${t[@]}" "$SIAMESE" "${m[@]}" <"$TMP/pairs" >"$TMP/out" 2>"$TMP/err"
    [ $? = 1 ] && grep -qF "$f: ${what[0]}: ${what[1]}" "$TMP/err" && [ ! -s "$TMP/out" ] ||
        fail "the line protocol with $f: $(cat "$TMP/err" "$TMP/out")"
done

# ---- names from the file are printed escaped -------------------------------------
# A layer or weight name holding an escape sequence and a newline would
# clear the terminal and split the message; shown as \x1b[2J\n instead.
evil=$'evil\e[2J\nname\xff'
f=$(damaged evil_layer.h5 rename block1_conv1 "$evil")
bad "$f" 'the file holds evil\x1b[2J\nname\xff (3,3,3,4)'
f=$(damaged evil_weight.h5 weight-name block2_conv1 0 "block2_conv1/$evil")
"$H5EDIT" "$f" set block2_conv1 0 3 nan || fail "h5edit set"
bad "$f" "weight 'block2_conv1/evil\x1b[2J\nname\xff' holds 1 NaN"
for f in "$TMP"/evil_*.h5; do
    predict "$f" >/dev/null 2>"$TMP/err"
    [ "$(wc -l <"$TMP/err")" = 1 ] || fail "$f: the message is not one line: $(cat -A "$TMP/err")"
    LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f-\xff]' "$TMP/err" && fail "$f: raw control bytes or non-ASCII printed: $(cat -A "$TMP/err")"
done

# ---- other architectures: say what the file holds and what was expected ------------
"$H5EDIT" "$TMP/resnet.h5" new conv1:7x7x3x64 bn_conv1:64 res2a_branch2a:1x1x64x64 fc1000:2048x1000
bad "$TMP/resnet.h5" "not a Siamese VGG16 weights file" "conv1 (7,7,3,64)" "fc1000 (2048,1000)" \
    "expected a Siamese VGG16"
"$H5EDIT" "$TMP/mlp.h5" new dense_1:784x128 dense_2:128x10
bad "$TMP/mlp.h5" "dense_1 (784,128), dense_2 (128,10)" "expected a Siamese VGG16"
# A VGG16 classifier (ImageNet-style head: fc1, fc2, predictions).
convs="block1_conv1:3x3x3x4 block1_conv2:3x3x4x4 block2_conv1:3x3x4x4 block2_conv2:3x3x4x4
       block3_conv1:3x3x4x8 block3_conv2:3x3x8x8 block3_conv3:3x3x8x8 block4_conv1:3x3x8x8
       block4_conv2:3x3x8x8 block4_conv3:3x3x8x8 block5_conv1:3x3x8x8 block5_conv2:3x3x8x8
       block5_conv3:3x3x8x8"
# shellcheck disable=SC2086
"$H5EDIT" "$TMP/vgg_classifier.h5" new $convs fc1:8x16 fc2:16x16 predictions:16x1000
bad "$TMP/vgg_classifier.h5" "3 Dense layers" "predictions (16,1000)" "classifier" "a Dense layer with 1 output"
# A backbone alone (as Keras's VGG16 'notop' files).
# shellcheck disable=SC2086
"$H5EDIT" "$TMP/notop.h5" new $convs
bad "$TMP/notop.h5" "without the Siamese Dense head" "train"

finish
