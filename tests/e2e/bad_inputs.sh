#!/usr/bin/env bash
# Malformed inputs never crash: aaic on broken .aai files and a binary on a
# broken CSV both exit non-zero (not by a signal) with a positioned message.
. "$(dirname "$0")/lib.sh"
aaic=$1
expect_fail() { # expect_fail CODE PATTERN cmd...
  local want=$1 pattern=$2; shift 2
  set +e; "$@" >"$work/out" 2>&1; local rc=$?; set -e
  [ "$rc" -eq "$want" ] || { cat "$work/out"; fail "exit $rc, expected $want: $*"; }
  grep -q -- "$pattern" "$work/out" || { cat "$work/out"; fail "no '$pattern' in output of: $*"; }
}
# Truncations and garbage of a valid file.
src=examples/iris.aai
size=$(wc -c < "$src")
for cut in 1 17 40 95 150 233 300 377 410 480 520; do
  [ "$cut" -lt "$size" ] || continue
  head -c "$cut" "$src" > "$work/cut.aai"
  set +e; "$aaic" --check "$work/cut.aai" >/dev/null 2>"$work/err"; rc=$?; set -e
  [ "$rc" -le 1 ] || { cat "$work/err"; fail "aaic exit $rc on a file cut at $cut bytes"; }
done
head -c 2000 /dev/urandom > "$work/garbage.aai"
expect_fail 1 "error:" "$aaic" --check "$work/garbage.aai"
expect_fail 2 "unknown option" "$aaic" --bogus "$src"
expect_fail 1 "cannot open" "$aaic" "$work/missing.aai"
# A CSV with a bad cell and one with a ragged row.
"$aaic" "$src" -o "$work/iris"
{ head -5 examples/data/iris.csv; echo "5.0,abc,1.4,0.2,0"; tail -3 examples/data/iris.csv; } > "$work/bad.csv"
expect_fail 1 "bad.csv:6:2" "$work/iris" train --quiet --data "$work/bad.csv" --out "$work/w.safetensors"
{ head -5 examples/data/iris.csv; echo "5.0,3.1,1.4"; } > "$work/ragged.csv"
expect_fail 1 "ragged.csv:6" "$work/iris" train --quiet --data "$work/ragged.csv" --out "$work/w.safetensors"
[ ! -e "$work/w.safetensors" ] || fail "a failed run left a weights file"
# Weights that do not belong to the model.
printf 'garbage' > "$work/bad.safetensors"
expect_fail 1 "bad.safetensors" "$work/iris" eval --weights "$work/bad.safetensors"
echo "ok: bad inputs rejected"
