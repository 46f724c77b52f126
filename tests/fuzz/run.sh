#!/usr/bin/env bash
# Runs every libFuzzer harness for SECONDS each (default 60), one after
# the other, and prints each target's executions. The checked-in seeds
# (tests/fuzz/corpus/<surface>/) are read, never written: new inputs go to
# a work corpus (default build-fuzz/corpus/<surface>/) and crashes, leaks
# and sanitizer reports to build-fuzz/artifacts/<surface>/ (exit 1).
#
#   tests/fuzz/run.sh SECONDS [TARGET...]      (targets: frontend csv idx
#                                               safetensors config)
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_JOBS (parallel targets,
# default 1). Build first:
#   cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang-19 -DAAI_FUZZ=ON \
#         -DAAI_SANITIZE=address,undefined
#   cmake --build build-fuzz --target fuzz_all
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(frontend csv idx safetensors config)
build=${FUZZ_BUILD:-$root/build-fuzz}
jobs=${FUZZ_JOBS:-1}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
  local t=$1 bin=$build/fuzz/fuzz_$1
  [ -x "$bin" ] || { echo "$t: $bin missing (build target fuzz_all)"; return 1; }
  local work=$build/corpus/$t art=$build/artifacts/$t
  mkdir -p "$work" "$art"
  local dict=()
  [ "$t" = frontend ] && dict=(-dict="$root/tests/fuzz/aai.dict")
  "$bin" "$work" "$root/tests/fuzz/corpus/$t" "${dict[@]}" -max_total_time="$secs" \
    -timeout=20 -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$art/" \
    -print_final_stats=1 >"$build/fuzz-$t.log" 2>&1
  local rc=$?
  local execs
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz-$t.log" | grep -o '[0-9]*$')
  if [ $rc -eq 0 ]; then
    echo "$t: ok, ${execs:-?} executions in ${secs}s, corpus $(ls "$work" | wc -l) files"
  else
    echo "$t: FAILED (exit $rc), see $build/fuzz-$t.log and $art/"
    grep -m3 -E 'ERROR|runtime error|SUMMARY' "$build/fuzz-$t.log" | sed 's/^/  /'
  fi
  return $rc
}

status=0
if [ "$jobs" -le 1 ]; then
  for t in "${targets[@]}"; do run_one "$t" || status=1; done
else
  pids=()
  for t in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
    run_one "$t" & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
fi
exit $status
