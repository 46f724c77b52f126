#!/usr/bin/env bash
# example.sh AAIC EXAMPLE METRIC MIN [train args]: compile, train with the
# file's settings, eval --json, and require METRIC >= MIN. Then predict on the
# test features to check the predict path runs.
aaic=$1 example=$2 metric=$3 min=$4
shift 4
. "$(dirname "$0")/lib.sh"
"$aaic" "$example" -o "$work/model"
"$work/model" train --quiet --out "$work/w.safetensors" --metrics "$work/m.jsonl" "$@"
[ -s "$work/m.jsonl" ] || fail "train wrote no metrics.jsonl"
json=$("$work/model" eval --weights "$work/w.safetensors" --json)
echo "$json"
value=$(echo "$json" | json_number "$metric")
[ -n "$value" ] || fail "eval --json has no '$metric'"
ge "$value" "$min" || fail "$metric $value < $min"
echo "ok: $example $metric $value >= $min"
