#!/usr/bin/env bash
# mtbert sweep: expand a 2x2 grid over a tiny demo config into 4 full configs
# + index.tsv; a random search draws its values in range, reproducibly; bad
# sweep files are refused with the line; launch/sweep-local.sh runs the grid
# and `mtbert sweep report` lists all 4 runs, best first.
. "$(dirname "$0")/lib/common.sh"
FAIL_LOG=$T/err

synthetic "$T/data" --train 64 --dev 16 --seed 5
cp "$SRC/configs/demo.yaml" "$T/base.yaml"
cat >"$T/grid.yaml" <<YAML
base: base.yaml
method: grid
set:
  model.vocab: $T/data/vocab.txt
  model.hidden_size: 16
  model.num_layers: 1
  model.num_heads: 2
  model.intermediate_size: 32
  train.epochs: null
  train.steps: 3
  train.threads: 1
  train.backend: cpu
  eval.every: 0
  logging.every: 1
  tasks.topic.data: {train: "$T/data/train-*.h5", eval: "$T/data/dev-*.h5"}
  tasks.sentiment.data: {train: "$T/data/train-*.h5", eval: "$T/data/dev-*.h5"}
  tasks.ner.data: {train: "$T/data/train-*.h5", eval: "$T/data/dev-*.h5"}
parameters:
  optimizer.lr: [1.0e-4, 3.0e-3]
  data.batch_size: [4, 8]
YAML
"$BIN" sweep expand "$T/grid.yaml" --out "$T/sw" >"$T/out" 2>"$T/err" || fail "expand exit $?"
for i in 000 001 002 003; do [ -s "$T/sw/$i.yaml" ] || fail "no $i.yaml"; done
[ -e "$T/sw/004.yaml" ] && fail "a 5th config for a 2x2 grid"
printf 'run\toptimizer.lr\tdata.batch_size\n000\t1.0e-4\t4\n001\t1.0e-4\t8\n002\t3.0e-3\t4\n003\t3.0e-3\t8\n' >"$T/want.tsv"
diff "$T/want.tsv" "$T/sw/index.tsv" >"$T/err" || fail "index.tsv differs from the expected grid"
grep -qx "  batch_size: 8" "$T/sw/001.yaml" || fail "001.yaml lacks data.batch_size 8"
grep -qx "  run_dir: $T/sw/runs/002" "$T/sw/002.yaml" || fail "002.yaml does not name runs/002"
grep -qx "  hidden_size: 16" "$T/sw/003.yaml" || fail "the fixed settings are not in 003.yaml"
grep -q "weight_decay" "$T/sw/000.yaml" || fail "000.yaml is not a full (resolved) config"

# random search: 5 trials, values within their ranges, the same draw twice
cat >"$T/rand.yaml" <<YAML
base: $T/base.yaml
method: random
trials: 5
seed: 3
set: {model.vocab: $T/data/vocab.txt}
parameters:
  optimizer.lr: {min: 1.0e-5, max: 1.0e-3, log: true}
  data.batch_size: {min: 4, max: 64, int: true}
  model.pooling: [mean, cls]
YAML
"$BIN" sweep expand "$T/rand.yaml" --out "$T/r1" >/dev/null 2>"$T/err" || fail "random expand exit $?"
"$BIN" sweep expand "$T/rand.yaml" --out "$T/r2" >/dev/null 2>"$T/err" || fail "random expand (again) exit $?"
[ "$(wc -l <"$T/r1/index.tsv")" -eq 6 ] || fail "random: expected 5 rows"
cmp -s "$T/r1/index.tsv" "$T/r2/index.tsv" || fail "random: the same seed drew different values"
awk -F'\t' 'NR > 1 && !($2 >= 1e-5 && $2 <= 1e-3 && $3 >= 4 && $3 <= 64 && $3 == int($3) && ($4 == "mean" || $4 == "cls")) { bad = 1 }
            END { exit bad }' "$T/r1/index.tsv" || fail "random: a value out of range: $(cat "$T/r1/index.tsv")"

# errors: an unknown key in the sweep file, a value the config refuses
printf 'base: base.yaml\nparameters:\n  optimizer.lr: [1]\nmethd: grid\n' >"$T/bad1.yaml"
"$BIN" sweep expand "$T/bad1.yaml" --out "$T/b1" 2>"$T/err" && fail "an unknown key was accepted"
grep -q "bad1.yaml:4: unknown key 'methd'" "$T/err" || fail "unknown key not reported with its line"
printf 'base: base.yaml\nparameters:\n  data.batch_size: [8, -3]\n' >"$T/bad2.yaml"
"$BIN" sweep expand "$T/bad2.yaml" --out "$T/b2" 2>"$T/err"
[ $? -eq 2 ] || fail "an invalid value did not exit 2"
grep -q "run 001" "$T/err" || fail "the invalid run is not named"

# run the grid locally, then the report
MTBERT_BIN="$BIN" bash "$SRC/launch/sweep-local.sh" "$T/sw" >"$T/report" 2>"$T/err" || fail "sweep-local.sh exit $?"
[ "$(wc -l <"$T/report")" -eq 5 ] || fail "report: expected a header and 4 rows: $(cat "$T/report")"
head -1 "$T/report" | grep -q "^run	optimizer.lr	data.batch_size	steps	best_metric" || fail "report header: $(head -1 "$T/report")"
awk -F'\t' 'NR > 1 && ($4 != 3 || $5 == "-") { bad = 1 } END { exit bad }' "$T/report" || fail "report: a run without 3 steps or a metric: $(cat "$T/report")"
awk -F'\t' 'NR > 2 && $5 > prev { bad = 1 } NR > 1 { prev = $5 } END { exit bad }' "$T/report" || fail "report is not best first: $(cat "$T/report")"
"$BIN" sweep report "$T/nowhere" 2>"$T/err" && fail "report of a missing directory exited 0"
echo "sweep: ok"
