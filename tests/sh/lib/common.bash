# Shared by the shell tests (sourced; run from the repository root): a
# temporary directory, a tiny model, and `expect`, which checks a command's
# exit status and that its standard error names the file and the problem.
#
# SIAMESE picks the binary under test (default ./siamese; the sanitizer
# tests point it at build-asan/siamese). A test ends with `finish`.
set -u
SIAMESE=${SIAMESE:-./siamese}
H5EDIT=${H5EDIT:-build/tests/tools/h5edit}
failures=0
cases=0
T=$(mktemp -d)
trap 'chmod -R u+rwx "$T" 2>/dev/null; rm -rf "$T"' EXIT

[ -x "$SIAMESE" ] || { echo "$SIAMESE is not built (run make)"; exit 1; }

# tiny_model PATH: a 32-pixel model with 4 to 8 channels per block (about
# 70 KB, written in a blink by our own init).
tiny_model() {
    "$SIAMESE" init --widths 4,4,8,8,8 --hidden 8 --input-shape 32 --seed 1 --out "$1" >/dev/null
}

fail() {
    failures=$((failures + 1))
    echo "FAIL: $*"
}

# expect STATUS PHRASE... -- COMMAND...
# Runs COMMAND (stdin from /dev/null), checks that it exits with STATUS and
# that standard error holds every PHRASE (fixed strings); a sanitizer or
# crash report on standard error fails it too. The output is kept in
# $T/out and $T/err for further checks.
expect() {
    local want=$1 phrases=() rc p ok=1
    shift
    while [ "$1" != -- ]; do
        phrases+=("$1")
        shift
    done
    shift
    cases=$((cases + 1))
    "$@" >"$T/out" 2>"$T/err" </dev/null
    rc=$?
    if [ "$rc" != "$want" ]; then
        fail "$* -> exit status $rc, expected $want"
        ok=0
    fi
    for p in "${phrases[@]}"; do
        if ! grep -qF -- "$p" "$T/err"; then
            fail "$* -> standard error lacks '$p'"
            ok=0
        fi
    done
    if grep -qE 'Sanitizer|runtime error:|Segmentation fault|Aborted|core dumped' "$T/err"; then
        fail "$* -> a crash or sanitizer report"
        ok=0
    fi
    if [ $ok = 0 ]; then
        sed 's/^/    stderr| /' "$T/err" | head -20
    else
        echo "ok: $(cat "$T/err" "$T/out" | head -c 300 | tr "\n" " ")"
    fi
}

finish() {
    echo "$cases cases, $failures failed"
    [ "$failures" -eq 0 ]
    exit $?
}
