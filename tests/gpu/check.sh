#!/usr/bin/env bash
# check.sh: the CUDA backend's proof on a GPU machine, in one call of under
# ten minutes:
#   1. parity: every backend operation, then the whole model (compact, and
#      the full-size VGG16 Siamese network) forward and backward on the CPU
#      and CUDA backends with the same weights and inputs; outputs and every
#      gradient compared, --precision fp32 (tests/test_backend_parity.c);
#      then `siamese predict` on both devices;
#   2. 200 training steps on Omniglot from the same initial weights on both
#      backends in lockstep, both loss curves printed (train_compare.c);
#   3. speed against PyTorch on the same model, batch and precision (tf32,
#      both sides' default): inference pairs/s at batch 1 and 64,
#      training pairs/s at batch 32, the ratios, latency and GPU memory
#      (bench_model.c, bench/gpu_torch.py).
# and the reduced precisions (--precision tf32, the default, and bf16), in
# short steps beside them:
#   1c. every conv3x3 and dense operation, forward and backward, in tf32 and
#       in bf16 on the GPU against the CPU's FP32, to 5e-3 (tf32 convolutions)
#       and 2e-2 (bf16) of each tensor's largest value (test_backend_parity
#       --precision tf32|bf16);
#   2b. 200 training steps on Omniglot from the same initial weights and
#       batches, GPU FP32 (A) vs GPU --precision bf16 (B): the first 10
#       losses within 2e-2, the mean |loss A - loss B| over all steps <= 0.02
#       (train_compare --precision bf16);
#   3.  training pairs/s at batch 32 with --precision bf16 against PyTorch
#       eager (NCHW and channels_last) under torch.autocast(dtype=torch.bfloat16).
# and the real trainer (3b): `siamese train` on the bundled alphabets, a
# small model on the CPU and on the GPU from the same seed (epoch losses
# within 1e-3), then compact and VGG16 for 2 epochs of fixed steps: the
# second epoch's pairs/s beside bench_model's and the loader's alone;
# and where a training step's time goes (3c): `siamese bench --mode
# profile`, every operation of a VGG16 step timed with CUDA events, a table
# by layer, in tf32 and bf16 (the PROFILE lines in $OUT/profile.txt);
# and float32 activations under bf16 (3d, SIAMESE_CUDA_ACTS=f32, the way
# before bfloat16 activations became the default): their parity, 2b's
# training against FP32, pairs/s and profile beside the default's;
# and the CUDA backend's switches (4), each way that is not the default;
# and data-parallel training (5): 20 steps of VGG16 in one process, under
# mpirun with one rank (NCCL, gradient buckets) and two ranks sharing the
# GPU (MPI), loss curves against the one process's (Open MPI from the
# bundle, or the machine's);
# and where PyTorch's own training step goes (6, torch.profiler), beside
# 3c's profile piece by piece in the summary.
#
# The GPU machine has the NVIDIA driver, nvcc and PyTorch with its CUDA
# wheels, but not our Debian libraries; it receives a copy of the working
# tree. So build here first:
#     make gpu-bundle            # -> gpu_carry/ (ignored by git)
# and run there with the device tool: carry ["gpu_carry"], command
# "bash tests/gpu/check.sh". The whole output goes to $OUT/gpu_check.log,
# the summary to $OUT/RESULTS.md (for bench/RESULTS.md) and the loss curves
# to $OUT/train_curves.csv and $OUT/train_curves_bf16.csv when $OUT is set. Without gpu_carry/ it builds
# the tree with make (a development machine with a GPU).
#
#   --dry-run   the same steps on the CPU at toy sizes: checks the script
#               itself on a machine without a GPU.
# Environment: GPU_CHECK_BUDGET (seconds, default 560), PYTHON (python3),
# GPU_CHECK_DEVICE (cuda), GPU_CHECK_SKIP (a comma-separated list of steps
# to leave out of a short rerun: training, data-parallel, bf16-acts, and
# switches and torch-profile, which no check's verdict depends on: without
# those two every check still runs, in about 250 s),
# GPU_CHECK_TORCH_COMPILE=1 (time torch.compile too: about 30 s more, and
# no goal compares with it, so it is left out by default).
set -u
cd "$(dirname "$0")/../.." || exit 2
# gpu_script_start, setup_programs: the scratch folder, the programs ready to run here.
. tests/gpu/programs.sh
gpu_script_start siamese_gpu "$@"
BUDGET=${GPU_CHECK_BUDGET:-560}

left() { echo $((BUDGET - (SECONDS - T0))); }
section() { printf '\n==== %s  [%ds elapsed, %ds left]\n' "$1" $((SECONDS - T0)) "$(left)"; }
declare -A STATUS
ORDER=()
status() { STATUS[$1]=$2; ORDER+=("$1"); echo "---- $1: $2"; }
# skip STEP: whether GPU_CHECK_SKIP names the step.
skip() { [[ ",${GPU_CHECK_SKIP:-}," == *",$1,"* ]]; }

# limited CAP CMD...: runs CMD for at most CAP seconds, and never past the
# budget (keeping 15 s for the summary). Exit 124 on a timeout.
limited() {
    local cap=$1 t
    shift
    t=$(left)
    t=$((t - 15 < cap ? t - 15 : cap))
    if [ "$t" -lt 5 ]; then
        echo "(no time left for: $*)"
        return 124
    fi
    timeout -k 5 "$t" "$@"
}

# gpu_memory CAP LOG CMD...: as limited, output to LOG and the terminal,
# printing the peak GPU memory of the process (nvidia-smi, context
# included) or, where nvidia-smi cannot see processes (containers), the
# growth of the GPU's used memory.
gpu_memory() {
    local cap=$1 log=$2 pid peak=0 base m pids
    shift 2
    base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 2>/dev/null | head -1)
    limited "$cap" "$@" >"$log" 2>&1 &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        if [ -n "$base" ]; then
            pids="$pid $(pgrep -P "$pid" 2>/dev/null | tr '\n' ' ')"
            for p in $(pgrep -P "$pid" 2>/dev/null); do pids="$pids $(pgrep -P "$p" | tr '\n' ' ')"; done
            m=$(nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits 2>/dev/null |
                awk -F', *' -v ps=" $pids " 'index(ps, " " $1 " ") {s += $2} END {print s + 0}')
            if [ "${m:-0}" -eq 0 ]; then
                m=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 | head -1)
                m=$((m - base))
            fi
            [ "$m" -gt "$peak" ] && peak=$m
        fi
        sleep 0.2
    done
    wait "$pid"
    local rc=$?
    cat "$log"
    [ -n "$base" ] && echo "peak GPU memory of the process: $peak MiB" && echo "PEAK_MIB $peak" >>"$log"
    return $rc
}

main() {
    section "machine"
    date -u
    uname -a
    echo "CPU cores: $(nproc)"
    if command -v nvidia-smi >/dev/null; then
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
    else
        echo "nvidia-smi: not found"
    fi
    command -v nvcc >/dev/null && nvcc --version | tail -2

    setup_programs || return 1

    local dev=$GPU backbone=vgg16 input=105 tsteps=200 tbatch=8 secs=3 ib="1,64" tb=32
    local torch_args=(--seconds 3)
    if [ $DRY = 1 ]; then
        dev=cpu backbone=compact input=32 tsteps=6 tbatch=2 secs=0.5 ib="1,4" tb=2
        torch_args=(--device cpu --backbone compact --input 32 --seconds 0.5 --warmup 1
            --impls eager-nchw,eager-nhwc)
        echo "DRY RUN: '$GPU' replaced by the CPU, toy sizes"
    fi

    # The dry run's parity: the CPU against a second CPU backend (the
    # harness itself; test_backend_parity --device cpu), compact only.
    local parity_dev=(--device "$dev")
    [ $DRY = 1 ] && parity_dev=(--device cpu)
    section "1. parity: every operation and the whole model, CPU vs $dev (--precision fp32)"
    limited 150 "$RUN" test_backend_parity "${parity_dev[@]}" $([ $DRY = 0 ] && echo --full) 2>&1 |
        tee "$WORK/parity.log"
    case ${PIPESTATUS[0]} in
    0) status parity PASS ;;
    77) status parity "FAIL (the CUDA backend did not open)" ;;
    124) status parity "FAIL (timeout)" ;;
    *) status parity FAIL ;;
    esac

    section "1b. siamese predict on both devices (an untrained VGG16, TF32 off)"
    local pc pg
    if limited 30 "$RUN" siamese init --backbone vgg16 --seed 3 --out "$WORK/vgg16.h5" &&
        pc=$(limited 30 "$RUN" siamese predict --model "$WORK/vgg16.h5" --device cpu img/a.png img/d.jpg) &&
        pg=$(limited 30 "$RUN" siamese predict --model "$WORK/vgg16.h5" --device "$dev" --precision fp32 img/a.png img/d.jpg); then
        echo "cpu: $pc   $dev: $pg"
        limited 30 "$RUN" siamese predict --model "$WORK/vgg16.h5" --device auto img/a.png img/b.png
        if awk -v a="$pc" -v b="$pg" 'BEGIN {d = a - b; exit !(d < 1e-4 && d > -1e-4)}'; then
            status predict PASS
        else
            status predict "FAIL (scores differ)"
        fi
    else
        status predict FAIL
    fi
    # NVIDIA_TF32_OVERRIDE=0 forbids TF32 in cuDNN and cuBLAS: --precision
    # tf32 under it must say it computes fp32 (-v: the decision, which
    # backend_precision_effective makes) and score as the CPU does, to
    # predict's 1e-4. (Not to fp32's last digits: each process times the
    # graph API's engines for one pair and keeps the fastest, which may
    # round otherwise.) The dry run's CPU has no TF32 at all, which -v names
    # instead.
    local po want='precision fp32 (NVIDIA_TF32_OVERRIDE=0)'
    [ $DRY = 1 ] && want='precision fp32 (this device has no TF32)'
    if po=$(NVIDIA_TF32_OVERRIDE=0 limited 30 "$RUN" siamese predict -v --model "$WORK/vgg16.h5" --device "$dev" \
            --precision tf32 img/a.png img/d.jpg 2>&1); then
        echo "$po"
        if ! grep -qF "$want" <<<"$po"; then
            status "tf32 override" "FAIL (-v does not say '$want')"
        elif awk -v a="$(tail -1 <<<"$po")" -v b="$pc" 'BEGIN {d = a - b; exit !(d < 1e-4 && d > -1e-4)}'; then
            status "tf32 override" PASS
        else
            status "tf32 override" "FAIL (not the CPU's score: $pc)"
        fi
    else
        echo "$po"
        status "tf32 override" FAIL
    fi

    local p
    for p in tf32 bf16; do
        section "1c. parity in $p: conv3x3 and dense, $dev --precision $p vs CPU FP32"
        if [ $DRY = 1 ] && [ $p = bf16 ]; then
            status "parity $p" "SKIP (dry run: the CPU has no bf16)"
            continue
        fi
        limited 60 "$RUN" test_backend_parity "${parity_dev[@]}" --precision $p 2>&1 |
            tee "$WORK/parity_$p.log"
        case ${PIPESTATUS[0]} in
        0) status "parity $p" PASS ;;
        77) status "parity $p" "FAIL (the CUDA backend did not open)" ;;
        124) status "parity $p" "FAIL (timeout)" ;;
        *) status "parity $p" FAIL ;;
        esac
    done

    section "2. training: $tsteps steps from the same weights, CPU (A) vs $dev (B), FP32"
    local data_arg=synthetic
    if [ -n "$DATA" ] && [ -d "$DATA" ]; then data_arg=$DATA; else echo "no Omniglot images: synthetic pairs"; fi
    if skip training; then
        status training "SKIP (GPU_CHECK_SKIP)"
    else
        limited 170 "$RUN" train_compare --a cpu --b "$dev" --data "$data_arg" --backbone "$backbone" \
            --input "$input" --batch "$tbatch" --steps "$tsteps" --every 10 \
            --time-limit $(($(left) - 30 < 150 ? $(left) - 30 : 150)) --csv "$RES/train_curves.csv" \
            2>&1 | tee "$WORK/train.log"
        case ${PIPESTATUS[0]} in
        0) status training "PASS" ;;
        124) status training "FAIL (timeout)" ;;
        *) status training FAIL ;;
        esac
    fi

    section "2b. training: $tsteps steps from the same weights, $dev FP32 (A) vs $dev --precision bf16 (B)"
    if [ $DRY = 1 ]; then
        status "training bf16" "SKIP (dry run: the CPU has no bf16)"
    else
        limited 90 "$RUN" train_compare --a "$dev" --b "$dev" --precision bf16 --data "$data_arg" \
            --backbone "$backbone" --input "$input" --batch "$tbatch" --steps "$tsteps" --every 20 \
            --time-limit $(($(left) - 30 < 60 ? $(left) - 30 : 60)) --csv "$RES/train_curves_bf16.csv" \
            2>&1 | tee "$WORK/train_bf16.log"
        case ${PIPESTATUS[0]} in
        0) status "training bf16" PASS ;;
        124) status "training bf16" "FAIL (timeout)" ;;
        *) status "training bf16" FAIL ;;
        esac
    fi

    section "3a. speed: siamese on $dev (--precision tf32)"
    local mode b run
    for run in $(runs "$ib" "$tb"); do
        mode=${run%%:*} b=${run##*:}
        gpu_memory 60 "$WORK/ours_${mode}_$b.log" "$RUN" bench_model --device "$dev" --mode "$mode" \
            --batch "$b" --backbone "$backbone" --input "$input" --seconds "$secs" --precision tf32 ||
            echo "(bench_model $mode batch $b failed)"
    done
    cat "$WORK"/ours_*.log 2>/dev/null | grep -q "^RESULT" && status "speed (siamese)" done || status "speed (siamese)" FAIL
    if [ $DRY = 0 ]; then
        gpu_memory 60 "$WORK/bf16_ours_train_${tb%%,*}.log" "$RUN" bench_model --device "$dev" \
            --mode train --batch "${tb%%,*}" --precision bf16 --backbone "$backbone" --input "$input" \
            --seconds "$secs" || echo "(bench_model train --precision bf16 failed)"
    fi

    trainer

    # Where a training step's time goes: each operation of a step timed
    # with CUDA events (the CPU's clock in the dry run), a table by layer.
    for p in tf32 bf16; do
        [ $DRY = 1 ] && [ $p = bf16 ] && continue
        section "3c. where a training step's time goes: siamese bench --mode profile, $p"
        limited 60 "$RUN" siamese bench --mode profile --device "$dev" --backbone "$backbone" \
            --input-shape "$input" --batch "${tb%%,*}" --precision $p --repeat 5 \
            >"$WORK/profile_$p.log" 2>&1 || echo "(bench --mode profile --precision $p failed)"
        grep -v "^PROFILE" "$WORK/profile_$p.log"
        sed -n "s/^PROFILE /PROFILE precision=$p /p" "$WORK/profile_$p.log" >>"$RES/profile.txt"
    done

    float_activations

    section "3e. speed: PyTorch eager, training under autocast bf16"
    if "$PY" -c "import torch" 2>/dev/null; then
        gpu_memory 120 "$WORK/bf16_torch.log" "$PY" bench/gpu_torch.py --precision bf16 \
            --infer-batches "" --train-batches "${tb%%,*}" --backbone "$backbone" --input "$input" \
            --impls eager-nchw,eager-nhwc --deadline 90 "${torch_args[@]}"
    else
        echo "$PY cannot import torch"
    fi

    section "3f. speed: PyTorch on the same model"
    if "$PY" -c "import torch" 2>/dev/null; then
        local deadline=$(($(left) - 60)) impls=()
        [ "${GPU_CHECK_TORCH_COMPILE:-0}" = 1 ] || impls=(--impls eager-nchw,eager-nhwc)
        gpu_memory 400 "$WORK/torch.log" "$PY" bench/gpu_torch.py --precision tf32 \
            --infer-batches "$ib" --train-batches "$tb" --backbone "$backbone" --input "$input" \
            --deadline "$deadline" "${torch_args[@]}" "${impls[@]}"
        grep -q "^RESULT" "$WORK/torch.log" && status "speed (PyTorch)" done || status "speed (PyTorch)" FAIL
    else
        echo "$PY cannot import torch"
        status "speed (PyTorch)" "SKIP (no PyTorch)"
    fi

    switches
    data_parallel
    torch_profile "$tb" "${torch_args[@]}"

    summary "$ib" "$tb"
    for k in parity predict training "parity tf32" "parity bf16" "training bf16" \
        "parity bf16 f32 acts" "training bf16 f32 acts" trainer data-parallel; do
        [[ ${STATUS[$k]} == PASS* || ${STATUS[$k]} == SKIP* ]] || return 1
    done
    return 0
}

# The real trainer, `siamese train`, on the bundled alphabets (main's
# variables: RUN, WORK, DATA, dev, DRY):
#   first its numbers: a small model trained 2 epochs of 8 steps on the CPU
#   and on $dev in fp32 from the same seed, epoch losses (training and
#   validation) within 1e-3 of each other: the pipelined loop (loss read a
#   step late, batches as bytes from page-locked slots) trains as the CPU;
#   then its speed: compact at 64 pairs a step and VGG16 at 32, 2 epochs
#   each, the second epoch's pairs/s (the first includes cuDNN's algorithm
#   searches) beside bench_model's figure for the same model and batch, and
#   the loader alone (--loader-benchmark) with the same workers.
trainer() {
    section "3b. the real trainer: siamese train on $dev, against the CPU, then pairs/s"
    if [ -z "$DATA" ] || [ ! -d "$DATA" ]; then
        echo "no Omniglot images: the trainer is not run"
        status trainer "SKIP (no images)"
        return
    fi
    mkdir -p "$WORK/trainset"
    ln -sfn "$(cd "$DATA" && pwd)" "$WORK/trainset/images_background"
    local workers=$(($(nproc) - 1)) k d
    [ "$workers" -lt 1 ] && workers=1
    [ "$workers" -gt 64 ] && workers=64
    local small=(--dataset "$WORK/trainset" --backbone compact --widths 8,8,16,16,16 --hidden 32
        --input-shape 64 --batch-size 4 --steps-per-epoch 8 --val-steps 2 --epochs 2 --seed 5
        --workers 4 --plain --precision fp32)
    local ok=1
    for k in a b; do
        d=$([ $k = a ] && echo cpu || echo "$dev")
        # The dry run's two sides are both the CPU: one thread against all.
        limited 60 "$RUN" siamese train "${small[@]}" --device "$d" \
            $([ $DRY = 1 ] && [ $k = a ] && echo --threads 1) --save-dir "$WORK/trainer_$k" \
            >"$WORK/trainer_$k.log" 2>&1 || { tail -5 "$WORK/trainer_$k.log"; ok=0; }
    done
    if [ $ok = 1 ]; then
        paste "$WORK"/trainer_a/loss_*/epoch_loss.txt "$WORK"/trainer_b/loss_*/epoch_loss.txt \
            "$WORK"/trainer_a/loss_*/epoch_val_loss.txt "$WORK"/trainer_b/loss_*/epoch_val_loss.txt |
            awk '{d = $1 - $2; d = d < 0 ? -d : d; v = $3 - $4; v = v < 0 ? -v : v
                  if (v > d) d = v; if (d > m) m = d
                  printf "epoch %d: loss cpu %.6f %s %.6f, val_loss cpu %.6f %s %.6f\n", NR, $1, dev, $2, $3, dev, $4}
                  END {printf "trainer: max |cpu - %s| over the epoch losses = %.2e (limit 1e-03)\n", dev, m
                       exit !(NR == 2 && m <= 1e-3)}' dev="$dev" >"$WORK/trainer.log"
        [ "${PIPESTATUS[1]}" = 0 ] || ok=0
        cat "$WORK/trainer.log"
    fi
    [ $ok = 1 ] && status trainer PASS || status trainer FAIL

    # Speed: "backbone samples steps" (a step holds 2 x samples pairs).
    local spec bb n st pairs line
    local specs=("compact 32 300" "vgg16 16 80")
    [ $DRY = 1 ] && specs=("compact 2 4")
    for spec in "${specs[@]}"; do
        read -r bb n st <<<"$spec"
        pairs=$((2 * n))
        local args=(--dataset "$WORK/trainset" --backbone "$bb" --batch-size "$n" --workers "$workers"
            --device "$dev" --plain --precision tf32)
        [ $DRY = 1 ] && args+=(--input-shape 32)
        echo "-- $bb, $pairs pairs a step, $workers loader threads"
        limited 120 "$RUN" siamese train "${args[@]}" --epochs 2 --steps-per-epoch "$st" --val-steps 2 \
            --save-period 1000 --save-dir "$WORK/speed_$bb" >"$WORK/trainer_speed_$bb.log" 2>&1 ||
            { tail -5 "$WORK/trainer_speed_$bb.log"; echo "(siamese train $bb failed)"; }
        grep "^Epoch\|^|.* device \|^|.* precision " "$WORK/trainer_speed_$bb.log"
        line=$(grep "^Epoch 2/2" "$WORK/trainer_speed_$bb.log" | sed -n 's/.*  \([0-9.]*\) pairs\/s$/\1/p')
        echo "TRAINER backbone=$bb pairs_per_step=$pairs pairs_per_s=${line:-}" | tee -a "$WORK/trainer_speed.log"
        limited 60 "$RUN" siamese train "${args[@]}" --loader-benchmark $([ $DRY = 1 ] && echo 4 || echo 100) \
            2>&1 | grep "^loader alone" | sed "s/^/LOADER backbone=$bb /" | tee -a "$WORK/trainer_speed.log"
        # bench_model on the same model and batch, unless 3a measured it.
        if [ "$bb" != "$backbone" ] || ! grep -q "^RESULT mode=train batch=$pairs " "$WORK"/ours_train_*.log 2>/dev/null; then
            limited 60 "$RUN" bench_model --device "$dev" --mode train --batch "$pairs" --backbone "$bb" \
                $([ $DRY = 1 ] && echo --input 32) --seconds "$secs" --precision tf32 \
                >"$WORK/bench_${bb}_train_$pairs.log" 2>&1 && grep "pairs/s" "$WORK/bench_${bb}_train_$pairs.log"
        else
            cp "$WORK/ours_train_$pairs.log" "$WORK/bench_${bb}_train_$pairs.log"
        fi
    done
}

# Float32 activations under --precision bf16 (SIAMESE_CUDA_ACTS=f32,
# engine/backend_cuda.c): the way the runs of 2026-11-30 checked and timed,
# before bfloat16 activations became the default (on reasoning: they had
# not run on a GPU). So this step keeps the way before proven and timed
# beside the new default: its parity (every conv3x3 and dense operation,
# test_backend_parity --precision bf16), the same 200 training steps as 2b
# against FP32, then VGG16 training pairs/s in bf16 and the profile,
# against step 3a's bf16 figure and step 3c's bf16 profile (the default's).
# The dry run has no bf16: its parity harness of bfloat16 activations runs
# here instead (a second CPU backend emulating them: --device cpu-bf16).
# Main's variables.
float_activations() {
    section "3d. float32 activations under bf16 (SIAMESE_CUDA_ACTS=f32, the way before): parity, training against FP32, speed"
    if skip bf16-acts; then
        status "parity bf16 f32 acts" "SKIP (GPU_CHECK_SKIP)"
        status "training bf16 f32 acts" "SKIP (GPU_CHECK_SKIP)"
        return
    fi
    local pdev=$dev
    [ $DRY = 1 ] && pdev=cpu-bf16
    SIAMESE_CUDA_ACTS=f32 limited 60 "$RUN" test_backend_parity \
        --device "$pdev" --precision bf16 >"$WORK/parity_bf16_f32acts.log" 2>&1
    local rc=$?
    case $rc in
    0) status "parity bf16 f32 acts" PASS ;;
    124) status "parity bf16 f32 acts" "FAIL (timeout)" ;;
    *) status "parity bf16 f32 acts" FAIL ;;
    esac
    grep "^GPU\|^CPU 2\|^bfloat16\|^FAIL\|checks," "$WORK/parity_bf16_f32acts.log" | head -20
    [ $rc = 0 ] || { echo "(the log's end:)"; tail -6 "$WORK/parity_bf16_f32acts.log"; }
    if [ $DRY = 1 ]; then
        status "training bf16 f32 acts" "SKIP (dry run: the CPU has no bf16)"
        return
    fi
    SIAMESE_CUDA_ACTS=f32 limited 90 "$RUN" train_compare --a "$dev" --b "$dev" --precision bf16 \
        --data "$data_arg" --backbone "$backbone" --input "$input" --batch "$tbatch" \
        --steps "$tsteps" --every 20 --time-limit $(($(left) - 30 < 60 ? $(left) - 30 : 60)) \
        --csv "$RES/train_curves_bf16_f32acts.csv" >"$WORK/train_bf16_f32acts.log" 2>&1
    rc=$?
    case $rc in
    0) status "training bf16 f32 acts" PASS ;;
    124) status "training bf16 f32 acts" "FAIL (timeout)" ;;
    *) status "training bf16 f32 acts" FAIL ;;
    esac
    grep "^backend B\|^first .* steps:\|^all .* steps:\|^time per step" "$WORK/train_bf16_f32acts.log"
    [ $rc = 0 ] || { echo "(the log's end:)"; tail -8 "$WORK/train_bf16_f32acts.log"; }
    SIAMESE_CUDA_ACTS=f32 gpu_memory 60 "$WORK/f32acts_ours_train_${tb%%,*}.log" "$RUN" \
        bench_model --device "$dev" --mode train --batch "${tb%%,*}" --precision bf16 \
        --backbone "$backbone" --input "$input" --seconds "$secs" ||
        echo "(bench_model train --precision bf16 with float32 activations failed)"
    SIAMESE_CUDA_ACTS=f32 limited 60 "$RUN" siamese bench --mode profile --device "$dev" \
        --backbone "$backbone" --input-shape "$input" --batch "${tb%%,*}" --precision bf16 \
        --repeat 5 >"$WORK/profile_bf16_f32acts.log" 2>&1 ||
        echo "(bench --mode profile with float32 activations failed)"
    grep -v "^PROFILE" "$WORK/profile_bf16_f32acts.log"
    sed -n "s/^PROFILE /PROFILE precision=bf16 acts=f32 /p" "$WORK/profile_bf16_f32acts.log" >>"$RES/profile.txt"
}

# The CUDA backend's switches (engine/backend_cuda.c, the top): each way
# that is not the default, against the defaults, so that the run shows
# which to keep: the parity test with the switch (every operation and the
# compact model), then bench_model's VGG16 training at batch 32 in tf32
# and inference at batch 1 and 64. The last entry is the defaults of the
# runs of 2026-11-30 together (the pool backward pass apart from the ReLU
# mask and bias gradient, float32 activations under bf16, narrow inputs
# convolved as they are), with bf16 training and the tf32 profile too: the
# three defaults set on reasoning since, against the way before. One line
# per switch in RESULTS.md.
SWITCHES=(
    "SIAMESE_CUDA_BIAS_GRAD=cudnn"
    "SIAMESE_CUDA_POOL=cudnn"
    "SIAMESE_CUDA_CONV=find"
    "SIAMESE_CUDA_CONV=graph"
    "SIAMESE_CUDA_PAD=off"
    "SIAMESE_CUDA_POOL=argmax SIAMESE_CUDA_ACTS=f32 SIAMESE_CUDA_PAD=off"
)
switches() {
    section "4. the CUDA backend's switches: parity, VGG16 training and inference speed each"
    if skip switches; then
        echo "(left out: GPU_CHECK_SKIP)"
        return
    fi
    if [ $DRY = 1 ]; then
        echo "(dry run: the switches are the CUDA backend's; nothing to compare on the CPU)"
        return
    fi
    local i sw verdict run mode b line
    for i in "${!SWITCHES[@]}"; do
        sw=${SWITCHES[$i]}
        echo "-- $sw"
        # shellcheck disable=SC2086
        limited 60 env $sw "$RUN" test_backend_parity --device "$dev" >"$WORK/switch_$i.parity" 2>&1
        case $? in 0) verdict=PASS ;; 124) verdict="FAIL (timeout)" ;; *) verdict=FAIL ;; esac
        grep "^GPU:\|^FAIL\|checks," "$WORK/switch_$i.parity" | head -8
        # And 1c's bf16 parity (a second or two): the switch may change the
        # bfloat16 path too (SIAMESE_CUDA_PAD=off gives cuDNN a 3-channel
        # bfloat16 convolution, which may have no bfloat16 algorithm, and so
        # takes the FP32 fallback on bfloat16 activations).
        # shellcheck disable=SC2086
        limited 60 env $sw "$RUN" test_backend_parity --device "$dev" --precision bf16 \
            >"$WORK/switch_$i.parity_bf16" 2>&1
        case $? in 0) ;; 124) verdict="FAIL (bf16: timeout)" ;; *) verdict="FAIL (bf16)" ;; esac
        grep "^FAIL\|checks,\|float32$" "$WORK/switch_$i.parity_bf16" | head -8
        line="SWITCH $i parity=$verdict;"
        for run in $(runs "$ib" "$tb"); do
            mode=${run%%:*} b=${run##*:}
            # shellcheck disable=SC2086
            limited 60 env $sw "$RUN" bench_model --device "$dev" --mode "$mode" --batch "$b" \
                --backbone "$backbone" --input "$input" --seconds "$secs" --precision tf32 \
                >"$WORK/switch_${i}_${mode}_$b.log" 2>&1
            grep "pairs/s" "$WORK/switch_${i}_${mode}_$b.log" | head -2
            line+=" ${mode}_$b=$(result "$mode" "$b" "$WORK/switch_${i}_${mode}_$b.log")"
        done
        echo "$line" >>"$WORK/switches.log"
    done
    # The defaults before: bf16 training and where the time goes.
    sw=${SWITCHES[$((${#SWITCHES[@]} - 1))]}
    echo "-- the defaults before: $sw"
    # shellcheck disable=SC2086
    limited 60 env $sw "$RUN" bench_model --device "$dev" --mode train --batch "${tb%%,*}" \
        --backbone "$backbone" --input "$input" --seconds "$secs" --precision bf16 \
        >"$WORK/switch_all.bf16" 2>&1
    grep "pairs/s" "$WORK/switch_all.bf16"
    # shellcheck disable=SC2086
    limited 60 env $sw "$RUN" siamese bench --mode profile --device "$dev" --backbone "$backbone" \
        --input-shape "$input" --batch "${tb%%,*}" --precision tf32 --repeat 5 \
        >"$WORK/profile_all.log" 2>&1 || echo "(bench --mode profile with the last row's switches failed)"
    grep -v "^PROFILE" "$WORK/profile_all.log"
    sed -n "s/^PROFILE /PROFILE precision=tf32 switches=before /p" "$WORK/profile_all.log" >>"$RES/profile.txt"
}

# Where PyTorch's training step goes (bench/gpu_torch.py --profile):
# eager in channels_last (the faster in every run so far), the same model
# and batch as 3c, in tf32 and bf16, its kernels by layer and piece in 3c's
# table, for the summary's comparison piece by piece. Last, as no check
# depends on it, and only with a minute to spare.
torch_profile() {
    local tb=$1 p
    shift
    section "6. where PyTorch's training step goes: torch.profiler, eager channels_last"
    if skip torch-profile; then
        echo "(left out: GPU_CHECK_SKIP)"
        return
    fi
    if ! "$PY" -c "import torch" 2>/dev/null; then
        echo "$PY cannot import torch"
        return
    fi
    for p in tf32 bf16; do
        [ $DRY = 1 ] && [ $p = bf16 ] && continue
        if [ "$(left)" -lt 60 ]; then
            echo "(out of time: $(left) s left)"
            return
        fi
        limited 45 "$PY" bench/gpu_torch.py "$@" --impls eager-nhwc --train-batches "${tb%%,*}" \
            --precision $p --profile 5 >"$WORK/torch_profile_$p.log" 2>&1 ||
            echo "(gpu_torch.py --profile --precision $p failed)"
        grep -v "^PROFILE" "$WORK/torch_profile_$p.log"
        sed -n "s/^PROFILE /PROFILE peer=torch precision=$p /p" "$WORK/torch_profile_$p.log" >>"$RES/profile.txt"
    done
}

# pieces OURS TORCH: our profile's milliseconds a step by piece beside
# PyTorch's (their PROFILE lines), and the whole step inside operations.
pieces() {
    awk '
        BEGIN {  # tui/bench_profile.c'"'"'s columns
            n = split("copy,forward,bias+relu,pool,head,relu bwd,bias grad,wgrad,dgrad,pool bwd," \
                      "convert,backward,optimizer,other", order, ",")
        }
        FNR == 1 { f++ }
        /^PROFILE layer=/ {
            piece = $0; sub(/.* piece=/, "", piece); sub(/ ms=.*/, "", piece)
            ms = $NF; sub(/ms=/, "", ms)
            t[f, piece] += ms
            ran[piece] = 1
        }
        /^PROFILE step_ms=/ { ops = $NF; sub(/ops_ms=/, "", ops); total[f] = ops }
        function cell(v) { return v == "" ? "-" : sprintf("%.3f", v) }
        function q(a, b) { return a > 0 && b > 0 ? sprintf("%.2fx", a / b) : "-" }
        END {
            print "| piece | siamese (ms) | PyTorch (ms) | siamese / PyTorch |"
            print "|---|---|---|---|"
            for (i = 1; i <= n; i++) {
                p = order[i]
                if (!(p in ran)) continue
                print "| " p " | " cell(t[1, p]) " | " cell(t[2, p]) " | " q(t[1, p], t[2, p]) " |"
            }
            print "| inside operations | " cell(total[1]) " | " cell(total[2]) " | " q(total[1], total[2]) " |"
        }' "$1" "$2"
}

# Data-parallel training (engine/dist.h; main's variables, and the trainer's
# data set): the same 20 steps of VGG16 (32 pairs a step, fp32) in one
# process, under mpirun with one rank (the NCCL path: gradient buckets
# summed while the backward pass goes on), and with two ranks on the one
# GPU (NCCL refuses a GPU shared by two ranks: the MPI path through host
# memory, each rank with 16 of the 32 pairs). Their loss curves must agree
# with the one process's to a relative 1e-4 (cuDNN may choose other
# algorithms in another process: their sums round differently; the CPU
# test, tests/sh/train_mpi.sh, holds 1e-5). In the dry run, on the CPU
# with a small model, both mpirun runs take the MPI path.
data_parallel() {
    section "5. data-parallel training: 1 process, mpirun -np 1 (NCCL), mpirun -np 2 on one GPU (MPI)"
    if skip data-parallel; then
        status data-parallel "SKIP (GPU_CHECK_SKIP)"
        return
    fi
    if [ -z "$MPIRUN" ]; then
        status data-parallel "SKIP (no mpirun: neither the bundle nor this machine has Open MPI)"
        return
    fi
    if [ ! -d "$WORK/trainset" ]; then
        status data-parallel "SKIP (no images)"
        return
    fi
    local args=(--dataset "$WORK/trainset" --backbone "$backbone" --input-shape "$input" --batch-size 16
        --steps-per-epoch 10 --val-steps 2 --epochs 2 --optimizer sgd --lr 0.16 --lr-decay step
        --seed 3 --workers 4 --plain --precision fp32 --device "$dev" --save-period 100)
    local tol=1e-4 want1="gradients summed by NCCL" want2="ranks share a GPU"
    if [ $DRY = 1 ]; then
        args+=(--widths 8,8,16,16,16 --hidden 32 --threads 1)
        tol=1e-5 want1="gradients summed by MPI" want2="gradients summed by MPI"
    fi
    local ok=1 n
    limited 120 "$RUN" siamese train "${args[@]}" --save-dir "$WORK/dp_one" >"$WORK/dp_one.log" 2>&1 ||
        { tail -5 "$WORK/dp_one.log"; ok=0; }
    for n in 1 2; do
        limited 150 $MPIRUN --oversubscribe --bind-to none -np $n "$RUN" siamese train "${args[@]}" \
            --save-dir "$WORK/dp_$n" >"$WORK/dp_$n.log" 2>&1 || { tail -20 "$WORK/dp_$n.log"; ok=0; }
        grep "gradients summed\|^rank 0's" "$WORK/dp_$n.log"
    done
    grep -q "$want1" "$WORK/dp_1.log" || { echo "1 rank: expected '$want1'"; ok=0; }
    grep -q "$want2" "$WORK/dp_2.log" || { echo "2 ranks: expected '$want2'"; ok=0; }
    # Both ranks report the same device (the one GPU): the configuration
    # table shows it once, as one row for ranks 0-1.
    grep "| *device" "$WORK/dp_2.log"
    grep -q "| *device (ranks 0-1) | " "$WORK/dp_2.log" || { echo "2 ranks: expected one device row for ranks 0-1"; ok=0; }
    for n in 1 2; do
        [ $ok = 1 ] || break
        paste "$WORK"/dp_one/loss_*/epoch_loss.txt "$WORK"/dp_$n/loss_*/epoch_loss.txt \
            "$WORK"/dp_one/loss_*/epoch_val_loss.txt "$WORK"/dp_$n/loss_*/epoch_val_loss.txt |
            awk -v n=$n -v tol=$tol '{d = ($2 - $1) / $1; d = d < 0 ? -d : d; v = ($4 - $3) / $3
                  v = v < 0 ? -v : v; if (v > d) d = v; if (d > m) m = d
                  printf "epoch %d: loss %.6f, %d rank%s %.6f; val_loss %.6f, %.6f\n", NR, $1, n, (n > 1 ? "s" : ""), $2, $3, $4}
                  END {printf "data-parallel: %d rank%s against one process: max relative difference %.2e (limit %s)\n", n, (n > 1 ? "s" : ""), m, tol
                       exit !(NR == 2 && m <= tol)}' | tee -a "$WORK/data_parallel.log"
        [ "${PIPESTATUS[1]}" = 0 ] || ok=0
    done
    [ $ok = 1 ] && status data-parallel PASS || status data-parallel FAIL
}

# "infer:1 infer:64 train:32" from the batch lists "1,64" and "32"
runs() {
    local b
    for b in ${1//,/ }; do echo "infer:$b"; done
    for b in ${2//,/ }; do echo "train:$b"; done
}

# pairs/s of a RESULT line matching mode and batch in the given logs
result() {  # mode batch files...
    local mode=$1 b=$2
    shift 2
    grep -h "^RESULT.* mode=$mode batch=$b " "$@" 2>/dev/null | sed -n 's/.*pairs_per_s=\([0-9.]*\).*/\1/p' | sort -g | tail -1
}
ms() {
    grep -h "^RESULT mode=$1 batch=$2 " "$WORK/ours_$1_$2.log" 2>/dev/null | sed -n 's/.*ms_per_batch=\([0-9.]*\).*/\1/p'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) printf "%.2fx", a / b; else printf "-"}'; }

# meets VALUE OP TARGET: "met" or "missed" (OP is >= or <=), "not measured"
# without a value.
meets() {
    awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
        if (v == "" || v == "-") { print "not measured"; exit }
        ok = op == ">=" ? v + 0 >= t + 0 : v + 0 <= t + 0
        print ok ? "met" : "missed" }'
}
# The fastest eager PyTorch figure for mode and batch in a gpu_torch.py log:
# FIELD pairs_per_s (the largest) or ms_per_batch (the smallest).
eager_best() {  # log mode batch field
    grep -h "^RESULT impl=eager.* mode=$2 batch=$3 " "$1" 2>/dev/null |
        sed -n "s/.* $4=\([0-9.]*\).*/\1/p" | sort -g | if [ "$4" = ms_per_batch ]; then head -1; else tail -1; fi
}
quotient() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) printf "%.3f", a / b}'; }

# The goals of the CUDA engine's issue (#11), each with its figure from this
# run and whether it is met; and whether every check passed (a skipped
# check proves nothing). Summary's figures as arguments; main's logs.
goals() {
    local ib=$1 tb=$2 amp_ours=$3 amp_torch=$4 peak=$5 b1=${2%%,*} bi=${1##*,} k all=met
    local train_r infer_r lat_r compact vgg_r amp_r failed=""
    train_r=$(quotient "$(result train "$b1" "$WORK/ours_train_$b1.log")" "$(eager_best "$WORK/torch.log" train "$b1" pairs_per_s)")
    infer_r=$(quotient "$(result infer "$bi" "$WORK/ours_infer_$bi.log")" "$(eager_best "$WORK/torch.log" infer "$bi" pairs_per_s)")
    lat_r=$(quotient "$(ms infer 1)" "$(eager_best "$WORK/torch.log" infer 1 ms_per_batch)")
    compact=$(sed -n "s/^TRAINER backbone=compact .*pairs_per_s=\([0-9.]*\).*/\1/p" "$WORK/trainer_speed.log" 2>/dev/null | head -1)
    vgg_r=$(quotient "$(sed -n "s/^TRAINER backbone=vgg16 .*pairs_per_s=\([0-9.]*\).*/\1/p" "$WORK/trainer_speed.log" 2>/dev/null | head -1)" \
        "$(result train "$b1" "$WORK/bench_vgg16_train_$b1.log")")
    amp_r=$(quotient "$amp_ours" "$amp_torch")
    for k in "${ORDER[@]}"; do
        [[ ${STATUS[$k]} == PASS* || ${STATUS[$k]} == done* ]] && continue
        all=missed failed+="${failed:+; }$k: ${STATUS[$k]}"
    done
    echo
    echo "Goals (issue #11; PyTorch eager = the faster of NCHW and channels_last in this run):"
    echo
    echo "| goal | target | this run | verdict |"
    echo "|---|---|---|---|"
    echo "| every check PASS (none skipped) | all | ${failed:-all PASS} | $all |"
    echo "| training, $b1 pairs a step, tf32, against PyTorch eager | >= 1.30x | ${train_r:+${train_r}x} | $(meets "$train_r" ">=" 1.30) |"
    echo "| training, $b1 pairs a step, bf16, against autocast | >= 1.30x | ${amp_r:+${amp_r}x} | $(meets "$amp_r" ">=" 1.30) |"
    echo "| inference, batch $bi, against PyTorch eager | >= 1.30x | ${infer_r:+${infer_r}x} | $(meets "$infer_r" ">=" 1.30) |"
    echo "| one pair's latency, host to host, as a share of PyTorch eager's | <= 0.77x | ${lat_r:+${lat_r}x} | $(meets "$lat_r" "<=" 0.77) |"
    echo "| siamese train, compact, pairs/s | >= 10000 | ${compact} | $(meets "$compact" ">=" 10000) |"
    echo "| siamese train, VGG16, against bench_model's training figure | >= 0.90x | ${vgg_r:+${vgg_r}x} | $(meets "$vgg_r" ">=" 0.90) |"
    echo "| GPU memory, VGG16 training at $b1 pairs a step | < 4096 MiB | ${peak:+$peak MiB} | $(meets "$peak" "<=" 4095) |"
}

summary() {
    local ib=$1 tb=$2 mode b ours eager comp run
    section "summary"
    {
        local gpu_name
        gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
        echo "## GPU check ($(date -u +%Y-%m-%d), ${gpu_name:-no GPU})"
        echo
        [ $DRY = 1 ] && echo "**DRY RUN on the CPU at toy sizes: not a GPU result.**" && echo
        echo "| check | result |"
        echo "|---|---|"
        for k in "${ORDER[@]}"; do echo "| $k | ${STATUS[$k]} |"; done
        echo
        grep -h "^GPU:\|^model \|worst max rel err\|ReLU or max-pool decisions" "$WORK/parity.log" 2>/dev/null | sed 's/^ */- parity: /'
        grep -h "^backend B\|^model \|^first .* steps:\|^last .* steps:\|^time per step\|time limit" "$WORK/train.log" 2>/dev/null | sed 's/^/- training: /'
        sed -n 's/.*max rel err \([0-9.e+-]*\) (tolerance 5e-03).*/\1/p' "$WORK/parity_tf32.log" 2>/dev/null |
            sort -g | tail -1 | sed 's/^/- parity tf32: worst max rel err of a tf32 conv tensor: /;s/$/ (limit 5e-03)/'
        sed -n 's/.*max rel err \([0-9.e+-]*\) (tolerance 2e-02).*/\1/p' "$WORK/parity_bf16.log" 2>/dev/null |
            sort -g | tail -1 | sed 's/^/- parity bf16: worst max rel err of a bf16 conv or dense tensor: /;s/$/ (limit 2e-02)/'
        grep -h "^first .* steps:\|^all .* steps:\|^time per step\|time limit" "$WORK/train_bf16.log" 2>/dev/null | sed 's/^/- training bf16 (A FP32, B --precision bf16): /'
        sed -n 's/.*max rel err \([0-9.e+-]*\) (tolerance 2e-02).*/\1/p' "$WORK/parity_bf16_f32acts.log" 2>/dev/null |
            sort -g | tail -1 | sed 's/^/- parity bf16 f32 acts (SIAMESE_CUDA_ACTS=f32): worst max rel err of a bf16 conv or dense tensor: /;s/$/ (limit 2e-02)/'
        grep -h "^first .* steps:\|^all .* steps:\|^time per step\|time limit" "$WORK/train_bf16_f32acts.log" 2>/dev/null | sed 's/^/- training bf16 f32 acts (A FP32, B --precision bf16, SIAMESE_CUDA_ACTS=f32): /'
        echo
        echo "Pairs per second (--precision tf32 on both sides: TF32 convolutions, FP32 dense, PyTorch's defaults; PyTorch eager = the faster of NCHW and channels_last):"
        echo
        echo "| run | siamese | PyTorch eager | ratio | torch.compile | ratio |"
        echo "|---|---|---|---|---|---|"
        for run in $(runs "$ib" "$tb"); do
            mode=${run%%:*} b=${run##*:}
            ours=$(result "$mode" "$b" "$WORK/ours_${mode}_$b.log")
            eager=$(grep -h "impl=eager" "$WORK/torch.log" 2>/dev/null | grep " mode=$mode batch=$b " | sed -n 's/.*pairs_per_s=\([0-9.]*\).*/\1/p' | sort -g | tail -1)
            comp=$(grep -h "impl=compile" "$WORK/torch.log" 2>/dev/null | grep " mode=$mode batch=$b " | sed -n 's/.*pairs_per_s=\([0-9.]*\).*/\1/p')
            echo "| $mode batch $b | ${ours:--} | ${eager:--} | $(ratio "$ours" "$eager") | ${comp:--} | $(ratio "$ours" "$comp") |"
        done
        echo
        local lat peak_train
        lat=$(ms infer 1)
        peak_train=$(sed -n 's/^PEAK_MIB //p' "$WORK/ours_train_${tb%%,*}.log" 2>/dev/null)
        echo "- single-pair latency (siamese, batch 1, host to host): ${lat:--} ms (target < 1 ms)"
        echo "- GPU memory, siamese training at batch ${tb%%,*} (nvidia-smi, CUDA context included): ${peak_train:--} MiB (target < 4096 MiB)"
        local torch_peak
        torch_peak=$(grep -h "^RESULT impl=eager.* mode=train batch=${tb%%,*} " "$WORK/torch.log" 2>/dev/null |
            sed -n 's/.*peak_mib=\([0-9]*\).*/\1/p' | sort -n | head -1)
        echo "- PyTorch eager's own peak (allocator reserved, no CUDA context), training at batch ${tb%%,*}: ${torch_peak:--} MiB"
        echo "- targets: training and batch-64 inference >= 1.3x PyTorch eager"
        local b1=${tb%%,*} amp_ours amp_torch fp32_ours
        amp_ours=$(result train "$b1" "$WORK/bf16_ours_train_$b1.log")
        amp_torch=$(grep -h "^RESULT impl=eager.* mode=train batch=$b1 .*precision=bf16" "$WORK/bf16_torch.log" 2>/dev/null |
            sed -n 's/.*pairs_per_s=\([0-9.]*\).*/\1/p' | sort -g | tail -1)
        fp32_ours=$(result train "$b1" "$WORK/ours_train_$b1.log")
        echo
        echo "Training pairs per second in mixed precision (siamese --precision bf16; PyTorch eager under autocast bf16, the faster of NCHW and channels_last):"
        echo
        echo "| run | siamese bf16 | PyTorch autocast bf16 | ratio | siamese tf32 | bf16 speed-up |"
        echo "|---|---|---|---|---|---|"
        echo "| train batch $b1 | ${amp_ours:--} | ${amp_torch:--} | $(ratio "$amp_ours" "$amp_torch") | ${fp32_ours:--} | $(ratio "$amp_ours" "$fp32_ours") |"
        local acts_ours
        acts_ours=$(result train "$b1" "$WORK/f32acts_ours_train_$b1.log")
        if [ -n "$acts_ours" ]; then
            echo "| train batch $b1, float32 activations (SIAMESE_CUDA_ACTS=f32, the way before) | $acts_ours | ${amp_torch:--} | $(ratio "$acts_ours" "$amp_torch") | ${fp32_ours:--} | $(ratio "$acts_ours" "$fp32_ours") |"
            echo
            echo "- the default bf16 path (bfloat16 activations) against float32 activations: $(ratio "$amp_ours" "$acts_ours"); GPU memory in training: $(sed -n 's/^PEAK_MIB //p' "$WORK/bf16_ours_train_$b1.log" 2>/dev/null) MiB (bfloat16 activations), $(sed -n 's/^PEAK_MIB //p' "$WORK/f32acts_ours_train_$b1.log" 2>/dev/null) MiB (float32)"
        fi
        echo
        echo "The real trainer (siamese train --precision tf32, 2 epochs, the second one's pairs/s; the loader alone with the same threads; bench_model on the same model and batch):"
        echo
        echo "| model | pairs a step | siamese train | bench_model | train / bench | loader alone |"
        echo "|---|---|---|---|---|---|"
        local bb pairs tr bm ld
        while read -r bb pairs; do
            tr=$(sed -n "s/^TRAINER backbone=$bb pairs_per_step=$pairs pairs_per_s=\([0-9.]*\).*/\1/p" "$WORK/trainer_speed.log" 2>/dev/null)
            ld=$(sed -n "s/^LOADER backbone=$bb .*: \([0-9.]*\) pairs\/s$/\1/p" "$WORK/trainer_speed.log" 2>/dev/null)
            bm=$(result train "$pairs" "$WORK/bench_${bb}_train_$pairs.log")
            echo "| $bb | $pairs | ${tr:--} | ${bm:--} | $(ratio "$tr" "$bm") | ${ld:--} |"
        done < <(sed -n 's/^TRAINER backbone=\([a-z0-9]*\) pairs_per_step=\([0-9]*\).*/\1 \2/p' "$WORK/trainer_speed.log" 2>/dev/null)
        echo "- targets: compact >= 10,000 pairs/s; VGG16 within 10% of bench_model's figure"
        grep -h "^trainer: " "$WORK/trainer.log" 2>/dev/null | sed 's/^trainer: /- trainer: /'
        grep -h "^data-parallel: " "$WORK/data_parallel.log" 2>/dev/null | sed 's/^/- /'
        grep -h "gradients summed\|^rank 0's" "$WORK"/dp_[12].log 2>/dev/null | sed 's/^/- data-parallel: /'
        goals "$ib" "$tb" "$amp_ours" "$amp_torch" "$peak_train"
        if [ -s "$WORK/switches.log" ]; then
            echo
            echo "The CUDA backend's switches (engine/backend_cuda.c): parity with each (every operation and the compact model in fp32, conv and dense in bf16), VGG16 pairs/s in tf32 and each against the defaults' figure of step 3a:"
            echo
            local i v cells head=() row
            for run in $(runs "$ib" "$tb"); do head+=("${run/:/ batch }" "against the defaults"); done
            printf '| switches | parity |'; printf ' %s |' "${head[@]}"; echo
            printf '|---|---|'; printf -- '---|%.0s' "${head[@]}"; echo
            for i in "${!SWITCHES[@]}"; do
                v=$(sed -n "s/^SWITCH $i parity=\([^;]*\);.*/\1/p" "$WORK/switches.log")
                row="| ${SWITCHES[$i]} | ${v:--} |"
                for run in $(runs "$ib" "$tb"); do
                    mode=${run%%:*} b=${run##*:}
                    cells=$(sed -n "s/^SWITCH $i .* ${mode}_$b=\([0-9.]*\).*/\1/p" "$WORK/switches.log")
                    row+=" ${cells:--} | $(ratio "$cells" "$(result "$mode" "$b" "$WORK/ours_${mode}_$b.log")") |"
                done
                echo "$row"
            done
            local all_bf16
            all_bf16=$(result train "${tb%%,*}" "$WORK/switch_all.bf16")
            echo
            echo "- the last row's switches (the defaults before): training bf16 ${all_bf16:--} pairs/s (defaults ${amp_ours:--}: $(ratio "$all_bf16" "$amp_ours"))"
        fi
        if [ -s "$WORK/profile_all.log" ]; then
            echo
            echo "Where a training step's time goes with the last row's switches (the defaults before; tf32):"
            echo
            echo '```'
            grep "^layer\|^total\|^step:" "$WORK/profile_all.log"
            echo '```'
        fi
        for p in tf32 bf16 bf16_f32acts; do
            [ -s "$WORK/profile_$p.log" ] || continue
            echo
            echo "Where a training step's time goes ($p, siamese bench --mode profile, ms; full table in gpu_check.log):"
            echo
            echo '```'
            grep "^layer\|^total\|^step:" "$WORK/profile_$p.log"
            echo '```'
            grep -q "^PROFILE layer=" "$WORK/torch_profile_$p.log" 2>/dev/null || continue
            echo
            echo "The same step piece by piece beside PyTorch's ($p; PyTorch eager channels_last, its kernels by torch.profiler, step 6):"
            echo
            pieces "$WORK/profile_$p.log" "$WORK/torch_profile_$p.log"
        done
    } | tee "$RES/RESULTS.md"
}

main "$@" 2>&1 | tee "$RES/gpu_check.log"
rc=${PIPESTATUS[0]}
echo "total time: $((SECONDS - T0)) s; exit $rc"
[ -n "${OUT:-}" ] && echo "log: $OUT/gpu_check.log, summary: $OUT/RESULTS.md"
exit $rc
