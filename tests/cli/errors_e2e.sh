# Every row of docs/errors.md run: the bad inputs are made here (in $W), each row's command runs
# within 30 s and 4 GB of address space (ulimit -v), must exit non-zero with at most 3 lines on
# stderr, the last of them being "nncompress: error: " + the row's message ("…" in a message
# stands for any text: figures that depend on the machine).
# NNC_ERRORS_PRINT=1 prints what each row gets instead of checking it (to write the table).
# NNC_ERRORS_LEAKS=1 (CTest errors_leaks_e2e): each row's nncompress runs with LeakSanitizer's
# runtime preloaded (gcc's liblsan: it replaces malloc and, at exit, reports every block that no
# pointer reaches any more), so a leak on an error path fails its row. No address-space limit
# (LeakSanitizer's allocator reserves terabytes of it) and 120 s per row; the rows are otherwise
# checked as above.
source "$(dirname "$0")/lib.sh"
W="$WORK/in"
M="$ROOT/models/lenet5.onnx"
mkdir -p "$W"

$PY - "$W" "$M" "$ROOT" <<'PYEOF'
import gzip, os, struct, sys
import numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
W, M, ROOT = sys.argv[1:4]

def save(m, name, ir=8):
    m.ir_version = ir
    open(f"{W}/{name}", "wb").write(m.SerializeToString())

def model(nodes, inits=(), opset=13, inputs=None, outputs=None, name="g"):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 28, 28])]
    outputs = outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])]
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])

def conv(name, opset=13, w_shape=(4, 1, 3, 3), inputs=("x", "w"), **attrs):
    w = numpy_helper.from_array(np.ones(w_shape, np.float32), "w")
    save(model([helper.make_node("Conv", list(inputs), ["y"], name="c", **attrs)], [w], opset), name)

lenet = onnx.load(M)
# Files that are not models.
open(f"{W}/empty.onnx", "wb").close()
data = open(M, "rb").read()
open(f"{W}/trunc.onnx", "wb").write(data[:1000])
open(f"{W}/random.onnx", "wb").write(bytes((i * 7919 + 13) % 251 for i in range(4096)))
open(f"{W}/graphless.onnx", "wb").write(helper.make_opsetid("", 13).SerializeToString())
os.mkfifo(f"{W}/fifo.onnx")
# Models that break ONNX or an operator's rules.
m = onnx.load(M); m.graph.node[0].input[0] = "nowhere"; save(m, "checker.onnx", m.ir_version)
m = onnx.load(M); n = [x for x in m.graph.node if x.op_type == "Relu"][0]; n.domain = "com.example"
m.opset_import.add(domain="com.example", version=1); save(m, "domain.onnx", m.ir_version)
save(model([helper.make_node("Frobnicate", ["x"], ["y"], name="f")], opset=18), "unknown_op.onnx")
save(model([helper.make_node("Relu", ["x"], ["y"], name="r")], opset=30), "opset30.onnx")
conv("strides0.onnx", strides=[0, 1])
conv("kernel0_conv.onnx", opset=18, kernel_shape=[3, 0])
save(model([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[0, 2])]), "maxpool_k0.onnx")
save(model([helper.make_node("AveragePool", ["x"], ["y"], name="p", kernel_shape=[2, 2], pads=[2, 0, 0, 0])]),
     "avgpool_pads.onnx")
conv("kernel_shape.onnx", kernel_shape=[5, 5])
conv("group.onnx", group=3)
conv("pads.onnx", opset=18, pads=[1, -1, 1, 1])
conv("dilations.onnx", dilations=[1, 1, 1])
conv("one_input.onnx", opset=18, inputs=("x",))
conv("attr_type.onnx", opset=18, strides=2)
save(model([helper.make_node("Transpose", ["x"], ["y"], name="t", perm=[0, 1, 1, 3])]), "perm.onnx")
save(model([helper.make_node("Flatten", ["x"], ["y"], name="f", axis=7)]), "flatten_axis.onnx")
save(model([helper.make_node("Dropout", ["x"], ["y"], name="d", ratio=1.0)], opset=7), "dropout.onnx")
# A model quantised already: int8 weights behind a DequantizeLinear.
save(model([helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"]), helper.make_node("Flatten", ["x"], ["f"]),
            helper.make_node("Gemm", ["f", "w"], ["y"])],
           [numpy_helper.from_array(np.ones((784, 10), np.int8), "wq"), numpy_helper.from_array(np.float32(0.01), "ws"),
            numpy_helper.from_array(np.int8(0), "wz")]), "qdq.onnx")
save(model([helper.make_node("Relu", ["y"], ["x2"], name="a"), helper.make_node("Relu", ["x2"], ["y"], name="b")],
           opset=18), "cycle.onnx")
seq = helper.make_tensor_sequence_value_info("x", TensorProto.FLOAT, None)
save(model([helper.make_node("Identity", ["x"], ["y"])], opset=18, inputs=[seq]), "sequence_input.onnx")
# Sizes: a 70 TB constant, 1,000,000 inputs to one node asking for 800 GB, a huge sparse tensor.
s = numpy_helper.from_array(np.array([1 << 20, 1 << 20, 16], np.int64), "shape")
save(model([helper.make_node("ConstantOfShape", ["shape"], ["big"], name="big"),
            helper.make_node("Add", ["big", "x"], ["y"], name="add")], [s]), "70TB.onnx")
save(model([helper.make_node("Flatten", ["x"], ["f"], name="flat"),
            helper.make_node("Concat", ["f"] * 1000000, ["y"], name="cat", axis=1)]), "million_inputs.onnx")
m = model([helper.make_node("Identity", ["x"], ["y"])])
m.graph.sparse_initializer.append(helper.make_sparse_tensor(numpy_helper.from_array(np.array([1.0], np.float32), "w"),
                                  numpy_helper.from_array(np.array([0], np.int64), ""), [1 << 40, 1024]))
save(m, "sparse_huge.onnx")
m = model([helper.make_node("Identity", ["x"], ["y"])])
m.graph.sparse_initializer.append(helper.make_sparse_tensor(numpy_helper.from_array(np.array([1.0], np.float32), "w"),
                                  numpy_helper.from_array(np.array([6], np.int64), ""), [3, 2]))
save(m, "sparse_position.onnx")
m = onnx.load(M); t = m.graph.initializer[0]; t.raw_data = t.raw_data[:4]; save(m, "raw_short.onnx", m.ir_version)
for name, key, value in (("classes.onnx", "nncompress.num_classes", "ten"), ("std0.onnx", "nncompress.input_std", "0")):
    m = onnx.load(M)
    for kv in m.metadata_props:
        if kv.key == key: kv.value = value
    if key not in [kv.key for kv in m.metadata_props]:
        kv = m.metadata_props.add(); kv.key = key; kv.value = value
    save(m, name, m.ir_version)
# External data: a symlink out of the folder, an offset that is no number, a missing file, too long.
for case, loc, offset, length in (("link", "link.bin", "0", "16"), ("offset", "w.bin", "abc", "16"),
                                  ("missing", "gone.bin", "0", "16"), ("long", "w.bin", "0", "1000000"),
                                  ("absolute", "/etc/passwd", "0", "16")):
    d = f"{W}/ext_{case}"; os.makedirs(d)
    open(f"{d}/w.bin", "wb").write(bytes(16))
    w = numpy_helper.from_array(np.zeros((4,), np.float32), "w")
    w.ClearField("raw_data"); w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", loc), ("offset", offset), ("length", length)):
        e = w.external_data.add(); e.key = k; e.value = v
    save(model([helper.make_node("Add", ["x", "w"], ["y"], name="add")], [w],
               inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])]), f"ext_{case}/m.onnx")
    if case == "link": os.symlink(f"{W}/secret.bin", f"{d}/link.bin")
open(f"{W}/secret.bin", "wb").write(bytes(16))
# Containers.
nnc = open(f"{ROOT}/tests/fixtures/store/shared_v1.nnc", "rb").read()
open(f"{W}/garbage.nnc", "wb").write(b"garbage")
open(f"{W}/trunc.nnc", "wb").write(nnc[: len(nnc) // 2])
flipped = bytearray(nnc); flipped[len(nnc) // 2] ^= 0xFF; open(f"{W}/crc.nnc", "wb").write(bytes(flipped))
open(f"{W}/trailing.nnc", "wb").write(nnc + b"extra")
# Data folders.
def npy_header(header, payload=b""):
    while (10 + len(header) + 1) % 64: header += " "
    header += "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload
def data_dir(name, x=lambda n: np.zeros((n, 28, 28), np.uint8), y=lambda n: np.arange(n) % 10, raw_x=None):
    d = f"{W}/{name}"; os.makedirs(d)
    for split, count in (("train", 40), ("test", 10)):
        if raw_x is not None: open(f"{d}/{split}_x.npy", "wb").write(raw_x)
        else: np.save(f"{d}/{split}_x.npy", x(count))
        np.save(f"{d}/{split}_y.npy", y(count))
os.makedirs(f"{W}/data_empty")
data_dir("data_shape", x=lambda n: np.zeros((n, 16, 16), np.uint8))
data_dir("data_magic", raw_x=b"not an npy file at all")
data_dir("data_trunc", raw_x=npy_header("{'descr': '|u1', 'fortran_order': False, 'shape': (40, 28, 28), }", b"\0" * 100))
data_dir("data_huge", raw_x=npy_header("{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000), }"))
data_dir("data_dtype", raw_x=npy_header("{'descr': '<c16', 'fortran_order': False, 'shape': (1,), }", b"\0" * 16))
data_dir("data_fortran", raw_x=npy_header("{'descr': '|u1', 'fortran_order': True, 'shape': (40, 28, 28), }", b"\0" * 31360))
data_dir("data_labels", y=lambda n: np.arange(n - 3) % 10)
data_dir("data_classes", y=lambda n: np.full(n, 99))
os.makedirs(f"{W}/data_test_only")
np.save(f"{W}/data_test_only/test_x.npy", np.zeros((10, 28, 28), np.uint8))
np.save(f"{W}/data_test_only/test_y.npy", np.arange(10) % 10)
m = onnx.load(M); del m.metadata_props[:]; save(m, "nometa.onnx", m.ir_version)
np.savez(f"{W}/npz_crc.npz", train_x=np.zeros((40, 28, 28), np.uint8), train_y=np.arange(40) % 10,
         test_x=np.zeros((10, 28, 28), np.uint8), test_y=np.arange(10) % 10)
z = bytearray(open(f"{W}/npz_crc.npz", "rb").read())
at = z.index(b"test_x.npy") + 200  # inside the stored member's pixels
z[at] ^= 0xFF
open(f"{W}/npz_crc.npz", "wb").write(bytes(z))
np.savez(f"{W}/npz_other.npz", x=np.zeros((10, 28, 28), np.uint8), y=np.arange(10))
open(f"{W}/notdata.txt", "w").write("hello")
def idx_dir(name, images, labels):
    d = f"{W}/{name}"; os.makedirs(d)
    for split in ("train", "t10k"):
        open(f"{d}/{split}-images-idx3-ubyte", "wb").write(images)
        open(f"{d}/{split}-labels-idx1-ubyte", "wb").write(labels)
labels = b"\0\0\x08\x01" + (10).to_bytes(4, "big") + bytes(range(10))
idx_dir("idx_magic", b"hello world, not idx", labels)
idx_dir("idx_short", b"\0\0\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(100), labels)
idx_dir("idx_huge", b"\0\0\x08\x03" + b"\xff" * 12 + bytes(100), labels)
idx_dir("idx_type", b"\0\0\x0d\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(31360), labels)
d = f"{W}/idx_gz"; os.makedirs(d)
for split in ("train", "t10k"):
    z = bytearray(gzip.compress(b"\0\0\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + os.urandom(7840)))
    z[len(z) // 2 : len(z) // 2 + 16] = b"corrupt corrupt!"
    open(f"{d}/{split}-images-idx3-ubyte.gz", "wb").write(bytes(z))
    open(f"{d}/{split}-labels-idx1-ubyte", "wb").write(labels)
# Tensors for `run`.
open(f"{W}/not_a_tensor.pb", "wb").write(b"\xff" * 64)
t = TensorProto(); t.name = "t"; t.data_type = TensorProto.INT64; t.dims.append(1 << 61); t.raw_data = b""
open(f"{W}/huge.pb", "wb").write(t.SerializeToString())
np.save(f"{W}/wrong_shape.npy", np.zeros((1, 3, 28, 28), np.float32))
np.save(f"{W}/input.npy", np.zeros((1, 1, 28, 28), np.float32))
# Recipes for `compress`.
open(f"{W}/recipe_step.yaml", "w").write("steps:\n  - step: prune\n  - step: shar\n")
open(f"{W}/recipe_alias.yaml", "w").write("steps:\n  - &a {step: share, options: *a}\n")
open(f"{W}/recipe_huge.yaml", "w").write("steps:\n  - step: prune\n    options: {sparsity: auto, finetune: {lr: 1e999}}\n")
open(f"{W}/recipe_option.yaml", "w").write("steps:\n  - step: prune\n    options:\n      sparsity: auto\n"
                                           "      finetune: {epochs: 1, lrr: 3}\n")
open(f"{W}/recipe_order.yaml", "w").write("steps:\n  - step: share\n  - step: prune\n")
open(f"{W}/recipe_broken.yaml", "w").write("steps:\n  - step: [prune\n")
open(f"{W}/recipe_fit_nosize.yaml", "w").write("steps:\n  - step: fit\n")
open(f"{W}/recipe_none_within.yaml", "w").write("steps:\n  - step: prune\n    options: {sparsity: 0.99, alloc: uniform, comparison: false, "
                                                "finetune: {epochs: 0}}\n")
# A model without layer weights for `fit`: the first ten pixels are the logits.
ints = [numpy_helper.from_array(np.array([0], np.int64), "s"), numpy_helper.from_array(np.array([10], np.int64), "e"),
        numpy_helper.from_array(np.array([1], np.int64), "a")]
save(model([helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Slice", ["f", "s", "e", "a"], ["y"])], ints),
     "no_weights.onnx")
PYEOF

# The rows of docs/errors.md: | n | input | `command` | `message` |
LSAN=""
if [ "${NNC_ERRORS_LEAKS:-0}" = 1 ]; then
  LSAN=$(gcc -print-file-name=liblsan.so)
  [ -f "$LSAN" ] || die "NNC_ERRORS_LEAKS=1 needs gcc's LeakSanitizer runtime (Debian liblsan0); gcc names: $LSAN"
  LSAN=$(realpath "$LSAN")
  # The check can fail: a program that loses a block gets a report and exit status 23.
  printf '#include <stdlib.h>\nvoid *volatile p;\nint main(void) { p = malloc(64); p = 0; return 0; }\n' > "$WORK/lost.c"
  gcc -O0 "$WORK/lost.c" -o "$WORK/lost"
  set +e; lost=$(env LD_PRELOAD="$LSAN" LSAN_OPTIONS=exitcode=23 "$WORK/lost" 2>&1); rc=$?; set -e
  [ $rc -eq 23 ] && [[ "$lost" == *"LeakSanitizer: detected memory leaks"* ]] ||
    die "LeakSanitizer preloaded from $LSAN did not report a lost block (exit $rc)"
  echo "ok: LeakSanitizer ($LSAN) reports a lost block"
fi
$PY - "$ROOT/docs/errors.md" "$NNC" "$W" "$M" "$ROOT" "${NNC_ERRORS_PRINT:-0}" "$LSAN" <<'PYEOF'
import re, resource, subprocess, sys, time
doc, nnc, W, M, ROOT, printing, lsan = sys.argv[1:8]
seconds = 120 if lsan else 30
if lsan:
    # exitcode 23 and the report on stderr; LibTorch's and protobuf's objects that live until exit
    # are reachable from globals and are not reported.
    nnc = f"env LD_PRELOAD={lsan} LSAN_OPTIONS=exitcode=23:print_suppressions=0 {nnc}"
rows = []
for line in open(doc):
    m = re.match(r"^\|\s*(\d+)\s*\|(.*)\|\s*`(nncompress [^`]*)`\s*\|\s*`([^`]*)`\s*\|\s*$", line)
    if m: rows.append((int(m.group(1)), m.group(3), m.group(4)))
assert len(rows) >= 50, f"docs/errors.md has {len(rows)} rows, expected at least 50"
assert [r[0] for r in rows] == list(range(1, len(rows) + 1)), "rows must be numbered 1, 2, 3, ..."
def subst(s):
    return s.replace("$W", W).replace("$M", M).replace("$ROOT", ROOT)
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
failed = 0
for n, command, message in rows:
    cmd = subst(command).replace("nncompress ", nnc + " ", 1)
    t0 = time.time()
    try:
        p = subprocess.run(["bash", "-c", cmd],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=seconds, preexec_fn=None if lsan else limit, text=True, errors="replace")
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = None, ""
    secs = time.time() - t0
    lines = [l for l in err.splitlines() if l.strip()]
    last = lines[-1] if lines else ""
    if printing == "1":
        print(f"{n}\t{rc}\t{len(lines)}\t{secs:.1f}s\t{last.replace(W, '$W').replace(ROOT, '$ROOT')}")
        continue
    want = "^" + re.escape("nncompress: error: " + subst(message)).replace(re.escape("…"), ".*") + "$"
    problems = []
    if lsan and ("LeakSanitizer" in err or rc == 23):
        problems.append("LeakSanitizer report:\n" + "\n".join(lines[:60]))
    if rc is None: problems.append(f"did not end within {seconds} s")
    elif rc == 0: problems.append("exited 0")
    if len(lines) > 3: problems.append(f"{len(lines)} lines on stderr")
    if not re.match(want, last): problems.append(f"got: {last!r}")
    if problems:
        failed += 1
        print(f"FAIL row {n}: {command}: " + "; ".join(problems), file=sys.stderr)
    else:
        print(f"ok {n} ({secs:.1f} s, exit {rc})")
sys.exit(1 if failed else 0)
PYEOF
echo "errors_e2e: every row of docs/errors.md passed"
