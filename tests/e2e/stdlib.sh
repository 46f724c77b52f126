#!/usr/bin/env bash
# stdlib.sh AAIC: every tests/stdlib/*.aai uses one std.nn function.
# It must type-check, create the parameters its `# expect-param: NAME
# [SHAPE]` lines name. (Training with the stdlib is covered by the
# digits_stdlib and digits_residual examples.)
set -uo pipefail
aaic=$1
failed=0
for f in tests/stdlib/*.aai; do
  ok=1
  manifest=$("$aaic" --emit=manifest "$f" 2>&1) || { echo "$f: does not compile"; echo "$manifest"; ok=0; }
  while read -r name shape; do
    grep -qF "\"name\":\"$name\",\"shape\":$shape" <<<"$manifest" ||
      { echo "$f: no parameter $name $shape"; ok=0; }
  done < <(sed -n 's/^# expect-param: //p' "$f")
  [ $ok = 1 ] || failed=$((failed + 1))
done
echo "stdlib: $failed failed"
[ "$failed" -eq 0 ]
