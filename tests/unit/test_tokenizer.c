/* test_tokenizer.c — each rule of the BERT BasicTokenizer + WordPiece on a
 * small vocabulary written to /tmp (no ../shared needed). The full parity
 * run against the original tokenizer is tests/cli/tokenizer_parity.sh. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/tokenizer.h"
#include "tests/unit/testutil.h"

static const char *VOCAB[] = {
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "un", "##aff", "##able", "##ab",
    "[", "]", "cl", "##s", "$", "^", "`", "«", "»", "—", ",", ".", "中", "国", "Hello", "Héllo",
    "a", "##a", "é", "##é", "x", "##x", "σ", "ς", "α", "##σ", "##ς", "##α", "i", "!", "e", "##e",
    NULL};

/* Writes lines to a new temporary file; returns its path (static buffer
 * per call site via `path`). */
static int write_vocab(char *path, size_t len, const char **lines) {
    snprintf(path, len, "/tmp/mtbert-test-vocab-XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    FILE *f = fdopen(fd, "w");
    if (!f) { close(fd); return -1; }
    for (int i = 0; lines[i]; i++) fprintf(f, "%s\n", lines[i]);
    return fclose(f);
}

/* Tokenizes `len` bytes and renders the pieces joined by spaces. */
static const char *pieces_n(const Tokenizer *tok, const char *text, size_t len) {
    static char out[8192];
    IntVec v = {0};
    size_t bad = 0;
    if (tokenizer_encode(tok, text, len, &v, &bad)) {
        snprintf(out, sizeof out, "<invalid at %zu>", bad);
        intvec_free(&v);
        return out;
    }
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < v.len && n + 64 < sizeof out; i++) {
        const char *s = tokenizer_id_token(tok, v.data[i]);
        n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? " " : "", s ? s : "<null>");
    }
    intvec_free(&v);
    return out;
}
static const char *pieces(const Tokenizer *tok, const char *text) { return pieces_n(tok, text, strlen(text)); }

#define CHECK_PIECES(tok, text, want) do { const char *got_ = pieces(tok, text); \
    CHECKF(strcmp(got_, want) == 0, "%s -> '%s', expected '%s'", #text, got_, want); } while (0)
#define CHECK_PIECES_N(tok, text, n, want) do { const char *got_ = pieces_n(tok, text, n); \
    CHECKF(strcmp(got_, want) == 0, "%s -> '%s', expected '%s'", #text, got_, want); } while (0)

/* Invalid UTF-8 must fail at `off` and leave the ids already there alone. */
static void check_invalid(const Tokenizer *tok, const char *text, size_t len, size_t off) {
    IntVec v = {0};
    intvec_push(&v, 42);
    size_t bad = 12345;
    int rc = tokenizer_encode(tok, text, len, &v, &bad);
    CHECKF(rc == -1, "rc %d for invalid input at %zu", rc, off);
    CHECKF(bad == off, "bad offset %zu, expected %zu", bad, off);
    CHECKF(v.len == 1 && v.data[0] == 42, "ids changed (len %zu)", v.len);
    intvec_free(&v);
}

static void repeat(char *dst, const char *unit, int n) {
    dst[0] = 0;
    for (int i = 0; i < n; i++) strcat(dst, unit);
}

/* "a ##a ##a ..." for n pieces */
static void repeat_pieces(char *dst, const char *first, const char *cont, int n) {
    strcpy(dst, first);
    for (int i = 1; i < n; i++) { strcat(dst, " "); strcat(dst, cont); }
}

int main(void) {
    char path[64], err[512];
    if (write_vocab(path, sizeof path, VOCAB)) return test_skip("cannot write a temporary vocabulary in /tmp");
    Tokenizer *tok = tokenizer_load(path, 1, err, sizeof err);
    CHECKF(tok != NULL, "load: %s", err);
    if (!tok) { unlink(path); return test_finish("test_tokenizer"); }

    /* vocabulary and special ids */
    int n = 0;
    while (VOCAB[n]) n++;
    CHECK(tokenizer_vocab_size(tok) == n);
    CHECK(tokenizer_do_lower_case(tok) == 1);
    CHECK(tokenizer_pad_id(tok) == 0 && tokenizer_unk_id(tok) == 1 && tokenizer_cls_id(tok) == 2);
    CHECK(tokenizer_sep_id(tok) == 3 && tokenizer_mask_id(tok) == 4);
    for (int i = 0; i < n; i++) {
        CHECKF(tokenizer_token_id(tok, VOCAB[i]) == i, "id of %s", VOCAB[i]);
        CHECKF(tokenizer_id_token(tok, i) && strcmp(tokenizer_id_token(tok, i), VOCAB[i]) == 0, "token %d", i);
    }
    CHECK(tokenizer_token_id(tok, "nothere") == -1 && tokenizer_token_id(tok, "") == -1);
    CHECK(tokenizer_id_token(tok, -1) == NULL && tokenizer_id_token(tok, n) == NULL);
    CHECK(tokenizer_max_word_chars(tok) == 100);

    /* basic split, appending */
    CHECK_PIECES(tok, "hello world", "hello world");
    {
        IntVec v = {0};
        size_t bad;
        intvec_push(&v, 7);
        CHECK(tokenizer_encode(tok, "hello", 5, &v, &bad) == 0);
        CHECK(v.len == 2 && v.data[0] == 7 && v.data[1] == 5);
        intvec_free(&v);
    }

    /* cleaning: control characters, NUL and U+FFFD vanish (joining the word) */
    CHECK_PIECES(tok, "hel\x01lo", "hello");
    CHECK_PIECES_N(tok, "hel\0lo", 6, "hello");
    CHECK_PIECES(tok, "hel\xEF\xBF\xBDlo", "hello");          /* U+FFFD */
    CHECK_PIECES(tok, "hel\xE2\x80\x8Blo", "hello");          /* U+200B, Cf */
    CHECK_PIECES(tok, "hel\xC2\xADlo w\x7Forld", "hello world"); /* soft hyphen, DEL */
    CHECK_PIECES(tok, "\x1b\x7f", "");

    /* whitespace kinds */
    CHECK_PIECES(tok, "hello\tworld", "hello world");
    CHECK_PIECES(tok, "hello\nworld\r", "hello world");
    CHECK_PIECES(tok, "hello\xC2\xA0world", "hello world");          /* U+00A0 */
    CHECK_PIECES(tok, "hello\xE3\x80\x80world", "hello world");      /* U+3000 */
    CHECK_PIECES(tok, "hello\xE2\x80\x83world", "hello world");      /* U+2003 */
    CHECK_PIECES(tok, "hello\xE2\x80\xA8world", "hello world");      /* U+2028 (Python split) */
    CHECK_PIECES(tok, "  \t  hello   ", "hello");

    /* CJK ideographs are words of their own */
    CHECK_PIECES(tok, "中国", "中 国");
    CHECK_PIECES(tok, "hello中国world", "hello 中 国 world");

    /* lowercasing and accent stripping */
    CHECK_PIECES(tok, "Héllo", "hello");
    CHECK_PIECES(tok, "HELLO WoRlD", "hello world");
    CHECK_PIECES(tok, "He\xCC\x81llo\xCC\x88", "hello");             /* combining marks */
    CHECK_PIECES(tok, "\xC3\x89", "e");                             /* É */
    CHECK_PIECES(tok, "\xC4\xB0", "i");                             /* İ -> i + U+0307 -> i */
    /* Python's final sigma: Σ at the end of a cased word lowers to ς */
    CHECK_PIECES(tok, "\xCE\xA3", "σ");                             /* Σ alone */
    CHECK_PIECES(tok, "\xCE\x91\xCE\xA3", "α ##ς");                 /* ΑΣ */
    CHECK_PIECES(tok, "\xCE\x91\xCE\xA3\xCE\x91", "α ##σ ##α");     /* ΑΣΑ */
    CHECK_PIECES(tok, "\xCE\x91\xCE\xA3.", "α ##ς .");              /* before punctuation */

    /* punctuation: ASCII symbols and Unicode P* */
    CHECK_PIECES(tok, "hello$world", "hello $ world");
    CHECK_PIECES(tok, "^hello`", "^ hello `");
    CHECK_PIECES(tok, "«hello»", "« hello »");
    CHECK_PIECES(tok, "hello—world", "hello — world");
    CHECK_PIECES(tok, "hello,world.", "hello , world .");
    CHECK_PIECES(tok, "hello!!", "hello ! !");
    CHECK_PIECES(tok, "hello~", "hello [UNK]");                   /* ~ splits, not in vocab */

    /* greedy longest match with ## pieces */
    CHECK_PIECES(tok, "unaffable", "un ##aff ##able");
    CHECK_PIECES(tok, "unable", "un ##able");                     /* ##able beats ##ab */
    CHECK_PIECES(tok, "unab", "un ##ab");
    CHECK_PIECES(tok, "xxx", "x ##x ##x");
    /* [UNK] for no match: the whole word, not a partial one */
    CHECK_PIECES(tok, "unxyz", "[UNK]");
    CHECK_PIECES(tok, "helloq world", "[UNK] world");
    CHECK_PIECES(tok, "zzz", "[UNK]");

    /* literal special tokens are text */
    CHECK_PIECES(tok, "[CLS]", "[ cl ##s ]");
    CHECK_PIECES(tok, "[cls] hello [SEP]", "[ cl ##s ] hello [ [UNK] ]");

    /* empty input */
    CHECK_PIECES(tok, "", "");
    CHECK_PIECES(tok, "   \t ", "");

    /* words over 100 code points are one [UNK] */
    {
        static char text[4096], want[8192];
        repeat(text, "x", 100);
        repeat_pieces(want, "x", "##x", 100);
        CHECK_PIECES(tok, text, want);
        repeat(text, "x", 101);
        CHECK_PIECES(tok, text, "[UNK]");
        strcat(text, " hello");
        CHECK_PIECES(tok, text, "[UNK] hello");
        /* the limit is in code points, not bytes: É lowers to e */
        repeat(text, "\xC3\x89", 100);
        repeat_pieces(want, "e", "##e", 100);
        CHECK_PIECES(tok, text, want);
        repeat(text, "\xC3\x89", 101);
        CHECK_PIECES(tok, text, "[UNK]");
        /* configurable (the original google-research code uses 200) */
        CHECK(tokenizer_set_max_word_chars(tok, 0) == -1);
        CHECK(tokenizer_set_max_word_chars(tok, TOKENIZER_MAX_WORD_CHARS_LIMIT + 1) == -1);
        CHECK(tokenizer_set_max_word_chars(tok, 200) == 0 && tokenizer_max_word_chars(tok) == 200);
        repeat(text, "x", 150);
        repeat_pieces(want, "x", "##x", 150);
        CHECK_PIECES(tok, text, want);
        repeat(text, "x", 201);
        CHECK_PIECES(tok, text, "[UNK]");
        tokenizer_set_max_word_chars(tok, 100);
    }

    /* invalid UTF-8: offset of the first bad sequence, ids unchanged */
    check_invalid(tok, "ab\xE4\xB8", 4, 2);              /* truncated at the end */
    check_invalid(tok, "ab\xE4\xB8x", 5, 2);             /* truncated in the middle */
    check_invalid(tok, "a\xC0\x80", 3, 1);               /* overlong NUL */
    check_invalid(tok, "a\xE0\x80\xAF", 4, 1);           /* overlong '/' */
    check_invalid(tok, "a\xF0\x80\x80\xAF", 5, 1);       /* overlong, 4 bytes */
    check_invalid(tok, "abc\x80", 4, 3);                 /* lone continuation byte */
    check_invalid(tok, "hello \xBF world", 13, 6);
    check_invalid(tok, "\xED\xA0\x80", 3, 0);            /* surrogate */
    check_invalid(tok, "x\xF4\x90\x80\x80", 5, 1);       /* above U+10FFFF */
    check_invalid(tok, "x\xFF", 2, 1);
    check_invalid(tok, "Héllo \xC3", 8, 7);              /* valid é before it */

    /* cased mode keeps case and accents */
    {
        Tokenizer *c = tokenizer_load(path, 0, err, sizeof err);
        CHECKF(c != NULL, "cased load: %s", err);
        if (c) {
            CHECK(tokenizer_do_lower_case(c) == 0);
            CHECK_PIECES(c, "Héllo", "Héllo");
            CHECK_PIECES(c, "Hello hello", "Hello hello");
            CHECK_PIECES(c, "HELLO", "[UNK]");
            CHECK_PIECES(c, "é", "é");
            CHECK_PIECES(c, "e\xCC\x81", "[UNK]");      /* no NFD either: e + U+0301 is not é */
            CHECK_PIECES(c, "Hello«world»", "Hello « world »");
            CHECK_PIECES(c, "[CLS]", "[ [UNK] ]");
            CHECK(tokenizer_vocab_hash(c) == tokenizer_vocab_hash(tok));
            tokenizer_free(c);
        }
    }

    /* the vocabulary hash follows the tokens and their order */
    {
        char p2[64];
        const char *v2[] = {"[PAD]", "[UNK]", "hello", "world", NULL};
        const char *v3[] = {"[PAD]", "[UNK]", "hello", "worlds", NULL};
        const char *v4[] = {"[PAD]", "[UNK]", "world", "hello", NULL};
        uint64_t h[3];
        const char **vs[3] = {v2, v3, v4};
        for (int k = 0; k < 3; k++) {
            h[k] = 0;
            if (write_vocab(p2, sizeof p2, vs[k])) { CHECK(0); continue; }
            Tokenizer *t2 = tokenizer_load(p2, 1, err, sizeof err);
            CHECKF(t2 != NULL, "%s", err);
            if (t2) {
                h[k] = tokenizer_vocab_hash(t2);
                CHECK(tokenizer_cls_id(t2) == -1 && tokenizer_unk_id(t2) == 1);
                tokenizer_free(t2);
            }
            unlink(p2);
        }
        CHECK(h[0] != h[1] && h[0] != h[2] && h[1] != h[2]);
        CHECK(h[0] != tokenizer_vocab_hash(tok));
        /* same content, same hash */
        if (!write_vocab(p2, sizeof p2, v2)) {
            Tokenizer *t2 = tokenizer_load(p2, 0, err, sizeof err);
            CHECK(t2 && tokenizer_vocab_hash(t2) == h[0]);
            tokenizer_free(t2);
            unlink(p2);
        }
        /* a duplicate token maps to its last line, as BERT's load_vocab does */
        const char *v5[] = {"[UNK]", "hello", "world", "hello", NULL};
        if (!write_vocab(p2, sizeof p2, v5)) {
            Tokenizer *t2 = tokenizer_load(p2, 1, err, sizeof err);
            CHECK(t2 && tokenizer_token_id(t2, "hello") == 3 && tokenizer_vocab_size(t2) == 4);
            if (t2) CHECK_PIECES(t2, "hello world", "hello world");
            tokenizer_free(t2);
            unlink(p2);
        }
    }

    /* load errors name the file */
    {
        const char *missing = "/tmp/mtbert-no-such-dir/vocab.txt";
        err[0] = 0;
        CHECK(tokenizer_load(missing, 1, err, sizeof err) == NULL);
        CHECKF(strstr(err, missing) != NULL, "message '%s' does not name %s", err, missing);
        char p2[64];
        const char *empty[] = {NULL};
        if (!write_vocab(p2, sizeof p2, empty)) {
            err[0] = 0;
            CHECK(tokenizer_load(p2, 1, err, sizeof err) == NULL);
            CHECKF(strstr(err, p2) && strstr(err, "empty"), "%s", err);
            unlink(p2);
        }
        const char *badutf[] = {"[UNK]", "ok", "bad\xC3", NULL};
        if (!write_vocab(p2, sizeof p2, badutf)) {
            err[0] = 0;
            CHECK(tokenizer_load(p2, 1, err, sizeof err) == NULL);
            char want[128];
            snprintf(want, sizeof want, "%s:3:", p2);
            CHECKF(strstr(err, want) && strstr(err, "UTF-8"), "%s", err);
            unlink(p2);
        }
    }

    tokenizer_free(tok);
    unlink(path);
    return test_finish("test_tokenizer");
}
