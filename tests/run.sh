#!/usr/bin/env bash
# Runs every test given (C test binaries) plus the expect scripts in
# tests/expect/ and the shell tests in tests/sh/, from the repository root.
# Exit status 77 means skipped; a passing test names the parts it could not
# run with lines "SKIP (part): why". Ends with "N passed, N failed, N skipped".
cd "$(dirname "$0")/.." || exit 2
# For the sanitizer build (build-asan/): any report fails the test, with a
# stack; exit status 86 tells a report from a test's own failure.
# detect_leaks stays on: OpenMP's thread pool holds its memory in live
# globals (reachable, not leaks); real library noise is listed, with
# reasons, in tests/lsan.supp.
export ASAN_OPTIONS=${ASAN_OPTIONS:-exitcode=86:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1:exitcode=86}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp}
# For the ThreadSanitizer build (build-tsan/): the first report fails the
# test, with exit status 86. libomp, that build's OpenMP runtime, shows its
# barriers to TSan through LLVM's Archer tool (OMP_TOOL_LIBRARIES: only
# libomp reads it); accesses made inside uninstrumented libraries are not
# checked (ignore_noninstrumented_modules, as libomp asks).
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:exitcode=86:second_deadlock_stack=1:ignore_noninstrumented_modules=1}
if [ -z "${OMP_TOOL_LIBRARIES:-}" ] && command -v clang >/dev/null; then
    archer=$(dirname "$(dirname "$(clang -print-resource-dir)")")/libarcher.so
    [ -f "$archer" ] && export OMP_TOOL_LIBRARIES=$archer
fi
# A test that hangs fails instead of holding up the run for ever: each has
# TEST_TIMEOUT seconds (the slowest, train_mpi.sh, takes about 120 on a
# busy 2-core machine), then SIGTERM, and SIGKILL 10 s later.
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
passed=0 failed=0 skipped=0 failed_names=() partly_skipped=()
run() {  # name, command...
    local name=$1 log rc start=$SECONDS
    shift
    log=$(mktemp)
    timeout --kill-after=10 "$TEST_TIMEOUT" "$@" >"$log" 2>&1
    rc=$?
    # (timeout's own statuses: 124 after SIGTERM, 137 after SIGKILL)
    if [ $rc -eq 124 ] || { [ $rc -eq 137 ] && [ $((SECONDS - start)) -ge "$TEST_TIMEOUT" ]; }; then
        echo "timed out after $TEST_TIMEOUT s (TEST_TIMEOUT)" >>"$log"
    fi
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1)); printf 'PASS %-40s %3ds\n' "$name" $((SECONDS - start))
        # A part that could not run here (tests/shlib.sh: skip_part).
        grep 'SKIP (part)' "$log" | sed 's/^.*SKIP (part): /     skipped part: /' | cut -c1-160
        grep -q 'SKIP (part)' "$log" && partly_skipped+=("$name")
    elif [ $rc -eq 77 ]; then
        skipped=$((skipped + 1)); printf 'SKIP %-40s %s\n' "$name" "$(grep -m1 SKIP "$log")"
    else
        failed=$((failed + 1)); failed_names+=("$name")
        printf 'FAIL %-40s (exit %d)\n' "$name" $rc
        sed 's/^/    | /' "$log" | tail -40
    fi
    rm -f "$log"
}
for t in "$@"; do
    case $t in
    build-asan/*) run "asan/$(basename "$t")" "$t" ;;
    build-tsan/*) run "tsan/$(basename "$t")" tests/tsan_run.sh "$t" ;;
    *) run "$(basename "$t")" "$t" ;;
    esac
done
for t in tests/sh/*.sh; do [ -e "$t" ] && run "$(basename "$t")" bash "$t"; done
for t in tests/expect/*.exp; do [ -e "$t" ] && run "$(basename "$t")" expect "$t"; done
[ ${#partly_skipped[@]} -gt 0 ] && echo "passed with parts skipped: ${partly_skipped[*]}"
[ ${#failed_names[@]} -gt 0 ] && echo "failed: ${failed_names[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
