# pairs.sh — sentence pairs for the contrastive tests (sourced; needs
# common.sh's BIN and fail).
#
#   mkpairs JSONL MODE >TSV    score<TAB>a<TAB>b, one line per sentence of a
#                              synthetic JSONL file (its "tokens"): b is a
#                              without every third word, score the word
#                              Jaccard of a and b. MODE pos: every line so;
#                              mode mixed: odd lines pair a with the NEXT
#                              sentence's b (low scores), for STS metrics.
#   pair_shards TSV OUT NAME VOCAB   mtbert prepare --format pairs of the
#                              TSV into OUT/NAME-*.h5, task 'pairs'
#                              (similarity labels: the score), or fail.
mkpairs() {
    sed 's/.*"tokens":\[\([^]]*\)\].*/\1/; s/","/ /g; s/"//g' "$1" | awk -v mode="$2" '
    function variant(s,   w, n, i, o) {
        n = split(s, w, " "); o = ""
        for (i = 1; i <= n; i++) if (i % 3) o = o (o == "" ? "" : " ") w[i]
        return o
    }
    function jac(x, y,   a, b, na, nb, i, inter, uni, seen) {
        na = split(x, a, " "); nb = split(y, b, " "); split("", seen); inter = 0; uni = 0
        for (i = 1; i <= na; i++) if (!(a[i] in seen)) { seen[a[i]] = 1; uni++ }
        for (i = 1; i <= nb; i++) {
            if (seen[b[i]] == 1) { inter++; seen[b[i]] = 2 }
            else if (!(b[i] in seen)) { seen[b[i]] = 3; uni++ }
        }
        return uni ? inter / uni : 0
    }
    { s[NR] = $0 }
    END {
        for (i = 1; i <= NR; i++) {
            b = (mode == "mixed" && i % 2) ? variant(s[i % NR + 1]) : variant(s[i])
            printf "%.4f\t%s\t%s\n", jac(s[i], b), s[i], b
        }
    }'
}
pair_shards() {
    "$BIN" prepare --format pairs --pair-columns 0,1,2 --task pairs:similarity --vocab "$4" --max-len 32 \
        --out "$2" --name "$3" --quiet "$1" >/dev/null 2>&1 || fail "prepare --format pairs $1"
}
#
#   mktriplets JSONL K >TSV    anchor<TAB>positive<TAB>neg_1 ... neg_K, one
#                              line per sentence: anchor a, positive as
#                              mkpairs (a without every third word), negative
#                              j = sentence i+j without every second word;
#                              on every 5th line the last negative is the
#                              positive itself (masked as a duplicate).
#   triplet_shards TSV OUT NAME VOCAB   mtbert prepare --format triplets of
#                              the TSV into OUT/NAME-*.h5, task 'pairs'.
mktriplets() {
    sed 's/.*"tokens":\[\([^]]*\)\].*/\1/; s/","/ /g; s/"//g' "$1" | awk -v K="$2" '
    function drop(s, m,   w, n, i, o) {
        n = split(s, w, " "); o = ""
        for (i = 1; i <= n; i++) if (i % m) o = o (o == "" ? "" : " ") w[i]
        return o == "" ? w[1] : o
    }
    { s[NR] = $0 }
    END {
        for (i = 1; i <= NR; i++) {
            p = drop(s[i], 3); line = s[i] "\t" p
            for (j = 1; j <= K; j++) line = line "\t" ((j == K && i % 5 == 0) ? p : drop(s[(i + j - 1) % NR + 1], 2))
            print line
        }
    }'
}
triplet_shards() {
    "$BIN" prepare --format triplets --task pairs:similarity --vocab "$4" --max-len 32 \
        --out "$2" --name "$3" --quiet "$1" >/dev/null 2>&1 || fail "prepare --format triplets $1"
}

#   ctr_yaml VOCAB_DIR TRAIN EVAL >YAML   the tiny contrastive run both
#                              contrastive tests start from: task 'pairs'
#                              (mnrl) on the shard globs TRAIN / EVAL, batch
#                              16 of at most 32 tokens, 30 steps, lr 1e-3,
#                              every step logged (needs common.sh's
#                              tiny_model_yaml).
#   loss_drop METRICS KEY      "first last": the means of the first and the
#                              last 3 logged values of KEY ("none" under 6).
ctr_yaml() {
    tiny_model_yaml "$1"
    cat <<EOF
tasks:
  - name: pairs
    type: contrastive
    loss: mnrl
    data: {train: "$2", eval: "$3"}
data: {batch_size: 16, max_len: 32}
optimizer: {lr: 1e-3}
train: {steps: 30, threads: 1, backend: cpu}
logging: {every: 1}
EOF
}
loss_drop() {
    grep '"event": "train"' "$1" | grep -o "\"$2\": [0-9.e+-]*" | awk '{ v[NR] = $2 }
        END { if (NR < 6) { print "none"; exit } printf "%g %g\n", (v[1] + v[2] + v[3]) / 3, (v[NR] + v[NR-1] + v[NR-2]) / 3 }'
}
