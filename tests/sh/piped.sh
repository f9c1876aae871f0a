#!/usr/bin/env bash
# The line protocol of plain `siamese` with pipes: pairs of paths in, one
# line per pair out (the score, or 'error' with the reason on stderr), and
# nothing else on standard output, --plain or not.
d=../shared/omniglot/images_background/Alphabet_of_the_Magi/character01
[ -d "$d" ] || { echo "SKIP: no Omniglot images at $d"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
a=$d/0709_01.png b=$d/0709_02.png c=$d/0709_03.png

ref=$(./siamese predict "$a" "$b" 2>/dev/null) || fail "siamese predict failed"
[[ $ref =~ ^[01]\.[0-9]{6}$ ]] || fail "predict printed '$ref'"

# Two pairs (a blank line between them is skipped): two lines, the first
# one as predict says.
printf '%s\n%s\n\n%s\n%s\n' "$a" "$b" "$a" "$c" | ./siamese >"$tmp/out" 2>"$tmp/err" ||
    fail "exit status $? for good pairs: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/out")" -eq 2 ] || fail "expected 2 lines, got: $(cat "$tmp/out")"
grep -Evq '^[01]\.[0-9]{6}$' "$tmp/out" && fail "not only scores on stdout: $(cat "$tmp/out")"
[ "$(head -1 "$tmp/out")" = "$ref" ] || fail "first line $(head -1 "$tmp/out"), predict says $ref"

# A bad path: 'error' in its place, the next pair still scored, exit 1,
# the reason on stderr naming the file.
printf '%s\n%s\n%s\n%s\n' "$a" no/such.png "$a" "$b" | ./siamese --plain >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "a bad path should exit 1"
[ "$(cat "$tmp/out")" = "error
$ref" ] || fail "expected 'error' then the score, got: $(cat "$tmp/out")"
grep -q 'no/such.png' "$tmp/err" || fail "stderr does not name the file: $(cat "$tmp/err")"
grep -q 'Input image' "$tmp/out" "$tmp/err" && fail "a prompt was printed"

# A path without its pair at the end: reported, exit 1, nothing on stdout.
printf '%s\n' "$a" | ./siamese >"$tmp/out" 2>"$tmp/err"
[ $? -eq 1 ] || fail "an odd path should exit 1"
[ -s "$tmp/out" ] && fail "stdout should be empty: $(cat "$tmp/out")"
exit 0
