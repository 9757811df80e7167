#!/usr/bin/env bash
# Composition through files against composition in memory, LeNet-5 (bench/RESULTS.md):
#   prune with fine-tuning to 98% (the recipe that stays within 0.5 pt), then
#   (a) through files: `share p98.onnx --max-drop 0.5` with the code before the library change
#       (OLD_NNC; it bins the pruned zeros with the small weights), and with today's `share`;
#   (b) in memory: share -> finetune in one process (bench/run_steps) from the same p98.onnx (the
#       prune step is the same code either way; its exact zeros become masks at load), the pruned
#       zeros exact, the shared values trained.
# Usage: bash bench/compose_lenet5.sh BUILD_DIR OUT_DIR [OLD_NNC]
set -euo pipefail
BUILD="$(realpath "$1")"; OUT="$(realpath -m "$2")"; OLD="${3:-}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NNC="$BUILD/src/cli/nncompress"; STEPS="$BUILD/bench/run_steps"
mkdir -p "$OUT"
export NNC_CACHE_DIR="$OUT/cache"
L5="$ROOT/models/lenet5.onnx"
PRUNE_FLAGS=(--sparsity 0.98 --finetune-epochs 2 --final-epochs 10 --schedule-a 0.3 --lr 1e-3 --distill 0.5
             --rd-passes 1 --augment off)
SHARE_JSON='{"step":"share","max_drop":0.5}'
FT_JSON='{"step":"finetune","epochs":3,"lr":1e-3,"distill":0.5,"augment":"off"}'
lscpu | grep "Model name" > "$OUT/cpu.txt"
[ -s "$OUT/p98.json" ] || "$NNC" prune "$L5" "${PRUNE_FLAGS[@]}" -o "$OUT/p98.onnx" --nnc "$OUT/p98.nnc" --json -q > "$OUT/p98.json"
if [ -n "$OLD" ] && [ ! -s "$OUT/files_old.json" ]; then
  "$OLD" share "$OUT/p98.onnx" --max-drop 0.5 -o "$OUT/files_old.onnx" --nnc "$OUT/files_old.nnc" --json -q > "$OUT/files_old.json"
fi
[ -s "$OUT/files_new.json" ] || "$NNC" share "$OUT/p98.onnx" --max-drop 0.5 -o "$OUT/files_new.onnx" --nnc "$OUT/files_new.nnc" --json -q > "$OUT/files_new.json"
[ -s "$OUT/memory.json" ] || "$STEPS" "$OUT/p98.onnx" "$OUT/memory.onnx" "$OUT/memory.nnc" "[$SHARE_JSON,$FT_JSON]" > "$OUT/memory.json" 2> "$OUT/memory.log"
for f in p98.onnx files_old.onnx files_new.onnx memory.onnx; do
  [ -s "$OUT/$f" ] && node "$ROOT/tools/ort/ort_eval.js" "$OUT/$f" > "$OUT/$f.ort.json"
done
/usr/bin/python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(n):
    p = os.path.join(out, n)
    return json.load(open(p)) if os.path.exists(p) and os.path.getsize(p) else None
def ort(n):
    d = load(n + ".ort.json")
    return d["top1"] if d else float("nan")
orig = load("p98.json")["top1_before"]
print(f"original LeNet-5: test top-1 {100*orig:.2f}%, {load('p98.json')['fp32_bytes']} fp32 bytes")
print("| chain | test top-1 | drop vs original | .nnc bytes | ratio | ONNX bytes | ONNX ratio | ONNX Runtime top-1 |")
print("|---|---|---|---|---|---|---|---|")
for name, label in [("p98", "prune 98% (fine-tuned)"), ("files_old", "prune -> file -> share (before)"),
                    ("files_new", "prune -> file -> share (today)"), ("memory", "prune -> share -> finetune in memory")]:
    d = load(name + ".json")
    if not d: continue
    t = d["top1_after"]
    print(f"| {label} | {100*t:.2f}% | {100*(orig-t):+.2f} pt | {d['nnc_bytes']} | {d['ratio']:.1f}x | {d['onnx_bytes']} | {d['onnx_ratio']:.1f}x | {100*ort(name+'.onnx'):.2f}% |")
m = load("memory.json")
if m:
    for s in m["steps"]:
        print(f"  in memory, {s['step']}: top-1 {100*s.get('top1_after', float('nan')):.2f}%, {s.get('seconds', 0):.0f}s, "
              f"{s.get('ratio', float('nan')):.1f}x")
PY
