#!/usr/bin/env bash
# Engine benchmark: batch-256 inference, 2 threads, median ms, our engine vs PyTorch eager vs
# ONNX Runtime on the same networks (tests/fixtures, made by scripts/make_fixtures.py), in one
# run; then whole-process `nncompress eval` (10,000 test images) vs the ONNX Runtime script.
# PyTorch eager runs with the same allocator policy our engine sets in-process (glibc malloc
# without mmap-served blocks and without trimming, src/core/allocator.cpp): with glibc's defaults
# its large activations are page-faulted in again on every run and its times swing 3-10x.
# Usage: bash bench/run_engine_bench.sh   (after bash scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench/bench_engine
printf "%-12s %10s %10s %10s %10s %10s\n" model engine_ms eager_ms ort_ms vs_eager vs_ort
for m in lenet5 resnet20 mobilenetv2; do
  ours=$($B tests/fixtures/$m/model.onnx 256 2 | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['median_ms'])")
  eager=$(GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=1073741824 /usr/bin/python3 bench/pytorch_eager.py $m 2>/dev/null | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['median_ms'])")
  ort=$(node bench/ort_bench.js tests/fixtures/$m/model.onnx 256 2 | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['median_ms'])")
  /usr/bin/python3 -c "import sys; o,e,r=map(float,sys.argv[2:]); print(f'{sys.argv[1]:<12} {o:10.2f} {e:10.2f} {r:10.2f} {e/o:9.2f}x {r/o:9.2f}x')" $m "$ours" "$eager" "$ort"
done
echo
echo "whole process, LeNet-5 on the 10,000 test images (start-up and data loading included):"
/usr/bin/time -f "nncompress eval: %e s" build/src/cli/nncompress eval models/lenet5.onnx -q > /dev/null
/usr/bin/time -f "onnxruntime (node tools/ort/ort_eval.js): %e s" node tools/ort/ort_eval.js models/lenet5.onnx > /dev/null
