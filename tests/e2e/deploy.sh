#!/usr/bin/env bash
# deploy.sh AAIC: CI-facing behaviour of aaic.
#  cross-compilation (aarch64 object recognised by readelf; x86-64 generic
#  object links and runs; --target X and --target=X), --report and the
#  --max-ram/--max-code budgets, -MD/-MF depfiles, --emit kinds,
#  --diagnostics-format=json, and the documented exit codes.
. "$(dirname "$0")/lib.sh"
aaic=$(realpath "$1")
m=examples/iris.aai

# Cross-compilation.
"$aaic" -c --target aarch64-linux-gnu "$m" -o "$work/arm.o"
readelf -h "$work/arm.o" | grep -q 'Machine:.*AArch64' || fail "aarch64 object is not AArch64"
"$aaic" -c --target=aarch64-linux-gnu --cpu=cortex-a72 "$m" --prefix iris -o "$work/arm2.o" --header "$work/arm.h"
readelf -h "$work/arm2.o" | grep -q 'AArch64' || fail "embeddable aarch64 object is not AArch64"
for cpu in generic x86-64-v3 znver4; do
    "$aaic" -c --target x86_64-linux-gnu --cpu $cpu "$m" -o "$work/x86-$cpu.o"
    readelf -h "$work/x86-$cpu.o" | grep -q 'X86-64' || fail "--cpu $cpu: not an x86-64 object"
done
if [ "$(uname -m)" = x86_64 ]; then
    "$aaic" --cpu=generic "$m" -o "$work/iris_generic"
    "$work/iris_generic" train --quiet --epochs 2 --out "$work/w.safetensors" --metrics "$work/m.jsonl"
fi
echo "ok: cross-compilation"

# --emit kinds.
for k in ir llvm asm; do "$aaic" --emit=$k "$m" > "$work/e.$k"; done
grep -q 'predict' "$work/e.ir" || fail "--emit=ir"
grep -q 'define' "$work/e.llvm" || fail "--emit=llvm"
grep -q 'aai_predict' "$work/e.asm" || fail "--emit=asm"
"$aaic" --emit=obj "$m" -o "$work/e.o" && [ -s "$work/e.o" ] || fail "--emit=obj"

# Report and budgets.
"$aaic" --check "$m"
"$aaic" -c --report "$m" -o "$work/r.o" > "$work/report.txt"
grep -q '^hidden  *80 ' "$work/report.txt" || fail "report lacks the hidden layer's 80 parameters"
grep -q '^weights *524 bytes' "$work/report.txt" || fail "report lacks the weights total"
grep -q '^code ' "$work/report.txt" || fail "report lacks the code size"
set +e
"$aaic" -c "$m" --max-ram 1000 -o "$work/r.o" 2> "$work/err.txt"; rc=$?
set -e
[ $rc -eq 1 ] || fail "--max-ram over budget: exit $rc, expected 1"
grep -q "^$m:9:7: error: .*--max-ram" "$work/err.txt" || { cat "$work/err.txt"; fail "budget error not at the model name"; }
set +e
"$aaic" -c "$m" --max-code 100 -o "$work/r.o" 2> "$work/err.txt"; rc=$?
set -e
[ $rc -eq 1 ] && grep -q -- '--max-code' "$work/err.txt" || fail "--max-code over budget"
"$aaic" -c "$m" --max-ram 1M --max-code 1M -o "$work/r.o" || fail "within budget must pass"
echo "ok: report and budgets"

# Dependency files.
"$aaic" -c "$m" -o "$work/dep.o" -MD
grep -q "^$work/dep.o:" "$work/dep.o.d" || fail "depfile target"
grep -q 'examples/iris.aai' "$work/dep.o.d" || fail "depfile lacks the .aai"
grep -q 'examples/data/iris.csv' "$work/dep.o.d" || fail "depfile lacks the data file"
"$aaic" "$m" -o "$work/depexe" -MF "$work/x.d"
grep -q "^$work/depexe:" "$work/x.d" || fail "-MF depfile"
echo "ok: depfiles"

# JSON diagnostics and exit codes.
printf 'model m(x: f32[batch, 4]) -> f32[batch, 3] {\n    return dense(y, 3)\n}\n' > "$work/bad.aai"
set +e
"$aaic" --check --diagnostics-format=json "$work/bad.aai" > "$work/d.out" 2> "$work/d.err"; rc=$?
set -e
[ $rc -eq 1 ] || fail "user error: exit $rc, expected 1"
grep -q '"line": *2' "$work/d.err" "$work/d.out" || { cat "$work/d.err"; fail "json diagnostic lacks the line"; }
grep -q '"severity"\|"level"' "$work/d.err" "$work/d.out" || fail "json diagnostic lacks the level"
set +e
"$aaic" --no-such-flag "$m" 2> /dev/null; rc=$?
[ $rc -eq 2 ] || fail "usage error: exit $rc, expected 2"
"$aaic" --header x.h "$m" 2> /dev/null; rc=$?
[ $rc -eq 2 ] || fail "--header without -c: exit $rc, expected 2"
"$aaic" -c --target no-such-arch-none "$m" -o "$work/z.o" 2> /dev/null; rc=$?
set -e
[ $rc -ne 0 ] || fail "unknown target accepted"
echo "ok: diagnostics and exit codes"
