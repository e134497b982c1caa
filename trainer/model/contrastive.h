/* contrastive.h — losses on sentence embeddings for embedding training
 * (issue 18): multiple-negatives ranking (InfoNCE), CoSENT, AnglE, triplet.
 *
 * Everything here works on HOST arrays of fp32 embeddings (row-major, one
 * sentence per row of d floats) and computes in double precision. The
 * matrices are B x D (and B x B(1+K) similarities), small next to the
 * encoder, so the loop copies the final embeddings to the host, calls one
 * function, and uploads the embedding gradient (the model already does this
 * round trip for the similarity task's cosines). Similarity products use
 * OpenBLAS (cblas_dgemm).
 *
 * ---- Global batch, local rows ------------------------------------------
 * Every loss takes the GLOBAL batch (all ranks' rows, all-gathered) and a
 * range of examples [row0, row0 + nrows) that this caller owns. It returns
 * the loss of the whole global batch (the same number on every rank) and
 * the gradient of that loss with respect to exactly the owned rows. The
 * owned gradients of a partition of [0, n) are disjoint slices of the
 * single-process gradient, so backpropagating each rank's slice through its
 * own encoder and SUMMING parameter gradients over ranks gives the
 * single-process parameter gradient. The training loop averages gradients
 * over ranks (comm_allreduce_mean), so it must pass grad_scale = world size
 * (times the task weight) — see docs/embeddings.md.
 *
 * ---- Row order (rank-major) --------------------------------------------
 * Global example e = r*b + i is example i of rank r (b examples per rank;
 * unequal counts are fine as long as the blocks are in rank order):
 *   anchors    (n, d)     row e
 *   positives  (n, d)     row e
 *   negatives  (n*k, d)   row e*k + j is hard negative j of example e
 *                         (example-major), so rank r owns the contiguous
 *                         rows [r*b*k, (r+1)*b*k).
 * All-gathering each rank's anchors, positives and negatives as THREE
 * separate buffers in rank order gives exactly this. The model batch puts a
 * rank's rows in one block [anchors(b) ; positives(b) ; negatives(b*k)];
 * gathering that single block per rank gives
 * [a_0 p_0 n_0 a_1 p_1 n_1 ...], NOT [a_0 a_1 ... p_0 p_1 ...]:
 * ctr_blocks_split() turns such a gathered buffer into the three arrays
 * (this is the mistake a published implementation once made).
 *
 * ---- Duplicate masking (MNRL) ------------------------------------------
 * Optional per-row text ids (int64; any value < 0 means "unknown", equal to
 * nothing). For anchor i (its own positive is column i, never masked):
 *   - positive column j != i is masked when positive_ids[j] == positive_ids[i]
 *     or anchor_ids[j] == anchor_ids[i] (then j's positive is also a correct
 *     answer for i);
 *   - hard-negative column is masked when negative_ids[row] == positive_ids[i]
 *     (a "negative" that is the text of i's positive).
 * The symmetric term (positive i -> anchors) masks anchor j != i under the
 * same pair rule (positive_ids or anchor_ids equal). Masked entries get
 * probability 0 and no gradient, exactly as a score of -inf. */
#ifndef MTBERT_CONTRASTIVE_H
#define MTBERT_CONTRASTIVE_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CTR_MNRL = 0,    /* multiple-negatives ranking (InfoNCE over scale * similarity) */
    CTR_COSENT = 1,  /* CoSENT on scored pairs */
    CTR_ANGLE = 2,   /* AnglE: CoSENT with the angle similarity |cos + sin| */
    CTR_TRIPLET = 3, /* relu(d(a,p) - d(a,n) + margin) */
} CtrLoss;

typedef enum {
    CTR_SIM_COS = 0, /* cosine (sentence-transformers' cos_sim; the default) */
    CTR_SIM_DOT = 1, /* plain dot product (dot_score; use scale 1) */
} CtrSimilarity;

typedef enum {
    CTR_DIST_EUCLIDEAN = 0, /* ||a - b||_2 (TripletDistanceMetric.EUCLIDEAN; the default) */
    CTR_DIST_COSINE = 1,    /* 1 - cos(a, b) (TripletDistanceMetric.COSINE) */
} CtrDistance;

#define CTR_DEFAULT_SCALE 20.0f   /* MNRL, CoSENT and AnglE (sentence-transformers 6.2) */
#define CTR_DEFAULT_MARGIN 5.0f   /* TripletLoss(triplet_margin=5), for every distance */

typedef struct {
    CtrLoss loss;
    float scale;              /* MNRL / CoSENT / AnglE: logits = scale * similarity */
    CtrSimilarity similarity; /* MNRL only */
    int symmetric;            /* MNRL: add the positive -> anchors term; the loss is
                                 (forward + backward) / 2 (sentence-transformers'
                                 directions=(query_to_doc, doc_to_query),
                                 partition_mode=per_direction) */
    CtrDistance distance;     /* triplet only */
    float margin;             /* triplet only */
    float grad_scale;         /* every gradient output is multiplied by this (1) */
} CtrOptions;

/* One global batch. Which fields a loss reads:
 *   MNRL     anchors, positives, [negatives with k >= 1], [ids]
 *   CoSENT   anchors = first sentences, positives = second sentences, scores
 *   AnglE    as CoSENT
 *   triplet  anchors, positives, negatives with k == 1 */
typedef struct {
    int n;                   /* examples in the global batch */
    int k;                   /* hard negatives per example (0: none) */
    int d;                   /* embedding width */
    const float *anchors;    /* (n, d) */
    const float *positives;  /* (n, d) */
    const float *negatives;  /* (n*k, d), example-major; NULL when k == 0 */
    const float *scores;     /* (n) gold scores of the pairs (CoSENT, AnglE) */
    const int64_t *anchor_ids;   /* (n) or NULL: text ids for duplicate masking */
    const int64_t *positive_ids; /* (n) or NULL */
    const int64_t *negative_ids; /* (n*k) or NULL */
} CtrBatch;

typedef struct {
    double loss;     /* of the whole global batch (same on every rank) */
    double top1;     /* MNRL: fraction of ALL n anchors whose own positive scores
                        strictly above every unmasked other column (ties count
                        as misses); triplet: fraction with d(a,p) < d(a,n);
                        CoSENT/AnglE: fraction of ordered pairs (y_i > y_j)
                        with sim_i > sim_j (1 when there are none) */
    int64_t masked;  /* MNRL: masked (row, column) entries, both terms */
    int64_t active;  /* triplet: triplets with a positive hinge; CoSENT/AnglE:
                        ordered pairs; MNRL: candidate columns per anchor */
} CtrResult;

/* Defaults for one loss: scale 20, cosine, not symmetric, Euclidean,
 * margin 5, grad_scale 1. */
void ctr_options_default(CtrOptions *o, CtrLoss loss);
/* "mnrl" / "multiple_negatives_ranking", "cosent", "angle", "triplet":
 * 0 and *out, or -1. */
int ctr_loss_parse(const char *name, CtrLoss *out);
const char *ctr_loss_name(CtrLoss loss);

/* The loss of the global batch and its gradient for the owned examples
 * [row0, row0 + nrows) (0 <= row0, row0 + nrows <= n; nrows may be 0):
 *   dA (nrows, d): anchors row0..      (CoSENT/AnglE: first sentences)
 *   dP (nrows, d): positives row0..    (CoSENT/AnglE: second sentences)
 *   dN (nrows*k, d): negatives rows [row0*k, (row0+nrows)*k)
 * The outputs are OVERWRITTEN (not accumulated); any may be NULL (not
 * computed). res may be NULL. Returns 0, or -1 with a message in err (bad
 * shapes, missing arrays, non-finite inputs, no memory); outputs are then
 * untouched. Reductions: MNRL, triplet: mean over the n examples; CoSENT
 * and AnglE: log(1 + sum over ordered pairs), no mean (as
 * sentence-transformers). */
int ctr_loss(const CtrBatch *b, const CtrOptions *o, int row0, int nrows, CtrResult *res,
             float *dA, float *dP, float *dN, char *err, size_t errlen);

/* ---- block layout: all-gathered ranks and cached mini-batches ----------
 * A "block" is the rows of `count` consecutive examples as the model batch
 * holds them: [anchors (count) ; positives (count) ; negatives (count*k)],
 * each row `row_bytes` bytes (d*sizeof(float) for embeddings,
 * sizeof(int64_t) for text ids). Negatives inside a block are example-major
 * (CTR_NEG_EXAMPLE_MAJOR: row i*k + j) or column-major (CTR_NEG_COLUMN_MAJOR:
 * row j*count + i, how sentence-transformers concatenates its columns). The
 * split arrays A (n), P (n), N (n*k) are always example-major. */
typedef enum { CTR_NEG_EXAMPLE_MAJOR = 0, CTR_NEG_COLUMN_MAJOR = 1 } CtrNegOrder;

/* Rows in one block: count * (2 + k). */
static inline size_t ctr_block_rows(int count, int k) { return (size_t)count * (size_t)(2 + k); }
/* Copy one block into A, P, N at example offset ex0 (N may be NULL when k == 0). */
void ctr_block_split(const void *block, int count, int k, size_t row_bytes, CtrNegOrder order,
                     int ex0, void *A, void *P, void *N);
/* The inverse: rows ex0 .. ex0+count of A, P, N into one block. NULL A, P or
 * N writes zeros for those rows. */
void ctr_block_join(const void *A, const void *P, const void *N, int ex0, int count, int k,
                    size_t row_bytes, CtrNegOrder order, void *block);
/* nblocks consecutive blocks (counts[i] examples each; blocks in rank order
 * after an all-gather, or the mini-batches of a cached batch) into A, P, N
 * of sum(counts) examples. */
void ctr_blocks_split(const void *blocks, const int *counts, int nblocks, int k, size_t row_bytes,
                      CtrNegOrder order, void *A, void *P, void *N);

/* ---- cached (GradCache) large batches ----------------------------------
 * The loop embeds its n examples in chunks of at most `mini` examples
 * without keeping activations, storing each chunk's embedding block with
 * ctr_cache_put; then computes the loss on the full batch with ctr_loss on
 * the cache's arrays (ctr_cache_batch; with several ranks: on the
 * all-gathered arrays instead, row0 = this rank's first example), writing
 * the gradient of its own rows into cache.dA/dP/dN, and re-runs each chunk
 * with activations, backpropagating the block ctr_cache_grad returns. The
 * cached step is the uncached step up to summation order: the loss only
 * sees embeddings, and each chunk's parameter gradient is the chain rule
 * through that chunk's rows. A chunk's two passes must draw the same
 * dropout masks (masks are functions of (seed, step, site, element); with
 * dropout on, equality with the uncached step also needs the chunk's
 * elements numbered as in the full batch). */
typedef struct {
    int n, k, d, mini;
    float *A, *P, *N;     /* (n, d), (n, d), (n*k, d): embeddings, example-major */
    float *dA, *dP, *dN;  /* the same shapes: gradients */
    int64_t *ida, *idp, *idn; /* text ids (n), (n), (n*k), -1 until put */
} CtrCache;

/* 0, or -1 on bad sizes / no memory. mini <= 0 means one chunk. */
int ctr_cache_init(CtrCache *c, int n, int k, int d, int mini);
void ctr_cache_free(CtrCache *c);
/* ceil(n / mini) */
int ctr_cache_chunks(const CtrCache *c);
/* Chunk `i`: its first example and its number of examples. */
void ctr_cache_chunk(const CtrCache *c, int i, int *ex0, int *count);
/* Store chunk i's embedding block (ctr_block_rows(count, k) rows of d
 * floats, negatives in `order`); ids: the chunk's id block or NULL. */
void ctr_cache_put(CtrCache *c, int i, const float *block, const int64_t *ids, CtrNegOrder order);
/* A CtrBatch over the cache (ids are -1, i.e. unknown, where no ids were put). */
CtrBatch ctr_cache_batch(const CtrCache *c, const float *scores);
/* Chunk i's gradient block (same layout as put) from c->dA/dP/dN. */
void ctr_cache_grad(const CtrCache *c, int i, CtrNegOrder order, float *block);

#endif
