#!/usr/bin/env bash
# The main job on the built-in default: installs what is missing, builds, then compresses the
# committed Fashion-MNIST LeNet-5 end to end with weight sharing (NSGA-II + merge), writes the
# compressed ONNX, the .nnc container and the report under out/, and checks the result in
# ONNX Runtime. Usage: bash scripts/demo.sh [extra `nncompress share` options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
mkdir -p out
NNC=build/src/cli/nncompress
$NNC eval models/lenet5.onnx --data fashion-mnist
$NNC share models/lenet5.onnx --data fashion-mnist -o out/lenet5.shared.onnx --nnc out/lenet5.nnc \
  --report out/lenet5.report "$@"
if [ -d tools/ort/node_modules/onnxruntime-node ]; then
  echo "ONNX Runtime on the compressed model:"
  node tools/ort/ort_eval.js out/lenet5.shared.onnx
fi
echo "report: out/lenet5.report/summary.json, pareto.csv, front.svg"
