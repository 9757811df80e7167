# Models with operators beyond the foundation's list (scripts/make_zoo_fixtures.py: LSTM, GRU,
# RNN, Resize/Upsample, ConvTranspose, Einsum, ReduceL2, DepthToSpace, CumSum, TopK, CELU, dilated
# MaxPool after a Conv, If from LocalResponseNorm and a dynamic squeeze, opset 20 / IR 10, model-local functions): ONNX Runtime gives PyTorch's logits
# on the fixtures, so do we (`nncompress run`); weight sharing puts the recurrent and transposed
# weights into its one codebook and pruning sparsifies them, and ONNX Runtime measures the
# top-1 we measured on what both write.
source "$(dirname "$0")/lib.sh"
[ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ] || die "ONNX Runtime is not installed (bash scripts/setup.sh installs it)"
Z="$ROOT/tests/fixtures/zoo"
D=(--mean 0.2860 --std 0.3530 -q)

for f in lstm_rows gru_bi2 rnn_relu resize_deconv upsample_op9 einsum_cubic shuffle_misc lrn_if module_functions; do
  node "$ROOT/tools/ort/ort_run.js" "$Z/$f.onnx" "$Z/${f}_in.npy" "$WORK/$f.ort.npy"
  "$NNC" run "$Z/$f.onnx" --input "$Z/${f}_in.npy" --output-dir "$WORK/$f.ours" -q
  $PY - "$Z/${f}_out.npy" "$WORK/$f.ort.npy" "$WORK/$f.ours/output_0.pb" <<'PYEOF' || die "$f: logits differ"
import sys, numpy as np, onnx
from onnx import numpy_helper
ref, ort = np.load(sys.argv[1]), np.load(sys.argv[2])
t = onnx.TensorProto(); t.ParseFromString(open(sys.argv[3], "rb").read()); ours = numpy_helper.to_array(t)
d_ort, d_ours = np.abs(ort - ref).max(), np.abs(ours - ref).max()
print(sys.argv[1], "max abs diff: ONNX Runtime", d_ort, "nncompress", d_ours)
sys.exit(0 if d_ort <= 1e-4 and d_ours <= 1e-4 else 1)
PYEOF
done

# Weight sharing: the LSTM's W (4x32x28) and R (4x32x32) join the Linear weight in the codebook.
"$NNC" share "$Z/lstm_rows.onnx" "${D[@]}" --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 \
  -o "$WORK/lstm_s.onnx" --nnc "$WORK/lstm_s.nnc" --json > "$WORK/lstm_s.json"
[ "$(json "$WORK/lstm_s.json" "['shared_weights']")" = 8000 ] || die "share: LSTM weights not shared ($(json "$WORK/lstm_s.json" "['shared_weights']") of 8000)"
approx "$(json "$WORK/lstm_s.json" "['top1_after']")" "$(ort_top1 "$WORK/lstm_s.onnx")" 0.0001 || die "share (LSTM): ONNX Runtime disagrees"
"$NNC" share "$Z/resize_deconv.onnx" "${D[@]}" --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 \
  -o "$WORK/rd_s.onnx" --json > "$WORK/rd_s.json"
approx "$(json "$WORK/rd_s.json" "['top1_after']")" "$(ort_top1 "$WORK/rd_s.onnx")" 0.0001 || die "share (Resize/ConvTranspose): ONNX Runtime disagrees"

# Pruning: each direction's W and R of both GRU layers is a layer of its own; the written
# weights have the reported sparsity.
"$NNC" prune "$Z/gru_bi2.onnx" "${D[@]}" --sparsity 0.6 --alloc global -o "$WORK/gru_p.onnx" --nnc "$WORK/gru_p.nnc" \
  --json > "$WORK/gru_p.json"
$PY - "$WORK/gru_p.json" "$WORK/gru_p.onnx" <<'PYEOF' || die "prune (GRU): layers or sparsity wrong"
import json, sys, numpy as np, onnx
from onnx import numpy_helper
r = json.load(open(sys.argv[1])); m = onnx.load(sys.argv[2])
layers = [l["layer"] for l in r["layers"]]
rec = [l for l in layers if l.endswith(" W") or l.endswith(" R")]
assert len(rec) == 4, layers
inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
gru_weights = [inits[n.input[i]] for n in m.graph.node if n.op_type == "GRU" for i in (1, 2)]
total = sum(w.size for w in gru_weights) + sum(inits[l["weight"]].size for l in r["layers"] if l["layer"] not in rec)
zeros = sum(int((w == 0).sum()) for w in gru_weights) + sum(int((inits[l["weight"]] == 0).sum()) for l in r["layers"] if l["layer"] not in rec)
print("GRU layers", rec, "written sparsity", zeros / total, "reported", r["sparsity"])
assert abs(zeros / total - r["sparsity"]) < 1e-3 and abs(r["sparsity"] - 0.6) < 1e-3
PYEOF
approx "$(json "$WORK/gru_p.json" "['top1_after']")" "$(ort_top1 "$WORK/gru_p.onnx")" 0.0001 || die "prune (GRU): ONNX Runtime disagrees"
"$NNC" prune "$Z/upsample_op9.onnx" "${D[@]}" --sparsity 0.5 --alloc global -o "$WORK/up_p.onnx" --json > "$WORK/up_p.json"
approx "$(json "$WORK/up_p.json" "['top1_after']")" "$(ort_top1 "$WORK/up_p.onnx")" 0.0001 || die "prune (Upsample/ConvTranspose): ONNX Runtime disagrees"
# Newer exporters: IR version 10 at opset 20 (Gelu, AveragePool with dilations, Resize
# half_pixel_symmetric), and IR 10 at opset 17 (PyTorch's torch.export-based exporter): the
# checker's refusal of the version numbers is a note, the engine gives ONNX Runtime's logits,
# and what share writes runs in ONNX Runtime with our top-1.
"$NNC" run "$Z/opset20_ir10.onnx" --input "$Z/lrn_if_in.npy" --output-dir "$WORK/op20" 2> "$WORK/op20.err"
grep -q "opset 20 is newer than this ONNX checker knows" "$WORK/op20.err" || die "opset 20: no note about the checker"
node "$ROOT/tools/ort/ort_run.js" "$Z/opset20_ir10.onnx" "$Z/lrn_if_in.npy" "$WORK/op20.ort.npy"
$PY - "$WORK/op20.ort.npy" "$WORK/op20/output_0.pb" <<'PYEOF' || die "opset 20: logits differ from ONNX Runtime"
import sys, numpy as np, onnx
from onnx import numpy_helper
t = onnx.TensorProto(); t.ParseFromString(open(sys.argv[2], "rb").read())
d = np.abs(numpy_helper.to_array(t) - np.load(sys.argv[1])).max(); print("opset 20 max abs diff", d); sys.exit(0 if d <= 1e-5 else 1)
PYEOF
"$NNC" share "$Z/opset20_ir10.onnx" "${D[@]}" --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 -o "$WORK/op20_s.onnx" --json > "$WORK/op20_s.json"
approx "$(json "$WORK/op20_s.json" "['top1_after']")" "$(ort_top1 "$WORK/op20_s.onnx")" 0.0001 || die "share (opset 20): ONNX Runtime disagrees"
$PY -c "import onnx; m = onnx.load('$Z/opset17_mix.onnx'); m.ir_version = 10; onnx.save(m, '$WORK/ir10.onnx')"
"$NNC" eval "$WORK/ir10.onnx" --mean 0.2860 --std 0.3530 --json 2> "$WORK/ir10.err" > "$WORK/ir10.json"
grep -q "IR version 10 is newer than this ONNX checker knows" "$WORK/ir10.err" || die "IR 10: no note about the checker"
approx "$(json "$WORK/ir10.json" "['top1']")" "$(ort_top1 "$WORK/ir10.onnx")" 0.0001 || die "IR 10: engine and ONNX Runtime disagree"

# If: branches read weights and values of the enclosing graph; compression rewrites those
# weights and the branches still find them.
"$NNC" share "$Z/lrn_if.onnx" "${D[@]}" --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 -o "$WORK/if_s.onnx" --json > "$WORK/if_s.json"
approx "$(json "$WORK/if_s.json" "['top1_after']")" "$(ort_top1 "$WORK/if_s.onnx")" 0.0001 || die "share (If): ONNX Runtime disagrees"
"$NNC" prune "$Z/lrn_if.onnx" "${D[@]}" --sparsity 0.5 -o "$WORK/if_p.onnx" --json > "$WORK/if_p.json"
approx "$(json "$WORK/if_p.json" "['top1_after']")" "$(ort_top1 "$WORK/if_p.onnx")" 0.0001 || die "prune (If): ONNX Runtime disagrees"
"$NNC" lowrank "$Z/lrn_if.onnx" "${D[@]}" --keep 0.7 -o "$WORK/if_lr.onnx" --json > "$WORK/if_lr.json"
approx "$(json "$WORK/if_lr.json" "['top1_after']")" "$(ort_top1 "$WORK/if_lr.onnx")" 0.0001 || die "lowrank (If): ONNX Runtime disagrees"
# Model-local functions are expanded at load: what share writes holds standard operators only.
"$NNC" share "$Z/module_functions.onnx" --mean 0.2860 --std 0.3530 --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 \
  -o "$WORK/fn_s.onnx" --json > "$WORK/fn_s.json" 2> "$WORK/fn_s.err"
grep -q "2 calls of model-local functions expanded" "$WORK/fn_s.err" || die "functions: no note about the expansion"
approx "$(json "$WORK/fn_s.json" "['top1_after']")" "$(ort_top1 "$WORK/fn_s.onnx")" 0.0001 || die "share (functions): ONNX Runtime disagrees"
$PY -c "import onnx, sys; m = onnx.load('$WORK/fn_s.onnx'); sys.exit(0 if not m.functions and all(n.domain == '' for n in m.graph.node) else 1)" \
  || die "functions: the written model still calls functions"
echo "1 passed, 0 failed"
