/* cmd_tokenize.c — `mtbert tokenize`: WordPiece ids (or pieces) for each
 * input line, and a one-thread speed benchmark (--bench); the same through
 * a tokenizer.json (data/tokenizer_json.h) when --vocab names one or a
 * folder holding one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/tokenizer.h"
#include "data/tokenizer_json.h"
#include "trainer/cli/args.h"
#include "trainer/cli/cli.h"

static const char USAGE_LINES[] =
    "usage: mtbert tokenize --vocab PATH [--cased] [--tokens] [--input FILE] < text > ids\n"
    "       mtbert tokenize --vocab PATH [--cased] --bench FILE [--repeat N]\n";

/* A usage error gets the two usage lines and a pointer to --help. */
static void usage_error(void) {
    fputs(USAGE_LINES, stderr);
    fputs("run 'mtbert tokenize --help' for the options\n", stderr);
}

static void usage(FILE *f) {
    fputs(USAGE_LINES, f);
    fprintf(f,
            "\n"
            "Reads UTF-8 lines and writes, for each, one line of space-separated\n"
            "WordPiece ids (BERT BasicTokenizer + WordPiece, no [CLS]/[SEP]). A line\n"
            "without tokens gives an empty line.\n"
            "\n"
            "  --vocab PATH    WordPiece vocab.txt (one token a line, id = line number - 1),\n"
            "                  a tokenizer.json (a name ending in .json: its model's pieces,\n"
            "                  no post-processor tokens), or a model folder (its\n"
            "                  tokenizer.json if there, else its vocab.txt)\n"
            "  --cased         vocab.txt: keep case and accents (for cased vocabularies)\n"
            "  --tokens        write the wordpiece strings instead of ids\n"
            "  --max-word-chars N  vocab.txt: longer words become [UNK] (default 100, as\n"
            "                  Hugging Face; the original google-research BERT code uses 200)\n"
            "  --input FILE    read FILE instead of stdin\n"
            "  --bench FILE    tokenize every line of FILE --repeat times on one thread\n"
            "                  and print tokens/s (nothing else is written)\n"
            "  --repeat N      passes over the --bench file (default 5)\n"
            "  --help          this text\n"
            "\n"
            "Invalid UTF-8 stops with 'FILE:LINE: invalid UTF-8 at byte OFFSET', a NUL byte\n"
            "inside a line with 'FILE:LINE: NUL byte at byte OFFSET' (as encode and predict),\n"
            "exit 2; OFFSET counts from 0.\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Decimal digits of x into o (no sign handling needed: ids are >= 0, but a
 * negative one would still print). Returns the length. */
static int put_int(char *o, int x) {
    char tmp[16];
    int n = 0, neg = x < 0;
    unsigned u = neg ? 0u - (unsigned)x : (unsigned)x;
    do { tmp[n++] = (char)('0' + u % 10); u /= 10; } while (u);
    int k = 0;
    if (neg) o[k++] = '-';
    while (n) o[k++] = tmp[--n];
    return k;
}

/* The tokenizer of the command: a vocab.txt one, or a tokenizer.json (tj). */
typedef struct {
    const Tokenizer *wp;
    const Tok *tj;
} AnyTok;

/* Pieces of s[0..n) appended to ids; 0, or -1 for invalid UTF-8 at *bad. */
static int any_encode(const AnyTok *t, const char *s, size_t n, IntVec *ids, size_t *bad) {
    if (!t->tj) return tokenizer_encode(t->wp, s, n, ids, bad);
    static TokEnc e;
    char err[256];
    *bad = tok_utf8_invalid_at(s, n);
    e.len = 0;
    if (*bad != (size_t)-1 || tok_encode_text(t->tj, s, n, &e, err, sizeof err)) {
        if (*bad == (size_t)-1) *bad = 0;
        return -1;
    }
    for (size_t i = 0; i < e.len; i++) intvec_push(ids, e.ids[i]);
    return 0;
}

static const char *any_token(const AnyTok *t, int id) {
    return t->tj ? tok_id_token(t->tj, id) : tokenizer_id_token(t->wp, id);
}

static int write_line(FILE *out, const AnyTok *tok, const IntVec *ids, int as_tokens) {
    char buf[4096];
    size_t n = 0;
    for (size_t i = 0; i < ids->len; i++) {
        if (n + 32 > sizeof buf) {
            if (fwrite(buf, 1, n, out) != n) return -1;
            n = 0;
        }
        if (i) buf[n++] = ' ';
        if (as_tokens) {
            const char *s = any_token(tok, ids->data[i]);
            size_t L = s ? strlen(s) : 0;
            if (n + L > sizeof buf) {
                if (fwrite(buf, 1, n, out) != n) return -1;
                n = 0;
            }
            if (L > sizeof buf) {
                if (fwrite(s, 1, L, out) != L) return -1;
            } else {
                memcpy(buf + n, s, L);
                n += L;
            }
        } else {
            n += (size_t)put_int(buf + n, ids->data[i]);
        }
    }
    buf[n++] = '\n';
    return fwrite(buf, 1, n, out) == n ? 0 : -1;
}

static int run_bench(const AnyTok *tok, const char *path, int repeat) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mtbert tokenize: %s: %s\n", path, strerror(errno));
        return 2;
    }
    /* Lines are kept in one buffer (offsets), so the timing sees only the
     * tokenizer, not reading or allocation. */
    char *line = NULL, *all = NULL;
    size_t lcap = 0, acap = 0, alen = 0, nlines = 0, ocap = 0;
    size_t *off = NULL;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&line, &lcap, f)) >= 0) {
        size_t L = (size_t)got;
        if (L && line[L - 1] == '\n') L--;
        const char *nul = memchr(line, 0, L);
        if (nul) {
            fprintf(stderr, "mtbert tokenize: %s:%zu: NUL byte at byte %zu\n", path, nlines + 1, (size_t)(nul - line));
            rc = 2;
            break;
        }
        if (alen + L > acap) {
            acap = (alen + L) * 2 + 4096;
            char *na = realloc(all, acap);
            if (!na) { rc = 1; break; }
            all = na;
        }
        if (nlines + 2 > ocap) {
            ocap = ocap ? ocap * 2 : 1024;
            size_t *no = realloc(off, ocap * sizeof *no);
            if (!no) { rc = 1; break; }
            off = no;
        }
        if (nlines == 0) off[0] = 0;
        memcpy(all + alen, line, L);
        alen += L;
        off[++nlines] = alen;
    }
    int rerr = ferror(f);
    fclose(f);
    free(line);
    if (rc || rerr) {
        if (rc != 2) fprintf(stderr, "mtbert tokenize: %s: %s\n", path, rc ? "out of memory" : "read error");
        free(all);
        free(off);
        return rc == 2 ? 2 : 1;
    }
    IntVec ids = {0};
    size_t tokens = 0;
    double t0 = now_s();
    for (int r = 0; r < repeat && !rc; r++) {
        for (size_t i = 0; i < nlines; i++) {
            size_t bad;
            ids.len = 0;
            if (any_encode(tok, all + off[i], off[i + 1] - off[i], &ids, &bad)) {
                fprintf(stderr, "mtbert tokenize: %s:%zu: invalid UTF-8 at byte %zu\n", path, i + 1, bad);
                rc = 2;
                break;
            }
            tokens += ids.len;
        }
    }
    double dt = now_s() - t0;
    if (!rc) {
        if (dt <= 0) dt = 1e-9;
        printf("tokenize bench: %s: %zu lines, %zu bytes, %zu tokens a pass, %d passes, %.3f s\n", path, nlines,
               alen, repeat ? tokens / (size_t)repeat : 0, repeat, dt);
        printf("tokens/s: %.0f  (%.1f MB/s, one thread)\n", (double)tokens / dt,
               (double)alen * repeat / dt / 1e6);
    }
    intvec_free(&ids);
    free(all);
    free(off);
    return rc;
}

/* usage_error as cli_parse's usage callback (it prints to stderr only on a bad option) */
static void usage_for(FILE *f) {
    if (f == stdout) usage(f);
    else usage_error();
}

int cmd_tokenize(int argc, char **argv) {
    const char *vocab = NULL, *input = NULL, *bench = NULL;
    int cased = 0, as_tokens = 0, repeat = 5, max_word = 0;
    const OptSpec opts[] = {
        {"vocab", OPT_STRING, &vocab, 0, 0, 0},
        {"cased", OPT_FLAG, &cased, 0, 0, 1},
        {"tokens", OPT_FLAG, &as_tokens, 0, 0, 1},
        {"input", OPT_STRING, &input, 0, 0, 0},
        {"bench", OPT_STRING, &bench, 0, 0, 0},
        {"repeat", OPT_INT, &repeat, 1, 1000000, 0},
        {"max-word-chars", OPT_INT, &max_word, 1, TOKENIZER_MAX_WORD_CHARS_LIMIT, 0},
    };
    const char *extra[1];
    int npos, pr = cli_parse("tokenize", argc, argv, opts, sizeof opts / sizeof opts[0], extra, 1, &npos, usage_for);
    if (pr) return cli_exit(pr);
    if (npos) {
        fprintf(stderr, "mtbert tokenize: unexpected argument '%s' (text is read from stdin or --input)\n", extra[0]);
        usage_error();
        return 2;
    }
    if (!vocab) {
        fprintf(stderr, "mtbert tokenize: --vocab FILE is required\n");
        usage_error();
        return 2;
    }
    char err[4096], file[4096];
    int is_json, unused;
    if (tok_resolve(vocab, file, sizeof file, &is_json, &unused, err, sizeof err)) {
        fprintf(stderr, "mtbert tokenize: %s\n", err);
        return 2;
    }
    Tokenizer *tok = NULL;
    Tok *tj = NULL;
    if (is_json) {
        if (max_word) {
            fprintf(stderr, "mtbert tokenize: --max-word-chars applies to a vocab.txt, not %s\n", file);
            return 2;
        }
        tj = tok_open(file, 0, err, sizeof err);
    } else {
        tok = tokenizer_load(file, !cased, err, sizeof err);
    }
    if (!tok && !tj) {
        fprintf(stderr, "mtbert tokenize: %s\n", err);
        return 2;
    }
    if (max_word) tokenizer_set_max_word_chars(tok, max_word);
    AnyTok any = {tok, tj};
    if (bench) {
        int rc = run_bench(&any, bench, repeat);
        if (tok) tokenizer_free(tok);
        tok_free(tj);
        return rc;
    }
    FILE *in = stdin;
    const char *name = "<stdin>";
    if (input) {
        in = fopen(input, "rb");
        if (!in) {
            fprintf(stderr, "mtbert tokenize: %s: %s\n", input, strerror(errno));
            if (tok) tokenizer_free(tok);
            tok_free(tj);
            return 2;
        }
        name = input;
    }
    char *line = NULL;
    size_t lcap = 0, lineno = 0;
    ssize_t got;
    IntVec ids = {0};
    int rc = 0;
    while ((got = getline(&line, &lcap, in)) >= 0) {
        lineno++;
        size_t L = (size_t)got, bad = 0;
        if (L && line[L - 1] == '\n') L--;
        ids.len = 0;
        const char *nul = memchr(line, 0, L);
        if (nul) { /* as encode and predict: text never holds NUL, and C strings would cut there */
            fflush(stdout);
            fprintf(stderr, "mtbert tokenize: %s:%zu: NUL byte at byte %zu\n", name, lineno, (size_t)(nul - line));
            rc = 2;
            break;
        }
        if (any_encode(&any, line, L, &ids, &bad)) {
            fflush(stdout);
            fprintf(stderr, "mtbert tokenize: %s:%zu: invalid UTF-8 at byte %zu\n", name, lineno, bad);
            rc = 2;
            break;
        }
        if (write_line(stdout, &any, &ids, as_tokens)) break;
    }
    if (!rc && ferror(in)) {
        fprintf(stderr, "mtbert tokenize: %s: read error after line %zu\n", name, lineno);
        rc = 1;
    }
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "mtbert tokenize: writing the output: %s\n", strerror(errno));
        if (!rc) rc = 1;
    }
    if (in != stdin) fclose(in);
    free(line);
    intvec_free(&ids);
    if (tok) tokenizer_free(tok);
    tok_free(tj);
    return rc;
}
