#!/bin/sh
# Runs each libFuzzer harness SECONDS on its committed seeds (fuzz/corpus/NAME) plus a
# work corpus under BUILD, one after the other; exits 1 when any found a crash, a leak,
# a timeout or a broken oracle (the input is then in BUILD/crashes/NAME/).
#   fuzz/run.sh BUILD SECONDS NAME...
set -u
b=$1 secs=$2
shift 2
failed=""
for name in "$@"; do
    work=$b/corpus/$name crashes=$b/crashes/$name log=$b/$name.log
    mkdir -p "$work" "$crashes" "fuzz/corpus/$name"
    case $name in
    jsontext_in | jsonrpc | catalog | era) dict=-dict=fuzz/json.dict ;;
    dotenv) dict=-dict=fuzz/dotenv.dict ;;
    sseparse) dict=-dict=fuzz/sse.dict ;;
    httpauth) dict=-dict=fuzz/httpauth.dict ;;
    *) dict="" ;;
    esac
    # shellcheck disable=SC2086
    if "$b/fuzz_$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$crashes/" $dict \
        "$work" "fuzz/corpus/$name" >"$log" 2>&1; then
        runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        echo "fuzz: $name: clean, $runs runs in ${secs}s"
    else
        echo "fuzz: $name: FAILED (log: $log)" >&2
        grep -E -A 30 '^==[0-9]+==|check failed|^SUMMARY|Test unit written' "$log" | head -60 >&2
        failed="$failed $name"
    fi
done
if [ -n "$failed" ]; then
    echo "fuzz: failed:$failed" >&2
    exit 1
fi
