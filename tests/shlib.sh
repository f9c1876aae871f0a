# Sourced by the shell tests (tests/sh/*.sh): a scratch folder, assertions, the dataset.
set -u
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
FAILS=0
OMNIGLOT=${OMNIGLOT:-../shared/omniglot}

fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# expect_status WANT CMD... : runs CMD (stdout/stderr to $TMP/out, $TMP/err)
expect_status() {
    local want=$1 got
    shift
    "$@" >"$TMP/out" 2>"$TMP/err"
    got=$?
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want; stderr: $(head -c 400 "$TMP/err")"
}
expect_stderr() { grep -q -- "$1" "$TMP/err" || fail "stderr lacks '$1': $(head -c 400 "$TMP/err")"; }
expect_stdout() { grep -q -- "$1" "$TMP/out" || fail "stdout lacks '$1': $(head -c 400 "$TMP/out")"; }
finish() {
    [ "$FAILS" -eq 0 ] && echo "all checks passed" && exit 0
    echo "$FAILS check(s) failed"; exit 1
}
