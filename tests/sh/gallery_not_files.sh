# A gallery folder holding, beside its images, entries named like images
# that are not image files: a named pipe nothing writes to (it once
# blocked `index` forever), a link to a device (/dev/null here; one to
# /dev/zero was read until memory ran out), a sparse file of 3 GB (once
# read whole before its size refused it), a broken link and a loop of
# links (once dropped without a word). `index` finishes, names each with
# what is wrong, records it as undecodable and exits 0; `rank` of the
# folder does the same. No Omniglot needed: copies of img/*.png.
. tests/shlib.sh
M=$TMP/tiny.h5
tiny_model "$M"
common=(--model "$M" --device cpu --threads 1)
g=$TMP/gallery
mkdir -p "$g"
cp img/a.png img/b.png img/c.png "$g/"
mkfifo "$g/pipe.jpg"
ln -s /dev/null "$g/device.png"
truncate -s 3G "$g/huge.png"
ln -s "$g/nowhere.png" "$g/broken.png"
ln -s "$g/loop2.png" "$g/loop1.png"
ln -s "$g/loop1.png" "$g/loop2.png"
declare -A why=(
    [pipe.jpg]="a named pipe (FIFO) that nothing wrote to"
    [device.png]="is a device or socket, not an image file"
    [huge.png]="the file is larger than 2 GB"
    [broken.png]="No such file or directory"
    [loop1.png]="Too many levels of symbolic links"
    [loop2.png]="Too many levels of symbolic links"
)

# named FILE: each entry is named in $TMP/err with why.
named() {
    local f
    for f in "${!why[@]}"; do
        grep -qF "$g/$f: ${why[$f]}" "$TMP/err" || fail "$1: $f not named with '${why[$f]}'"
    done
}
# (The address space bounded to 1 GiB: reading the 3 GB file fails.)
bounded() { (ulimit -v $((1024 * 1024)) && exec timeout 30 "$@"); }

CASES=$((CASES + 1))
bounded "$SIAMESE" index "${common[@]}" "$g" --out "$TMP/g.h5" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 0 ] || fail "index: exit status $rc, expected 0: $(cat "$TMP/err")"
grep -qx "$TMP/g.h5: 9 entries: 9 embedded (9 new, 0 changed), 0 kept, 0 removed" "$TMP/out" ||
    fail "index: $(cat "$TMP/out")"
grep -q "warning: 6 files did not decode" "$TMP/err" || fail "index: $(cat "$TMP/err")"
named index
expect 0 -- "$SIAMESE" rank "${common[@]}" --exact --top 0 img/a.png "$TMP/g.h5"
[ "$(wc -l <"$TMP/out")" = 3 ] || fail "rank of the index: $(cat "$TMP/out")"

CASES=$((CASES + 1))
bounded "$SIAMESE" rank "${common[@]}" --top 0 img/a.png "$g" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 0 ] || fail "rank of the folder: exit status $rc, expected 0: $(cat "$TMP/err")"
[ "$(wc -l <"$TMP/out")" = 3 ] || fail "rank of the folder: $(cat "$TMP/out")"
finish
