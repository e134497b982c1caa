/* test_tokenizer_json — tokenizer.json tokenizers (data/tokenizer_json.h)
 * against ids that the Hugging Face `tokenizers` library gave
 * (the .jsonl files in tests/fixtures/tokenizers, made by
 * tests/reference/make_tokenizer_fixtures.py), plus hand-checked word
 * alignment, the vocab.txt wrapper, and hostile inputs.
 *
 *   test_tokenizer_json                 the unit test (ctest)
 *   test_tokenizer_json --check F.jsonl...   parity report on fixture files
 *       (e.g. the NAME.all.jsonl of make_tokenizer_fixtures.py --all);
 *       prints matching lines per file, exit 1 on any mismatch
 *   test_tokenizer_json --bench TOKENIZER TEXTFILE [REPEAT]   speed, one thread
 *
 * A fixture file's first line names its tokenizer.json (beside it) and an
 * optional top-level patch: {"tokenizer": "bpe.json", "patch": {...}}, with
 * optionally "model_patch" (merged into "model") and "vocab_append" (pieces
 * added to the model's vocabulary); each
 * further line is {"a": text, "b": text (pairs), "special": bool,
 * "max_len": n, "ids": [...], "type_ids": [...]}. */
#include "data/tokenizer_json.h"
#include "testutil.h"
#include "util/fsutil.h"

#include <dirent.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static Tok *load_fixture_tok(const char *jsonl_path, json_t *hdr, char *err, size_t errlen) {
    const char *tname = json_string_value(json_object_get(hdr, "tokenizer"));
    if (!tname) {
        snprintf(err, errlen, "%s: first line names no tokenizer", jsonl_path);
        return NULL;
    }
    char path[1024];
    const char *slash = strrchr(jsonl_path, '/');
    int dl = slash ? (int)(slash - jsonl_path) : 1;
    snprintf(path, sizeof path, "%.*s/%s", dl, slash ? jsonl_path : ".", tname);
    json_t *patch = json_object_get(hdr, "patch");
    json_t *mpatch = json_object_get(hdr, "model_patch"), *vadd = json_object_get(hdr, "vocab_append");
    if (!json_is_object(patch) && !mpatch && !vadd) return tok_open(path, 1, err, errlen);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(err, errlen, "%.300s: %.150s", path, je.text);
        return NULL;
    }
    if (json_is_object(patch)) json_object_update(root, patch);
    json_t *model = json_object_get(root, "model");
    if (json_is_object(mpatch)) json_object_update(model, mpatch);
    json_t *vocab = json_object_get(model, "vocab");
    if (json_is_array(vadd)) json_array_extend(vocab, vadd);
    else if (json_is_object(vadd)) json_object_update(vocab, vadd);
    char *text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    Tok *t = tok_from_json(text, strlen(text), path, err, errlen);
    free(text);
    return t;
}

static int ints_equal(json_t *arr, const int *v, size_t n) {
    if (!json_is_array(arr) || json_array_size(arr) != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (json_integer_value(json_array_get(arr, i)) != v[i]) return 0;
    return 1;
}

/* returns the number of mismatching lines, -1 if the file cannot be used */
static long check_file(const char *path, long *lines, int verbose) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "%s: cannot open\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    Tok *tok = NULL;
    long bad = 0, ln = 0;
    *lines = 0;
    TokEnc enc = {0};
    char err[512];
    int shown = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        ln++;
        json_error_t je;
        json_t *row = json_loadb(line, (size_t)n, JSON_ALLOW_NUL, &je);
        if (!row) {
            fprintf(stderr, "%s:%ld: %s\n", path, ln, je.text);
            bad = -1;
            break;
        }
        if (ln == 1) {
            tok = load_fixture_tok(path, row, err, sizeof err);
            json_decref(row);
            if (!tok) {
                fprintf(stderr, "%s: %s\n", path, err);
                bad = -1;
                break;
            }
            continue;
        }
        json_t *ja = json_object_get(row, "a"), *jb = json_object_get(row, "b");
        int special = json_is_true(json_object_get(row, "special"));
        int max_len = (int)json_integer_value(json_object_get(row, "max_len"));
        const char *a = json_string_value(ja);
        int rc;
        if (!special) {
            tok_enc_clear(&enc);
            rc = tok_encode_text(tok, a, json_string_length(ja), &enc, err, sizeof err);
        } else if (jb) {
            rc = tok_encode_pair(tok, a, json_string_length(ja), json_string_value(jb), json_string_length(jb),
                                 max_len, &enc, err, sizeof err);
        } else {
            rc = tok_encode(tok, a, json_string_length(ja), max_len, &enc, err, sizeof err);
        }
        int ok = rc == 0 && ints_equal(json_object_get(row, "ids"), enc.ids, enc.len) &&
                 ints_equal(json_object_get(row, "type_ids"), enc.type_ids, enc.len);
        (*lines)++;
        if (!ok) {
            bad++;
            if (verbose && shown++ < 5) {
                char *exp = json_dumps(json_object_get(row, "ids"), JSON_COMPACT);
                fprintf(stderr, "%s:%ld: mismatch (rc %d%s%s)\n  text: %.300s\n  want: %.400s\n  got:  [", path, ln,
                        rc, rc ? ": " : "", rc ? err : "", a, exp);
                for (size_t i = 0; i < enc.len && i < 80; i++) fprintf(stderr, "%s%d", i ? "," : "", enc.ids[i]);
                fprintf(stderr, "]\n");
                free(exp);
            }
        }
        json_decref(row);
    }
    free(line);
    fclose(f);
    tok_enc_free(&enc);
    tok_free(tok);
    return bad;
}

static int check_main(int argc, char **argv) {
    long total = 0, total_bad = 0;
    int failed = 0;
    for (int i = 2; i < argc; i++) {
        long lines;
        long bad = check_file(argv[i], &lines, 1);
        if (bad < 0) { failed = 1; continue; }
        printf("%s: %ld of %ld lines match\n", argv[i], lines - bad, lines);
        total += lines;
        total_bad += bad;
    }
    printf("all: %ld of %ld lines match (%ld mismatches)\n", total - total_bad, total, total_bad);
    return failed || total_bad ? 1 : 0;
}

/* ---------------------------------------------------------------- parity */

static void test_fixtures(void) {
    char dir[1024];
    test_source_path("tests/fixtures/tokenizers", dir, sizeof dir);
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "%s missing", dir);
    if (!d) return;
    struct dirent *e;
    int files = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 7 || strcmp(e->d_name + n - 6, ".jsonl")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        long lines;
        long bad = check_file(path, &lines, 1);
        CHECKF(bad == 0 && lines > 100, "%s: %ld mismatches over %ld lines", e->d_name, bad, lines);
        printf("parity %-24s %ld of %ld lines match\n", e->d_name, lines - (bad > 0 ? bad : 0), lines);
        files++;
    }
    closedir(d);
    CHECKF(files >= 4, "only %d fixture files", files);
}

static Tok *fixture(const char *name) {
    char path[1024], rel[256], err[512];
    snprintf(rel, sizeof rel, "tests/fixtures/tokenizers/%s", name);
    test_source_path(rel, path, sizeof path);
    Tok *t = tok_open(path, 1, err, sizeof err);
    CHECKF(t != NULL, "%s: %s", name, err);
    return t;
}

/* ---------------------------------------------------------- word alignment */

static void check_words(Tok *t, const char *text, const int *want_words, const unsigned *want_first, size_t n) {
    TokEnc e = {0};
    char err[256];
    int rc = tok_encode_text(t, text, strlen(text), &e, err, sizeof err);
    CHECKF(rc == 0 && e.len == n, "\"%s\": %zu pieces, want %zu (rc %d)", text, e.len, n, rc);
    for (size_t i = 0; i < n && i < e.len; i++) {
        CHECKF(e.words[i] == want_words[i], "\"%s\" piece %zu (%s): word %d, want %d", text, i,
               tok_id_token(t, e.ids[i]), e.words[i], want_words[i]);
        CHECKF((e.flags[i] & TOK_FIRST) == want_first[i], "\"%s\" piece %zu (%s): first %u, want %u", text, i,
               tok_id_token(t, e.ids[i]), e.flags[i] & TOK_FIRST, want_first[i]);
    }
    tok_enc_free(&e);
}

/* Expected pieces are spelled as the tokens themselves so that a wrong
 * split shows; the words come from where each piece sits in the text. */
static void check_pieces(Tok *t, const char *text, const char *const *pieces, const int *words, size_t n) {
    TokEnc e = {0};
    char err[256];
    int rc = tok_encode_text(t, text, strlen(text), &e, err, sizeof err);
    CHECKF(rc == 0 && e.len == n, "\"%s\": %zu pieces, want %zu", text, e.len, n);
    int prev = -1;
    for (size_t i = 0; i < n && i < e.len; i++) {
        const char *got = tok_id_token(t, e.ids[i]);
        CHECKF(got && !strcmp(got, pieces[i]), "\"%s\" piece %zu: %s, want %s", text, i, got ? got : "?", pieces[i]);
        CHECKF(e.words[i] == words[i], "\"%s\" piece %zu (%s): word %d, want %d", text, i, pieces[i], e.words[i],
               words[i]);
        unsigned first = words[i] >= 0 && words[i] != prev ? TOK_FIRST : 0;
        if (words[i] >= 0) prev = words[i];
        CHECKF((e.flags[i] & TOK_FIRST) == first, "\"%s\" piece %zu (%s): first flag", text, i, pieces[i]);
    }
    tok_enc_free(&e);
}

static void test_alignment(void) {
    Tok *wp = fixture("wordpiece.json"), *bpe = fixture("bpe.json"), *uni = fixture("unigram.json");
    if (!wp || !bpe || !uni) goto out;
    /* WordPiece: punctuation splits a word into pieces of the same word */
    {
        static const char *const p[] = {"the", "film", "'", "s", "end", "."};
        static const int w[] = {0, 1, 1, 1, 2, 2};
        check_pieces(wp, "The film's  end.", p, w, 6);
    }
    /* BPE: the space mark Ġ opens each word after the first */
    {
        static const char *const p[] = {"the", "\xc4\xa0" "film", "\xc4\xa0" "is", "\xc4\xa0" "good"};
        static const int w[] = {0, 1, 2, 3};
        check_pieces(bpe, "the film is good", p, w, 4);
    }
    /* BPE: extra spaces before a word are pieces of no word (Ġ Ġ, as this
     * vocabulary has no ĠĠ) */
    {
        static const int w[] = {0, -1, -1, 1};
        static const unsigned f[] = {TOK_FIRST, 0, 0, TOK_FIRST};
        check_words(bpe, "the   film", w, f, 4);
    }
    /* Unigram: ▁ opens every word (prepend_scheme always) */
    {
        TokEnc e = {0};
        char err[256];
        const char *text = "the film is good";
        CHECK(tok_encode_text(uni, text, strlen(text), &e, err, sizeof err) == 0);
        int words_seen = 0;
        for (size_t i = 0; i < e.len; i++) {
            const char *s = tok_id_token(uni, e.ids[i]);
            int opens = s && !strncmp(s, "\xe2\x96\x81", 3);
            CHECKF(!!(e.flags[i] & TOK_FIRST) == opens, "unigram piece %zu %s: first flag %u", i, s, e.flags[i]);
            words_seen += opens;
            CHECK(e.words[i] >= 0 && e.words[i] <= 3);
        }
        CHECK(words_seen == 4);
        tok_enc_free(&e);
    }
    /* special tokens: no word, flagged; words numbered across them */
    {
        TokEnc e = {0};
        char err[256];
        const char *text = "good <mask> film";
        CHECK(tok_encode_text(bpe, text, strlen(text), &e, err, sizeof err) == 0);
        int mask = tok_mask_id(bpe), found = 0;
        for (size_t i = 0; i < e.len; i++) {
            if (e.ids[i] == mask) {
                found = 1;
                CHECK(e.words[i] == -1 && (e.flags[i] & TOK_SPECIAL));
            } else {   /* "Ġ" before <mask> is no word's */
                CHECKF(e.words[i] == 0 || e.words[i] == 2 || (e.words[i] == -1 && !strcmp(tok_id_token(bpe, e.ids[i]), "\xc4\xa0")),
                       "piece %zu %s word %d", i, tok_id_token(bpe, e.ids[i]), e.words[i]);
            }
        }
        CHECK(found);
        tok_enc_free(&e);
    }
    /* pair: post-processor tokens have seq -1, the second sequence seq 1 and
     * its own word numbers */
    {
        TokEnc e = {0};
        char err[256];
        CHECK(tok_encode_pair(bpe, "a b", 3, "c d", 3, 0, &e, err, sizeof err) == 0);
        CHECK(e.len >= 8);
        CHECK(e.ids[0] == tok_cls_id(bpe) && e.seq[0] == -1 && e.words[0] == -1);
        CHECK(e.ids[e.len - 1] == tok_sep_id(bpe) && e.seq[e.len - 1] == -1);
        int maxw1 = -1;
        for (size_t i = 0; i < e.len; i++) if (e.seq[i] == 1 && e.words[i] > maxw1) maxw1 = e.words[i];
        CHECK(maxw1 == 1);
        tok_enc_free(&e);
    }
out:
    tok_free(wp);
    tok_free(bpe);
    tok_free(uni);
}

/* ------------------------------------------------------------- threads */

/* One Tok shared by threads (scratch is per thread): each thread encodes
 * every text of a fixture file, results must equal a serial pass. */
typedef struct {
    const Tok *tok;
    char **texts;
    int n;
    uint64_t sum;   /* hash of all ids, words, flags */
} ThrArg;

static uint64_t enc_hash(uint64_t h, const TokEnc *e) {
    for (size_t i = 0; i < e->len; i++) {
        h = (h ^ (uint64_t)(uint32_t)e->ids[i]) * 0x100000001b3ULL;
        h = (h ^ (uint64_t)(uint32_t)e->words[i]) * 0x100000001b3ULL;
        h = (h ^ e->flags[i]) * 0x100000001b3ULL;
    }
    return (h ^ 0xff) * 0x100000001b3ULL;
}

static void *thr_main(void *p) {
    ThrArg *a = p;
    TokEnc e = {0};
    char err[256];
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int r = 0; r < 5; r++)
        for (int i = 0; i < a->n; i++) {
            if (tok_encode(a->tok, a->texts[i], strlen(a->texts[i]), 64, &e, err, sizeof err)) h ^= 1;
            h = enc_hash(h, &e);
        }
    a->sum = h;
    tok_enc_free(&e);
    return NULL;
}

static void test_threads(void) {
    static const char *const files[] = {"bpe", "unigram", "wordpiece"};
    for (int f = 0; f < 3; f++) {
        char rel[256], path[1024];
        snprintf(rel, sizeof rel, "tests/fixtures/tokenizers/%s.jsonl", files[f]);
        test_source_path(rel, path, sizeof path);
        snprintf(rel, sizeof rel, "%s.json", files[f]);
        Tok *t = fixture(rel);
        FILE *fp = fopen(path, "rb");
        CHECK(fp != NULL);
        if (!t || !fp) { tok_free(t); if (fp) fclose(fp); continue; }
        char *texts[512];
        int n = 0;
        char *line = NULL;
        size_t cap = 0;
        while (n < 512 && getline(&line, &cap, fp) > 0) {
            json_t *row = json_loads(line, JSON_ALLOW_NUL, NULL);
            const char *a = json_string_value(json_object_get(row, "a"));
            if (a) texts[n++] = strdup(a);
            json_decref(row);
        }
        free(line);
        fclose(fp);
        ThrArg serial = {t, texts, n, 0};
        thr_main(&serial);
        ThrArg args[4];
        pthread_t th[4];
        for (int k = 0; k < 4; k++) {
            args[k] = (ThrArg){t, texts, n, 0};
            CHECK(pthread_create(&th[k], NULL, thr_main, &args[k]) == 0);
        }
        for (int k = 0; k < 4; k++) {
            pthread_join(th[k], NULL);
            CHECKF(args[k].sum == serial.sum, "%s: thread %d differs from the serial pass", files[f], k);
        }
        for (int i = 0; i < n; i++) free(texts[i]);
        tok_free(t);
    }
}

/* ---------------------------------------------------------- roles, sizes */

static void test_roles(void) {
    Tok *wp = fixture("wordpiece.json"), *bpe = fixture("bpe.json"), *uni = fixture("unigram.json");
    if (wp) {
        CHECK(tok_kind(wp) == TOK_KIND_WORDPIECE);
        CHECK(tok_vocab_size(wp) == 2000);
        CHECK(tok_cls_id(wp) == tok_token_id(wp, "[CLS]") && tok_cls_id(wp) >= 0);
        CHECK(tok_sep_id(wp) == tok_token_id(wp, "[SEP]") && tok_sep_id(wp) >= 0);
        CHECK(tok_pad_id(wp) == tok_token_id(wp, "[PAD]"));
        CHECK(tok_unk_id(wp) == tok_token_id(wp, "[UNK]"));
        CHECK(tok_mask_id(wp) == tok_token_id(wp, "[MASK]"));
        CHECK(tok_num_special(wp, 0) == 2 && tok_num_special(wp, 1) == 3);
        CHECK(!strcmp(tok_id_token(wp, tok_cls_id(wp)), "[CLS]"));
        CHECK(tok_id_token(wp, 99999) == NULL && tok_id_token(wp, -1) == NULL);
    }
    if (bpe) {
        CHECK(tok_kind(bpe) == TOK_KIND_BPE);
        CHECK(tok_cls_id(bpe) == tok_token_id(bpe, "<s>"));
        CHECK(tok_sep_id(bpe) == tok_token_id(bpe, "</s>"));
        CHECK(tok_pad_id(bpe) == tok_token_id(bpe, "<pad>"));
        CHECK(tok_num_special(bpe, 0) == 2 && tok_num_special(bpe, 1) == 4);
    }
    if (uni) {
        CHECK(tok_kind(uni) == TOK_KIND_UNIGRAM);
        CHECK(tok_unk_id(uni) == tok_token_id(uni, "<unk>") && tok_unk_id(uni) >= 0);
        CHECK(tok_num_special(uni, 1) == 4);
    }
    /* max_len below the template's own tokens: only the specials remain */
    if (wp) {
        TokEnc e = {0};
        char err[256];
        CHECK(tok_encode(wp, "hello world", 11, 1, &e, err, sizeof err) == 0);
        CHECK(e.len == 2 && e.ids[0] == tok_cls_id(wp) && e.ids[1] == tok_sep_id(wp));
        CHECK(tok_encode(wp, "hello world", 11, 3, &e, err, sizeof err) == 0);
        CHECK(e.len == 3 && e.ids[0] == tok_cls_id(wp) && e.ids[2] == tok_sep_id(wp));
        tok_enc_free(&e);
    }
    tok_free(wp);
    tok_free(bpe);
    tok_free(uni);
}

/* ------------------------------------------------------------- vocab.txt */

static void test_vocab_txt(void) {
    char path[] = "/tmp/mtbert-test-tokjson-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    const char *vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nfilm\n##s\n.\nun\n##like\n##ly\n";
    CHECK(write(fd, vocab, strlen(vocab)) == (ssize_t)strlen(vocab));
    close(fd);
    char err[256];
    Tok *t = tok_open(path, 1, err, sizeof err);
    CHECKF(t != NULL, "%s", err);
    if (t) {
        CHECK(tok_kind(t) == TOK_KIND_VOCAB_TXT && tok_vocab_tokenizer(t) != NULL);
        CHECK(tok_vocab_size(t) == 12 && tok_cls_id(t) == 2 && tok_sep_id(t) == 3 && tok_pad_id(t) == 0);
        const char *text = "The films\tunlikely. zzz";
        /* same ids as tokenizer_encode on the whole text */
        IntVec ref = {0};
        size_t bad;
        CHECK(tokenizer_encode(tok_vocab_tokenizer(t), text, strlen(text), &ref, &bad) == 0);
        TokEnc e = {0};
        CHECK(tok_encode_text(t, text, strlen(text), &e, err, sizeof err) == 0);
        CHECK(e.len == ref.len);
        for (size_t i = 0; i < e.len && i < ref.len; i++) CHECK(e.ids[i] == ref.data[i]);
        /* the film ##s un ##like ##ly . [UNK] */
        static const int words[] = {0, 1, 1, 2, 2, 2, 2, 3};
        static const unsigned first[] = {1, 1, 0, 1, 0, 0, 0, 1};
        CHECK(e.len == 8);
        for (size_t i = 0; i < 8 && i < e.len; i++) CHECK(e.words[i] == words[i] && (e.flags[i] & TOK_FIRST) == first[i]);
        CHECK(tok_encode_pair(t, "the", 3, "film", 4, 0, &e, err, sizeof err) == 0);
        static const int pair_ids[] = {2, 5, 3, 6, 3}, pair_types[] = {0, 0, 0, 1, 1};
        CHECK(e.len == 5);
        for (size_t i = 0; i < 5 && i < e.len; i++) CHECK(e.ids[i] == pair_ids[i] && e.type_ids[i] == pair_types[i]);
        CHECK(tok_vocab_hash(t) == tokenizer_vocab_hash(tok_vocab_tokenizer(t)));
        tok_enc_free(&e);
        intvec_free(&ref);
        tok_free(t);
    }
    unlink(path);
}

/* --------------------------------------------------------------- hostile */

static void expect_error(const char *json, const char *want) {
    char err[512] = "";
    Tok *t = tok_from_json(json, strlen(json), "t.json", err, sizeof err);
    CHECKF(t == NULL, "accepted: %s", json);
    CHECKF(strstr(err, want) != NULL, "message \"%s\" lacks \"%s\"", err, want);
    CHECKF(!strncmp(err, "t.json: ", 8), "message \"%s\" does not name the file", err);
    tok_free(t);
}

static void test_hostile(void) {
    expect_error("", "not valid JSON");
    expect_error("{\"model\": ", "not valid JSON");
    expect_error("[1, 2]", "top level is not an object");
    expect_error("{}", "\"model\" is missing");
    expect_error("{\"model\": 3}", "\"model\" is not an object");
    expect_error("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}", "model type \"WordLevel\" is not supported");
    expect_error("{\"model\": {\"type\": 7}}", "\"type\" is not a string");
    expect_error("{\"model\": {}}", "no \"type\"");
    expect_error("{\"model\": {\"type\": \"WordPiece\"}}", "\"vocab\" is missing");
    expect_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", "\"unk_token\" is missing");
    expect_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}, \"unk_token\": \"[UNK]\"}}",
                 "not in the vocabulary");
    expect_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": \"x\"}, \"unk_token\": \"a\"}}",
                 "is not an integer");
    expect_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": -4}, \"unk_token\": \"a\"}}", "out of range");
    expect_error("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 99999999999}, \"unk_token\": \"a\"}}",
                 "out of range");
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}}}", "\"merges\" is missing");
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}", "not in the vocabulary");
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}", "not two tokens");
    expect_error("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[1, 2]]}}", "neither");
    expect_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}", "\"vocab\" is empty");
    expect_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\"]]}}", "not [piece, score]");
    expect_error("{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.5]], \"unk_id\": 5}}", "unk_id 5");
    const char *m = "\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"<unk>\", 0], [\"a\", -1]], \"unk_id\": 0}";
    char buf[1024];
    snprintf(buf, sizeof buf, "{%s, \"normalizer\": {\"type\": \"Weird\"}}", m);
    expect_error(buf, "normalizer type \"Weird\" is not supported");
    snprintf(buf, sizeof buf, "{%s, \"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"Regex\": \"(\"}, \"content\": \"\"}}", m);
    expect_error(buf, "normalizer Replace");
    snprintf(buf, sizeof buf, "{%s, \"pre_tokenizer\": {\"kind\": 1}}", m);
    expect_error(buf, "\"type\" is missing");
    snprintf(buf, sizeof buf, "{%s, \"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": 3}}", m);
    expect_error(buf, "\"pattern\" must be");
    snprintf(buf, sizeof buf, "{%s, \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"ab\"}}", m);
    expect_error(buf, "must be one character");
    snprintf(buf, sizeof buf, "{%s, \"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": "
                              "[{\"SpecialToken\": {\"id\": \"<s>\", \"type_id\": 0}}], \"pair\": [], \"special_tokens\": {}}}", m);
    expect_error(buf, "no \"ids\"");
    snprintf(buf, sizeof buf, "{%s, \"post_processor\": {\"type\": \"BertProcessing\", \"sep\": 1, \"cls\": [\"a\", 1]}}", m);
    expect_error(buf, "not [token, id]");
    snprintf(buf, sizeof buf, "{%s, \"post_processor\": {\"type\": \"RobertaProcessing\", \"sep\": [\"a\", 1], \"cls\": [\"b\", 7]}}", m);
    expect_error(buf, "special token id 7 is outside the vocabulary");
    snprintf(buf, sizeof buf, "{%s, \"added_tokens\": [{\"content\": 5}]}", m);
    expect_error(buf, "added_tokens[0]");

    /* a minimal valid file: Unigram with unk; invalid UTF-8 input is refused */
    snprintf(buf, sizeof buf, "{%s, \"pre_tokenizer\": {\"type\": \"Metaspace\"}}", m);
    char err[256];
    Tok *t = tok_from_json(buf, strlen(buf), "t.json", err, sizeof err);
    CHECKF(t != NULL, "%s", err);
    if (t) {
        TokEnc e = {0};
        static const char *const badtext[] = {"ab\xff", "\xc3", "a\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf"};
        static const size_t badoff[] = {2, 0, 1, 0, 0};
        for (int i = 0; i < 5; i++) {
            tok_enc_clear(&e);
            int rc = tok_encode_text(t, badtext[i], strlen(badtext[i]), &e, err, sizeof err);
            char want[64];
            snprintf(want, sizeof want, "invalid UTF-8 at byte %zu", badoff[i]);
            CHECKF(rc == -1 && e.len == 0 && strstr(err, want), "case %d: rc %d len %zu \"%s\"", i, rc, e.len, err);
            rc = tok_encode_pair(t, "a", 1, badtext[i], strlen(badtext[i]), 16, &e, err, sizeof err);
            CHECKF(rc == -1 && strstr(err, "second sequence"), "pair case %d: \"%s\"", i, err);
        }
        /* unknown characters: one fused unk; words kept */
        tok_enc_clear(&e);
        CHECK(tok_encode_text(t, "a xyz a", 7, &e, err, sizeof err) == 0);
        CHECK(e.len >= 3);
        tok_enc_free(&e);
        tok_free(t);
    }
    CHECK(tok_open("/nonexistent/tokenizer.json", 1, err, sizeof err) == NULL && strstr(err, "/nonexistent"));
    char dir[] = "/tmp/mtbert-test-tokjson-dir-XXXXXX";
    if (mkdtemp(dir)) {
        CHECK(tok_open(dir, 1, err, sizeof err) == NULL && strstr(err, "neither tokenizer.json nor vocab.txt"));
        rmdir(dir);
    }
}

/* --bench TOKENIZER TEXTFILE [REPEAT]: tok_encode_text over every line,
 * one thread; prints lines, tokens a pass and tokens/s */
static int bench_main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: test_tokenizer_json --bench TOKENIZER TEXTFILE [REPEAT]\n");
        return 2;
    }
    char err[512];
    Tok *t = tok_open(argv[2], 1, err, sizeof err);
    if (!t) { fprintf(stderr, "%s\n", err); return 2; }
    size_t len;
    char *text = fs_read_file(argv[3], &len, err, sizeof err);
    if (!text) { fprintf(stderr, "%s\n", err); tok_free(t); return 2; }
    int repeat = argc > 4 ? atoi(argv[4]) : 10;
    TokEnc e = {0};
    size_t tokens = 0, lines = 0;
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    for (int r = 0; r < repeat; r++) {
        size_t i = 0;
        while (i < len) {
            const char *nl = memchr(text + i, '\n', len - i);
            size_t end = nl ? (size_t)(nl - text) : len;
            tok_enc_clear(&e);
            if (tok_encode_text(t, text + i, end - i, &e, err, sizeof err)) { fprintf(stderr, "%s\n", err); break; }
            tokens += e.len;
            if (r == 0) lines++;
            i = end + 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    double sec = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    double cpu = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
    printf("%s (%s): %zu lines, %zu bytes, %zu tokens a pass; %.2f M tokens/s (%.1f MB/s) wall, "
           "%.2f M tokens/s of CPU time\n", argv[2], tok_kind_name(tok_kind(t)), lines, len, tokens / (size_t)repeat,
           (double)tokens / sec / 1e6, (double)len * repeat / sec / 1e6, (double)tokens / cpu / 1e6);
    tok_enc_free(&e);
    free(text);
    tok_free(t);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "--check")) return check_main(argc, argv);
    if (argc > 1 && !strcmp(argv[1], "--bench")) return bench_main(argc, argv);
    test_fixtures();
    test_alignment();
    test_roles();
    test_threads();
    test_vocab_txt();
    test_hostile();
    return test_finish("test_tokenizer_json");
}
