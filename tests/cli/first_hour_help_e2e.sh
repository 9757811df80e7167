# Help and names (issue 24, item 9), beside first_hour_e2e.sh: expert flags under "Advanced",
# negatable flags shown as two plain flags, one spelling of --augment, reports only with
# --report, eval without the split options it ignored, no "after fine-tuning" without
# fine-tuning, info --json shapes as arrays; and the README's claims about which command takes
# which options.
source "$(dirname "$0")/lib.sh"
M="$ROOT/models/lenet5.onnx"
expect_usage() {
  local want="$1"; shift
  set +e; local out; out=$("$@" 2>&1 >/dev/null); local rc=$?; set -e
  [ $rc -eq 2 ] || die "expected exit status 2 (usage), got $rc: $*"
  [[ "$out" == "nncompress: error: $want" ]] || die "expected 'nncompress: error: $want', got: $out"
  echo "ok: $want"
}
# section HELP_FILE NAME: the lines of one section of a --help text ("Options", "Advanced").
section() { awk -v s="$2:" '$0 == s {on = 1; next} /^[A-Z][A-Za-z ]*:$/ {on = 0} on' "$1"; }

# Expert and benchmarking flags are in an "Advanced" section, the rest is not.
"$NNC" prune --help > "$WORK/prune.help"
for f in --no-activation-cache --worst-case --zero-data --no-curve-cache --curve-cache --grid-step --coarse \
         --rd-passes --schedule-a --distortion; do
  section "$WORK/prune.help" Advanced | grep -q -- "^  $f " || die "prune --help: $f is not under Advanced"
  section "$WORK/prune.help" Options | grep -q -- "^  $f " && die "prune --help: $f is among the main options"
done
for f in --sparsity --alloc --finetune-epochs --report --data; do
  section "$WORK/prune.help" Options | grep -q -- "^  $f " || die "prune --help: $f is not among the main options"
done
"$NNC" share --help > "$WORK/share.help"
for f in --k-min --k-max --max-groups --max-stride --max-merge-evals --share-biases --bias-correction \
         --no-bias-correction --error-feedback --no-error-feedback --confidence; do
  section "$WORK/share.help" Advanced | grep -q -- "^  $f " || die "share --help: $f is not under Advanced"
done
# Negatable flags read as two flags: no "--x,--no-x{false}".
grep -q '{false}\|{true}' "$WORK/share.help" && die "share --help shows a CLI11 default marker: $(grep '{false}' "$WORK/share.help")"
grep -q -- "^  --no-bias-correction  *No bias correction (default in paper mode)$" "$WORK/share.help" \
  || die "share --help: --no-bias-correction on its own line"
expect_usage "--bias-correction and --no-bias-correction: give one of them" \
  "$NNC" share "$M" -o "$WORK/x.onnx" --bias-correction --no-bias-correction
echo "ok: help sections"

# One spelling of augmentation: --augment auto|on|off, as in finetune, prune and lowrank.
"$NNC" train --help > "$WORK/train.help"
grep -q -- "^  --augment TEXT=auto " "$WORK/train.help" || die "train --help: --augment TEXT=auto"
expect_usage "unknown option --no-augment for 'train' (did you mean --augment?)" \
  "$NNC" train --arch lenet5 -o "$WORK/t.onnx" --no-augment
expect_usage "--augment 'maybe': expected auto, on or off" "$NNC" train --arch lenet5 -o "$WORK/t.onnx" --augment maybe

# eval takes the data options it uses, not the split options it ignored.
expect_usage "unknown option --val for 'eval'" "$NNC" eval "$M" --val 1000
expect_usage "unknown option --calib for 'eval'" "$NNC" eval "$M" --calib 1024
expect_usage "unknown option --seed for 'eval' (did you mean --std?)" "$NNC" eval "$M" --seed 1
"$NNC" eval --help > "$WORK/eval.help"
for f in --data --mean --std --batch; do grep -q -- "^  $f " "$WORK/eval.help" || die "eval --help lacks $f"; done
# README: info, run, unpack and methods read no data; the measuring commands take --data; every
# command takes --json.
# (Help texts go through a file: `grep -q` closing a pipe early fails the pipeline under pipefail.)
for c in info run unpack methods; do
  "$NNC" $c --help > "$WORK/$c.help"
  grep -q -- "--data" "$WORK/$c.help" && die "$c --help offers --data"
  grep -q -- "^  --json " "$WORK/$c.help" || die "$c --help lacks --json"
done
for c in eval train share prune lowrank finetune; do
  "$NNC" $c --help > "$WORK/$c.help"
  grep -q -- "^  --data TEXT=fashion-mnist " "$WORK/$c.help" || die "$c --help lacks --data"
done
echo "ok: options as the README says"

# info --json: input and output shapes are arrays like initializer shapes.
"$NNC" info "$M" --json > "$WORK/info.json"
$PY - "$WORK/info.json" <<'PYEOF' || die "info --json shapes"
import json, sys
j = json.load(open(sys.argv[1]))
assert j["inputs"] == [{"name": "input", "shape": ["N", 1, 28, 28]}], j["inputs"]
assert all(isinstance(o["shape"], list) for o in j["outputs"]), j["outputs"]
assert j["initializers"][0]["shape"] == [20, 1, 5, 5], j["initializers"][0]
PYEOF
"$NNC" info "$M" > "$WORK/info.txt"
grep -q "^  input  input \[N,1,28,28\]$" "$WORK/info.txt" || die "info: input shape as text"
echo "ok: info shapes"

# prune without fine-tuning says so (it said "after fine-tuning" with 0 epochs); the figure is the
# command's own test top-1.
"$NNC" prune "$M" --sparsity 0.5 --alloc uniform --no-comparison -o "$WORK/p.onnx" --calib 256 --json \
  > "$WORK/p.json" 2> "$WORK/p.err"
WANT="prune step 1: sparsity 0.500, test top-1 $($PY -c "print(f'{100 * $(json "$WORK/p.json" "['top1_after']"):.2f}')")% (no fine-tuning)"
grep -qxF "$WANT" "$WORK/p.err" || die "prune: expected '$WANT' in: $(cat "$WORK/p.err")"
grep -q "after fine-tuning" "$WORK/p.err" && die "prune: 'after fine-tuning' without fine-tuning"
# prune writes a report only with --report, and so does share.
[ -e "$WORK/p.onnx.report" ] && die "prune wrote a report without --report"
# (--max-evals bounds the whole step: the merge gets what the search and the hold-out checks left;
# it was allowed its own 3,000.)
"$NNC" share "$M" -o "$WORK/s.onnx" --pop 8 --gens 1 --max-evals 24 --max-drop 5 --val 300 --json > "$WORK/s.json" \
  2> "$WORK/s.err"
[ -e "$WORK/s.onnx.report" ] && die "share wrote a report without --report"
$PY - "$WORK/s.json" "$WORK/s.err" <<'PYEOF' || die "share --max-evals 24 bounds the merge"
import json, re, sys
j = json.load(open(sys.argv[1]))
assert "report" not in j, "share names a report it did not write"
left = 24 - j["search_evaluations"]
budgets = {int(m) for m in re.findall(r"^rd merge \[\d+/(\d+)\]", open(sys.argv[2]).read(), re.M)}
assert max(budgets, default=0) <= max(0, left), (budgets, left)
assert j["merge_tried"] <= max(0, left), (j["merge_tried"], left)
print(f"ok: share --max-evals 24: {j['search_evaluations']} search, merge budget {budgets}, {j['merge_tried']} merge")
PYEOF
"$NNC" share "$M" -o "$WORK/s2.onnx" --report "$WORK/s2.report" --pop 8 --gens 1 --max-evals 8 --max-merge-evals 4 \
  --max-drop 5 --val 300 -q > "$WORK/s2.out"
grep -q "; report in $WORK/s2.report$" "$WORK/s2.out" || die "share --report: $(cat "$WORK/s2.out")"
for f in summary.json pareto.json pareto.csv front.svg; do [ -s "$WORK/s2.report/$f" ] || die "share --report: no $f"; done
echo "ok: reports and messages"
