#!/usr/bin/env bash
# The training dashboard of a real run as a person sees it (tmux): the
# finish line is a sentence ("Finished 1 epoch; best validation loss ..."),
# and the loss chart of an untrained model, flat at ln 2 = 0.6931, has
# three different axis labels; Ctrl-C closes a finished run with exit
# status 0, as q does.
. tests/shlib.sh
. tests/tmuxlib.sh
src=$OMNIGLOT/images_background
need_omniglot "$src"
# 2 alphabets x 3 characters x 20 drawings, as links (never copies).
for alphabet in Alphabet_of_the_Magi Anglo-Saxon_Futhorc; do
    for ch in character01 character02 character03; do
        mkdir -p "$TMP/data/images_background/$alphabet/$ch"
        for img in $(ls "$src/$alphabet/$ch"/*.png | head -20); do
            ln -s "$(realpath "$img")" "$TMP/data/images_background/$alphabet/$ch/"
        done
    done
done
opts="--dataset $TMP/data --backbone compact --input-shape 32 --batch-size 4 --steps-per-epoch 3
      --val-ratio 0.5 --workers 1 --threads 1 --lr 1e-6 --optimizer adam"

tmux_start 100 30 "$SIAMESE train $(echo $opts) --epochs 1 --save-dir $TMP/logs1"
tmux_wait "FINISHED" "the end of the one-epoch run"
tmux_wait "Finished 1 epoch; best validation loss [0-9.]+" "the finish line as a sentence"
tmux_lacks "Finished: finished|1 epochs" "the finish line repeats itself or says '1 epochs'"
tmux_keys q
tmux_wait "EXIT=0" "the exit after q"

tmux_start 100 30 "$SIAMESE train $(echo $opts) --epochs 3 --save-dir $TMP/logs3"
tmux_wait "FINISHED" "the end of the three-epoch run"
# The loss chart's labels: the text before each labelled tick (┤) in the
# chart's box, right of the epoch table.
labels=$(tmux_screen | grep -o '│ *[0-9.e+-]*┤' | sed 's/[│┤ ]//g' | grep . | head -3)
echo "loss chart labels: $(echo $labels)"
[ "$(echo "$labels" | wc -l)" -eq 3 ] || fail "expected 3 labels on the loss chart, got: $labels"
[ "$(echo "$labels" | sort -u | wc -l)" -eq 3 ] || fail "the loss chart's labels repeat: $(echo $labels)"
# Ctrl-C on a finished run closes it as q does: the run finished, exit 0
# (130 would tell a script it was interrupted).
tmux_keys C-c
tmux_wait "EXIT=" "the exit after Ctrl-C"
tmux_wait "EXIT=0" "exit status 0 after Ctrl-C closed a finished run"
tmux_wait "^finished 3 epochs" "the summary of a finished run"
finish
