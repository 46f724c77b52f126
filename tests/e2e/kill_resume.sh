#!/usr/bin/env bash
# Crash-safe training: SIGKILL `train --checkpoint-every` at 20 random
# moments, resume from the checkpoint each time, and check that every
# checkpoint loads and that every run that reaches the end saved weights
# bitwise identical to an uninterrupted run (metrics lines too, minus the
# timings). Uses digits (1797 rows, a fraction of a second per run).
#   kill_resume.sh AAIC [KILLS]
. "$(dirname "$0")/lib.sh"
aaic=$1
kills=${2:-20}
RANDOM=${AAI_KILL_SEED:-20240611}   # reproducible kill moments
"$aaic" examples/digits.aai -o "$work/digits"
# train NAME ARGS...; `exec` so that a background `train` is the model
# process itself and SIGKILL hits it, not a subshell.
train() { exec "$work/digits" train --quiet --epochs 12 --metrics "$work/$1.jsonl" --out "$work/$1.safetensors" "${@:2}"; }
strip() { sed 's/, "seconds".*//' "$1"; }

(train ref)
ref="$work/ref.safetensors"
# Time one checkpointing run to spread the kills over it (seconds * 1000).
start=$(date +%s%N)
(train timing --checkpoint-every 3 --checkpoint "$work/timing.ckpt")
span=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$span" -ge 20 ] || span=20
cmp -s "$ref" "$work/timing.safetensors" || fail "checkpointing changed the weights"

ckpt="$work/run.ckpt"
rm -f "$ckpt"
killed=0 finished=0 resumed=0
while [ "$killed" -lt "$kills" ]; do
  args=(--checkpoint-every 3 --checkpoint "$ckpt")
  if [ -e "$ckpt" ]; then args+=(--resume "$ckpt"); resumed=$((resumed + 1)); fi
  rm -f "$work/run.safetensors"
  (train run "${args[@]}") 2>"$work/err" &
  pid=$!
  ms=$(( RANDOM % (span * 2 / 3 + 1) + 1 ))
  sleep "$(printf '0.%03d' "$ms")"
  kill -9 "$pid" 2>/dev/null || true
  set +e; wait "$pid"; rc=$?; set -e
  if [ "$rc" -eq 137 ]; then
    killed=$((killed + 1))
    # Whatever the moment, the file under the final name is whole and loads.
    if [ -e "$ckpt" ]; then
      set +e; "$work/digits" train --quiet --epochs 0 --metrics "$work/probe.jsonl" \
        --out "$work/probe.safetensors" --resume "$ckpt" 2>"$work/err"; prc=$?; set -e
      [ "$prc" -eq 0 ] || { cat "$work/err"; fail "checkpoint after kill $killed does not load"; }
    fi
    # SIGKILL can leave the temporary of an interrupted write (never the
    # final name); remove it like an operator would.
    rm -f "$work"/*.tmp.*
  elif [ "$rc" -eq 0 ]; then
    # The run got to the end before the kill: it must match the reference.
    finished=$((finished + 1))
    cmp -s "$ref" "$work/run.safetensors" || fail "resumed run $finished ended on different weights"
    [ "$(strip "$work/ref.jsonl")" = "$(strip "$work/run.jsonl")" ] ||
      fail "resumed run $finished wrote different metrics"
    rm -f "$ckpt"
  else
    cat "$work/err"; fail "train exited $rc (not killed, not finished)"
  fi
done
# Finish the last interrupted run.
args=(--checkpoint-every 3 --checkpoint "$ckpt")
[ -e "$ckpt" ] && args+=(--resume "$ckpt")
(train run "${args[@]}")
if ls "$work" | grep -q '\.tmp\.'; then fail "a completed run left a temporary file"; fi
cmp -s "$ref" "$work/run.safetensors" || fail "the final resumed run ended on different weights"
[ "$(strip "$work/ref.jsonl")" = "$(strip "$work/run.jsonl")" ] || fail "the final run wrote different metrics"
echo "ok: $killed kills, $resumed resumes, $((finished + 1)) completed runs identical to the reference"
