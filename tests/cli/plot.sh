#!/usr/bin/env bash
# mtbert plot: a small metrics.jsonl gives a well-formed SVG with both
# panels; bad input exits 2 with file:line messages.
set -u
BIN=${MTBERT_BIN:?MTBERT_BIN must point at the mtbert binary}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$T/run"
cat >"$T/run/metrics.jsonl" <<'EOF'
{"event":"start","config":"demo.yaml"}
{"event":"train","step":10,"loss":2.5,"loss.topic":1.0,"loss.ner":1.5,"lr":5e-5,"tokens_per_s":1234}
{"event":"train","step":20,"loss":2.0,"loss.topic":0.8,"loss.ner":1.2,"lr":5e-5,"tokens_per_s":1300}

{"event":"train","step":30,"loss":1.5,"loss.topic":0.6,"loss.ner":null,"lr":4e-5}
{"event":"eval","step":30,"topic.accuracy":0.7,"ner.entity_f1":0.4,"loss.topic":0.9,"note":"text is ignored"}
{"event":"train","step":20,"loss":1.9,"loss.topic":0.7,"loss.ner":1.2}
{"event":"eval","step":40,"topic.accuracy":0.8,"ner.entity_f1":0.6,"epoch":1}
EOF
"$BIN" plot "$T/run" >"$T/stdout" 2>"$T/stderr" || fail "plot exit $?: $(cat "$T/stderr")"
S="$T/run/curves.svg"
[ -s "$S" ] || fail "no $S"
grep -q "4 train and 2 eval records" "$T/stdout" || fail "summary: $(cat "$T/stdout")"
for want in '<svg' 'Training loss' 'Eval metrics' 'loss (total)' 'loss.topic' 'loss.ner' \
            'eval loss.topic' 'topic.accuracy' 'ner.entity_f1' '</svg>'; do
    grep -qF -- "$want" "$S" || fail "'$want' missing from the SVG"
done
for absent in 'lr' 'tokens_per_s' 'epoch' 'note'; do
    grep -qF -- ">$absent<" "$S" && fail "'$absent' should not be a curve"
done
if command -v python3 >/dev/null; then
    python3 -c "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])" "$S" || fail "SVG is not well-formed XML"
fi
ls "$T/run" | grep -q tmp && fail "temporary file left behind"

# the file itself, and --out
"$BIN" plot "$T/run/metrics.jsonl" --out "$T/x.svg" >/dev/null 2>&1 || fail "plot FILE --out"
[ -s "$T/x.svg" ] || fail "--out not written"
"$BIN" plot --help | grep -q "usage: mtbert plot" || fail "--help"

# only eval records: one panel
mkdir -p "$T/ev"
echo '{"event":"eval","step":5,"sts.pearson":0.5,"sts.spearman":0.4}' >"$T/ev/metrics.jsonl"
"$BIN" plot "$T/ev" >/dev/null 2>&1 || fail "eval-only run"
grep -qF 'Training loss' "$T/ev/curves.svg" && fail "empty loss panel drawn"

# a half-written last line (the trainer is still running) is skipped with a warning
mkdir -p "$T/live"
printf '{"event":"train","step":1,"loss":1}\n{"event":"train","st' >"$T/live/metrics.jsonl"
"$BIN" plot "$T/live" >/dev/null 2>"$T/stderr" || fail "incomplete last line: $(cat "$T/stderr")"
grep -q "metrics.jsonl:2: warning" "$T/stderr" || fail "no warning: $(cat "$T/stderr")"

# expect_err EXPECTED_TEXT RUN_DIR: exit 2 and EXPECTED_TEXT on stderr
expect_err() {
    local want=$1; shift
    "$BIN" plot "$@" >"$T/stdout" 2>"$T/stderr"
    local rc=$?
    [ $rc -eq 2 ] || fail "exit $rc (expected 2) for: $* ($(cat "$T/stderr"))"
    grep -qF -- "$want" "$T/stderr" || fail "expected '$want' in: $(cat "$T/stderr")"
}
mkdir -p "$T/b1" "$T/b2" "$T/b3" "$T/b4" "$T/b5"
expect_err "nope/metrics.jsonl: cannot open" "$T/nope"
printf '{"event":"train","step":1,"loss":1}\n{"event":"train" "step":2}\n{"event":"train","step":3,"loss":1}\n' >"$T/b1/metrics.jsonl"
expect_err "metrics.jsonl:2: invalid JSON" "$T/b1"
printf '{"event":"train","step":1,"loss":1}\n[1, 2]\n' >"$T/b2/metrics.jsonl"
expect_err "metrics.jsonl:2: expected a JSON object" "$T/b2"
printf '{"event":"train","step":"ten","loss":1}\n' >"$T/b3/metrics.jsonl"
expect_err "metrics.jsonl:1: train record needs a numeric \"step\"" "$T/b3"
: >"$T/b4/metrics.jsonl"
expect_err "no data" "$T/b4"
printf '{"event":"start"}\n{"event":"train","step":1,"lr":1e-5}\n' >"$T/b5/metrics.jsonl"
expect_err "no data" "$T/b5"
expect_err "unknown option" "$T/run" --bogus
expect_err "option '--out' needs a value" "$T/run" --out
expect_err "RUN_DIR is required"
echo "plot: ok"
