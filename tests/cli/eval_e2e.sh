# eval and info on the committed LeNet-5, and ONNX Runtime agreeing on the same file.
source "$(dirname "$0")/lib.sh"
M="$ROOT/models/lenet5.onnx"
"$NNC" eval "$M" --json -q > "$WORK/eval.json"
T1=$(json "$WORK/eval.json" "['top1']")
[ "$(json "$WORK/eval.json" "['n']")" = 10000 ] || die "eval must use the full test split"
approx "$T1" 0.9141 0.0001 || die "LeNet-5 test top-1 $T1, models/README.md says 0.9141"
"$NNC" info "$M" --json > "$WORK/info.json"
[ "$(json "$WORK/info.json" "['params']")" = 431080 ] || die "LeNet-5 must have 431,080 parameters"
if [ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ]; then
  node "$ROOT/tools/ort/ort_eval.js" "$M" > "$WORK/ort.json"
  approx "$(json "$WORK/ort.json" "['top1']")" "$T1" 0.0005 || die "ONNX Runtime disagrees with our engine"
fi
echo "1 passed, 0 failed"
