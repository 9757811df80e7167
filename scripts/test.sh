#!/usr/bin/env bash
# Sets up (installs what is missing, builds) and runs the whole test suite, unit and e2e, then
# the sanitizer pass (scripts/sanitize.sh: the LibTorch-free libraries and their tests under
# AddressSanitizer + UndefinedBehaviorSanitizer, the fuzz inputs, a 30 s fuzz smoke per target).
# The sanitizer pass runs when no ctest arguments are given; NNC_SANITIZE_PASS=0/1 decides.
# Usage: bash scripts/test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# ctest runs as many tests at once as there are cores: one intra-op thread each, or two tests'
# parallel regions wait on each other's threads (a test of seconds took 10-20x longer).
export NNC_THREADS="${NNC_THREADS:-1}"
ctest --test-dir build -j "$(nproc)" --output-on-failure --timeout 1500 "$@"
default_pass=$([ $# -eq 0 ] && echo 1 || echo 0)
if [ "${NNC_SANITIZE_PASS:-$default_pass}" = 1 ]; then bash scripts/sanitize.sh; fi
