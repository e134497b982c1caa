#!/usr/bin/env bash
# mtbert prepare --min-score X (issue 18): only the pairs scored >= X (the
# score as in the file, before --score-scale) are written, e.g. STS-B pairs
# scored >= 4 as (anchor, positive) pairs for MNRL.
#   1. 8 scored pairs, --min-score 4 --score-scale 0.2: the shard holds the
#      4 pairs scored >= 4 (4.0 kept, 3.99 dropped), in file order: labels
#      as awk computes them from the TSV; prepare says "kept 4 of 8";
#   2. the same datasets as prepare of the TSV filtered by awk ($1 >= 4),
#      also from a CSV with --score-column and a JSONL with it;
#   3. refusals (exit 2): --format triplets, csv without --score-column,
#      no pair left, a non-finite value.
. "$(dirname "$0")/lib/common.sh"
command -v h5dump >/dev/null || { echo "SKIP: h5dump (hdf5-tools) not found"; exit 77; }
synthetic "$T/s" --train 10 --dev 0
V=$T/s/vocab.txt
# score, first sentence (the first i words), second sentence
awk 'BEGIN {
    n = split("4.5 1.0 4.0 3.99 5.0 0.0 2.5 4.2", s, " "); w = "anna paris marco oslo rome bern won played lost"
    split(w, ws, " ")
    for (i = 1; i <= n; i++) {
        a = ""; for (j = 1; j <= i; j++) a = a (j > 1 ? " " : "") ws[j]
        printf "%s\t%s\t%s won\n", s[i], a, ws[i]
    }
}' >"$T/p.tsv"
P=(prepare --vocab "$V" --max-len 32 --task sts:similarity)

dump() { # shard dataset -> its values, one a line
    h5dump -d "$2" -y -w 0 "$1" | awk '/DATA \{/ { on = 1; next } on && /\}/ { exit } on' | tr ',' '\n' |
        awk 'NF { print $1 + 0 }'
}
"$BIN" "${P[@]}" --format pairs --pair-columns 0,1,2 --score-scale 0.2 --min-score 4 --out "$T/m" --name m "$T/p.tsv" \
    >"$T/stdout" 2>"$T/stderr" || fail "prepare --min-score 4"
grep -q "kept 4 of 8 pairs" "$T/stdout" || fail "no 'kept 4 of 8 pairs' in: $(cat "$T/stdout")"
S=$T/m/m-00000-of-00001.h5
got=$(dump "$S" /labels/sts | awk '{ printf "%.4f ", $1 }')
want=$(awk -F'\t' '$1 + 0 >= 4 { printf "%.4f ", $1 * 0.2 }' "$T/p.tsv")
[ "$got" = "$want" ] || fail "labels with --min-score 4: '$got', expected '$want'"
echo "--min-score 4: 4 of 8 pairs kept (4.0 in, 3.99 out), labels as the TSV's lines scored >= 4, in order"

# ---- 2. the same datasets as an awk-filtered input, from pairs, csv and jsonl
awk -F'\t' '$1 + 0 >= 4' "$T/p.tsv" >"$T/f.tsv"
"$BIN" "${P[@]}" --format pairs --pair-columns 0,1,2 --score-scale 0.2 --out "$T/f" --name f --quiet "$T/f.tsv" ||
    fail "prepare of the filtered TSV"
{ echo "score,a,b"; awk -F'\t' '{ print $1 "," $2 "," $3 }' "$T/p.tsv"; } >"$T/p.csv"
awk -F'\t' '{ printf "{\"score\": %s, \"a\": \"%s\", \"b\": \"%s\"}\n", $1, $2, $3 }' "$T/p.tsv" >"$T/p.jsonl"
for fmt in csv jsonl; do
    "$BIN" "${P[@]}" --format $fmt --text-column a --text-b-column b --score-column score --score-scale 0.2 \
        --min-score 4 --out "$T/$fmt" --name x --quiet "$T/p.$fmt" 2>"$T/stderr" || fail "$fmt --min-score"
done
for d in /input_ids /input_ids_b /lengths /lengths_b /offsets /offsets_b /labels/sts; do
    ref=$(dump "$T/f/f-00000-of-00001.h5" $d)
    [ -n "$ref" ] || fail "no $d in the filtered shard"
    for x in "$S" "$T/csv/x-00000-of-00001.h5" "$T/jsonl/x-00000-of-00001.h5"; do
        [ "$(dump "$x" $d)" = "$ref" ] || fail "$d of $x differs from the awk-filtered input's"
    done
done
echo "pairs, csv and jsonl with --min-score 4 = the awk-filtered TSV (7 datasets)"

# ---- 3. refusals
expect2() { # text args...
    local want=$1; shift
    "$BIN" "${P[@]}" --out "$T/e" --quiet "$@" >/dev/null 2>"$T/stderr"
    local rc=$?
    [ $rc -eq 2 ] || fail "exit $rc (expected 2) for: $*"
    grep -qF -- "$want" "$T/stderr" || fail "expected '$want' in: $(cat "$T/stderr")"
}
printf 'anna won\tanna played\tparis lost\n' >"$T/t.tsv"
expect2 "--min-score needs scored pairs" --format triplets --min-score 1 "$T/t.tsv"
expect2 "without --score-column" --format csv --text-column a --text-b-column b --min-score 1 "$T/p.csv"
expect2 "none of the 8 pairs is scored >= 6" --format pairs --pair-columns 0,1,2 --min-score 6 "$T/p.tsv"
expect2 "--min-score: 'nan' is not a number" --format pairs --pair-columns 0,1,2 --min-score nan "$T/p.tsv"
echo "refusals: triplets, csv without a score column, nothing left, nan"
echo "PASS"
