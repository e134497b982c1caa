/* metrics.h — evaluation metrics for the three task kinds.
 *
 *   classification  accuracy, macro precision/recall/F1, per-class P/R/F1/support
 *   token (NER)     entity-level P/R/F1 with seqeval's default-mode chunking
 *                   or its strict IOB2 / IOB1 modes, per entity type, plus
 *                   token accuracy
 *   similarity      Pearson and Spearman correlation (double precision)
 *
 * Both accumulating APIs follow one pattern: *_init, *_add (any number of
 * times: per batch, per rank before a reduction of the counts), *_compute,
 * *_free. Every count is a plain int64 array, so ranks can sum them with one
 * all-reduce before computing.
 *
 * Zero denominators give 0, never NaN (precision with no predictions, recall
 * with no gold items, F1 with P+R = 0, correlation of a constant), matching
 * sklearn / seqeval with zero_division=0. The exact rules are in
 * docs/metrics.md. */
#ifndef MTBERT_METRICS_H
#define MTBERT_METRICS_H

#include "data/labels.h" /* LABEL_IGNORE, NerScheme */

#include <stddef.h>
#include <stdint.h>

/* Label id that marks an item (sentence, token, word piece) as unlabelled. */


/* ---------------- classification ---------------- */

typedef struct {
    int nclasses;
    int64_t *confusion; /* (nclasses, nclasses), row = gold, column = pred */
    int64_t n_ignored;  /* items whose gold was LABEL_IGNORE */
} ClsMetrics;

typedef struct {
    double accuracy;        /* correct / counted items */
    double macro_precision; /* means over the classes present (see below) */
    double macro_recall;
    double macro_f1;
    double weighted_f1;     /* per-class F1 weighted by gold support */
    int64_t n;              /* counted items (gold != LABEL_IGNORE) */
    int nclasses_present;   /* classes that occur in gold or in pred */
} ClsSummary;

/* 0 on success, -1 when nclasses < 1 or memory runs out. */
int cls_init(ClsMetrics *m, int nclasses);
void cls_free(ClsMetrics *m);
void cls_reset(ClsMetrics *m);
/* Adds one item. gold == LABEL_IGNORE: counted in n_ignored only.
 * Returns -1 (and counts nothing) when gold or pred is outside
 * [0, nclasses): such ids are a caller bug, not a wrong answer. */
int cls_add(ClsMetrics *m, int gold, int pred);
/* cls_add over n items; returns the number of rejected items (0 = all fine). */
size_t cls_add_batch(ClsMetrics *m, const int *gold, const int *pred, size_t n);
/* Per-class scores of class k (any output may be NULL). */
void cls_class(const ClsMetrics *m, int k, double *precision, double *recall,
               double *f1, int64_t *support);
/* Macro means are over the classes that occur in gold or pred (sklearn's
 * f1_score(average='macro') without labels=): a class nobody predicts and
 * nobody has adds nothing, a class predicted but absent from gold adds F1 0. */
void cls_compute(const ClsMetrics *m, ClsSummary *out);

/* ---------------- token classification (NER) ---------------- */

/* What a label name means to the chunker: "O", or PREFIX-TYPE with PREFIX
 * one of B, I, E, S (IOB1, IOB2 and IOBES all decode with the same rules,
 * exactly as seqeval's default mode). Any other name counts as outside. */
typedef enum { NER_O = 0, NER_B, NER_I, NER_E, NER_S } NerTag;

/* How entities are read from tags (a task's tasks[].tag_scheme):
 *   NER_SCHEME_DEFAULT  seqeval's default mode (the conlleval rules, lenient:
 *                       IOB1, IOB2 and IOBES alike; Hugging Face run_ner)
 *   NER_SCHEME_IOB2     seqeval mode='strict', scheme=IOB2: an entity starts
 *                       only at B-; an I- that continues nothing is no entity
 *   NER_SCHEME_IOB1     seqeval mode='strict', scheme=IOB1: an entity starts
 *                       at I- (after O, another type, or a B-) and at a B-
 *                       that follows the same type; a B- after O starts none
 * The strict schemes allow only O, B- and I- labels (ner_scheme_check). */
/* (NerScheme and its names: data/labels.h) */

typedef struct {
    int type;  /* index into NerMetrics.types */
    int start; /* first word, counting only labelled words */
    int end;   /* last word, inclusive */
} NerChunk;

typedef struct {
    int nlabels;
    NerScheme scheme;
    NerTag *tag;     /* per label id */
    int *type_of;    /* per label id: entity type index, -1 for O */
    int ntypes;
    char **types;    /* entity type names, in order of first appearance in the label table */
    /* counts, per type: gold entities, predicted entities, exact matches */
    int64_t *n_gold, *n_pred, *n_correct;
    int64_t tokens_total, tokens_correct; /* labelled words */
    int64_t sentences;
    /* scratch for one sentence (grown as needed) */
    int *sg, *sp;
    NerChunk *cg, *cp;
    size_t scratch_cap;
} NerMetrics;

typedef struct {
    double precision, recall, f1;  /* micro-averaged over all entities */
    double macro_f1;               /* mean F1 over types present in gold or pred */
    double token_accuracy;         /* over labelled words */
    int64_t n_gold, n_pred, n_correct;
    int64_t tokens;
} NerSummary;

/* labels: the task's label names indexed by id ("O", "B-PER", "I-PER", ...).
 * 0 on success, -1 on bad arguments or no memory. ner_init reads them with
 * NER_SCHEME_DEFAULT. */
int ner_init(NerMetrics *m, const char *const *labels, int nlabels);
int ner_init_scheme(NerMetrics *m, const char *const *labels, int nlabels, NerScheme scheme);
/* The first label id whose prefix the scheme does not allow (E-, S- under a
 * strict scheme), or -1 when all are fine. */
int ner_scheme_check(const char *const *labels, int nlabels, NerScheme scheme);
void ner_free(NerMetrics *m);
void ner_reset(NerMetrics *m);
/* One sentence of n words: gold and pred label ids per word. Words whose
 * gold is LABEL_IGNORE are dropped from both sequences before chunking.
 * A pred id outside [0, nlabels) counts as "O" (and as a wrong token).
 * Returns -1 (counting nothing) when a gold id is outside [0, nlabels). */
int ner_add_sentence(NerMetrics *m, const int *gold, const int *pred, int n);
/* Scores of entity type t (any output may be NULL). */
void ner_type(const NerMetrics *m, int t, double *precision, double *recall,
              double *f1, int64_t *support);
void ner_compute(const NerMetrics *m, NerSummary *out);

/* Parses one label name. Returns its tag; *type_start / *type_len locate
 * the type name inside `label` (length 0 for O). */
NerTag ner_parse_label(const char *label, const char **type_start, size_t *type_len);
/* The entities of one sentence of n label ids under m's scheme: seqeval's
 * get_entities (default mode) or Tokens(...).entities (strict). Ids outside
 * [0, nlabels) read as "O"; no LABEL_IGNORE filtering here. Writes the
 * chunks, in order, to out (n entries always suffice); returns the count. */
int ner_chunks(const NerMetrics *m, const int *ids, int n, NerChunk *out);

/* ---------------- similarity ---------------- */

/* Pearson correlation of n pairs. Returns 0 when n < 2 or either side is
 * constant (the correlation is undefined; 0 keeps logs and averages
 * NaN-free), NaN when an input is not finite. */
double metric_pearson(const double *x, const double *y, size_t n);
/* Spearman rank correlation: Pearson of the ranks, tied values getting
 * the mean of the ranks they span. Same degenerate cases as Pearson. */
double metric_spearman(const double *x, const double *y, size_t n);
/* Ranks 1..n of x with ties averaged, into rank[n]. 0, or -1 on no memory. */
int metric_rank(const double *x, size_t n, double *rank);

/* F1 from precision and recall, 0 when both are 0. */
double metric_f1(double precision, double recall);

#endif
