# Outputs are written atomically: `kill -9` at random points of a short share and a short prune
# run never leaves a partial file at the -o / --nnc paths. Each path is afterwards either absent or
# byte-identical to the output of a complete run with the same seed (which `nncompress info`
# reads), whether a complete earlier output was there before the killed run or not. The kill
# points follow the run's progress, not the clock (run times vary with the machine's load):
# a random moment of its first seconds, the moment a temporary output file appears (a write in
# flight), and a random moment within 100 ms after the .nnc file appears (the ONNX file is written next).
source "$(dirname "$0")/lib.sh"
M="$ROOT/models/lenet5.onnx"
export NNC_RUN_STATE_DIR=off  # every killed run starts afresh
RANDOM=23                      # the same random points on every run of this test
small_fashion_mnist "$WORK/fm"   # seconds per run
DATA=(--data "$WORK/fm" --val 300 --calib 256 --threads 2 -q)
# Killed runs go through `EXEC=exec`, so that $! is nncompress itself (not a subshell that kill -9
# would end while nncompress ran on and finished its outputs).
share() { ${EXEC:-} "$NNC" share "$M" -o "$1.onnx" --nnc "$1.nnc" --mode paper --pop 8 --gens 2 --max-merge-evals 10 \
  --max-drop 1.0 "${DATA[@]}" > /dev/null; }
prune() { ${EXEC:-} "$NNC" prune "$M" --sparsity 0.8 --alloc global --no-comparison -o "$1.onnx" --nnc "$1.nnc" \
  "${DATA[@]}" > /dev/null; }
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# Starts `$cmd $out` and kills it with -9 once `trigger` is true; returns 1 if the run ended first.
run_and_kill() {
  local out="$1" trigger="$2"
  EXEC=exec $cmd "$out" & local pid=$!
  START=$(now_ms)
  while kill -0 $pid 2>/dev/null; do
    if $trigger "$out"; then
      kill -9 $pid 2>/dev/null && {
        wait $pid 2>/dev/null || true
        ! pgrep -f -- "-o $out.onnx" > /dev/null || die "$cmd: the killed run writing $out still runs"
        return 0
      }
    fi
    # A temporary file exists for milliseconds: that trigger polls without pausing.
    [ "$trigger" = temporary_file ] || sleep 0.002
  done
  wait $pid 2>/dev/null || true
  return 1
}
early() { [ $(( $(now_ms) - START )) -ge $DELAY ]; }
temporary_file() { compgen -G "$(dirname "$1")/.$(basename "$1").*tmp*" > /dev/null; }
after_nnc() {
  if [ -z "${SEEN:-}" ]; then [ -e "$1.nnc" ] && SEEN=$(now_ms); return 1; fi
  [ $(( $(now_ms) - SEEN )) -ge $DELAY ]
}
for cmd in share prune; do
  mkdir -p "$WORK/$cmd"
  $cmd "$WORK/$cmd/ref"
  "$NNC" info "$WORK/$cmd/ref.onnx" > /dev/null || die "$cmd: info cannot read the complete ONNX"
  "$NNC" info "$WORK/$cmd/ref.nnc" > /dev/null || die "$cmd: info cannot read the complete .nnc"
  killed=0 absent=0 complete=0 hits=""
  i=0
  for trigger in early temporary_file temporary_file after_nnc early after_nnc; do
    i=$((i + 1)); out="$WORK/$cmd/k$i"
    # The first two runs replace complete earlier outputs; the others write to fresh paths.
    # A trigger can miss (a temporary file lives for milliseconds, a loaded machine polls slowly):
    # up to three tries, each from the same starting state.
    for try in 1 2 3; do
      rm -f "$out.onnx" "$out.nnc"
      if (( i <= 2 )); then cp "$WORK/$cmd/ref.onnx" "$out.onnx"; cp "$WORK/$cmd/ref.nnc" "$out.nnc"; fi
      if [ $trigger = early ]; then DELAY=$(( 200 + RANDOM % 1500 )); else DELAY=$(( RANDOM % 100 )); fi
      SEEN=
      if run_and_kill "$out" $trigger; then killed=$((killed + 1)); hits+=" $trigger"; break; fi
      (( try < 3 )) || hits+=" ($trigger: ended first)"
    done
    for ext in onnx nnc; do
      if [ -e "$out.$ext" ]; then
        cmp -s "$out.$ext" "$WORK/$cmd/ref.$ext" || die "$cmd: $out.$ext after kill -9 ($trigger) is not a complete output"
        complete=$((complete + 1))
      else
        absent=$((absent + 1))
      fi
    done
  done
  [ $killed -ge 4 ] || die "$cmd: only $killed of 6 runs were still running when killed:$hits"
  left=$(find "$WORK/$cmd" -name '.*.tmp*' | wc -l)
  # Rerunning each killed command removes the temporary files its killed run left (their writer
  # no longer runs) and writes the complete outputs.
  for i in 1 2 3 4 5 6; do
    $cmd "$WORK/$cmd/k$i"
    for ext in onnx nnc; do cmp -s "$WORK/$cmd/k$i.$ext" "$WORK/$cmd/ref.$ext" || die "$cmd: rerun k$i.$ext differs"; done
  done
  after=$(find "$WORK/$cmd" -name '.*.tmp*')
  [ -z "$after" ] || die "$cmd: temporary files left after the reruns: $after"
  echo "ok: $cmd: killed at$hits; the 12 output paths afterwards: $complete complete, $absent absent, none partial ($left temporary files left beside them, removed by the reruns)"
done
echo "1 passed, 0 failed"
