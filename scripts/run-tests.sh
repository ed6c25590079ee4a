#!/bin/sh
# Runs the test binaries and prints one closing line: "N passed, N failed".
#   scripts/run-tests.sh BUILD_DIR unit|integration|all|selftest
#
# Each binary runs under BUILD_DIR/tests/reaper (tests/reaper.c), a subreaper:
# every process the run starts stays below it, so what the run leaves behind
# fails it, and nothing outside the run is counted (a daemon started by hand,
# another worktree's tests). `selftest` (also run first by `all`) checks that.
set -u
B=${1:-build}
what=${2:-all}
export MCPPOOL_BUILD="$B"
R="$B/tests/reaper"
# Leak detection on in every instrumented process (later options win), with
# tests/lsan.supp for what our code does not own.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$(cd "$(dirname "$0")/.." && pwd)/tests/lsan.supp:print_suppressions=0"
# Temp dirs of runs that died long ago; a concurrent run's own are left alone.
find /tmp -maxdepth 1 -name 'mcppool-it-*' -mmin +240 -exec rm -rf {} + 2>/dev/null

passed=0; failed=0; status=0; left=0
run() { # $1 = test binary, $2 = ASAN_OPTIONS of its own (optional)
    name=$(basename "$1")
    out=$(ASAN_OPTIONS="$ASAN_OPTIONS${2:+:$2}" "$R" "$1" --jobs=2 2>&1); rc=$?
    # Daemon log lines from the tests are noise unless something failed.
    if [ $rc -eq 0 ]; then
        printf '%s\n' "$out" | grep -E 'Synthesis|LeakSanitizer|runtime error' | sed "s|^|[$name] |"
    else
        # Of a sanitizer report, the frames in our own sources say where (and, for
        # a test's leak, which test: its *_impl function).
        printf '%s\n' "$out" |
            grep -E '^\[(----|FAIL|ERR|WARN)\]|Synthesis|Sanitizer|runtime error|SUMMARY|leak of|^ +#[0-9]+ .* (tests|daemon|proto|client)/|^reaper: ' |
            sed "s|^|[$name] |"
    fi
    # A sanitizer report fails the run even where Criterion counted the test as passed.
    if printf '%s\n' "$out" | grep -qE 'LeakSanitizer|runtime error:|AddressSanitizer'; then
        rc=1; failed=$((failed + 1))
    fi
    if printf '%s\n' "$out" | grep -q '^reaper: left behind: [0-9]* process'; then
        left=$((left + 1))
    fi
    line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -n 1)
    t=$(printf '%s' "$line" | sed -n 's/.*Tested: \([0-9]*\).*/\1/p')
    p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    [ -n "$t" ] || { t=1; p=0; }
    passed=$((passed + p)); failed=$((failed + t - p))
    [ $rc -eq 0 ] || status=1
}

# The leftover check counts what a run left behind, and only that: a daemon
# started by hand while a run goes on is not counted; a process the run leaves is.
selftest() {
    d=$(mktemp -d /tmp/mcppool-it-selftest-XXXXXX)
    ok=1
    "$R" -g 100 sh -c 'while [ ! -e "$1" ]; do sleep 0.01; done' sh "$d/go" 2>"$d/clean" &
    clean=$!
    ASAN_OPTIONS=detect_leaks=0 "$B/mcppoold" -s "$d/sock" --env-file /dev/null 2>"$d/log" &
    own=$!
    i=0
    while [ ! -S "$d/sock" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i + 1)); done
    [ -S "$d/sock" ] || { echo "selftest: the outside daemon did not start" >&2; ok=0; }
    touch "$d/go"
    wait $clean || ok=0
    grep -q '^reaper: nothing left behind$' "$d/clean" || ok=0
    if "$R" -g 100 sh -c 'sleep 60 & exit 0' 2>"$d/left"; then ok=0; fi
    grep -q '^reaper: left behind: 1 process$' "$d/left" || ok=0
    kill -0 $own 2>/dev/null || ok=0
    kill $own; wait $own
    if [ $ok -eq 1 ]; then
        echo "selftest: a daemon started outside the run is not counted; a process the run leaves is"
    else
        echo "selftest: the leftover check is wrong:" >&2
        cat "$d/clean" "$d/left" >&2
        failed=$((failed + 1)); status=1
    fi
    rm -rf "$d"
}

if [ ! -x "$R" ]; then
    echo "run-tests: $R is missing (make $R)" >&2
    exit 2
fi
if [ "$what" = selftest ] || [ "$what" = all ]; then
    selftest
fi
if [ "$what" = unit ] || [ "$what" = all ]; then
    for t in "$B"/tests/test_*; do [ -x "$t" ] && run "$t"; done
fi
if [ "$what" = integration ] || [ "$what" = all ]; then
    if [ -f tests/interop/package.json ]; then
        scripts/npm-setup.sh >&2 || echo "interop: npm setup failed; interop tests will fail" >&2
    fi
    # Full stacks through jansson and Criterion (built without frame pointers):
    # a leaked reply names its test, and tests/lsan.supp can match Criterion's own.
    # The daemon and mcpctl keep the fast unwinder (the harness sets their options).
    run "$B"/tests/integration_tests fast_unwind_on_malloc=0
fi
# The Node.js and Python clients' suites and the bridge's SDK tests, against the same
# daemon (CLIENT_SUITES=0 skips them: make asan does).
if [ "$what" = all ] && [ "${CLIENT_SUITES:-1}" = 1 ]; then
    out=$("$R" scripts/run-client-suites.sh "$B" 2>&1); rc=$?
    printf '%s\n' "$out" | grep -E '^\[(python|node|bridge|conformance)\]|^reaper: ' | sed 's|^|[clients] |'
    line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/^\([0-9]*\) passed.*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.* \([0-9]*\) failed$/\1/p')
    [ -n "$p" ] || { p=0; f=1; }
    passed=$((passed + p)); failed=$((failed + f))
    if printf '%s\n' "$out" | grep -q '^reaper: left behind: [0-9]* process'; then
        left=$((left + 1))
    fi
    [ $rc -eq 0 ] || { status=1; [ "$f" -gt 0 ] || failed=$((failed + 1)); }
fi
if [ $left -gt 0 ]; then
    echo "leftover processes or zombies after the suite (listed above, now killed)" >&2
    failed=$((failed + 1))
elif [ "$what" != selftest ]; then
    echo "no child process or zombie left behind"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] || status=1
exit $status
