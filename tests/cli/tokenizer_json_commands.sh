#!/usr/bin/env bash
# prepare, train, encode and predict with a model folder's tokenizer.json
# (issue 19). The ids checked come from the Hugging Face `tokenizers`
# library (tests/fixtures/tokenizers/{bpe,unigram}.jsonl, lines with the
# post-processor's special tokens), not from mtbert:
#  1. prepare --vocab FOLDER (tokenizer.json only, and with a vocab.txt
#     beside it: tokenizer.json wins and prepare says so) writes exactly the
#     fixture's ids into the shards, also cut to --max-len 16;
#  2. the same sentences as CoNLL words (token task) give the same ids, and
#     the label sits on the first piece of each word and nowhere else: for
#     byte-level BPE the pieces that start with Ġ (and the first), for the
#     Unigram/Metaspace fixture the pieces that start with ▁;
#  3. training from scratch with model.vocab = a tokenizer.json writes it
#     into the checkpoint; training again from that folder (model.path, no
#     vocab.txt) takes its shards, shards of another tokenizer are refused
#     naming the vocabulary mismatch;
#  4. encode/predict read the folder's tokenizer.json: a vocab.txt added
#     beside it changes nothing (and is named as unused), the folder with
#     only that vocab.txt gives other embeddings;
#  5. a malformed tokenizer.json: prepare, encode, predict, export and train
#     exit 2 naming the file;
#  6. a vocab.txt folder: prepare's ids are [CLS] + `mtbert tokenize` + [SEP];
#  7. --max-len of encode is bounded by the positions the model holds:
#     RoBERTa (pad 1, 20 rows) takes 18 tokens (it used to take 20);
#  8. mtbert tokenize --vocab FOLDER gives the fixture's ids (no special
#     tokens) through its tokenizer.json.
. "$(dirname "$0")/lib/common.sh"
command -v h5dump >/dev/null || { echo "SKIP: h5dump not installed"; exit 77; }
FIX="$SRC/tests/fixtures/tokenizers"

# ds FILE DATASET: the dataset's values, one line, space-separated
ds() {
    rm -f "$T/ds.txt"
    h5dump -d "$2" -y -w 0 -o "$T/ds.txt" "$1" >/dev/null 2>&1 || fail "h5dump $2 of $1"
    tr -d ',\n' <"$T/ds.txt" | tr -s ' ' | sed 's/^ //; s/ $//'
}

# fixture KIND MAXLEN: the single-sentence lines (special tokens on) of
# KIND.jsonl cut at MAXLEN (0: none), whose text has single spaces only,
# and no control characters, as TEXT<TAB>IDS lines
fixture() {
    python3 - "$FIX/$1.jsonl" "$2" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")][1:]
for r in rows:
    a = r["a"]
    if not r.get("special") or "b" in r or r.get("max_len", 0) != int(sys.argv[2]):
        continue
    if a != " ".join(a.split()) or not a or any(ord(c) < 32 or ord(c) == 127 for c in a):
        continue
    print(a + "\t" + " ".join(map(str, r["ids"])))
PY
}

# the shard's sequences, one line each (offsets/lengths into input_ids)
sequences() {
    local f=$1 set=${2:-/input_ids}
    python3 - "$(ds "$f" "$set")" "$(ds "$f" /offsets)" "$(ds "$f" /lengths)" <<'PY'
import sys
ids, offs, lens = (list(map(int, s.split())) for s in sys.argv[1:4])
for o, n in zip(offs, lens):
    print(" ".join(map(str, ids[o:o + n])))
PY
}

for kind in bpe unigram; do
    M="$T/$kind"
    mkdir -p "$M"
    cp "$FIX/$kind.json" "$M/tokenizer.json"
    fixture $kind 0 >"$T/$kind.fix"
    [ "$(wc -l <"$T/$kind.fix")" -ge 20 ] || fail "$kind: too few fixture lines"
    cut -f2 "$T/$kind.fix" >"$T/$kind.want"
    awk -F'\t' '{print (NR % 2 ? "p" : "n") "\t" $1}' "$T/$kind.fix" >"$T/$kind.tsv"

    # 1. sentence lines through the folder's tokenizer.json
    "$BIN" prepare --format lines --vocab "$M" --task sent --out "$T/d$kind" --name lines --max-len 512 \
        "$T/$kind.tsv" >"$T/stdout" 2>"$T/stderr" || fail "$kind: prepare: exit $?"
    grep -qF "tokenizer $M/tokenizer.json: tokenizer.json" "$T/stdout" || fail "$kind: prepare names no tokenizer.json: $(cat "$T/stdout")"
    sequences "$T/d$kind/lines-00000-of-00001.h5" >"$T/$kind.got"
    cmp -s "$T/$kind.got" "$T/$kind.want" || fail "$kind: shard ids differ from the fixture: $(diff "$T/$kind.got" "$T/$kind.want" | head -4)"

    # with a vocab.txt beside it: tokenizer.json wins, and prepare says so (--tokenizer: the same flag)
    printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n' >"$M/vocab.txt"
    "$BIN" prepare --format lines --tokenizer "$M" --task sent --out "$T/d$kind" --name both --max-len 512 \
        "$T/$kind.tsv" >"$T/stdout" 2>"$T/stderr" || fail "$kind: prepare with both files: exit $?"
    grep -qF "(the vocab.txt beside it is not used)" "$T/stdout" || fail "$kind: prepare does not say vocab.txt is unused"
    sequences "$T/d$kind/both-00000-of-00001.h5" | cmp -s - "$T/$kind.want" || fail "$kind: with vocab.txt beside it the ids changed"
    rm "$M/vocab.txt"

    # cut to --max-len 16 as the fixture's max_len 16 lines
    fixture $kind 16 >"$T/$kind.fix16"
    [ -s "$T/$kind.fix16" ] || fail "$kind: no max_len 16 fixture lines"
    awk -F'\t' '{print "p\t" $1}' "$T/$kind.fix16" >"$T/$kind.16.tsv"
    "$BIN" prepare --format lines --vocab "$M/tokenizer.json" --task sent --out "$T/d$kind" --name cut --max-len 16 \
        "$T/$kind.16.tsv" >"$T/stdout" 2>"$T/stderr" || fail "$kind: prepare --max-len 16: exit $?"
    sequences "$T/d$kind/cut-00000-of-00001.h5" | cmp -s - <(cut -f2 "$T/$kind.fix16") ||
        fail "$kind: --max-len 16 ids differ from the fixture"

    # 2. the same sentences as CoNLL words: same ids, labels on each word's first piece
    python3 - "$T/$kind.fix" >"$T/$kind.conll" <<'PY'
import sys
for line in open(sys.argv[1], encoding="utf-8"):
    text = line.rstrip("\n").split("\t")[0]
    for w in text.split(" "):
        print(w, "B-X" if w[:1].isupper() else "O")
    print()
PY
    "$BIN" prepare --format conll --vocab "$M" --task ner:token --labels O,B-X,I-X --out "$T/d$kind" --name ner \
        --max-len 512 "$T/$kind.conll" >"$T/stdout" 2>"$T/stderr" || fail "$kind: prepare conll: exit $?"
    sequences "$T/d$kind/ner-00000-of-00001.h5" | cmp -s - "$T/$kind.want" ||
        fail "$kind: word-by-word ids differ from the fixture's whole-sentence ids"
    sequences "$T/d$kind/ner-00000-of-00001.h5" /labels/ner >"$T/$kind.labels"
    python3 - "$M/tokenizer.json" "$T/$kind.want" "$T/$kind.labels" "$T/$kind.fix" $kind <<'PY' || fail "$kind: labels are not on the first piece of each word"
import json, sys
tj = json.load(open(sys.argv[1], encoding="utf-8"))
vocab = tj["model"]["vocab"]
tok = {i: t for t, i in vocab.items()} if isinstance(vocab, dict) else {i: p[0] for i, p in enumerate(vocab)}
specials = {a["id"] for a in tj["added_tokens"]}
mark = "\u0120" if sys.argv[5] == "bpe" else "\u2581"
ids = [list(map(int, l.split())) for l in open(sys.argv[2])]
labs = [list(map(int, l.split())) for l in open(sys.argv[3])]
texts = [l.split("\t")[0] for l in open(sys.argv[4], encoding="utf-8")]
assert len(ids) == len(labs) == len(texts)
added = [a["content"] for a in tj["added_tokens"]]
checked = 0
for seq, lab, text in zip(ids, labs, texts):
    if any(a in text for a in added):   # special tokens written in the text: pieces of their own
        continue
    checked += 1
    words = text.split(" ")
    want = [1 if w[:1].isupper() else 0 for w in words]
    got, firsts = [], 0
    for i, (t, l) in enumerate(zip(seq, lab)):
        first = t not in specials and (tok[t].startswith(mark) or (i == 1 and sys.argv[5] == "bpe"))
        assert (l != -100) == first, (text, i, tok.get(t), l)
        if l != -100:
            got.append(l)
    assert got == want, (text, got, want)
assert checked >= 20, checked
PY

    # 8. mtbert tokenize --vocab FOLDER: the model's pieces (the fixture's lines without special tokens)
    python3 - "$FIX/$kind.jsonl" "$T/$kind.plain" "$T/$kind.plain.want" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")][1:]
with open(sys.argv[2], "w", encoding="utf-8") as a, open(sys.argv[3], "w") as b:
    for r in rows:
        t = r["a"]
        if r.get("special") or "b" in r or r.get("max_len") or any(ord(c) < 32 or ord(c) == 127 for c in t) \
                or "\u2028" in t or "\u2029" in t or "\x85" in t:
            continue
        a.write(t + "\n")
        b.write(" ".join(map(str, r["ids"])) + "\n")
PY
    [ "$(wc -l <"$T/$kind.plain")" -ge 20 ] || fail "$kind: too few plain fixture lines"
    "$BIN" tokenize --vocab "$M" --input "$T/$kind.plain" >"$T/tok.txt" 2>"$T/stderr" || fail "$kind: tokenize: exit $?"
    cmp -s "$T/tok.txt" "$T/$kind.plain.want" || fail "$kind: tokenize ids differ from the fixture: $(diff "$T/tok.txt" "$T/$kind.plain.want" | head -4)"
    "$BIN" tokenize --vocab "$M/tokenizer.json" --max-word-chars 50 </dev/null >/dev/null 2>"$T/err"; rc=$?
    [ $rc = 2 ] && grep -qF -- "--max-word-chars applies to a vocab.txt" "$T/err" || fail "$kind: tokenize --max-word-chars on a tokenizer.json: exit $rc"

    # 5. malformed tokenizer.json: prepare exits 2 naming the file
    mkdir -p "$T/bad$kind"
    head -c 3000 "$FIX/$kind.json" >"$T/bad$kind/tokenizer.json"
    "$BIN" prepare --format lines --vocab "$T/bad$kind" --task sent --out "$T/x" "$T/$kind.tsv" >/dev/null 2>"$T/err"; rc=$?
    [ $rc = 2 ] && grep -qF "$T/bad$kind/tokenizer.json" "$T/err" || fail "$kind: malformed tokenizer.json: prepare exit $rc: $(cat "$T/err")"
done

# 3. train from scratch on the BPE tokenizer.json: two tasks, two sources
for kind in bpe unigram; do
    "$BIN" prepare --format lines --vocab "$T/$kind" --task sent --out "$T/t$kind" --name sent --max-len 32 \
        "$T/$kind.tsv" >/dev/null 2>"$T/stderr" || fail "$kind: prepare (train set)"
    "$BIN" prepare --format conll --vocab "$T/$kind" --task ner:token --labels O,B-X,I-X --out "$T/t$kind" --name ner \
        --max-len 32 "$T/$kind.conll" >/dev/null 2>"$T/stderr" || fail "$kind: prepare conll (train set)"
done
cat >"$T/c.yaml" <<YAML
model:
  vocab: $T/bpe/tokenizer.json
  vocab_size: 2000
  hidden_size: 32
  num_layers: 1
  num_heads: 2
  intermediate_size: 64
  max_position_embeddings: 32
tasks:
  - name: sent
    type: sentence_classification
    num_labels: 2
    data: {train: $T/tbpe/sent-*.h5}
  - name: ner
    type: token_classification
    num_labels: 3
    data: {train: $T/tbpe/ner-*.h5}
data:
  max_len: 32
  batch_size: 4
train:
  steps: 3
  threads: 2
  backend: cpu
  run_dir: $T/run
YAML
"$BIN" train "$T/c.yaml" >"$T/stdout" 2>"$T/stderr" || fail "train from scratch with a tokenizer.json: exit $?"
CK="$T/run/step-0000003"
cmp -s "$CK/tokenizer.json" "$FIX/bpe.json" || fail "the checkpoint does not carry the tokenizer.json"
[ ! -e "$CK/vocab.txt" ] || fail "the checkpoint has a vocab.txt it was not given"
grep -q PreTrainedTokenizerFast "$CK/tokenizer_config.json" && grep -qF '"cls_token": "<s>"' "$CK/tokenizer_config.json" ||
    fail "tokenizer_config.json does not describe the tokenizer.json: $(cat "$CK/tokenizer_config.json")"

# from the folder (model.path, tokenizer.json only): its shards train
sed -e "s#^  vocab: .*#  path: $CK#" -e "s#run_dir: .*#run_dir: $T/run2#" "$T/c.yaml" | grep -v "vocab_size\|hidden_size\|num_layers\|num_heads\|intermediate_size\|max_position" >"$T/c2.yaml"
"$BIN" train "$T/c2.yaml" >"$T/stdout" 2>"$T/stderr" || fail "train from the tokenizer.json folder: exit $?"
# shards of the Unigram tokenizer for the BPE model: refused
sed "s#/tbpe/#/tunigram/#g; s#run_dir: .*#run_dir: $T/run3#" "$T/c2.yaml" >"$T/c3.yaml"
"$BIN" train "$T/c3.yaml" >"$T/stdout" 2>"$T/stderr"; rc=$?
[ $rc = 2 ] && grep -q "does not match the model's vocabulary" "$T/stderr" ||
    fail "shards of another tokenizer: exit $rc: $(tail -2 "$T/stderr")"

# 4. encode / predict read the tokenizer.json
head -12 "$T/bpe.fix" | cut -f1 >"$T/in.txt"
"$BIN" encode --model "$CK" --input "$T/in.txt" >"$T/e1.txt" 2>"$T/stderr" || fail "encode: exit $?"
[ "$(wc -l <"$T/e1.txt")" = 12 ] || fail "encode: not one line per sentence"
grep -q "not used" "$T/stderr" && fail "encode names an unused vocab.txt that is not there: $(cat "$T/stderr")"
cp -r "$CK" "$T/both"
printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nof\n' >"$T/both/vocab.txt"
"$BIN" encode --model "$T/both" --input "$T/in.txt" >"$T/e2.txt" 2>"$T/stderr" || fail "encode (both files): exit $?"
cmp -s "$T/e1.txt" "$T/e2.txt" || fail "encode: a vocab.txt beside tokenizer.json changed the embeddings"
grep -qF "tokenizer $T/both/tokenizer.json (the vocab.txt beside it is not used)" "$T/stderr" ||
    fail "encode does not say which tokenizer it reads: $(cat "$T/stderr")"
cp -r "$T/both" "$T/vonly"
rm "$T/vonly/tokenizer.json"
"$BIN" encode --model "$T/vonly" --input "$T/in.txt" >"$T/e3.txt" 2>"$T/stderr" || fail "encode (vocab.txt only): exit $?"
cmp -s "$T/e1.txt" "$T/e3.txt" && fail "encode: the vocab.txt-only folder gives the same embeddings (tokenizer.json unused?)"
"$BIN" predict --model "$CK" --input "$T/in.txt" >"$T/pred.jsonl" 2>"$T/stderr" || fail "predict: exit $?"
python3 - "$T/pred.jsonl" "$T/in.txt" <<'PY' || fail "predict output"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
texts = [l.rstrip("\n") for l in open(sys.argv[2], encoding="utf-8")]
assert len(rows) == len(texts) == 12
for r, t in zip(rows, texts):
    assert r["text"] == t and r["sent"]["label"] in ("p", "n"), r
    assert r["ner"]["words"] == t.split() and len(r["ner"]["tags"]) == len(r["ner"]["words"]), r["ner"]
    assert all(x in ("O", "B-X", "I-X", None) for x in r["ner"]["tags"]), r["ner"]["tags"]  # None: past --max-len
PY
"$BIN" predict --model "$T/both" --input "$T/in.txt" >"$T/pred2.jsonl" 2>"$T/stderr" || fail "predict (both files)"
cmp -s "$T/pred.jsonl" "$T/pred2.jsonl" || fail "predict: a vocab.txt beside tokenizer.json changed the output"
grep -qF "(the vocab.txt beside it is not used)" "$T/stderr" || fail "predict does not say which tokenizer it reads"
# export keeps the tokenizer.json (and the vocab.txt beside it)
"$BIN" export --checkpoint "$T/both" --out "$T/exp" >/dev/null 2>"$T/stderr" || fail "export: exit $?"
cmp -s "$T/exp/tokenizer.json" "$FIX/bpe.json" && cmp -s "$T/exp/vocab.txt" "$T/both/vocab.txt" || fail "export lost the tokenizer files"
"$BIN" encode --model "$T/exp" --input "$T/in.txt" 2>/dev/null | cmp -s - "$T/e1.txt" || fail "export changed the embeddings"

# 5. malformed tokenizer.json in a model folder: encode, predict, train exit 2 naming it
cp -r "$CK" "$T/badm"
head -c 2000 "$FIX/bpe.json" >"$T/badm/tokenizer.json"
for cmd in encode predict; do
    "$BIN" $cmd --model "$T/badm" --input "$T/in.txt" >/dev/null 2>"$T/err"; rc=$?
    [ $rc = 2 ] && grep -qF "$T/badm/tokenizer.json" "$T/err" || fail "$cmd, malformed tokenizer.json: exit $rc: $(cat "$T/err")"
done
"$BIN" export --checkpoint "$T/badm" --out "$T/badexp" >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -qF "$T/badm/tokenizer.json" "$T/err" || fail "export, malformed tokenizer.json: exit $rc: $(cat "$T/err")"
sed "s#path: .*#path: $T/badm#; s#run_dir: .*#run_dir: $T/run4#" "$T/c2.yaml" >"$T/c4.yaml"
"$BIN" train "$T/c4.yaml" >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -qF "$T/badm/tokenizer.json" "$T/err" || fail "train, malformed tokenizer.json: exit $rc: $(tail -2 "$T/err")"

# 6. a vocab.txt folder: [CLS] + tokenize's ids + [SEP]
synthetic "$T/syn" --train 30 --dev 10
V="$T/syn/vocab.txt"
CLS=$(grep -nx '\[CLS\]' "$V" | cut -d: -f1); SEP=$(grep -nx '\[SEP\]' "$V" | cut -d: -f1)
python3 -c "
import json, sys
for l in open('$T/syn/train.jsonl'): r = json.loads(l); print(r['topic'] + '\t' + ' '.join(r['tokens']))" >"$T/syn.tsv"
"$BIN" prepare --format lines --vocab "$T/syn" --task topic --out "$T/dv" --name v --max-len 128 "$T/syn.tsv" \
    >"$T/stdout" 2>"$T/stderr" || fail "vocab.txt folder: prepare: exit $?"
grep -qF "tokenizer $V: vocab.txt WordPiece" "$T/stdout" || fail "prepare does not name the vocab.txt: $(cat "$T/stdout")"
cut -f2 "$T/syn.tsv" | "$BIN" tokenize --vocab "$V" | awk -v c=$((CLS - 1)) -v s=$((SEP - 1)) '{print c (NF ? " " $0 : "") " " s}' >"$T/v.want"
sequences "$T/dv/v-00000-of-00001.h5" | cmp -s - "$T/v.want" || fail "vocab.txt folder: ids differ from [CLS] tokenize [SEP]"

# 7. RoBERTa: 20 position rows, pad 1 -> 18 tokens
R="$T/roberta"
cp -r "$SRC/tests/fixtures/families/roberta_pooler" "$R"
{ printf '[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n'; for c in a b c d e f g h i j k l m n o p q r s t u v w x y z; do echo $c; done; } >"$R/vocab.txt"
echo "a b c d e f g h i j k l m n o p q r s t u v w x y z" >"$T/long.txt"
"$BIN" encode --model "$R" --input "$T/long.txt" --max-len 19 >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -qF -- "--max-len 19: must be in [2, 18]" "$T/err" || fail "roberta --max-len 19: exit $rc: $(cat "$T/err")"
"$BIN" encode --model "$R" --input "$T/long.txt" >"$T/r.txt" 2>"$T/err" || fail "roberta, the folder's max length: exit $?: $(cat "$T/err")"
grep -qF "truncated to 18 wordpieces" "$T/err" || fail "roberta: not cut to 18 tokens: $(cat "$T/err")"
"$BIN" encode --model "$R" --input "$T/long.txt" --max-len 18 2>/dev/null | cmp -s - "$T/r.txt" || fail "roberta --max-len 18 differs"
echo "tokenizer_json_commands: ok"
