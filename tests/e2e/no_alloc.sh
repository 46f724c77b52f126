#!/usr/bin/env bash
# A warmed training step allocates nothing: the same model trained for 1
# and for 3 epochs (on 1 and on 2 threads) makes the same number of heap
# allocations (counted by the alloc_count.so preload library).
. "$(dirname "$0")/lib.sh"
aaic=$1 counter=$2
"$aaic" tests/e2e/no_alloc.aai -o "$work/m"
count() {
  LD_PRELOAD="$counter" "$work/m" train --quiet --epochs "$1" --threads "$2" \
    --out "$work/w.safetensors" --metrics "$work/m.jsonl" 2>&1 >/dev/null |
    sed -n 's/^allocations //p' | tail -1
}
for t in 1 2; do
  one=$(count 1 "$t") three=$(count 3 "$t")
  echo "threads $t: $one allocations for 1 epoch, $three for 3"
  [ -n "$one" ] && [ "$one" -gt 0 ] || fail "the counter did not report"
  [ "$one" -eq "$three" ] || fail "threads $t: 2 more epochs made $((three - one)) allocations"
done
echo "ok: no_alloc"
