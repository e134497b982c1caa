/* embed_rows.c — embed_rows (embed_rows.h). */
#include "trainer/model/embed_rows.h"

#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

EmbedRowsOptions embed_rows_fill(const Model *m, int pad) {
    return (EmbedRowsOptions){.max_rows = m->maxB, .max_tokens = (long)m->maxN, .pad = pad};
}

/* One batch's (rows, T) ids and mask from its rows' ids, padded. */
static void fill_batch(int *bid, int *bmask, int *const *ids, const int *lens, const int *order, const TokenBatch *tb,
                       int pad) {
    int T = tb->T;
    for (int r = 0; r < tb->rows; r++) {
        int k = order[r];
        for (int j = 0; j < T; j++) {
            bid[r * T + j] = j < lens[k] ? ids[k][j] : pad;
            bmask[r * T + j] = j < lens[k];
        }
    }
}

int embed_rows(Model *m, int *const *ids, const int *lens, size_t n, const EmbedRowsOptions *o, float *emb,
               TokenPlan *plan_out) {
    TokenPlan plan;
    if (token_plan(&plan, lens, n, o->max_rows, o->max_tokens)) return -1;
    int D = model_embedding_dim(m);
    size_t cap = m->maxN ? m->maxN : (size_t)m->maxB * m->maxT;
    float *out = xmalloc(sizeof(float) * (size_t)m->maxB * D);
    int *bid = xmalloc(sizeof(int) * cap), *bmask = xmalloc(sizeof(int) * cap);
    int stats = o->stats && token_stats_enabled();
    for (size_t bi = 0; bi < plan.nbatches; bi++) {
        const TokenBatch *tb = &plan.batches[bi];
        const int *order = plan.order + tb->start;
        if (stats) token_stats_batch(o->stats, bi, tb);
        fill_batch(bid, bmask, ids, lens, order, tb, o->pad);
        Batch b = {.B = tb->rows, .T = tb->T, .input_ids = bid, .mask = bmask};
        model_forward(m, &b);
        model_get_embeddings(m, out);
        for (int r = 0; r < tb->rows; r++) memcpy(emb + (size_t)order[r] * D, out + (size_t)r * D, sizeof(float) * D);
    }
    free(bid); free(bmask); free(out);
    if (plan_out) {
        *plan_out = plan;
        plan_out->order = NULL;
        plan_out->batches = NULL;
    }
    token_plan_free(&plan);
    return 0;
}
