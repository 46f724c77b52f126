#!/usr/bin/env bash
# Same seed, same data -> bitwise identical weights; another seed differs.
. "$(dirname "$0")/lib.sh"
aaic=$1
"$aaic" examples/iris.aai -o "$work/iris"
"$work/iris" train --quiet --epochs 20 --out "$work/a.safetensors" --metrics "$work/a.jsonl"
"$work/iris" train --quiet --epochs 20 --out "$work/b.safetensors" --metrics "$work/b.jsonl"
cmp "$work/a.safetensors" "$work/b.safetensors" || fail "same seed gave different weights"
"$work/iris" train --quiet --epochs 20 --seed 43 --out "$work/c.safetensors" --metrics "$work/c.jsonl"
if cmp -s "$work/a.safetensors" "$work/c.safetensors"; then fail "another seed gave the same weights"; fi
echo "ok: deterministic"
