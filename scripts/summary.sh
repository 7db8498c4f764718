#!/bin/sh
# Prints the closing line of `make check`: every ctest test of each build plus the fuzz runs.
set -eu
passed=0
failed=0
for b in "$@"; do
    log="$b/Testing/Temporary/LastTest.log"
    [ -f "$log" ] || continue
    p=$(grep -c '^Test Passed\.' "$log" || true)
    f=$(grep -c '^Test Failed\.' "$log" || true)
    passed=$((passed + p))
    failed=$((failed + f))
done
if [ -f build-fuzz/fuzz-run/results ]; then
    p=$(grep -c ' passed$' build-fuzz/fuzz-run/results || true)
    f=$(grep -c ' failed$' build-fuzz/fuzz-run/results || true)
    passed=$((passed + p))
    failed=$((failed + f))
fi
echo "check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
