/* retrieval_files.h — the files of a retrieval set (mtbert retrieve):
 * queries, corpus and qrels, as TSV or as BEIR's JSONL.
 *
 *   queries: FILE.jsonl (or .json): one object a line, {"_id": ID, "text": T}
 *            (BEIR queries.jsonl; an integer _id is read as its decimal text);
 *            any other name: TSV, ID<TAB>TEXT (the text is everything after
 *            the first tab);
 *   corpus:  the same; a JSONL object may carry "title" (a string or null):
 *            the text is (title + " " + text) with leading and trailing ASCII
 *            whitespace removed, a missing or null title counting as ""
 *            (sentence-transformers' InformationRetrievalEvaluator example
 *            for BEIR sets: (title + " " + text).strip());
 *   qrels:   TSV QUERY-ID<TAB>DOC-ID<TAB>RELEVANCE (an integer; > 0
 *            relevant, 0 or below judged not relevant); line 1 is a header
 *            (skipped) when its third field is not an integer, as BEIR's
 *            "query-id corpus-id score".
 * Blank lines are skipped everywhere. Every error names FILE:LINE and is an
 * exit-2 error: a malformed line, an empty id, a duplicate id (both lines),
 * a file without entries, a qrels id not in the queries / corpus, the same
 * (query, document) judged twice. */
#ifndef MTBERT_RETRIEVAL_FILES_H
#define MTBERT_RETRIEVAL_FILES_H

#include <stddef.h>

#include "trainer/train/retrieval.h"

typedef struct {
    char **ids, **texts;
    int *lines;           /* 1-based line of each entry in its file */
    size_t n;
    size_t *slots, nslots; /* open-addressing table of entry index + 1 (0 = empty) */
} IdTexts;

typedef struct {
    int nq;               /* the number of queries */
    int *off;             /* (nq + 1): query q's judgements are [off[q], off[q+1]) */
    int *docs, *grades;   /* (off[nq]) corpus index and relevance, in file order per query */
    size_t n;             /* judgements read */
} Qrels;

/* 0, or 2 after printing "mtbert CMD: FILE:LINE: ..." (1 for a read error). */
int rf_read_texts(const char *cmd, const char *path, int corpus, IdTexts *out);
int rf_read_qrels(const char *cmd, const char *path, const IdTexts *queries, const char *qname,
                  const IdTexts *corpus, const char *cname, Qrels *out);
/* L2 norms of n rows of d floats, in double (malloc'ed). */
double *rf_norms(const float *x, size_t n, int d);
/* Scores of queries [q0, q0 + nq) against all nd documents into out
 * (nq, nd): double dot products, divided by the two norms for cosine (qn,
 * cn: rf_norms; a zero norm gives 0), NULL norms for dot; stored as float32. */
void rf_scores(const float *qe, const double *qn, size_t q0, size_t nq, const float *ce, const double *cn, size_t nd,
               int d, float *out);
/* Every query of R into m (retrieval.h): 0, or -1 for a non-finite score. */
int rf_evaluate(const float *qe, size_t nq, const float *ce, size_t nd, int d, int dot, const Qrels *R,
                RetrMetrics *m);
/* Index of id, or -1. */
long rf_find(const IdTexts *t, const char *id);
void rf_free_texts(IdTexts *t);
void rf_free_qrels(Qrels *q);

#endif
