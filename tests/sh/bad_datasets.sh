#!/usr/bin/env bash
# Datasets with traps in them, given to train: a symlink loop, an
# unreadable class folder, an unreadable image, classes that are all too
# small (and classes too small for training that eval takes), non-image
# files. Training goes on over what is usable and says what it left out,
# or stops with a message naming the folder or file (exit 1); never a
# crash or a hang. (Layouts, empty folders and one class:
# train_layouts.sh.) The images are copies of our own img/*.png, so this
# runs without the Omniglot dataset.
. tests/shlib.sh
# A tiny, short run: 32-pixel inputs, 2 to 4 channels, two steps. ($as
# runs it as another user when set.)
as=()
train() {
    "${as[@]}" timeout 120 "$SIAMESE" train --device cpu --threads 1 --workers 1 --plain \
        --backbone compact --widths 2,2,4,4,4 --hidden 8 --input-shape 32 --epochs 1 \
        --steps-per-epoch 2 --val-steps 1 --batch-size 2 --val-ratio 0.5 --save-dir "$TMP/logs" \
        --dataset "$@"
}
# said PHRASE: the last run reported PHRASE (its notes go to standard output).
said() { cat "$TMP/out" "$TMP/err" | grep -qF -- "$1" || fail "the run did not report '$1'"; }
# classes ROOT N K: N class folders of K images each (copies of img/*.png).
classes() {
    local c i src=(img/a.png img/b.png img/c.png)
    for ((c = 1; c <= $2; c++)); do
        mkdir -p "$1/images_background/class$c"
        for ((i = 1; i <= $3; i++)); do cp "${src[(i + c) % 3]}" "$1/images_background/class$c/$i.png"; done
    done
}

# Every class under 3 images: nothing usable, and it says why, on one line
# with the scan's notes (a broken file's below its heading) joined, not
# ending in a literal "\n" as it did.
classes "$TMP/small" 5 2
printf 'x' >"$TMP/small/images_background/class1/broken.png"
expect 1 "$TMP/small" "usable class" \
    "1 file could not be decoded and is left out: $TMP/small/images_background/class1/broken.png: not an image" \
    "; 5 classes have fewer than 3 images" -- train "$TMP/small"
[ "$(wc -l <"$TMP/err")" -eq 1 ] && ! grep -qF '\n' "$TMP/err" ||
    fail "the message is not one line, or shows a '\n': $(cat "$TMP/err")"

# Classes of 2 images: training leaves them out (no third image for a
# sample's negative pair), eval takes them (a trial's test image and its
# support, a same pair: 2 different images) and leaves out only the class
# of 1, each saying why. (Eval applied training's 3 and dropped them.)
classes "$TMP/pairs" 6 2
for c in 1 2 3; do
    for i in 3 4 5 6 7 8; do cp img/a.png "$TMP/pairs/images_background/class$c/$i.png"; done
done
cp img/b.png "$TMP/pairs/images_background/class1/9.png"
rm "$TMP/pairs/images_background/class6/2.png"
expect 0 -- train "$TMP/pairs"
said "3 classes have fewer than 3 images and are left out (a class must give a positive pair and a third image): class4 (2), class5 (2), class6 (1)"
tiny_model "$TMP/m.h5"
# evaluate ARGS...: eval of the tiny model, one thread.
evaluate() {
    timeout 120 "$SIAMESE" eval --model "$TMP/m.h5" --device cpu --threads 1 --seed 1 "$@"
}
expect 0 -- evaluate --ways 5 --episodes 20 --pairs 20 "$TMP/pairs/images_background"
said "own classes (class/image), 5 classes, 29 images"
said "1 class has fewer than 2 images and is left out (a class must give two different images: a trial's test image and its support, or a same pair): class6 (1)"
said "5-way 1-shot: accuracy"
said "verification (20 same and 20 different pairs)"
# 8 shots need 9 images of each candidate: said, naming the count (in the
# singular for 1).
expect 1 "1 class has 9 images or more, 5-way trials need 5; lower --ways or --shots" -- \
    evaluate --ways 5 --shots 8 --episodes 5 --pairs 0 "$TMP/pairs/images_background"

# A validation split of one image: said in the singular ("1 images" was).
classes "$TMP/one_val" 3 8
expect 1 "the validation split (--val-ratio 0.01 gives 1 image): 1 image in 1 class: pairs need" \
    "another class (found 1 class)" -- train "$TMP/one_val" --val-ratio 0.01
# One class in the validation split and one alphabet: said in the singular
# too ("4 and 1 classes can give positive pairs", "1 alphabets" were).
expect 0 -- train "$TMP/one_val" --val-ratio 0.2
said "split: 19 training and 5 validation images (fixed shuffle); classes that can give positive pairs: 3 in training, 1 in validation"
mkdir -p "$TMP/alphabet/images_background"
mv "$TMP/one_val/images_background" "$TMP/alphabet/images_background/Latin"
expect 0 -- train "$TMP/alphabet"
said "Omniglot layout (alphabet/character/image): 1 alphabet, 3 characters, 24 images"

# Non-image files and a broken image among good ones: trained, and reported.
classes "$TMP/junk" 3 8
printf 'notes\n' >"$TMP/junk/images_background/class1/README.txt"
printf 'x' >"$TMP/junk/images_background/class2/.DS_Store"
printf 'not a png' >"$TMP/junk/images_background/class3/broken.png"
expect 0 -- train "$TMP/junk"
said "class3/broken.png: not an image"
said "1 entry without an image extension was ignored"

# Symlink loops (a class folder linking to its parent, one to itself):
# no hang.
classes "$TMP/loop" 3 8
ln -s .. "$TMP/loop/images_background/class1/up"
ln -s . "$TMP/loop/images_background/class2/self"
CASES=$((CASES + 1))
train "$TMP/loop" >"$TMP/out" 2>"$TMP/err" </dev/null
rc=$?
case $rc in
0 | 1) echo "ok ($rc): $(tail -2 "$TMP/err" | head -c 300 | tr '\n' ' ')" ;;
124) fail "train hung on a symlink loop" ;;
*) fail "train on a symlink loop exited $rc: $(tail -5 "$TMP/err")" ;;
esac

# An unreadable class folder: stops, naming it. An unreadable image: left
# out by name, the rest trained. Root reads everything: as root, these
# cases run as nobody.
classes "$TMP/locked" 3 8
chmod 000 "$TMP/locked/images_background/class2"
classes "$TMP/locked_image" 3 8
chmod 000 "$TMP/locked_image/images_background/class3/1.png"
chmod 755 "$TMP"
mkdir -p "$TMP/logs" && chmod 777 "$TMP/logs"
[ "$(id -u)" = 0 ] && as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if "${as[@]}" test -x "$SIAMESE" 2>/dev/null; then
    expect 1 "$TMP/locked/images_background/class2" "Permission denied" -- train "$TMP/locked"
    expect 0 -- train "$TMP/locked_image"
    said "class3/1.png: Permission denied"
else
    echo "note: the unreadable-folder cases need a user who can run $SIAMESE; not run"
fi
as=()
finish
