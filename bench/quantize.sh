#!/usr/bin/env bash
# int8 against fp32 in ONNX Runtime, one run: test top-1 (full test split), file bytes, ONNX
# Runtime's resident memory after session creation and after the first batch, batch latency.
# Usage: bash bench/quantize.sh BUILD OUT MODEL [quantize flags...]   (prints RESULTS rows; CPU named)
set -euo pipefail
BUILD="$1"; OUT="$2"; MODEL="$3"; shift 3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"; NNC="$BUILD/src/cli/nncompress"
mkdir -p "$OUT"
"$NNC" quantize "$MODEL" -o "$OUT/int8.onnx" --json -q "$@" > "$OUT/int8.json"
"$NNC" quantize "$MODEL" -o "$OUT/w8.onnx" --weights-only --json -q "$@" > "$OUT/w8.json"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(grep -o -m1 'avx512f' /proc/cpuinfo || echo 'AVX2 only'); ONNX Runtime 1.30, 2 threads, batch 256"
echo "| model | form | test top-1 (ONNX Runtime) | engine top-1 | file bytes | ORT RSS after session | after first batch | batch ms |"
echo "|---|---|---|---|---|---|---|---|"
for form in fp32 w8 int8; do
  f="$OUT/$form.onnx"; [ "$form" = fp32 ] && f="$MODEL"
  ort=$(node "$ROOT/tools/ort/ort_eval.js" "$f" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['top1'])")
  ours=$("$NNC" eval "$f" --json -q | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['top1'])")
  mem=$(node "$ROOT/bench/ort_memory.js" "$f")
  /usr/bin/python3 - "$MODEL" "$form" "$ort" "$ours" "$(stat -c %s "$f")" "$mem" <<'PYEOF'
import json, os, sys
model, form, ort, ours, size, mem = sys.argv[1:]
m = json.loads(mem)
print(f"| {os.path.basename(model)} | {form} | {100*float(ort):.2f}% | {100*float(ours):.2f}% | {int(size):,} | "
      f"{m['session_rss_bytes']/2**20:.1f} MiB | {m['first_run_rss_bytes']/2**20:.1f} MiB | {m['median_ms']:.2f} |")
PYEOF
done
