#!/usr/bin/env bash
# fmt.sh AAIC: `aaic fmt` is idempotent on every .aai in the repository
# that parses; --check fails on an unformatted file and -w fixes it; the
# stdlib and the stdlib examples are formatted.
set -uo pipefail
aaic=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
failed=0 n=0
while IFS= read -r f; do
  "$aaic" fmt "$f" > "$dir/once" 2>/dev/null || continue # syntax error cases
  "$aaic" fmt < "$dir/once" > "$dir/twice" || { echo "$f: formatted output does not parse"; failed=1; }
  cmp -s "$dir/once" "$dir/twice" || { echo "$f: fmt is not idempotent"; diff "$dir/once" "$dir/twice" | head; failed=1; }
  n=$((n + 1))
done < <(find examples stdlib tests -name '*.aai' | sort)
printf 'model m(x:f32[batch,4]){\n  return relu(x)   # keep me\n}\n' > "$dir/ugly.aai"
if "$aaic" fmt --check "$dir/ugly.aai" > "$dir/list"; then echo "--check passed an unformatted file"; failed=1; fi
grep -qF "$dir/ugly.aai" "$dir/list" || { echo "--check did not list the file"; failed=1; }
"$aaic" fmt -w "$dir/ugly.aai" || failed=1
"$aaic" fmt --check "$dir/ugly.aai" > /dev/null || { echo "-w did not format the file"; failed=1; }
grep -qF "    return relu(x)  # keep me" "$dir/ugly.aai" || { echo "comment or layout lost"; cat "$dir/ugly.aai"; failed=1; }
"$aaic" fmt --check stdlib/std/*.aai examples/digits_stdlib.aai examples/digits_residual.aai tests/stdlib/*.aai ||
  { echo "stdlib files are not formatted"; failed=1; }
echo "fmt: $n files idempotent"
[ "$failed" -eq 0 ]
