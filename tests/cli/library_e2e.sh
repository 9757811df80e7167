# The library from outside: the example program (public API only) compresses LeNet-5 by prune ->
# share -> finetune in memory and its outputs measure as it says; then nncompress is installed
# into a fresh prefix and a separate project that only does find_package(nncompress) builds the
# same example against it.
source "$(dirname "$0")/lib.sh"
EXAMPLE="$4"; BUILD="$5"
"$EXAMPLE" "$ROOT/models/lenet5.onnx" "$WORK/e.onnx" "$WORK/e.nnc" --quick > "$WORK/example.txt"
cat "$WORK/example.txt"
grep -q "^finetune" "$WORK/example.txt" || die "the example runs every step"
[ -s "$WORK/e.nnc" ] && [ -s "$WORK/e.onnx" ] || die "the example writes both outputs"
"$NNC" unpack "$WORK/e.nnc" -o "$WORK/u.onnx" -q
$PY - "$WORK/u.onnx" <<'PYEOF' || die "the unpacked container keeps 90% of the layer weights at exact zero"
import sys, onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
w = [numpy_helper.to_array(t) for t in m.graph.initializer if t.data_type == 1 and len(t.dims) >= 2]
zeros = sum((a == 0).sum() for a in w) / sum(a.size for a in w)
assert abs(zeros - 0.9) < 0.002, zeros
PYEOF
"$NNC" eval "$WORK/e.onnx" --json -q > "$WORK/e.eval.json"
"$NNC" eval "$WORK/u.onnx" --json -q > "$WORK/u.eval.json"
approx "$(json "$WORK/e.eval.json" "['top1']")" "$(json "$WORK/u.eval.json" "['top1']")" 0.00001 || die "ONNX and .nnc differ"
# Installed and found by another project.
cmake --install "$BUILD" --prefix "$WORK/prefix" > "$WORK/install.log"
cmake -S "$ROOT/examples/consumer" -B "$WORK/consumer" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$WORK/prefix" > "$WORK/consumer.log" || { cat "$WORK/consumer.log"; die "consumer configure"; }
cmake --build "$WORK/consumer" >> "$WORK/consumer.log" || { tail -30 "$WORK/consumer.log"; die "consumer build"; }
[ -x "$WORK/consumer/prune_then_share" ] || die "consumer binary"
set +e; USAGE=$("$WORK/consumer/prune_then_share" 2>&1); RC=$?; set -e
[ $RC -eq 2 ] && [[ "$USAGE" == *"usage:"* ]] || die "the consumer's program runs: $RC $USAGE"
# The Python package, installed into the interpreter's library folder under the prefix.
if ls "$BUILD"/python/nncompress/_core*.so > /dev/null 2>&1; then
  INIT=$(find "$WORK/prefix" -path "*-packages/nncompress/__init__.py" | head -1)
  [ -n "$INIT" ] || die "cmake --install puts the Python package under the prefix"
  PYTHONPATH="$(dirname "$(dirname "$INIT")")" $PY - "$WORK/prefix" "$ROOT/models/lenet5.onnx" <<'PYEOF' || die "the installed Python package imports and runs"
import sys, numpy as np, nncompress
assert nncompress.__file__.startswith(sys.argv[1]), nncompress.__file__
assert "share" in [m["name"] for m in nncompress.methods()]
x = np.zeros((8, 28, 28), np.uint8); y = np.arange(8) % 10
assert nncompress.evaluate(sys.argv[2], x, y)["n"] == 8
PYEOF
fi
echo "1 passed, 0 failed"
