#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine: installs whatever is missing (Debian
# packages; ONNX Runtime from npm for tests and benchmarks), then builds Release into build/.
# Usage: bash scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(cmake ninja-build g++ pkg-config zlib1g-dev
  libtorch-dev libonnx-dev libprotobuf-dev protobuf-compiler libpagmo-dev libeigen3-dev
  libcli11-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libgtest-dev libopenblas0-pthread
  dataset-fashion-mnist libonnx-testdata python3-torch python3-torchvision python3-onnx
  libyaml-cpp-dev chromium  # recipes; the headless check of compress's HTML report
  clang-14 libclang-rt-14-dev  # clang-14 + its runtimes: libFuzzer and the sanitizer pass
  liblsan0  # LeakSanitizer's runtime, preloaded into nncompress by errors_leaks_e2e
  pybind11-dev python3-dev python3-numpy python3-pytest  # the Python module and its tests
  libopenmpi-dev openmpi-bin)  # scale-out: mpirun -np N nncompress ...

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js with npm (Debian's nodejs, or a distribution that already bundles npm).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ONNX Runtime (CPU) for tests and benchmarks: its install script only fetches optional GPU
# parts from an unreachable host, hence --ignore-scripts.
if [ -f tools/ort/package.json ] && [ ! -d tools/ort/node_modules/onnxruntime-node ]; then
  (cd tools/ort && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi

JOBS="${NNC_JOBS:-$(nproc)}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j "$JOBS"
echo "setup: built build/src/cli/nncompress" >&2
