# The README's tour, run as written: every ```console block's commands, from a folder laid out
# like the repository (build/src/cli/nncompress is the binary under test, models/ and tools/ the
# repository's), each command's output checked against the lines the README shows
# (tests/cli/readme_tour.py), the whole tour within NNC_TOUR_BUDGET seconds (default 300: the
# README promises a 5-minute tour). Without ONNX Runtime (tools/ort/node_modules, installed by scripts/setup.sh)
# the `node` commands cannot run and the test fails saying so.
source "$(dirname "$0")/lib.sh"
[ -d "$ROOT/tools/ort/node_modules/onnxruntime-node" ] \
  || die "ONNX Runtime is not installed: run scripts/setup.sh (or: cd tools/ort && npm ci --ignore-scripts)"
TOUR="$WORK/tour"
mkdir -p "$TOUR/build/src/cli"
ln -s "$(readlink -f "$NNC")" "$TOUR/build/src/cli/nncompress"
ln -s "$ROOT/models" "$TOUR/models"
ln -s "$ROOT/tools" "$TOUR/tools"
$PY "$ROOT/tests/cli/readme_tour.py" "$ROOT/README.md" "$TOUR" "${NNC_TOUR_BUDGET:-300}"
# What the tour wrote: the files it names exist, and ONNX Runtime's accuracy on the shared model
# is what share printed.
for f in out/l5.onnx out/l5.nnc out/l5.unpacked.onnx out/l5.report/summary.json out/l5.report/pareto.csv \
         out/l5.report/front.svg; do
  [ -s "$TOUR/$f" ] || die "the tour did not write $f"
done
(cd "$TOUR" && node tools/ort/ort_eval.js out/l5.onnx) > "$WORK/ort.json"
approx "$(json "$WORK/ort.json" "['top1']")" "$(json "$TOUR/out/l5.report/summary.json" "['top1_after']")" 0.0005 \
  || die "ONNX Runtime's top-1 on out/l5.onnx differs from share's"
echo "ok: README tour"
