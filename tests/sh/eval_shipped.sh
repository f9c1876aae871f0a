# siamese eval's numbers with a model that tells characters apart: the
# shipped one, on a small sample of Omniglot's evaluation alphabets (never
# seen in training). The formats and the trials' rules are checked with
# untrained or constant models (eval_rank.sh, test_eval), which score at
# chance whatever the counting does; here a wrong count shows: a
# candidate's score mixed with another's over its K drawings, the
# verification pairs' labels or threshold turned round, the runs' answer
# key misread. Measured (2 threads): 20-way 2-shot 87.5% (35 of 40; chance
# 5%), verification 96.5% and ROC AUC 0.990, runs error 18.3% (chance 95%);
# the bounds leave room for other rounding, not for a miscount.
. tests/shlib.sh
data=$OMNIGLOT
need_omniglot "$data/images_evaluation"
need_shipped_model
model=$SHIPPED_MODEL
common=(--model "$model" --device cpu --threads 2)
T=$TMP

./siamese eval "${common[@]}" "$data" --ways 20 --shots 2 --episodes 40 --pairs 100 >"$T/ep.log" 2>&1 ||
    { cat "$T/ep.log"; fail "eval"; }
acc=$(sed -n 's/^20-way 2-shot within-alphabet: accuracy \([0-9.]*\)%.*/\1/p' "$T/ep.log")
[ -n "$acc" ] && awk -v a="$acc" 'BEGIN { exit !(a >= 65) }' ||
    fail "20-way 2-shot accuracy '$acc'%, expected 65% or more: $(cat "$T/ep.log")"
line=$(grep '^verification (100 same and 100 different pairs)' "$T/ep.log")
vacc=$(echo "$line" | sed -n 's/.*accuracy at 0.5 \([0-9.]*\)%.*/\1/p')
auc=$(echo "$line" | sed -n 's/.*ROC AUC \([0-9.]*\)$/\1/p')
[ -n "$vacc" ] && [ -n "$auc" ] && awk -v a="$vacc" -v u="$auc" 'BEGIN { exit !(a >= 85 && u >= 0.95) }' ||
    fail "verification: accuracy '$vacc'%, AUC '$auc', expected 85% and 0.95 or more: $line"

tests/make_runs.sh "$data/images_evaluation" "$T/runs" 3 >/dev/null || fail "make_runs"
./siamese eval "${common[@]}" --runs "$T/runs" >"$T/runs.log" 2>&1 || { cat "$T/runs.log"; fail "eval --runs"; }
err=$(sed -n 's/^mean error \([0-9.]*\)% over 3 runs.*/\1/p' "$T/runs.log")
[ -n "$err" ] && awk -v x="$err" 'BEGIN { exit !(x <= 40) }' ||
    fail "runs: mean error '$err'%, expected 40% or less: $(cat "$T/runs.log")"
finish
