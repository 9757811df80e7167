# Models exported the way users often export them (scripts/make_zoo_fixtures.py): a fixed batch
# size the graph does not depend on, one it does depend on, and opset-17 operators
# (LayerNormalization, GELU, Softplus, PReLU, MatMul weights). Every command runs on them and
# what we write runs in ONNX Runtime with the top-1 our engine measured.
source "$(dirname "$0")/lib.sh"
Z="$ROOT/tests/fixtures/zoo"
D=(--mean 0.2860 --std 0.3530 -q)

"$NNC" eval "$Z/fixed_batch1.onnx" --mean 0.2860 --std 0.3530 --json 2> "$WORK/fixed.err" > "$WORK/fixed.json"
grep -q "declares batch size 1; the graph does not depend on it" "$WORK/fixed.err" || die "fixed batch not relaxed: $(cat "$WORK/fixed.err")"
[ "$(json "$WORK/fixed.json" "['n']")" = 10000 ] || die "fixed_batch1: not all test images evaluated"
approx "$(json "$WORK/fixed.json" "['top1']")" "$(ort_top1 "$Z/fixed_batch1.onnx")" 0.0001 || die "fixed_batch1: engine and ONNX Runtime (batches of 1) disagree"

"$NNC" eval "$Z/batch_dependent4.onnx" --mean 0.2860 --std 0.3530 --json 2> "$WORK/dep.err" > "$WORK/dep.json"
grep -q "declares batch size 4 and its graph depends on it: running batches of 4" "$WORK/dep.err" || die "batch dependence not detected: $(cat "$WORK/dep.err")"
[ "$(json "$WORK/dep.json" "['n']")" = 10000 ] || die "batch_dependent4: not all test images evaluated"

"$NNC" eval "$Z/opset17_mix.onnx" "${D[@]}" --json > "$WORK/mix.json"
approx "$(json "$WORK/mix.json" "['top1']")" "$(ort_top1 "$Z/opset17_mix.onnx")" 0.0001 || die "opset17_mix: engine and ONNX Runtime disagree"

# A model taking N x 28 x 28 (no channel dimension) gets the images without it.
"$NNC" eval "$Z/nhw_mlp.onnx" "${D[@]}" --json > "$WORK/nhw.json"
approx "$(json "$WORK/nhw.json" "['top1']")" "$(ort_top1 "$Z/nhw_mlp.onnx")" 0.0001 || die "nhw_mlp: engine and ONNX Runtime disagree"
"$NNC" share "$Z/nhw_mlp.onnx" "${D[@]}" --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 -o "$WORK/nhw_share.onnx" --json > "$WORK/nhw_share.json"
approx "$(json "$WORK/nhw_share.json" "['top1_after']")" "$(ort_top1 "$WORK/nhw_share.onnx")" 0.0001 || die "nhw_mlp share: ONNX Runtime disagrees"

# Opset 18 (newer than the linked ONNX checker): the check is skipped with a note, the engine
# runs it (ReduceMean's axes as an input), and what share writes runs in ONNX Runtime.
"$NNC" eval "$Z/opset18_se.onnx" --mean 0.2860 --std 0.3530 --json 2> "$WORK/op18.err" > "$WORK/op18.json"
grep -q "opset 18 is newer than this ONNX checker knows" "$WORK/op18.err" || die "opset 18: no note about the checker"
approx "$(json "$WORK/op18.json" "['top1']")" "$(ort_top1 "$Z/opset18_se.onnx")" 0.0001 || die "opset18_se: engine and ONNX Runtime disagree"
"$NNC" share "$Z/opset18_se.onnx" "${D[@]}" --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 -o "$WORK/op18_share.onnx" --json > "$WORK/op18_share.json"
approx "$(json "$WORK/op18_share.json" "['top1_after']")" "$(node "$ROOT/tools/ort/ort_eval.js" "$WORK/op18_share.onnx" | $PY -c "import json,sys; print(json.load(sys.stdin)['top1'])")" 0.0001 \
  || die "opset18_se share: ONNX Runtime (normalisation read from the written metadata) disagrees"

# Share on the fixed-batch model: the written ONNX takes any batch and ONNX Runtime agrees.
"$NNC" share "$Z/fixed_batch1.onnx" "${D[@]}" --pop 8 --gens 2 --max-merge-evals 20 --max-drop 50 \
  -o "$WORK/fixed_share.onnx" --nnc "$WORK/fixed_share.nnc" --json > "$WORK/share.json"
approx "$(json "$WORK/share.json" "['top1_after']")" "$(ort_top1 "$WORK/fixed_share.onnx")" 0.0001 || die "share: ONNX Runtime disagrees"
# `info` on the container: every byte accounted for, each shared tensor indexed into the one
# codebook (format 3 when some have per-tensor scales, each its own scaled codebook; else 2; 6 when
# the names are deflated with the graph).
"$NNC" info "$WORK/fixed_share.nnc" --json > "$WORK/info.json"
$PY - "$WORK/info.json" "$(stat -c %s "$WORK/fixed_share.nnc")" <<'PYEOF' || die "info on the container is wrong"
import json, sys
d = json.load(open(sys.argv[1])); size = int(sys.argv[2])
assert d["format_version"] in ((3, 6) if d["scaled_codebooks"] else (2, 6)), d
assert d["bytes"] == size == d["reencoded_bytes"], d
assert sum(d["parts"].values()) == size, d["parts"]
indexed = [t for t in d["tensors"] if t["kind"] == "indexed"]
assert len(indexed) >= 3 and all(t["codebook"] == 0 for t in indexed), d["tensors"]
assert len(d["codebook_sizes"]) == 1 and d["scaled_codebooks"] == sum("scale" in t for t in indexed), d
PYEOF

# Prune keeps a batch-dependent graph as it is and evaluates it in batches of 4.
"$NNC" prune "$Z/batch_dependent4.onnx" "${D[@]}" --sparsity 0.5 --alloc global -o "$WORK/dep_prune.onnx" --json > "$WORK/prune.json"
approx "$(json "$WORK/prune.json" "['sparsity']")" 0.5 0.01 || die "prune: sparsity not reached"

# Low-rank and pruning of the opset-17 model (MatMul and bias-free Gemm weights).
"$NNC" lowrank "$Z/opset17_mix.onnx" "${D[@]}" --keep 0.5 -o "$WORK/mix_lr.onnx" --json > "$WORK/lr.json"
approx "$(json "$WORK/lr.json" "['top1_after']")" "$(ort_top1 "$WORK/mix_lr.onnx")" 0.0001 || die "lowrank: ONNX Runtime disagrees"
"$NNC" prune "$Z/opset17_mix.onnx" "${D[@]}" --sparsity 0.7 -o "$WORK/mix_p.onnx" --json > "$WORK/mp.json"
approx "$(json "$WORK/mp.json" "['top1_after']")" "$(ort_top1 "$WORK/mix_p.onnx")" 0.0001 || die "prune: ONNX Runtime disagrees"
# --share-other: LayerNormalization's scale and shift and PRelu's slope join the codebook (no fp32 left).
"$NNC" share "$Z/opset17_mix.onnx" "${D[@]}" --share-biases --share-other --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 \
  -o "$WORK/mix_s.onnx" --nnc "$WORK/mix_s.nnc" --json > "$WORK/ms.json"
approx "$(json "$WORK/ms.json" "['top1_after']")" "$(ort_top1 "$WORK/mix_s.onnx")" 0.0001 || die "share --share-other: ONNX Runtime disagrees"
"$NNC" info "$WORK/mix_s.nnc" > "$WORK/ms.info"
grep -q "raw fp32 0 B" "$WORK/ms.info" || die "share --share-other: fp32 tensors left: $(sed -n 2p "$WORK/ms.info")"
grep -Eq "^  norm.weight .* indexed" "$WORK/ms.info" || die "share --share-other: the LayerNorm scale is not in the codebook"
# A model without normalisation metadata and no --mean/--std: the normalisation is inferred on
# held-out training images when one candidate is clearly best, recorded in what we write, and
# the accuracy equals the one with the given values. tests/fixtures/pytorch/cnn_bn.onnx (trained
# with Fashion-MNIST's 0.2860/0.3530, no metadata) has a clear best; LeNet-5 without its
# metadata does not (its own mean/std and MNIST's constants tie), so the command asks.
P="$ROOT/tests/fixtures/pytorch/cnn_bn.onnx"
"$NNC" eval "$P" --mean 0.2860 --std 0.3530 --json -q > "$WORK/meta.json"
"$NNC" eval "$P" --json 2> "$WORK/nometa.err" > "$WORK/nometa.json"
grep -q "no input normalisation metadata and no mean/std given: chose mean 0.286" "$WORK/nometa.err" || die "normalisation not inferred: $(cat "$WORK/nometa.err")"
approx "$(json "$WORK/nometa.json" "['top1']")" "$(json "$WORK/meta.json" "['top1']")" 0.002 || die "inferred normalisation changes top-1"
"$NNC" prune "$P" --sparsity 0.3 --alloc global -o "$WORK/nometa_p.onnx" -q --json > /dev/null
$PY - "$WORK/nometa_p.onnx" <<'PYEOF' || die "inferred normalisation not recorded in the written model"
import sys, onnx
keys = {p.key for p in onnx.load(sys.argv[1]).metadata_props}; sys.exit(0 if "nncompress.input_mean" in keys else 1)
PYEOF
$PY - "$ROOT/models/lenet5.onnx" "$WORK/nometa.onnx" <<'PYEOF'
import sys, onnx
m = onnx.load(sys.argv[1]); del m.metadata_props[:]; onnx.save(m, sys.argv[2])
PYEOF
expect_error "--mean missing: the model has no input normalisation metadata and no candidate is clearly best" \
  "$NNC" eval "$WORK/nometa.onnx" -q
# Initializers also listed as graph inputs (opset 11, keep_initializers_as_inputs=True): every
# command's output keeps no input that lost its initializer, and ONNX Runtime agrees.
I="$Z/inputs_op11.onnx"
"$NNC" lowrank "$I" "${D[@]}" --keep 0.6 -o "$WORK/in_lr.onnx" --json > "$WORK/in_lr.json"
approx "$(json "$WORK/in_lr.json" "['top1_after']")" "$(ort_top1 "$WORK/in_lr.onnx")" 0.0001 || die "lowrank (initializers as inputs): ONNX Runtime disagrees"
"$NNC" prune "$I" "${D[@]}" --sparsity 0.5 -o "$WORK/in_p.onnx" --nnc "$WORK/in_p.nnc" --json > "$WORK/in_p.json"
approx "$(json "$WORK/in_p.json" "['top1_after']")" "$(ort_top1 "$WORK/in_p.onnx")" 0.0001 || die "prune (initializers as inputs): ONNX Runtime disagrees"
"$NNC" share "$I" "${D[@]}" --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 -o "$WORK/in_s.onnx" --json > "$WORK/in_s.json"
approx "$(json "$WORK/in_s.json" "['top1_after']")" "$(ort_top1 "$WORK/in_s.onnx")" 0.0001 || die "share (initializers as inputs): ONNX Runtime disagrees"
# IR version 3 (opset 7): the factors and the codebook that lowrank and share add are listed as
# graph inputs too, or the checker (and ONNX Runtime) reject the model.
R="$Z/ir3_op7.onnx"
"$NNC" lowrank "$R" "${D[@]}" --keep 0.5 -o "$WORK/ir3_lr.onnx" --json > "$WORK/ir3_lr.json"
approx "$(json "$WORK/ir3_lr.json" "['top1_after']")" "$(ort_top1 "$WORK/ir3_lr.onnx")" 0.0001 || die "lowrank (IR 3): ONNX Runtime disagrees"
"$NNC" share "$R" "${D[@]}" --pop 8 --gens 2 --max-merge-evals 10 --max-drop 50 -o "$WORK/ir3_s.onnx" --json > "$WORK/ir3_s.json"
approx "$(json "$WORK/ir3_s.json" "['top1_after']")" "$(ort_top1 "$WORK/ir3_s.onnx")" 0.0001 || die "share (IR 3): ONNX Runtime disagrees"
# A model this small (2.5 kB of parameters) compresses to a container larger than its parameters:
# the ratio says so (< 1) and one line on stderr explains it.
"$NNC" prune "$Z/opset18_se.onnx" --mean 0.2860 --std 0.3530 --sparsity 0.1 --alloc global --no-comparison \
  -o "$WORK/se_p.onnx" --json > "$WORK/se_p.json" 2> "$WORK/se_p.err"
$PY -c "import json,sys; sys.exit(0 if json.load(open('$WORK/se_p.json'))['ratio'] < 1 else 1)" || die "tiny model: ratio not below 1"
grep -q "is larger than the model's fp32 parameters" "$WORK/se_p.err" || die "tiny model: no note on the ratio below 1"
echo "1 passed, 0 failed"
