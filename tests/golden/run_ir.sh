#!/usr/bin/env bash
# run_ir.sh AAIC DIR [--update]: for every DIR/NAME.aai, `aaic --emit=ir`
# must print exactly DIR/NAME.ir. With --update the .ir files are rewritten
# (review the diff before committing).
set -uo pipefail
aaic=$1 dir=$2 update=${3:-}
failed=0 passed=0
for file in "$dir"/*.aai; do
  want=${file%.aai}.ir
  if [ "$update" = "--update" ]; then
    "$aaic" --emit=ir "$file" > "$want" || failed=$((failed + 1))
    continue
  fi
  if diff -u "$want" <("$aaic" --emit=ir "$file" 2>&1); then
    passed=$((passed + 1))
  else
    echo "$file: IR differs from $want"; failed=$((failed + 1))
  fi
done
echo "ir: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
