# quantize: int8 QDQ models measured on the file written, run by ONNX Runtime on its int8
# kernels with the same accuracy, weights-only too, bad options refused before any work.
source "$(dirname "$0")/lib.sh"
small_fashion_mnist "$WORK/data"
D=(--data "$WORK/data" --val 300 --calib 256)
"$NNC" quantize "$ROOT/models/lenet5.onnx" "${D[@]}" -o "$WORK/q.onnx" --json -q > "$WORK/q.json"
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
assert abs(j["top1_drop_pt"]) <= 1.0, j["top1_drop_pt"]
PYEOF
# The engine and ONNX Runtime (int8 kernels) measure the written file alike on the full test split.
"$NNC" eval "$WORK/q.onnx" --json -q > "$WORK/q.eval.json"
"$NNC" eval "$ROOT/models/lenet5.onnx" --json -q > "$WORK/fp32.eval.json"
approx "$(json "$WORK/q.eval.json" "['top1']")" "$(json "$WORK/fp32.eval.json" "['top1']")" 0.005 \
  || die "int8 LeNet-5 within 0.5 pt of fp32 on the full test split"
if [ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ]; then
  node "$ROOT/tools/ort/ort_eval.js" "$WORK/q.onnx" > "$WORK/q.ort.json"
  approx "$(json "$WORK/q.ort.json" "['top1']")" "$(json "$WORK/q.eval.json" "['top1']")" 0.002 \
    || die "ONNX Runtime and the engine disagree on the QDQ model"
fi
# Weights only: int8 weights, no activation pairs, float biases.
"$NNC" quantize "$ROOT/models/lenet5.onnx" "${D[@]}" -o "$WORK/w.onnx" --weights-only --json -q > "$WORK/w.json"
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
echo "quantize_e2e passed"
