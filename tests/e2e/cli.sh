#!/usr/bin/env bash
# The generated binary's CLI: info, predict, config overrides, exit codes;
# aaic's --emit and --check.
. "$(dirname "$0")/lib.sh"
aaic=$1
"$aaic" --check examples/iris.aai
"$aaic" --emit=ir examples/iris.aai > "$work/iris.ir"
grep -q "matmul" "$work/iris.ir" || fail "--emit=ir shows no matmul"
"$aaic" --emit=llvm examples/iris.aai > "$work/iris.ll"
grep -q "aairt_sgemm" "$work/iris.ll" || fail "--emit=llvm has no sgemm call"
# -o FILE: each kind lands whole under its name, nothing else left beside it
mkdir "$work/out"
for k in ir llvm asm manifest obj; do
  "$aaic" --emit=$k examples/iris.aai -o "$work/out/iris.$k" || fail "--emit=$k -o"
  [ -s "$work/out/iris.$k" ] || fail "--emit=$k -o wrote nothing"
done
cmp -s "$work/out/iris.ir" "$work/iris.ir" || fail "--emit=ir -o differs from stdout"
[ "$(ls "$work/out" | wc -l)" -eq 5 ] || fail "temporary files left: $(ls "$work/out")"
set +e; "$aaic" --emit=ir examples/iris.aai -o "$work/no/such/dir/x.ir" 2>"$work/err.txt"; rc=$?; set -e
[ "$rc" -eq 1 ] || fail "--emit=ir into a missing folder: exit $rc, expected 1"
grep -q "cannot write" "$work/err.txt" || fail "no 'cannot write' diagnostic"
for flags in "-c" "--emit=asm" ""; do
  set +e; "$aaic" $flags examples/iris.aai -o "$work/no/such/dir/x" 2>"$work/err.txt"; rc=$?; set -e
  [ "$rc" -eq 1 ] || fail "aaic $flags into a missing folder: exit $rc, expected 1"
  grep -q "cannot write '$work/no/such/dir/x'" "$work/err.txt" || fail "aaic $flags: $(cat "$work/err.txt")"
done
"$aaic" examples/iris.aai -o "$work/iris"
"$work/iris" info > "$work/info.txt"
grep -q "hidden.weight" "$work/info.txt" || fail "info lacks the parameter table"
"$work/iris" --help >/dev/null
set +e; "$work/iris" frobnicate >/dev/null 2>&1; rc=$?; set -e
[ "$rc" -eq 2 ] || fail "unknown subcommand exit $rc, expected 2"
printf 'epochs: 30\nlr: 0.02\n' > "$work/run.yaml"
"$work/iris" train --quiet --config "$work/run.yaml" --out "$work/w.safetensors" --metrics "$work/m.jsonl"
[ "$(wc -l < "$work/m.jsonl")" -eq 30 ] || fail "--config epochs: 30 did not give 30 epochs"
printf 'sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n7.7,3.0,6.1,2.3\n' |
  "$work/iris" predict --weights "$work/w.safetensors" > "$work/pred.csv"
cat "$work/pred.csv"
[ "$(sed -n 2p "$work/pred.csv")" = "0" ] || fail "setosa not predicted as class 0"
[ "$(sed -n 3p "$work/pred.csv")" = "2" ] || fail "virginica not predicted as class 2"
echo "ok: cli"
