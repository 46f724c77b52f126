#!/usr/bin/env bash
# run_jit.sh AAIC AAI: `aai run` (ORC JIT, no link) and the executable aaic
# builds give bitwise identical weights for the same seed, and the same
# predictions.
set -euo pipefail
aaic=$1 aai=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
model=examples/iris.aai
"$aaic" "$model" -o "$dir/iris"
"$dir/iris" train --seed 11 --epochs 30 --quiet --out "$dir/aot.safetensors" --metrics "$dir/aot.jsonl"
"$aai" run "$model" train --seed 11 --epochs 30 --quiet --out "$dir/jit.safetensors" --metrics "$dir/jit.jsonl"
cmp "$dir/aot.safetensors" "$dir/jit.safetensors"
cut -d, -f1-4 examples/data/iris.csv > "$dir/x.csv"
"$dir/iris" predict --weights "$dir/aot.safetensors" < "$dir/x.csv" > "$dir/aot.pred"
"$aai" run "$model" -- predict --weights "$dir/jit.safetensors" < "$dir/x.csv" > "$dir/jit.pred"
cmp "$dir/aot.pred" "$dir/jit.pred"
# a model written with the stdlib runs the same way
"$aai" run examples/digits_stdlib.aai info > /dev/null
# errors in the model file exit 1 with a diagnostic
printf 'model m(x: f32[batch, 4]) {\n    return relu(hiden)\n}\n' > "$dir/bad.aai"
set +e
"$aai" run "$dir/bad.aai" info 2> "$dir/err"
rc=$?
set -e
[ "$rc" -eq 1 ] && grep -q "unknown name 'hiden'" "$dir/err"
echo "run_jit: ok"
