#!/usr/bin/env bash
# Weight-sharing options side by side on one model (bench/RESULTS.md, "Weight sharing on models
# whose layer ranges differ by 1000x"): each option is one `nncompress share` run with the default
# budget (--max-drop 0.5 unless MAX_DROP is set) and its own flags; the table gives test top-1,
# index bits per weight, codebook bytes (from `nncompress info` of the .nnc), the honest ratio
# (fp32 bytes of the original / .nnc bytes), ONNX Runtime's top-1 of the written ONNX, and time.
# A run that fails (no codebook within the budget) is a row with its one-line error.
# Usage: bash bench/share_options.sh BUILD_DIR OUT_DIR MODEL [NAME=FLAGS ...]
#   default options: spread16= (the default: per-tensor scales, spread 16), spread1="--scale-spread 1"
#   (every tensor its own range), absolute="--scale-spread 0" (one absolute grid),
#   absolute-wide-k="--scale-spread 0 --k-max 16384", paper="--mode paper"
# Runs already in OUT_DIR are reused; THREADS (default 2) sets --threads; DATA (default
# "--data fashion-mnist") the data flags (e.g. add --mean 0.286 --std 0.353 for a model without
# normalisation metadata).
set -euo pipefail
BUILD="$(realpath "$1")"; OUT="$(realpath -m "$2")"; MODEL="$(realpath "$3")"; shift 3
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
NNC="$BUILD/src/cli/nncompress"
OPTIONS=("$@")
[ ${#OPTIONS[@]} -gt 0 ] || OPTIONS=("spread16=" "spread1=--scale-spread 1" "absolute=--scale-spread 0" \
  "absolute-wide-k=--scale-spread 0 --k-max 16384" "paper=--mode paper")
mkdir -p "$OUT"
lscpu | grep "Model name" | sed 's/  */ /g' > "$OUT/cpu.txt"
for opt in "${OPTIONS[@]}"; do
  name="${opt%%=*}"; flags="${opt#*=}"
  [ -s "$OUT/$name.json" ] && continue
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  if "$NNC" share "$MODEL" ${DATA:---data fashion-mnist} --max-drop "${MAX_DROP:-0.5}" --threads "${THREADS:-2}" $flags \
      -o "$OUT/$name.onnx" --nnc "$OUT/$name.nnc" --json > "$OUT/$name.out" 2> "$OUT/$name.log"; then
    mv "$OUT/$name.out" "$OUT/$name.json"
    "$NNC" info "$OUT/$name.nnc" --json > "$OUT/$name.info.json"
    [ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ] && node "$ROOT/tools/ort/ort_eval.js" "$OUT/$name.onnx" \
      > "$OUT/$name.ort.json"
  else
    echo "{\"error\": $(tail -1 "$OUT/$name.log" | /usr/bin/python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))'), \"seconds\": $(echo "$(date +%s.%N) - $start" | bc)}" > "$OUT/$name.json"
  fi
done
/usr/bin/python3 - "$OUT" "${OPTIONS[@]}" <<'PY'
import json, os, sys
out = sys.argv[1]
print(open(os.path.join(out, "cpu.txt")).read().strip())
print("| option | test top-1 before → after | bits/weight | codebook bytes | .nnc bytes | ratio | ONNX Runtime | time |")
print("|---|---|---|---|---|---|---|---|")
for opt in sys.argv[2:]:
    name, flags = opt.split("=", 1)
    d = json.load(open(os.path.join(out, name + ".json")))
    label = f"{name} (`{flags}`)" if flags else f"{name} (default)"
    if "error" in d:
        print(f"| {label} | fails: {d['error']} | | | | | | {d['seconds']:.0f} s |")
        continue
    info = json.load(open(os.path.join(out, name + ".info.json")))
    ort_path = os.path.join(out, name + ".ort.json")
    ort = f"{100 * json.load(open(ort_path))['top1']:.2f}%" if os.path.exists(ort_path) else ""
    print(f"| {label} | {100 * d['top1_before']:.2f}% → {100 * d['top1_after']:.2f}% ({-d['top1_drop_pt']:+.2f} pt) | "
          f"{d['bits_per_weight']:.3f} | {info['parts']['codebooks']} | {d['nnc_bytes']} | {d['ratio']:.2f}x | {ort} | "
          f"{d['seconds']:.0f} s |")
PY
