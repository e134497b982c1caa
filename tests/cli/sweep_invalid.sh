#!/usr/bin/env bash
# mtbert sweep expand checks every point before it writes anything
# (issue 15, point 23): a grid with invalid values anywhere names every bad
# point (not only the first), exits 2 and leaves no index.tsv (before: a
# header-only or partial index.tsv and the configs before the first bad
# point); a valid grid still writes its configs and the index.
. "$(dirname "$0")/lib/common.sh"
FAIL_LOG=$T/err

synthetic "$T/data" --train 16 --dev 8 --seed 5
cp "$SRC/configs/demo.yaml" "$T/base.yaml"
cat >"$T/bad.yaml" <<YAML
base: base.yaml
set: {model.vocab: $T/data/vocab.txt}
parameters:
  optimizer.lr: [1.0e-4, -1, 3.0e-4]
  data.batch_size: [8, 0]
YAML
"$BIN" sweep expand "$T/bad.yaml" --out "$T/out" >/dev/null 2>"$T/err"
[ $? -eq 2 ] || fail "a grid with invalid points did not exit 2"
# points: 000 (1e-4, 8) 001 (1e-4, 0) 002 (-1, 8) 003 (-1, 0) 004 (3e-4, 8) 005 (3e-4, 0)
for r in 001 002 003 005; do grep -q "run $r:" "$T/err" || fail "invalid point $r is not named"; done
for r in 000 004; do grep -q "run $r:" "$T/err" && fail "valid point $r is named as invalid"; done
grep -q "4 of 6 points are invalid; nothing written" "$T/err" || fail "no summary line"
[ -e "$T/out/index.tsv" ] && fail "index.tsv written although points are invalid: $(cat "$T/out/index.tsv")"
ls "$T/out"/*.yaml >/dev/null 2>&1 && fail "configs written although points are invalid: $(ls "$T/out")"

sed -i 's/-1, //; s/\[8, 0\]/[8, 16]/' "$T/bad.yaml"
"$BIN" sweep expand "$T/bad.yaml" --out "$T/out" >/dev/null 2>"$T/err" || fail "a valid grid: exit $?"
[ "$(wc -l <"$T/out/index.tsv")" -eq 5 ] || fail "index.tsv: expected a header and 4 rows: $(cat "$T/out/index.tsv")"
for r in 000 001 002 003; do [ -s "$T/out/$r.yaml" ] || fail "no $r.yaml"; done
echo "sweep_invalid: ok"
