#!/bin/sh
# Runs the test binaries and prints one closing line: "N passed, N failed".
#   scripts/run-tests.sh BUILD_DIR unit|integration|all
set -u
B=${1:-build}
what=${2:-all}
export MCPPOOL_BUILD="$B"
rm -rf /tmp/mcppool-it-* 2>/dev/null

passed=0; failed=0; status=0
run() { # $1 = test binary
    name=$(basename "$1")
    out=$("$1" --jobs=2 2>&1); rc=$?
    printf '%s\n' "$out" | grep -v '^\[----\]' | sed "s|^|[$name] |"
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
if [ "$what" = integration ] || [ "$what" = all ]; then
    if [ -f tests/interop/package.json ]; then
        scripts/npm-setup.sh >&2 || echo "interop: npm setup failed; interop tests will fail" >&2
    fi
    run "$B"/tests/integration_tests
fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ] || status=1
exit $status
