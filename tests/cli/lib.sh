# Helpers for the e2e scripts: fail with a message, read a JSON field, compare numbers.
set -euo pipefail
NNC="$1"; ROOT="$2"; WORK="$3"
rm -rf "$WORK"; mkdir -p "$WORK"
export NNC_CACHE_DIR="$WORK/cache"  # curve caches stay inside the test directory
PY=/usr/bin/python3
die() { echo "FAIL: $*" >&2; exit 1; }
json() { $PY -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }
approx() { $PY -c "import sys; a,b,t=map(float,sys.argv[1:]); sys.exit(0 if abs(a-b)<=t else 1)" "$1" "$2" "$3"; }
# expect_error "message fragment" cmd...: the command must exit non-zero with one line containing the fragment.
expect_error() {
  local want="$1"; shift
  set +e; local out; out=$("$@" 2>&1 >/dev/null); local rc=$?; set -e
  [ $rc -ne 0 ] || die "expected failure: $*"
  [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] || die "expected one line, got: $out"
  [[ "$out" == *"$want"* ]] || die "expected '$want' in: $out"
  echo "ok: $want"
}
