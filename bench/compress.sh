#!/usr/bin/env bash
# `nncompress compress` on one model, as a user runs it, for bench/RESULTS.md: the default recipe
# (or RECIPE) at --max-drop MAX_DROP, then ONNX Runtime on the written ONNX file; prints one
# table row (ratio = original fp32 parameter bytes / .nnc file bytes; top-1 on the full test
# split) and the CPU it ran on.
# Usage: bash bench/compress.sh BUILD_DIR OUT_DIR MODEL [MAX_DROP] [RECIPE] [-- extra compress flags]
set -euo pipefail
BUILD="$(realpath "$1")"; OUT="$(realpath -m "$2")"; MODEL="$(realpath "$3")"
MAX_DROP="${4:-0.5}"; RECIPE="${5:-}"
shift $(( $# < 5 ? $# : 5 ))
[ "${1:-}" = "--" ] && shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NNC="$BUILD/src/cli/nncompress"
NAME="$(basename "$MODEL" .onnx)${RECIPE:+-$(basename "$RECIPE" .yaml)}"
mkdir -p "$OUT"
export NNC_CACHE_DIR="${NNC_CACHE_DIR:-$OUT/cache}"
lscpu | grep "Model name" | sed 's/  */ /g' > "$OUT/cpu.txt"
start=$(date +%s)
"$NNC" compress "$MODEL" --max-drop "$MAX_DROP" ${RECIPE:+--recipe "$RECIPE"} -o "$OUT/$NAME.onnx" \
  --nnc "$OUT/$NAME.nnc" --report "$OUT/$NAME.report" --threads "${THREADS:-0}" "$@" --json > "$OUT/$NAME.json" \
  2> "$OUT/$NAME.log"
end=$(date +%s)
node "$ROOT/tools/ort/ort_eval.js" "$OUT/$NAME.onnx" ${ORT_FLAGS:-} > "$OUT/$NAME.ort.json"
/usr/bin/python3 - "$OUT/$NAME.json" "$OUT/$NAME.ort.json" "$OUT/$NAME.nnc" "$((end - start))" "$(cat "$OUT/cpu.txt")" <<'PYEOF'
import json, os, sys
j, ort = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
nnc, secs, cpu = sys.argv[3], int(sys.argv[4]), sys.argv[5]
f, ref = j["final"], j["reference"]
steps = " → ".join(s["step"] for s in j["steps"][1:])
print(f"| {os.path.basename(j['model'])} | {j['recipe']['name']} ({steps}) | {100*ref['test_top1']:.2f}% → "
      f"{100*f['test_top1']:.2f}% ({-f['test_drop_pt']:+.2f} pt; ORT {100*ort['top1']:.2f}%) | "
      f"{os.path.getsize(nnc):,} | **{j['fp32_bytes']/os.path.getsize(nnc):.1f}x** | {j['onnx_bytes']:,} "
      f"({j['onnx_ratio']:.1f}x) | {secs} s |")
print("per step:", ", ".join(f"{s['step']} {s['ratio']:.1f}x {100*s['test_top1']:.2f}% {s['seconds']:.0f}s"
                             for s in j["steps"][1:]), "|", cpu)
PYEOF
