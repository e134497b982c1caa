#!/usr/bin/env bash
# mtbert train with a config holding several problems (unknown key with a
# suggestion, wrong type, out of range, a bad --set): exit 2, every problem
# printed as FILE:LINE:COLUMN: message (sorted by place), nothing created in
# the run directory, no training started.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
[ -x "$BIN" ] || { echo "SKIP: $BIN not built"; exit 77; }
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}   # tiny runs on shared cores: do not spin
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; [ -f "$T/stderr" ] && sed 's/^/  | /' "$T/stderr"; exit 1; }

"$BIN" prepare --synthetic "$T/data" --train 40 --dev 20 --seed 3 >/dev/null 2>&1 || fail "prepare --synthetic"

cat >"$T/bad.yaml" <<EOF2
model:
  vocab: $T/data/vocab.txt
  hidden_size: abc
  num_layers: 0
  hiden_act: gelu
  num_heads: 2
tasks:
  - name: topic
    type: sentence_classification
    num_labels: 5
    data: {train: $T/data/train-*.h5}
optimizer:
  lr: 100
train:
  steps: 10
  threads: 2
  run_dir: $T/run
EOF2
F="$T/bad.yaml"

"$BIN" train "$F" >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 2 ] || fail "exit $rc, expected 2"
for want in \
    "$F:3:16: model.hidden_size: expected an integer, got 'abc'" \
    "$F:4:15: model.num_layers: must be in [1, 64], got 0" \
    "$F:5:3: unknown key 'hiden_act' in model (did you mean 'hidden_act'?)" \
    "$F:13:7: optimizer.lr: must be in (0, 10], got 100"; do
    grep -qxF -- "$want" "$T/stderr" || fail "missing line: $want"
done
# one line per problem, in file order, and nothing else that looks like progress
n=$(grep -c "^$F:[0-9]*:[0-9]*: " "$T/stderr")
[ "$n" -eq 4 ] || fail "expected 4 FILE:LINE:COLUMN lines, got $n"
lines=$(grep "^$F:" "$T/stderr" | sed "s|^$F:\([0-9]*\):.*|\1|" | tr '\n' ' ')
[ "$lines" = "3 4 5 13 " ] || fail "problems not sorted by place: $lines"
grep -q "^step " "$T/stderr" && fail "training started"
[ -e "$T/run" ] && fail "run directory created: $(ls -A "$T/run")"

# an existing, empty run directory stays empty; a bad --set is reported too
mkdir "$T/run"
"$BIN" train "$F" --set optimizer.lrr=1 --set model.hidden_size=32 >"$T/stdout" 2>"$T/stderr"
rc=$?
[ $rc -eq 2 ] || fail "exit $rc with --set, expected 2"
grep -qF -- "--set optimizer.lrr=1: unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)" "$T/stderr" \
    || fail "--set problem not reported"
grep -q "^$F:3:" "$T/stderr" && fail "model.hidden_size overridden by --set but still reported"
grep -qF "$F:4:15: model.num_layers" "$T/stderr" || fail "file problems not reported alongside --set"
[ -z "$(ls -A "$T/run")" ] || fail "files created in the run directory: $(ls -A "$T/run")"

# control: the same file with its problems fixed by --set is accepted (the
# messages above come from the problems, not from something else)
"$BIN" train "$F" --set model.hidden_size=32 --set model.num_layers=1 --set model.intermediate_size=64 \
    --set model.vocab_size=600 --set model.max_position_embeddings=64 --set data.max_len=64 \
    --set optimizer.lr=1e-3 --set model.hiden_act= --set data.batch_size=8 --set train.steps=2 \
    --set bench.seq_len=64 --set logging.every=1 >"$T/stdout" 2>"$T/stderr"
[ $? -eq 2 ] || fail "control run with the unknown key left: expected exit 2"
# hiden_act is in the file, so --set cannot remove it: still exit 2, only that problem
grep -qF "$F:5:3: unknown key 'hiden_act'" "$T/stderr" || fail "unknown key not reported in the control run"
n=$(grep -c "^$F:[0-9]*:[0-9]*: " "$T/stderr")
[ "$n" -eq 1 ] || fail "control run: expected only the unknown key, got $n problems"
sed -i '/hiden_act/d' "$F"
"$BIN" train "$F" --set model.hidden_size=32 --set model.num_layers=1 --set model.intermediate_size=64 \
    --set model.vocab_size=600 --set model.max_position_embeddings=64 --set data.max_len=64 \
    --set optimizer.lr=1e-3 --set data.batch_size=8 --set train.steps=2 --set logging.every=1 \
    --set bench.seq_len=64 >"$T/stdout" 2>"$T/stderr" || fail "fixed config: exit $?"
[ -s "$T/run/config.yaml" ] || fail "fixed config: no run_dir/config.yaml"
echo "train_config_errors: ok"
