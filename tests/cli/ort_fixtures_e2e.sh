# Every PyTorch fixture, and the same fixture after `nncompress share`, runs in ONNX Runtime with
# the outputs our engine gives (second runtime as a source of truth).
source "$(dirname "$0")/lib.sh"
[ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ] || die "ONNX Runtime is not installed (bash scripts/setup.sh installs it)"
for f in mlp lenet5 resnet20 mobilenetv2; do
  D="$ROOT/tests/fixtures/$f"
  node "$ROOT/tools/ort/ort_run.js" "$D/model.onnx" "$D/input.npy" "$WORK/$f.npy"
  $PY - "$WORK/$f.npy" "$D/output.npy" <<'PYEOF' || die "$f: ONNX Runtime differs from PyTorch"
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2]); d = np.abs(a - b).max(); print(sys.argv[1], "max abs diff", d); sys.exit(0 if d <= 1e-4 else 1)
PYEOF
  "$NNC" run "$D/model.onnx" --input "$D/input.npy" --output-dir "$WORK/$f.ours" -q
done
# The QDQ model PyTorch exported (scripts/make_qdq_fixture.py): ONNX Runtime's int8 execution and
# the engine give the same outputs (PyTorch's own fake quantisation is one quantum off in places:
# fixtures_test.cpp).
D="$ROOT/tests/fixtures/qdq"
node "$ROOT/tools/ort/ort_run.js" "$D/model.onnx" "$D/input.npy" "$WORK/qdq.npy"
"$NNC" run "$D/model.onnx" --input "$D/input.npy" --output-dir "$WORK/qdq.ours" -q
# (Without VNNI, ONNX Runtime's own int8 sums saturate: lib.sh's ort_int8_exact; then only close.)
tol=1e-6; ort_int8_exact || { tol=0.05; echo "note: no VNNI on this CPU: ONNX Runtime's int8 kernels saturate, compared within $tol"; }
$PY - "$WORK/qdq.npy" "$WORK/qdq.ours/output_0.pb" "$tol" <<'PYEOF' || die "qdq: ONNX Runtime differs from the engine"
import sys, numpy as np, onnx
from onnx import numpy_helper
a, b = np.load(sys.argv[1]), numpy_helper.to_array(onnx.load_tensor(sys.argv[2]))
d = np.abs(a - b).max(); print("qdq: ONNX Runtime vs engine max abs diff", d); sys.exit(0 if d <= float(sys.argv[3]) else 1)
PYEOF
echo "1 passed, 0 failed"
