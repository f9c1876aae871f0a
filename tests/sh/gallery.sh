# siamese index and rank on an index: the index ranks as the folder does;
# the two-stage search agrees with --exact; updates embed only what
# changed; the query's own file is left out; a model mismatch, a damaged
# index and a failed or interrupted update are clear errors that leave the
# previous index as it was.
. tests/shlib.sh
data=$OMNIGLOT
need_omniglot "$data/images_evaluation"
# A trained model: the proxy stands in for a trained head (no scores of
# it are written here, only its two searches compared).
need_shipped_model
model=$SHIPPED_MODEL
common=(--model "$model" --device cpu --threads 2)
T=$TMP
g=$T/gallery
mkdir -p "$g"
cp -r "$data/images_evaluation/Angelic/." "$g/"  # 400 images in 20 folders
g=$(realpath "$g")
idx=$T/g.h5

SIAMESE_PROGRESS=1 ./siamese index "${common[@]}" "$g" --out "$idx" >"$T/out" 2>"$T/err" ||
    { cat "$T/err"; fail "index"; }
grep -qx "$idx: 400 entries: 400 embedded (400 new, 0 changed), 0 kept, 0 removed" "$T/out" ||
    { cat "$T/out"; fail "index summary"; }
grep -q "400/400 images embedded in" "$T/err" || { cat "$T/err"; fail "index progress"; }

# The index ranks as the folder does: the same images, the same scores.
q=$g/character01/0965_01.png
./siamese rank "${common[@]}" --top 0 "$q" "$g" >"$T/folder" 2>/dev/null || fail "rank the folder"
./siamese rank "${common[@]}" --top 0 "$q" "$idx" >"$T/index" 2>"$T/err" || fail "rank the index"
cmp -s "$T/folder" "$T/index" || { diff "$T/folder" "$T/index" | head; fail "index and folder differ"; }
[ "$(wc -l <"$T/index")" -eq 399 ] || fail "--top 0: $(wc -l <"$T/index") results, expected 399"
grep -q "the query is in the index ($q): left out of the ranking" "$T/err" ||
    { cat "$T/err"; fail "query note"; }
grep -q "changed or were removed" "$T/err" && { cat "$T/err"; fail "a current index called stale"; }
# Another name of the query's file (a hard link outside the gallery): its
# path is not in the index, but it is left out all the same, and the
# ranking is the one of the file's own path.
ln "$q" "$T/same.png"
./siamese rank "${common[@]}" --top 5 "$q" "$idx" >"$T/own" 2>/dev/null || fail "rank --top 5"
./siamese rank "${common[@]}" --top 5 "$T/same.png" "$idx" >"$T/link" 2>"$T/err" ||
    fail "rank a hard link of an entry"
grep -q "the query is in the index ($q): left out of the ranking" "$T/err" ||
    { cat "$T/err"; fail "hard link: no note"; }
cmp -s "$T/own" "$T/link" || { diff "$T/own" "$T/link"; fail "hard link: another ranking"; }
[ "$(wc -l <"$T/link")" -eq 5 ] || fail "hard link: $(wc -l <"$T/link") results, expected 5"
SIAMESE_PROGRESS=1 ./siamese rank "${common[@]}" "$q" "$idx" 2>"$T/err" >/dev/null
grep -q "400/400 entries scored in" "$T/err" || { cat "$T/err"; fail "rank's progress on an index"; }

# The two stages against the head on every entry: with a shortlist of 20
# (5% of the entries) the same 10 results on 19 queries of 20 or more. (A
# shortlist of 10 agrees on about two thirds: the check can fail.)
agree=0
for q in $(find "$g" -name '*.png' | sort | awk 'NR % 20 == 1'); do
    a=$(./siamese rank "${common[@]}" --shortlist 20 "$q" "$idx" 2>/dev/null)
    b=$(./siamese rank "${common[@]}" --exact "$q" "$idx" 2>/dev/null)
    [ -n "$a" ] && [ "$a" = "$b" ] && agree=$((agree + 1))
done
echo "two-stage search (shortlist 20 of 400) = exact on $agree of 20 queries"
[ "$agree" -ge 19 ] || fail "the two stages agree with --exact on $agree of 20 queries"

# Updates: new, changed, removed and undecodable files; other folders kept.
cp "$data/images_evaluation/Tengwar/character01/"*_01.png "$g/new.png"
touch -d '2001-01-01' "$g/character02/"*_02.png
rm "$g/character03/"*_03.png
printf 'junk' >"$g/broken.png"
./siamese index "${common[@]}" "$g" --out "$idx" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "update"; }
grep -qx "$idx: 401 entries: 3 embedded (2 new, 1 changed), 398 kept, 1 removed" "$T/out" ||
    { cat "$T/out"; fail "update summary"; }
grep -q "^siamese: warning: $g/broken.png: " "$T/err" || { cat "$T/err"; fail "broken file named"; }
grep -q "warning: 1 file did not decode and will not be ranked" "$T/err" || { cat "$T/err"; fail "broken file warning"; }
./siamese rank "${common[@]}" --top 0 "$q" "$idx" >"$T/index" 2>/dev/null || fail "rank after the update"
grep -q broken.png "$T/index" && fail "an undecodable file ranked"
grep -q "$g/new.png" "$T/index" || fail "the new file is not ranked"
[ "$(wc -l <"$T/index")" -eq 399 ] || fail "$(wc -l <"$T/index") results after the update, expected 399"
# The two stages with every entry on the shortlist: the same list (the
# shortlist holds neither the undecodable file nor the query's own entry).
./siamese rank "${common[@]}" --top 1000 --shortlist 1000 "$q" "$idx" >"$T/two" 2>/dev/null ||
    fail "rank in two stages after the update"
cmp -s "$T/index" "$T/two" || { diff "$T/index" "$T/two" | head; fail "two stages of every entry differ from --top 0"; }
# The second time only the undecodable file is tried again.
./siamese index "${common[@]}" "$g" --out "$idx" >"$T/out" 2>&1 || fail "a second update"
grep -qx "$idx: 401 entries: 1 embedded (0 new, 0 changed, 1 undecodable tried again), 400 kept, 0 removed" "$T/out" ||
    { cat "$T/out"; fail "nothing but the undecodable file to embed the second time"; }
# (A sibling whose name begins with the first folder's: its entries are
# not that folder's, and an update of the first must keep them.)
other=${g}2
mkdir -p "$other"
cp "$data/images_evaluation/Tengwar/character02/"*_0[1-5].png "$other/"
./siamese index "${common[@]}" "$other" --out "$idx" >"$T/out" 2>&1 || fail "index another folder"
grep -qx "$idx: 406 entries: 5 embedded (5 new, 0 changed), 401 kept, 0 removed" "$T/out" ||
    { cat "$T/out"; fail "another folder's entries added"; }
./siamese index "${common[@]}" "$g" --out "$idx" >"$T/out" 2>&1 || fail "update the first folder"
grep -qx "$idx: 406 entries: 1 embedded (0 new, 0 changed, 1 undecodable tried again), 405 kept, 0 removed" "$T/out" ||
    { cat "$T/out"; fail "the other folder's entries kept"; }
# Nothing changed: the file is not written again (at a million entries
# that would copy gigabytes).
rm "$g/broken.png"
./siamese index "${common[@]}" "$g" --out "$idx" >/dev/null 2>&1 || fail "update without the broken file"
inode=$(stat -c '%i %Y' "$idx")
./siamese index "${common[@]}" "$g" --out "$idx" >"$T/out" 2>&1 || fail "an update with nothing to do"
grep -qx "$idx: 405 entries: 0 embedded (0 new, 0 changed), 405 kept, 0 removed" "$T/out" ||
    { cat "$T/out"; fail "nothing to embed"; }
[ "$(stat -c '%i %Y' "$idx")" = "$inode" ] || fail "an update with nothing to do wrote the file again"

# Undecodable files: each named with why (ten, then a count), the rest
# indexed, exit 0. One repaired in place, its size and time as before (as
# a permission fixed), is tried again at the next update and ranked.
bad=$T/bad
mkdir -p "$bad"
cp "$g/character05/"*_0[12].png "$bad/"
for i in 01 02 03 04 05 06 07 08 09 10 11 12; do printf 'junk%s' $i >"$bad/b$i.png"; done
cp "$g/character05/"*_03.png "$T/fixed.png"
cp "$T/fixed.png" "$bad/fixed.png"
printf 'X' | dd of="$bad/fixed.png" bs=1 count=1 conv=notrunc 2>/dev/null
touch -d '2002-02-02' "$bad/fixed.png"
./siamese index "${common[@]}" "$bad" --out "$T/bad.h5" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "index a folder of undecodable files"; }
grep -qx "$T/bad.h5: 15 entries: 15 embedded (15 new, 0 changed), 0 kept, 0 removed" "$T/out" ||
    { cat "$T/out"; fail "undecodable files: summary"; }
[ "$(grep -c "^siamese: warning: $bad/[a-z0-9_]*\.png: ." "$T/err")" -eq 10 ] || { cat "$T/err"; fail "ten undecodable files named"; }
grep -q "^siamese: warning: $bad/b01.png: " "$T/err" || { cat "$T/err"; fail "the first undecodable file named"; }
grep -qx "siamese: warning: and 3 more" "$T/err" || { cat "$T/err"; fail "the rest counted"; }
grep -q "warning: 13 files did not decode and will not be ranked" "$T/err" || { cat "$T/err"; fail "undecodable: total"; }
cp "$T/fixed.png" "$bad/fixed.png"
touch -d '2002-02-02' "$bad/fixed.png"
./siamese index "${common[@]}" "$bad" --out "$T/bad.h5" >"$T/out" 2>"$T/err" || { cat "$T/err"; fail "update a folder of undecodable files"; }
grep -qx "$T/bad.h5: 15 entries: 13 embedded (0 new, 0 changed, 13 undecodable tried again), 2 kept, 0 removed" "$T/out" ||
    { cat "$T/out"; fail "undecodable files tried again"; }
grep -q "warning: 12 files did not decode" "$T/err" || { cat "$T/err"; fail "the repaired file still undecodable"; }
./siamese rank "${common[@]}" --top 0 "$q" "$T/bad.h5" 2>/dev/null | grep -q " $bad/fixed.png\$" ||
    fail "the file repaired in place is not ranked"
# A stale index (a file removed, one changed since): rank says which.
rm "$bad/fixed.png"
./siamese rank "${common[@]}" --top 0 "$q" "$T/bad.h5" >/dev/null 2>"$T/err" || fail "rank a stale index"
grep -q "warning: 1 of these results changed or were removed since $T/bad.h5 was indexed (the first: $bad/fixed.png)" "$T/err" ||
    { cat "$T/err"; fail "a removed file's result not flagged"; }
touch "$bad/"*_01.png
./siamese rank "${common[@]}" --top 0 "$q" "$T/bad.h5" >/dev/null 2>"$T/err" || fail "rank a stale index"
grep -q "warning: 2 of these results changed or were removed" "$T/err" ||
    { cat "$T/err"; fail "a changed file's result not flagged"; }

# Another model: refused, naming both; the index unchanged.
tiny_model "$T/tiny.h5"
cp "$idx" "$T/before.h5"
expect 1 "$idx was indexed with $model" "not with $T/tiny.h5" -- \
    ./siamese rank --model "$T/tiny.h5" --device cpu "$q" "$idx"
expect 1 "$idx was indexed with $model" -- ./siamese index --model "$T/tiny.h5" "$g" --out "$idx"
cmp -s "$idx" "$T/before.h5" || fail "the index changed after a refused update"

# The arithmetic: the CPU records "cpu fp32". An index whose features were
# computed in another (a GPU's tf32, forged here: this machine computes
# fp32 only) is refused by rank and by an update, naming the file, both
# arithmetics and the options that compute in its; the file unchanged.
# test_gallery checks the same with real bfloat16 features.
attr_of() { h5dump -a "$2" "$1" 2>/dev/null | sed -n 's/^ *(0): //p'; }
[ "$(attr_of "$idx" arithmetic)" = '"cpu fp32"' ] ||
    fail "the index records arithmetic $(attr_of "$idx" arithmetic), expected \"cpu fp32\""
cp "$idx" "$T/gpu.h5"
$H5EDIT "$T/gpu.h5" set-attr arithmetic "cuda tf32" || fail "h5edit set-attr"
cp "$T/gpu.h5" "$T/gpu_before.h5"
expect 1 "$T/gpu.h5 holds features computed in cuda tf32, not in cpu fp32" \
    "give --device cuda --precision tf32" -- ./siamese rank "${common[@]}" "$q" "$T/gpu.h5"
grep -q "NVIDIA_TF32_OVERRIDE" "$TMP/err" && fail "the hint names NVIDIA_TF32_OVERRIDE, which is not set"
# Where NVIDIA_TF32_OVERRIDE=0 forbids TF32, --precision tf32 computes fp32
# on a GPU too: the hint says to leave it out.
NVIDIA_TF32_OVERRIDE=0 expect 1 "$T/gpu.h5 holds features computed in cuda tf32, not in cpu fp32" \
    "give --device cuda --precision tf32 without NVIDIA_TF32_OVERRIDE=0" -- \
    ./siamese rank "${common[@]}" "$q" "$T/gpu.h5"
expect 1 "$T/gpu.h5 holds features computed in cuda tf32, not in cpu fp32" -- \
    ./siamese index "${common[@]}" "$g" --out "$T/gpu.h5"
cmp -s "$T/gpu.h5" "$T/gpu_before.h5" || fail "an index of another arithmetic changed after a refused update"
# An index written before the arithmetic was recorded ranks as before,
# with a note; an update keeps it unrecorded, with a note.
cp "$idx" "$T/old.h5"
$H5EDIT "$T/old.h5" drop-attr arithmetic || fail "h5edit drop-attr"
./siamese rank "${common[@]}" --top 0 "$q" "$idx" >"$T/new_rank" 2>/dev/null || fail "rank the index"
./siamese rank "${common[@]}" --top 0 "$q" "$T/old.h5" >"$T/old_rank" 2>"$T/err" || fail "rank an unrecorded index"
cmp -s "$T/new_rank" "$T/old_rank" || fail "an unrecorded index ranks otherwise"
grep -q "note: $T/old.h5 does not record the arithmetic" "$T/err" || { cat "$T/err"; fail "no note on an unrecorded index"; }
touch "$g/character01/"*_02.png
./siamese index "${common[@]}" "$g" --out "$T/old.h5" >"$T/out" 2>"$T/err" || fail "update an unrecorded index"
grep -q "note: $T/old.h5 recorded no arithmetic" "$T/err" || { cat "$T/err"; fail "no note on updating an unrecorded index"; }
[ -z "$(attr_of "$T/old.h5" arithmetic)" ] || fail "an updated unrecorded index claims an arithmetic"
rm "$T/gpu.h5" "$T/gpu_before.h5" "$T/old.h5"

# A failed update (a file-size limit) leaves the previous index and no
# temporary file.
touch "$g/character01/"*_01.png
(
    ulimit -f 1000
    exec ./siamese index "${common[@]}" "$g" --out "$idx"
) >"$T/out" 2>"$T/err"
[ $? -eq 1 ] || fail "an update over the file-size limit did not fail with 1"
grep -q "file-size limit" "$T/err" || { cat "$T/err"; fail "file-size limit message"; }
cmp -s "$idx" "$T/before.h5" || fail "the index changed after a failed update"
ls "$T"/*.tmp* >/dev/null 2>&1 && fail "a temporary file was left: $(ls "$T"/*.tmp*)"
expect 1 "cannot create a file in /nonexistent" -- ./siamese index "${common[@]}" "$g" --out /nonexistent/g.h5

# Interrupted: SIGINT during the embedding exits 130, index unchanged.
big=$T/big
mkdir -p "$big"
for i in 1 2 3; do cp -r "$data/images_evaluation/Tengwar" "$big/t$i"; done  # 1500 images
# interrupted_index OUT: an index of $big into OUT, sent SIGINT once it
# embeds; its exit status in rc, its messages in $T/err.
interrupted_index() {
    SIAMESE_PROGRESS=1 ./siamese index "${common[@]}" "$big" --out "$1" >"$T/out" 2>"$T/err" &
    local pid=$!
    for _ in $(seq 600); do grep -q "images embedded" "$T/err" && break; sleep 0.1; done
    kill -INT $pid
    wait $pid
    rc=$?
}
interrupted_index "$idx"
[ $rc -eq 130 ] || fail "SIGINT during an update: exit $rc, expected 130"
grep -q "interrupted; the previous file is unchanged" "$T/err" || { cat "$T/err"; fail "interrupt message"; }
cmp -s "$idx" "$T/before.h5" || fail "the index changed after an interrupted update"
ls "$T"/*.tmp* >/dev/null 2>&1 && fail "a temporary file was left after SIGINT"
# The same into a new file: it says that nothing was written (not that a
# previous file, which there is not, is unchanged).
interrupted_index "$T/new.h5"
[ $rc -eq 130 ] || fail "SIGINT during a first index: exit $rc, expected 130"
grep -q "new.h5: interrupted; no file was written" "$T/err" || { cat "$T/err"; fail "first index's interrupt message"; }
[ -e "$T/new.h5" ] && fail "an interrupted first index left $T/new.h5"
ls "$T"/new.h5.tmp* >/dev/null 2>&1 && fail "a temporary file was left after SIGINT of a first index"
# SIGKILL (no handler runs) leaves the temporary file; the next index of
# that file removes it, and only it: not one of a process still running
# (this shell's), nor one of another machine.
SIAMESE_PROGRESS=1 ./siamese index "${common[@]}" "$big" --out "$idx" >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 600); do grep -q "images embedded" "$T/err" && break; sleep 0.1; done
kill -KILL $pid
wait $pid
cmp -s "$idx" "$T/before.h5" || fail "the index changed after SIGKILL"
ls "$idx".tmp$pid* >/dev/null 2>&1 || fail "SIGKILL left no temporary file (the check below tests nothing)"
host=$(hostname)
: >"$idx.tmp$$.$host"
: >"$idx.tmp$pid.elsewhere"
# A user's own file that only looks like one (another word where ".tmp" is).
: >"$idx.bak$pid.$host"
touch "$other/"*_01.png
./siamese index "${common[@]}" "$other" --out "$idx" >"$T/out" 2>&1 || { cat "$T/out"; fail "index after SIGKILL"; }
ls "$idx".tmp$pid* 2>/dev/null | grep -qv elsewhere && fail "the temporary file of the killed index was left"
[ -e "$idx.tmp$$.$host" ] || fail "the temporary file of a running process was removed"
[ -e "$idx.tmp$pid.elsewhere" ] || fail "another machine's temporary file was removed"
[ -e "$idx.bak$pid.$host" ] || fail "a file not named as a temporary file ($idx.bak$pid.$host) was removed"
rm -f "$idx".tmp* "$idx.bak$pid.$host"
# Two updates of one index at once (the first held by SIGSTOP while the
# second runs): the one that ends second would drop the other's entries
# with its rename; it fails instead, and the file is the other's. (The
# first embeds 1500 images: on a quiet machine 180 were done before the
# poll below saw the first batch.)
SIAMESE_PROGRESS=1 ./siamese index "${common[@]}" "$big" --out "$T/race.h5" >"$T/out" 2>"$T/err" &
pid=$!
for _ in $(seq 600); do grep -q "images embedded" "$T/err" && break; sleep 0.1; done
kill -STOP $pid
./siamese index "${common[@]}" "$other" --out "$T/race.h5" >/dev/null 2>&1 || fail "the second of two updates"
cp "$T/race.h5" "$T/race_before.h5"
kill -CONT $pid
wait $pid
rc=$?
[ $rc -eq 1 ] || fail "the update that ended second: exit $rc, expected 1"
grep -q "$T/race.h5 was created by another process while this update ran" "$T/err" ||
    { cat "$T/err"; fail "the update that ended second: no message"; }
cmp -s "$T/race.h5" "$T/race_before.h5" || fail "the other update's index was replaced"
ls "$T"/race.h5.tmp* >/dev/null 2>&1 && fail "a temporary file was left by the update that ended second"

# Damaged or foreign files named as the index.
head -c 300000 "$idx" >"$T/cut.h5"
expect 1 "$T/cut.h5" -- ./siamese rank "${common[@]}" "$q" "$T/cut.h5"
expect 1 "$model: not a gallery index" -- ./siamese rank "${common[@]}" "$q" "$model"
printf 'junk' >"$T/junk.h5"
expect 1 "$T/junk.h5: not an HDF5 file" -- ./siamese rank "${common[@]}" "$q" "$T/junk.h5"
expect 1 "$T/junk.h5: not an HDF5 file" -- ./siamese index "${common[@]}" "$g" --out "$T/junk.h5"
mkdir "$T/dir.h5"
expect 1 "$T/dir.h5: is a directory, not a gallery index" -- ./siamese index "${common[@]}" "$g" --out "$T/dir.h5"
expect 2 "index needs --out FILE" -- ./siamese index "${common[@]}" "$g"
expect 2 "index needs --out FILE" -- ./siamese index "${common[@]}" "$g" --out ""
expect 2 "--synthetic N takes no folder" -- ./siamese index --synthetic 5 "$g" --out "$T/s.h5"
finish
