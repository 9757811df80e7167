#!/usr/bin/env bash
# int8 against fp32 in ONNX Runtime, one run per form: fp32, int8 weights only (w8), int8 weights
# and activations (int8), our shared model (packed-index Gather ONNX), shared + int8 (the shared
# values snapped to a zero-aligned int8 grid per tensor), pruned (SPARSITY, one-shot) and pruned +
# int8. Per form: test top-1 by ONNX Runtime and by the engine (full test split), ONNX file bytes,
# .nnc bytes, the weight bytes ONNX Runtime holds after its graph optimisations (and how many
# times fewer than fp32's), the resident memory one more session of the model takes, batch time.
# Usage: SPARSITY=0.5 bash bench/quantize.sh BUILD OUT MODEL   (prints RESULTS rows; CPU named)
set -euo pipefail
BUILD="$1"; OUT="$2"; MODEL="$3"; shift 3
SPARSITY="${SPARSITY:-0.5}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"; NNC="$BUILD/src/cli/nncompress"
mkdir -p "$OUT"
"$NNC" quantize "$MODEL" -o "$OUT/int8.onnx" --nnc "$OUT/int8.nnc" --json -q > "$OUT/int8.json"
"$NNC" quantize "$MODEL" -o "$OUT/w8.onnx" --nnc "$OUT/w8.nnc" --weights-only --json -q > "$OUT/w8.json"
"$NNC" share "$MODEL" -o "$OUT/shared.onnx" --nnc "$OUT/shared.nnc" --json -q > "$OUT/shared.json"
"$NNC" quantize "$OUT/shared.nnc" -o "$OUT/shared-int8.onnx" --nnc "$OUT/shared-int8.nnc" --json -q > "$OUT/shared-int8.json"
"$NNC" prune "$MODEL" --sparsity "$SPARSITY" --no-comparison -o "$OUT/pruned.onnx" --nnc "$OUT/pruned.nnc" --json -q > "$OUT/pruned.json"
"$NNC" quantize "$OUT/pruned.onnx" -o "$OUT/pruned-int8.onnx" --nnc "$OUT/pruned-int8.nnc" --json -q > "$OUT/pruned-int8.json"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(grep -o -m1 'avx512f' /proc/cpuinfo || echo 'AVX2 only'); ONNX Runtime 1.30, 2 threads, batch 256; pruned: --sparsity $SPARSITY one-shot"
echo "| model | form | test top-1 (ONNX Runtime) | engine top-1 | ONNX bytes | .nnc bytes | ORT weight bytes | fewer than fp32 | ORT RSS per session | batch ms |"
echo "|---|---|---|---|---|---|---|---|---|---|"
fp32_weights=""
for form in fp32 w8 int8 shared shared-int8 pruned pruned-int8; do
  f="$OUT/$form.onnx"; [ "$form" = fp32 ] && f="$MODEL"
  ort=$(node "$ROOT/tools/ort/ort_eval.js" "$f" 2>/dev/null | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['top1'])")
  ours=$("$NNC" eval "$f" --json -q | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['top1'])")
  mem=$(ORT_OPTIMIZED_MODEL="$OUT/$form.ort.onnx" node "$ROOT/bench/ort_memory.js" "$f")
  weights=$(/usr/bin/python3 "$ROOT/bench/ort_weight_bytes.py" "$OUT/$form.ort.onnx")
  nnc=""; [ -f "$OUT/$form.nnc" ] && nnc=$(stat -c %s "$OUT/$form.nnc")
  row=$(/usr/bin/python3 - "$MODEL" "$form" "$ort" "$ours" "$(stat -c %s "$f")" "$nnc" "$mem" "$weights" "$fp32_weights" <<'PYEOF'
import json, os, sys
model, form, ort, ours, size, nnc, mem, weights, fp32 = sys.argv[1:]
m, w = json.loads(mem), json.loads(weights)
fewer = f"{int(fp32) / w['weight_bytes']:.2f}x" if fp32 else "1x"
cells = [os.path.basename(model), form, f"{100*float(ort):.2f}%", f"{100*float(ours):.2f}%", f"{int(size):,}",
         f"{int(nnc):,}" if nnc else "", f"{w['weight_bytes']:,}", fewer, f"{m['session_model_bytes']/2**20:.2f} MiB",
         f"{m['median_ms']:.2f}"]
print("| " + " | ".join(cells) + " |")
PYEOF
)
  echo "$row"
  [ -n "$fp32_weights" ] || fp32_weights=$(echo "$weights" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['weight_bytes'])")
done
