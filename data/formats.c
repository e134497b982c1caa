/* formats.c — raw corpus readers (CoNLL, label/text lines, CSV, JSONL,
 * scored sentence pairs). See formats.h and docs/data-format.md. */
#include "data/formats.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- basics */


static char *xstrndup(const char *s, size_t n) {
    char *d = xrealloc(NULL, n + 1);
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}


void rawset_init(RawSet *s) { memset(s, 0, sizeof *s); }

static void rawex_free(RawExample *e) {
    free(e->text);
    free(e->text_b);
    for (int i = 0; i < e->n_neg; i++) free(e->negs[i]);
    free(e->negs);
    for (int i = 0; i < e->n_words; i++) {
        free(e->words[i]);
        if (e->tags) free(e->tags[i]);
    }
    free(e->words);
    free(e->tags);
    for (int i = 0; i < e->n_labels; i++) free(e->labels[i]);
    free(e->labels);
    memset(e, 0, sizeof *e);
}

void rawset_free(RawSet *s) {
    for (size_t i = 0; i < s->n; i++) rawex_free(&s->ex[i]);
    free(s->ex);
    memset(s, 0, sizeof *s);
}

long rawset_keep_min_score(RawSet *s, float min_score, size_t *bad) {
    for (size_t i = 0; i < s->n; i++)
        if (!s->ex[i].has_score) {
            *bad = i;
            return -1;
        }
    size_t kept = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->ex[i].score < min_score) rawex_free(&s->ex[i]);
        else s->ex[kept++] = s->ex[i];
    }
    long dropped = (long)(s->n - kept);
    s->n = kept;
    return dropped;
}

RawExample *rawset_add(RawSet *s) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->ex = xrealloc(s->ex, s->cap * sizeof *s->ex);
    }
    RawExample *e = &s->ex[s->n++];
    memset(e, 0, sizeof *e);
    return e;
}

/* Removes the last example (used when a multi-line example turns out bad). */
static void rawset_drop_last(RawSet *s) {
    if (s->n) rawex_free(&s->ex[--s->n]);
}

static void add_negative(RawExample *e, const char *s, size_t n) {
    e->negs = xrealloc(e->negs, (size_t)(e->n_neg + 1) * sizeof *e->negs);
    e->negs[e->n_neg++] = xstrndup(s, n);
}

static void add_label(RawExample *e, const char *s, size_t n) {
    e->labels = xrealloc(e->labels, (size_t)(e->n_labels + 1) * sizeof *e->labels);
    e->labels[e->n_labels++] = xstrndup(s, n);
}

void format_options_default(FormatOptions *o, FormatKind kind) {
    memset(o, 0, sizeof *o);
    o->kind = kind;
    o->sep = kind == FMT_CSV ? ',' : kind == FMT_LINES || kind == FMT_PAIRS || kind == FMT_TRIPLETS ? '\t' : ' ';
    o->label_first = 1;
    o->label_part = LABEL_FULL;
    o->tag_column = -1;
    o->text_col = "text";
    o->text_b_col = NULL;
    o->label_col = "label";
    o->score_col = NULL;
    o->tokens_col = "tokens";
    o->tags_col = "tags";
    o->pair_score_idx = 4;
    o->pair_a_idx = 5;
    o->pair_b_idx = 6;
}

int format_parse_kind(const char *s, FormatKind *kind) {
    static const struct { const char *name; FormatKind k; } names[] = {
        {"conll", FMT_CONLL}, {"lines", FMT_LINES}, {"tsv", FMT_LINES}, {"csv", FMT_CSV},
        {"jsonl", FMT_JSONL}, {"pairs", FMT_PAIRS}, {"stsb", FMT_PAIRS},
        {"triplets", FMT_TRIPLETS},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(s, names[i].name)) {
            *kind = names[i].k;
            return 0;
        }
    return -1;
}

void label_apply_part(char *label, LabelPart part) {
    char *colon = strchr(label, ':');
    if (!colon || part == LABEL_FULL) return;
    if (part == LABEL_COARSE) *colon = 0;
    else memmove(label, colon + 1, strlen(colon + 1) + 1);
}

int tags_iob1_to_iob2(char **tags, int n) {
    const char *prev_type = NULL; /* entity type of the previous tag, NULL after O */
    for (int i = 0; i < n; i++) {
        char *t = tags[i];
        if (!strcmp(t, "O")) {
            prev_type = NULL;
            continue;
        }
        if ((t[0] != 'B' && t[0] != 'I') || t[1] != '-' || !t[2]) return -1;
        if (t[0] == 'I' && (!prev_type || strcmp(prev_type, t + 2))) t[0] = 'B';
        prev_type = t + 2;
    }
    return 0;
}

/* ------------------------------------------------------------ line reading */

typedef struct {
    const char *buf;
    size_t len, pos;
    long lineno;
} LineIter;

/* Next line without its \n or \r\n; 0 at the end of the buffer. */
static int next_line(LineIter *it, const char **s, size_t *n) {
    if (it->pos >= it->len) return 0;
    const char *start = it->buf + it->pos;
    const char *nl = memchr(start, '\n', it->len - it->pos);
    size_t l = nl ? (size_t)(nl - start) : it->len - it->pos;
    it->pos += l + (nl ? 1 : 0);
    if (l && start[l - 1] == '\r') l--;
    it->lineno++;
    *s = start;
    *n = l;
    return 1;
}

static void trim(const char **s, size_t *n) {
    while (*n && isspace((unsigned char)**s)) (*s)++, (*n)--;
    while (*n && isspace((unsigned char)(*s)[*n - 1])) (*n)--;
}

/* Splits on runs of spaces/tabs. Returns the field count (fields point into s). */
static int split_ws(const char *s, size_t n, const char **f, size_t *fl, int maxf) {
    int k = 0;
    size_t i = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
        if (i >= n) break;
        size_t j = i;
        while (j < n && s[j] != ' ' && s[j] != '\t') j++;
        if (k < maxf) {
            f[k] = s + i;
            fl[k] = j - i;
        }
        k++;
        i = j;
    }
    return k;
}

/* Splits on every occurrence of sep (no quoting). Returns the field count. */
static int split_char(const char *s, size_t n, char sep, const char **f, size_t *fl, int maxf) {
    int k = 0;
    size_t i = 0;
    for (;;) {
        size_t j = i;
        while (j < n && s[j] != sep) j++;
        if (k < maxf) {
            f[k] = s + i;
            fl[k] = j - i;
        }
        k++;
        if (j >= n) break;
        i = j + 1;
    }
    return k;
}

/* A bad line: fail, or under skip_bad count it and go on. Returns -1 to fail. */
#define BAD_LINE(line, ...)                                                     \
    do {                                                                        \
        if (!o->skip_bad) {                                                     \
            char msg_[512];                                                     \
            snprintf(msg_, sizeof msg_, __VA_ARGS__);                           \
            seterr(err, errlen, "%s:%ld: %s", name, (long)(line), msg_);        \
            return -1;                                                          \
        }                                                                       \
        out->n_skipped++;                                                       \
        if (!out->first_bad_line) out->first_bad_line = (line);                 \
    } while (0)

/* ------------------------------------------------------------------ CoNLL */

static int valid_iob(const char *t, size_t n) {
    return (n == 1 && t[0] == 'O') || (n > 2 && (t[0] == 'B' || t[0] == 'I') && t[1] == '-');
}

static int finish_sentence(const FormatOptions *o, RawSet *out, RawExample *e) {
    (void)out;
    if (o->iob1_to_iob2 && tags_iob1_to_iob2(e->tags, e->n_words)) return -1;
    return 0;
}

static int read_conll(const FormatOptions *o, const char *name, const char *buf, size_t len,
                      RawSet *out, char *err, size_t errlen) {
    LineIter it = {buf, len, 0, 0};
    const char *s;
    size_t n;
    RawExample *cur = NULL; /* sentence being read */
    int cur_bad = 0, ncols = 0, cap = 0;
    long first_line = 0;
    enum { MAXF = 64 };
    const char *f[MAXF];
    size_t fl[MAXF];
    for (;;) {
        int more = next_line(&it, &s, &n);
        if (more) trim(&s, &n);
        int is_break = !more || n == 0 || (n >= 10 && !strncmp(s, "-DOCSTART-", 10));
        if (is_break) {
            if (cur) {
                if (cur_bad) rawset_drop_last(out); /* the whole sentence goes with its bad line */
                else if (finish_sentence(o, out, cur)) {
                    long l = cur->line;
                    rawset_drop_last(out);
                    BAD_LINE(l, "sentence has tags that are not O, B-TYPE or I-TYPE");
                }
                cur = NULL;
            }
            cur_bad = 0;
            if (!more) break;
            continue;
        }
        if (cur_bad) continue;
        int k = split_ws(s, n, f, fl, MAXF);
        if (k > MAXF) {
            BAD_LINE(it.lineno, "%d columns; at most %d expected", k, MAXF);
            cur_bad = 1;
            continue;
        }
        int tc = o->tag_column < 0 ? k - 1 : o->tag_column;
        if (k < 2 || tc >= k) {
            if (o->tag_column < 0)
                BAD_LINE(it.lineno, "expected 'word ... TAG' (at least 2 columns), got %d column%s", k, k == 1 ? "" : "s");
            else
                BAD_LINE(it.lineno, "expected 'word ... TAG' with the tag in column %d (from 0), got %d column%s",
                         o->tag_column, k, k == 1 ? "" : "s");
            cur_bad = 1;
            continue;
        }
        if (!ncols) {
            ncols = k; /* the first data line fixes the column count of the file */
            first_line = it.lineno;
        } else if (k != ncols) {
            BAD_LINE(it.lineno, "expected %d columns like line %ld, got %d", ncols, first_line, k);
            cur_bad = 1;
            continue;
        }
        if (!cur) {
            cur = rawset_add(out);
            cur->line = it.lineno;
            cur->word_lines = 1;
            cap = 0;
        }
        if (o->iob1_to_iob2 && !valid_iob(f[tc], fl[tc])) {
            BAD_LINE(it.lineno, "tag '%.*s' is not O, B-TYPE or I-TYPE (needed by --iob1-to-iob2)",
                     (int)fl[tc], f[tc]);
            cur_bad = 1;
            continue;
        }
        if (cur->n_words == cap) {
            cap = cap ? 2 * cap : 16;
            cur->words = xrealloc(cur->words, (size_t)cap * sizeof(char *));
            cur->tags = xrealloc(cur->tags, (size_t)cap * sizeof(char *));
        }
        cur->words[cur->n_words] = xstrndup(f[0], fl[0]);
        cur->tags[cur->n_words] = xstrndup(f[tc], fl[tc]);
        cur->n_words++;
    }
    return 0;
}

/* ------------------------------------------------------- label/text lines */

static int read_lines(const FormatOptions *o, const char *name, const char *buf, size_t len,
                      RawSet *out, char *err, size_t errlen) {
    LineIter it = {buf, len, 0, 0};
    const char *s;
    size_t n;
    const char *what = o->label_first ? "LABEL<sep>text" : "text<sep>LABEL";
    const char *sepname = o->sep == '\t' ? "a tab" : o->sep == ' ' ? "a space" : "the separator";
    while (next_line(&it, &s, &n)) {
        const char *t = s;
        size_t tn = n;
        trim(&t, &tn);
        if (!tn) continue; /* blank lines carry no example */
        const char *p = NULL;
        if (o->label_first) p = memchr(s, o->sep, n);
        else
            for (size_t i = n; i-- > 0;)
                if (s[i] == o->sep) {
                    p = s + i;
                    break;
                }
        if (!p) {
            BAD_LINE(it.lineno, "expected %s separated by %s, found no separator", what, sepname);
            continue;
        }
        const char *a = s, *b = p + 1;
        size_t an = (size_t)(p - s), bn = n - an - 1;
        const char *lab = o->label_first ? a : b, *txt = o->label_first ? b : a;
        size_t labn = o->label_first ? an : bn, txtn = o->label_first ? bn : an;
        trim(&lab, &labn);
        trim(&txt, &txtn);
        if (!labn || !txtn) {
            BAD_LINE(it.lineno, "expected %s, the %s is empty", what, labn ? "text" : "label");
            continue;
        }
        RawExample *e = rawset_add(out);
        e->line = it.lineno;
        e->text = xstrndup(txt, txtn);
        add_label(e, lab, labn);
        label_apply_part(e->labels[0], o->label_part);
    }
    return 0;
}

/* -------------------------------------------------------------------- CSV */

typedef struct {
    char **f;
    int n, cap;
} Record;

static void record_clear(Record *r) {
    for (int i = 0; i < r->n; i++) free(r->f[i]);
    r->n = 0;
}

static void record_push(Record *r, char *s) {
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->f = xrealloc(r->f, (size_t)r->cap * sizeof(char *));
    }
    r->f[r->n++] = s;
}

/* One RFC 4180 record starting at *pos. Returns 1 record read, 0 end of
 * input, -1 malformed (message in bad). Line numbers advance over quoted
 * newlines. */
static int csv_record(const char *buf, size_t len, size_t *pos, long *lineno, char sep, Record *r,
                      const char **bad) {
    record_clear(r);
    if (*pos >= len) return 0;
    size_t i = *pos;
    char *field = NULL;
    size_t fn = 0, fcap = 0;
#define PUTC(c)                                              \
    do {                                                     \
        if (fn + 1 >= fcap) {                                \
            fcap = fcap ? 2 * fcap : 64;                     \
            field = xrealloc(field, fcap);                   \
        }                                                    \
        field[fn++] = (c);                                   \
    } while (0)
    for (;;) {
        fn = 0;
        if (i < len && buf[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) {
                    free(field);
                    *bad = "unterminated quoted field";
                    *pos = len;
                    return -1;
                }
                char c = buf[i++];
                if (c == '"') {
                    if (i < len && buf[i] == '"') {
                        PUTC('"');
                        i++;
                    } else break;
                } else {
                    if (c == '\n') (*lineno)++;
                    PUTC(c);
                }
            }
            if (i < len && buf[i] != sep && buf[i] != '\n' && buf[i] != '\r') {
                free(field);
                *bad = "characters after a closing quote (a quote inside a field must be doubled)";
                while (i < len && buf[i] != '\n') i++;
                *pos = i < len ? i + 1 : len;
                (*lineno)++;
                return -1;
            }
        } else {
            while (i < len && buf[i] != sep && buf[i] != '\n') {
                if (buf[i] == '"') {
                    free(field);
                    *bad = "a quote inside an unquoted field";
                    while (i < len && buf[i] != '\n') i++;
                    *pos = i < len ? i + 1 : len;
                    (*lineno)++;
                    return -1;
                }
                PUTC(buf[i]);
                i++;
            }
            if (fn && field[fn - 1] == '\r' && (i >= len || buf[i] == '\n')) fn--;
        }
        if (i < len && buf[i] == '\r') i++;
        PUTC(0);
        record_push(r, xstrndup(field, fn - 1));
        if (i >= len) break;
        if (buf[i] == sep) {
            i++;
            continue;
        }
        if (buf[i] == '\n') {
            i++;
            break;
        }
    }
#undef PUTC
    free(field);
    (*lineno)++;
    *pos = i;
    return 1;
}

static int csv_find(const Record *h, const char *col) {
    for (int i = 0; i < h->n; i++)
        if (!strcmp(h->f[i], col)) return i;
    return -1;
}

static int parse_float(const char *s, float *v) {
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    while (*end && isspace((unsigned char)*end)) end++;
    /* NaN, Inf and values beyond float range are not scores */
    if (end == s || *end || errno || !isfinite(d) || fabs(d) > 3.4e38) return -1;
    *v = (float)d;
    return 0;
}

static int read_csv(const FormatOptions *o, const char *name, const char *buf, size_t len,
                    RawSet *out, char *err, size_t errlen) {
    Record hdr = {0}, rec = {0};
    size_t pos = 0;
    long lineno = 0;
    const char *bad = NULL;
    int rc = -1;
    if (csv_record(buf, len, &pos, &lineno, o->sep, &hdr, &bad) != 1) {
        seterr(err, errlen, "%s:1: expected a header row with column names%s%s", name, bad ? ": " : "",
               bad ? bad : "");
        goto done;
    }
    /* with negative columns and no score column the rows are (anchor,
     * positive, negatives...) without a label: score 1 */
    int ctr_rows = o->neg_cols && !o->score_col;
    const char *names[3] = {o->text_col, o->text_b_col, o->score_col ? o->score_col : ctr_rows ? NULL : o->label_col};
    int idx[3] = {-1, -1, -1};
    enum { MAXNEG = 256 };
    int nidx[MAXNEG], nneg = 0;
    char negname[MAXNEG][128];
    if (o->neg_cols && !o->text_b_col) {
        seterr(err, errlen, "%s: negative columns need --text-b-column (the positive)", name);
        goto done;
    }
    for (const char *p = o->neg_cols; p && *p;) {
        const char *q = strchr(p, ',');
        size_t l = q ? (size_t)(q - p) : strlen(p);
        if (nneg == MAXNEG || !l || l >= sizeof negname[0]) {
            seterr(err, errlen, "%s: negative columns '%s': expected 1..%d non-empty names", name, o->neg_cols, MAXNEG);
            goto done;
        }
        snprintf(negname[nneg], sizeof negname[0], "%.*s", (int)l, p);
        nidx[nneg] = csv_find(&hdr, negname[nneg]);
        if (nidx[nneg] < 0) {
            seterr(err, errlen, "%s:1: no column '%s' in the header (a negative column)", name, negname[nneg]);
            goto done;
        }
        nneg++;
        p = q ? q + 1 : p + l;
    }
    for (int k = 0; k < 3; k++) {
        if (!names[k]) continue;
        idx[k] = csv_find(&hdr, names[k]);
        if (idx[k] < 0) {
            char cols[512] = "";
            for (int i = 0; i < hdr.n; i++)
                snprintf(cols + strlen(cols), sizeof cols - strlen(cols), "%s'%s'", i ? ", " : "", hdr.f[i]);
            seterr(err, errlen, "%s:1: no column '%s' in the header (columns: %s)", name, names[k], cols);
            goto done;
        }
    }
    for (;;) {
        long start = lineno + 1;
        int r = csv_record(buf, len, &pos, &lineno, o->sep, &rec, &bad);
        if (r == 0) break;
        if (r < 0) {
            if (!o->skip_bad) {
                seterr(err, errlen, "%s:%ld: malformed CSV: %s", name, start, bad);
                goto done;
            }
            out->n_skipped++;
            if (!out->first_bad_line) out->first_bad_line = start;
            continue;
        }
        if (rec.n == 1 && !rec.f[0][0]) continue; /* blank line */
        if (rec.n != hdr.n) {
            if (!o->skip_bad) {
                seterr(err, errlen, "%s:%ld: expected %d fields like the header, got %d", name, start, hdr.n,
                       rec.n);
                goto done;
            }
            out->n_skipped++;
            if (!out->first_bad_line) out->first_bad_line = start;
            continue;
        }
        float score = 0;
        if (o->score_col && parse_float(rec.f[idx[2]], &score)) {
            if (!o->skip_bad) {
                seterr(err, errlen, "%s:%ld: column '%s': expected a number, got '%s'", name, start,
                       o->score_col, rec.f[idx[2]]);
                goto done;
            }
            out->n_skipped++;
            if (!out->first_bad_line) out->first_bad_line = start;
            continue;
        }
        int empty_neg = -1;
        for (int j = 0; j < nneg && empty_neg < 0; j++)
            if (!rec.f[nidx[j]][0]) empty_neg = j;
        if (empty_neg >= 0) {
            if (!o->skip_bad) {
                seterr(err, errlen, "%s:%ld: column '%s' (a negative) is empty", name, start, negname[empty_neg]);
                goto done;
            }
            out->n_skipped++;
            if (!out->first_bad_line) out->first_bad_line = start;
            continue;
        }
        if (!rec.f[idx[0]][0] || (idx[2] >= 0 && !rec.f[idx[2]][0]) || (idx[1] >= 0 && !rec.f[idx[1]][0])) {
            if (!o->skip_bad) {
                seterr(err, errlen, "%s:%ld: empty field (expected text and a label)", name, start);
                goto done;
            }
            out->n_skipped++;
            if (!out->first_bad_line) out->first_bad_line = start;
            continue;
        }
        RawExample *e = rawset_add(out);
        e->line = start;
        e->text = strdup(rec.f[idx[0]]);
        if (idx[1] >= 0) e->text_b = strdup(rec.f[idx[1]]);
        for (int j = 0; j < nneg; j++) add_negative(e, rec.f[nidx[j]], strlen(rec.f[nidx[j]]));
        if (o->score_col || ctr_rows) {
            e->score = ctr_rows ? 1.0f : score;
            e->has_score = 1;
        } else {
            add_label(e, rec.f[idx[2]], strlen(rec.f[idx[2]]));
            label_apply_part(e->labels[0], o->label_part);
        }
    }
    rc = 0;
done:
    record_clear(&hdr);
    record_clear(&rec);
    free(hdr.f);
    free(rec.f);
    return rc;
}

/* ------------------------------------------------------------------ JSONL */

/* A label may be a string or an integer in JSON; both become strings. */
static int json_label(json_t *v, char *buf, size_t n) {
    if (json_is_string(v)) snprintf(buf, n, "%s", json_string_value(v));
    else if (json_is_integer(v)) snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_true(v)) snprintf(buf, n, "1");
    else if (json_is_false(v)) snprintf(buf, n, "0");
    else return -1;
    return buf[0] ? 0 : -1;
}

/* The labels named by label_col ("topic" or "topic,sentiment") into e.
 * optional: keys may all be absent. Returns -1 if one is bad or missing. */
static int json_labels(const FormatOptions *o, json_t *root, RawExample *e, int optional) {
    char key[256], lb[256];
    const char *p = o->label_col;
    int found = 0, missing = 0;
    for (;;) {
        const char *q = strchr(p, ',');
        size_t l = q ? (size_t)(q - p) : strlen(p);
        snprintf(key, sizeof key, "%.*s", (int)l, p);
        json_t *v = json_object_get(root, key);
        if (!v) missing++;
        else if (json_label(v, lb, sizeof lb)) return -1;
        else {
            add_label(e, lb, strlen(lb));
            label_apply_part(e->labels[e->n_labels - 1], o->label_part);
            found++;
        }
        if (!q) break;
        p = q + 1;
    }
    if (missing && (found || !optional)) return -1;
    return 0;
}

static int read_jsonl(const FormatOptions *o, const char *name, const char *buf, size_t len,
                      RawSet *out, char *err, size_t errlen) {
    LineIter it = {buf, len, 0, 0};
    const char *s;
    size_t n;
    while (next_line(&it, &s, &n)) {
        const char *t = s;
        size_t tn = n;
        trim(&t, &tn);
        if (!tn) continue;
        json_error_t je;
        json_t *root = json_loadb(t, tn, 0, &je);
        if (!root) {
            BAD_LINE(it.lineno, "invalid JSON at column %d: %s", je.column, je.text);
            continue;
        }
        if (!json_is_object(root)) {
            json_decref(root);
            BAD_LINE(it.lineno, "expected a JSON object");
            continue;
        }
        json_t *text = json_object_get(root, o->text_col);
        json_t *toks = json_object_get(root, o->tokens_col);
        if (toks) {
            json_t *tags = json_object_get(root, o->tags_col);
            size_t nt = json_is_array(toks) ? json_array_size(toks) : 0;
            int ok = json_is_array(toks) && json_is_array(tags) && json_array_size(tags) == nt && nt > 0;
            for (size_t i = 0; ok && i < nt; i++)
                ok = json_is_string(json_array_get(toks, i)) && json_is_string(json_array_get(tags, i));
            if (!ok) {
                json_decref(root);
                BAD_LINE(it.lineno,
                         "expected \"%s\" and \"%s\": non-empty arrays of strings of the same length",
                         o->tokens_col, o->tags_col);
                continue;
            }
            RawExample *e = rawset_add(out);
            e->line = it.lineno;
            e->n_words = (int)nt;
            e->words = xrealloc(NULL, nt * sizeof(char *));
            e->tags = xrealloc(NULL, nt * sizeof(char *));
            for (size_t i = 0; i < nt; i++) {
                e->words[i] = strdup(json_string_value(json_array_get(toks, i)));
                e->tags[i] = strdup(json_string_value(json_array_get(tags, i)));
            }
            if (o->iob1_to_iob2 && tags_iob1_to_iob2(e->tags, e->n_words)) {
                rawset_drop_last(out);
                json_decref(root);
                BAD_LINE(it.lineno, "tags must be O, B-TYPE or I-TYPE (needed by --iob1-to-iob2)");
                continue;
            }
            /* optional sentence-level labels alongside the tags */
            if (json_labels(o, root, e, 1)) {
                rawset_drop_last(out);
                json_decref(root);
                BAD_LINE(it.lineno, "expected \"%s\": non-empty strings or integers", o->label_col);
                continue;
            }
            json_decref(root);
            continue;
        }
        if (!json_is_string(text) || !json_string_length(text)) {
            json_decref(root);
            BAD_LINE(it.lineno, "expected a non-empty string \"%s\" (or \"%s\"/\"%s\" arrays)", o->text_col,
                     o->tokens_col, o->tags_col);
            continue;
        }
        json_t *tb = o->text_b_col ? json_object_get(root, o->text_b_col) : NULL;
        if (o->text_b_col && (!json_is_string(tb) || !json_string_length(tb))) {
            json_decref(root);
            BAD_LINE(it.lineno, "expected a non-empty string \"%s\"", o->text_b_col);
            continue;
        }
        /* hard negatives: an array under negatives_key, or single keys neg_cols */
        int ctr_rows = (o->neg_cols || o->negatives_key) && !o->score_col;
        json_t *negs = json_array();
        const char *negbad = NULL;
        if (o->negatives_key) {
            json_t *a = json_object_get(root, o->negatives_key);
            size_t na = json_is_array(a) ? json_array_size(a) : 0;
            if (!na) negbad = o->negatives_key;
            for (size_t i = 0; !negbad && i < na; i++) {
                json_t *v = json_array_get(a, i);
                if (!json_is_string(v) || !json_string_length(v)) negbad = o->negatives_key;
                else json_array_append(negs, v);
            }
        }
        char nkey[256];
        for (const char *p = o->neg_cols; !negbad && p && *p;) {
            const char *q = strchr(p, ',');
            size_t l = q ? (size_t)(q - p) : strlen(p);
            snprintf(nkey, sizeof nkey, "%.*s", (int)l, p);
            json_t *v = json_object_get(root, nkey);
            if (!json_is_string(v) || !json_string_length(v)) negbad = nkey;
            else json_array_append(negs, v);
            p = q ? q + 1 : p + l;
        }
        if (negbad) {
            json_decref(negs);
            json_decref(root);
            BAD_LINE(it.lineno, "expected \"%s\": %s", negbad,
                     negbad == o->negatives_key ? "a non-empty array of non-empty strings (the hard negatives)"
                                                : "a non-empty string (a hard negative)");
            continue;
        }
        if (json_array_size(negs) && !tb) {
            json_decref(negs);
            json_decref(root);
            BAD_LINE(it.lineno, "hard negatives need a positive (--text-b-column)");
            continue;
        }
        float score = 0;
        if (o->score_col) {
            json_t *sc = json_object_get(root, o->score_col);
            if (!json_is_number(sc)) {
                json_decref(negs);
                json_decref(root);
                BAD_LINE(it.lineno, "expected a number \"%s\"", o->score_col);
                continue;
            }
            score = (float)json_number_value(sc);
        }
        RawExample *e = rawset_add(out);
        e->line = it.lineno;
        if (!o->score_col && !ctr_rows && json_labels(o, root, e, 0)) {
            rawset_drop_last(out);
            json_decref(negs);
            json_decref(root);
            BAD_LINE(it.lineno, "expected \"%s\": a non-empty string or an integer", o->label_col);
            continue;
        }
        e->text = strdup(json_string_value(text));
        if (tb) e->text_b = strdup(json_string_value(tb));
        for (size_t i = 0; i < json_array_size(negs); i++) {
            const char *v = json_string_value(json_array_get(negs, i));
            add_negative(e, v, strlen(v));
        }
        if (o->score_col || ctr_rows) {
            e->score = ctr_rows ? 1.0f : score;
            e->has_score = 1;
        }
        json_decref(negs);
        json_decref(root);
    }
    return 0;
}

/* ------------------------------------------------------------------ pairs */

static int read_pairs(const FormatOptions *o, const char *name, const char *buf, size_t len,
                      RawSet *out, char *err, size_t errlen) {
    LineIter it = {buf, len, 0, 0};
    const char *s;
    size_t n;
    enum { MAXF = 64 };
    const char *f[MAXF];
    size_t fl[MAXF];
    int need = o->pair_score_idx;
    if (o->pair_a_idx > need) need = o->pair_a_idx;
    if (o->pair_b_idx > need) need = o->pair_b_idx;
    need++;
    while (next_line(&it, &s, &n)) {
        const char *t = s;
        size_t tn = n;
        trim(&t, &tn);
        if (!tn) continue;
        int k = split_char(s, n, o->sep, f, fl, MAXF);
        if (k < need) {
            BAD_LINE(it.lineno, "expected at least %d %s-separated columns (score in column %d, sentences in %d and %d, from 0), got %d",
                     need, o->sep == '\t' ? "tab" : "separator", o->pair_score_idx, o->pair_a_idx, o->pair_b_idx, k);
            continue;
        }
        char num[64];
        snprintf(num, sizeof num, "%.*s", (int)(fl[o->pair_score_idx] < 63 ? fl[o->pair_score_idx] : 63),
                 f[o->pair_score_idx]);
        float score;
        if (parse_float(num, &score)) {
            BAD_LINE(it.lineno, "column %d: expected a score (a number), got '%s'", o->pair_score_idx, num);
            continue;
        }
        const char *a = f[o->pair_a_idx], *b = f[o->pair_b_idx];
        size_t an = fl[o->pair_a_idx], bn = fl[o->pair_b_idx];
        trim(&a, &an);
        trim(&b, &bn);
        if (!an || !bn) {
            BAD_LINE(it.lineno, "column %d: expected a sentence, found an empty field", an ? o->pair_b_idx : o->pair_a_idx);
            continue;
        }
        RawExample *e = rawset_add(out);
        e->line = it.lineno;
        e->text = xstrndup(a, an);
        e->text_b = xstrndup(b, bn);
        e->score = score;
        e->has_score = 1;
    }
    return 0;
}

/* --------------------------------------------------------------- triplets */

/* anchor<sep>positive<sep>negative_1[<sep>negative_2 ...]: no quoting, no
 * score (the example gets score 1, has_score, so that it is a pair). The
 * count of negatives per row is checked across the set by prepare. */
static int read_triplets(const FormatOptions *o, const char *name, const char *buf, size_t len,
                         RawSet *out, char *err, size_t errlen) {
    LineIter it = {buf, len, 0, 0};
    const char *s;
    size_t n;
    enum { MAXF = 258 };
    const char *f[MAXF];
    size_t fl[MAXF];
    while (next_line(&it, &s, &n)) {
        const char *t = s;
        size_t tn = n;
        trim(&t, &tn);
        if (!tn) continue;
        int k = split_char(s, n, o->sep, f, fl, MAXF);
        if (k < 3 || k > MAXF) {
            BAD_LINE(it.lineno, "expected anchor, positive and 1..%d negatives separated by %s, got %d field%s", MAXF - 2,
                     o->sep == '\t' ? "tabs" : "the separator", k, k == 1 ? "" : "s");
            continue;
        }
        int empty = -1;
        for (int i = 0; i < k && empty < 0; i++) {
            trim(&f[i], &fl[i]);
            if (!fl[i]) empty = i;
        }
        if (empty >= 0) {
            BAD_LINE(it.lineno, "field %d (%s, from 1) is empty", empty + 1,
                     empty == 0 ? "the anchor" : empty == 1 ? "the positive" : "a negative");
            continue;
        }
        RawExample *e = rawset_add(out);
        e->line = it.lineno;
        e->text = xstrndup(f[0], fl[0]);
        e->text_b = xstrndup(f[1], fl[1]);
        for (int i = 2; i < k; i++) add_negative(e, f[i], fl[i]);
        e->score = 1.0f;
        e->has_score = 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ entry */

int format_read_buffer(const FormatOptions *o, const char *name, const char *buf, size_t len,
                       RawSet *out, char *err, size_t errlen) {
    /* text never holds NUL (C strings would silently cut the line there):
     * an error even under skip_bad, as in encode, predict and tokenize */
    const char *z = memchr(buf, 0, len);
    if (z) {
        long line = 1;
        const char *ls = buf;
        for (const char *p = buf; p < z; p++)
            if (*p == '\n') line++, ls = p + 1;
        seterr(err, errlen, "%s:%ld: NUL byte at byte %zu", name, line, (size_t)(z - ls));
        return -1;
    }
    char *conv = NULL;
    if (o->latin1) {
        /* ISO-8859-1 maps byte b to code point b: 2 bytes in UTF-8 above 0x7f */
        conv = xrealloc(NULL, 2 * len + 1);
        size_t m = 0;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)buf[i];
            if (c < 0x80) conv[m++] = (char)c;
            else {
                conv[m++] = (char)(0xC0 | (c >> 6));
                conv[m++] = (char)(0x80 | (c & 0x3F));
            }
        }
        buf = conv;
        len = m;
    }
    if (len >= 3 && !memcmp(buf, "\xEF\xBB\xBF", 3)) buf += 3, len -= 3; /* UTF-8 BOM */
    size_t before = out->n;
    int rc;
    switch (o->kind) {
    case FMT_CONLL: rc = read_conll(o, name, buf, len, out, err, errlen); break;
    case FMT_LINES: rc = read_lines(o, name, buf, len, out, err, errlen); break;
    case FMT_CSV: rc = read_csv(o, name, buf, len, out, err, errlen); break;
    case FMT_JSONL: rc = read_jsonl(o, name, buf, len, out, err, errlen); break;
    case FMT_PAIRS: rc = read_pairs(o, name, buf, len, out, err, errlen); break;
    case FMT_TRIPLETS: rc = read_triplets(o, name, buf, len, out, err, errlen); break;
    default: seterr(err, errlen, "%s: unknown format", name); rc = -1;
    }
    free(conv);
    for (size_t i = before; i < out->n; i++) out->ex[i].src = name;
    if (rc == 0 && out->n == before) {
        seterr(err, errlen, "%s: no examples found (empty file%s?)", name,
               out->n_skipped ? ", or every line malformed" : "");
        rc = -1;
    }
    return rc;
}

int format_read(const FormatOptions *o, const char *path, RawSet *out, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 > cap) {
            cap = cap ? 2 * cap : 1 << 20;
            buf = xrealloc(buf, cap);
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        len += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        seterr(err, errlen, "%s: read error", path);
        return -1;
    }
    int rc = format_read_buffer(o, path, buf, len, out, err, errlen);
    free(buf);
    return rc;
}
