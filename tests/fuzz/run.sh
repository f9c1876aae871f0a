#!/usr/bin/env bash
# Runs fuzz harnesses: tests/fuzz/run.sh SECONDS NAME...
# Each build-fuzz/fuzz_NAME runs SECONDS on its working corpus
# build-fuzz/corpus/NAME (new inputs go there, not into the repository),
# seeded from tests/fuzz/corpus/NAME. A crash, a leak, a timeout or an
# out-of-memory stops it, leaves the input as build-fuzz/crash-NAME-*, and
# fails the run. Settings per harness come from tests/fuzz/NAME.options
# when present: libFuzzer flags ('-...') and environment (NAME=VALUE).
# FUZZ_SEED fixes libFuzzer's random seed (0, the default: a new one).
cd "$(dirname "$0")/../.." || exit 2
secs=$1
shift
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}
status=0
for name in "$@"; do
    work=build-fuzz/corpus/$name
    log=build-fuzz/$name.log
    mkdir -p "$work"
    opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="build-fuzz/crash-$name-" -seed="${FUZZ_SEED:-0}")
    env=()
    if [ -f "tests/fuzz/$name.options" ]; then
        while read -r line; do
            case $line in
            -*) opts+=("$line") ;;
            *=*) env+=("$line") ;;
            esac
        done <"tests/fuzz/$name.options"
    fi
    start=$SECONDS
    if env "${env[@]}" "build-fuzz/fuzz_$name" "${opts[@]}" "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
        printf 'PASS fuzz_%-12s %4ds  %s\n' "$name" $((SECONDS - start)) \
            "$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | sed 's/.*: /runs: /')"
    else
        status=1
        printf 'FAIL fuzz_%-12s (log: %s)\n' "$name" "$log"
        grep -A40 -m1 -E '^==[0-9]+==|runtime error|ERROR: libFuzzer' "$log" | head -60
    fi
done
exit $status
