# quantize: int8 QDQ models measured on the file written, run by ONNX Runtime on its int8
# kernels with the same accuracy, weights-only too, bad options refused before any work.
source "$(dirname "$0")/lib.sh"
small_fashion_mnist "$WORK/data"
D=(--data "$WORK/data" --val 300 --calib 256)
"$NNC" quantize "$ROOT/models/lenet5.onnx" "${D[@]}" -o "$WORK/q.onnx" --nnc "$WORK/q.nnc" --json -q > "$WORK/q.json"
cat "$WORK/q.json" | $PY -c "import json,sys; j=json.load(sys.stdin); [j.pop(k) for k in ('layers','activations')]; print(j)"
$PY - "$WORK/q.json" "$WORK/q.onnx" <<'PYEOF' || die "the QDQ model holds int8 weights, uint8 activations, int32 biases; 4x smaller; accuracy kept"
import json, os, sys, onnx
j = json.load(open(sys.argv[1])); m = onnx.load(sys.argv[2])
ops = [n.op_type for n in m.graph.node]
types = {t.name: t.data_type for t in m.graph.initializer}
assert ops.count("QuantizeLinear") >= 6 and ops.count("DequantizeLinear") >= 12, ops
dims = {t.name: len(t.dims) for t in m.graph.initializer}
assert sum(t == onnx.TensorProto.INT8 and dims[n] >= 2 for n, t in types.items()) == 4   # conv1, conv2, fc1, fc2
assert sum(t == onnx.TensorProto.INT32 for t in types.values()) == 4                      # their biases
assert not any(t == onnx.TensorProto.FLOAT and n.endswith("weight") for n, t in types.items())
assert j["onnx_bytes"] == os.path.getsize(sys.argv[2])
assert j["onnx_ratio"] > 3.8, j["onnx_ratio"]
assert j["per_channel"] and len(j["layers"]) == 4 and len(j["activations"]) >= 6
# Every bias corrected for the mean change the int8 grid makes; MaxPool and Flatten pass their
# input's scale and zero point on (so that ONNX Runtime keeps them in int8).
assert all("bias_correction_max" in l for l in j["layers"]), j["layers"]
acts = {a["tensor"]: a for a in j["activations"]}
assert len(acts) == len(j["activations"])
for a in j["activations"]:
    if "from" in a:
        src = acts[a["from"]]
        assert (a["scale"], a["zero_point"]) == (src["scale"], src["zero_point"]), (a, src)
assert sum("from" in a for a in j["activations"]) >= 3, j["activations"]
assert abs(j["top1_drop_pt"]) <= 1.0, j["top1_drop_pt"]
PYEOF
# The engine and ONNX Runtime (int8 kernels) measure the written file alike on the full test split.
"$NNC" eval "$WORK/q.onnx" --json -q > "$WORK/q.eval.json"
"$NNC" eval "$ROOT/models/lenet5.onnx" --json -q > "$WORK/fp32.eval.json"
approx "$(json "$WORK/q.eval.json" "['top1']")" "$(json "$WORK/fp32.eval.json" "['top1']")" 0.005 \
  || die "int8 LeNet-5 within 0.5 pt of fp32 on the full test split"
if [ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ]; then
  node "$ROOT/tools/ort/ort_eval.js" "$WORK/q.onnx" > "$WORK/q.ort.json"
  # (Without VNNI ONNX Runtime's int8 sums saturate, lib.sh's ort_int8_exact: agreement within 1 pt there.)
  ORT_TOL=0.002; ort_int8_exact || { ORT_TOL=0.01; echo "note: no VNNI on this CPU: ONNX Runtime's int8 kernels saturate"; }
  approx "$(json "$WORK/q.ort.json" "['top1']")" "$(json "$WORK/q.eval.json" "['top1']")" $ORT_TOL \
    || die "ONNX Runtime and the engine disagree on the QDQ model"
fi
# Weights only: int8 weights, no activation pairs, float biases (corrected; not with --no-bias-correction).
"$NNC" quantize "$ROOT/models/lenet5.onnx" "${D[@]}" -o "$WORK/w.onnx" --weights-only --json -q > "$WORK/w.json"
"$NNC" quantize "$ROOT/models/lenet5.onnx" "${D[@]}" -o "$WORK/wn.onnx" --weights-only --no-bias-correction --json -q > "$WORK/wn.json"
$PY - "$WORK/w.json" "$WORK/wn.json" <<'PYEOF' || die "bias correction on and off"
import json, sys
w, wn = (json.load(open(a)) for a in sys.argv[1:3])
assert all(l["bias_correction_max"] > 0 for l in w["layers"]) and not any("bias_correction_max" in l for l in wn["layers"])
PYEOF
$PY - "$WORK/w.onnx" "$WORK/w.json" <<'PYEOF' || die "weights-only QDQ"
import json, sys, onnx
m = onnx.load(sys.argv[1]); j = json.load(open(sys.argv[2]))
ops = [n.op_type for n in m.graph.node]
assert "QuantizeLinear" not in ops and ops.count("DequantizeLinear") == 4, ops
assert abs(j["top1_drop_pt"]) <= 1.0 and j["activations"] == []
PYEOF
# A percentile calibration and a layer kept in float.
"$NNC" quantize "$ROOT/models/lenet5.onnx" "${D[@]}" -o "$WORK/p.onnx" --calibration percentile --keep-fp32 fc2 --json -q > "$WORK/p.json"
[ "$(json "$WORK/p.json" "['layers'].__len__()")" = 3 ] || die "--keep-fp32 leaves one layer in float"
expect_error "--calibration" "$NNC" quantize "$ROOT/models/lenet5.onnx" "${D[@]}" -o "$WORK/x.onnx" --calibration kl
[ ! -e "$WORK/x.onnx" ] || die "nothing written for a bad option"
expect_error "--keep-fp32" "$NNC" quantize "$ROOT/models/lenet5.onnx" "${D[@]}" -o "$WORK/x.onnx" --keep-fp32 "("
expect_error "--keep-fp32 'nothing' matches no layer" "$NNC" quantize "$ROOT/models/lenet5.onnx" "${D[@]}" -o "$WORK/x.onnx" --keep-fp32 nothing
expect_error "quantised already" "$NNC" quantize "$WORK/q.onnx" "${D[@]}" -o "$WORK/x.onnx"

# The .nnc holds the int8 weights as coded integers and unpacks to the same QDQ model.
"$NNC" info "$WORK/q.nnc" --json > "$WORK/q.info.json"
"$NNC" eval "$WORK/q.nnc" --json -q > "$WORK/q.nnc.eval.json"
$PY - "$WORK/q.json" "$WORK/q.info.json" "$WORK/q.nnc" "$WORK/q.nnc.eval.json" "$WORK/q.eval.json" <<'PYEOF' || die "int8 .nnc"
import json, os, sys
j, info = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert info["format_version"] in (5, 6) and j["nnc_bytes"] == os.path.getsize(sys.argv[3]) < j["onnx_bytes"], (j["nnc_bytes"], j["onnx_bytes"])
kinds = {t["name"]: t for t in info["tensors"]}
assert all(t.get("element_type") == "int8" for n, t in kinds.items() if n.endswith(".i8")) and len([n for n in kinds if n.endswith(".i8")]) == 4
assert json.load(open(sys.argv[4]))["top1"] == json.load(open(sys.argv[5]))["top1"]
PYEOF

# Pruned, then quantised: pruned elements are int8 0, stored as positions; much smaller than dense int8.
"$NNC" prune "$ROOT/models/lenet5.onnx" "${D[@]}" --sparsity 0.9 -o "$WORK/p90.onnx" -q
"$NNC" quantize "$WORK/p90.onnx" "${D[@]}" -o "$WORK/pq.onnx" --nnc "$WORK/pq.nnc" --json -q > "$WORK/pq.json"
"$NNC" info "$WORK/pq.nnc" --json > "$WORK/pq.info.json"
$PY - "$WORK/pq.json" "$WORK/q.json" "$WORK/pq.info.json" <<'PYEOF' || die "prune + int8: zeros kept and stored sparse"
import json, sys
pq, q, info = (json.load(open(a)) for a in sys.argv[1:4])
params = sum(l["params"] for l in pq["layers"])
assert pq["pruned_zeros_kept"] >= 0.85 * params, (pq["pruned_zeros_kept"], params)
assert sum(l["zeros"] for l in pq["layers"]) >= pq["pruned_zeros_kept"]
assert pq["nnc_bytes"] < q["nnc_bytes"] / 3, (pq["nnc_bytes"], q["nnc_bytes"])
assert any(t["kind"] == "sparse" and t.get("element_type") == "int8" for t in info["tensors"])
PYEOF
if [ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ]; then
  node "$ROOT/tools/ort/ort_eval.js" "$WORK/pq.onnx" > "$WORK/pq.ort.json"
  "$NNC" eval "$WORK/pq.nnc" --json -q > "$WORK/pq.eval.json"
  approx "$(json "$WORK/pq.ort.json" "['top1']")" "$(json "$WORK/pq.eval.json" "['top1']")" $ORT_TOL \
    || die "ONNX Runtime and the engine disagree on the pruned int8 model"
  # --reduce-range (weights in [-63, 63]): ONNX Runtime's int8 sums cannot saturate, so it and the
  # engine agree to the image on every CPU, VNNI or not.
  "$NNC" quantize "$WORK/p90.onnx" "${D[@]}" --reduce-range -o "$WORK/pq7.onnx" --nnc "$WORK/pq7.nnc" --json -q > "$WORK/pq7.json"
  node "$ROOT/tools/ort/ort_eval.js" "$WORK/pq7.onnx" > "$WORK/pq7.ort.json"
  "$NNC" eval "$WORK/pq7.nnc" --json -q > "$WORK/pq7.eval.json"
  $PY - "$WORK/pq7.onnx" "$WORK/pq7.ort.json" "$WORK/pq7.eval.json" <<'PYEOF' || die "--reduce-range: 7-bit weights, ONNX Runtime exact"
import json, sys
import numpy as np, onnx
from onnx import numpy_helper
q = [numpy_helper.to_array(t) for t in onnx.load(sys.argv[1]).graph.initializer if t.name.endswith(".i8")]
assert q and max(int(np.abs(a.astype(np.int32)).max()) for a in q) <= 63, "weights outside [-63, 63]"
ort, ours = (json.load(open(a))["top1"] for a in sys.argv[2:4])
assert ort == ours, (ort, ours)
print(f"ok: --reduce-range: ONNX Runtime {100*ort:.2f}% = engine {100*ours:.2f}%")
PYEOF
fi

# Shared, then quantised: one int8 grid per shared tensor, so the int8 values are no more than
# the shared ones and the .nnc stays as small as the shared one; the snapping is reported.
"$NNC" share "$ROOT/models/lenet5.onnx" "${D[@]}" --pop 16 --gens 4 -o "$WORK/s.onnx" --nnc "$WORK/s.nnc" --json -q > "$WORK/s.json"
"$NNC" quantize "$WORK/s.nnc" "${D[@]}" -o "$WORK/sq.onnx" --nnc "$WORK/sq.nnc" --json -q > "$WORK/sq.json"
"$NNC" info "$WORK/s.nnc" --json > "$WORK/s.info.json"
$PY - "$WORK/sq.json" "$WORK/s.json" "$WORK/s.info.json" <<'PYEOF' || die "share + int8: per-tensor grids, as small as the shared .nnc, snapping measured"
import json, sys
sq, s, info = (json.load(open(a)) for a in sys.argv[1:4])
values = max(info["codebook_sizes"])
assert sq["shared_weights"] == 4 and all(not l["per_channel"] and l["distinct"] <= values for l in sq["layers"]), sq["layers"]
assert sq["shared_snapping"]["max_abs_change"] <= max(l["max_scale"] for l in sq["layers"]) / 2 + 1e-7
assert sq["nnc_bytes"] <= 1.1 * s["nnc_bytes"], (sq["nnc_bytes"], s["nnc_bytes"])
assert abs(sq["top1_before"] - s["top1_after"]) < 1e-9 and sq["top1_drop_pt"] <= 1.0, sq["top1_drop_pt"]
PYEOF

# In a recipe: quantize composes last; nothing can follow it.
cat > "$WORK/pq.yaml" <<'YAML'
steps:
  - step: prune
    options: {sparsity: 0.8}
  - step: quantize
    layers:
      - {match: fc2, skip: true}
YAML
"$NNC" compress "$ROOT/models/lenet5.onnx" "${D[@]}" --recipe "$WORK/pq.yaml" --max-drop 5 -o "$WORK/c.onnx" --nnc "$WORK/c.nnc" --json -q > "$WORK/c.json"
$PY - "$WORK/c.json" "$WORK/c.onnx" <<'PYEOF' || die "compress with a quantize step"
import json, sys, onnx
j = json.load(open(sys.argv[1])); m = onnx.load(sys.argv[2])
assert [r["step"] for r in j["steps"]] == ["original", "prune", "quantize"], j["steps"]
assert j["final"]["after_step"] == 2 and j["steps"][2]["nnc_bytes"] < j["steps"][1]["nnc_bytes"] / 2, j["steps"]
assert sum(t.data_type == onnx.TensorProto.INT8 and len(t.dims) >= 2 for t in m.graph.initializer) == 3
# fc2 stays float (pruned: its bitmask and non-zero values, unpacked in the graph).
assert not any(t.name.startswith("fc2.weight.i8") for t in m.graph.initializer)
assert any(t.name.startswith("fc2.weight") and t.data_type == onnx.TensorProto.FLOAT for t in m.graph.initializer)
PYEOF
printf 'steps:\n  - step: quantize\n  - step: finetune\n' > "$WORK/bad.yaml"
expect_error "bad.yaml:3: finetune after quantize cannot work" "$NNC" compress "$ROOT/models/lenet5.onnx" "${D[@]}" --recipe "$WORK/bad.yaml" -o "$WORK/x.onnx"
echo "quantize_e2e passed"
