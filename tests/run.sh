#!/usr/bin/env bash
# Runs every test given (C test binaries) plus the expect scripts in
# tests/expect/ and the shell tests in tests/sh/, from the repository root.
# Exit status 77 means skipped. Ends with the line "N passed, N failed".
cd "$(dirname "$0")/.." || exit 2
passed=0 failed=0 skipped=0 failed_names=()
run() {  # name, command...
    local name=$1 log rc start=$SECONDS
    shift
    log=$(mktemp)
    "$@" >"$log" 2>&1
    rc=$?
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1)); printf 'PASS %-40s %3ds\n' "$name" $((SECONDS - start))
    elif [ $rc -eq 77 ]; then
        skipped=$((skipped + 1)); printf 'SKIP %-40s %s\n' "$name" "$(grep -m1 SKIP "$log")"
    else
        failed=$((failed + 1)); failed_names+=("$name")
        printf 'FAIL %-40s (exit %d)\n' "$name" $rc
        sed 's/^/    | /' "$log" | tail -40
    fi
    rm -f "$log"
}
for t in "$@"; do run "$(basename "$t")" "$t"; done
for t in tests/sh/*.sh; do [ -e "$t" ] && run "$(basename "$t")" bash "$t"; done
for t in tests/expect/*.exp; do [ -e "$t" ] && run "$(basename "$t")" expect "$t"; done
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
