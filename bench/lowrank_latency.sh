#!/usr/bin/env bash
# Low-rank latency against FLOPs: ResNet-20 factored five ways, no fine-tuning (the weights'
# values do not change the time): ALDS at --keep 0.3 of the parameters; the same with
# --latency-aware; plain SVD (--groups 1); ALDS with --budget latency at --keep 0.7 and 0.8
# (FLOPs with channel counts rounded up to the SIMD block, src/compress/lowrank/cost_model.cpp).
# Median ms in our engine and in ONNX Runtime at batch 256 and batch 1, each as a ratio to the
# dense model measured in the same run. time ratio / FLOPs ratio = 1 would be "in proportion";
# eng/blk compares the engine's time ratio with the blocked-FLOPs ratio the latency model predicts.
# Usage: bash bench/lowrank_latency.sh [MODEL (default models/resnet20.onnx, 1x28x28 input)]
set -euo pipefail
cd "$(dirname "$0")/.."
M=${1:-models/resnet20.onnx}
N=build/src/cli/nncompress
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
$N lowrank "$M" --keep 0.3 -o "$T/alds.onnx" --json -q > "$T/alds.json"
$N lowrank "$M" --keep 0.3 --latency-aware -o "$T/aware.onnx" --json -q > "$T/aware.json"
$N lowrank "$M" --keep 0.3 --groups 1 -o "$T/svd.onnx" --json -q > "$T/svd.json"
$N lowrank "$M" --keep 0.7 --budget latency -o "$T/latency0.7.onnx" --json -q > "$T/latency0.7.json"
$N lowrank "$M" --keep 0.8 --budget latency -o "$T/latency0.8.onnx" --json -q > "$T/latency0.8.json"
ms() { /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['median_ms'])"; }
engine() { build/bench/bench_engine "$1" "$2" 2 $(( $2 == 1 ? 300 : 20 )) | ms; }
ort() { node bench/ort_bench.js "$1" "$2" 2 | ms; }
printf "%-6s %-12s %7s %7s %10s %7s %10s %7s %9s %9s %7s\n" batch model flops blocked engine_ms ratio ort_ms ratio eng/flops ort/flops eng/blk
for b in 256 1; do
  de=$(engine "$M" $b); dr=$(ort "$M" $b)
  printf "%-6s %-12s %7.3f %7.3f %10.2f %7.3f %10.2f %7.3f\n" $b dense 1 1 "$de" 1 "$dr" 1
  for v in alds aware svd latency0.7 latency0.8; do
    fb=$(/usr/bin/python3 -c "import json; j=json.load(open('$T/$v.json')); print(j['flops_kept'], j['blocked_flops_kept'])")
    e=$(engine "$T/$v.onnx" $b); r=$(ort "$T/$v.onnx" $b)
    /usr/bin/python3 -c "import sys; b,v,f,k,e,r,de,dr=sys.argv[1:]; f,k,e,r,de,dr=map(float,(f,k,e,r,de,dr)); print(f'{b:<6} {v:<12} {f:7.3f} {k:7.3f} {e:10.2f} {e/de:7.3f} {r:10.2f} {r/dr:7.3f} {e/de/f:9.2f} {r/dr/f:9.2f} {e/de/k:7.2f}')" \
      $b $v $fb "$e" "$r" "$de" "$dr"
  done
done
