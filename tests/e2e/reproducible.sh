#!/usr/bin/env bash
# reproducible.sh AAIC: the same model and flags compiled in two different
# folders (same relative invocation) give byte-identical executables,
# objects, headers and shared libraries, with no trace of either folder.
. "$(dirname "$0")/lib.sh"
aaic=$(realpath "$1")
for d in a b; do
    mkdir -p "$work/$d/tree-$d/examples"
    cp -r examples/iris.aai examples/data "$work/$d/tree-$d/examples/"
done
"$aaic" examples/iris.aai -o "$work/iris"
"$work/iris" train --quiet --epochs 3 --out "$work/w.safetensors" --metrics "$work/m.jsonl"
for d in a b; do
    (cd "$work/$d/tree-$d" &&
     "$aaic" examples/iris.aai -o iris &&
     "$aaic" examples/iris.aai --weights "$work/w.safetensors" -o iris_baked &&
     "$aaic" -c examples/iris.aai -o iris.o &&
     "$aaic" -c examples/iris.aai --prefix iris --weights "$work/w.safetensors" -o embed.o --header iris.h &&
     "$aaic" --shared examples/iris.aai --prefix iris -o libiris.so &&
     "$aaic" -c --target aarch64-linux-gnu examples/iris.aai -o arm.o)
done
for f in iris iris_baked iris.o embed.o iris.h libiris.so arm.o; do
    cmp "$work/a/tree-a/$f" "$work/b/tree-b/$f" || fail "$f differs between two folders"
    if grep -q "tree-a" "$work/a/tree-a/$f"; then fail "$f contains its build folder's path"; fi
done
echo "ok: byte-identical outputs from two folders"
