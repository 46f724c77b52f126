#!/usr/bin/env bash
# Numerical guard: a learning rate that blows up stops training with exit 4,
# a message naming epoch, step and the first non-finite tensor, no weights
# file, and the last good checkpoint intact (it still resumes).
. "$(dirname "$0")/lib.sh"
aaic=$1
"$aaic" examples/iris.aai -o "$work/iris"
set +e
"$work/iris" train --quiet --lr 1e20 --checkpoint-every 1 --checkpoint "$work/c.ckpt" \
  --out "$work/w.safetensors" --metrics "$work/m.jsonl" 2>"$work/err"
rc=$?
set -e
cat "$work/err"
[ "$rc" -eq 4 ] || fail "exit $rc, expected 4"
grep -q "diverged at epoch 1, step [0-9]*: the gradient of '[a-z_.0-9]*' is NaN" "$work/err" ||
  grep -q "diverged at epoch [0-9]*, step [0-9]*: .*'.*' .* is \(NaN\|infinite\)" "$work/err" ||
  fail "the message does not name epoch, step and tensor"
grep -q "last good checkpoint is kept: $work/c.ckpt" "$work/err" || fail "no checkpoint named"
[ ! -e "$work/w.safetensors" ] || fail "a diverged run wrote weights"
# The checkpoint kept is whole and finite: it loads (--epochs 0 resumes and
# saves its weights without training further).
"$work/iris" train --quiet --epochs 0 --resume "$work/c.ckpt" \
  --out "$work/w.safetensors" --metrics "$work/m.jsonl"
[ -s "$work/w.safetensors" ] || fail "resuming the kept checkpoint failed"
echo "ok: divergence stops with exit 4 and keeps the last good checkpoint"
