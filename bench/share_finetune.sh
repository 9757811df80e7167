#!/usr/bin/env bash
# What fine-tuning the shared values adds to weight sharing (bench/RESULTS.md): share (the
# default extended search, --max-drop 0.5), then finetune with the codebook assignments fixed and
# the codebook values trained, in memory (bench/run_steps); the share step's own report is the
# "share alone" figure of the same run.
# Usage: bash bench/share_finetune.sh BUILD_DIR OUT_DIR [MODEL...]   (default: LeNet-5, ResNet-20)
set -euo pipefail
BUILD="$(realpath "$1")"; OUT="$(realpath -m "$2")"; shift 2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODELS=("$@"); [ ${#MODELS[@]} -gt 0 ] || MODELS=("$ROOT/models/lenet5.onnx" "$ROOT/models/resnet20.onnx")
mkdir -p "$OUT"
lscpu | grep "Model name" > "$OUT/cpu.txt"
STEPS='[{"step":"share","max_drop":0.5},{"step":"finetune","epochs":2,"lr":3e-4,"distill":0.5}]'
for m in "${MODELS[@]}"; do
  name=$(basename "$m" .onnx)
  [ -s "$OUT/$name.json" ] || "$BUILD/bench/run_steps" "$m" "$OUT/$name.onnx" "$OUT/$name.nnc" "$STEPS" \
    > "$OUT/$name.json" 2> "$OUT/$name.log"
  [ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ] && node "$ROOT/tools/ort/ort_eval.js" "$OUT/$name.onnx" > "$OUT/$name.ort.json"
done
/usr/bin/python3 - "$OUT" "${MODELS[@]}" <<'PY'
import json, os, sys
out = sys.argv[1]
print("| model | original | share alone | + finetune (2 epochs) | gain | codebook | .nnc ratio | ONNX Runtime |")
print("|---|---|---|---|---|---|---|---|")
for m in sys.argv[2:]:
    n = os.path.basename(m)[:-5]
    d = json.load(open(os.path.join(out, n + ".json")))
    s, f = d["steps"]
    ort = json.load(open(os.path.join(out, n + ".ort.json")))["top1"] if os.path.exists(os.path.join(out, n + ".ort.json")) else float("nan")
    print(f"| {n} | {100*d['top1_before']:.2f}% | {100*s['top1_after']:.2f}% ({s['ratio']:.1f}x) | {100*f['top1_after']:.2f}% | "
          f"{100*(f['top1_after']-s['top1_after']):+.2f} pt | {s['codebook_size']} values | {d['ratio']:.1f}x | {100*ort:.2f}% |")
PY
