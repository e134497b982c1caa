/* fuzz_tokenizer_json — tokenizer.json tokenizers (data/tokenizer_json.h).
 * Input byte 0 picks the mode:
 *   even: the rest is a tokenizer.json; if it loads, a fixed text (and a
 *         pair) is encoded with it;
 *   odd:  the rest is text, encoded (alone, as a pair split at byte 1's
 *         position, and truncated) by each tokenizer of
 *         tests/fixtures/tokenizers plus variants with every setting the
 *         fixtures leave off (prefix spaces, byte fallback, Split, Digits,
 *         Replace, normalized added tokens).
 * Checked: ids within the vocabulary, words >= -1, errors leave the output
 * unchanged. Run from the repository root (run_fuzz.sh does). */
#include "fuzz_common.h"
#include "data/tokenizer_json.h"

#include <jansson.h>

#define NTOK 8
static Tok *tok[NTOK];
static int ntok;

static void add(Tok *t, const char *what, const char *err) {
    if (!t) { fprintf(stderr, "fuzz_tokenizer_json: %s: %s\n", what, err); abort(); }
    tok[ntok++] = t;
}

static Tok *patched(const char *path, const char *patch) {
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je), *p = json_loads(patch, 0, &je);
    if (!root || !p) { fprintf(stderr, "fuzz_tokenizer_json: %s / patch: %s\n", path, je.text); abort(); }
    json_object_update(root, p);
    char *text = json_dumps(root, JSON_COMPACT);
    char err[512];
    Tok *t = tok_from_json(text, strlen(text), path, err, sizeof err);
    if (!t) { fprintf(stderr, "fuzz_tokenizer_json: %s\n", err); abort(); }
    free(text);
    json_decref(root);
    json_decref(p);
    return t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    char err[512];
    static const char *const files[] = {"wordpiece", "wordpiece_cased", "bpe", "unigram"};
    for (int i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/tokenizers/%s.json", files[i]);
        add(tok_open(path, 1, err, sizeof err), path, err);
    }
    tok[ntok++] = patched("tests/fixtures/tokenizers/bpe.json",
        "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\", \"individual_digits\": true},"
        " {\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\s+\"}, \"behavior\": \"MergedWithPrevious\", \"invert\": false},"
        " {\"type\": \"ByteLevel\", \"add_prefix_space\": true}]},"
        " \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"}, {\"type\": \"Strip\"},"
        " {\"type\": \"Replace\", \"pattern\": {\"String\": \"a\"}, \"content\": \"\\u00e9\\u00e9\"}, {\"type\": \"Prepend\", \"prepend\": \"_\"}]},"
        " \"added_tokens\": [{\"id\": 2000, \"content\": \"ab\", \"normalized\": true, \"single_word\": true, \"lstrip\": true, \"rstrip\": true},"
        " {\"id\": 4, \"content\": \"<mask>\", \"special\": true, \"lstrip\": true}]}");
    tok[ntok++] = patched("tests/fixtures/tokenizers/unigram.json",
        "{\"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\\u2581\", \"prepend_scheme\": \"first\", \"split\": false},"
        " \"normalizer\": {\"type\": \"Precompiled\", \"precompiled_charsmap\": \"\"},"
        " \"post_processor\": {\"type\": \"Sequence\", \"processors\": [{\"type\": \"ByteLevel\"},"
        " {\"type\": \"BertProcessing\", \"sep\": [\"</s>\", 2], \"cls\": [\"<s>\", 0]}]}}");
    tok[ntok++] = patched("tests/fixtures/tokenizers/wordpiece.json",
        "{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Whitespace\"},"
        " {\"type\": \"Punctuation\", \"behavior\": \"Contiguous\"}, {\"type\": \"Digits\"}]},"
        " \"normalizer\": {\"type\": \"BertNormalizer\", \"lowercase\": false, \"strip_accents\": true}, \"post_processor\": null}");
    return 0;
}

static void check(const Tok *t, const TokEnc *e) {
    int n = tok_vocab_size(t);
    for (size_t i = 0; i < e->len; i++) {
        if (e->ids[i] < 0 || e->ids[i] >= n) abort();
        if (e->words[i] < -1) abort();
        if (e->seq[i] < -1 || e->seq[i] > 1) abort();
    }
}

static void run(const Tok *t, const char *s, size_t n, size_t cut) {
    TokEnc e = {0};
    char err[256];
    e.len = 0;
    if (tok_encode_text(t, s, n, &e, err, sizeof err) == 0) check(t, &e);
    else if (e.len) abort();
    if (tok_encode(t, s, n, 7, &e, err, sizeof err) == 0) {
        check(t, &e);
        if (e.len > 7 && tok_num_special(t, 0) <= 7) abort();
    }
    if (cut > n) cut = n;
    if (tok_encode_pair(t, s, cut, s + cut, n - cut, 0, &e, err, sizeof err) == 0) check(t, &e);
    if (tok_encode_pair(t, s, cut, s + cut, n - cut, 12, &e, err, sizeof err) == 0) {
        check(t, &e);
        if (e.len > 12 && tok_num_special(t, 1) <= 12) abort();
    }
    tok_enc_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    const char *s = (const char *)data + 2;
    size_t n = size - 2;
    if (!(data[0] & 1)) {
        char err[512];
        Tok *t = tok_from_json(s, n, "fuzz.json", err, sizeof err);
        if (t) {
            static const char text[] = "Hello, World! caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 <s> [CLS] 123";
            run(t, text, sizeof text - 1, data[1] % 16);
            tok_free(t);
        }
        return 0;
    }
    for (int i = 0; i < ntok; i++) run(tok[i], s, n, data[1]);
    return 0;
}
