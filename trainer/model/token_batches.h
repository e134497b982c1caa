/* token_batches.h — the batches of encode and predict: sentences sorted by
 * token length (longest first, ties in input order), cut so that each
 * batch's rows x padded length (its first, longest row) stays within a
 * token budget and its rows within a row cap. A sentence longer than the
 * budget is a batch of its own. Within those limits the cuts minimise the
 * padded tokens plus TOKEN_BATCH_OVERHEAD tokens a batch (the fixed cost of
 * a forward pass, in tokens), so a long row does not carry up to the
 * budget of much shorter ones. Without a budget (max_tokens 0) every batch
 * but the last has max_rows rows, as before budgets. The results go back in input order: every
 * row is computed on its own (padding is masked), so the batching changes
 * only speed and memory. */
#ifndef MTBERT_TOKEN_BATCHES_H
#define MTBERT_TOKEN_BATCHES_H

#include <stddef.h>

#define TOKEN_BATCH_DEFAULT_TOKENS 4096 /* --max-tokens default (docs/performance.md) */
#define TOKEN_BATCH_DEFAULT_ROWS 256    /* --batch default: the row cap under the budget */
#define TOKEN_BATCH_OVERHEAD 64         /* tokens a batch costs beyond its rows x T (docs/performance.md) */

typedef struct {
    size_t start; /* first position in `order` */
    int rows, T;  /* rows, padded length (the longest row's) */
} TokenBatch;

typedef struct {
    int *order;          /* (n) sentence indices, longest first, stable */
    TokenBatch *batches; /* (nbatches) */
    size_t n, nbatches;
    size_t real_tokens, padded_tokens; /* sum of lengths; sum of rows x T */
    int max_rows;        /* the most rows of any batch */
    size_t max_tokens;   /* the most rows x T of any batch */
} TokenPlan;

/* Plans batches over lens (n) with at most max_rows rows and max_tokens
 * rows x T tokens per batch. 0, or -1 out of memory. */
int token_plan(TokenPlan *p, const int *lens, size_t n, int max_rows, long max_tokens);
void token_plan_free(TokenPlan *p);

/* MTBERT_BATCH_STATS=1 in the environment: print each batch and a summary
 * to stderr ("mtbert CMD: batch I: R rows x T tokens", then sentences,
 * batches, padded and real tokens, seconds of tokenizing and of the forward
 * passes, sentences/s of the two together). */
int token_stats_enabled(void);
void token_stats_batch(const char *cmd, size_t i, const TokenBatch *b);
void token_stats_summary(const char *cmd, const TokenPlan *p, long max_tokens, int max_rows, double tok_s,
                         double fwd_s);

#endif
