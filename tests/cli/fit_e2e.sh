# fit: a model into a file size. On small data (seconds): the .nnc written is within the cap and
# is the size the summary reports; the accuracy reported is what our engine measures on the
# written ONNX, ONNX Runtime agrees on the full test split, and the .nnc evaluates the same;
# bad sizes fail with one line before any work and write nothing.
source "$(dirname "$0")/lib.sh"
DATA="$WORK/data"
small_fashion_mnist "$DATA"
SPLITS=(--data "$DATA" --val 300 --calib 256)
M="$ROOT/models/lenet5.onnx"

# run_fit NAME MODEL SIZE: fit MODEL into SIZE bytes; checks the outputs.
run_fit() {
  local name="$1" model="$2" size="$3" out="$WORK/$1"
  "$NNC" fit "$model" "${SPLITS[@]}" --size "$size" --epochs 2 --masked-epochs 1 --finetune-epochs 1 -o "$out.onnx" \
    --nnc "$out.nnc" --report "$out.report" --threads 1 --json -q > "$out.json" || die "fit $name"
  $PY - "$out.json" "$out.nnc" "$size" "$out.report" <<'PYEOF' || die "fit $name: summary"
import csv, json, os, sys
j = json.load(open(sys.argv[1])); nnc, size, rep = sys.argv[2], int(sys.argv[3]), sys.argv[4]
# The report: the per-tensor table and ADMM's log are the summary's.
rows = list(csv.DictReader(open(f"{rep}/layers.csv")))
assert [(r["weight"], int(r["kept"]), int(r["bits"]), int(r["bytes"])) for r in rows] == \
    [(l["weight"], l["kept"], l["bits"], l["bytes"]) for l in j["layers"]], rows
admm = list(csv.DictReader(open(f"{rep}/admm.csv")))
assert [(a["phase"], abs(float(a["val_top1"]) - b["val_top1"]) < 1e-6) for a, b in zip(admm, j["admm"])] == \
    [(b["phase"], True) for b in j["admm"]] and len(admm) == len(j["admm"]), admm
svg = open(f"{rep}/admm.svg").read()
assert svg.startswith("<svg") and svg.count("<circle") >= 2 * len(admm), svg[:200]
assert json.load(open(f"{rep}/fit.json"))["nnc_bytes"] == j["nnc_bytes"]
real = os.path.getsize(nnc)
assert j["nnc_bytes"] == real <= size == j["size_cap"], (j["nnc_bytes"], real, size)
assert abs(j["predicted_bytes"] - real) <= 0.02 * size, (j["predicted_bytes"], real)
assert abs(j["ratio"] - j["fp32_bytes"] / real) < 1e-9
assert [a["phase"] for a in j["admm"]] == ["joint", "joint", "quantise"], j["admm"]
for l in j["layers"]:
    assert 1 <= l["bits"] <= 8 and 0 < l["kept"] <= l["params"] and l["levels"] <= 2 ** l["bits"], l
assert j["top1_after"] > 0.3, j["top1_after"]
print(f"fit {sys.argv[1]}: {real} bytes <= {size}, {j['ratio']:.1f}x, test top-1 {100*j['top1_before']:.2f}% -> "
      f"{100*j['top1_after']:.2f}%")
PYEOF
  # The accuracy reported is the written model's, in our engine, from the ONNX and from the .nnc.
  "$NNC" eval "$out.onnx" --data "$DATA" --json -q > "$out.eval.json"
  approx "$(json "$out.eval.json" "['top1']")" "$(json "$out.json" "['top1_after']")" 0.00001 ||
    die "fit $name: the written ONNX does not measure what the summary says"
  "$NNC" eval "$out.nnc" --data "$DATA" --json -q > "$out.nnc.eval.json"
  approx "$(json "$out.nnc.eval.json" "['top1']")" "$(json "$out.json" "['top1_after']")" 0.00001 ||
    die "fit $name: the .nnc does not measure what the summary says"
  # ONNX Runtime runs the written file and agrees with our engine on the full test split.
  "$NNC" eval "$out.onnx" --json -q > "$out.full.json"
  expect_written_top1 "$out.onnx" "$(json "$out.full.json" "['top1']")" "fit $name"
}

run_fit lenet5 "$M" 16384
run_fit lenet300 "$ROOT/models/lenet300.onnx" 20480

# --sweep: one fit per cap, each written beside OUT, and the size-accuracy curve.
"$NNC" fit "$M" "${SPLITS[@]}" --sweep 12KB,20KB --epochs 1 --masked-epochs 1 --finetune-epochs 0 \
  -o "$WORK/sw.onnx" --nnc "$WORK/sw.nnc" --threads 1 --json -q > "$WORK/sw.json" || die "fit --sweep"
$PY - "$WORK" <<'PYEOF' || die "fit --sweep: outputs"
import csv, json, os, sys
w = sys.argv[1]
j = json.load(open(f"{w}/sw.json"))
rows = list(csv.DictReader(open(f"{w}/sw-sweep.csv")))
assert [int(r["size_cap"]) for r in rows] == [12288, 20480], rows
for r, run, cap in zip(rows, j["sweep"], ["12KB", "20KB"]):
    real = os.path.getsize(f"{w}/sw-{cap}.nnc")
    assert int(r["nnc_bytes"]) == real == run["nnc_bytes"] <= int(r["size_cap"]), (r, real)
    assert abs(float(r["top1_after"]) - run["top1_after"]) < 1e-4 and os.path.getsize(f"{w}/sw-{cap}.onnx") > 0
svg = open(f"{w}/sw-sweep.svg").read()
assert svg.startswith("<svg") and svg.count("<circle") >= 2, svg[:200]
print("sweep:", [(r["nnc_bytes"], r["top1_after"]) for r in rows])
PYEOF

# Bad sizes: one line, non-zero exit, nothing written.
BAD=(-o "$WORK/bad.onnx" --nnc "$WORK/bad.nnc" "${SPLITS[@]}" -q)
expect_error "--size '12XB': unknown unit 'XB'" "$NNC" fit "$M" --size 12XB "${BAD[@]}"
expect_error "--size '-3KB': expected a positive number of bytes" "$NNC" fit "$M" --size=-3KB "${BAD[@]}"
expect_error "nothing to do, the model stored uncompressed already fits" "$NNC" fit "$M" --size 4MB "${BAD[@]}"
expect_error "bytes this model needs at least" "$NNC" fit "$M" --size 700 "${BAD[@]}"
expect_error "--size is required (or --sweep SIZES)" "$NNC" fit "$M" "${BAD[@]}"
expect_error "--size '12XB': unknown unit 'XB'" "$NNC" fit "$M" --sweep 8KB,12XB "${BAD[@]}"
[ ! -e "$WORK/bad.onnx" ] && [ ! -e "$WORK/bad.nnc" ] && [ ! -e "$WORK/bad-8KB.onnx" ] || die "a failed fit wrote output"
echo "fit_e2e: ok"
