#!/usr/bin/env bash
# Models of kinds the reference models do not cover (bench/unseen_models.py: LSTM, Resize +
# ConvTranspose, ViT, MobileNetV2-style), trained and exported by PyTorch, through every
# command; ONNX Runtime measures each written model. Prints one row per (model, command): `ratio`
# is the command's own (fp32 / .nnc bytes), `onnx_ratio` fp32 / the written ONNX file's bytes.
# Usage: bash bench/unseen_models.sh [OUT_DIR=/tmp/nnc_unseen] [EPOCHS=2]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-/tmp/nnc_unseen}"; EPOCHS="${2:-2}"
NNC=build/src/cli/nncompress
D=(--mean 0.2860 --std 0.3530 -q)
PY=/usr/bin/python3
[ -f "$OUT/mobile.onnx" ] || $PY bench/unseen_models.py "$OUT" "$EPOCHS" 2>&1 | grep -v -i warn | grep -v "^ "
field() { $PY -c "import json,sys; d=json.load(open(sys.argv[1])); print(d.get(sys.argv[2], ''))" "$1" "$2"; }
ort() { node tools/ort/ort_eval.js "$1" | $PY -c "import json,sys; print(json.load(sys.stdin)['top1'])"; }
printf "%-9s %-28s %8s %8s %8s %8s %10s %7s\n" model command before after ort ratio onnx_ratio seconds
for m in lstm updeconv vit mobile; do
  M="$OUT/$m.onnx"
  # fp32 bytes of the original's float initializers: the baseline of every ratio (onnx_ratio = it / written file size).
  FP32=$($PY -c "import onnx,sys,numpy as np; from onnx import numpy_helper as h; m=onnx.load(sys.argv[1]); print(sum(h.to_array(t).size*4 for t in m.graph.initializer if t.data_type==1))" "$M")
  $NNC eval "$M" "${D[@]}" --json > "$OUT/$m.eval.json"
  printf "%-9s %-28s %8s %8s %8s %8s %10s %7s\n" $m eval - "$(field "$OUT/$m.eval.json" top1)" \
    "$(node tools/ort/ort_eval.js "$M" --mean 0.2860 --std 0.3530 | $PY -c "import json,sys; print(json.load(sys.stdin)['top1'])")" - - \
    "$(field "$OUT/$m.eval.json" seconds | cut -c1-5)"
  for cmd in "share --max-drop 1" "prune --sparsity 0.5" "prune --sparsity 0.9 --onnx-sparse" "lowrank --keep 0.9"; do
    tag=$(echo "${cmd%% --max-drop*}" | tr -d ' -' | cut -c1-24)
    if ! $NNC $cmd "$M" "${D[@]}" -o "$OUT/$m.$tag.onnx" --json > "$OUT/$m.$tag.json" 2> "$OUT/$m.$tag.err"; then
      printf "%-9s %-28s refused: %s\n" $m "$cmd" "$(tail -1 "$OUT/$m.$tag.err")"
      continue
    fi
    printf "%-9s %-28s %8s %8s %8s %8s %10s %7s\n" $m "$cmd" "$(field "$OUT/$m.$tag.json" top1_before)" \
      "$(field "$OUT/$m.$tag.json" top1_after)" "$(ort "$OUT/$m.$tag.onnx")" \
      "$(field "$OUT/$m.$tag.json" ratio | cut -c1-5)" \
      "$($PY -c "import os,sys; print(round(int(sys.argv[1]) / os.path.getsize(sys.argv[2]), 2))" "$FP32" "$OUT/$m.$tag.onnx")" \
      "$(field "$OUT/$m.$tag.json" seconds | cut -c1-5)"
  done
done
