# Scale-out with MPI: share's NSGA-II and prune's rate-distortion curves shared out over the ranks
# of `mpirun -np N` write byte-identical .onnx and .nnc files for N = 1, 2, 3 and without mpirun
# (each run with its own run state and caches); the other ranks really measure (each did items);
# a rank that hangs stops the job with one clear error within the time limit; a rank that dies
# ends the job and the rerun resumes from the run state to the same files; fine-tuning on 2 ranks
# ends within a float tolerance of 1 rank's; --distributed off
# under mpirun with several ranks is refused.
source "$(dirname "$0")/lib.sh"
M="$ROOT/models/lenet5.onnx"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1  # the CI machines run as root
command -v mpirun > /dev/null || die "mpirun not found (openmpi-bin; scripts/setup.sh installs it)"
small_fashion_mnist "$WORK/fm"
DATA=(--data "$WORK/fm" --val 300 --calib 256 --threads 1)

# run N NAME ARGS...: the command under `mpirun -np N` (N = 0: without mpirun), its own state.
run() {
  local n="$1" name="$2"; shift 2
  local pre=()
  [ "$n" -gt 0 ] && pre=(mpirun --oversubscribe -np "$n")
  NNC_CACHE_DIR="$WORK/cache-$name" "${pre[@]}" "$NNC" "$@" -o "$WORK/$name.onnx" --nnc "$WORK/$name.nnc" --json \
    > "$WORK/$name.json" 2> "$WORK/$name.err" || { cat "$WORK/$name.err" >&2; die "$name failed"; }
}
same_files() {
  cmp "$WORK/$1.nnc" "$WORK/$2.nnc" || die "$2.nnc differs from $1.nnc"
  cmp "$WORK/$1.onnx" "$WORK/$2.onnx" || die "$2.onnx differs from $1.onnx"
}

SHARE=(share "$M" "${DATA[@]}" --pop 16 --gens 4)
PRUNE=(prune "$M" "${DATA[@]}" --sparsity 0.8)
for n in 0 1 2 3; do
  run $n share$n "${SHARE[@]}"
  run $n prune$n "${PRUNE[@]}"
done
for n in 1 2 3; do
  same_files share0 share$n
  same_files prune0 prune$n
done
grep -q "nsga2: candidates measured by 3 ranks" "$WORK/share3.err" || die "share did not use 3 ranks"
grep -q "(3 ranks)" "$WORK/prune3.err" || die "prune's curves did not use 3 ranks"
echo "ok: share and prune write identical files without mpirun and with 1, 2 and 3 ranks"
$PY - "$WORK" <<'PYEOF'
import json, sys
w = sys.argv[1]
for name in ("share", "prune"):
    ratios = {json.load(open(f"{w}/{name}{n}.json"))["ratio"] for n in range(4)}
    assert len(ratios) == 1, (name, ratios)
    print(f"ok: {name} ratio {ratios.pop():.2f}x for every rank count")
PYEOF

# Fine-tuning, data-parallel: the same steps up to the order of float additions (LeNet-5 has no
# BatchNorm, whose statistics would be each shard's own): weights within 1e-3 of the largest of
# their tensor, test top-1 within 0.5 pt.
FT=(finetune "$M" "${DATA[@]}" --epochs 2 --distill 0.5)
run 1 ft1 "${FT[@]}"
run 2 ft2 "${FT[@]}"
grep -q "training data-parallel on 2 ranks" "$WORK/ft2.err" || die "finetune did not train on 2 ranks"
$PY - "$WORK" <<'PYEOF'
import json, sys
import numpy as np, onnx
from onnx import numpy_helper
w = sys.argv[1]
a = {t.name: numpy_helper.to_array(t) for t in onnx.load(f"{w}/ft1.onnx").graph.initializer}
b = {t.name: numpy_helper.to_array(t) for t in onnx.load(f"{w}/ft2.onnx").graph.initializer}
assert a.keys() == b.keys()
rel = max(float(np.abs(a[k] - b[k]).max() / (np.abs(a[k]).max() + 1e-12)) for k in a)
t1, t2 = (json.load(open(f"{w}/ft{n}.json"))["top1_after"] for n in (1, 2))
assert rel < 1e-3, f"weights of 1 and 2 ranks differ by {rel:.2e} of their tensor's largest"
assert abs(t1 - t2) <= 0.005, f"test top-1 {t1} (1 rank) vs {t2} (2 ranks)"
print(f"ok: fine-tuning on 2 ranks: weights within {rel:.1e} of 1 rank's, test top-1 {100*t1:.2f}% vs {100*t2:.2f}%")
PYEOF

# A rank that hangs (stopped with SIGSTOP): one clear error within the time limit, exit 1.
pid_of_rank() {  # pid_of_rank OUT R: the rank-R process of the run writing OUT
  for p in $(pgrep -f -- "-o $1" || true); do
    grep -qz "^OMPI_COMM_WORLD_RANK=$2\$" /proc/$p/environ 2>/dev/null && { echo $p; return 0; }
  done
  return 1
}
# wait_for_rank OUT R PID: the rank's pid once the run is in its search (run state written).
wait_for_search() {
  for _ in $(seq 1 600); do
    ls "$WORK/cache-$1/runs/"share-*.journal > /dev/null 2>&1 && [ "$(stat -c %s "$WORK/cache-$1/runs/"share-*.journal)" -gt 2000 ] && return 0
    kill -0 "$2" 2>/dev/null || die "$1 ended before its search"
    sleep 0.05
  done
  die "$1: no run state after 30 s"
}
LONG=(share "$M" "${DATA[@]}" --pop 32 --gens 12)
start=$(date +%s)
set +e
# (timeout: a job that does not notice the hung rank fails this check instead of the test's limit)
NNC_RANK_TIMEOUT=5 NNC_CACHE_DIR="$WORK/cache-hang" timeout -k 5 120 mpirun --oversubscribe -np 2 "$NNC" "${LONG[@]}" \
  -o "$WORK/hang.onnx" --nnc "$WORK/hang.nnc" > /dev/null 2> "$WORK/hang.err" &
job=$!
set -e
wait_for_search hang $job
kill -STOP "$(pid_of_rank "$WORK/hang.onnx" 1)"
set +e; wait $job; rc=$?; set -e
took=$(( $(date +%s) - start ))
[ $rc -ne 0 ] || die "a hanging rank: exit 0"
grep -q "nncompress: error: rank 1 did not answer within 5 s" "$WORK/hang.err" || { cat "$WORK/hang.err"; die "no clear error for a hanging rank"; }
[ $took -lt 60 ] || die "a hanging rank stopped the job after $took s"
[ ! -e "$WORK/hang.onnx" ] || die "a failed job wrote its output"
echo "ok: a hanging rank ends the job in $took s with: $(grep 'did not answer' "$WORK/hang.err")"

# A rank that dies (kill -9): the job ends, non-zero; the rerun resumes and writes the same files
# as an uninterrupted run.
run 2 long "${LONG[@]}"
set +e
NNC_CACHE_DIR="$WORK/cache-died" timeout -k 5 300 mpirun --oversubscribe -np 2 "$NNC" "${LONG[@]}" \
  -o "$WORK/died.onnx" --nnc "$WORK/died.nnc" --json > /dev/null 2> "$WORK/died.err" &
job=$!
set -e
wait_for_search died $job
kill -9 "$(pid_of_rank "$WORK/died.onnx" 1)"
set +e; wait $job; rc=$?; set -e
[ $rc -ne 0 ] || die "a dead rank: exit 0"
[ ! -e "$WORK/died.onnx" ] || die "a failed job wrote its output"
run 2 died "${LONG[@]}"
grep -q "resuming: [0-9]* evaluations" "$WORK/died.err" || die "the rerun did not resume"
same_files long died
echo "ok: a dead rank ends the job (exit $rc); the rerun $(grep -o 'resuming: [0-9]* evaluations' "$WORK/died.err") and writes the same files"

expect_error "--distributed off, but mpirun started 2 ranks" \
  bash -c "mpirun --oversubscribe -np 2 '$NNC' eval '$M' --data '$WORK/fm' --distributed off 2>&1 | grep -m1 'nncompress: error' >&2; exit 1"
echo "ok: distributed"
