#!/usr/bin/env bash
# mtbert prepare on small files of every format: success, and bad input
# (exit 2, message naming file and line), --skip-bad, truncation report.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$BIN" prepare --synthetic "$T/s" --train 10 --dev 0 --quiet || fail "synthetic vocab"
V="$T/s/vocab.txt"

# expect_err EXPECTED_TEXT ARGS... : exit 2 and EXPECTED_TEXT on stderr
expect_err() {
    local want=$1; shift
    "$BIN" prepare --vocab "$V" --out "$T/o" --quiet "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    [ $rc -eq 2 ] || fail "exit $rc (expected 2) for: $* ($(cat "$T/stderr"))"
    grep -qF -- "$want" "$T/stderr" || fail "expected '$want' in: $(cat "$T/stderr")"
}

printf 'Anna B-PER\nNovak I-PER\nplayed O\n\nParis B-LOC\nwon\n' >"$T/bad.conll"
expect_err "bad.conll:6:" --format conll "$T/bad.conll"
"$BIN" prepare --vocab "$V" --out "$T/o" --format conll --skip-bad "$T/bad.conll" >"$T/stdout" 2>"$T/stderr" \
    || fail "--skip-bad exit $?: $(cat "$T/stderr")"
grep -q "skipped 1 malformed line" "$T/stderr" || fail "--skip-bad report: $(cat "$T/stderr")"
grep -q "1 examples" "$T/stdout" || fail "--skip-bad kept: $(cat "$T/stdout")"
[ -s "$T/o/bad-00000-of-00001.h5" ] || fail "no shard after --skip-bad"

printf 'positive\tAnna played brilliantly\nnegative\tParis was awful\nhappy\tOslo\n' >"$T/s.tsv"
expect_err "s.tsv:3: unknown label 'happy'" --format lines --labels positive,negative "$T/s.tsv"
"$BIN" prepare --vocab "$V" --out "$T/o" --format lines "$T/s.tsv" >"$T/stdout" || fail "tsv collect"
grep -q "3 labels: happy negative positive" "$T/stdout" || fail "collected labels: $(cat "$T/stdout")"
printf 'negative\npositive\n' >"$T/labels.txt"
expect_err "s.tsv:3:" --format lines --labels "$T/labels.txt" "$T/s.tsv"

: >"$T/empty.txt"
expect_err "empty.txt: no examples" --format lines "$T/empty.txt"
expect_err "nope.txt: cannot open" --format lines "$T/nope.txt"

printf 'text,label\n"Anna, Novak",positive\n"open quote,negative\n' >"$T/c.csv"
expect_err "c.csv:3: malformed CSV" --format csv "$T/c.csv"
printf '{"text": "Anna won", "label": "positive"}\n{"text": "x" "label": 1}\n' >"$T/j.jsonl"
expect_err "j.jsonl:2: invalid JSON" --format jsonl "$T/j.jsonl"
printf 'g\tf\ty\t1\t4.0\tAnna won\tAnna played\ng\tf\ty\t2\tfour\ta\tb\n' >"$T/p.tsv"
expect_err "p.tsv:2: column 4: expected a score" --format pairs "$T/p.tsv"
expect_err "unknown --format" --format yaml "$T/p.tsv"
expect_err "--max-len: '2' is not an integer in [3, 1048576]" --format pairs --max-len 2 "$T/p.tsv"

# truncation is reported with counts
printf 'positive\tAnna played brilliantly in Paris on Monday with Marco Rossi\n' >"$T/long.tsv"
"$BIN" prepare --vocab "$V" --out "$T/o" --format lines --max-len 5 "$T/long.tsv" >/dev/null 2>"$T/stderr" \
    || fail "truncation run"
grep -q "truncated 1 of 1 sequences to max_len 5" "$T/stderr" || fail "truncation report: $(cat "$T/stderr")"

# similarity pairs and several shards
for i in 1 2 3 4 5; do printf 'g\tf\ty\t%d\t%d.0\tAnna won\tParis was awful\n' $i $i; done >"$T/pairs.tsv"
"$BIN" prepare --vocab "$V" --out "$T/o" --format pairs --shards 2 --score-scale 0.2 --quiet "$T/pairs.tsv" \
    || fail "pairs"
[ -s "$T/o/pairs-00001-of-00002.h5" ] || fail "pairs shards"
expect_err "6 shards for 5 examples" --format pairs --shards 6 "$T/pairs.tsv"
echo "prepare_errors: ok"
