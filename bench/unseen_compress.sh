#!/usr/bin/env bash
# `compress` as a new user runs it, on the model kinds of bench/unseen_models.py (LSTM, Resize +
# ConvTranspose, ViT, MobileNetV2-style; PyTorch-trained and exported, mean/std not in the files):
# `--max-drop 1` with recipes/demo.yaml, and the built-in `--size` recipe at 1/30 of the fp32
# bytes. ONNX Runtime measures every written model; the ratio is fp32 bytes / .nnc file bytes.
# Usage: bash bench/unseen_compress.sh BUILD_DIR UNSEEN_DIR [MODEL...]
#   (UNSEEN_DIR as made by `/usr/bin/python3 bench/unseen_models.py UNSEEN_DIR 2`; THREADS, default 1)
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NNC="$(realpath "$1")/src/cli/nncompress"; U="$(realpath "$2")"; shift 2
MODELS=("$@"); [ ${#MODELS[@]} -gt 0 ] || MODELS=(lstm updeconv vit mobile)
D=(--mean 0.2860 --std 0.3530 --threads "${THREADS:-1}")
export NNC_CACHE_DIR="${NNC_CACHE_DIR:-$U/cache-compress}"
echo "CPU: $(lscpu | grep 'Model name' | sed 's/.*: *//')"
for m in "${MODELS[@]}"; do
  M="$U/$m.onnx"
  FP32=$(/usr/bin/python3 -c "import onnx,sys; from onnx import numpy_helper as h; m=onnx.load(sys.argv[1]); print(sum(h.to_array(t).size*4 for t in m.graph.initializer if t.data_type==1))" "$M")
  for mode in maxdrop size; do
    if [ $mode = maxdrop ]; then args=(--max-drop 1 --recipe "$ROOT/recipes/demo.yaml"); else args=(--size $((FP32 / 30))); fi
    s=$(date +%s)
    if "$NNC" compress "$M" "${D[@]}" "${args[@]}" -o "$U/$m.$mode.onnx" --nnc "$U/$m.$mode.nnc" --json \
        > "$U/$m.$mode.json" 2> "$U/$m.$mode.err"; then
      ort=$(node "$ROOT/tools/ort/ort_eval.js" "$U/$m.$mode.onnx" --mean 0.2860 --std 0.3530 |
            /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['top1'])")
      /usr/bin/python3 - "$U/$m.$mode.json" "$U/$m.$mode.nnc" "$FP32" "$ort" $(( $(date +%s) - s )) $m $mode <<'PY'
import json, os, sys
j = json.load(open(sys.argv[1])); f, ref = j["final"], j["reference"]
n = os.path.getsize(sys.argv[2]); fp32 = int(sys.argv[3])
print(f"| {sys.argv[6]} | {sys.argv[7]} | {100*ref['test_top1']:.2f}% → {100*f['test_top1']:.2f}% (ORT {100*float(sys.argv[4]):.2f}%) "
      f"| {n:,} | {fp32/n:.1f}x | {f.get('route', '–')} | {sys.argv[5]} s |")
PY
    else
      echo "| $m | $mode | refused: $(tail -1 "$U/$m.$mode.err") | | | | $(( $(date +%s) - s )) s |"
    fi
  done
done
