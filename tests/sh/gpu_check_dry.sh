#!/usr/bin/env bash
# The GPU check (tests/gpu/check.sh) in its dry run: the same steps on the
# CPU at toy sizes, on a small Omniglot-layout data set made of our own
# images, so that a change to the script or to a program it runs breaks here
# and not in a GPU session's few minutes. Every step that the CPU can run
# must pass, the summary must hold the goals' table, and the profile its
# lines. PyTorch is left out (PYTHON without torch: its steps say so), but
# the summary's comparison with its profile is checked on made-up lines.
. tests/shlib.sh
# 6 characters of 40 drawings: the trainer's validation split (a tenth,
# 24 images) then holds a character with 3 or more whatever the shuffle,
# as its pairs need.
data=$TMP/omniglot/images_background
for a in 1 2; do
    for c in 1 2 3; do
        mkdir -p "$data/alpha$a/char$c"
        for i in $(seq 40); do
            cp "img/$(echo a b c | cut -d' ' -f$(((i + c + a) % 3 + 1))).png" "$data/alpha$a/char$c/$i.png"
        done
    done
done
mkdir -p "$TMP/out"
CASES=$((CASES + 1))
OUT=$TMP/out OMNIGLOT=$data PYTHON=/bin/false GPU_CHECK_BUDGET=300 \
    bash tests/gpu/check.sh --dry-run >"$TMP/log" 2>&1
rc=$?
[ $rc = 0 ] || fail "check.sh --dry-run exited $rc: $(grep -- '^---- \|FAIL' "$TMP/log" | head -20)"
res=$TMP/out/RESULTS.md
want=("| parity | PASS |" "| predict | PASS |" "| tf32 override | PASS |" "| parity tf32 | PASS |" "| training | PASS |"
    "| trainer | PASS |" "| parity bf16 f32 acts | PASS |" "| speed (siamese) | done |"
    "**DRY RUN on the CPU" "Goals (issue #11" "| siamese train, compact, pairs/s | >= 10000 | ")
if command -v mpirun >/dev/null; then want+=("| data-parallel | PASS |"); fi
for w in "${want[@]}"; do
    CASES=$((CASES + 1))
    grep -qF -- "$w" "$res" 2>/dev/null || fail "RESULTS.md lacks '$w'"
done
CASES=$((CASES + 1))
[ "$(grep -c '^| .* | \(met\|missed\|not measured\) |$' "$res" 2>/dev/null)" = 8 ] ||
    fail "the goals' table has not 8 rows with a verdict: $(sed -n '/^Goals/,$p' "$res" | head -12)"
CASES=$((CASES + 1))
grep -q "^PROFILE precision=tf32 layer=block1_conv1 piece=forward ms=" "$TMP/out/profile.txt" 2>/dev/null ||
    fail "profile.txt lacks the tf32 profile's lines"
# The summary's comparison with PyTorch's profile (step 6, which needs
# PyTorch): pieces() from check.sh on two made-up profiles.
printf 'PROFILE layer=a piece=wgrad ms=1.5\nPROFILE layer=b piece=wgrad ms=0.5\nPROFILE layer=a piece=bias grad ms=0.25\nPROFILE step_ms=5.1 ops_ms=5\n' >"$TMP/ours"
printf 'PROFILE layer=a piece=wgrad ms=1\nPROFILE layer=a piece=backward ms=0.5\nPROFILE step_ms=4.4 ops_ms=4\n' >"$TMP/torch"
eval "$(sed -n '/^pieces() {/,/^}/p' tests/gpu/check.sh)"
pieces "$TMP/ours" "$TMP/torch" >"$TMP/pieces"
for w in "| wgrad | 2.000 | 1.000 | 2.00x |" "| bias grad | 0.250 | - | - |" \
    "| backward | - | 0.500 | - |" "| inside operations | 5.000 | 4.000 | 1.25x |"; do
    CASES=$((CASES + 1))
    grep -qxF -- "$w" "$TMP/pieces" || fail "pieces() lacks '$w': $(cat "$TMP/pieces")"
done
CASES=$((CASES + 1))
[ "$(grep -c '^| ' "$TMP/pieces")" = 5 ] || fail "pieces() printed other rows: $(cat "$TMP/pieces")"
finish
