# Plain `siamese` with pipes, as the TUI issue asks: pairs of Omniglot paths
# in, exactly one line per pair out and nothing else on stdout (no prompt,
# --plain or not; the reasons for 'error' lines go to stderr).
. tests/shlib.sh
d=$OMNIGLOT/images_background/Alphabet_of_the_Magi/character01
[ -d "$d" ] || { echo "SKIP: no Omniglot images at $d"; exit 77; }
a=$d/0709_01.png b=$d/0709_02.png c=$d/0709_03.png

ref=$(./siamese predict "$a" "$b" 2>/dev/null) || fail "siamese predict failed"
for plain in "" --plain; do
    printf '%s\n' "$a" "$b" "$a" no/such.png "$a" "$c" | ./siamese $plain >"$TMP/out" 2>"$TMP/err"
    [ $? -eq 1 ] || fail "$plain: a bad path should make the exit status 1"
    [ "$(wc -l <"$TMP/out")" -eq 3 ] || fail "$plain: expected 3 lines, got: $(cat "$TMP/out")"
    grep -Evq '^([01]\.[0-9]{6}|error)$' "$TMP/out" && fail "$plain: not only results on stdout: $(cat "$TMP/out")"
    [ "$(sed -n 1p "$TMP/out")" = "$ref" ] || fail "$plain: first line $(sed -n 1p "$TMP/out"), predict says $ref"
    [ "$(sed -n 2p "$TMP/out")" = error ] || fail "$plain: the bad pair's line should read 'error'"
    grep -q 'no/such.png' "$TMP/err" || fail "$plain: stderr does not name the file: $(cat "$TMP/err")"
    grep -q 'Input image' "$TMP/out" "$TMP/err" && fail "$plain: a prompt was printed"
done
finish
