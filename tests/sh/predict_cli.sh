# `siamese predict` end to end: two paths, the line protocol, errors, exit statuses.
. tests/shlib.sh
KERAS=tests/fixtures/keras_compact.h5
IMG=tests/fixtures/images

# Two images: one number, equal to Keras's for this pair (keras_compact_pairs.txt).
expect_status 0 ./siamese predict --model $KERAS $IMG/glyph_105x105_L.png $IMG/glyph_105x105_LA.png
want=$(awk '$1 == "glyph_105x105_L.png" && $2 == "glyph_105x105_LA.png" { print $3 }' tests/fixtures/keras_compact_pairs.txt)
awk -v w="$want" '{ d = $1 - w; exit !(d < 1e-5 && d > -1e-5) }' "$TMP/out" ||
    fail "predict printed '$(cat "$TMP/out")', Keras says $want"

# The default model is found from another directory too.
(cd "$TMP" && "$OLDPWD/siamese" predict "$OLDPWD/img/a.png" "$OLDPWD/img/b.png" >out 2>err) ||
    fail "predict from another directory: $(cat "$TMP/err")"
grep -Eq '^0\.[0-9]{6}$|^1\.000000$' "$TMP/out" || fail "default model output '$(cat "$TMP/out")'"

# The line protocol: pairs in, one line per pair out, errors on stderr.
printf '%s\n' img/a.png img/b.png img/a.png /nonexistent.png '' img/c.png img/d.jpg > "$TMP/pairs"
./siamese --model $KERAS < "$TMP/pairs" > "$TMP/out" 2> "$TMP/err"
status=$?
[ $status -eq 1 ] || fail "a failed pair must make the exit status 1, got $status"
[ "$(wc -l < "$TMP/out")" -eq 3 ] || fail "expected 3 result lines, got: $(cat "$TMP/out")"
[ "$(sed -n 2p "$TMP/out")" = error ] || fail "the failed pair's line should read 'error'"
grep -Evq '^(0\.[0-9]{6}|1\.000000|error)$' "$TMP/out" && fail "unexpected stdout: $(cat "$TMP/out")"
grep -q '/nonexistent.png: No such file or directory' "$TMP/err" || fail "stderr: $(cat "$TMP/err")"
# Same as `predict`, and all pairs good: exit 0.
printf '%s\n' img/a.png img/b.png | ./siamese predict --model $KERAS > "$TMP/one" 2>/dev/null ||
    fail "one good pair must exit 0"
[ "$(cat "$TMP/one")" = "$(sed -n 1p "$TMP/out")" ] || fail "predict and plain mode disagree"
# The blank line was skipped: the third pair is img/c.png with img/d.jpg.
want=$(./siamese predict --model $KERAS img/c.png img/d.jpg 2>/dev/null)
[ "$(sed -n 3p "$TMP/out")" = "$want" ] ||
    fail "third line '$(sed -n 3p "$TMP/out")', predict img/c.png img/d.jpg says '$want'"
# Blanks around a path (spaces, tabs, a CR of a DOS line end) are dropped.
printf '  img/a.png\t\n\timg/b.png \r\n' | ./siamese --model $KERAS >"$TMP/blanks" 2>"$TMP/err" ||
    fail "paths with blanks around them: $(cat "$TMP/err")"
[ "$(cat "$TMP/blanks")" = "$(cat "$TMP/one")" ] ||
    fail "paths with blanks around them gave '$(cat "$TMP/blanks")', expected '$(cat "$TMP/one")'"

# Omniglot pairs ($OMNIGLOT), as a user pipes them.
if [ -d "$OMNIGLOT/images_background" ]; then
    ls -d "$OMNIGLOT"/images_background/Latin/character0{1,2}/* | head -40 > "$TMP/omni"
    ./siamese --model $KERAS < "$TMP/omni" > "$TMP/out" 2> "$TMP/err" || fail "omniglot pairs: $(cat "$TMP/err")"
    [ "$(wc -l < "$TMP/out")" -eq 20 ] || fail "20 Omniglot pairs gave $(wc -l < "$TMP/out") lines"
else
    skip_part "no Omniglot at $OMNIGLOT: the Omniglot pairs"
fi

# The line protocol's input and output failing: said, exit status 1, never
# a silent success with results missing.
expect_status 1 ./siamese --model $KERAS < "$TMP"
expect_stderr "standard input: Is a directory"
if [ -w /dev/full ]; then
    ./siamese predict --model $KERAS img/a.png img/b.png > /dev/full 2> "$TMP/err"
    [ $? -eq 1 ] || fail "predict into a full disk must exit 1"
    expect_stderr "standard output: No space left on device"
    printf '%s\n' img/a.png img/b.png img/a.png img/c.png > "$TMP/pairs2"
    ./siamese --model $KERAS < "$TMP/pairs2" > /dev/full 2> "$TMP/err"
    [ $? -eq 1 ] || fail "the line protocol into a full disk must exit 1"
    expect_stderr "standard output: No space left on device"
    [ "$(grep -c 'standard output' "$TMP/err")" -eq 1 ] || fail "the write error said more than once: $(cat "$TMP/err")"
else
    skip_part "no writable /dev/full: output to a full disk"
fi
# A closed standard descriptor: its use fails as closed (said, exit 1).
./siamese --model $KERAS <&- > "$TMP/out" 2> "$TMP/err"
[ $? -eq 1 ] || fail "the line protocol with standard input closed must exit 1"
expect_stderr "standard input: Bad file descriptor"
[ -s "$TMP/out" ] && fail "standard input closed: results were printed: $(head -c 200 "$TMP/out")"
./siamese predict --model $KERAS img/a.png img/b.png >&- 2> "$TMP/err"
[ $? -eq 1 ] || fail "predict with standard output closed must exit 1"
expect_stderr "standard output: Bad file descriptor"
# A NUL byte ends no path early (it would name another file, or make a
# blank line that shifts the pairs): that pair is 'error', the rest align.
printf 'img/a.png\0x\nimg/b.png\n\0\nimg/c.png\nimg/a.png\nimg/b.png\n' |
    ./siamese --model $KERAS > "$TMP/out" 2> "$TMP/err"
[ $? -eq 1 ] || fail "a NUL byte in a path must make the exit status 1"
[ "$(tr '\n' ' ' < "$TMP/out")" = "error error $(sed -n 1p "$TMP/one") " ] ||
    fail "NUL bytes in paths: got '$(tr '\n' ' ' < "$TMP/out")'"
expect_stderr "standard input, line 1: a NUL byte in a path"
expect_stderr "standard input, line 3: a NUL byte in a path"
# A line longer than any path (600 MB without a newline, here within 512
# MB of address space) is read to its end, never held: that pair is
# 'error', the next is scored. (It was held until memory ran out, and the
# run then ended as if the input had: no line, no message, exit 0.)
(
    ulimit -v $((512 * 1024))
    { head -c 600000000 /dev/zero | tr '\0' x; printf '\nimg/a.png\nimg/a.png\nimg/b.png\n'; } |
        ./siamese --model $KERAS --threads 1 >"$TMP/out" 2>"$TMP/err"
)
[ $? -eq 1 ] || fail "a line longer than any path must make the exit status 1"
[ "$(tr '\n' ' ' < "$TMP/out")" = "error $(sed -n 1p "$TMP/one") " ] ||
    fail "a line longer than any path: got '$(tr '\n' ' ' < "$TMP/out")'"
expect_stderr "standard input, line 1: longer than any path (over 8192 bytes)"

# Bad weights: a clear message naming the file, exit 1.
printf 'not hdf5' > "$TMP/bad.h5"
expect_status 1 ./siamese predict --model "$TMP/bad.h5" img/a.png img/b.png
expect_stderr "$TMP/bad.h5: not an HDF5 file"
expect_status 1 ./siamese predict --model "$TMP/missing.h5" img/a.png img/b.png
expect_stderr "missing.h5: cannot open weights file: No such file or directory"
head -c 3000000 $KERAS > "$TMP/trunc.h5"
expect_status 1 ./siamese predict --model "$TMP/trunc.h5" img/a.png img/b.png
expect_stderr "trunc.h5: the HDF5 file is truncated: it has 3000000 bytes"

# Bad images.
expect_status 1 ./siamese predict --model $KERAS img/a.png "$TMP"
expect_stderr "is a directory, not an image"
: > "$TMP/empty.png"
expect_status 1 ./siamese predict --model $KERAS "$TMP/empty.png" img/a.png
expect_stderr "empty.png: the file is empty"
printf 'hello' > "$TMP/text.png"
expect_status 1 ./siamese predict --model $KERAS "$TMP/text.png" img/a.png
expect_stderr "text.png: not an image"

# Usage errors: exit 2 with the usage.
expect_status 2 ./siamese predict --bogus
expect_stderr "unknown option '--bogus'"
expect_status 2 ./siamese predict img/a.png
expect_stderr "two image paths"
expect_status 2 ./siamese predict --threads 0 img/a.png img/b.png
expect_stderr "threads: 0 is out of range"
expect_status 2 ./siamese frobnicate
expect_stderr "unknown command 'frobnicate'"
# A missing image in `siamese A B` is named as such, not as a command.
expect_status 1 ./siamese no/such.png img/b.png --model $KERAS
expect_stderr "image 1: no/such.png: No such file or directory"
expect_status 1 ./siamese missing.jpg img/b.png --model $KERAS
expect_stderr "image 1: missing.jpg: No such file or directory"
expect_status 0 ./siamese predict --help
expect_stdout "usage: siamese predict"

# Memory: full VGG16 on one pair stays under 300 MB resident.
./siamese init --backbone vgg16 --out "$TMP/vgg16.h5" || fail "init vgg16"
/usr/bin/time -f '%M' -o "$TMP/rss" ./siamese predict --model "$TMP/vgg16.h5" img/a.png img/b.png \
    > /dev/null 2>&1 || fail "vgg16 predict"
rss_kb=$(tail -1 "$TMP/rss")
[ "$rss_kb" -lt 300000 ] || fail "VGG16 predict peaked at $rss_kb kB resident (limit 300 MB)"
echo "VGG16 one pair: peak resident $((rss_kb / 1024)) MB"
finish
