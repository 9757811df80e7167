#!/usr/bin/env bash
# Records what share, prune and lowrank produce on the committed models with short fixed-seed
# settings: the SHA-256 of each .nnc and the JSON figures (timings and paths left out), so a
# refactoring can show that it changed nothing (or explain each difference).
# Usage: bash bench/behaviour/record.sh NNCOMPRESS OUT_DIR      then: diff -r OLD_DIR NEW_DIR
set -euo pipefail
NNC="$(realpath "$1")"; OUT="$(realpath -m "$2")"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
mkdir -p "$OUT"; WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
export NNC_CACHE_DIR="$WORK/cache"
L5="$ROOT/models/lenet5.onnx"; R20="$ROOT/models/resnet20.onnx"
run() {  # run NAME nncompress-arguments...  (each run gets -o/--nnc in $WORK, --json, -q, 2 threads)
  local name="$1"; shift
  "$NNC" "$@" -o "$WORK/$name.onnx" --nnc "$WORK/$name.nnc" --json -q --threads 2 > "$WORK/$name.json"
  /usr/bin/python3 - "$WORK/$name.json" "$WORK/$name.nnc" "$WORK/$name.onnx" > "$OUT/$name.txt" <<'PY'
import hashlib, json, sys
d = json.load(open(sys.argv[1]))
def clean(x):
    if isinstance(x, dict):
        return {k: clean(v) for k, v in x.items()
                if not (k in ("seconds", "model", "output", "report") or k.endswith("seconds") or k.startswith("latency_ms"))}
    if isinstance(x, list):
        return [clean(v) for v in x]
    return x
print("nnc_sha256", hashlib.sha256(open(sys.argv[2], "rb").read()).hexdigest())
print("onnx_sha256", hashlib.sha256(open(sys.argv[3], "rb").read()).hexdigest())
print(json.dumps(clean(d), indent=1, sort_keys=True))
PY
  echo "$name: $(head -1 "$OUT/$name.txt")"
}
run share_l5 share "$L5" --pop 8 --gens 3 --val 300 --max-merge-evals 30 --max-drop 1.0
run share_l5_paper share "$L5" --mode paper --pop 8 --gens 2 --val 300 --max-merge-evals 10 --max-drop 1.0
run share_r20 share "$R20" --pop 8 --gens 1 --val 300 --max-evals 16 --max-merge-evals 8 --max-drop 1.0
run prune_l5 prune "$L5" --sparsity 0.8 --calib 256
run prune_l5_ft prune "$L5" --sparsity 0.6 --alloc global --finetune-epochs 1 --no-comparison --calib 256
run prune_r20 prune "$R20" --sparsity 0.5 --calib 256 --coarse 10 --rd-passes 1
run lowrank_l5 lowrank "$L5" --keep 0.5
run lowrank_r20 lowrank "$R20" --keep 0.6 --groups 1,2
