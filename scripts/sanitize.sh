#!/usr/bin/env bash
# The sanitizer pass of CI (run by scripts/test.sh after the main suite): the libraries that do
# not need LibTorch (core, onnx, store, the C decoder) and their tests built with
# AddressSanitizer and UndefinedBehaviorSanitizer (tests/sanitize/, its own build directory) and
# run; every input fuzzing found replayed through the sanitized harnesses; and, when clang-14 is
# installed, exec and data built with the sanitizers too (linked against Debian's LibTorch) and
# a short libFuzzer smoke run of every fuzz target (scripts/fuzz.sh). The recipe parser's
# inputs are replayed by the main suite (fuzz_replay_recipe): it needs every compression step.
# Usage: bash scripts/sanitize.sh [SMOKE_SECONDS]   (default 30)
#   NNC_ASAN_DIR  build directory (default build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=${1:-30}
dir=${NNC_ASAN_DIR:-build-asan}
start=$(date +%s)
if command -v clang++-14 >/dev/null 2>&1; then
  cc=clang-14 cxx=clang++-14
else
  cc=gcc cxx=g++  # sanitizers without the fuzz smoke
fi
if [ ! -f "$dir/CMakeCache.txt" ]; then
  cmake -S tests/sanitize -B "$dir" -G Ninja -DCMAKE_C_COMPILER="$cc" -DCMAKE_CXX_COMPILER="$cxx" \
    -DNNC_FUZZ_TORCH=OFF >/dev/null
fi
ninja -C "$dir" -j "${NNC_JOBS:-$(nproc)}" >/dev/null
echo "sanitize: built $dir with $cxx in $(($(date +%s) - start)) s" >&2

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
"$dir/sanitize_tests" --gtest_brief=1
"$dir/replay_onnx_load" tests/fuzz/onnx_load >/dev/null

if [ "$cxx" = clang++-14 ]; then
  # fuzz.sh reconfigures the build with the LibTorch targets and builds what it runs.
  NNC_FUZZ_DIR="$dir/fuzz" NNC_FUZZ_BUILD="$dir" NNC_FUZZ_TORCH=1 NNC_FUZZ_JOBS="${NNC_JOBS:-$(nproc)}" \
    bash scripts/fuzz.sh "$smoke"
  torch_targets=(onnx_engine tensor_pb npy npz idx)
  ninja -C "$dir" -j "${NNC_JOBS:-$(nproc)}" "${torch_targets[@]/#/replay_}" >/dev/null
  for t in "${torch_targets[@]}"; do "$dir/replay_$t" "tests/fuzz/$t" >/dev/null; done
  echo "sanitize: found inputs of onnx_engine, tensor_pb, npy, npz, idx replayed under the sanitizers" >&2
else
  echo "sanitize: clang-14 not installed; no fuzz smoke" >&2
fi
echo "sanitize: passed in $(($(date +%s) - start)) s" >&2
