#!/usr/bin/env bash
# Runs every cmocka unit test binary in $1/tests and prints one summary line.
set -u
build=${1:-build}
pass=0; fail=0
for t in "$build"/tests/test_*; do
  [ -x "$t" ] || continue
  if "$t"; then pass=$((pass+1)); else fail=$((fail+1)); echo "FAILED: $t"; fi
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
