#!/usr/bin/env bash
# Sets up (installs what is missing, builds) and runs the whole test suite, unit and e2e.
# Usage: bash scripts/test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ctest --test-dir build -j "$(nproc)" --output-on-failure --timeout 1500 "$@"
