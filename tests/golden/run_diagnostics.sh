#!/usr/bin/env bash
# run_diagnostics.sh AAIC DIR: every DIR/*.aai marks each expected error with
# a trailing comment `# error: <message fragment>` on the line the error
# points at. aaic --check must exit 1 and print exactly those errors, each as
# `file:LINE:COL: error: ...fragment...` followed by the source line and a
# caret. Regenerating is editing the comment: the file is its own golden.
set -uo pipefail
aaic=$1 dir=$2
failed=0 passed=0
for file in "$dir"/*.aai; do
  out=$("$aaic" --check "$file" 2>&1)
  rc=$?
  ok=1
  [ "$rc" -eq 1 ] || { echo "$file: exit $rc, expected 1"; ok=0; }
  expected=0
  while IFS=: read -r line fragment; do
    fragment=${fragment#*# error: }
    expected=$((expected + 1))
    if ! grep -F -- "$file:$line:" <<<"$out" | grep -q -F -- "error: " ||
       ! grep -F -- "$file:$line:" <<<"$out" | grep -q -F -- "$fragment"; then
      echo "$file:$line: expected error containing: $fragment"
      ok=0
    fi
  done < <(grep -n '# error: ' "$file")
  got=$(grep -c ': error: ' <<<"$out")
  [ "$got" -eq "$expected" ] || { echo "$file: $got errors, expected $expected"; ok=0; }
  grep -q '^ *| *\^' <<<"$out" || { echo "$file: no caret line"; ok=0; }
  if [ $ok = 1 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "--- output:"; echo "$out"; fi
done
echo "diagnostics: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
