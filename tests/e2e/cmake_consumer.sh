#!/usr/bin/env bash
# cmake_consumer.sh BUILD_DIR: install aai into a temporary prefix, then
# build examples/cmake-consumer (find_package(aai) + aai_add_model) and a
# pkg-config build of examples/embed against the installed tree only, and
# run both. Touching the model's data file must rebuild the object (the
# depfile reaches CMake).
. "$(dirname "$0")/lib.sh"
build=$(realpath "$1")
src=$PWD
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
for f in bin/aaic include/aai/aairt.h include/aai/aairt_embed.h lib/pkgconfig/aai.pc \
         lib/cmake/aai/aaiConfig.cmake lib/cmake/aai/AaiAddModel.cmake; do
    [ -e "$prefix/$f" ] || fail "not installed: $f"
done
ls "$prefix"/lib/aai/libaairt.so* > /dev/null || fail "no shared libaairt installed"

"$prefix/bin/aaic" examples/iris.aai -o "$work/iris"
"$work/iris" train --quiet --epochs 30 --out "$work/iris.safetensors" --metrics "$work/m.jsonl"

cp -r examples/iris.aai examples/data examples/cmake-consumer "$work/"
cmake -S "$work/cmake-consumer" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
      -DIRIS_WEIGHTS="$work/iris.safetensors" > "$work/configure.log" || { cat "$work/configure.log"; fail "configure"; }
cmake --build "$work/consumer" > "$work/build.log" 2>&1 || { cat "$work/build.log"; fail "build"; }
"$work/consumer/flowers" > "$work/out.txt" || fail "the consumer did not run"
grep -q 'flower 0: class 0' "$work/out.txt" || { cat "$work/out.txt"; fail "setosa misclassified"; }
echo "ok: CMake consumer"

# Rebuild dependencies: the data file is in the depfile.
cmake --build "$work/consumer" > "$work/b2.log" 2>&1
grep -q 'aaic: compiling' "$work/b2.log" && fail "rebuilt with nothing changed"
sleep 1; touch "$work/data/iris.csv"
cmake --build "$work/consumer" > "$work/b3.log" 2>&1
grep -q 'aaic: compiling' "$work/b3.log" || { cat "$work/b3.log"; fail "touching the data file did not rebuild the model"; }
echo "ok: depfile drives rebuilds"

# pkg-config against the installed tree.
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
"$prefix/bin/aaic" -c examples/iris.aai --prefix iris --weights "$work/iris.safetensors" \
    -o "$work/iris.o" --header "$work/iris.h"
cc -std=c11 -I"$work" examples/embed/main.c "$work/iris.o" $(pkg-config --cflags --libs --static aai) -o "$work/classify"
cut -d, -f1-4 examples/data/iris.csv | "$work/classify" --class > "$work/classes.txt"
[ "$(wc -l < "$work/classes.txt")" -eq 150 ] || fail "pkg-config build: expected 150 classes"
echo "ok: pkg-config"
