# index and eval shared between the ranks of Open MPI (engine/dist.h,
# eval_embed_shared) on the CPU, one thread a rank, more ranks than cores:
#  1. index with 1, 2 and 3 ranks writes the file one process writes, bit
#     for bit (h5diff: features, codes, paths, attributes; on the CPU an
#     image's features do not depend on its batch or rank), with the same
#     summary and the same warnings for a file that does not decode;
#     rank 0 alone prints.
#  2. An update under 2 ranks embeds only the new and changed files, and
#     gives the file one process's update gives.
#  3. eval (episodes, verification, the runs format) with 2 and 3 ranks
#     prints one process's lines, once.
#  4. SIGTERM to rank 1 mid-index: every rank stops, exit 143, the previous
#     file unchanged, said once. A rank killed mid-index: the job fails,
#     naming it, the previous file unchanged.
#  5. rank refuses to run as several processes, said once (mpi_errors.sh:
#     the others).
#  6. The untrained stand-in model (where the shipped one is absent) is
#     warned of once, by rank 0, in index and eval.
#  7. -v: rank 0 prints every rank's device, in rank order, each line
#     naming its rank; ranks that say the same, once.
#  8. A model that does not open: a failure every rank meets is said once,
#     as one process says it; one rank's own, by that rank, naming it.
. tests/shlib.sh
data=$OMNIGLOT
need_omniglot "$data/images_evaluation"
need_mpi
need_shipped_model
model=$SHIPPED_MODEL
T=$TMP
common=(--model "$model" --device cpu --threads 1)

# 128 drawings and a file that does not decode: batches of 64 a rank, so
# one process embeds the last file alone, 2 ranks too, 3 ranks in a share
# of 43 (an image's features must not depend on its batch).
g=$T/gallery
mkdir -p "$g"
for c in 01 02 03 04 05 06 07; do cp -r "$data/images_evaluation/Angelic/character$c" "$g/"; done
rm "$g"/character07/*_09.png "$g"/character07/*_1[0-9].png "$g"/character07/*_20.png
echo "not an image" >"$g/character03/broken.png"
g=$(realpath "$g")
[ "$(find "$g" -name '*.png' | wc -l)" = 129 ] || fail "the gallery holds $(find "$g" -name '*.png' | wc -l) files, not 129"

# 1. 1 process, then 1, 2 and 3 ranks: the same file, the same lines.
./siamese index "${common[@]}" "$g" --out "$T/one.h5" >"$T/one.out" 2>"$T/one.err" ||
    { cat "$T/one.err"; fail "index, 1 process"; }
grep -qx "$T/one.h5: 129 entries: 129 embedded (129 new, 0 changed), 0 kept, 0 removed" "$T/one.out" ||
    { cat "$T/one.out"; fail "index summary, 1 process"; }
grep -q "warning: $g/character03/broken.png: " "$T/one.err" || { cat "$T/one.err"; fail "no warning for broken.png"; }
for n in 1 2 3; do
    mpi $n ./siamese index "${common[@]}" "$g" --out "$T/n$n.h5" >"$T/n$n.out" 2>"$T/n$n.err" ||
        { cat "$T/n$n.err"; fail "index, $n ranks"; continue; }
    h5diff "$T/one.h5" "$T/n$n.h5" >"$T/h5diff.txt" || { head -20 "$T/h5diff.txt"; fail "index, $n ranks: not one process's file"; }
    sed "s|n$n.h5|one.h5|" "$T/n$n.out" | cmp -s - "$T/one.out" || { cat "$T/n$n.out"; fail "index, $n ranks: another summary"; }
    cmp -s "$T/one.err" "$T/n$n.err" || { diff "$T/one.err" "$T/n$n.err"; fail "index, $n ranks: other warnings"; }
done

# 2. An update under 2 ranks: 3 new files, 1 changed, 1 removed.
cp "$data/images_evaluation/Angelic/character09/"*_0[123].png "$g/character01/"
cp "$g/character02/$(ls "$g/character02" | head -1)" "$T/x.png" && mv "$T/x.png" "$g/character02/$(ls "$g/character02" | head -1)"
rm "$g/character04/$(ls "$g/character04" | head -1)"
cp "$T/one.h5" "$T/u1.h5" && cp "$T/one.h5" "$T/u2.h5"
./siamese index "${common[@]}" "$g" --out "$T/u1.h5" >"$T/u1.out" 2>"$T/u1.err" || { cat "$T/u1.err"; fail "update, 1 process"; }
mpi 2 ./siamese index "${common[@]}" "$g" --out "$T/u2.h5" >"$T/u2.out" 2>"$T/u2.err" || { cat "$T/u2.err"; fail "update, 2 ranks"; }
# (broken.png, which did not decode, is tried again.)
grep -qx "$T/u2.h5: 131 entries: 5 embedded (3 new, 1 changed, 1 undecodable tried again), 126 kept, 1 removed" "$T/u2.out" ||
    { cat "$T/u2.out"; fail "update, 2 ranks: not only the new and changed files embedded"; }
h5diff "$T/u1.h5" "$T/u2.h5" >"$T/h5diff.txt" || { head -20 "$T/h5diff.txt"; fail "update, 2 ranks: not one process's file"; }

# 3. eval: the lines of one process, once.
mkdir -p "$T/ev"
for a in Angelic Keble; do ln -s "$(cd "$data/images_evaluation/$a" && pwd)" "$T/ev/$a"; done
bash tests/make_runs.sh "$data/images_evaluation" "$T/runs" 2 10 >/dev/null || fail "make_runs"
eargs=("${common[@]}" --ways 5 --episodes 30 --pairs 40)
./siamese eval "${eargs[@]}" "$T/ev" >"$T/e1.out" 2>&1 || { cat "$T/e1.out"; fail "eval, 1 process"; }
grep -q "^5-way 1-shot within-alphabet: accuracy" "$T/e1.out" && grep -q "^verification (40 same" "$T/e1.out" ||
    { cat "$T/e1.out"; fail "eval, 1 process: no accuracy lines"; }
./siamese eval "${common[@]}" --runs "$T/runs" >"$T/r1.out" 2>&1 || { cat "$T/r1.out"; fail "eval --runs, 1 process"; }
for n in 2 3; do
    mpi $n ./siamese eval "${eargs[@]}" "$T/ev" >"$T/e$n.out" 2>&1 || { cat "$T/e$n.out"; fail "eval, $n ranks"; }
    cmp -s "$T/e1.out" "$T/e$n.out" || { diff "$T/e1.out" "$T/e$n.out"; fail "eval, $n ranks: other lines"; }
    mpi $n ./siamese eval "${common[@]}" --runs "$T/runs" >"$T/r$n.out" 2>&1 || { cat "$T/r$n.out"; fail "eval --runs, $n ranks"; }
    cmp -s "$T/r1.out" "$T/r$n.out" || { diff "$T/r1.out" "$T/r$n.out"; fail "eval --runs, $n ranks: other lines"; }
done

# 4. Stopped and killed mid-index: a larger folder (1,000 drawings, a few
# seconds a rank), each time over the index of 1.
big=$T/big
mkdir -p "$big"
for a in Atlantean Aurek-Besh; do cp -r "$data/images_evaluation/$a" "$big/"; done
# start_index NAME NP: an update of $T/NAME.h5 (a copy of one.h5) in the
# background ($job), once rank 0 has begun writing its new file.
start_index() {
    cp "$T/one.h5" "$T/$1.h5"
    mpi "$2" ./siamese index "${common[@]}" "$big" --out "$T/$1.h5" >"$T/$1.out" 2>"$T/$1.err" &
    job=$!
    for _ in $(seq 300); do
        compgen -G "$T/$1.h5.tmp*" >/dev/null && [ -n "$(rank_pid index 1)" ] && return 0
        sleep 0.1
    done
    fail "$1: the update did not start"
}
# end_job SECONDS: its exit status
end_job() {
    for _ in $(seq $(($1 * 10))); do kill -0 $job 2>/dev/null || break; sleep 0.1; done
    kill -0 $job 2>/dev/null && { fail "the job did not end within $1 s"; kill -KILL $job; }
    wait $job
    status=$?
}

start_index stop 2
kill -TERM "$(rank_pid index 1)"
end_job 60
[ $status = 143 ] || { cat "$T/stop.err"; fail "SIGTERM to rank 1: exit status $status, not 143"; }
[ "$(grep -c "interrupted; the previous file is unchanged" "$T/stop.err")" = 1 ] ||
    { cat "$T/stop.err"; fail "SIGTERM to rank 1: not said once"; }
h5diff "$T/one.h5" "$T/stop.h5" >/dev/null || fail "SIGTERM to rank 1: the previous file changed"
compgen -G "$T/stop.h5.tmp*" >/dev/null && fail "SIGTERM to rank 1: a temporary file was left"

start_index kill 3
kill -KILL "$(rank_pid index 2)"
end_job 60
[ $status != 0 ] || fail "a killed rank: exit status 0"
grep -q "process rank 2 .*exited on signal 9" "$T/kill.err" || { tail -20 "$T/kill.err"; fail "the killed rank is not named"; }
h5diff "$T/one.h5" "$T/kill.h5" >/dev/null || fail "a killed rank: the previous file changed"

# 5. rank runs in one process: refused under 2, said once (by rank 0).
mpi 2 ./siamese rank "${common[@]}" "$g/character01/$(ls "$g/character01" | head -1)" "$T/one.h5" >"$T/rk.log" 2>&1
[ $? = 2 ] || { cat "$T/rk.log"; fail "rank under mpirun -np 2: exit status not 2"; }
[ "$(grep -c "'rank' runs in one process, but an MPI launcher started 2" "$T/rk.log")" = 1 ] ||
    { cat "$T/rk.log"; fail "rank under mpirun -np 2: not told once"; }

# 6. Without a --model, from a folder without model_data/: a copy of the
# program (and its MPI library) whose model_data/ holds only the untrained
# stand-in, as `make` writes it where the shipped model is absent.
u=$T/untrained
mkdir -p "$u/model_data"
cp siamese libsiamese_mpi.so "$u/"
tiny_model "$u/model_data/untrained_random.h5"
img=$(realpath img)
for n in 1 2; do
    (cd "$T" && mpi $n "$u/siamese" index --device cpu --threads 1 "$img" --out "$T/ui$n.h5") \
        >"$T/ui$n.out" 2>"$T/ui$n.err" || { cat "$T/ui$n.err"; fail "index of the untrained model, $n ranks"; }
    [ "$(grep -c "warning: no trained model .*an UNTRAINED model" "$T/ui$n.err")" = 1 ] ||
        { cat "$T/ui$n.err"; fail "index, $n ranks: the untrained model not warned of once"; }
    (cd "$T" && mpi $n "$u/siamese" eval --device cpu --threads 1 --ways 5 --episodes 10 --pairs 10 "$T/ev") \
        >"$T/ue$n.out" 2>"$T/ue$n.err" || { cat "$T/ue$n.err"; fail "eval of the untrained model, $n ranks"; }
    [ "$(grep -c "warning: no trained model .*an UNTRAINED model" "$T/ue$n.err")" = 1 ] ||
        { cat "$T/ue$n.err"; fail "eval, $n ranks: the untrained model not warned of once"; }
done

# 7. -v under 2 ranks on the CPU, which say the same: one line for both,
# naming them, in index and eval (every rank said its own, unnamed); the
# reason --device auto took the CPU, the same way. Ranks on devices that
# differ (other thread counts here, through mpirun's form for several
# command lines: GPUs in the wild) each get a line, in rank order.
tiny=$u/model_data/untrained_random.h5
v=(--model "$tiny" --threads 1 -v)
cpu_line="device cpu, 1 thread; precision fp32 (this device has no TF32)"
mpi 2 ./siamese index "${v[@]}" --device cpu --synthetic 10 --out "$T/v.h5" >"$T/v.out" 2>"$T/v.err" ||
    { cat "$T/v.err"; fail "index -v, 2 ranks"; }
printf 'siamese: ranks 0-1 of 2: %s\n' "$cpu_line" | cmp -s - "$T/v.err" ||
    { cat "$T/v.err"; fail "index -v, 2 ranks: not one line naming both ranks"; }
mpi 2 ./siamese eval "${v[@]}" --device cpu --ways 5 --episodes 10 --pairs 10 "$T/ev" >"$T/ve.out" 2>"$T/ve.err" ||
    { cat "$T/ve.err"; fail "eval -v, 2 ranks"; }
printf 'siamese: ranks 0-1 of 2: %s\n' "$cpu_line" | cmp -s - "$T/ve.err" ||
    { cat "$T/ve.err"; fail "eval -v, 2 ranks: not one line naming both ranks"; }
mpi 2 ./siamese index "${v[@]}" --synthetic 10 --out "$T/v.h5" >"$T/v.out" 2>"$T/v.err" ||
    { cat "$T/v.err"; fail "index -v --device auto, 2 ranks"; }
if grep -q "no GPU in use" "$T/v.err"; then
    [ "$(grep -c "^siamese: ranks 0-1 of 2: no GPU in use (.*); running on the CPU$" "$T/v.err")" = 1 ] &&
        [ "$(wc -l <"$T/v.err")" = 2 ] && grep -qx "siamese: ranks 0-1 of 2: $cpu_line" "$T/v.err" ||
        { cat "$T/v.err"; fail "index -v --device auto, 2 ranks: not said once, naming both ranks"; }
else
    skip_part "-v under --device auto without a GPU: a GPU is in use here"
fi
mpirun --oversubscribe --bind-to none -np 1 ./siamese index "${v[@]}" --device cpu --synthetic 10 --out "$T/v.h5" : \
    -np 1 ./siamese index --model "$tiny" --threads 2 -v --device cpu --synthetic 10 --out "$T/v.h5" \
    >"$T/v.out" 2>"$T/v.err" || { cat "$T/v.err"; fail "index -v, 2 ranks with other threads"; }
printf 'siamese: rank %s\n' "0 of 2: $cpu_line" "1 of 2: device cpu, 2 threads; precision fp32 (this device has no TF32)" |
    cmp -s - "$T/v.err" || { cat "$T/v.err"; fail "index -v, 2 ranks on other devices: not a line each, in rank order"; }

# 8. A model every rank fails to open (missing, not weights, a precision
# the CPU does not compute in): one process's lines, once, and its exit
# status (every rank said them; the usage error's hint too).
echo "not weights" >"$T/bad.h5"
shared_failure 2 "index, a missing model" 1 index --model "$T/missing.h5" --device cpu --threads 1 --synthetic 10 --out "$T/f.h5"
shared_failure 2 "eval, a file that is not weights" 1 eval --model "$T/bad.h5" --device cpu --threads 1 --ways 5 --episodes 10 "$T/ev"
shared_failure 2 "eval, bf16 on the CPU" 2 eval --model "$tiny" --device cpu --threads 1 --precision bf16 "$T/ev"
[ -e "$T/f.h5" ] && fail "index of a missing model wrote its file"
# A failure of one rank's own (through mpirun's several command lines: a
# file that rank alone cannot read, its GPU in the wild): said by that
# rank, naming it, and rank 0 names it when it did not fail itself.
missing=$(ours "$T/index, a missing model.1.err" | sed 's/^siamese: //')
ok=(index --model "$tiny" --device cpu --threads 1 --synthetic 10 --out "$T/f.h5")
bad=(index --model "$T/missing.h5" --device cpu --threads 1 --synthetic 10 --out "$T/f.h5")
timeout 120 mpirun --oversubscribe --bind-to none -np 1 ./siamese "${ok[@]}" : -np 1 ./siamese "${bad[@]}" \
    >/dev/null 2>"$T/own1.err" && fail "index, rank 1's model missing: exit 0"
printf 'siamese: %s\n' "rank 1 failed (its message says why): every rank stopped" "rank 1: $missing" |
    cmp -s - <(ours "$T/own1.err" | LC_ALL=C sort) || { cat "$T/own1.err"; fail "index, rank 1's model missing: not said once by rank 1, naming it"; }
timeout 120 mpirun --oversubscribe --bind-to none -np 1 ./siamese "${bad[@]}" : -np 1 ./siamese "${ok[@]}" \
    >/dev/null 2>"$T/own0.err" && fail "index, rank 0's model missing: exit 0"
printf 'siamese: rank 0: %s\n' "$missing" | cmp -s - <(ours "$T/own0.err") ||
    { cat "$T/own0.err"; fail "index, rank 0's model missing: not said once by rank 0, naming it"; }
[ -e "$T/f.h5" ] && fail "index with a rank's model missing wrote its file"
finish
