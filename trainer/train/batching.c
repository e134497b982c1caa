/* batching.c — loader batches to model batches: similarity pairs as two
 * row blocks (a-sentences, then b-sentences), mixed batches drawn row by row
 * from several sources, host buffers that grow to the largest batch. */
#include "trainer/train/train_internal.h"

#include <stdlib.h>
#include <string.h>

#include "trainer/model/task_kind.h"

void batchbuf_reserve(BatchBuf *b, int rows, int T) {
    if (rows <= b->cap_rows && T <= b->cap_T) return;
    if (rows < b->cap_rows) rows = b->cap_rows;
    if (T < b->cap_T) T = b->cap_T;
    size_t n = (size_t)rows * T;
    b->ids = realloc(b->ids, n * sizeof(int));
    b->types = realloc(b->types, n * sizeof(int));
    b->mask = realloc(b->mask, n * sizeof(int));
    for (int t = 0; t < MAX_TASKS; t++) b->labels[t] = realloc(b->labels[t], n * sizeof(int));
    b->cap_rows = rows;
    b->cap_T = T;
}

void batchbuf_free(BatchBuf *b) {
    free(b->ids);
    free(b->types);
    free(b->mask);
    for (int t = 0; t < MAX_TASKS; t++) free(b->labels[t]);
    memset(b, 0, sizeof *b);
}

/* Copy rows (B,Ts) into (rows, T) at row offset r0, padding with 0. */
static void copy_rows(int *dst, const int *src, int B, int Ts, int T, int r0, int pad) {
    for (int i = 0; i < B; i++)
        for (int j = 0; j < T; j++) dst[(size_t)(r0 + i) * T + j] = j < Ts ? src[(size_t)i * Ts + j] : pad;
}

void batch_convert(const Source *s, const LoaderBatch *lb, const ModelConfig *mc, BatchBuf *buf, Batch *out) {
    memset(out, 0, sizeof *out);
    int B = lb->B;
    if (!s->has_similarity) {
        out->B = B;
        out->T = lb->T;
        out->input_ids = lb->input_ids;
        out->type_ids = lb->type_ids;
        out->mask = lb->mask;
        for (int t = 0; t < mc->ntasks; t++) {
            if (s->shard_task[t] < 0) continue;
            if (task_score_head(mc->tasks[t].type)) out->row_scores[t] = lb->tasks[s->shard_task[t]].scores;
            else out->labels[t] = lb->tasks[s->shard_task[t]].labels;
        }
        return;
    }
    /* pairs: rows [0,B) first sentences, [B,2B) second sentences, then
     * (contrastive with hard negatives) [2B, 2B + B*K) the negatives,
     * example-major: one block [a (B); p (B); n (B*K)] of contrastive.h */
    int K = s->num_neg > 0 && lb->K == s->num_neg ? lb->K : 0, R = (2 + K) * B;
    int T = lb->T > lb->T_b ? lb->T : lb->T_b;
    if (K && lb->T_n > T) T = lb->T_n;
    batchbuf_reserve(buf, R, T);
    copy_rows(buf->ids, lb->input_ids, B, lb->T, T, 0, 0);
    copy_rows(buf->ids, lb->input_ids_b, B, lb->T_b, T, B, 0);
    copy_rows(buf->types, lb->type_ids, B, lb->T, T, 0, 0);
    copy_rows(buf->types, lb->type_ids_b, B, lb->T_b, T, B, 0);
    copy_rows(buf->mask, lb->mask, B, lb->T, T, 0, 0);
    copy_rows(buf->mask, lb->mask_b, B, lb->T_b, T, B, 0);
    if (K) {
        copy_rows(buf->ids, lb->input_ids_n, B * K, lb->T_n, T, 2 * B, 0);
        copy_rows(buf->types, lb->type_ids_n, B * K, lb->T_n, T, 2 * B, 0);
        copy_rows(buf->mask, lb->mask_n, B * K, lb->T_n, T, 2 * B, 0);
    }
    out->B = R;
    out->T = T;
    out->input_ids = buf->ids;
    out->type_ids = buf->types;
    out->mask = buf->mask;
    for (int t = 0; t < mc->ntasks; t++) {
        int k = s->shard_task[t];
        if (k < 0) continue;
        const BatchTask *bt = &lb->tasks[k];
        if (task_kind(mc->tasks[t].type)->head == HEAD_COSINE) {
            out->sim_row0[t] = 0;
            out->sim_npairs[t] = B;
            out->sim_scores[t] = bt->scores;
            out->sim_nneg[t] = task_external_loss(mc->tasks[t].type) ? K : 0;
            continue;
        }
        /* other tasks label the first sentences only */
        int *L = buf->labels[t];
        if (task_kind(mc->tasks[t].type)->head == HEAD_TOKEN) {
            copy_rows(L, bt->labels, B, lb->T, T, 0, LABEL_IGNORE);
            for (size_t i = (size_t)B * T; i < (size_t)R * T; i++) L[i] = LABEL_IGNORE;
        } else {
            for (int i = 0; i < B; i++) L[i] = bt->labels[i];
            for (int i = B; i < R; i++) L[i] = LABEL_IGNORE;
        }
        out->labels[t] = L;
    }
}

/* A mixed batch: row r comes from the source sampler_task_row(step, r)
 * draws, one example at a time (those loaders yield single rows); tasks a
 * row's source does not label get LABEL_IGNORE there. */
void batch_mixed(Trainer *t, const Sampler *smp, long draw, Batch *b, int64_t *real_tokens) {
    const Config *cfg = t->cfg;
    int B = cfg->data.batch_size, W = t->model.maxT, nt = cfg->model.ntasks, T = 1;
    BatchBuf *st = &t->mix, *out = &t->buf;
    batchbuf_reserve(st, B, W);
    *real_tokens = 0;
    for (int r = 0; r < B; r++) {
        const Source *src = &t->src[sampler_task_row(smp, draw, r)];
        const LoaderBatch *lb = loader_next_batch(src->loader);
        int L = lb->T < W ? lb->T : W;
        if (L > T) T = L;
        *real_tokens += lb->real_tokens;
        for (int j = 0; j < W; j++) {
            size_t at = (size_t)r * W + j;
            st->ids[at] = j < L ? lb->input_ids[j] : 0;
            st->types[at] = j < L && lb->type_ids ? lb->type_ids[j] : 0;
            st->mask[at] = j < L ? lb->mask[j] : 0;
        }
        for (int k = 0; k < nt; k++) {
            int sk = src->shard_task[k];
            const int *lab = sk >= 0 ? lb->tasks[sk].labels : NULL;
            if (task_kind(cfg->model.tasks[k].type)->head == HEAD_TOKEN)
                for (int j = 0; j < W; j++) st->labels[k][(size_t)r * W + j] = lab && j < L ? lab[j] : LABEL_IGNORE;
            else
                st->labels[k][r] = lab ? lab[0] : LABEL_IGNORE;
        }
    }
    /* compact rows of width W to the batch's longest row T */
    batchbuf_reserve(out, B, T);
    memset(b, 0, sizeof *b);
    for (int r = 0; r < B; r++) {
        memcpy(out->ids + (size_t)r * T, st->ids + (size_t)r * W, sizeof(int) * T);
        memcpy(out->types + (size_t)r * T, st->types + (size_t)r * W, sizeof(int) * T);
        memcpy(out->mask + (size_t)r * T, st->mask + (size_t)r * W, sizeof(int) * T);
    }
    for (int k = 0; k < nt; k++) {
        if (task_kind(cfg->model.tasks[k].type)->head == HEAD_TOKEN)
            for (int r = 0; r < B; r++)
                memcpy(out->labels[k] + (size_t)r * T, st->labels[k] + (size_t)r * W, sizeof(int) * T);
        else
            memcpy(out->labels[k], st->labels[k], sizeof(int) * B);
        b->labels[k] = out->labels[k];
    }
    b->B = B;
    b->T = T;
    b->input_ids = out->ids;
    b->type_ids = out->types;
    b->mask = out->mask;
}
