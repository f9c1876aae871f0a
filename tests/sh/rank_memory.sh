# The memory rank needs follows its work: the backbone's buffers hold one
# batch of images, the head's its pairs. rank once sized the backbone for
# 2048 images because the head ran 1024 pairs at a time: 6.7 GB of address
# space for the compact model at 105 pixels (on the CPU calloc leaves
# untouched pages out of the resident set, so the address space is what
# shows it; on a GPU every byte is real). Here rank runs with its address
# space limited to 1 GiB (ulimit -v), which it once exceeded tenfold.
. tests/shlib.sh
data=$OMNIGLOT
need_omniglot "$data/images_evaluation"
command -v /usr/bin/time >/dev/null || { echo "SKIP: /usr/bin/time is absent"; exit 77; }
./siamese init --backbone compact --seed 3 --out "$TMP/m.h5" >/dev/null || fail "init"
g=$TMP/gallery
mkdir -p "$g"
# 400 images: their head batch once reserved 800 images (2.6 GB).
find "$data/images_evaluation/Angelic" -name '*.png' | sort | head -400 | xargs cp -t "$g"
[ "$(ls "$g" | wc -l)" -eq 400 ] || fail "the gallery holds $(ls "$g" | wc -l) images, not 400"
(
    ulimit -v $((1024 * 1024))
    exec /usr/bin/time -f 'maxrss %M' ./siamese rank --device cpu --threads 2 --model "$TMP/m.h5" \
        --top 3 "$g/$(ls "$g" | head -1)" "$g"
) >"$TMP/out" 2>"$TMP/err" || { cat "$TMP/err"; fail "rank within 1 GiB of address space"; }
[ "$(wc -l <"$TMP/out")" -eq 3 ] || { cat "$TMP/out" "$TMP/err"; fail "3 results"; }
# The resident set too (about 250 MB: a batch of 64 images' activations).
rss=$(sed -n 's/^maxrss //p' "$TMP/err")
echo "rank of 400 images: maximum resident set $((rss / 1024)) MB"
[ "$rss" -lt $((512 * 1024)) ] || fail "rank held $((rss / 1024)) MB resident (over 512 MB)"
finish
