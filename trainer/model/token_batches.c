/* token_batches.c — token_plan and the batch statistics (token_batches.h). */
#include "trainer/model/token_batches.h"

#include <stdio.h>
#include <stdlib.h>

static int by_length_desc(const void *a, const void *b, void *lens) {
    const int *l = lens;
    int x = *(const int *)a, y = *(const int *)b;
    return l[y] != l[x] ? l[y] - l[x] : x - y;
}

int token_plan(TokenPlan *p, const int *lens, size_t n, int max_rows, long max_tokens) {
    p->n = n;
    p->nbatches = 0;
    p->real_tokens = p->padded_tokens = 0;
    p->max_rows = 0;
    p->max_tokens = 0;
    p->order = malloc(sizeof(int) * (n ? n : 1));
    p->batches = malloc(sizeof(TokenBatch) * (n ? n : 1));
    if (!p->order || !p->batches) {
        token_plan_free(p);
        return -1;
    }
    for (size_t i = 0; i < n; i++) p->order[i] = (int)i;
    qsort_r(p->order, n, sizeof(int), by_length_desc, (void *)lens);
    if (max_rows < 1) max_rows = 1;
    /* The cut: over the sorted order, the batches that minimise the sum of
     * (TOKEN_BATCH_OVERHEAD + rows x T), by dynamic programming from the
     * end: cost[s] = the least cost of sentences s..n-1, take[s] = the rows
     * of the batch that starts at s (more rows on a tie). Greedy filling
     * would put up to the budget of short rows behind a long one; this
     * cuts where the padding costs more than another pass. */
    double *cost = malloc(sizeof(double) * (n + 1));
    int *take = malloc(sizeof(int) * (n ? n : 1));
    if (!cost || !take) {
        free(cost);
        free(take);
        token_plan_free(p);
        return -1;
    }
    cost[n] = 0;
    for (size_t s = n; s-- > 0;) {
        int T = lens[p->order[s]] > 0 ? lens[p->order[s]] : 1;
        long fit = max_tokens > 0 ? max_tokens / T : max_rows;
        int most = fit < 1 ? 1 : fit < max_rows ? (int)fit : max_rows;
        if ((size_t)most > n - s) most = (int)(n - s);
        cost[s] = -1;
        /* no budget: --batch rows a batch, as before budgets */
        for (int r = most; r >= (max_tokens > 0 ? 1 : most); r--) {
            double c = TOKEN_BATCH_OVERHEAD + (double)r * T + cost[s + r];
            if (cost[s] < 0 || c < cost[s]) {
                cost[s] = c;
                take[s] = r;
            }
        }
    }
    for (size_t s = 0; s < n;) {
        int T = lens[p->order[s]], rows = take[s];
        TokenBatch *b = &p->batches[p->nbatches++];
        b->start = s;
        b->rows = rows;
        b->T = T;
        for (int r = 0; r < rows; r++) p->real_tokens += (size_t)lens[p->order[s + r]];
        p->padded_tokens += (size_t)rows * T;
        if (rows > p->max_rows) p->max_rows = rows;
        if ((size_t)rows * T > p->max_tokens) p->max_tokens = (size_t)rows * T;
        s += (size_t)rows;
    }
    free(cost);
    free(take);
    return 0;
}

void token_plan_free(TokenPlan *p) {
    free(p->order);
    free(p->batches);
    p->order = NULL;
    p->batches = NULL;
    p->n = p->nbatches = 0;
}

int token_stats_enabled(void) {
    const char *e = getenv("MTBERT_BATCH_STATS");
    return e && *e && *e != '0';
}

void token_stats_batch(const char *cmd, size_t i, const TokenBatch *b) {
    fprintf(stderr, "mtbert %s: batch %zu: %d rows x %d tokens\n", cmd, i + 1, b->rows, b->T);
}

void token_stats_summary(const char *cmd, const TokenPlan *p, long max_tokens, int max_rows, double tok_s,
                         double fwd_s) {
    fprintf(stderr,
            "mtbert %s: %zu sentences in %zu batches (--max-tokens %ld, --batch %d): %zu padded tokens, %zu real "
            "(%.1f%%), largest batch %d rows / %zu tokens; tokenize %.3f s, forward %.3f s (%.1f sentences/s)\n",
            cmd, p->n, p->nbatches, max_tokens, max_rows, p->padded_tokens, p->real_tokens,
            p->padded_tokens ? 100.0 * p->real_tokens / p->padded_tokens : 100.0, p->max_rows, p->max_tokens, tok_s,
            fwd_s, tok_s + fwd_s > 0 ? p->n / (tok_s + fwd_s) : 0.0);
}
