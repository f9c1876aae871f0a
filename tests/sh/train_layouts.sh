# siamese train on a two-level folder of our own making (classes of
# Omniglot drawings), the checkpoints and logs it writes, and the clear
# messages for wrong layouts, bad data and bad options.
. tests/shlib.sh
data=$OMNIGLOT
need_omniglot "$data/images_background"
T=$TMP

# Own classes: 8 Latin characters as classes, each its own folder, plus a
# broken image, a stray text file and a class of 2 images.
own=$T/own/images_background
for c in 01 02 03 04 05 06 07 08; do
    mkdir -p "$own/letter$c"
    ln -s "$(realpath "$data/images_background/Latin/character$c")"/*.png "$own/letter$c/"
done
printf 'not a png' >"$own/letter01/broken.png"
echo "notes" >"$own/letter02/notes.txt"
mkdir -p "$own/tiny" && ln -s "$(realpath "$data/images_background/Latin/character09")"/*_0[12].png "$own/tiny/"

tiny=(--backbone compact --widths 2,2,4,4,4 --hidden 8 --input-shape 32 --batch-size 4
      --steps-per-epoch 2 --val-steps 1 --threads 1 --workers 1)
./siamese train --dataset "$T/own" "${tiny[@]}" --epochs 2 --save-period 1 --save-dir "$T/logs" \
    >"$T/own.log" 2>&1 || { cat "$T/own.log"; fail "training on own classes"; }
grep -q "own-classes layout (class/image): 8 classes, 160 images" "$T/own.log" || { cat "$T/own.log"; fail "layout line"; }
grep -q "1 file could not be decoded" "$T/own.log" && grep -q "broken.png" "$T/own.log" || fail "unreadable file not reported"
grep -q "1 class has fewer than 3 images and is left out .*tiny (2)" "$T/own.log" || fail "small class not reported"
grep -q "1 entry without an image extension was ignored" "$T/own.log" || fail "stray file not reported"
grep -q "^Configurations:" "$T/own.log" && grep -q "|               batch_size |" "$T/own.log" || fail "no config table"
grep -q "^Epoch 2/2  loss" "$T/own.log" || fail "no epoch lines"
ls "$T"/logs/ep001-loss*-val_loss*.h5 "$T"/logs/ep002-loss*-val_loss*.h5 >/dev/null || fail "periodic checkpoints"
[ -f "$T/logs/last_epoch_weights.h5" ] && [ -f "$T/logs/best_epoch_weights.h5" ] || fail "last/best checkpoints"
log=$(ls -d "$T"/logs/loss_*)
[ "$(wc -l <"$log/epoch_loss.txt")" -eq 2 ] && [ "$(wc -l <"$log/epoch_val_loss.txt")" -eq 2 ] || fail "loss files"
[ "$(head -c 8 "$log/epoch_loss.png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] || fail "loss curve is not a PNG"
# The best checkpoint carries no optimizer state, the last one does.
[ "$(stat -c %s "$T/logs/best_epoch_weights.h5")" -lt "$(stat -c %s "$T/logs/last_epoch_weights.h5")" ] || fail "state sizes"

expect_error() {  # exit status, message pattern, args...
    local want=$1 pat=$2
    shift 2
    expect_status "$want" ./siamese train "$@"
    expect_stderr "$pat"
}
expect_error 1 "no such folder" --dataset "$T/nowhere" "${tiny[@]}"
expect_error 1 "--dataset img/a.png: not a folder" --dataset img/a.png "${tiny[@]}"
expect_error 1 "this is the images_background folder itself" --dataset "$own" "${tiny[@]}"
mkdir -p "$T/flat" && cp -r "$own/letter01" "$own/letter02" "$T/flat/"
expect_error 1 "move them into $T/flat/images_background/" --dataset "$T/flat" "${tiny[@]}"
expect_error 1 "drop --own-data" --dataset "$data" --own-data "${tiny[@]}"
mkdir -p "$T/empty/images_background"
expect_error 1 "is empty" --dataset "$T/empty" "${tiny[@]}"
mkdir -p "$T/one/images_background" && cp -r "$own/letter03" "$T/one/images_background/"
expect_error 1 "1 usable class" --dataset "$T/one" "${tiny[@]}"
expect_error 1 "too small for --batch-size 64" --dataset "$T/own" --backbone compact --input-shape 32 --batch-size 64
expect_error 2 "--batch-size: 0 is out of range" --batch-size 0
expect_error 2 "--optimizer: 'rmsprop' is not sgd or adam" --optimizer rmsprop
expect_error 2 "--lr-decay: 'linear' is not cos or step" --lr-decay linear
expect_error 2 "unknown option '--bogus'" --bogus
expect_error 2 "--init-epoch: 5 is out of range" --epochs 5 --init-epoch 5
# A seed is 64 bits: one past them is refused, not taken as 2^64 - 1.
expect_error 2 "--seed: '18446744073709551616' is not a whole number from 0 to 18446744073709551615" --seed 18446744073709551616
expect_error 2 "--seed: '-1' is not a whole number" --seed -1
./siamese train --help | grep -q -- "--same-alphabet-negatives" || fail "help"

# Strings from files are printed escaped, in the report too: a broken image
# and a --model-path layer (hidden Dense, wrong shape: not loaded) whose
# names hold an escape sequence and a newline.
evil=$'\e[2J\nevil'
mkdir -p "$T/own2/images_background"
cp -r "$own/letter05" "$own/letter06" "$own/letter07" "$T/own2/images_background/"
printf 'x' >"$T/own2/images_background/letter05/bad$evil.png"
cp "$T/logs/last_epoch_weights.h5" "$T/evil.h5"
"$H5EDIT" "$T/evil.h5" rename dense_1 "dense$evil" && "$H5EDIT" "$T/evil.h5" reshape "dense$evil" 0 9,8 ||
    fail "h5edit"
./siamese train --dataset "$T/own2" "${tiny[@]}" --epochs 1 --model-path "$T/evil.h5" \
    --save-dir "$T/evil_logs" >"$T/evil.log" 2>&1 || { cat "$T/evil.log"; fail "training with --model-path"; }
grep -qF 'not loaded: dense\x1b[2J\nevil: kernel shape is (9,8), expected (4,8)' "$T/evil.log" ||
    { cat "$T/evil.log"; fail "the skipped layer is not reported escaped"; }
grep -qF 'bad\x1b[2J\nevil.png' "$T/evil.log" || { cat "$T/evil.log"; fail "the broken image is not named escaped"; }
LC_ALL=C grep -q $'\e' "$T/evil.log" && fail "an escape character reached the output"

# --model-path of a model built otherwise: the options that build it are
# named (most layers did not load, or the inputs would differ); none when
# they agree.
other=("${tiny[@]}" --widths 4,4,8,8,8 --hidden 16 --invert)
./siamese train --dataset "$T/own2" "${other[@]}" --epochs 1 --model-path "$T/logs/last_epoch_weights.h5" \
    --save-dir "$T/other_logs" >"$T/other.log" 2>&1 || { cat "$T/other.log"; fail "--model-path of another model"; }
grep -qF "note: --model-path $T/logs/last_epoch_weights.h5 was trained otherwise; to start from all of it, give --widths 2,2,4,4,4 --hidden 8 without --invert" "$T/other.log" ||
    { cat "$T/other.log"; fail "no note of the options that build the --model-path model"; }
./siamese train --dataset "$T/own2" "${tiny[@]}" --epochs 1 --model-path "$T/logs/last_epoch_weights.h5" \
    --save-dir "$T/same_logs" >"$T/same.log" 2>&1 || { cat "$T/same.log"; fail "--model-path of the same model"; }
grep -q "was trained otherwise" "$T/same.log" && fail "a note for a --model-path model built as this run's"
finish
