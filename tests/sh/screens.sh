#!/usr/bin/env bash
# The compare screen as a person sees it (tmux): old errors go when a new
# pair is entered; panel titles keep the file name of a long path; :help
# closes with Esc, q, an empty Enter or Ctrl-L and the key after Esc is not
# lost, and its lines fit 80 columns; a long message is readable whole; a
# small window still shows the score and the prompt; the score bar marks the
# threshold; the header says whether the model wants inverted input; a
# history file that cannot be written is said once.
. tests/shlib.sh
. tests/tmuxlib.sh
d=$OMNIGLOT/images_background/Alphabet_of_the_Magi/character01
need_omniglot "$d"
a=$d/0709_01.png b=$d/0709_02.png
ref=$("$SIAMESE" predict "$a" "$b" 2>/dev/null) || fail "siamese predict failed"
verdict=SAME
awk "BEGIN { exit !($ref < 0.5) }" && verdict=DIFFERENT

# ---- old error lines go when a new line is entered ----------------------------------
tmux_start 100 30 "$SIAMESE"
tmux_wait "Input image_1 filename:" "the first prompt"
tmux_keys no/such/one.png Enter
tmux_wait "Image_1 Open Error! Try again! \(no/such/one.png" "the first error"
tmux_keys no/such/two.png Enter
tmux_wait "Image_1 Open Error! Try again! \(no/such/two.png" "the second error"
tmux_lacks "one.png" "the older error is still under the newer one"
tmux_text "$a"; tmux_keys Enter
tmux_wait "Input image_2 filename:" "the second prompt"
tmux_text "$b"; tmux_keys Enter
tmux_wait "Similarity: $ref" "the score"
tmux_lacks "Open Error" "an error of an earlier line stays under the new score"
# The bar marks the threshold: the bar's cell at 0.5 is a vertical line.
line=$(tmux_screen | grep "Similarity: $ref")
echo "$line" | grep -q "█│█\|░│░\|█│░" || fail "no threshold mark in the score bar: $line"
echo "$line" | grep -q "$verdict (threshold 0.50)" || fail "no verdict: $line"
# A threshold with more decimals is shown with them (0.9999 is not 1.00).
tmux_keys ":threshold 0.9999" Enter
tmux_wait "Similarity: $ref .*\(threshold 0\.9999\)" "the threshold 0.9999 shown as it is"
tmux_keys ":threshold 0.5" Enter
tmux_wait "Similarity: $ref .*\(threshold 0\.50\)" "the threshold 0.5 back"
# The header names the model and how it wants its input.
tmux_wait "model .*siamese_omniglot\.h5|model .*untrained_random\.h5" "the model in the header"
tmux_wait "input 105, (inverted \(1 - x\)|not inverted)" "the input's inversion in the header"
# The old errors are in the log (PgUp), whole.
tmux_keys PPage
tmux_wait "Messages" "the log panel"
tmux_wait "no/such/one.png" "the first error in the log"
tmux_keys Escape
tmux_lacks "Messages" "Esc did not close the log"

# ---- a history file that cannot be written: one note, however many lines -------------
tmux_start 160 30 "SIAMESE_HISTORY=$TMP/no/such/dir/history $SIAMESE"
tmux_wait "note: cannot write the history file $TMP/no/such/dir/history" "the note on the history"
tmux_text "$a"; tmux_keys Enter
tmux_wait "Input image_2 filename:" "the second prompt without a history"
tmux_text "$b"; tmux_keys Enter
tmux_wait "Similarity: $ref" "the score without a history"
tmux_keys :log Enter
tmux_wait "Messages" "the log panel"
n=$(tmux_screen | grep -c "cannot write the history file")
[ "$n" -eq 1 ] || fail "the note on the history file is in the log $n times"

# ---- panel titles cut on the left ---------------------------------------------------
tmux_start 80 24 "$SIAMESE"
tmux_wait "Input image_1 filename:"
tmux_text "$a"; tmux_keys Enter
tmux_wait "image_1: \.\.\.[^ ]*01/0709_01\.png ─" "the title ending with the file name"

# ---- :help closes with Esc, q, an empty Enter, Ctrl-L; Esc does not eat a key ---------
tmux_start 100 40 "$SIAMESE"
tmux_wait "Input image_1 filename:"
for close in Escape q Enter C-l; do
    tmux_keys :help Enter
    tmux_wait "Help .*closes" "the help panel with its hint"
    tmux_keys "$close"
    tmux_wait "image_1 ─" "the images back after $close"
    tmux_lacks "Help " "$close did not close the help"
done
tmux_keys :help Enter
tmux_wait "Help "
tmux_keys Escape
sleep 0.3
tmux_keys x
tmux_wait "Input image_1 filename: x$" "the key typed after Esc"
tmux_keys C-u Escape
sleep 0.3
tmux_keys y
tmux_wait "Input image_1 filename: y$" "the key typed after Esc at the prompt"

# ---- a long message is readable whole ------------------------------------------------
tmux_start 80 24 "$SIAMESE"
tmux_wait "Input image_1 filename:"
tmux_keys ":train --dataset $TMP/nonexist" Enter
tmux_wait "Messages" "the log panel with the long message"
text=$(tmux_screen | sed -n 's/^│ \(.*[^ ]\) *│$/\1/p' | tr '\n' ' ')
for words in "$TMP/nonexist" "Training reads" "(your own classes)"; do
    [[ $text == *"$words"* ]] || fail "the message lacks '$words': $text"
done
tmux_screen | grep -q '~ *│*$' && fail "a message row is cut with '~'"

# ---- a bad :train option: the error, then the pointer to the help ---------------------
tmux_start 80 24 "$SIAMESE"
tmux_wait "Input image_1 filename:"
tmux_keys ":train --epochs 0" Enter
tmux_wait "lists the options" "the pointer to :train --help"
rows=$(tmux_screen | grep -E -- "--epochs: 0 is out of range|':train --help' lists the options")
[[ $(echo "$rows" | head -1) == *"out of range"* && $(echo "$rows" | sed -n 2p) == *"lists the options"* ]] ||
    fail "the error should come before the pointer to the help: $rows"

# ---- the help fits a standard 80x24 terminal: no line of it is cut -------------------
tmux_start 80 24 "$SIAMESE"
tmux_wait "Input image_1 filename:"
tmux_keys :help Enter
tmux_wait "Help .*closes" "the help panel"
help_rows() { tmux_screen | sed -n 's/^│ \(.*\)│$/\1/p'; }
seen=$(help_rows)
for _ in 1 2 3; do tmux_keys NPage; sleep 0.2; seen+=$'\n'$(help_rows); done
echo "$seen" | grep -q ':quit' || fail "the help's last line never showed at 80x24"
cut=$(echo "$seen" | grep '~ *$') && fail "help lines cut at 80 columns: $cut"

# ---- a small window: the score and the prompt stay ------------------------------------
for size in "40 12" "30 6" "24 3"; do
    tmux_start $size "$SIAMESE"
    tmux_wait "Input image_1" "the prompt at $size"
    tmux_lacks "too small" "a small window ($size) hides the interface"
    tmux_text "$a"; tmux_keys Enter
    tmux_wait "Input image_2" "the second prompt at $size"
    tmux_text "$b"; tmux_keys Enter
    tmux_wait "Similarity: $ref" "the score at $size"
    tmux_wait "Input image_1" "the prompt after the score at $size"
done
tmux_start 40 12 "$SIAMESE"
tmux_wait "Input image_1"
tmux_text "$a"; tmux_keys Enter
tmux_wait "─ 0709_01\.png ─" "the image's file name on its panel at 40x12"
finish
