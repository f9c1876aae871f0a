# Plain `siamese` with pipes, as the TUI issue asks: pairs of Omniglot paths
# in, exactly one line per pair out and nothing else on stdout (no prompt,
# --plain or not; the reasons for 'error' lines go to stderr).
. tests/shlib.sh
d=$OMNIGLOT/images_background/Alphabet_of_the_Magi/character01
need_omniglot "$d"
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
# --verdict: each score followed by SAME or DIFFERENT at the threshold, still
# one line per pair; without it the lines hold the number alone (above).
printf '%s\n' "$a" "$b" "$a" no/such.png | ./siamese --verdict >"$TMP/out" 2>"$TMP/err"
[ "$(sed -n 1p "$TMP/out")" = "$ref SAME" ] || fail "--verdict: first line '$(sed -n 1p "$TMP/out")', expected '$ref SAME'"
[ "$(sed -n 2p "$TMP/out")" = error ] || fail "--verdict: the bad pair's line should read 'error'"
printf '%s\n' "$a" "$b" | ./siamese --verdict --threshold 1 >"$TMP/out" 2>"$TMP/err"
[ "$(cat "$TMP/out")" = "$ref DIFFERENT" ] || fail "--verdict --threshold 1: '$(cat "$TMP/out")', expected '$ref DIFFERENT'"
# The threshold itself is SAME ("from X up"): a model whose output bias
# saturates the sigmoid scores 1 exactly, which --threshold 1 calls SAME.
cp model_data/siamese_omniglot.h5 "$TMP/sure.h5" 2>/dev/null || ./siamese init --backbone compact --out "$TMP/sure.h5" >/dev/null
"$H5EDIT" "$TMP/sure.h5" set dense_2 1 0 100 || fail "h5edit: the output bias"
printf '%s\n' "$a" "$b" | ./siamese --model "$TMP/sure.h5" --verdict --threshold 1 >"$TMP/out" 2>"$TMP/err"
[ "$(cat "$TMP/out")" = "1.000000 SAME" ] || fail "a score of 1 at --threshold 1: '$(cat "$TMP/out")', expected '1.000000 SAME' $(cat "$TMP/err")"
./siamese predict "$a" "$b" --verdict >"$TMP/out" 2>"$TMP/err" || fail "predict --verdict failed"
[ "$(cat "$TMP/out")" = "$ref SAME" ] || fail "predict --verdict: '$(cat "$TMP/out")'"
# The line protocol takes each line as the path it is: no ~, no quotes.
cp "$a" "$TMP/'q'.png"
printf '%s\n' "$TMP/'q'.png" "$b" | ./siamese >"$TMP/out" 2>"$TMP/err"
[ "$(cat "$TMP/out")" = "$ref" ] || fail "a name with quotes in the line protocol: '$(cat "$TMP/out")' $(cat "$TMP/err")"
finish
