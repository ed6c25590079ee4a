#!/bin/sh
# Runs the test binaries and prints one closing line: "N passed, N failed".
#   scripts/run-tests.sh BUILD_DIR unit|integration|all
set -u
B=${1:-build}
what=${2:-all}
export MCPPOOL_BUILD="$B"
# Temp dirs of runs that died long ago; a concurrent run's own are left alone.
find /tmp -maxdepth 1 -name 'mcppool-it-*' -mmin +240 -exec rm -rf {} + 2>/dev/null

passed=0; failed=0; status=0
run() { # $1 = test binary
    name=$(basename "$1")
    out=$("$1" --jobs=2 2>&1); rc=$?
    # Daemon log lines from the tests are noise unless something failed.
    if [ $rc -eq 0 ]; then
        printf '%s\n' "$out" | grep -E 'Synthesis|LeakSanitizer|runtime error' | sed "s|^|[$name] |"
    else
        printf '%s\n' "$out" | grep -E '^\[(----|FAIL|ERR|WARN)\]|Synthesis|Sanitizer|runtime error|SUMMARY' | sed "s|^|[$name] |"
    fi
    # A sanitizer report fails the run even where Criterion counted the test as passed.
    if printf '%s\n' "$out" | grep -qE 'LeakSanitizer|runtime error:|AddressSanitizer'; then
        rc=1; failed=$((failed + 1))
    fi
    line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -n 1)
    t=$(printf '%s' "$line" | sed -n 's/.*Tested: \([0-9]*\).*/\1/p')
    p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    [ -n "$t" ] || { t=1; p=0; }
    passed=$((passed + p)); failed=$((failed + t - p))
    [ $rc -eq 0 ] || status=1
}

if [ "$what" = unit ] || [ "$what" = all ]; then
    for t in "$B"/tests/test_*; do [ -x "$t" ] && run "$t"; done
fi
# Zombies and leftovers of our programs, system-wide: the suite must leave none.
leftovers() {
    ps -eo pid=,stat=,comm= | awk '$3 ~ /^(mcppoold|mcp-fixture|mcpctl)$/ || ($2 ~ /^Z/ && $3 ~ /^(mcppoold|mcp-fixture|mcpctl|node|sh)$/) {print $1}' | sort
}
before=$(leftovers)

if [ "$what" = integration ] || [ "$what" = all ]; then
    if [ -f tests/interop/package.json ]; then
        scripts/npm-setup.sh >&2 || echo "interop: npm setup failed; interop tests will fail" >&2
    fi
    # The test process itself keeps its JSON replies; the daemon and mcpctl it
    # starts are leak-checked by the harness (it reads their reports).
    ASAN_OPTIONS=detect_leaks=0 run "$B"/tests/integration_tests
fi
after=$(leftovers)
new=$(comm -13 "$(printf '%s\n' "$before" > /tmp/mcppool-before.$$; echo /tmp/mcppool-before.$$)" \
          "$(printf '%s\n' "$after" > /tmp/mcppool-after.$$; echo /tmp/mcppool-after.$$)" | grep . || true)
rm -f /tmp/mcppool-before.$$ /tmp/mcppool-after.$$
if [ -n "$new" ]; then
    echo "leftover processes or zombies after the suite:" >&2
    for p in $new; do ps -o pid=,stat=,args= -p "$p" >&2; done
    failed=$((failed + 1))
else
    echo "no child process or zombie left behind"
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] || status=1
exit $status
