#!/usr/bin/env bash
# Scale-out on this machine: ResNet-20's share search and prune curves with N = 1 and 2 ranks
# (mpirun, one thread per rank) and, as the other use of the same cores, one process with 2
# threads. Prints each run's wall time, the time of the distributed phase (NSGA-II's search,
# the rate-distortion curves) and the efficiency T1 / (N * TN) of both, and checks that every
# run wrote the same .nnc.
# Usage: bash bench/distributed.sh [build dir]   (about 15 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${1:-build}"
NNC="$BUILD/src/cli/nncompress"
W="$(mktemp -d /tmp/nnc-dist-bench.XXXXXX)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
echo "CPU: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p'), $(nproc) cores, ISA: $(grep -o -m1 -w 'avx512f' /proc/cpuinfo || echo avx2)"
echo "Open MPI: $(mpirun --version | head -1)"

# run NAME RANKS THREADS ARGS...: RANKS 0 = without mpirun.
run() {
  local name="$1" n="$2" threads="$3"; shift 3
  local pre=()
  [ "$n" -gt 0 ] && pre=(mpirun --oversubscribe --bind-to none -np "$n")
  local t0; t0=$(date +%s.%N)
  NNC_CACHE_DIR="$W/cache-$name" NNC_RUN_STATE_DIR=off "${pre[@]}" "$NNC" "$@" --threads "$threads" \
    -o "$W/$name.onnx" --nnc "$W/$name.nnc" --json -q > "$W/$name.json"
  echo "$name $(echo "$(date +%s.%N) - $t0" | bc)" >> "$W/times"
}
SHARE=(share models/resnet20.onnx --pop 32 --gens 8 --max-evals 0)
PRUNE=(prune models/resnet20.onnx --sparsity 0.7)
FINETUNE=(finetune models/resnet20.onnx --epochs 1 --distill 0.5)
for cfg in "1 1" "2 1" "0 2"; do
  set -- $cfg
  run "share-n$1-t$2" "$1" "$2" "${SHARE[@]}"
  run "prune-n$1-t$2" "$1" "$2" "${PRUNE[@]}"
  run "finetune-n$1-t$2" "$1" "$2" "${FINETUNE[@]}"
done
/usr/bin/python3 - "$W" <<'PYEOF'
import json, sys, hashlib
w = sys.argv[1]
times = dict(l.split() for l in open(f"{w}/times"))
for method, phase in (("share", "search_seconds"), ("prune", "curve_seconds"), ("finetune", "seconds")):
    rows = {}
    for cfg in ("n1-t1", "n2-t1", "n0-t2"):
        j = json.load(open(f"{w}/{method}-{cfg}.json"))
        nnc = hashlib.sha256(open(f"{w}/{method}-{cfg}.nnc", "rb").read()).hexdigest()[:12]
        by = j.get("search_evaluations_by_rank")
        busy = j.get("search_seconds_by_rank")
        rows[cfg] = (float(times[f"{method}-{cfg}"]), j[phase], by, busy and [round(b, 1) for b in busy],
                     j.get("distributed_bytes"), nnc, j["top1_after"])
    t1, p1 = rows["n1-t1"][0], rows["n1-t1"][1]
    print(f"\n{method} ResNet-20 (phase: {phase}):")
    print("| run | wall s | phase s | efficiency wall | efficiency phase | items by rank | seconds measuring by rank | bytes between ranks | .nnc sha256 | test top-1 |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for cfg, label, n in (("n1-t1", "mpirun -np 1, 1 thread", 1), ("n2-t1", "mpirun -np 2, 1 thread each", 2), ("n0-t2", "one process, 2 threads", 1)):
        t, p, by, busy, wire, nnc, top1 = rows[cfg]
        e = "" if cfg == "n0-t2" else f"{t1 / (n * t):.2f}"
        ep = "" if cfg == "n0-t2" else f"{p1 / (n * p):.2f}"
        print(f"| {label} | {t:.1f} | {p:.1f} | {e} | {ep} | {by or ''} | {busy or ''} | {wire or ''} | {nnc} | {100 * top1:.2f}% |")
    print("same .nnc for every run:", len({r[5] for r in rows.values()}) == 1)
PYEOF
rm -rf "$W"
