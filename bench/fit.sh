#!/usr/bin/env bash
# `nncompress fit` on one model, as a user runs it, for bench/RESULTS.md: the model into SIZE
# (12KB, 20480, ...), then ONNX Runtime on the written ONNX file; prints one table row (ratio =
# original fp32 parameter bytes / .nnc file bytes; top-1 on the full test split), the per-tensor
# choice and the CPU it ran on.
# Usage: bash bench/fit.sh BUILD_DIR OUT_DIR MODEL SIZE [-- extra fit flags]
set -euo pipefail
BUILD="$(realpath "$1")"; OUT="$(realpath -m "$2")"; MODEL="$(realpath "$3")"; SIZE="$4"
shift 4
[ "${1:-}" = "--" ] && shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NNC="$BUILD/src/cli/nncompress"
NAME="$(basename "$MODEL" .onnx)-$SIZE"
mkdir -p "$OUT"
lscpu | grep "Model name" | sed 's/  */ /g' > "$OUT/cpu.txt"
start=$(date +%s)
"$NNC" fit "$MODEL" --size "$SIZE" -o "$OUT/$NAME.onnx" --nnc "$OUT/$NAME.nnc" --threads "${THREADS:-0}" "$@" \
  --json > "$OUT/$NAME.json" 2> "$OUT/$NAME.log"
end=$(date +%s)
node "$ROOT/tools/ort/ort_eval.js" "$OUT/$NAME.onnx" ${ORT_FLAGS:-} > "$OUT/$NAME.ort.json"
/usr/bin/python3 - "$OUT/$NAME.json" "$OUT/$NAME.ort.json" "$OUT/$NAME.nnc" "$((end - start))" "$(cat "$OUT/cpu.txt")" \
  "$*" <<'PYEOF'
import json, os, sys
j, ort = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
nnc, secs, cpu, flags = sys.argv[3], int(sys.argv[4]), sys.argv[5], sys.argv[6]
size = os.path.getsize(nnc)
assert size == j["nnc_bytes"] <= j["size_cap"], (size, j["size_cap"])
print(f"| {os.path.basename(j['model'])} | {j['size_cap']:,} {flags} | {100*j['top1_before']:.2f}% → "
      f"{100*j['top1_after']:.2f}% ({-j['drop_pt']:+.2f} pt; ORT {100*ort['top1']:.2f}%) | {size:,} | "
      f"**{j['fp32_bytes']/size:.1f}x** | {secs} s |")
print("per tensor:", ", ".join(f"{l['layer']} {100*l['density']:.1f}% {l['bits']}b" for l in j["layers"]), "|", cpu)
PYEOF
