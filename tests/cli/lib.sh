# Helpers for the e2e scripts: fail with a message, read a JSON field, compare numbers.
set -euo pipefail
NNC="$1"; ROOT="$2"; WORK="$3"
rm -rf "$WORK"; mkdir -p "$WORK"
export NNC_CACHE_DIR="$WORK/cache"  # curve caches stay inside the test directory
PY=/usr/bin/python3
die() { echo "FAIL: $*" >&2; exit 1; }
json() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }
# ONNX Runtime's int8 kernels on x86 CPUs without VNNI sum pairs of u8 x s8 products in 16 bits,
# which saturate (its quantization guide offers 7-bit weights, reduce_range, for these CPUs): there
# its int8 results are not exact, and int8 comparisons with it are exact only where VNNI is.
ort_int8_exact() { [ "$(uname -m)" != x86_64 ] || grep -qw -e avx512_vnni -e avx_vnni /proc/cpuinfo; }
approx() { $PY -c "import sys; a,b,t=map(float,sys.argv[1:]); sys.exit(0 if abs(a-b)<=t else 1)" "$1" "$2" "$3"; }
# expect_error "message fragment" cmd...: the command must exit non-zero with one line containing the fragment.
expect_error() {
  local want="$1"; shift
  set +e; local out; out=$("$@" 2>&1 >/dev/null); local rc=$?; set -e
  [ $rc -ne 0 ] || die "expected failure: $*"
  [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] || die "expected one line, got: $out"
  [[ "$out" == *"$want"* ]] || die "expected '$want' in: $out"
  echo "ok: $want"
}
# expect_written_top1 MODEL.onnx TOP1 WHAT: our engine (`nncompress eval`) measures TOP1 on the
# written model, and so does ONNX Runtime when it is installed.
expect_written_top1() {
  local model="$1" top1="$2" what="$3"
  "$NNC" eval "$model" --json -q > "$model.eval.json"
  approx "$(json "$model.eval.json" "['top1']")" "$top1" 0.00001 || die "$what: accuracy of the written model"
  if [ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ]; then
    node "$ROOT/tools/ort/ort_eval.js" "$model" > "$model.ort.json"
    approx "$(json "$model.ort.json" "['top1']")" "$top1" 0.0005 || die "$what: ONNX Runtime disagrees"
  fi
}
# ort_top1 MODEL: ONNX Runtime's test top-1 with the zoo fixtures' normalisation (Fashion-MNIST
# mean/std; the fixtures carry no metadata).
ort_top1() { node "$ROOT/tools/ort/ort_eval.js" "$1" --mean 0.2860 --std 0.3530 | $PY -c "import json,sys; print(json.load(sys.stdin)['top1'])"; }
# small_fashion_mnist DIR: an IDX copy of Fashion-MNIST with 1,200 training images (600 to train
# on, 600 held out with --val 300 --calib 256) and 500 test images: runs of seconds.
small_fashion_mnist() {
  mkdir -p "$1"
  $PY - /usr/share/datasets/fashion-mnist "$1" <<'PYEOF'
import gzip, struct, sys
src, dst = sys.argv[1:]
for name, n in [("train", 1200), ("t10k", 500)]:
    for kind, item in [("images-idx3", 784), ("labels-idx1", 1)]:
        data = gzip.open(f"{src}/{name}-{kind}-ubyte.gz").read()
        head = 16 if item > 1 else 8
        header = bytearray(data[:head]); header[4:8] = struct.pack(">I", n)
        open(f"{dst}/{name}-{kind}-ubyte", "wb").write(bytes(header) + data[head:head + n * item])
PYEOF
}
