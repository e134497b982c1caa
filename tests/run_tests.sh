#!/usr/bin/env bash
# Builds mtbert and runs the whole test suite (the README's test command).
# GPU tests carry the label "gpu" and report SKIPPED without a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install-deps.sh
cmake -B build -S . -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
