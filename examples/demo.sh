#!/usr/bin/env bash
# The main job: compile the iris example, train it on the real data, print
# the test accuracy, and predict the species of a few flowers.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
echo "== aaic examples/iris.aai -o iris"
"$build/aaic" examples/iris.aai -o "$work/iris"
echo "== ./iris train"
"$work/iris" train --out "$work/iris.safetensors" --metrics "$work/metrics.jsonl"
echo "== ./iris eval --json"
"$work/iris" eval --weights "$work/iris.safetensors" --json
echo "== ./iris predict (three flowers: setosa, versicolor, virginica)"
printf 'sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n6.4,3.2,4.5,1.5\n7.7,3.0,6.1,2.3\n' |
  "$work/iris" predict --weights "$work/iris.safetensors"
