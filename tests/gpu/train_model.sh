#!/usr/bin/env bash
# train_model.sh: the shipped model (model_data/siamese_omniglot.h5)
# retrained on a GPU from random weights with its recipe, then evaluated, in
# one call: 640,000 pairs (264 s on an H200 for the shipped file), then
# 20-way one-shot accuracy on images_evaluation (2000 within-alphabet
# episodes, seed 7; 400 episodes, seed 1) and verification.
#
# On the GPU machine, with the programs and the whole of Omniglot carried:
#     make gpu-bundle-model      # -> gpu_carry/ (programs + Omniglot, ignored by git)
# then the device tool: carry ["gpu_carry"], command
# "bash tests/gpu/train_model.sh". $OUT receives siamese_omniglot.h5 (the
# run's best_epoch_weights.h5), the training log and loss curve, the
# evaluations and RESULTS.md. Without gpu_carry/ it builds the tree with
# make and reads Omniglot from $OMNIGLOT_FULL (default ../shared/omniglot).
#
#   --dry-run   the same steps on the CPU at toy size (a tiny network, a few
#               steps, 2-way trials): checks the script on a machine without
#               a GPU (tests/sh/gpu_train_model.sh runs it).
# Environment: GPU_CHECK_DEVICE (cuda), TRAIN_EPOCHS (50), TRAIN_MINUTES (6, the
# training's --time-limit), TRAIN_ARGS (more options for siamese train, such
# as "--widths 32,64,128,256,256": the next experiments), PYTHON (python3).
set -u
cd "$(dirname "$0")/../.." || exit 2
# gpu_script_start, setup_programs: the scratch folder, the programs ready to
# run here (RUN, FULL).
. tests/gpu/programs.sh
gpu_script_start siamese_train "$@"
section() { printf '\n==== %s  [%ds elapsed]\n' "$1" $((SECONDS - T0)); }

main() {
    section "machine"
    date -u
    echo "CPU cores: $(nproc)"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv
    setup_programs || return 1
    [ -n "$FULL" ] || FULL=${OMNIGLOT_FULL:-../shared/omniglot}
    echo "Omniglot: $FULL"
    local dev=$GPU workers=$(($(nproc) > 1 ? $(nproc) - 1 : 1))
    # The recipe of model_data/README.md (GPU): batch 32 (64 pairs a step),
    # 50 epochs of 200 steps, Adam, cosine schedule, half the negatives from
    # the same alphabet, Koch's distortions.
    local size=(--backbone compact --input-shape 105 --epochs "${TRAIN_EPOCHS:-50}"
        --steps-per-epoch 200 --val-steps 10 --batch-size 32)
    local ev=(--ways 20 --shots 1) ep7=2000 ep1=400 pairs=1000
    if [ $DRY = 1 ]; then
        # Two "alphabets" of three characters of eight drawings, from the
        # sample images.
        local a c k f
        for a in alpha beta; do
            for c in 1 2 3; do
                for k in images_background images_evaluation; do
                    mkdir -p "$WORK/omni/$k/$a/char$c"
                    for f in img/a.png img/b.png img/c.png img/d.jpg; do
                        cp "$f" "$WORK/omni/$k/$a/char$c/1_$(basename "$f")"
                        cp "$f" "$WORK/omni/$k/$a/char$c/2_$(basename "$f")"
                    done
                done
            done
        done
        FULL=$WORK/omni dev=cpu workers=1
        size=(--backbone compact --widths 2,2,4,4,4 --hidden 8 --input-shape 32 --epochs 2
            --steps-per-epoch 2 --val-steps 1 --batch-size 2 --val-ratio 0.5)
        ev=(--ways 2 --shots 1) ep7=4 ep1=2 pairs=4
        echo "DRY RUN: '$GPU' replaced by the CPU, a toy network and dataset"
    fi
    [ -d "$FULL/images_background" ] && [ -d "$FULL/images_evaluation" ] ||
        { echo "no Omniglot at $FULL (images_background, images_evaluation): make gpu-bundle-model"; return 1; }

    section "train (the recipe of model_data/siamese_omniglot.h5)"
    local t1=$SECONDS
    "$RUN" siamese train --dataset "$FULL" "${size[@]}" --invert --optimizer adam --lr 4e-3 \
        --weight-decay 0 --lr-decay cos --same-alphabet-negatives 0.5 --augment koch --seed 1 \
        --device "$dev" --workers "$workers" --save-period 1000 --save-dir "$WORK/logs" \
        --time-limit "${TRAIN_MINUTES:-6}" --plain ${TRAIN_ARGS:-} 2>&1 | tee "$RES/train.log"
    [ "${PIPESTATUS[0]}" = 0 ] || { echo "training failed"; return 1; }
    local train_s=$((SECONDS - t1))
    cp "$WORK/logs/best_epoch_weights.h5" "$RES/siamese_omniglot.h5" || return 1
    cp "$WORK"/logs/loss_*/epoch_loss.png "$RES/training_curve.png" 2>/dev/null
    cp "$WORK"/logs/loss_*/epoch_loss.txt "$WORK"/logs/loss_*/epoch_val_loss.txt "$RES/" 2>/dev/null

    section "evaluate on images_evaluation"
    local m=$RES/siamese_omniglot.h5
    "$RUN" siamese eval "$FULL/images_evaluation" --model "$m" --device "$dev" "${ev[@]}" \
        --episodes $ep7 --seed 7 --pairs $pairs 2>&1 | tee "$RES/eval_seed7.txt" || return 1
    "$RUN" siamese eval "$FULL/images_evaluation" --model "$m" --device "$dev" "${ev[@]}" \
        --episodes $ep1 --seed 1 --pairs 0 2>&1 | tee "$RES/eval_seed1.txt" || return 1

    section "summary"
    {
        echo "# Retrained: model_data/siamese_omniglot.h5's recipe$([ $DRY = 1 ] && echo " (DRY RUN, toy size)")"
        echo
        echo "- machine: $(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 || echo "no GPU") ($(nproc) CPU cores), device $dev"
        echo "- training: $train_s s wall ($(grep -c '^Epoch' "$RES/train.log") epochs); $(grep -m1 '^stopped\|^finished' "$RES/train.log")"
        echo "- $(grep -h 'way' "$RES/eval_seed7.txt") (seed 7)"
        echo "- $(grep -h 'verification' "$RES/eval_seed7.txt")"
        echo "- $(grep -h 'way' "$RES/eval_seed1.txt") (seed 1)"
        echo "- sha256 of the weights: $(sha256sum "$RES/siamese_omniglot.h5" | cut -d' ' -f1)"
    } | tee "$RES/RESULTS.md"
}

main "$@" 2>&1 | tee "$RES/train_model.log"
rc=${PIPESTATUS[0]}
echo "total time: $((SECONDS - T0)) s; exit $rc"
exit $rc
