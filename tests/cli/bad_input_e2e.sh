# Bad input: one-line errors naming the problem, non-zero exit.
source "$(dirname "$0")/lib.sh"
M="$ROOT/models/lenet5.onnx"
expect_error "no such file" "$NNC" eval "$WORK/missing.onnx"
head -c 1000 "$M" > "$WORK/trunc.onnx"
expect_error "cannot parse ONNX protobuf (truncated or corrupt file)" "$NNC" eval "$WORK/trunc.onnx"
printf 'garbage' > "$WORK/junk.nnc"
expect_error "not an .nnc container" "$NNC" unpack "$WORK/junk.nnc" -o "$WORK/x.onnx"
expect_error "--pop 10: NSGA-II needs a population that is a multiple of 4" "$NNC" share "$M" -o "$WORK/x.onnx" --pop 10
expect_error "--max-drop -1: must be in [0, 100)" "$NNC" share "$M" -o "$WORK/x.onnx" --max-drop -1
expect_error "--k-max 20000: at most 16384 bins" "$NNC" share "$M" -o "$WORK/x.onnx" --k-max 20000
expect_error "refusing to overwrite the input model" "$NNC" share "$M" -o "$M"
expect_error "no such directory" "$NNC" eval "$M" --data /nonexistent
# Thread counts from the environment are read strictly (NNC_BLAS_THREADS was read with atoi).
expect_error "NNC_THREADS=two: must be a positive whole number of threads" env NNC_THREADS=two "$NNC" info "$M"
expect_error "NNC_BLAS_THREADS=2x: must be a positive whole number of threads" env NNC_BLAS_THREADS=2x "$NNC" info "$M"
# Unknown operator: fails at load naming node and op.
$PY - "$M" "$WORK/unknown_op.onnx" <<'PYEOF'
import sys, onnx
m = onnx.load(sys.argv[1]); n = [x for x in m.graph.node if x.op_type == "Relu"][0]; n.op_type = "Selu"; n.domain = "com.example"
m.opset_import.add(domain="com.example", version=1); onnx.save(m, sys.argv[2])
PYEOF
expect_error "unsupported operator domain 'com.example'" "$NNC" eval "$WORK/unknown_op.onnx"
# A float16 model (weights and input): one line naming the input and its type, before any data is run.
$PY - "$M" "$WORK/fp16.onnx" <<'PYEOF'
import sys, numpy as np, onnx
from onnx import numpy_helper, TensorProto
m = onnx.load(sys.argv[1])
for i, t in enumerate(m.graph.initializer):
    if t.data_type == TensorProto.FLOAT:
        m.graph.initializer[i].CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t).astype(np.float16), t.name))
for v in list(m.graph.input) + list(m.graph.output): v.type.tensor_type.elem_type = TensorProto.FLOAT16
onnx.save(m, sys.argv[2])
PYEOF
expect_error "model input 'input' is FLOAT16: nncompress runs and compresses float32 models" "$NNC" share "$WORK/fp16.onnx" -o "$WORK/x.onnx"
# Images that do not match the model input.
mkdir -p "$WORK/data"
$PY - "$WORK/data" <<'PYEOF'
import sys, numpy as np
d = sys.argv[1]
for split, n in (("train", 40), ("test", 10)):
    np.save(f"{d}/{split}_x.npy", np.zeros((n, 16, 16), np.uint8)); np.save(f"{d}/{split}_y.npy", np.arange(n) % 10)
PYEOF
expect_error "images have shape [N,1,16,16] but the model input 'input' expects [?,1,28,28]" "$NNC" eval "$M" --data "$WORK/data"
echo "1 passed, 0 failed"
