# siamese eval in both formats (runs written from images_evaluation by
# tests/make_runs.sh into a scratch folder; within-alphabet episodes with
# verification) and siamese rank's output, on a small untrained model:
# these check the formats and the plumbing; the numbers' rules (ties,
# drawers, alphabets) are in tests/test_eval.c.
. tests/shlib.sh
data=$OMNIGLOT
need_omniglot "$data/images_evaluation"
T=$TMP
./siamese init --backbone compact --input-shape 32 --seed 3 --out "$T/m.h5" >/dev/null || fail "init"
common=(--model "$T/m.h5" --device cpu --threads 2)

tests/make_runs.sh "$data/images_evaluation" "$T/runs" 3 >/dev/null || fail "make_runs"
./siamese eval "${common[@]}" --runs "$T/runs" >"$T/runs.log" 2>&1 || { cat "$T/runs.log"; fail "eval --runs"; }
[ "$(grep -c '^run0[123] *error *[0-9.]*%  ([0-9]* of 20 wrong)$' "$T/runs.log")" -eq 3 ] || { cat "$T/runs.log"; fail "per-run lines"; }
grep -q '^mean error [0-9.]*% over 3 runs (accuracy [0-9.]*%)$' "$T/runs.log" || fail "mean error line"

./siamese eval "${common[@]}" "$data" --ways 20 --episodes 30 --pairs 40 >"$T/ep.log" 2>&1 || { cat "$T/ep.log"; fail "eval episodes"; }
grep -q "dataset $data/images_evaluation: Omniglot" "$T/ep.log" || { cat "$T/ep.log"; fail "dataset line"; }
grep -q '^20-way 1-shot within-alphabet: accuracy [0-9.]*% (95% CI [0-9.]*% to [0-9.]*%), [0-9]* of 30 episodes' "$T/ep.log" || { cat "$T/ep.log"; fail "accuracy line"; }
grep -q '^verification (40 same and 40 different pairs): accuracy at 0.5 [0-9.]*%, ROC AUC 0\.[0-9]*$' "$T/ep.log" || fail "verification line"
expect_status 1 ./siamese eval "${common[@]}" "$data/images_evaluation" --ways 60 --episodes 5 --pairs 0
expect_stderr "no alphabet has 60 characters"
expect_status 2 ./siamese eval "${common[@]}"
# A training dataset's folder (no images_evaluation/) is refused, pointing
# to its images_background (read as it was, that became one alphabet of the
# training classes, evaluated as if it were new ones).
small_dataset "$T/trainset"
expect_status 1 ./siamese eval "${common[@]}" "$T/trainset" --ways 2 --episodes 2 --pairs 2
expect_stderr "$T/trainset holds images_background/ (training images) but no images_evaluation/"
expect_stderr "($T/trainset/images_background to measure on the training images)"
expect_status 2 tests/make_runs.sh
expect_stderr "usage: tests/make_runs.sh EVAL_DIR OUT"

# rank: the top N in non-increasing order, from the gallery only; broken
# files are left out with a warning.
g=$T/gallery
mkdir -p "$g/sub"
cp "$data"/images_evaluation/Angelic/character01/*_0[1-4].png "$g/"
cp "$data"/images_evaluation/Angelic/character02/*_0[1-3].png "$g/sub/"
printf 'junk' >"$g/broken.png"
echo "x" >"$g/readme.txt"
q=$(ls "$data"/images_evaluation/Angelic/character01/*_05.png)
./siamese rank "${common[@]}" --top 5 "$q" "$g" >"$T/rank.log" 2>"$T/rank.err" || { cat "$T/rank.err"; fail "rank"; }
[ "$(wc -l <"$T/rank.log")" -eq 5 ] || { cat "$T/rank.log"; fail "top 5"; }
awk '{ if (NR != $1) exit 1; if (NR > 1 && $2 > prev) exit 1; prev = $2 }' "$T/rank.log" || { cat "$T/rank.log"; fail "order"; }
awk '{print $3}' "$T/rank.log" | grep -v "^$g/" && fail "a path outside the gallery"
# Each file left out is named with its reason.
grep -q "broken.png: not an image (expected PNG" "$T/rank.err" || fail "broken file warning: $(cat "$T/rank.err")"
head -c 300 img/a.png >"$g/cut.png"
./siamese rank "${common[@]}" --top 1 "$q" "$g" >/dev/null 2>"$T/rank.err" || fail "rank with a cut file"
grep -q "cut.png: the PNG file is truncated" "$T/rank.err" || fail "truncated file warning: $(cat "$T/rank.err")"
rm "$g/cut.png"
./siamese rank "${common[@]}" --top 0 "$q" "$g" 2>/dev/null | wc -l | grep -qx 7 || fail "--top 0 lists all 7"
# No progress line when stderr is a file; one when forced, or in a terminal.
grep -q "images embedded" "$T/rank.err" && fail "progress written to a file"
SIAMESE_PROGRESS=1 ./siamese rank "${common[@]}" "$q" "$g" 2>"$T/rank.err" >/dev/null
grep -q "8/8 images embedded in [0-9]*s ([0-9.]*/s)" "$T/rank.err" || { cat "$T/rank.err"; fail "progress summary"; }
script -qec "./siamese rank ${common[*]} $q $g >/dev/null" /dev/null >"$T/tty.log" </dev/null || fail "rank in a terminal"
grep -q "8/8 images embedded" "$T/tty.log" || { cat "$T/tty.log"; fail "progress in a terminal"; }
# The query's own file (here under other names, two hard links next to
# each other in path order) is left out, under every name.
ln "$q" "$g/sub/same.png"
ln "$q" "$g/sub/same2.png"
./siamese rank "${common[@]}" --top 0 "$q" "$g" >"$T/rank.log" 2>"$T/rank.err" || fail "rank with the query inside"
for n in same same2; do
    grep -q "the query is in the gallery ($g/sub/$n.png): left out of the ranking" "$T/rank.err" || { cat "$T/rank.err"; fail "query note for $n.png"; }
done
grep -q same "$T/rank.log" && fail "the query ranked"
rm "$g/sub/same2.png"
[ "$(wc -l <"$T/rank.log")" -eq 7 ] || { cat "$T/rank.log"; fail "7 images besides the query"; }
mkdir "$T/alone" && cp "$q" "$T/alone/q.png"
expect_status 1 ./siamese rank "${common[@]}" "$T/alone/q.png" "$T/alone"
expect_stderr "no image files found but the query"
# One of each, said in the singular ("1 entries", "none of the 1 images").
./siamese index "${common[@]}" "$T/alone" --out "$T/alone.h5" >"$T/out" 2>/dev/null || fail "index one image"
grep -qx "$T/alone.h5: 1 entry: 1 embedded (1 new, 0 changed), 0 kept, 0 removed" "$T/out" || fail "index of one: $(cat "$T/out")"
mkdir "$T/onebad" && printf 'junk' >"$T/onebad/x.png"
expect_status 1 ./siamese rank "${common[@]}" "$q" "$T/onebad"
expect_stderr "$T/onebad: its only image could not be read"
expect_status 1 ./siamese rank "${common[@]}" "$T/none.png" "$g"
expect_stderr "the query: $T/none.png"
expect_status 2 ./siamese rank "${common[@]}" "$q"
# A file name holding a newline and an escape sequence is listed on one
# line, escaped (text_escape), as every string from a file.
mkdir "$T/odd" && cp "$g"/*.png "$T/odd/" && rm "$T/odd/broken.png"
cp "$g/sub/"*_01.png "$T/odd/"$'new\nline\e[2J.png'
./siamese rank "${common[@]}" --top 0 "$q" "$T/odd" >"$T/rank.log" 2>"$T/rank.err" || fail "rank with an odd name"
grep -qF 'new\nline\x1b[2J.png' "$T/rank.log" || { cat -A "$T/rank.log"; fail "the odd name is not escaped"; }
[ "$(wc -l <"$T/rank.log")" -eq 5 ] || { cat -A "$T/rank.log"; fail "5 lines for 5 images"; }
# Equal scores rank in path order, on a folder and on an index (whose heap
# of the best keeps the earliest entries): three copies of one drawing.
mkdir "$T/dup"
for n in c b a; do cp "$g/sub/"*_01.png "$T/dup/$n.png"; done
./siamese rank "${common[@]}" --top 0 "$q" "$T/dup" >"$T/rank.log" 2>"$T/rank.err" || fail "rank copies"
[ "$(awk '{print $2}' "$T/rank.log" | sort -u | wc -l)" -eq 1 ] || { cat "$T/rank.log"; fail "copies scored differently"; }
[ "$(awk '{print $3}' "$T/rank.log" | tr '\n' ' ')" = "$T/dup/a.png $T/dup/b.png $T/dup/c.png " ] ||
    { cat "$T/rank.log"; fail "equal scores on a folder not in path order"; }
./siamese index "${common[@]}" "$T/dup" --out "$T/dup.h5" >/dev/null 2>&1 || fail "index copies"
for top in 2 0; do
    ./siamese rank "${common[@]}" --top $top "$q" "$T/dup.h5" >"$T/rank.log" 2>"$T/rank.err" || fail "rank copies on an index"
    want="$T/dup/a.png $T/dup/b.png "
    [ $top -eq 0 ] && want="$want$T/dup/c.png "
    [ "$(awk '{print $3}' "$T/rank.log" | tr '\n' ' ')" = "$want" ] ||
        { cat "$T/rank.log"; fail "equal scores on an index, --top $top: not the first in path order"; }
done
finish
