#!/usr/bin/env bash
# Bad command lines for the program and every command: one line naming the
# option and what is wrong, then one line pointing to the command's --help
# (never the whole usage), exit status 2. A bad value is refused before
# anything is loaded or written. Options may follow the operands (GNU
# getopt's order).
. tests/shlib.sh
M=$TMP/tiny.h5
tiny_model "$M"
usage() {  # usage PHRASE... -- COMMAND...: exit 2, the phrases, the pointer, two lines
    expect 2 "$@"
    local cmd=${*: -1} name
    for name in predict init train eval rank bench; do
        printf '%s\n' "$@" | grep -qx "$name" && cmd=$name && break
    done
    grep -q "^'siamese $cmd --help' lists the options\.$" "$TMP/err" ||
        fail "no pointer to 'siamese $cmd --help' for: ${*: -3}"
    [ "$(wc -l <"$TMP/err")" -eq 2 ] || fail "more than two lines on standard error for: ${*: -3}"
}
p=("$SIAMESE" predict --device cpu --model "$M")

# ---- the program -------------------------------------------------------------------
expect 2 "unknown command 'bogus'" "'siamese --help' lists the commands." -- "$SIAMESE" bogus
[ "$(wc -l <"$TMP/err")" -eq 2 ] || fail "an unknown command prints more than two lines"
expect 0 -- "$SIAMESE" --help
grep -q '^usage:' "$TMP/out" || fail "--help does not print the usage on standard output"
# Every command's --help has the same parts: the usage, '-h, --help', the
# exit statuses; and the shared options are worded alike.
for cmd in predict init train eval index rank bench; do
    expect 0 -- "$SIAMESE" "$cmd" --help
    grep -q "^usage: siamese $cmd " "$TMP/out" || fail "$cmd --help: no usage line"
    grep -q '^  -h, --help  *this text$' "$TMP/out" || fail "$cmd --help lacks '-h, --help'"
    grep -q '^Exit status: 0 ' "$TMP/out" || fail "$cmd --help lacks the exit statuses"
    if grep -q -- '--device' "$TMP/out"; then
        grep -qE -- '^  --device DEV +auto, cpu, cuda or cuda:N \(default (auto|cpu)\)$' "$TMP/out" ||
            fail "$cmd --help words --device otherwise: $(grep -- '--device' "$TMP/out")"
    fi
    if grep -q -- '--threads' "$TMP/out"; then
        grep -qE -- '^  --threads N +CPU threads( at most)? \(default: all cores' "$TMP/out" ||
            fail "$cmd --help words --threads otherwise: $(grep -- '--threads' "$TMP/out")"
    fi
done
# An image where the command goes: predict's operands.
expect 0 -- "$SIAMESE" img/a.png img/b.png --device cpu --model "$M"
grep -qE '^[01]\.[0-9]{6}$' "$TMP/out" || fail "'siamese A B' did not print a score"

# ---- predict -----------------------------------------------------------------------
usage "unknown option '--bogus'" -- "${p[@]}" --bogus img/a.png img/b.png
usage "unknown option '-x'" -- "${p[@]}" -x img/a.png img/b.png
usage "option --model needs a value" -- "$SIAMESE" predict --model
usage "option --threads needs a value" -- "$SIAMESE" predict --threads
usage "option --plain takes no value" -- "${p[@]}" --plain=yes
usage "unknown option '--bogus'" -- "${p[@]}" img/a.png img/b.png --bogus
# Options after the operands, as GNU tools take them; "--" ends the options.
expect 0 -- "$SIAMESE" predict img/a.png img/b.png --threads 2 --device cpu --model "$M"
grep -qE '^[01]\.[0-9]{6}$' "$TMP/out" || fail "options after the images: no score"
expect 0 -- "$SIAMESE" predict --device cpu img/a.png --model "$M" img/b.png
expect 1 "image 1: -x.png" -- "$SIAMESE" predict --device cpu --model "$M" -- -x.png img/b.png
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
usage "--out PATH is required" -- "$SIAMESE" init --out ""
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
usage "unknown option '--colour'" -- "$SIAMESE" init --out "$out" --colour red
[ -e "$out" ] && fail "a refused init wrote $out"
# A place that cannot be written: a runtime failure (1), naming the file.
expect 1 "$TMP/no/such/dir/m.h5" "cannot create a file in $TMP/no/such/dir" "No such file or directory" -- \
    "$SIAMESE" init --out "$TMP/no/such/dir/m.h5"
ls "$TMP"/no* >/dev/null 2>&1 && fail "init left files behind"
# --out naming a file that is not weights (an image, a gallery index): not
# replaced, said with what the file is (init overwrote any file before);
# weights and an empty file are replaced.
cp img/a.png "$TMP/picture.png"
expect 1 "$TMP/picture.png: not an HDF5 file" "not replaced" -- "$SIAMESE" init --out "$TMP/picture.png"
cmp -s img/a.png "$TMP/picture.png" || fail "init replaced an image"
"$SIAMESE" index --synthetic 3 --out "$TMP/synthetic.h5" >/dev/null 2>&1 || fail "index --synthetic"
cp "$TMP/synthetic.h5" "$TMP/synthetic.before"
expect 1 "$TMP/synthetic.h5 is a gallery index" "not replaced" -- "$SIAMESE" init --out "$TMP/synthetic.h5"
cmp -s "$TMP/synthetic.before" "$TMP/synthetic.h5" || fail "init replaced a gallery index"
: >"$TMP/empty.h5"
expect 0 -- "$SIAMESE" init --widths 4,4,8,8,8 --hidden 8 --out "$TMP/empty.h5"
expect 0 -- "$SIAMESE" init --widths 4,4,8,8,8 --hidden 8 --out "$TMP/empty.h5"

# ---- eval, rank, bench, train: the same answer to a bad option ---------------------
usage "unknown option '--bogus'" -- "$SIAMESE" eval img --bogus
usage "option --ways needs a value" -- "$SIAMESE" eval img --ways
usage "eval needs one folder" -- "$SIAMESE" eval
usage "unknown option '--bogus'" -- "$SIAMESE" rank img/a.png img --bogus
usage "option --top needs a value" -- "$SIAMESE" rank img/a.png img --top
# The two stages' options on a folder (every image scored exactly there):
# refused, not ignored.
usage "--exact applies to an index" "and img is a folder" -- "$SIAMESE" rank img/a.png img --exact
usage "--shortlist applies to an index" "and img is a folder" -- "$SIAMESE" rank --shortlist 5 img/a.png img
# On an index: --exact scores every entry, --shortlist N only N of them;
# given together, refused (the shortlist was ignored), either way round.
expect 0 -- "$SIAMESE" index --device cpu --model "$M" img --out "$TMP/gallery.h5"
usage "--exact and --shortlist exclude each other" -- "$SIAMESE" rank --device cpu --model "$M" \
    img/a.png "$TMP/gallery.h5" --exact --shortlist 5
usage "--exact and --shortlist exclude each other" -- "$SIAMESE" rank --shortlist 5 --exact img/a.png img
usage "unknown option '--bogus'" -- "$SIAMESE" bench --bogus
usage "option --mode needs a value" -- "$SIAMESE" bench --mode
usage "unknown option '--bogus'" -- "$SIAMESE" train --bogus
usage "option --plain takes no value" -- "$SIAMESE" train --plain=1

finish
