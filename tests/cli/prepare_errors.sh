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
# (anchor, positive, hard negatives) rows: TSV triplets, CSV and JSONL columns, a JSONL list
# give the same datasets; the K of a set is one; malformed rows name file and line
printf 'Anna won\tAnna played\tParis lost\tOslo rained\nMarco ran\tMarco walked\tRome slept\tBern sang\n' >"$T/t.tsv"
"$BIN" prepare --vocab "$V" --out "$T/o" --format triplets --task pairs:similarity --name tt "$T/t.tsv" >"$T/stdout" 2>"$T/stderr" ||
    fail "triplets: $(cat "$T/stderr")"
grep -q "hard negatives: 2 per example" "$T/stdout" || fail "triplets report: $(cat "$T/stdout")"
printf 'q,pos,n1,n2\nAnna won,Anna played,Paris lost,Oslo rained\nMarco ran,Marco walked,Rome slept,Bern sang\n' >"$T/t.csv"
"$BIN" prepare --vocab "$V" --out "$T/o" --format csv --text-column q --text-b-column pos --negative-columns n1,n2 \
    --task pairs:similarity --name tc --quiet "$T/t.csv" || fail "csv negatives"
printf '{"q": "Anna won", "pos": "Anna played", "negatives": ["Paris lost", "Oslo rained"]}\n{"q": "Marco ran", "pos": "Marco walked", "negatives": ["Rome slept", "Bern sang"]}\n' >"$T/t.jsonl"
"$BIN" prepare --vocab "$V" --out "$T/o" --format jsonl --text-column q --text-b-column pos --negatives-key negatives \
    --task pairs:similarity --name tj --quiet "$T/t.jsonl" || fail "jsonl negatives list"
printf '{"q": "Anna won", "pos": "Anna played", "a": "Paris lost", "b": "Oslo rained"}\n{"q": "Marco ran", "pos": "Marco walked", "a": "Rome slept", "b": "Bern sang"}\n' >"$T/u.jsonl"
"$BIN" prepare --vocab "$V" --out "$T/o" --format jsonl --text-column q --text-b-column pos --negative-columns a,b \
    --task pairs:similarity --name tk --quiet "$T/u.jsonl" || fail "jsonl negative keys"
if command -v h5dump >/dev/null; then
    dump() { h5dump -d input_ids_n -d offsets_n -d lengths_n -d input_ids_b -d input_ids "$1" | grep -v "^HDF5 "; }
    h5dump -a num_negatives "$T/o/tt-00000-of-00001.h5" | grep -q "(0): 2" || fail "num_negatives attribute"
    h5dump -a format_version "$T/o/tt-00000-of-00001.h5" | grep -q "(0): 2" || fail "format_version of a set with negatives"
    h5dump -a format_version "$T/o/pairs-00000-of-00002.h5" | grep -q "(0): 1" || fail "format_version of pairs changed"
    ref=$(dump "$T/o/tt-00000-of-00001.h5")
    grep -q 'DATASET "input_ids_n"' <<<"$ref" && grep -q 'DATASET "lengths_n"' <<<"$ref" || fail "no negatives datasets: $ref"
    for f in tc tj tk; do
        [ "$(dump "$T/o/$f-00000-of-00001.h5")" = "$ref" ] ||
            fail "$f: other datasets than the TSV's:$(diff <(echo "$ref") <(dump "$T/o/$f-00000-of-00001.h5"))"
    done
else
    echo "h5dump not found: the shard contents of the negative formats are not compared"
fi
printf 'a\tb\tc\tn\nd\te\tf\tg\nh\ti\tj\n' >"$T/k.tsv"
expect_err "k.tsv:3: 1 hard negative, but $T/k.tsv:1 has 2 (every row of a set needs the same number)" \
    --format triplets --task pairs:similarity "$T/k.tsv"
expect_err "k.tsv:1: --join-pairs makes one cross-encoder sequence of a pair; rows with hard negatives are for contrastive tasks" \
    --format triplets --join-pairs "$T/k.tsv"
printf 'a\tb\tc\nd\te\n' >"$T/m.tsv"
expect_err "m.tsv:2: expected anchor, positive and 1..256 negatives separated by tabs, got 2 fields" \
    --format triplets --task pairs:similarity "$T/m.tsv"
printf 'a\tb\tc\nd\te\t \n' >"$T/e.tsv"
expect_err "e.tsv:2: field 3 (a negative, from 1) is empty" --format triplets --task pairs:similarity "$T/e.tsv"
expect_err "no column 'n3' in the header (a negative column)" --format csv --text-column q --text-b-column pos \
    --negative-columns n1,n3 --task pairs:similarity "$T/t.csv"
printf 'q,pos,n1\nAnna won,Anna played,\n' >"$T/e.csv"
expect_err "e.csv:2: column 'n1' (a negative) is empty" --format csv --text-column q --text-b-column pos \
    --negative-columns n1 --task pairs:similarity "$T/e.csv"
printf '{"q": "Anna won", "pos": "Anna played", "negatives": "Paris lost"}\n' >"$T/e.jsonl"
expect_err "e.jsonl:1: expected \"negatives\": a non-empty array of non-empty strings" --format jsonl --text-column q \
    --text-b-column pos --negatives-key negatives --task pairs:similarity "$T/e.jsonl"
printf '{"q": "Anna won", "pos": "Anna played", "negatives": ["x"]}\n{"q": "Marco ran", "pos": "b", "negatives": ["y", "z"]}\n' >"$T/k.jsonl"
expect_err "k.jsonl:2: 2 hard negatives, but $T/k.jsonl:1 has 1" --format jsonl --text-column q --text-b-column pos \
    --negatives-key negatives --task pairs:similarity "$T/k.jsonl"
expect_err "--negatives-key applies to jsonl, not --format csv" --format csv --negatives-key negatives "$T/t.csv"
expect_err "--negative-columns applies to csv and jsonl, not --format triplets" --format triplets --negative-columns a \
    "$T/t.tsv"
echo "prepare_errors: ok"
