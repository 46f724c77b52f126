#!/usr/bin/env bash
# embed.sh AAIC BUILD_DIR: the embedding API end to end.
#  - train iris; `aaic -c --weights --header` -> examples/embed/main.c linked
#    with the object and libaairt predicts bitwise what `./iris predict --raw`
#    prints, for two batch sizes; the same through --shared (a .so);
#  - the header compiles cleanly as C99 and as C++;
#  - a regression model (diabetes: label transform inverted) matches too;
#  - without --weights, with --train-api: load at run time, train steps,
#    save/load round trip (tests/e2e/embed_train.c);
#  - `aaic --weights` without -c bakes them into the executable, whose
#    predict/eval default to them;
#  - weights that do not fit the model are positioned errors (exit 1).
. "$(dirname "$0")/lib.sh"
aaic=$1
build=$2
src=$PWD
CC=${CC:-cc}
libs="$build/lib/libaairt.a ${AAI_LINK_EXTRA_FLAGS:-} -lyaml -lcjson -lz -lmvec -lm -lpthread -ldl"
inc="-I$src/runtime/include -I$work"

"$aaic" examples/iris.aai -o "$work/iris"
"$work/iris" train --quiet --epochs 20 --out "$work/iris.safetensors" --metrics "$work/m.jsonl"
cut -d, -f1-4 examples/data/iris.csv > "$work/feats.csv"

# The model card beside the weights: digests match sha256sum.
card="$work/iris.card.yaml"
[ -f "$card" ] || fail "no model card written"
grep -q "^  sha256: $(sha256sum "$work/iris.safetensors" | cut -d' ' -f1)\$" "$card" || fail "card: weights digest"
grep -q "examples/data/iris.csv: $(sha256sum examples/data/iris.csv | cut -d' ' -f1)\$" "$card" || fail "card: data digest"
grep -q '^  test_accuracy: ' "$card" || fail "card: final metrics"
echo "ok: model card"

"$aaic" -c examples/iris.aai --prefix iris --weights "$work/iris.safetensors" \
    -o "$work/iris.o" --header "$work/iris.h"
grep -q 'IRIS_HAS_WEIGHTS 1' "$work/iris.h" || fail "header does not say the weights are baked"
nm "$work/iris.o" | grep -q ' [Rr] iris_weights$' || fail "iris_weights is not read-only data"

# The header alone, as C99 and as C++.
printf '#include "iris.h"\nint main(void) { return IRIS_INPUT_WIDTH - 4; }\n' > "$work/h.c"
$CC -std=c99 -pedantic -Wall -Wextra -Werror $inc -c "$work/h.c" -o "$work/h99.o"
if command -v c++ > /dev/null; then
    cp "$work/h.c" "$work/h.cpp"
    c++ -std=c++11 -pedantic -Wall -Wextra -Werror $inc -c "$work/h.cpp" -o "$work/hxx.o"
fi

$CC -std=c11 -Wall -Wextra -Werror $inc examples/embed/main.c "$work/iris.o" $libs -o "$work/classify"
for b in 16 150; do
    "$work/iris" predict --raw --batch $b --weights "$work/iris.safetensors" --input "$work/feats.csv" > "$work/cli.txt"
    "$work/classify" --batch $b < "$work/feats.csv" > "$work/embed.txt"
    [ "$(wc -l < "$work/cli.txt")" -eq 151 ] || fail "expected 150 predictions"
    cmp "$work/cli.txt" "$work/embed.txt" || fail "embedded predictions differ from ./iris predict (batch $b)"
done
echo "ok: embedded object predicts bit for bit like ./iris predict"

# Shared library, same API.
"$aaic" --shared examples/iris.aai --prefix iris --weights "$work/iris.safetensors" -o "$work/libiris.so"
$CC -std=c11 $inc examples/embed/main.c -L"$work" -liris -Wl,-rpath,"$work" ${AAI_LINK_EXTRA_FLAGS:-} -o "$work/classify_so"
"$work/classify_so" --batch 16 < "$work/feats.csv" > "$work/so.txt"
"$work/iris" predict --raw --batch 16 --weights "$work/iris.safetensors" --input "$work/feats.csv" > "$work/cli.txt"
cmp "$work/cli.txt" "$work/so.txt" || fail "the .so predicts differently"
echo "ok: shared library"

# Regression: outputs go back through the label transform.
"$aaic" examples/diabetes.aai -o "$work/diabetes"
"$work/diabetes" train --quiet --epochs 5 --out "$work/d.safetensors" --metrics "$work/dm.jsonl"
cut -d, -f1-10 examples/data/diabetes.csv > "$work/dfeats.csv"
"$aaic" -c examples/diabetes.aai --prefix iris --weights "$work/d.safetensors" -o "$work/d.o" --header "$work/iris.h"
$CC -std=c11 $inc examples/embed/main.c "$work/d.o" $libs -o "$work/dpredict"
"$work/dpredict" --batch 32 < "$work/dfeats.csv" | tail -n +2 > "$work/embed.txt"
"$work/diabetes" predict --raw --batch 32 --weights "$work/d.safetensors" --input "$work/dfeats.csv" | tail -n +2 > "$work/cli.txt"
cmp "$work/cli.txt" "$work/embed.txt" || fail "regression predictions differ"
echo "ok: regression model"

# Weights at run time, on-device training, save/load.
# (iris with a step schedule: embed_train checks m_set_epoch against it.)
sed 's/^    epochs    = 100$/&\n    schedule  = step(every = 2, gamma = 0.5)/' examples/iris.aai > "$work/iris_step.aai"
grep -q 'schedule  = step' "$work/iris_step.aai" || fail "could not add a schedule to iris.aai"
"$aaic" -c "$work/iris_step.aai" --prefix m --train-api -o "$work/m.o" --header "$work/m.h"
grep -q 'M_HAS_WEIGHTS 0' "$work/m.h" || fail "M_HAS_WEIGHTS should be 0"
$CC -std=c11 -Wall -Wextra -Werror $inc tests/e2e/embed_train.c "$work/m.o" $libs -o "$work/embed_train"
(cd "$work" && ./embed_train iris.safetensors "$src/examples/data/iris.csv") || fail "on-device training"
"$work/iris" eval --weights "$work/trained.safetensors" > /dev/null || fail "./iris cannot read weights saved by m_save"
echo "ok: train API"

# Weights baked into a standalone executable: predict and eval default to
# them (the output is the weights file's, bit for bit, for a classifier and
# a regression model with a label transform), --weights still overrides,
# info names them, and a weights file of another model is refused.
"$aaic" examples/iris.aai --weights "$work/iris.safetensors" -o "$work/iris_baked"
nm "$work/iris_baked" > "$work/nm_baked.txt"
nm "$work/iris" > "$work/nm_plain.txt"
grep -q ' [DdRr] aai_baked$' "$work/nm_baked.txt" || fail "the baked executable has no aai_baked"
grep -q ' [DdRr] aai_baked$' "$work/nm_plain.txt" && fail "a plain executable defines aai_baked"
"$work/iris_baked" predict --raw --batch 16 --input "$work/feats.csv" > "$work/baked.txt"
"$work/iris" predict --raw --batch 16 --weights "$work/iris.safetensors" --input "$work/feats.csv" > "$work/cli.txt"
cmp "$work/cli.txt" "$work/baked.txt" || fail "the baked executable predicts differently"
"$work/iris_baked" eval --json > "$work/baked_eval.json"
"$work/iris" eval --json --weights "$work/iris.safetensors" > "$work/file_eval.json"
cmp "$work/baked_eval.json" "$work/file_eval.json" || fail "the baked executable evaluates differently"
"$work/iris" train --quiet --epochs 1 --out "$work/other.safetensors" --metrics "$work/m1.jsonl"
"$work/iris_baked" predict --raw --batch 16 --weights "$work/other.safetensors" --input "$work/feats.csv" > "$work/o1.txt"
"$work/iris" predict --raw --batch 16 --weights "$work/other.safetensors" --input "$work/feats.csv" > "$work/o2.txt"
cmp "$work/o1.txt" "$work/o2.txt" || fail "--weights does not override the baked weights"
cmp -s "$work/o1.txt" "$work/cli.txt" && fail "1-epoch and 20-epoch weights predict alike: the override test proves nothing"
"$work/iris_baked" info | grep -q '^weights  *baked in from iris.safetensors$' || fail "info does not name the baked weights"
"$work/iris_baked" --help | grep -q 'baked in from iris.safetensors' || fail "usage does not mention the baked weights"
"$aaic" examples/diabetes.aai --weights "$work/d.safetensors" -o "$work/d_baked"
"$work/d_baked" predict --raw --batch 32 --input "$work/dfeats.csv" | tail -n +2 > "$work/d1.txt"
"$work/diabetes" predict --raw --batch 32 --weights "$work/d.safetensors" --input "$work/dfeats.csv" | tail -n +2 > "$work/d2.txt"
cmp "$work/d1.txt" "$work/d2.txt" || fail "baked regression model predicts differently"
set +e
"$aaic" examples/breast_cancer.aai --weights "$work/iris.safetensors" -o "$work/x" 2> "$work/err.txt"
rc=$?
set -e
[ $rc -eq 1 ] && [ ! -e "$work/x" ] || fail "baking another model's weights: exit $rc, expected 1 and no output"
echo "ok: weights baked into the executable"

# Weights of another model: a positioned error at the layer, exit 1.
set +e
"$aaic" -c examples/breast_cancer.aai --weights "$work/iris.safetensors" -o "$work/x.o" 2> "$work/err.txt"
rc=$?
set -e
[ $rc -eq 1 ] || fail "mismatched weights: exit $rc, expected 1"
grep -q 'examples/breast_cancer.aai:[0-9]*:[0-9]*: error: .*has shape' "$work/err.txt" || { cat "$work/err.txt"; fail "no positioned shape error"; }
echo "ok: weights checked against the parameter table"
