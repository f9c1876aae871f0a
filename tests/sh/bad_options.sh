#!/usr/bin/env bash
# Bad command lines for the program, predict and init: a message naming the
# option and what is wrong, the usage on standard error, exit status 2.
# A bad value is refused before anything is loaded or written.
. tests/shlib.sh
M=$TMP/tiny.h5
tiny_model "$M"
usage() {  # usage PHRASE... -- COMMAND...: exit 2, the phrases and the usage
    expect 2 "$@"
    grep -q '^usage:' "$TMP/err" || fail "no usage on standard error for: ${*: -3}"
}
p=("$SIAMESE" predict --device cpu --model "$M")

# ---- the program -------------------------------------------------------------------
usage "unknown command 'bogus'" -- "$SIAMESE" bogus
expect 0 -- "$SIAMESE" --help
grep -q '^usage:' "$TMP/out" || fail "--help does not print the usage on standard output"

# ---- predict -----------------------------------------------------------------------
usage "unknown option '--bogus'" -- "${p[@]}" --bogus img/a.png img/b.png
usage "unknown option '-x'" -- "${p[@]}" -x img/a.png img/b.png
usage "option --model needs a value" -- "$SIAMESE" predict --model
usage "option --threads needs a value" -- "$SIAMESE" predict --threads
usage "option '--threads' after the image paths" -- "$SIAMESE" predict img/a.png img/b.png --threads 2
for n in 0 -3 2000; do
    usage "--threads: $n is out of range (1 to 1024)" -- "${p[@]}" --threads "$n" img/a.png img/b.png
done
usage "--threads: 'four' is not a whole number" -- "${p[@]}" --threads four img/a.png img/b.png
usage "--threads: '2x' is not a whole number" -- "${p[@]}" --threads 2x img/a.png img/b.png
usage "--threads: '99999999999999999999' is not a whole number" -- \
    "${p[@]}" --threads 99999999999999999999 img/a.png img/b.png
usage "--device: 'gpu' is not auto, cpu, cuda or cuda:N" -- "$SIAMESE" predict --device gpu img/a.png img/b.png
usage "--device: 'cuda:x'" -- "$SIAMESE" predict --device cuda:x img/a.png img/b.png
usage "--device: 'cuda:-1'" -- "$SIAMESE" predict --device cuda:-1 img/a.png img/b.png
usage "two image paths" "got 1" -- "${p[@]}" img/a.png
usage "two image paths" "got 3" -- "${p[@]}" img/a.png img/b.png img/c.png
expect 0 -- "${p[@]}" --help
grep -q '^usage:' "$TMP/out" || fail "predict --help does not print the usage on standard output"

# ---- init --------------------------------------------------------------------------
out=$TMP/new.h5
usage "--out PATH is required" -- "$SIAMESE" init
usage "option --out needs a value" -- "$SIAMESE" init --out
usage "unknown option '--colour'" -- "$SIAMESE" init --colour red --out "$out"
# Input sizes the five 2x2 max-pools cannot take.
for n in 0 16 31 -105 1025; do
    usage "--input-shape: $n is out of range (32 to 1024)" -- "$SIAMESE" init --input-shape "$n" --out "$out"
done
usage "--input-shape: '10.5' is not a whole number" -- "$SIAMESE" init --input-shape 10.5 --out "$out"
usage "--backbone: 'resnet50' is not vgg16 or compact" -- "$SIAMESE" init --backbone resnet50 --out "$out"
usage "--widths: '4,4,8' is not 5 comma-separated channel counts" -- "$SIAMESE" init --widths 4,4,8 --out "$out"
usage "--widths: 0 is out of range (1 to 4096)" -- "$SIAMESE" init --widths 0,4,8,8,8 --out "$out"
usage "--widths: 'x' is not a whole number" -- "$SIAMESE" init --widths 4,x,8,8,8 --out "$out"
usage "--hidden: 0 is out of range (1 to 65536)" -- "$SIAMESE" init --hidden 0 --out "$out"
usage "--seed: -1 is out of range" -- "$SIAMESE" init --seed -1 --out "$out"
usage "unexpected argument 'extra'" -- "$SIAMESE" init --out "$out" extra
[ -e "$out" ] && fail "a refused init wrote $out"
# A place that cannot be written: a runtime failure (1), naming the file.
expect 1 "$TMP/no/such/dir/m.h5" "cannot create a file in $TMP/no/such/dir" "No such file or directory" -- \
    "$SIAMESE" init --out "$TMP/no/such/dir/m.h5"
ls "$TMP"/no* >/dev/null 2>&1 && fail "init left files behind"

finish
