#!/usr/bin/env bash
# encode and predict batched by a token budget (--max-tokens, --batch as the
# row cap; trainer/cli/token_batches.h) on a small trained checkpoint, with
# sentences of very different lengths (an empty line, 1 word, 90 words: past
# --max-len, truncated):
#   * the outputs equal those of --batch 1 (one sentence a pass, no padding)
#     to 1e-6, in input order, for several budgets and caps (how many rows
#     are bit-identical is printed);
#   * --max-tokens shapes the batches: with MTBERT_BATCH_STATS=1 every batch
#     of --max-tokens 64 holds rows x length <= 64 (or one row), the lengths
#     fall, and there are more batches than with the default; --max-tokens 0
#     --batch 4 gives batches of 4 rows (the stats lines are checked);
#   * bad values exit 2 naming the flag.
. "$(dirname "$0")/lib/common.sh"
work=$T
synthetic "$work/d" --train 300 --dev 30
args=(--set model.hidden_size=32 --set model.num_layers=2 --set model.num_heads=2 --set model.intermediate_size=64
      --set "model.vocab=$work/d/vocab.txt" --set train.epochs=0 --set train.steps=10 --set eval.every=0
      --set "train.run_dir=$work/run" --set train.threads=2 --set train.backend=cpu --quiet)
for t in 0 1 2; do args+=(--set "tasks.$t.data.train=$work/d/train-*.h5" --set "tasks.$t.data.eval=$work/d/dev-*.h5"); done
"$BIN" train "$SRC/configs/demo.yaml" "${args[@]}" >/dev/null 2>"$FAIL_LOG" || fail "train"
ck="$work/run/step-0000010"
python3 - "$work/d/vocab.txt" "$work/in.txt" <<'PY' || fail "making the input"
import random, sys
random.seed(3)
v = [w.strip() for w in open(sys.argv[1]) if w.strip().isalpha()]
v += ["Pedro", "Larsen", "Lake", "Geneva", "Acme"]
with open(sys.argv[2], "w") as f:
    for n in [1, 40, 3, 0, 12, 2, 90, 7, 7, 1, 25, 5, 60, 2, 33, 9, 1, 15, 4, 4, 4, 50]:
        f.write(" ".join(random.choice(v) for _ in range(n)) + "\n")
PY
n=$(wc -l < "$work/in.txt")

# ---- encode: .npy (float32 bits) against --batch 1, which is itself checked
# row by row against one process per line (input order, independently of
# the sorting)
"$BIN" encode --model "$ck" --input "$work/in.txt" --out "$work/e1.npy" --batch 1 --threads 2 2>"$FAIL_LOG" ||
    fail "encode --batch 1"
for i in $(seq "$n"); do
    sed -n "${i}p" "$work/in.txt" > "$work/line.txt"
    "$BIN" encode --model "$ck" --input "$work/line.txt" --out "$work/line$i.npy" --threads 2 2>"$FAIL_LOG" ||
        fail "encode line $i"
done
cmp_npy() {  # reference candidate what
    python3 - "$1" "$2" "$3" <<'PY'
import array, ast, sys
def load(p):
    b = open(p, "rb").read()
    hl = b[8] | b[9] << 8
    shape = ast.literal_eval(b[10:10 + hl].decode())["shape"]
    a = array.array("f")
    a.frombytes(b[10 + hl:])
    return shape, a
(sa, a), (sb, c) = load(sys.argv[1]), load(sys.argv[2])
if sa != sb:
    sys.exit(f"{sys.argv[3]}: shape {sb}, --batch 1 {sa}")
rows, d = sa
diff = max((abs(x - y) for x, y in zip(a, c)), default=0.0)
same = sum(a[i * d:(i + 1) * d] == c[i * d:(i + 1) * d] for i in range(rows))
print(f"  {sys.argv[3]}: max |diff| {diff:.3g} vs --batch 1, {same} of {rows} rows bit-identical")
if not diff <= 1e-6:
    sys.exit(f"{sys.argv[3]}: max |diff| {diff} > 1e-6")
PY
}
python3 - "$work/e1.npy" "$work" "$n" <<'PY' || fail "encode --batch 1: rows not in input order"
import array, sys
def rows(p):
    b = open(p, "rb").read()
    hl = b[8] | b[9] << 8
    a = array.array("f")
    a.frombytes(b[10 + hl:])
    return a
whole, n = rows(sys.argv[1]), int(sys.argv[3])
d = len(whole) // n
for i in range(n):
    one = rows(f"{sys.argv[2]}/line{i + 1}.npy")
    assert one == whole[i * d:(i + 1) * d], f"row {i + 1} is not line {i + 1}'s embedding"
PY
for opt in "" "--max-tokens 64" "--max-tokens 1" "--max-tokens 100 --batch 3" "--max-tokens 0 --batch 5" \
           "--max-tokens 100000 --batch-size 4096"; do
    # shellcheck disable=SC2086
    "$BIN" encode --model "$ck" --input "$work/in.txt" --out "$work/e.npy" --threads 2 $opt 2>"$FAIL_LOG" ||
        fail "encode $opt"
    cmp_npy "$work/e1.npy" "$work/e.npy" "encode ${opt:-(defaults)}" || fail "encode $opt differs from --batch 1"
done
# text output and --pairs go through the same batches
"$BIN" encode --model "$ck" --input "$work/in.txt" --batch 1 > "$work/t1.txt" 2>"$FAIL_LOG" || fail "encode text"
"$BIN" encode --model "$ck" --input "$work/in.txt" --max-tokens 64 > "$work/t.txt" 2>"$FAIL_LOG" || fail "encode text"
[ "$(wc -l < "$work/t.txt")" = "$n" ] || fail "encode text: not one line per sentence"
python3 - "$work/t1.txt" "$work/t.txt" <<'PY' || fail "encode text --max-tokens 64 differs from --batch 1"
import sys
a = [list(map(float, l.split())) for l in open(sys.argv[1])]
b = [list(map(float, l.split())) for l in open(sys.argv[2])]
assert len(a) == len(b) and all(len(x) == len(y) for x, y in zip(a, b))
d = max(abs(x - y) for r, s in zip(a, b) for x, y in zip(r, s))
assert d <= 2e-6, d  # two roundings to 7 significant digits
PY

# ---- predict: JSON against --batch 1 (labels and tags equal, probabilities to one printed digit)
"$BIN" predict --model "$ck" --input "$work/in.txt" --batch 1 > "$work/p1.jsonl" 2>"$FAIL_LOG" ||
    fail "predict --batch 1"
for opt in "" "--max-tokens 64" "--max-tokens 1" "--max-tokens 0 --batch 5" "--batch-size 3"; do
    # shellcheck disable=SC2086
    "$BIN" predict --model "$ck" --input "$work/in.txt" $opt > "$work/p.jsonl" 2>"$FAIL_LOG" || fail "predict $opt"
    python3 "$SRC/tests/cli/lib/jsonl_close.py" "$work/p1.jsonl" "$work/p.jsonl" "predict ${opt:-(defaults)}" ||
        fail "predict $opt differs from --batch 1"
done
grep -q '"tags":\[.*null' "$work/p1.jsonl" || fail "predict: the 90-word line should have words past --max-len (tag null)"

# ---- --max-tokens shapes the batches (MTBERT_BATCH_STATS)
stats() {  # command options... -> the "batch I: R rows x T tokens" lines as "R T"
    local cmd=$1
    shift
    MTBERT_BATCH_STATS=1 "$BIN" "$cmd" --model "$ck" --input "$work/in.txt" "$@" 2>"$work/stats" >/dev/null ||
        fail "$cmd $* with MTBERT_BATCH_STATS"
    sed -n 's/^mtbert [a-z]*: batch [0-9]*: \([0-9]*\) rows x \([0-9]*\) tokens$/\1 \2/p' "$work/stats"
}
for cmd in encode predict; do
    stats "$cmd" --max-tokens 64 > "$work/b64"
    grep -q "^mtbert $cmd: $n sentences in $(wc -l < "$work/b64") batches (--max-tokens 64, --batch" "$work/stats" ||
        fail "$cmd: no summary line: $(cat "$work/stats")"
    stats "$cmd" > "$work/bdef"
    stats "$cmd" --max-tokens 0 --batch 4 > "$work/b4"
    awk -v n="$n" '{ rows += $1; if ($1 > 1 && $1 * $2 > 64) bad = bad " " NR ": " $1 "x" $2;
                     if (NR > 1 && $2 > last) bad = bad " length rises at " NR; last = $2 }
                   END { if (rows != n) bad = bad " rows " rows " != " n; if (bad != "") { print bad; exit 1 } }' \
        "$work/b64" || fail "$cmd --max-tokens 64: batches over the budget or unsorted: $(tr '\n' ';' < "$work/b64")"
    [ "$(wc -l < "$work/b64")" -gt "$(wc -l < "$work/bdef")" ] ||
        fail "$cmd: --max-tokens 64 made no more batches than the default ($(wc -l < "$work/bdef"))"
    [ "$(wc -l < "$work/b4")" = $(( (n + 3) / 4 )) ] && awk 'NR < '"$(( n / 4 ))"' && $1 != 4 { exit 1 }' "$work/b4" ||
        fail "$cmd --max-tokens 0 --batch 4: not batches of 4 rows: $(tr '\n' ';' < "$work/b4")"
    echo "  $cmd: $(wc -l < "$work/bdef") batch(es) by default, $(wc -l < "$work/b64") with --max-tokens 64, $(wc -l < "$work/b4") with --max-tokens 0 --batch 4"
done

# ---- bad values
for cmd in encode predict; do
    for bad in "--max-tokens -1" "--max-tokens x" "--max-tokens 99999999999" "--batch 0" "--batch-size -3"; do
        # shellcheck disable=SC2086
        "$BIN" "$cmd" --model "$ck" --input "$work/in.txt" $bad >/dev/null 2>"$work/err"; rc=$?
        flag=${bad%% *}
        [ $rc = 2 ] && grep -q -- "$flag" "$work/err" || fail "$cmd $bad: rc $rc: $(head -2 "$work/err")"
    done
done
echo "token_batches: ok"
