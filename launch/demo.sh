#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, makes the
# bundled synthetic multi-task data and trains the demo model on it
# (configs/demo.yaml: topic + sentiment + NER, small BERT, 2 CPU threads).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/install-deps.sh
cmake -B build -S . -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)"
build/mtbert prepare --synthetic checkpoints/demo-data
# each demo run starts afresh in checkpoints/demo (a second run would
# otherwise be refused: the run directory holds the first one's files)
build/mtbert train configs/demo.yaml --set checkpoint.overwrite=true "$@"
