# Latency-aware low-rank on the committed LeNet-5: layers measured slower when factored are kept
# dense, the most time lost first, as long as the others can still meet the budget. It compares
# measured times, so CMake runs it alone (RUN_SERIAL). fc1 (400k of the 431k parameters; factored
# 800 -> 142 -> 500) is close to break-even at batch 256: when it measures slower, keeping it dense
# cannot fit --keep 0.5, so it stays factored and the command says so; both outcomes are checked.
source "$(dirname "$0")/lib.sh"
M="$ROOT/models/lenet5.onnx"
"$NNC" lowrank "$M" --keep 0.5 --latency-aware --groups 1,2 -o "$WORK/la.onnx" --json > "$WORK/la.json" 2> "$WORK/la.err" ||
  die "latency-aware lowrank failed: $(tail -n 1 "$WORK/la.err")"
grep -q "latency-aware round 1: " "$WORK/la.err" || die "no latency-aware rounds reported: $(cat "$WORK/la.err")"
if grep -q "more would not fit keep 0.5" "$WORK/la.err"; then SLOWER_ALLOWED=1; else SLOWER_ALLOWED=0; fi
/usr/bin/python3 - "$WORK/la.json" "$SLOWER_ALLOWED" <<'PYEOF' || die "latency-aware results"
import json, sys
j = json.load(open(sys.argv[1])); slower_allowed = sys.argv[2] == "1"
assert j["latency_aware"] is True and j["groups"] == [1, 2], (j["latency_aware"], j["groups"])
factored = [l for l in j["layers"] if l["note"] == "factored"]
for l in factored:
    assert l["k"] in (1, 2), l
    # A factored layer is faster, unless the command said keeping more dense would not fit.
    assert l["latency_ms_factored"] < l["latency_ms_dense"] or slower_allowed, l
for l in j["layers"]:
    if l["note"].startswith("kept dense: factored"):
        assert l["k"] == 0 and l["params_after"] == l["params_before"], l
assert j["params_kept"] <= 0.5 + 1e-9, j["params_kept"]
PYEOF

# --budget latency on ResNet-20: the allocation counts FLOPs with channels rounded up to the SIMD
# block, so the 16-channel stage stays dense (no factored form is cheaper there) and the factored
# model is measured faster (the model predicts ~0.7 of the dense time at --keep 0.7; measured
# 0.72-0.75). A keep below what rank 1 everywhere needs is refused with the reachable minimum.
R="$ROOT/models/resnet20.onnx"
"$NNC" lowrank "$R" --keep 0.7 --budget latency --calib 256 -o "$WORK/lat.onnx" --json > "$WORK/lat.json" 2> "$WORK/lat.err" ||
  die "lowrank --budget latency failed: $(tail -n 1 "$WORK/lat.err")"
/usr/bin/python3 - "$WORK/lat.json" <<'PYEOF' || die "latency-budget results"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["budget"] == "latency" and j["simd_block"] in (8, 16), (j["budget"], j["simd_block"])
assert j["blocked_flops_kept"] <= 0.7 + 1e-9, j["blocked_flops_kept"]
assert j["flops_kept"] < 0.7, j["flops_kept"]
narrow = [l for l in j["layers"] if l["params_before"] == 16 * 16 * 9]
assert len(narrow) == 6 and all(l["k"] == 0 for l in narrow) if j["simd_block"] == 16 else True, narrow
assert any(l["note"] == "factored" for l in j["layers"])
assert j["latency_ms_after"] < j["latency_ms_before"], (j["latency_ms_after"], j["latency_ms_before"])
PYEOF
"$NNC" lowrank "$R" --keep 0.3 --budget latency -o "$WORK/lat2.onnx" 2> "$WORK/lat2.err" && die "--keep 0.3 --budget latency should fail"
grep -q "below what rank 1 in every decomposable layer needs (0\.[0-9]* of the model's blocked FLOPs)" "$WORK/lat2.err" ||
  die "unexpected error: $(cat "$WORK/lat2.err")"
[ "$(wc -l < "$WORK/lat2.err")" -eq 1 ] || die "error is not one line: $(cat "$WORK/lat2.err")"
echo "2 passed, 0 failed"
