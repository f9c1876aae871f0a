# Sourced by the shell tests that look at the terminal interface as a person
# sees it: the program runs in a tmux pane of a fixed size (a private tmux
# server), keys go in with send-keys, and the screen comes back as text
# with capture-pane, so a test can say what is on it and what is not.
# Needs shlib.sh first.
command -v tmux >/dev/null || { echo "SKIP: tmux is not installed (make setup installs it)"; exit 77; }
TMUX_N=0
TMUX_SOCK=$TMP/tmux.0
export SIAMESE_HISTORY=$TMP/history
# tmux_cleanup: ends the server, then waits (10 s at most) for what ran in
# its panes to end too: killing the server only hangs them up, and a program
# still closing (a checkpoint written on SIGHUP) would write into $TMP while
# the EXIT trap removes it. A pane's shell leads a process group of its own
# that the program it runs shares.
tmux_cleanup() {
    local groups g i
    groups=$(tmux -S "$TMUX_SOCK" list-panes -a -F '#{pane_pid}' 2>/dev/null)
    tmux -S "$TMUX_SOCK" kill-server 2>/dev/null
    for g in $groups; do
        for i in $(seq 100); do
            kill -0 -- "-$g" 2>/dev/null || break
            sleep 0.1
        done
    done
}
trap 'tmux_cleanup; chmod -R u+rwx "$TMP" 2>/dev/null; rm -rf "$TMP"' EXIT

# tmux_start COLS ROWS COMMAND: runs COMMAND (a shell line, from the
# repository root) in a fresh pane; the pane stays after it exits, and
# "EXIT=status" is printed then.
tmux_start() {
    tmux_cleanup
    TMUX_N=$((TMUX_N + 1))
    TMUX_SOCK=$TMP/tmux.$TMUX_N  # a new server each time: the old one may still be going
    tmux -S "$TMUX_SOCK" -f /dev/null new-session -d -x "$1" -y "$2" \
        "cd '$PWD' && TERM=tmux-256color LC_ALL=C.UTF-8 $3; echo EXIT=\$?; sleep 600" ||
        fail "tmux could not start"
}
# tmux_keys KEY...: tmux key names (Enter, Escape, C-c, PPage...) or text.
tmux_keys() { tmux -S "$TMUX_SOCK" send-keys "$@"; }
# tmux_text TEXT: types TEXT as it is.
tmux_text() { tmux -S "$TMUX_SOCK" send-keys -l "$1"; }
# The screen as text, one line per row.
tmux_screen() { tmux -S "$TMUX_SOCK" capture-pane -p; }
# tmux_wait PATTERN [WHAT]: waits (30 s at most) until an extended regular
# expression matches the screen; fails with the screen otherwise.
tmux_wait() {
    local i
    for i in $(seq 300); do
        tmux_screen 2>/dev/null | grep -qE -- "$1" && return 0
        sleep 0.1
    done
    fail "timed out waiting for ${2:-$1}; the screen:"
    tmux_screen | sed 's/^/    | /' >&2
    return 1
}
# tmux_lacks PATTERN WHAT: the screen must not match.
tmux_lacks() {
    if tmux_screen | grep -qE -- "$1"; then
        fail "$2; the screen:"
        tmux_screen | sed 's/^/    | /' >&2
    fi
}
