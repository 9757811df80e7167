# Crash safety and resume: a share run killed with kill -9 (and one stopped by Ctrl-C) after some
# evaluations, a finetune run killed after its first checkpoint, a prune climb and a fit run
# killed mid-way, rerun with the same command, resume from their run state and
# write byte-identical .onnx and .nnc files to those of uninterrupted runs; the run state is gone
# once the outputs are written.
source "$(dirname "$0")/lib.sh"
M="$ROOT/models/lenet5.onnx"
export NNC_RUN_STATE_DIR="$WORK/state"
# Waits until the glob in $NNC_RUN_STATE_DIR names a file larger than $2 bytes (or the run ends).
wait_for_state() {
  local pattern="$1" bytes="$2" pid="$3"
  for _ in $(seq 1 1200); do
    for f in $NNC_RUN_STATE_DIR/$pattern; do
      [ -f "$f" ] && [ "$(stat -c %s "$f")" -gt "$bytes" ] && return 0
    done
    kill -0 "$pid" 2>/dev/null || die "the run ended before its state reached $bytes bytes"
    sleep 0.05
  done
  die "no run state $pattern after 60 s"
}
# Dies if a run writing to $1 still runs after it was killed.
still_running() { ! pgrep -f -- "-o $1" > /dev/null || die "a killed run writing $1 still runs"; }
# kill_and_rerun PATTERN RUN OUT: RUN OUT in the background, killed with kill -9 once its run
# state PATTERN exists, then RUN OUT again (in the foreground, to the end).
kill_and_rerun() {
  local pattern="$1" run="$2" out="$3"
  EXEC=exec "$run" "$out" & local pid=$!
  wait_for_state "$pattern" 0 $pid
  kill -9 $pid; wait $pid 2>/dev/null || true
  still_running "$out.onnx"
  "$run" "$out"
}
same_outputs() {
  cmp "$1.onnx" "$2.onnx" || die "$3: the resumed ONNX differs from the uninterrupted one"
  cmp "$1.nnc" "$2.nnc" || die "$3: the resumed .nnc differs from the uninterrupted one"
  [ -z "$(ls -A "$NNC_RUN_STATE_DIR")" ] || die "$3: run state left after the outputs were written: $(ls "$NNC_RUN_STATE_DIR")"
}

small_fashion_mnist "$WORK/fm"   # seconds per run
DATA=(--data "$WORK/fm" --val 300 --calib 256 --threads 2)

# share (extended mode: search, hold-out bisection, merge walk all go through the log)
# Background runs go through `EXEC=exec`, so that $! is nncompress itself (not a subshell that a
# signal would stop while nncompress ran on).
share() { ${EXEC:-} "$NNC" share "$M" -o "$1.onnx" --nnc "$1.nnc" --pop 8 --gens 2 --max-merge-evals 8 --max-drop 1.0 "${DATA[@]}" \
  --json -q > "$1.json"; }
share "$WORK/s_ref"
[ -z "$(ls -A "$NNC_RUN_STATE_DIR")" ] || die "share: run state left after a complete run"
EVALS=$(json "$WORK/s_ref.json" "['evaluations']")
# A journal record is 85 bytes, plus one byte per validation image (300 here) when it is an early-exit
# reference: past 1,500 bytes some evaluations are logged.
EXEC=exec share "$WORK/s" & pid=$!
wait_for_state "share-*.journal" 1500 $pid
kill -9 $pid; wait $pid 2>/dev/null || true
still_running "$WORK/s.onnx"
[ ! -e "$WORK/s.onnx" ] && [ ! -e "$WORK/s.nnc" ] || die "share: outputs written before the kill"
LOGGED=$(ls $NNC_RUN_STATE_DIR/share-*.journal | wc -l)
[ "$LOGGED" = 1 ] || die "share: expected one journal, found $LOGGED"
share "$WORK/s"
RESUMED=$(json "$WORK/s.json" "['evaluations_resumed']")
[ "$RESUMED" -ge 2 ] || die "share: $RESUMED evaluations resumed"
[ "$(json "$WORK/s.json" "['evaluations']")" = "$EVALS" ] || die "share: evaluation count differs after resuming"
same_outputs "$WORK/s" "$WORK/s_ref" share
echo "ok: share killed after $RESUMED evaluations ($EVALS validation evaluations in all) resumes to identical files"

# Ctrl-C (SIGINT): the run stops cleanly, writes what it has (exit 130) and keeps its run state;
# the same command rerun resumes and writes the uninterrupted run's files.
EXEC=exec share "$WORK/i" & pid=$!
wait_for_state "share-*.journal" 1500 $pid
kill -INT $pid
set +e; wait $pid; rc=$?; set -e
[ $rc = 130 ] || die "share: exit $rc after Ctrl-C, expected 130"
[ "$(ls $NNC_RUN_STATE_DIR/share-*.journal | wc -l)" = 1 ] || die "share: run state not kept after Ctrl-C"
share "$WORK/i"
IRESUMED=$(json "$WORK/i.json" "['evaluations_resumed']")
[ "$IRESUMED" -ge 2 ] || die "share after Ctrl-C: $IRESUMED evaluations resumed"
same_outputs "$WORK/i" "$WORK/s_ref" "share after Ctrl-C"
echo "ok: share stopped by Ctrl-C after $IRESUMED evaluations resumes to identical files"

# Epochs here take ~0.1 s: 30 of them leave the kill seconds to land before the run ends.
finetune() { ${EXEC:-} "$NNC" finetune "$M" --epochs 30 -o "$1.onnx" --nnc "$1.nnc" "${DATA[@]}" --json -q > "$1.json"; }
finetune "$WORK/f_ref"
[ "$(json "$WORK/f_ref.json" "['epochs']")" = 30 ] || die "finetune: 30 epochs expected"
kill_and_rerun "finetune-*.ckpt" finetune "$WORK/f"
FRESUMED=$(json "$WORK/f.json" "['epochs_resumed']")
[ "$FRESUMED" -ge 1 ] && [ "$FRESUMED" -lt 30 ] || die "finetune: $FRESUMED epochs resumed, expected 1 to 29"
same_outputs "$WORK/f" "$WORK/f_ref" finetune
echo "ok: finetune killed after epoch $FRESUMED of 30 resumes to identical files"
# prune climbing its schedule (--max-drop with fine-tuning): killed once the first step's
# fine-tuning checkpoint exists; the rerun takes the curves from the cache, resumes the
# fine-tuning it was in from the checkpoint and writes the uninterrupted run's files.
prune() { ${EXEC:-} "$NNC" prune "$M" --max-drop 3 --finetune-epochs 2 --schedule-a 0.4 --grid-step 0.05 --rd-passes 1 \
  --no-comparison -o "$1.onnx" --nnc "$1.nnc" "${DATA[@]}" --json -q > "$1.json"; }
prune "$WORK/p_ref"
[ -z "$(ls -A "$NNC_RUN_STATE_DIR")" ] || die "prune: run state left after a complete run"
PSTEPS=$(json "$WORK/p_ref.json" "['steps'].__len__()")
[ "$PSTEPS" -ge 2 ] || die "prune: the climb took $PSTEPS steps, expected at least 2"
kill_and_rerun "finetune-*.ckpt" prune "$WORK/p"
[ "$(json "$WORK/p.json" "['steps'].__len__()")" = "$PSTEPS" ] || die "prune: the resumed climb took other steps"
same_outputs "$WORK/p" "$WORK/p_ref" prune
echo "ok: prune killed during its climb ($PSTEPS steps) resumes to identical files"
# fit: killed after its first ADMM checkpoint; the rerun resumes ADMM (weights, duals, targets,
# rho, option table) and writes the uninterrupted run's files.
fit() { ${EXEC:-} "$NNC" fit "$M" --size 16KB --epochs 4 --masked-epochs 3 --finetune-epochs 1 -o "$1.onnx" --nnc "$1.nnc" \
  "${DATA[@]}" --json -q > "$1.json"; }
fit "$WORK/a_ref"
[ -z "$(ls -A "$NNC_RUN_STATE_DIR")" ] || die "fit: run state left after a complete run"
kill_and_rerun "fit-joint-*.ckpt" fit "$WORK/a"
ARESUMED=$(json "$WORK/a.json" "['admm_epochs_resumed']")
[ "$ARESUMED" -ge 1 ] && [ "$ARESUMED" -lt 7 ] || die "fit: $ARESUMED ADMM epochs resumed, expected 1 to 6"
same_outputs "$WORK/a" "$WORK/a_ref" fit
echo "ok: fit killed after ADMM epoch $ARESUMED of 7 resumes to identical files"
echo "1 passed, 0 failed"
