/* formats.h — readers for the raw corpora `mtbert prepare` accepts.
 *
 * Every reader turns a file into RawExamples (text or pre-split words plus
 * label strings); tokenization happens later in prepare.c. Errors name the
 * file and line and say what was expected. See docs/data-format.md. */
#ifndef MTBERT_FORMATS_H
#define MTBERT_FORMATS_H

#include <stddef.h>

typedef enum {
    FMT_CONLL,  /* word ... TAG, blank line between sentences */
    FMT_LINES,  /* LABEL<sep>text or text<sep>LABEL, one example a line */
    FMT_CSV,    /* RFC 4180 CSV with a header row, named columns */
    FMT_JSONL,  /* {"text":..,"label":..} or {"tokens":[..],"tags":[..]} */
    FMT_PAIRS,  /* sentence pairs with a score, columns by index (STS-B) */
    FMT_TRIPLETS, /* anchor<sep>positive<sep>negative_1[<sep>negative_2 ...], no score */
} FormatKind;

typedef enum { LABEL_FULL, LABEL_COARSE, LABEL_FINE } LabelPart;

typedef struct {
    FormatKind kind;
    char sep;              /* field separator: lines/pairs '\t' or ' ', csv ',' */
    int label_first;       /* lines: 1 = LABEL<sep>text, 0 = text<sep>LABEL */
    LabelPart label_part;  /* lines/csv/jsonl: COARSE:fine -> COARSE or fine */
    int tag_column;        /* conll: column of the tag, from 0; -1 = last */
    int iob1_to_iob2;      /* conll/jsonl tags: convert IOB1 -> IOB2 */
    int latin1;            /* input is ISO-8859-1: convert to UTF-8 */
    int skip_bad;          /* skip malformed lines (counted) instead of failing */
    /* csv: column names; jsonl: key names (NULL = defaults text/label/tokens/tags) */
    const char *text_col, *text_b_col, *label_col, *score_col, *tokens_col, *tags_col;
    /* csv: columns of hard negatives (comma list); jsonl: keys of single
     * negatives (comma list) or negatives_key, an array of strings */
    const char *neg_cols, *negatives_key;
    /* pairs: columns from 0 (STS-B: score 4, sentences 5 and 6) */
    int pair_score_idx, pair_a_idx, pair_b_idx;
} FormatOptions;

/* Defaults for a format (the separators, columns and keys above). */
void format_options_default(FormatOptions *o, FormatKind kind);
/* "conll" | "lines" | "tsv" | "csv" | "jsonl" | "pairs" | "stsb" | "triplets"; -1 if unknown */
int format_parse_kind(const char *s, FormatKind *kind);

typedef struct {
    const char *src;    /* file it came from (the path given to format_read, not owned) */
    long line;          /* 1-based line of the example's start in its file */
    char *text;         /* sentence (NULL for word-level examples) */
    char *text_b;       /* second sentence (pairs) or NULL */
    int word_lines;     /* 1: word i is on line `line + i` (CoNLL) */
    int n_words;        /* word-level examples: words and their tags */
    char **words;
    char **tags;
    int n_labels;       /* sentence-level label strings (one per sentence task) */
    char **labels;
    float score;        /* similarity score (has_score) */
    int has_score;
    int n_neg;          /* hard negatives of (anchor = text, positive = text_b) */
    char **negs;
} RawExample;

typedef struct {
    RawExample *ex;
    size_t n, cap;
    long n_skipped;      /* malformed lines skipped under skip_bad */
    long first_bad_line; /* first skipped line (0 = none) */
} RawSet;

void rawset_init(RawSet *s);
void rawset_free(RawSet *s);
/* Appends a new zeroed example and returns it. */
RawExample *rawset_add(RawSet *s);
/* Drops the examples whose score is below min_score (score < min_score, the
 * score as read, before any scaling), keeping the others in order; returns
 * how many were dropped, or -1 (nothing dropped, *bad = the first example
 * without a score) when an example has no score. `mtbert prepare --min-score`. */
long rawset_keep_min_score(RawSet *s, float min_score, size_t *bad);

/* Reads `path` in the given format, appending to `out`. Returns 0, or -1
 * with "FILE:LINE: what was wrong (expected ...)" in err. An empty file (no
 * examples) is an error. */
int format_read(const FormatOptions *o, const char *path, RawSet *out, char *err, size_t errlen);
/* The same from a memory buffer; `name` is used in messages. */
int format_read_buffer(const FormatOptions *o, const char *name, const char *buf, size_t len,
                       RawSet *out, char *err, size_t errlen);

/* IOB1 -> IOB2 in place over one sentence's tags (I-X that does not follow
 * B-X/I-X becomes B-X). Returns 0, or -1 if a tag is not O, B-*, I-*. */
int tags_iob1_to_iob2(char **tags, int n);
/* Applies a LabelPart to "COARSE:fine" in place. */
void label_apply_part(char *label, LabelPart part);

#endif
