# Shared helpers for the end-to-end scripts.
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# json_number KEY < json: the number stored under KEY in a flat JSON object.
json_number() {
  grep -o "\"$1\"[[:space:]]*:[[:space:]]*[-0-9.eE+]*" | head -1 | sed 's/.*:[[:space:]]*//'
}
# ge A B: exit 0 when A >= B (floating point).
ge() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 >= b + 0) }'; }
