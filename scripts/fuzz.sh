#!/usr/bin/env bash
# Differential fuzzing of the two .nnc readers (tests/fuzz/): builds the libFuzzer target with
# clang and the address and undefined-behaviour sanitizers, outside the CMake build, writes the
# seed corpus with the container writer, and runs the target.
# Usage: bash scripts/fuzz.sh [SECONDS]            (default 600)
#   NNC_FUZZ_DIR   build, corpus and crash directory (default build-fuzz/)
#   NNC_FUZZ_ARGS  extra libFuzzer arguments (e.g. -runs=1000000)
# A crash input lands in $NNC_FUZZ_DIR/crashes/; once fixed, keep it (re-sealed with its CRC)
# in tests/fuzz/nnc/, which test_store replays through both readers.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
dir=${NNC_FUZZ_DIR:-build-fuzz}
cxx=${CXX_FUZZ:-clang++-14}
cc=${CC_FUZZ:-clang-14}
mkdir -p "$dir/obj" "$dir/seeds" "$dir/corpus" "$dir/crashes"

# The fuzzing build lowers the readers' element limit (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION).
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
defs="-DFUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION -Iinclude -Isrc/store -Itests/fuzz"
objs=()
for f in container entropy bitpack; do
  "$cxx" -std=c++20 -O1 -g $san -fsanitize=fuzzer-no-link $defs -c "src/store/$f.cpp" -o "$dir/obj/$f.o"
  objs+=("$dir/obj/$f.o")
done
"$cc" -std=c99 -O1 -g $san -fsanitize=fuzzer-no-link $defs -c src/store/decode.c -o "$dir/obj/decode.o"
objs+=("$dir/obj/decode.o")
"$cxx" -std=c++20 -O1 -g $san -fsanitize=fuzzer $defs tests/fuzz/nnc_fuzz.cpp "${objs[@]}" -lfmt -lz \
  -o "$dir/nnc_fuzz"
"$cxx" -std=c++20 -O1 -g $san $defs tests/fuzz/make_seeds.cpp "${objs[@]}" -lfmt -lz -o "$dir/make_seeds"

"$dir/make_seeds" "$dir/seeds"
cp tests/fixtures/store/*.nnc "$dir/seeds/"
if compgen -G "tests/fuzz/nnc/*" > /dev/null; then cp tests/fuzz/nnc/* "$dir/seeds/"; fi

echo "fuzzing for ${seconds}s: $dir/nnc_fuzz, corpus $dir/corpus, seeds $dir/seeds"
# shellcheck disable=SC2086
"$dir/nnc_fuzz" "$dir/corpus" "$dir/seeds" -max_total_time="$seconds" -max_len=4096 -timeout=10 \
  -artifact_prefix="$dir/crashes/" -print_final_stats=1 ${NNC_FUZZ_ARGS:-}
