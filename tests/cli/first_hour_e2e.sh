# What a new user meets first: flag errors are one line with exit status 2 and a guess for near
# misses; run-time failures exit 1.
source "$(dirname "$0")/lib.sh"
M="$ROOT/models/lenet5.onnx"
# expect_usage "message" cmd...: one line containing the message, exit status 2.
expect_usage() {
  local want="$1"; shift
  set +e; local out; out=$("$@" 2>&1 >/dev/null); local rc=$?; set -e
  [ $rc -eq 2 ] || die "expected exit status 2 (usage), got $rc: $*"
  [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] || die "expected one line, got: $out"
  [[ "$out" == "nncompress: error: $want" ]] || die "expected 'nncompress: error: $want', got: $out"
  echo "ok: $want"
}
expect_usage "unknown option --sparsty for 'prune' (did you mean --sparsity?)" "$NNC" prune "$M" -o "$WORK/x.onnx" --sparsty 0.5
expect_usage "--sparsity abc: not a valid value" "$NNC" prune "$M" -o "$WORK/x.onnx" --sparsity abc
expect_usage "--batch 0: must be positive" "$NNC" prune "$M" -o "$WORK/x.onnx" --batch 0
expect_usage "unknown command 'prun' (did you mean prune?)" "$NNC" prun "$M"
expect_usage "model is required" "$NNC" prune -o "$WORK/x.onnx"
expect_usage "--threads -2: must not be negative (0: all cores)" "$NNC" eval "$M" --threads -2
expect_usage "--max-drop -1: must be in [0, 100) percentage points" "$NNC" share "$M" -o "$WORK/x.onnx" --max-drop=-1
expect_usage "unknown option --gen for 'share' (did you mean --gens?)" "$NNC" share "$M" -o "$WORK/x.onnx" --gen 3
# Outputs are checked before any work: a file on the way, a folder as the output.
mkdir -p "$WORK/bad"; touch "$WORK/bad/afile" "$WORK/afile"
START=$(date +%s)
expect_error "$WORK/bad/afile/x.onnx: cannot write there: $WORK/bad/afile is not a directory" \
  "$NNC" share "$M" -o "$WORK/bad/afile/x.onnx"
expect_error "$WORK: is a directory, expected a file name" "$NNC" prune "$M" -o "$WORK"
expect_error "cannot write there: $WORK/afile is not a directory" "$NNC" prune "$M" -o "$WORK/p.onnx" --nnc "$WORK/afile/p.nnc"
[ $(( $(date +%s) - START )) -lt 20 ] || die "output paths must be refused before the work"
# Every command that takes a model takes an .nnc container too.
"$NNC" prune "$M" --sparsity 0.5 --alloc global --no-comparison -o "$WORK/p.onnx" --nnc "$WORK/p.nnc" --calib 256 -q --json > "$WORK/p.json"
"$NNC" eval "$WORK/p.nnc" --json -q > "$WORK/p.nnc.eval.json"
approx "$(json "$WORK/p.nnc.eval.json" "['top1']")" "$(json "$WORK/p.json" "['top1_after']")" 0.00001 || die "eval X.nnc"
"$NNC" share "$WORK/p.nnc" -o "$WORK/s.onnx" --pop 8 --gens 1 --max-evals 8 --max-merge-evals 4 --max-drop 5 --val 300 -q --json > "$WORK/s.json"
[ "$(json "$WORK/s.json" "['pruned_weights']")" = "$(json "$WORK/p.json" "['sparsity']" | $PY -c "import sys; print(round(float(sys.stdin.read()) * 430500))")" ] \
  || die "share of a pruned .nnc keeps its zeros"
# A normalisation that cannot be told from the alternatives is not guessed: a model whose output
# does not depend on its input (every candidate scores the same) asks for --mean/--std.
$PY - "$WORK/constant.onnx" <<'PYEOF'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
w = numpy_helper.from_array(np.zeros((784, 10), np.float32), "w")
b = numpy_helper.from_array(np.arange(10, dtype=np.float32), "b")
g = helper.make_graph([helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["m"]),
                       helper.make_node("Add", ["m", "b"], ["y"])], "constant",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], [w, b])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
PYEOF
expect_error "nncompress: error: --mean missing: the model has no input normalisation metadata and no candidate is clearly best on 1000 held-out training images (none (pixels in [0, 1]) " \
  "$NNC" eval "$WORK/constant.onnx"
expect_error "MNIST 0.1307/0.3081 " "$NNC" eval "$WORK/constant.onnx"
# The normalisation used is in every --json.
"$NNC" eval "$M" --json -q > "$WORK/eval.json"
[ "$(json "$WORK/eval.json" "['normalisation']['source']")" = metadata ] || die "eval --json names the normalisation"
# A run-time failure is status 1.
set +e; "$NNC" eval "$M" --data /nonexistent 2>/dev/null; RC=$?; set -e
[ $RC -eq 1 ] || die "a missing data folder is a run-time failure (1), got $RC"
"$NNC" --help | grep -q "Exit status: 0 done, 1 the work failed" || die "--help documents the exit status"
echo "1 passed, 0 failed"
