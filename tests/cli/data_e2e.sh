# The data formats of docs/data.md: Fashion-MNIST as IDX (the Debian files), as a folder of NPY
# files and as NPZ (deflated and stored) give the same figures; test-only data say why they are
# not enough.
source "$(dirname "$0")/lib.sh"
M="$ROOT/models/lenet5.onnx"
$PY - "$WORK" <<'PYEOF'
import gzip, os, sys
import numpy as np
W = sys.argv[1]
src = "/usr/share/datasets/fashion-mnist"
def idx(name, dims):
    b = gzip.open(f"{src}/{name}.gz").read()
    return np.frombuffer(b, np.uint8, offset=4 + 4 * dims)
a = {"train_x": idx("train-images-idx3-ubyte", 3).reshape(-1, 28, 28),
     "train_y": idx("train-labels-idx1-ubyte", 1).astype(np.int64),
     "test_x": idx("t10k-images-idx3-ubyte", 3).reshape(-1, 28, 28),
     "test_y": idx("t10k-labels-idx1-ubyte", 1).astype(np.int64)}
for d, names in (("npy", a), ("npy_test", ["test_x", "test_y"])):
    os.makedirs(f"{W}/{d}")
    for k in names:
        np.save(f"{W}/{d}/{k}.npy", a[k])
# NHWC float32 pixels in [0, 1] and int32 labels: another layout and dtypes, the same images.
np.savez_compressed(f"{W}/all.npz", train_x=a["train_x"][..., None], train_y=a["train_y"],
                    test_x=(a["test_x"][..., None] / np.float32(255)).astype(np.float32),
                    test_y=a["test_y"].astype(np.int32))
np.savez(f"{W}/test.npz", test_x=a["test_x"], test_y=a["test_y"])
PYEOF
"$NNC" eval "$M" -q --json > "$WORK/idx.json"
for d in npy npy_test all.npz test.npz; do
  "$NNC" eval "$M" --data "$WORK/$d" -q --json > "$WORK/$d.json"
  [ "$(json "$WORK/$d.json" "['n']")" = 10000 ] || die "$d: 10000 test images"
  approx "$(json "$WORK/$d.json" "['top1']")" "$(json "$WORK/idx.json" "['top1']")" 0 || die "$d: top-1 differs from IDX"
  approx "$(json "$WORK/$d.json" "['loss']")" "$(json "$WORK/idx.json" "['loss']")" 1e-5 || die "$d: loss differs from IDX"
  echo "ok: eval --data $d: top-1 $(json "$WORK/$d.json" "['top1']")"
done
approx "$(json "$WORK/idx.json" "['top1']")" 0.9141 0 || die "LeNet-5's test top-1 is 91.41%"
# A model without normalisation metadata: inferred from the training images of each format alike.
$PY - "$M" "$WORK/nometa.onnx" <<'PYEOF'
import sys, onnx
m = onnx.load(sys.argv[1])
del m.metadata_props[:]
onnx.save(m, sys.argv[2])
PYEOF
# (The candidates are measured on held-out training images: the same figures from both, whether
# one is chosen or the command asks for --mean/--std, naming each candidate's top-1.)
for d in npy all.npz; do
  set +e; "$NNC" eval "$WORK/nometa.onnx" --data "$WORK/$d" -q --json > "$WORK/nometa_$d.json" 2> "$WORK/nometa_$d.err"
  set -e
  [ -s "$WORK/nometa_$d.json" ] || grep -q "none (pixels in \[0, 1\]) [0-9.]*%" "$WORK/nometa_$d.err" \
    || die "$d: no normalisation inferred or asked for: $(cat "$WORK/nometa_$d.err")"
done
cmp "$WORK/nometa_npy.err" "$WORK/nometa_all.npz.err" || die "inferred normalisation: NPZ and NPY differ"
if [ -s "$WORK/nometa_npy.json" ]; then
  [ "$(json "$WORK/nometa_npy.json" "['top1']")" = "$(json "$WORK/nometa_all.npz.json" "['top1']")" ] \
    || die "inferred normalisation: NPZ and NPY give different top-1"
fi
echo "ok: normalisation inferred alike from NPY and NPZ training images: $(cat "$WORK/nometa_npy.err" "$WORK/nometa_npy.json" | head -c 300)"
# Test images only: enough for a model that knows its normalisation (above), not otherwise.
for d in npy_test test.npz; do
  expect_error "nncompress: error: --mean missing: the model has no input normalisation metadata, and inferring it needs training images ($WORK/$d has test images only); give mean and std" \
    "$NNC" eval "$WORK/nometa.onnx" --data "$WORK/$d" -q
done
expect_error "nncompress: error: --data $WORK/npy_test: has test images only (test_x.npy but no train_x.npy); this command needs training images: the held-out validation, calibration and hold-out images are drawn from them" \
  "$NNC" prune "$M" -o "$WORK/p.onnx" --sparsity 0.5 --data "$WORK/npy_test" -q
expect_error "nncompress: error: --data $WORK/test.npz: has test images only (array 'test_x' but no array 'train_x'); this command needs training images" \
  "$NNC" share "$M" -o "$WORK/s.onnx" --data "$WORK/test.npz" -q
# A compression command on NPZ data: the same result as on the NPY folder.
for d in npy all.npz; do
  "$NNC" prune "$M" -o "$WORK/p_$d.onnx" --sparsity 0.5 --alloc uniform --no-comparison --finetune-epochs 0 \
    --calib 256 --data "$WORK/$d" -q --json > "$WORK/prune_$d.json"
done
approx "$(json "$WORK/prune_all.npz.json" "['top1_after']")" "$(json "$WORK/prune_npy.json" "['top1_after']")" 0 \
  || die "prune on NPZ and NPY data differ"
echo "ok: data formats"
