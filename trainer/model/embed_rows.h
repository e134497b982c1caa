/* embed_rows.h — sentence embeddings of framed rows with a model, the one
 * loop of `mtbert encode`, `mtbert retrieve` and training's retrieval
 * evaluation: the rows sorted by length and cut into token-budget batches
 * (token_batches.h), each batch one forward pass, the embeddings written
 * back in input order. Every row is computed on its own (padding masked),
 * so the batching changes speed and memory, not the numbers beyond the
 * GEMM's rounding. The model's mode (eval or training) is the caller's. */
#ifndef MTBERT_EMBED_ROWS_H
#define MTBERT_EMBED_ROWS_H

#include <stddef.h>

#include "trainer/model/model.h"
#include "trainer/model/token_batches.h"

typedef struct {
    int max_rows;      /* rows a pass (<= the model's maxB) */
    long max_tokens;   /* rows x padded length a pass (<= the model's maxN; 0: rows only) */
    int pad;           /* id written into padding */
    const char *stats; /* command name for MTBERT_BATCH_STATS lines (NULL: none) */
} EmbedRowsOptions;

/* ids[i]: lens[i] ids (1 <= lens[i] <= the model's maxT); emb (n, D).
 * *plan_out (optional) gets the plan's counts (order and batches freed).
 * 0, or -1 when out of memory (emb untouched). */
int embed_rows(Model *m, int *const *ids, const int *lens, size_t n, const EmbedRowsOptions *o, float *emb,
               TokenPlan *plan_out);

/* The options that fill a model: its maxB rows and maxN tokens. */
EmbedRowsOptions embed_rows_fill(const Model *m, int pad);

#endif
