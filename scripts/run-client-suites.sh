#!/bin/sh
# The suites of the language clients and the bridge, against the real daemon:
#   scripts/run-client-suites.sh BUILD_DIR
# Prints each suite's closing line, then one line "N passed, N failed" for run-tests.sh.
set -u
B=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case $B in /*) ;; *) B=$root/$B ;; esac
export MCPPOOL_BUILD="$B"
cd "$root"

passed=0; failed=0; status=0

# pytest's closing line, e.g. "81 passed, 3 skipped in 30.1s".
python_suite() {
    out=$(/usr/bin/python3 -m pytest -q -p no:cacheprovider client/python/tests 2>&1); rc=$?
    line=$(printf '%s\n' "$out" | tail -n 1)
    [ $rc -eq 0 ] || printf '%s\n' "$out" | grep -E '^(FAILED|ERROR) ' | sed 's|^|[python] |'
    printf '[python] %s\n' "$line"
    p=$(printf '%s' "$line" | grep -oE '[0-9]+ passed' | cut -d' ' -f1)
    f=$(printf '%s' "$line" | grep -oE '[0-9]+ (failed|errors?)' | awk '{s += $1} END {print s + 0}')
    passed=$((passed + ${p:-0})); failed=$((failed + f))
    if [ $rc -ne 0 ]; then status=1; [ "$f" -gt 0 ] || failed=$((failed + 1)); fi
}

# node --test's TAP summary: "# pass N", "# fail N". $1 = name, $2 = package dir.
node_suite() {
    name=$1; dir=$2
    if ! scripts/npm-setup.sh "$dir" >/dev/null 2>&1 && ! scripts/npm-setup.sh "$dir" >&2; then
        echo "[$name] npm setup failed"; failed=$((failed + 1)); status=1; return
    fi
    out=$(cd "$dir" && npm test --silent 2>&1); rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^# pass \([0-9]*\)$/\1/p' | tail -n 1)
    f=$(printf '%s\n' "$out" | sed -n 's/^# fail \([0-9]*\)$/\1/p' | tail -n 1)
    s=$(printf '%s\n' "$out" | sed -n 's/^# skipped \([0-9]*\)$/\1/p' | tail -n 1)
    if [ $rc -ne 0 ]; then
        printf '%s\n' "$out" | grep -E '^not ok|^# Subtest|error:|Error' | head -40 | sed "s|^|[$name] |"
    fi
    printf '[%s] %s passed, %s failed, %s skipped\n' "$name" "${p:-0}" "${f:-0}" "${s:-0}"
    passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
    if [ $rc -ne 0 ]; then status=1; [ "${f:-0}" -gt 0 ] || failed=$((failed + 1)); fi
}

python_suite
[ -f client/node/package.json ] && node_suite node client/node
[ -f tests/bridge/package.json ] && node_suite bridge tests/bridge
[ -f tests/conformance/package.json ] && node_suite conformance tests/conformance

echo "$passed passed, $failed failed"
exit $status
