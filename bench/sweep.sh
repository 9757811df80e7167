#!/usr/bin/env bash
# The dense sweep that the budget search of `compress` is measured against (bench/RESULTS.md):
# RECIPE run once with its `sparsity: auto` (the search) and once per fixed sparsity S in
# SPARSITIES, each at --max-drop MAX_DROP and otherwise the same. A fixed sparsity is not guarded,
# the later steps get what it leaves of the budget and the result is confirmed on the whole
# hold-out as usual, so every point is judged by the rule the search uses. Prints one row per run
# (bench/compress.sh) and then the best ratio among the sweep's points that were written, next to
# the search's.
# Usage: [THREADS=N] [NNC_CACHE_DIR=D] bash bench/sweep.sh BUILD_DIR OUT_DIR MODEL RECIPE MAX_DROP S1 [S2 ...]
set -euo pipefail
BUILD="$1"; OUT="$(realpath -m "$2")"; MODEL="$3"; RECIPE="$4"; MAX_DROP="$5"
shift 5
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
grep -q "sparsity: auto" "$RECIPE" || { echo "sweep: $RECIPE has no 'sparsity: auto'" >&2; exit 2; }
mkdir -p "$OUT"
name=$(basename "$RECIPE" .yaml)
run() {  # run LABEL RECIPE_FILE
  local dir="$OUT/$1"
  mkdir -p "$dir"
  local start=$(date +%s)
  if bash "$ROOT/bench/compress.sh" "$BUILD" "$dir" "$MODEL" "$MAX_DROP" "$2" > "$dir/row.txt" 2> "$dir/err.txt"; then
    echo "$1 $(($(date +%s) - start)) s: $(head -1 "$dir/row.txt")"
  else
    echo "$1 $(($(date +%s) - start)) s: not written: $(tail -1 "$dir"/*.log 2>/dev/null | tail -1)"
  fi
}
run search "$RECIPE"
for s in "$@"; do
  sed "s/sparsity: auto/sparsity: $s/" "$RECIPE" > "$OUT/$name-$s.yaml"
  run "s$s" "$OUT/$name-$s.yaml"
done
/usr/bin/python3 - "$OUT" "$MODEL" "$name" <<'PYEOF'
import glob, json, os, sys
out, model, name = sys.argv[1:]
base = os.path.basename(model)[:-5]
rows = []
for d in sorted(glob.glob(f"{out}/*/")):
    label = os.path.basename(d.rstrip("/"))
    nnc = glob.glob(f"{d}/{base}-*.nnc")
    js = [p for p in glob.glob(f"{d}/{base}-*.json") if not p.endswith(".ort.json")]
    if not nnc or not js: continue
    j = json.load(open(js[0]))
    if j["final"].get("after_step", 1) == 0: continue  # the original (older builds wrote it): nothing compressed
    rows.append((label, j["fp32_bytes"] / os.path.getsize(nnc[0]), j["final"]["test_drop_pt"]))
search = [r for r in rows if r[0] == "search"]
sweep = [r for r in rows if r[0] != "search"]
for r in rows: print(f"{r[0]}: {r[1]:.1f}x, test drop {r[2]:+.2f} pt")
if sweep:
    best = max(sweep, key=lambda r: r[1])
    print(f"best sweep point: {best[0]} {best[1]:.1f}x (test drop {best[2]:+.2f} pt)")
    if search:
        print(f"search: {search[0][1]:.1f}x = {100 * search[0][1] / best[1]:.1f}% of the sweep's best")
PYEOF
