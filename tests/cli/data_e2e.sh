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
# A small data set: 1,600 training images, so the default hold-out (5,000) and the default
# validation and calibration sizes (1,000 and 1,024) shrink to fit it.
np.savez(f"{W}/small.npz", train_x=a["train_x"][:1600], train_y=a["train_y"][:1600],
         test_x=a["test_x"][:2000], test_y=a["test_y"][:2000])
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
# Small data: the defaults fit themselves to it (hold-out 800 = half, validation 400, calibration
# 800); sizes asked for are taken as they are, so one that does not fit is refused, even 5,000.
"$NNC" prune "$M" -o "$WORK/p_small.onnx" --sparsity 0.5 --alloc uniform --no-comparison --finetune-epochs 0 \
  --data "$WORK/small.npz" -q --json > "$WORK/prune_small.json"
$PY - "$WORK/prune_small.json" <<'PYEOF' || die "prune on a small data set with the default splits"
import json, sys
j = json.load(open(sys.argv[1]))
# Hold-out top-1 is a count of the 800 held-out images.
for k in ("holdout_top1_before", "holdout_top1_after"):
    assert abs(j[k] * 800 - round(j[k] * 800)) < 1e-6, (k, j[k])
assert abs(j["sparsity"] - 0.5) < 0.01 and j["top1_after"] > 0.8, j["sparsity"]
PYEOF
expect_error "nncompress: error: --holdout 5000: the training split has 1600 images; at most half of them (800) can be held out" \
  "$NNC" prune "$M" -o "$WORK/p_small2.onnx" --sparsity 0.5 --data "$WORK/small.npz" --holdout 5000 -q
expect_error "nncompress: error: --calib 1024: must be between 1 and the 800 held-out images" \
  "$NNC" prune "$M" -o "$WORK/p_small2.onnx" --sparsity 0.5 --data "$WORK/small.npz" --calib 1024 -q
[ ! -e "$WORK/p_small2.onnx" ] || die "a refused command wrote its output"
echo "ok: a small data set with the default splits; sizes asked for are not capped"
echo "ok: data formats"
