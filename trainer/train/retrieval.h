/* retrieval.h — retrieval and STS evaluation for embedding models
 * (issue 18): for a queries x corpus score matrix and relevance judgements
 * (qrels), MRR@k, nDCG@k, MAP@k, recall@k, precision@k and accuracy@k
 * (hit rate), computed exactly; STS Pearson / Spearman of cosine vs gold.
 *
 * Rules (docs/embeddings.md has them with the formulas):
 *   - ranking: by score, descending; EQUAL scores are ordered by corpus
 *     index, ascending (a deterministic tie rule; sentence-transformers'
 *     torch.topk leaves tie order unspecified, trec_eval orders ties by
 *     document name, descending);
 *   - a document is relevant when its grade is > 0; judged documents with
 *     grade <= 0 count as not relevant (and add nothing to the ideal DCG);
 *   - queries without any relevant document are skipped (counted in
 *     n_skipped, not in the means), as trec_eval and sentence-transformers
 *     (whose queries all have positives) do;
 *   - MRR@k: 1 / rank of the first relevant document within the top k, 0
 *     when none;
 *   - nDCG@k: DCG@k / IDCG@k with DCG@k = sum_{r=1..k} gain(grade_r) /
 *     log2(r + 1); gain = grade (linear, trec_eval's ndcg_cut; with grades
 *     all 1 this is sentence-transformers' binary nDCG) or 2^grade - 1
 *     (RETR_GAIN_EXP); IDCG@k from the query's own relevant grades sorted
 *     descending;
 *   - recall@k = relevant in top k / relevant; precision@k = relevant in top
 *     k / k (k, not min(k, corpus size), as both references); accuracy@k = 1
 *     when any relevant document is in the top k;
 *   - MAP@k: sum over relevant ranks r <= k of precision@r, divided by
 *     min(k, number relevant) (sentence-transformers' map@k).
 *
 * Accumulating API, like metrics.h: retr_init, retr_add_query any number of
 * times (per rank on its share of the queries), then retr_compute. All
 * state that ranks must combine is the double array m->sums[0 .. m->nsums)
 * (one comm_allreduce_sum_double). */
#ifndef MTBERT_RETRIEVAL_H
#define MTBERT_RETRIEVAL_H

#include <stddef.h>
#include <stdint.h>

#define RETR_MAX_CUTS 8

typedef enum { RETR_GAIN_LINEAR = 0, RETR_GAIN_EXP = 1 } RetrGain;

typedef struct {
    int ncuts;
    int cuts[RETR_MAX_CUTS]; /* recall / precision / accuracy cutoffs */
    int mrr_k, ndcg_k, map_k;
    RetrGain gain;
    int kmax;                /* the largest cutoff: how deep each query is ranked */
    /* sums: [0] MRR, [1] nDCG, [2] MAP, then per cut c: [3+3c] recall,
     * [4+3c] precision, [5+3c] accuracy; then [3+3*ncuts] queries counted,
     * [4+3*ncuts] queries skipped */
    double sums[5 + 3 * RETR_MAX_CUTS];
    int nsums;
    int *top;                /* scratch: kmax indices */
    size_t top_cap;
    void *rel_sorted;        /* scratch: a query's (doc, grade) qrels sorted by doc */
    int *grade_sorted;
    size_t rel_cap;
} RetrMetrics;

typedef struct {
    double mrr, ndcg, map;
    double recall[RETR_MAX_CUTS], precision[RETR_MAX_CUTS], accuracy[RETR_MAX_CUTS];
    int ncuts;
    int cuts[RETR_MAX_CUTS];
    int mrr_k, ndcg_k, map_k;
    int64_t n_queries;  /* counted (at least one relevant document) */
    int64_t n_skipped;  /* without a relevant document */
} RetrSummary;

/* cuts: ncuts (1..RETR_MAX_CUTS) values >= 1, e.g. {1, 3, 5, 10, 100};
 * mrr_k, ndcg_k, map_k >= 1 (10, 10, 100 are the usual ones). 0, or -1 on
 * bad arguments / no memory. */
int retr_init(RetrMetrics *m, const int *cuts, int ncuts, int mrr_k, int ndcg_k, int map_k, RetrGain gain);
/* retr_init with cuts {1, 3, 5, 10, 100}, MRR@10, nDCG@10, MAP@100, linear gain. */
int retr_init_default(RetrMetrics *m);
void retr_free(RetrMetrics *m);
void retr_reset(RetrMetrics *m);

/* One query: scores (ndocs) over the corpus; its qrels are nrel
 * (document index, grade) pairs, grades NULL meaning all 1. Returns 0, or
 * -1 (adding nothing) when a score is not finite, a document index is
 * outside [0, ndocs) or appears twice, or memory runs out. */
int retr_add_query(RetrMetrics *m, const float *scores, int ndocs, const int *rel_docs, const int *grades, int nrel);

/* Whole matrices: scores (nq, ndocs) row-major; query q's qrels are
 * rel_docs[rel_off[q] .. rel_off[q+1]) (grades the same, or NULL). Stops at
 * the first bad query: -1 and *bad_query = q (when not NULL). */
int retr_add_matrix(RetrMetrics *m, const float *scores, int nq, int ndocs, const int *rel_off, const int *rel_docs,
                    const int *grades, int *bad_query);

void retr_compute(const RetrMetrics *m, RetrSummary *out);

/* The top min(k, ndocs) documents of one query under the tie rule above,
 * into out[k]; returns how many were written (-1 on a non-finite score). */
int retr_topk(const float *scores, int ndocs, int k, int *out);

/* STS: cosine of each pair (a_i, b_i) (rows of d floats; a zero vector's
 * cosine is 0) against gold scores, Pearson and Spearman (metrics.c).
 * cos (n) receives the cosines when not NULL. 0, or -1 (no memory, n < 1,
 * d < 1). The correlations follow metric_pearson / metric_spearman: 0 for
 * n < 2 or a constant side, NaN on non-finite input. */
int retr_sts(const float *a, const float *b, const float *gold, int n, int d, double *pearson, double *spearman,
             double *cos);

#endif
