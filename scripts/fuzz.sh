#!/usr/bin/env bash
# Fuzzing with libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer (clang-14): builds the
# targets with the sanitizer build of tests/sanitize/ (outside the main build), writes each
# target's seed corpus, and runs the targets one after the other, each for SECONDS on one core.
# Usage: bash scripts/fuzz.sh [SECONDS] [TARGET...]      (default 600 s; default every target)
# Targets (tests/fuzz/<target>_fuzz.cpp):
#   nnc          both .nnc readers agree on every input (differential)
#   onnx_load    ONNX parse, local functions, checker, sparse initializers, metadata (no LibTorch)
#   onnx_engine  the same, then the engine built and run once (LibTorch)
#   tensor_pb    the .pb tensor reader of `nncompress run` (LibTorch)
#   npy, npz, idx  the data readers (LibTorch)
#   recipe       compress's recipe parser, every step's options built (LibTorch and every
#                compression step: only with NNC_FUZZ_COMPRESS=1, a long sanitizer build)
# Environment:
#   NNC_FUZZ_DIR    corpora, seeds and crashes (default build-fuzz/)
#   NNC_FUZZ_BUILD  the sanitizer build directory to use (default $NNC_FUZZ_DIR/build)
#   NNC_FUZZ_TORCH  0: do not build the LibTorch targets (default 1)
#   NNC_FUZZ_COMPRESS  1: also build the compression steps and the recipe target (default 0)
#   NNC_FUZZ_JOBS   build parallelism (default 1)
#   NNC_FUZZ_ARGS   extra libFuzzer arguments (e.g. -runs=1000000)
# A crash input lands in $NNC_FUZZ_DIR/crashes/<target>-*; once fixed, keep it in
# tests/fuzz/<target>/, which CTest replays (fuzz_replay_<target>; .nnc inputs: test_store).
# Each run ends with a line "fuzz: <target> <executions> executions in <s> s, <n> crashes".
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:-600}
shift || true
torch=${NNC_FUZZ_TORCH:-1}
compress=${NNC_FUZZ_COMPRESS:-0}
[ "$torch" = 1 ] || compress=0
all=(nnc onnx_load)
[ "$torch" = 1 ] && all+=(onnx_engine tensor_pb npy npz idx)
[ "$compress" = 1 ] && all+=(recipe)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
dir=${NNC_FUZZ_DIR:-build-fuzz}
build=${NNC_FUZZ_BUILD:-$dir/build}
mkdir -p "$dir/crashes"

on_off() { [ "$1" = 1 ] && echo ON || echo OFF; }
if [ ! -f "$build/CMakeCache.txt" ] || ! grep -q "NNC_FUZZ_TORCH:BOOL=$(on_off "$torch")" "$build/CMakeCache.txt" ||
   { [ "$compress" = 1 ] && ! grep -q "NNC_FUZZ_COMPRESS:BOOL=ON" "$build/CMakeCache.txt"; }; then
  cmake -S tests/sanitize -B "$build" -G Ninja -DCMAKE_C_COMPILER="${CC_FUZZ:-clang-14}" \
    -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++-14}" -DNNC_FUZZ_TORCH="$(on_off "$torch")" \
    -DNNC_FUZZ_COMPRESS="$(on_off "$compress")" >/dev/null
fi
binaries=()
for t in "${targets[@]}"; do binaries+=("${t}_fuzz"); done
ninja -C "$build" -j "${NNC_FUZZ_JOBS:-1}" "${binaries[@]}" make_seeds >/dev/null

# Seeds: the writers' own outputs and the fixtures; ONNX's backend test cases (one small model
# per operator, and their .pb tensors) when libonnx-testdata is installed; inputs found before.
node_cases=/usr/include/onnx/backend/test/data/node
seed() {
  local t=$1 s="$dir/seeds/$1"
  rm -rf "$s"
  mkdir -p "$s" "$dir/corpus/$t"
  case $t in
    nnc)
      "$build/make_seeds" "$s" >/dev/null
      cp tests/fixtures/store/*.nnc "$s/" ;;
    onnx_load|onnx_engine)
      find tests/fixtures models -name '*.onnx' -size -16k -exec cp --backup=numbered {} "$s/" \;
      if [ -d "$node_cases" ]; then
        for c in "$node_cases"/*/; do cp "$c/model.onnx" "$s/$(basename "$c").onnx"; done
      fi ;;
    tensor_pb)
      if [ -d "$node_cases" ]; then
        for c in "$node_cases"/*/test_data_set_0; do
          for f in "$c"/*.pb; do [ "$(stat -c %s "$f")" -le 4096 ] && cp "$f" "$s/$(basename "$(dirname "$c")")_$(basename "$f")"; done
        done
      fi ;;
    recipe)
      cp recipes/*.yaml "$s/"
      printf '{"steps": [{"step": "prune", "options": {"sparsity": "auto", "finetune": {"epochs": 1}}}]}' > "$s/json.json" ;;
    npy|npz|idx)
      /usr/bin/python3 - "$t" "$s" <<'PYEOF'
import gzip, sys, numpy as np
kind, out = sys.argv[1], sys.argv[2]
arrays = [np.arange(12, dtype=d).reshape(3, 4) for d in ("<f4", "<f8", "<i8", "<i4", "|u1", "|i1", "<i2")]
arrays += [np.zeros((0, 3), np.float32), np.array(3.5, np.float32), np.ones((2, 1, 2, 2), bool)]
for i, a in enumerate(arrays):
    if kind == "npy":
        np.save(f"{out}/seed{i}.npy", a)
    elif kind == "npz":
        (np.savez_compressed if i % 2 else np.savez)(f"{out}/seed{i}.npz", a=a, b=arrays[i - 1])
    elif a.dtype == np.uint8 or i == 0:
        raw = bytes([0, 0, 8, a.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in a.shape) + a.astype(np.uint8).tobytes()
        open(f"{out}/seed{i}.idx", "wb").write(raw)
        open(f"{out}/seed{i}.idx.gz", "wb").write(gzip.compress(raw))
PYEOF
      ;;
  esac
  if compgen -G "tests/fuzz/$t/*" >/dev/null; then cp tests/fuzz/"$t"/* "$s/"; fi
}

declare -A max_len=([nnc]=4096 [onnx_load]=16384 [onnx_engine]=16384 [tensor_pb]=4096 [npy]=8192 [npz]=8192 [idx]=8192
  [recipe]=4096)
for t in "${targets[@]}"; do
  seed "$t"
  log="$dir/$t.log"
  echo "fuzz: $t for ${seconds}s: corpus $dir/corpus/$t, seeds $dir/seeds/$t, log $log" >&2
  set +e
  t0=$(date +%s)
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  # shellcheck disable=SC2086
  "$build/${t}_fuzz" "$dir/corpus/$t" "$dir/seeds/$t" "${dict[@]}" -max_total_time="$seconds" -max_len="${max_len[$t]}" \
    -timeout=10 -rss_limit_mb=3072 -artifact_prefix="$dir/crashes/$t-" -print_final_stats=1 ${NNC_FUZZ_ARGS:-} \
    >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  crashes=$(find "$dir/crashes" -name "$t-*" -newer "$dir/seeds/$t" | wc -l)
  echo "fuzz: $t $runs executions in $(($(date +%s) - t0)) s (limit ${seconds} s), $crashes crashes (exit $rc)"
  if [ "$rc" -ne 0 ]; then
    grep -m 5 -E "ERROR|SUMMARY|runtime error|deadly|Timeout|out-of-memory" "$log" >&2 || true
    exit "$rc"
  fi
done
