#!/usr/bin/env bash
# The bad-input corpus: every case in tests/bad/cases.tsv runs its input
# through the surface it targets and must exit with the stated code (never
# a signal, never a sanitizer report) and print the stated fragment.
#
#   tests/bad/run.sh AAIC [--print]
#
# cases.tsv columns (tab-separated; '#' starts a comment line):
#   surface   aai | csv | idx | st | ckpt | yaml | gen
#   input     file under tests/bad/<surface>/ (gen: a generator below)
#   exit      expected exit code
#   fragment  text the output must contain (fixed string)
# Surfaces run: aai -> aaic --check; csv -> train --data; idx -> train
# --data IMAGES,LABELS (the other file good); st -> eval --weights; ckpt ->
# train --resume; yaml -> train --config; the models are tests/bad/models/.
# --print shows each case's exit code and first error line instead of
# checking (for writing new rows).
# AAI_BAD_BIG_LINE (bytes, default 2200000000) sizes the one-line CSV of
# the big_line case; the sanitizer build in .ci/run uses 200000000.
. "$(dirname "$0")/../e2e/lib.sh"
aaic=$1
print=${2:-}
bad=tests/bad
"$aaic" $bad/models/csv3.aai -o "$work/csv3"
"$aaic" $bad/models/idx.aai -o "$work/idx"
train_args=(--quiet --epochs 1 --out "$work/w.safetensors" --metrics "$work/m.jsonl")

# gen_NAME: writes the input to stdout (streamed, never committed).
gen_big_line() {  # one CSV line longer than the reader's 2 GiB record limit
  echo a,b,c,y; head -c "${AAI_BAD_BIG_LINE:-2200000000}" /dev/zero | tr '\0' 7; echo ,1,1,0
}
gen_many_fields() { echo a,b,c,y; head -c 40000000 /dev/zero | tr '\0' ,; echo; }
gen_huge_aai() { head -c 70000000 /dev/zero | tr '\0' ' '; }
gen_deep_aai() { printf 'model m(x: f32[batch, 3]) -> f32[batch, 3] {\n  return '; head -c 1000000 /dev/zero | tr '\0' '('; }
gen_binary_csv() { cat tests/bad/idx/good-labels.idx.gz tests/bad/st/good.safetensors; }  # fixed binary bytes

run_case() { # surface input -> runs, output in $work/out
  local s=$1 in=$2
  case $s in
    aai)  "$aaic" --check "$bad/aai/$in" ;;
    csv)  "$work/csv3" train "${train_args[@]}" --data "$bad/csv/$in" ;;
    idx)  if [[ $in == *-labels* ]]; then
            "$work/idx" train "${train_args[@]}" --data "$bad/idx/good-images.idx,$bad/idx/$in"
          else
            "$work/idx" train "${train_args[@]}" --data "$bad/idx/$in,$bad/idx/good-labels.idx.gz"
          fi ;;
    st)   "$work/csv3" eval --weights "$bad/st/$in" ;;
    ckpt) "$work/csv3" train "${train_args[@]}" --resume "$bad/ckpt/$in" ;;
    yaml) "$work/csv3" train "${train_args[@]}" --config "$bad/yaml/$in" ;;
    gen)  case $in in
            *_aai) "gen_$in" > "$work/gen.aai"; "$aaic" --check "$work/gen.aai" ;;
            *)     "gen_$in" | "$work/csv3" train "${train_args[@]}" --data - ;;
          esac ;;
    *)    echo "unknown surface '$s'"; return 99 ;;
  esac
}

has_fragment() { # FRAGMENT: one of its ' || ' alternatives is in the output
  local rest=$1 alt
  [ -n "$rest" ] || return 0
  while :; do
    alt=${rest%% || *}
    grep -aqF -- "$alt" "$work/out" && return 0
    [ "$alt" = "$rest" ] && return 1
    rest=${rest#* || }
  done
}

n=0 failed=0
while IFS=$'\t' read -r surface input want fragment; do
  [[ -z $surface || $surface == \#* ]] && continue
  n=$((n + 1))
  rm -f "$work/w.safetensors"
  set +e; run_case "$surface" "$input" >"$work/out" 2>&1; rc=$?; set -e
  if [ "$print" = --print ]; then
    printf '%s\t%s\t%s\t%s\n' "$surface" "$input" "$rc" "$(grep -a -m1 'error' "$work/out" | cut -c1-200)"
    continue
  fi
  why=
  if [ "$rc" -ge 128 ]; then why="killed by signal $((rc - 128))"
  elif grep -aqE 'Sanitizer|runtime error:' "$work/out"; then why="sanitizer report"
  elif [ "$rc" -ne "$want" ]; then why="exit $rc, expected $want"
  elif ! has_fragment "$fragment"; then why="no '$fragment' in the output"
  elif [ "$want" -ne 0 ] && [ -e "$work/w.safetensors" ]; then why="a failed run wrote weights"
  fi
  if [ -n "$why" ]; then
    failed=$((failed + 1))
    echo "FAIL $surface/$input: $why"
    head -c 2000 "$work/out" | sed 's/^/    /'
  fi
done < "$bad/cases.tsv"
[ "$print" = --print ] && exit 0
[ "$n" -ge 80 ] || fail "only $n cases in cases.tsv (the corpus promises at least 80)"
[ "$failed" -eq 0 ] || fail "$failed of $n bad-input cases failed"
echo "ok: $n bad inputs rejected cleanly"
