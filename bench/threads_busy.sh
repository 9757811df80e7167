#!/usr/bin/env bash
# Intra-op threads on a busy machine: one `prune` of a small model (the GRU fixture, 10,000 test
# images) with 1 thread and with as many threads as cores, first on an idle machine, then with as
# many busy processes beside it as there are cores (what `ctest -j$(nproc)` or a second run does).
# Prints wall seconds and each case's ratio to 1 thread alone, and the CPU.
# Usage: bash bench/threads_busy.sh BUILD_DIR [REPEATS]
set -euo pipefail
BUILD="$(realpath "$1")"; REPEATS="${2:-3}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NNC="$BUILD/src/cli/nncompress"
CORES=$(nproc)
TMP="$(mktemp -d)"; trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$TMP"' EXIT
run() {  # threads -> median wall seconds over REPEATS
  local t=() s e
  for _ in $(seq "$REPEATS"); do
    rm -rf "$TMP/cache"
    s=$(date +%s.%N)
    NNC_CACHE_DIR="$TMP/cache" "$NNC" prune "$ROOT/tests/fixtures/zoo/gru_bi2.onnx" --mean 0.2860 --std 0.3530 -q \
      --sparsity 0.6 --alloc global -o "$TMP/p.onnx" --threads "$1" > /dev/null
    e=$(date +%s.%N); t+=("$(echo "$e - $s" | bc)")
  done
  printf '%s\n' "${t[@]}" | sort -n | sed -n "$(( (REPEATS + 1) / 2 ))p"
}
echo "CPU: $(lscpu | grep 'Model name' | sed 's/.*: *//'), $CORES cores"
base=$(run 1)
printf '| machine | threads | seconds (median of %s) | vs 1 thread idle |\n|---|---|---|---|\n' "$REPEATS"
printf '| idle | 1 | %.1f | 1.00 |\n' "$base"
t=$(run "$CORES"); printf '| idle | %s | %.1f | %.2f |\n' "$CORES" "$t" "$(echo "$t / $base" | bc -l)"
for _ in $(seq "$CORES"); do (while :; do :; done) & done
for n in 1 "$CORES"; do
  t=$(run "$n"); printf '| %s busy processes | %s | %.1f | %.2f |\n' "$CORES" "$n" "$t" "$(echo "$t / $base" | bc -l)"
done
