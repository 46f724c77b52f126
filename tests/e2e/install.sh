#!/usr/bin/env bash
# install.sh BUILD_DIR: `cmake --install` into a temporary prefix, then the
# installed aaic (found its runtime relative to itself) builds a model that
# trains.
. "$(dirname "$0")/lib.sh"
build=$1
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
[ -x "$work/prefix/bin/aaic" ] || fail "no bin/aaic installed"
[ -f "$work/prefix/include/aai/aairt.h" ] || fail "no include/aai/aairt.h installed"
"$work/prefix/bin/aaic" examples/iris.aai -o "$work/iris"
"$work/iris" train --quiet --epochs 5 --out "$work/w.safetensors" --metrics "$work/m.jsonl"
echo "ok: installed aaic works"
