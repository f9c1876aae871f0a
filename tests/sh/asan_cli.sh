#!/usr/bin/env bash
# The program built with AddressSanitizer and UBSan (build-asan/siamese,
# made by `make test`): a real predict (the compact 105-pixel model, both
# preprocessing modes, the line protocol, every Keras fixture), then every
# bad-input test run against it (images, weights, options, datasets). Any
# sanitizer report fails (tests/run.sh sets the options; the shell tests
# look for reports on standard error).
A=build-asan/siamese
if [ ! -x "$A" ]; then
    echo "SKIP: $A is not built (make sanitize)"
    exit 77
fi
SIAMESE=$A
. tests/shlib.sh
model=model_data/untrained_random.h5
[ -f "$model" ] || { model=$TMP/tiny.h5; tiny_model "$model"; }
expect 0 -- "$A" predict --device cpu --threads 2 --model "$model" img/a.png img/d.jpg
expect 0 -- "$A" predict --device cpu --threads 2 --letterbox --model "$model" \
    tests/fixtures/images/scene_200x150_RGBA.png tests/fixtures/images/strip_31x97_P.gif
# Each Keras layout the loader reads (Keras 1 and 2 names, tf.keras,
# model.save files, split attributes), and a backbone-only file refused.
for k in tests/fixtures/keras_*.h5; do
    expect 0 -- "$A" predict --device cpu --model "$k" img/a.png img/b.png
done
expect 1 "without the Siamese Dense head" -- "$A" predict --device cpu \
    --model tests/fixtures/keras1_vgg_notop_tiny.h5 img/a.png img/b.png
# The head's buffers hold the head's features whatever the backbone's
# shape: one channel until a last block of 2048 gives features (2048 a
# pair) larger than the first activation (32*32*1 an image), where the
# head once staged them (a heap overflow).
"$A" init --widths 1,1,1,1,2048 --input-shape 32 --seed 1 --out "$TMP/wide.h5" >/dev/null
mkdir -p "$TMP/gallery"
cp img/*.png "$TMP/gallery/"
expect 0 -- "$A" rank --device cpu --threads 2 --model "$TMP/wide.h5" img/a.png "$TMP/gallery"
# A gallery index of it (written, updated, searched in two stages and exactly).
expect 0 -- "$A" index --device cpu --threads 2 --model "$TMP/wide.h5" "$TMP/gallery" --out "$TMP/g.h5"
rm "$TMP/gallery/c.png"
expect 0 -- "$A" index --device cpu --threads 2 --model "$TMP/wide.h5" "$TMP/gallery" --out "$TMP/g.h5"
expect 0 -- "$A" rank --device cpu --threads 2 --model "$TMP/wide.h5" img/a.png "$TMP/g.h5"
expect 0 -- "$A" rank --device cpu --threads 2 --model "$TMP/wide.h5" --exact img/c.png "$TMP/g.h5"
CASES=$((CASES + 1))
printf '%s\n' img/a.png img/b.png img/c.png tests/fixtures/images/tall_150x200_RGB.bmp |
    "$A" predict --device cpu --model "$model" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 0 ] && [ "$(wc -l <"$TMP/out")" = 2 ] || fail "line protocol: exit $rc, $(cat "$TMP/out" "$TMP/err")"
for t in bad_images bad_weights bad_options bad_datasets train_options backend_failure; do
    CASES=$((CASES + 1))
    if SIAMESE=$A bash "tests/sh/$t.sh" >"$TMP/log" 2>&1; then
        echo "ok: $t.sh under the sanitizers: $(tail -1 "$TMP/log")"
    else
        fail "$t.sh under the sanitizers:"
        grep -A12 FAIL "$TMP/log" | head -40
    fi
done
finish
