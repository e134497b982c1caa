#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the
# demo. Until the training loop lands, the demo is a short training-step
# benchmark of a small BERT on 2 threads.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install-deps.sh
cmake -B build -S . -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
build/mtbert bench configs/bench/bert-mini.yaml
