#!/usr/bin/env bash
# The main job on the built-in default: installs what is missing, builds, then compresses the
# committed Fashion-MNIST LeNet-5 end to end with `nncompress compress` and the default recipe
# (pruning climbed up its schedule with fine-tuning -> weight sharing keeping the zeros ->
# codebook fine-tuning) within 0.5 pt of top-1, in its short setting (recipes/demo.yaml: about
# 5 minutes on 2 cores; the full default: pass --recipe recipes/default.yaml, about an hour),
# writes the compressed ONNX, the .nnc container and the HTML report under out/, and checks the
# result in ONNX Runtime.
# Usage: bash scripts/demo.sh [extra `nncompress compress` options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
NNC=build/src/cli/nncompress
$NNC eval models/lenet5.onnx --data fashion-mnist
$NNC compress models/lenet5.onnx --data fashion-mnist --max-drop 0.5 --recipe recipes/demo.yaml \
  -o out/lenet5.compressed.onnx --nnc out/lenet5.nnc --report out/lenet5.report "$@"
if [ -d tools/ort/node_modules/onnxruntime-node ]; then
  echo "ONNX Runtime on the compressed model:"
  node tools/ort/ort_eval.js out/lenet5.compressed.onnx
fi
echo "report: out/lenet5.report/report.html (summary.json beside it)"
