#!/usr/bin/env bash
# Bad datasets given to train: an empty folder, one class, classes with
# fewer than 3 images, non-image files mixed in, a symlink loop,
# unreadable subfolders. Each ends with a message naming the folder (exit
# status 1) or trains on what is usable (0); never a crash or a hang.
# Skipped while this build has no train command.
source tests/sh/lib/common.bash
if ! "$SIAMESE" train --help >/dev/null 2>&1; then
    echo "SKIP: this build has no train command"
    exit 77
fi
# A tiny, short run: 32-pixel inputs, 4 to 8 channels, one step. ($as
# runs it as another user when set.)
as=()
train() {
    "${as[@]}" timeout 120 "$SIAMESE" train --device cpu --threads 2 --plain --input-shape 32 \
        --widths 4,4,8,8,8 --hidden 8 --epochs 1 --steps-per-epoch 1 --val-steps 1 \
        --batch-size 2 --save-dir "$T/logs" --dataset "$@"
}
# classes ROOT N IMAGES: N character folders of IMAGES copies of our images.
classes() {
    local root=$1 n=$2 k=$3 c i
    for ((c = 1; c <= n; c++)); do
        mkdir -p "$root/alpha/char$c"
        for ((i = 1; i <= k; i++)); do cp "img/$(echo a b c | cut -d' ' -f$(((i + c) % 3 + 1))).png" "$root/alpha/char$c/$i.png"; done
    done
}
# status_in STATUSES... -- COMMAND: like expect, for cases where either
# refusing or training on what is usable is right.
status_in() {
    local ok=() rc
    while [ "$1" != -- ]; do ok+=("$1"); shift; done
    shift
    cases=$((cases + 1))
    "$@" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    [[ " ${ok[*]} " == *" $rc "* ]] || fail "$* -> exit status $rc, expected one of ${ok[*]}: $(tail -3 "$T/err")"
    grep -qE 'Sanitizer|runtime error:|Segmentation fault|Aborted|core dumped' "$T/err" &&
        fail "$* -> a crash or sanitizer report"
    echo "ok ($rc): $(tail -2 "$T/err" | head -c 300 | tr '\n' ' ')"
}

mkdir "$T/empty"
expect 1 "$T/empty" "empty" -- train "$T/empty"
classes "$T/one" 1 5
expect 1 "$T/one" "1 usable class" -- train "$T/one"
classes "$T/few" 4 2
expect 1 "$T/few" "usable class" -- train "$T/few"
classes "$T/junk" 3 4
printf 'notes\n' >"$T/junk/alpha/char1/README.txt"
printf 'x' >"$T/junk/alpha/char2/.DS_Store"
printf 'not a png' >"$T/junk/alpha/char3/broken.png"
status_in 0 -- train "$T/junk"
classes "$T/loop" 3 4
ln -s .. "$T/loop/alpha/char1/up"
ln -s "$T/loop" "$T/loop/alpha/root"
status_in 0 1 -- train "$T/loop"
classes "$T/locked" 4 4
chmod 000 "$T/locked/alpha/char2"
chmod 755 "$T"
# Root reads everything: as root, the case runs as nobody.
if [ "$(id -u)" = 0 ]; then
    as=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    chmod -R a+rX "$T/locked/alpha/char1" "$T/locked/alpha/char3" "$T/locked/alpha/char4"
    mkdir -p "$T/logs" && chmod 777 "$T/logs"
fi
status_in 0 1 -- train "$T/locked"
as=()
grep -qF "char2" "$T/err" || fail "the unreadable folder char2 is not named"
finish
