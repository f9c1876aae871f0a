#!/usr/bin/env bash
# Bad images given to predict: each case exits 1 with a message that names
# the file and what is wrong, and never crashes; odd but valid images
# (1x1, 16-bit, grey, grey+alpha, palette, CMYK, animated, misleading
# extensions, names with spaces and non-ASCII characters) are scored.
. tests/shlib.sh
M=$TMP/tiny.h5
tiny_model "$M"
GOOD=img/a.png
F=tests/fixtures/formats
predict() { "$SIAMESE" predict --device cpu --threads 1 --model "$M" "$@"; }
# bad FILE PHRASE...: refused as the first image and as the second.
bad() {
    local f=$1
    shift
    expect 1 "image 1: $f" "$@" -- predict "$f" "$GOOD"
    expect 1 "image 2: $f" "$@" -- predict "$GOOD" "$f"
}
# good FILE [SAME_AS]: scored; with SAME_AS, the same score as that file.
good() {
    expect 0 -- predict "$1" "$GOOD"
    local got want
    got=$(cat "$TMP/out")
    [[ $got =~ ^[01]\.[0-9]{6}$ ]] || fail "$1: printed '$got', not a probability"
    if [ $# -gt 1 ]; then
        predict "$2" "$GOOD" >"$TMP/out2" 2>/dev/null
        want=$(cat "$TMP/out2")
        [ "$got" = "$want" ] || fail "$1 scored $got, $2 scored $want; expected the same"
    fi
}
# patch FILE OFFSET HEXBYTES: overwrite bytes in place.
patch() { printf '%b' "$(sed 's/../\\x&/g' <<<"$3")" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }

# ---- files that are not there or not readable --------------------------------
bad "$TMP/missing.png" "No such file or directory"
# A path of 2,000 characters (PATH_MAX is 4,096): the message once ended
# in "..." before the reason; it loses its middle instead.
long=$TMP$(printf '/%099d' $(seq 20))
mkdir -p "$long"
expect 1 "image 1: $TMP/" "...0" "/missing.png: No such file or directory" -- predict "$long/missing.png" "$GOOD"
mkdir "$TMP/folder.png"
bad "$TMP/folder.png" "is a directory"
# What is not a file: a named pipe nothing writes to (a FIFO x.jpg in a
# folder once blocked a run forever; bash's <(...) pipe is still read) and
# a device (a link to /dev/zero was read until memory ran out; /dev/null
# stands in for it here).
mkfifo "$TMP/pipe.jpg"
expect 1 "$TMP/pipe.jpg: a named pipe (FIFO) that nothing wrote to" -- \
    timeout 20 "$SIAMESE" predict --device cpu --threads 1 --model "$M" "$TMP/pipe.jpg" "$GOOD"
expect 0 -- "$SIAMESE" predict --device cpu --threads 1 --model "$M" <(cat "$GOOD") "$GOOD"
ln -s /dev/null "$TMP/device.png"
bad "$TMP/device.png" "is a device or socket, not an image file"
# Permissions: root reads everything, so as root the case runs as nobody.
cp "$GOOD" "$TMP/locked.png"
chmod 000 "$TMP/locked.png"
chmod 755 "$TMP"
chmod 644 "$M"
as_user=()
[ "$(id -u)" = 0 ] && as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
if "${as_user[@]}" test -x "$SIAMESE" -a -r "$M" -a -r "$GOOD" 2>/dev/null; then
    expect 1 "$TMP/locked.png" "Permission denied" -- \
        "${as_user[@]}" "$SIAMESE" predict --device cpu --threads 1 --model "$M" "$TMP/locked.png" "$GOOD"
else
    echo "note: the unreadable-file case needs a user who can run $SIAMESE; not run"
fi

# ---- broken files --------------------------------------------------------------
: >"$TMP/empty.png"
bad "$TMP/empty.png" "the file is empty"
printf 'just some text\n' >"$TMP/notes.png"
bad "$TMP/notes.png" "not an image" "PNG, JPEG"
# Files that are not images at all: "not an image", never a TGA of absurd
# size (TGA has no signature; only a consistent header makes a file one).
rand_bytes() {  # N SEED: N pseudo-random bytes (an LCG: the same bytes every run)
    local x=$2 i out=
    for ((i = 0; i < $1; i++)); do
        x=$(((x * 1103515245 + 12345) & 0x7fffffff))
        out+=$(printf '\\x%02x' $((x >> 16 & 255)))
    done
    printf "$out"
}
for seed in 1 2 3; do rand_bytes 100 $seed >"$TMP/random$seed.bin"; done
for f in README.md LICENSE /etc/passwd Makefile "$TMP"/random?.bin; do
    bad "$f" "not an image (expected PNG, JPEG"
    grep -q "megapixels\|TGA file" "$TMP/err" && fail "$f: $(cat "$TMP/err")"
done
cp README.md "$TMP/readme.tga"
bad "$TMP/readme.tga" "not a TGA image (its header: colour-map type is neither 0 nor 1)"
printf 'II*\0\10\0\0\0' >"$TMP/scan.png"
bad "$TMP/scan.png" "a TIFF file" "this program reads"
printf '8BPS\0\1\0\0\0\0\0\0\0\3' >"$TMP/layers.psd"
bad "$TMP/layers.psd" "Photoshop"
for src in img/a.png img/d.jpg tests/fixtures/images/strip_31x97_P.gif \
    tests/fixtures/images/tall_150x200_RGB.bmp tests/fixtures/images/noise_105x105_RGB.tga \
    tests/fixtures/images/glyph_106x105_L.pgm tests/fixtures/images/big_300x300_RGB.jpg; do
    size=$(stat -c %s "$src")
    name=$TMP/cut_$(basename "$src")
    head -c $((size * 2 / 3)) "$src" >"$name"
    bad "$name" "truncated"
done
head -c 20 img/a.png >"$TMP/cut_header.png"
bad "$TMP/cut_header.png" "PNG file is truncated"
# A PNG whose header says 0 pixels wide.
cp img/a.png "$TMP/zero_width.png"
patch "$TMP/zero_width.png" 16 00000000
bad "$TMP/zero_width.png" "PNG header is corrupt"
# A JPEG whose frame header claims 9 colour components (Pillow reads 1, 3, 4).
cp img/d.jpg "$TMP/bad_sof.jpg"
sof=$(LC_ALL=C grep -obUaP '\xff\xc0' "$TMP/bad_sof.jpg" | head -1 | cut -d: -f1)
patch "$TMP/bad_sof.jpg" $((sof + 9)) 09
bad "$TMP/bad_sof.jpg" "JPEG" "corrupt or not supported (libjpeg:"
# A JPEG Huffman table declaring more than 256 codes (stb_image 2.27 wrote
# past its tables: found by fuzzing): libjpeg's error, not an exit().
cp img/d.jpg "$TMP/bad_dht.jpg"
dht=$(LC_ALL=C grep -obUaP '\xff\xc4' "$TMP/bad_dht.jpg" | head -1 | cut -d: -f1)
patch "$TMP/bad_dht.jpg" $((dht + 5)) ffffffff
bad "$TMP/bad_dht.jpg" "JPEG data is corrupt or not supported (libjpeg: Bogus Huffman table definition)"
# A scan naming a Huffman table never defined, and a 12-bit JPEG (Pillow
# reads 8-bit samples only): libjpeg's errors.
bad tests/fixtures/jpeg/no_huffman_61x47.jpg "libjpeg: Huffman table 0x03 was not defined"
cp img/d.jpg "$TMP/deep.jpg"
patch "$TMP/deep.jpg" $((sof + 4)) 0c
bad "$TMP/deep.jpg" "libjpeg: Unsupported JPEG data precision 12"
# Fill bytes before the start-of-image marker: no JPEG to Pillow or
# libjpeg (stb_image took it for one).
{ printf '\xff'; cat img/d.jpg; } >"$TMP/fill_byte.jpg"
bad "$TMP/fill_byte.jpg" "not an image"
# A 16-bit PGM: stb_image 2.27 reads past its buffer converting one, so
# it is refused by name.
{ printf 'P5\n2 2\n65535\n'; printf '\0\1\2\3\4\5\6\7'; } >"$TMP/deep.pgm"
bad "$TMP/deep.pgm" "16-bit samples" "does not read"
# A BMP of unknown compression, 54 bytes declaring 62000x506 pixels: stb
# would decode it as raw, zero-filling (found by fuzzing).
bad tests/fuzz/corpus/image/regress-bmp-unknown-compression.bmp "BMP file has an unknown compression type"

# ---- headers that declare huge images: refused before anything is decoded ----
# PNG: signature + IHDR 20000x20000 (no pixel data at all).
printf '\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR\0\0\x4e\x20\0\0\x4e\x20\x08\x02\0\0\0\0\0\0\0' >"$TMP/huge.png"
bad "$TMP/huge.png" "20000x20000 pixels" "above the limit of 50 megapixels"
# GIF: logical screen 65535x65535.
printf 'GIF89a\xff\xff\xff\xff\0\0\0;' >"$TMP/huge.gif"
bad "$TMP/huge.gif" "65535x65535" "above the limit"
# BMP: 10000x6000 (60 megapixels), 24 bits.
printf 'BM\0\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0\x10\x27\0\0\x70\x17\0\0\x01\0\x18\0\0\0\0\0' >"$TMP/huge.bmp"
bad "$TMP/huge.bmp" "10000x6000" "above the limit"
# PPM: 8000x8000.
printf 'P6\n8000 8000\n255\n' >"$TMP/huge.ppm"
bad "$TMP/huge.ppm" "8000x8000" "above the limit"
# JPEG: a frame header of 65000x65000.
printf '\xff\xd8\xff\xc0\0\x11\x08\xfd\xe8\xfd\xe8\x03\x01\x22\0\x02\x11\x01\x03\x11\x01\xff\xd9' >"$TMP/huge.jpg"
bad "$TMP/huge.jpg" "65000x65000" "above the limit"

# ---- unusual but valid images: scored ------------------------------------------
good tests/fixtures/images/dot_1x1_RGB.ppm
good "$F/dot_1x1.png"
good "$F/grey16_40x30.png" "$F/grey16_40x30_ref.png"
good "$F/rgb16_40x30.png" "$F/rgb16_40x30_ref.png"
good tests/fixtures/images/glyph_105x105_L.png
good tests/fixtures/images/glyph_105x105_LA.png
good tests/fixtures/images/glyph_105x105_P.png
good "$F/palette_trns_40x30.png" "$F/palette_trns_40x30_ref.png"
good "$F/cmyk_48x40.jpg"
good "$F/anim_40x30.gif" "$F/anim_40x30_ref.png"
# The extension does not matter: the content does.
cp img/a.png "$TMP/really_a_png.jpg"
good "$TMP/really_a_png.jpg" img/a.png
cp img/d.jpg "$TMP/really_a_jpeg.gif"
good "$TMP/really_a_jpeg.gif" img/d.jpg
# Names with spaces and non-ASCII characters, in messages too.
mkdir -p "$TMP/my pictures"
cp img/b.png "$TMP/my pictures/ü ñ 日本 b.png"
good "$TMP/my pictures/ü ñ 日本 b.png" img/b.png
bad "$TMP/my pictures/ø missing é.png" "ø missing é.png" "No such file"

# ---- the line protocol goes on after a bad pair --------------------------------
printf '%s\n' "$GOOD" img/b.png "$TMP/notes.png" img/b.png "$GOOD" img/c.png >"$TMP/pairs"
CASES=$((CASES + 1))
predict <"$TMP/pairs" >"$TMP/out" 2>"$TMP/err"
rc=$?
[ $rc = 1 ] || fail "line protocol with a bad pair: exit status $rc, expected 1"
mapfile -t lines <"$TMP/out"
[ ${#lines[@]} = 3 ] && [ "${lines[1]}" = error ] && [[ ${lines[0]} =~ ^0\. ]] && [[ ${lines[2]} =~ ^0\. ]] ||
    fail "line protocol with a bad pair printed: ${lines[*]}"
grep -qF "$TMP/notes.png: not an image" "$TMP/err" || fail "line protocol: stderr does not name the bad file"

finish
