# What a training run does epoch by epoch, on a tiny model: the learning
# rate each epoch trains at (the cos schedule of engine/optim.h), a loss
# that starts at ln 2 (an untrained head scores about 0.5), a checkpoint
# every --save-period epochs and at the end, best_epoch_weights.h5 saved at
# exactly the epochs whose validation loss beat every earlier one, and
# early stopping after --patience epochs without such an improvement, with
# the best epoch's weights in best_epoch_weights.h5. The same seed gives the
# same run, so run B (with --patience) repeats run A's first epochs. Run D,
# stopped after every epoch and resumed, keeps the best epoch, the epochs
# since it, --patience and --save-period across its resumes: it saves and
# stops as run C, the same run uninterrupted.
. tests/shlib.sh
data=$OMNIGLOT
need_omniglot "$data/images_background"
T=$TMP
args=(--dataset "$data" --backbone compact --widths 4,4,8,8,8 --hidden 16 --input-shape 32
      --batch-size 4 --steps-per-epoch 3 --val-steps 2 --epochs 6 --optimizer adam --lr 4e-2
      --weight-decay 0 --seed 7 --threads 1 --workers 2)
./siamese train "${args[@]}" --save-period 4 --save-dir "$T/a" >"$T/a.log" 2>&1 || { cat "$T/a.log"; fail "run A"; }
[ "$(grep -c '^Epoch [1-6]/6 ' "$T/a.log")" -eq 6 ] || { cat "$T/a.log"; fail "run A: not 6 epoch lines"; }

# The rate: adam at batch 4 fits --lr 4e-2 to 1e-3 (4/64 * 4e-2, at most
# 1e-3) and the minimum to 1e-5; over 6 epochs a warm-up of 1 epoch from
# 1e-4, a cosine over epochs 2..5 (1e-5 + 0.5 (1e-3 - 1e-5) (1 + cos(pi k/4))),
# a tail of 1 epoch at the minimum.
lrs=$(sed -n 's/^Epoch [0-9]*\/6 .*  lr \([^ ]*\) .*/\1/p' "$T/a.log" | tr '\n' ' ')
[ "$lrs" = "0.0001 0.001 0.000855 0.000505 0.000155 1e-05 " ] || fail "the rates of the 6 epochs: $lrs"
# --init-epoch 4: epochs 5 and 6 only, at the rates of run A's epochs 5 and 6.
./siamese train "${args[@]}" --init-epoch 4 --save-dir "$T/i" >"$T/i.log" 2>&1 || { cat "$T/i.log"; fail "--init-epoch 4"; }
ilrs=$(sed -n 's/^Epoch \([0-9]*\/6\) .*  lr \([^ ]*\) .*/\1 \2/p' "$T/i.log" | tr '\n' ' ')
[ "$ilrs" = "5/6 0.000155 6/6 1e-05 " ] || fail "--init-epoch 4 trained epochs and rates: $ilrs"

# The first epoch's losses: binary cross-entropy of scores near 0.5, per pair.
awk '/^Epoch 1\/6 / { for (i = 1; i < NF; i++) if ($i == "loss" || $i == "val_loss") { v = $(i + 1); if (v < 0.68 || v > 0.71) exit 1 } }' "$T/a.log" ||
    fail "the first epoch's losses are not about ln 2 = 0.6931: $(grep '^Epoch 1/' "$T/a.log")"

# Accuracies are fractions of the epoch's pairs: each epoch counts its own
# (24 pairs in training, 16 in validation).
awk '/^Epoch [1-6]\/6 / { for (i = 1; i < NF; i++) if ($i == "acc" || $i == "val_acc") { v = $(i + 1); if (v < 0 || v > 1) exit 1 } }' "$T/a.log" ||
    fail "an accuracy outside 0..1: $(grep '^Epoch' "$T/a.log")"

# Checkpoints at epochs 4 and 6 (every 4, and the last), no others.
files=$(cd "$T/a" && ls ep*.h5 | sed 's/-.*//' | tr '\n' ' ')
[ "$files" = "ep004 ep006 " ] || fail "--save-period 4 over 6 epochs wrote: $files"

# best_epoch_weights.h5 after the epochs whose validation loss (as the log
# file keeps it, 17 digits) is below every earlier one.
want=$(awk 'NR == 1 || $1 < best { best = $1; printf "%d ", NR }' "$T"/a/loss_*/epoch_val_loss.txt)
got=$(awk '/^Epoch / { split($2, e, "/") } /saved .*\/best_epoch_weights.h5$/ { printf "%d ", e[1] }' "$T/a.log")
[ -n "$want" ] && [ "$got" = "$want" ] || fail "best_epoch_weights.h5 saved after epochs '$got', the validation losses improved at '$want'"

# Early stopping: the first epoch that did not improve on the best ends a
# run with --patience 1, right after its checkpoints.
stop=$(awk 'NR > 1 && $1 >= best { print NR; exit } NR == 1 || $1 < best { best = $1 }' "$T"/a/loss_*/epoch_val_loss.txt)
if [ -z "$stop" ] || [ "$stop" -ge 6 ]; then
    fail "run A improved at every epoch but the last: nothing here tests --patience ($(tr '\n' ' ' <"$T"/a/loss_*/epoch_val_loss.txt))"
else
    ./siamese train "${args[@]}" --patience 1 --save-period 1 --save-dir "$T/b" >"$T/b.log" 2>&1 ||
        { cat "$T/b.log"; fail "run B"; }
    grep -q "^early stopping: the validation loss has not improved for 1 epoch (best " "$T/b.log" ||
        { cat "$T/b.log"; fail "run B: no early stopping"; }
    last=$(sed -n 's/^Epoch \([0-9]*\)\/6 .*/\1/p' "$T/b.log" | tail -1)
    [ "$last" = "$stop" ] || fail "run B stopped after epoch $last, expected $stop"
    cmp -s <(head -n "$stop" "$T"/a/loss_*/epoch_val_loss.txt) "$T"/b/loss_*/epoch_val_loss.txt ||
        fail "run B's validation losses are not run A's first $stop"
    # Its best weights are those of the best epoch, not of the last one.
    best=$(head -n "$stop" "$T"/a/loss_*/epoch_val_loss.txt | awk 'NR == 1 || $1 < b { b = $1; n = NR } END { print n }')
    imgs=("$data"/images_background/Latin/character01/*.png)
    score_pairs() { printf '%s\n' "${imgs[0]}" "${imgs[1]}" "${imgs[2]}" "${imgs[5]}" | ./siamese --model "$1" --device cpu --threads 1 2>/dev/null; }
    b=$(score_pairs "$T/b/best_epoch_weights.h5")
    [ -n "$b" ] && [ "$b" = "$(score_pairs "$T"/b/ep00"$best"-*.h5)" ] ||
        fail "best_epoch_weights.h5 scores '$b', epoch $best's checkpoint '$(score_pairs "$T"/b/ep00"$best"-*.h5)'"
    [ "$b" != "$(score_pairs "$T"/b/ep00"$stop"-*.h5)" ] || fail "epochs $best and $stop score alike: the comparison tests nothing"
fi

# Across resumes: run C (seed 1, 8 epochs) improves at epochs 1, 2 and 4
# only, so --patience 3 stops it after epoch 7; run D is run C stopped after
# every epoch (--stop-after-steps 3) and resumed, 7 runs in all.
cargs=("${args[@]}" --seed 1 --epochs 8 --patience 3 --save-period 4)
./siamese train "${cargs[@]}" --save-dir "$T/c" >"$T/c.log" 2>&1 || { cat "$T/c.log"; fail "run C"; }
grep -q "^early stopping: the validation loss has not improved for 3 epochs (best " "$T/c.log" ||
    fail "run C did not stop early: nothing here tests --patience across resumes ($(tr '\n' ' ' <"$T"/c/loss_*/epoch_val_loss.txt))"
./siamese train "${cargs[@]}" --save-dir "$T/d" --stop-after-steps 3 >"$T/d.log" 2>&1 || { cat "$T/d.log"; fail "run D"; }
cp "$T/d.log" "$T/d_all.log"
for i in 2 3 4 5 6 7 8; do
    grep -q "^stopped at epoch" "$T/d.log" || break
    ./siamese train --resume "$T/d/last_epoch_weights.h5" --stop-after-steps 3 >"$T/d.log" 2>&1 ||
        { cat "$T/d.log"; fail "run D, part $i"; break; }
    cat "$T/d.log" >>"$T/d_all.log"
done
grep -q "^early stopping: the validation loss has not improved for 3 epochs (best " "$T/d.log" ||
    { cat "$T/d.log"; fail "run D, resumed after every epoch, did not stop early as run C"; }
cmp -s "$T"/c/loss_*/epoch_val_loss.txt "$T"/d/loss_*/epoch_val_loss.txt ||
    fail "run D's validation losses are not run C's: $(paste "$T"/c/loss_*/epoch_val_loss.txt "$T"/d/loss_*/epoch_val_loss.txt | tr '\n' ' ')"
best_saves() { awk '/^Epoch / { split($2, e, "/") } /saved .*\/best_epoch_weights.h5$/ { printf "%d ", e[1] }' "$@"; }
[ "$(best_saves "$T/c.log")" = "$(best_saves "$T/d_all.log")" ] ||
    fail "best_epoch_weights.h5 saved after epochs '$(best_saves "$T/d_all.log")' resumed, '$(best_saves "$T/c.log")' uninterrupted"
[ "$(cd "$T/c" && ls ep*.h5 | sed 's/-.*//' | tr '\n' ' ')" = "ep004 " ] &&
    [ "$(cd "$T/d" && ls ep*.h5 | sed 's/-.*//' | tr '\n' ' ')" = "ep004 " ] ||
    fail "--save-period 4: run C wrote $(cd "$T/c" && ls ep*.h5), run D $(cd "$T/d" && ls ep*.h5)"
finish
