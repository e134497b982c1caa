# common.sh — the prelude the CLI tests share (sourced, not a test itself:
# ctest runs tests/cli/*.sh only).
#
#   . "$(dirname "$0")/lib/common.sh"
#
# Sets BIN (MTBERT_BIN; exit 77 when it is not built) and SRC (MTBERT_SOURCE),
# makes OpenMP wait passively (tiny runs on shared cores: do not spin), makes
# a temporary folder T removed on exit (background jobs of the test are
# killed first), and defines
#   fail MESSAGE    print FAIL: MESSAGE, the last FAIL_TAIL (20) lines of
#                   FAIL_LOG ($T/stderr) when it exists, and exit 1;
#   synthetic DIR [prepare options]   mtbert prepare --synthetic DIR ... or fail;
#   tiny_sets DATA_DIR   fill the array SETS with --set options for a tiny
#                   model (hidden 32, 2 layers, 2 heads, batch 8) on the CPU
#                   backend, 2 threads, train.epochs unset (callers add steps);
#   tiny_model_yaml DATA_DIR   print the same tiny model as a YAML `model:`
#                   block (dropout 0.1), for tests that write whole configs.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
SRC=${MTBERT_SOURCE:-.}
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
T=$(mktemp -d)
FAIL_LOG=$T/stderr
FAIL_TAIL=20
cli_cleanup() {
    local j
    for j in $(jobs -p); do kill "$j" 2>/dev/null; done
    rm -rf "$T"
}
trap cli_cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$FAIL_LOG" ] && tail -n "$FAIL_TAIL" "$FAIL_LOG" | sed 's/^/  | /'
    exit 1
}
synthetic() {
    local dir=$1
    shift
    "$BIN" prepare --synthetic "$dir" "$@" >/dev/null 2>&1 || fail "prepare --synthetic $dir $*"
}
tiny_sets() {
    SETS=(--set "model.vocab=$1/vocab.txt" --set model.hidden_size=32 --set model.num_layers=2
          --set model.num_heads=2 --set model.intermediate_size=64 --set data.batch_size=8
          --set train.epochs= --set train.threads=2 --set train.backend=cpu)
}
tiny_model_yaml() {
    cat <<EOF
model:
  vocab: $1/vocab.txt
  vocab_size: 600
  hidden_size: 32
  num_layers: 2
  num_heads: 2
  intermediate_size: 64
  max_position_embeddings: 64
  hidden_dropout: 0.1
  attention_dropout: 0.1
EOF
}
