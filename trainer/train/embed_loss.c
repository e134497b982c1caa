/* embed_loss.c — the losses computed outside the model (task kinds with
 * external_loss: contrastive), between model_forward and model_backward.
 *
 * For each such task with pairs in the batch (rows [r0, r0 + P) anchors =
 * first sentences, [r0 + P, r0 + 2P) positives = second sentences, as
 * batch_convert lays out every pair task, then K = sim_nneg hard negatives
 * per pair, [r0 + 2P, r0 + 2P + P*K) example-major):
 *   1. the final embeddings come down to the host, ((2+K)P, D) = one block
 *      [a (P); p (P); n (P*K)] of contrastive.h's layout;
 *   2. training with several ranks: every rank's block, the pairs' scores
 *      and the rows' text ids are all-gathered in rank order and split
 *      (ctr_blocks_split: the gathered buffer is [a_0 p_0 n_0 | a_1 p_1 n_1 | ...],
 *      not [a_0 a_1 | p_0 p_1]) into the global anchors, positives and
 *      negatives;
 *   3. ctr_loss on the global batch, for this rank's examples [row0, row0 +
 *      P), grad_scale = world (the loop averages gradients over ranks, and
 *      the owned slices of the global gradient must add up);
 *   4. the gradient, joined back into the block layout, goes to the model
 *      (model_set_embedding_loss, one item: the loss is already the mean).
 * Text ids: a hash of each row's token ids, so that duplicate texts in a
 * batch are masked as negatives (contrastive.h). */
#include "trainer/train/train_internal.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/model/contrastive.h"
#include "trainer/model/task_kind.h"
#include "trainer/train/retrieval.h"

/* FNV-1a over the row's real tokens: equal texts, equal ids. */
int64_t embed_row_text_id(const Batch *b, int r) {
    uint64_t h = 1469598103934665603ull;
    for (int j = 0; j < b->T; j++) {
        size_t at = (size_t)r * b->T + j;
        if (!b->mask[at]) continue;
        uint32_t v = (uint32_t)b->input_ids[at];
        for (int k = 0; k < 4; k++) {
            h ^= (v >> (8 * k)) & 0xffu;
            h *= 1099511628211ull;
        }
    }
    return (int64_t)(h >> 1); /* >= 0: a known id */
}

typedef struct {
    float *emb, *gemb, *A, *P, *N, *dA, *dP, *dN, *gblock, *gscores;
    int64_t *ids, *gids, *ida, *idp, *idn;
} Scratch;

/* The loss options of a contrastive task over W ranks: the gradient of each
 * rank's rows is scaled by W, as the loop averages gradients over ranks. */
static void task_ctr_options(const TaskSetup *ts, int W, CtrOptions *o) {
    ctr_options_default(o, (CtrLoss)ts->ctr_loss);
    o->scale = ts->ctr_scale;
    o->symmetric = ts->ctr_symmetric;
    o->margin = ts->ctr_margin; /* triplet only (Euclidean distance, the default) */
    o->grad_scale = (float)W;
}

static void scratch_free(Scratch *s) {
    free(s->emb); free(s->gemb); free(s->A); free(s->P); free(s->N); free(s->dA); free(s->dP); free(s->dN);
    free(s->gblock); free(s->gscores); free(s->ids); free(s->gids); free(s->ida); free(s->idp); free(s->idn);
}

/* One task: 0, or -1 with err (a collective failed or no memory: the
 * caller ends the job). A non-finite loss is not an error: it is recorded
 * as NaN without a gradient, and the loop skips or stops the step. */
static int task_loss(Trainer *t, const Batch *b, int k, int gather, Scratch *s, double *top1, char *err, size_t errlen) {
    Model *m = &t->model;
    const TaskSetup *ts = &t->cfg->task[k];
    int D = model_embedding_dim(m), P = b->sim_npairs[k], r0 = b->sim_row0[k], K = b->sim_nneg[k];
    int W = gather ? t->comm->world : 1, rank = gather ? t->comm->rank : 0, R = (int)ctr_block_rows(P, K);
    size_t rowb = sizeof(float) * (size_t)D, cap = (size_t)W * m->maxB;
    /* the rank's block [a (P); p (P); n (P*K)], negatives example-major */
    const float *block = s->emb + (size_t)r0 * D;
    for (int r = 0; r < R; r++) s->ids[r] = embed_row_text_id(b, r0 + r);
    const float *A = block, *Pp = block + (size_t)P * D, *Nn = K ? block + (size_t)2 * P * D : NULL;
    const float *scores = b->sim_scores[k];
    const int64_t *ida = s->ids, *idp = s->ids + P, *idn = K ? s->ids + 2 * P : NULL;
    int n = P, row0 = 0;
    if (W > 1) {
        size_t counts[1024];
        int ex[1024];
        if (W > 1024) { snprintf(err, errlen, "contrastive loss: at most 1024 ranks"); return -1; }
        if (comm_allgather(t->comm, block, (size_t)R * rowb, s->gemb, cap * rowb, counts) ||
            comm_allgather(t->comm, scores, sizeof(float) * (size_t)P, s->gscores, sizeof(float) * cap, NULL) ||
            comm_allgather(t->comm, s->ids, sizeof(int64_t) * (size_t)R, s->gids, sizeof(int64_t) * cap, NULL)) {
            snprintf(err, errlen, "contrastive loss of task '%s': the embedding all-gather failed", m->cfg.tasks[k].name);
            return -1;
        }
        n = 0;
        for (int r = 0; r < W; r++) {
            ex[r] = (int)(counts[r] / ((size_t)(2 + K) * rowb));
            if (r < rank) row0 += ex[r];
            n += ex[r];
        }
        /* [a_0 p_0 n_0 | a_1 p_1 n_1 | ...] -> A, P, N of the global batch */
        ctr_blocks_split(s->gemb, ex, W, K, rowb, CTR_NEG_EXAMPLE_MAJOR, s->A, s->P, K ? s->N : NULL);
        ctr_blocks_split(s->gids, ex, W, K, sizeof(int64_t), CTR_NEG_EXAMPLE_MAJOR, s->ida, s->idp, K ? s->idn : NULL);
        A = s->A, Pp = s->P, Nn = K ? s->N : NULL, scores = s->gscores, ida = s->ida, idp = s->idp;
        idn = K ? s->idn : NULL;
    }
    CtrBatch cb = {.n = n, .k = K, .d = D, .anchors = A, .positives = Pp, .negatives = Nn, .scores = scores,
                   .anchor_ids = ida, .positive_ids = idp, .negative_ids = idn};
    CtrOptions o;
    task_ctr_options(ts, W, &o);
    CtrResult res;
    int with_grad = m->grads && m->ext_grad[k];
    char why[512];
    if (ctr_loss(&cb, &o, row0, P, &res, with_grad ? s->dA : NULL, with_grad ? s->dP : NULL,
                 with_grad && K ? s->dN : NULL, why, sizeof why)) {
        model_set_embedding_loss(m, k, NAN, 1, NULL, r0, R); /* non-finite embeddings: the step is not good */
        return 0;
    }
    if (with_grad) ctr_block_join(s->dA, s->dP, K ? s->dN : NULL, 0, P, K, rowb, CTR_NEG_EXAMPLE_MAJOR, s->gblock);
    model_set_embedding_loss(m, k, (float)res.loss, 1, with_grad ? s->gblock : NULL, r0, R);
    if (top1) top1[k] = res.top1;
    return 0;
}

int embed_losses(Trainer *t, const Batch *b, int gather, double *top1, char *err, size_t errlen) {
    Model *m = &t->model;
    const ModelConfig *mc = &t->cfg->model;
    int any = 0;
    for (int k = 0; k < mc->ntasks; k++) any |= task_external_loss(mc->tasks[k].type) && b->sim_npairs[k] > 0;
    if (!any) return 0;
    int D = model_embedding_dim(m), W = gather ? t->comm->world : 1;
    size_t B = (size_t)m->maxB, cap = (size_t)W * B;
    Scratch s = {0};
    s.emb = malloc(sizeof(float) * B * D);
    s.gemb = malloc(sizeof(float) * cap * D);
    s.A = malloc(sizeof(float) * cap * D);
    s.P = malloc(sizeof(float) * cap * D);
    s.N = malloc(sizeof(float) * cap * D);  /* negatives of the global batch: at most all rows */
    s.dA = malloc(sizeof(float) * B * D);
    s.dP = malloc(sizeof(float) * B * D);
    s.dN = malloc(sizeof(float) * B * D);
    s.gblock = malloc(sizeof(float) * B * D);
    s.gscores = malloc(sizeof(float) * cap);
    s.ids = malloc(sizeof(int64_t) * B);
    s.gids = malloc(sizeof(int64_t) * cap);
    s.ida = malloc(sizeof(int64_t) * cap);
    s.idp = malloc(sizeof(int64_t) * cap);
    s.idn = malloc(sizeof(int64_t) * cap);
    int rc = 0;
    if (!s.emb || !s.gemb || !s.A || !s.P || !s.N || !s.dA || !s.dP || !s.dN || !s.gblock || !s.gscores || !s.ids ||
        !s.gids || !s.ida || !s.idp || !s.idn) {
        snprintf(err, errlen, "contrastive loss: out of host memory");
        rc = -1;
    } else {
        model_get_embeddings(m, s.emb);
        for (int k = 0; k < mc->ntasks && !rc; k++)
            if (task_external_loss(mc->tasks[k].type) && b->sim_npairs[k] > 0)
                rc = task_loss(t, b, k, gather, &s, top1, err, errlen);
    }
    scratch_free(&s);
    return rc;
}

/* ---- cached (GradCache) steps: tasks[].mini_batch -----------------------
 * A batch of P pairs is embedded in chunks of at most `mini` pairs, so the
 * model holds the activations of 2 x mini rows, not 2P:
 *   1. each chunk: forward, its (a; p) embedding block into a CtrCache;
 *   2. the cache's anchors, positives, scores and text ids all-gathered over
 *      the ranks (each array in rank order: concatenated they are the global
 *      arrays), ctr_loss on the global batch for this rank's pairs;
 *   3. each chunk again: forward (the same dropout key: the same masks),
 *      its rows' gradient block to the model, backward (parameter
 *      gradients add up over chunks).
 * With dropout off this is the uncached step up to summation order (with
 * dropout on, a chunk's rows draw other masks than in the full batch: mask
 * elements are numbered within the model batch). */

/* The task of b that trains cached (a contrastive task with mini_batch > 0
 * and pairs in b), or -1. */
int embed_cached_task(const Trainer *t, const Batch *b) {
    const ModelConfig *mc = &t->cfg->model;
    for (int k = 0; k < mc->ntasks; k++)
        if (task_external_loss(mc->tasks[k].type) && t->cfg->task[k].ctr_mini_batch > 0 && b->sim_npairs[k] > 0)
            return k;
    return -1;
}

/* Sub-batch of pairs [ex0, ex0 + count) of task k: rows a, p, then the
 * pairs' K hard negatives (example-major), b's width: the chunk's block. */
static void chunk_batch(const Batch *b, int k, int ex0, int count, BatchBuf *buf, Batch *out) {
    int P = b->sim_npairs[k], r0 = b->sim_row0[k], T = b->T, K = b->sim_nneg[k];
    batchbuf_reserve(buf, (int)ctr_block_rows(count, K), T);
    for (int h = 0; h < 3; h++) {
        if (h == 2 && !K) break;
        int w = h == 2 ? K : 1; /* rows per example in this part */
        size_t from = (size_t)(r0 + h * P + (size_t)ex0 * w) * T, to = (size_t)h * count * T;
        size_t n = (size_t)count * w * T;
        memcpy(buf->ids + to, b->input_ids + from, n * sizeof(int));
        memcpy(buf->mask + to, b->mask + from, n * sizeof(int));
        if (b->type_ids) memcpy(buf->types + to, b->type_ids + from, n * sizeof(int));
        else memset(buf->types + to, 0, n * sizeof(int));
    }
    memset(out, 0, sizeof *out);
    out->sim_nneg[k] = K;
    out->B = (int)ctr_block_rows(count, K);
    out->T = T;
    out->input_ids = buf->ids;
    out->type_ids = buf->types;
    out->mask = buf->mask;
    out->sim_row0[k] = 0;
    out->sim_npairs[k] = count;
    out->sim_scores[k] = b->sim_scores[k] + ex0;
}

typedef struct {
    CtrCache c;
    BatchBuf buf;
    float *emb, *block, *gA, *gP, *gN, *gS;
    int64_t *ids, *gia, *gip, *gin;
} Cached;

static void cached_free(Cached *x) {
    ctr_cache_free(&x->c);
    batchbuf_free(&x->buf);
    free(x->emb); free(x->block); free(x->gA); free(x->gP); free(x->gN); free(x->gS); free(x->ids); free(x->gia);
    free(x->gip); free(x->gin);
}

/* Pass 1: every chunk's embeddings (and text ids) into the cache. */
static void cached_embed(Trainer *t, const Batch *b, int k, Cached *x) {
    Model *m = &t->model;
    for (int i = 0; i < ctr_cache_chunks(&x->c); i++) {
        int ex0, cnt;
        Batch sb;
        ctr_cache_chunk(&x->c, i, &ex0, &cnt);
        chunk_batch(b, k, ex0, cnt, &x->buf, &sb);
        model_forward(m, &sb);
        model_get_embeddings(m, x->emb);
        for (int r = 0; r < sb.B; r++) x->ids[r] = embed_row_text_id(&sb, r);
        ctr_cache_put(&x->c, i, x->emb, x->ids, CTR_NEG_EXAMPLE_MAJOR);
    }
}

/* Pass 2: the loss of the global batch; the owned rows' gradient into
 * x->c.dA / dP. 0 (res filled; res->loss NaN when the embeddings are not
 * finite) or -1 with err (a collective failed, no memory). */
static int cached_loss(Trainer *t, const Batch *b, int k, Cached *x, CtrResult *res, char *err, size_t errlen) {
    const TaskSetup *ts = &t->cfg->task[k];
    int P = x->c.n, D = x->c.d, K = x->c.k, W = t->comm->world, n = P, row0 = 0;
    const float *A = x->c.A, *Pp = x->c.P, *Nn = K ? x->c.N : NULL, *S = b->sim_scores[k];
    const int64_t *ia = x->c.ida, *ip = x->c.idp, *in = K ? x->c.idn : NULL;
    if (W > 1) {
        int *cnt = calloc((size_t)W, sizeof(int));
        size_t *bytes = calloc((size_t)W, sizeof(size_t));
        int bad = !cnt || !bytes || comm_allgather(t->comm, &P, sizeof(int), cnt, sizeof(int) * (size_t)W, bytes);
        n = 0;
        for (int r = 0; !bad && r < W; r++) {
            if (r < t->comm->rank) row0 += cnt[r];
            n += cnt[r];
        }
        free(cnt);
        free(bytes);
        if (!bad) {
            x->gA = malloc(sizeof(float) * (size_t)n * D);
            x->gP = malloc(sizeof(float) * (size_t)n * D);
            x->gS = malloc(sizeof(float) * (size_t)n);
            x->gia = malloc(sizeof(int64_t) * (size_t)n);
            x->gip = malloc(sizeof(int64_t) * (size_t)n);
            size_t fb = sizeof(float) * (size_t)D, kk = (size_t)(K ? K : 1);
            /* negatives: each rank's (P*K) rows, concatenated in rank order = the global (n*K) */
            x->gN = malloc(sizeof(float) * (size_t)n * kk * D);
            x->gin = malloc(sizeof(int64_t) * (size_t)n * kk);
            bad = !x->gA || !x->gP || !x->gS || !x->gia || !x->gip || !x->gN || !x->gin ||
                  (K && (comm_allgather(t->comm, x->c.N, fb * P * K, x->gN, fb * n * K, NULL) ||
                         comm_allgather(t->comm, x->c.idn, sizeof(int64_t) * P * K, x->gin,
                                        sizeof(int64_t) * n * K, NULL))) ||
                  comm_allgather(t->comm, x->c.A, fb * P, x->gA, fb * n, NULL) ||
                  comm_allgather(t->comm, x->c.P, fb * P, x->gP, fb * n, NULL) ||
                  comm_allgather(t->comm, S, sizeof(float) * P, x->gS, sizeof(float) * n, NULL) ||
                  comm_allgather(t->comm, x->c.ida, sizeof(int64_t) * P, x->gia, sizeof(int64_t) * n, NULL) ||
                  comm_allgather(t->comm, x->c.idp, sizeof(int64_t) * P, x->gip, sizeof(int64_t) * n, NULL);
        }
        if (bad) {
            snprintf(err, errlen, "contrastive loss of task '%s' (mini_batch): the embedding all-gather failed",
                     t->cfg->model.tasks[k].name);
            return -1;
        }
        A = x->gA, Pp = x->gP, S = x->gS, ia = x->gia, ip = x->gip;
        if (K) Nn = x->gN, in = x->gin;
    }
    CtrBatch cb = {.n = n, .k = K, .d = D, .anchors = A, .positives = Pp, .negatives = Nn, .scores = S,
                   .anchor_ids = ia, .positive_ids = ip, .negative_ids = in};
    CtrOptions o;
    task_ctr_options(ts, W, &o);
    char why[512];
    if (ctr_loss(&cb, &o, row0, P, res, x->c.dA, x->c.dP, K ? x->c.dN : NULL, why, sizeof why)) res->loss = NAN;
    return 0;
}

float embed_cached_step(Trainer *t, const Batch *b, int k, float scale, char *err, size_t errlen) {
    Model *m = &t->model;
    int P = b->sim_npairs[k], mini = t->cfg->task[k].ctr_mini_batch, D = model_embedding_dim(m), K = b->sim_nneg[k];
    size_t rows = ctr_block_rows(mini < P ? mini : P, K);
    Cached x;
    memset(&x, 0, sizeof x);
    x.emb = malloc(sizeof(float) * rows * D);
    x.block = malloc(sizeof(float) * rows * D);
    x.ids = malloc(sizeof(int64_t) * rows);
    if (!x.emb || !x.block || !x.ids || ctr_cache_init(&x.c, P, K, D, mini)) {
        snprintf(err, errlen, "contrastive loss (mini_batch): out of host memory");
        cached_free(&x);
        return NAN;
    }
    cached_embed(t, b, k, &x);
    CtrResult res;
    if (cached_loss(t, b, k, &x, &res, err, errlen)) {
        cached_free(&x);
        return NAN;
    }
    err[0] = 0;
    if (isfinite(res.loss)) /* a non-finite loss: no backward, the loop skips or stops the step */
        for (int i = 0; i < ctr_cache_chunks(&x.c); i++) {
            int ex0, cnt;
            Batch sb;
            ctr_cache_chunk(&x.c, i, &ex0, &cnt);
            chunk_batch(b, k, ex0, cnt, &x.buf, &sb);
            model_forward(m, &sb);
            ctr_cache_grad(&x.c, i, CTR_NEG_EXAMPLE_MAJOR, x.block);
            model_set_embedding_loss(m, k, (float)res.loss, 1, x.block, 0, sb.B);
            model_backward(m, &sb, scale);
        }
    model_set_embedding_loss(m, k, (float)res.loss, 1, NULL, 0, 0);
    cached_free(&x);
    return (float)res.loss;
}

int embed_cached_eval(Trainer *t, const Batch *b, int k, float *emb, double *top1) {
    Model *m = &t->model;
    int P = b->sim_npairs[k], mini = t->cfg->task[k].ctr_mini_batch, D = model_embedding_dim(m), K = b->sim_nneg[k];
    size_t rows = ctr_block_rows(mini < P ? mini : P, K);
    Cached x;
    memset(&x, 0, sizeof x);
    x.emb = malloc(sizeof(float) * rows * D);
    x.ids = malloc(sizeof(int64_t) * rows);
    if (!x.emb || !x.ids || ctr_cache_init(&x.c, P, K, D, mini)) {
        cached_free(&x);
        return -1;
    }
    cached_embed(t, b, k, &x);
    /* the whole batch's block [a (P); p (P)] for the caller's cosines */
    memcpy(emb, x.c.A, sizeof(float) * (size_t)P * D);
    memcpy(emb + (size_t)P * D, x.c.P, sizeof(float) * (size_t)P * D);
    const TaskSetup *ts = &t->cfg->task[k];
    CtrBatch cb = {.n = P, .k = K, .d = D, .anchors = x.c.A, .positives = x.c.P, .negatives = K ? x.c.N : NULL,
                   .scores = b->sim_scores[k], .anchor_ids = x.c.ida, .positive_ids = x.c.idp,
                   .negative_ids = K ? x.c.idn : NULL};
    CtrOptions o;
    ctr_options_default(&o, (CtrLoss)ts->ctr_loss);
    o.scale = ts->ctr_scale;
    o.symmetric = ts->ctr_symmetric;
    o.margin = ts->ctr_margin;
    CtrResult res;
    char why[512];
    if (ctr_loss(&cb, &o, 0, 0, &res, NULL, NULL, NULL, why, sizeof why)) res.loss = NAN, res.top1 = NAN;
    model_set_embedding_loss(m, k, (float)res.loss, 1, NULL, 0, 0);
    if (top1) top1[k] = res.top1;
    cached_free(&x);
    return 0;
}

/* ---- retrieval over an evaluation set ----------------------------------
 * Queries = the pairs' first sentences, corpus = their second sentences,
 * query i's relevant documents = every j whose second sentence is the same
 * text as i's (its own pair and duplicates); scores = cosines. */
int embed_retrieval(const float *A, const float *P, const int64_t *pid, int n, int d, RetrSummary *out) {
    RetrMetrics rm;
    if (n < 1 || retr_init_default(&rm)) return -1;
    float *an = malloc(sizeof(float) * (size_t)n * d), *pn = malloc(sizeof(float) * (size_t)n * d);
    int blk = 256;
    float *sc = malloc(sizeof(float) * (size_t)blk * n);
    int *rel = malloc(sizeof(int) * (size_t)n);
    int rc = an && pn && sc && rel ? 0 : -1;
    for (int i = 0; !rc && i < n; i++) { /* L2-normalised rows: dot = cosine (a zero row stays zero) */
        double sa = 0, sp = 0;
        for (int c = 0; c < d; c++) { sa += (double)A[(size_t)i * d + c] * A[(size_t)i * d + c]; sp += (double)P[(size_t)i * d + c] * P[(size_t)i * d + c]; }
        float ia = sa > 0 ? (float)(1.0 / sqrt(sa)) : 0.0f, ip = sp > 0 ? (float)(1.0 / sqrt(sp)) : 0.0f;
        for (int c = 0; c < d; c++) { an[(size_t)i * d + c] = A[(size_t)i * d + c] * ia; pn[(size_t)i * d + c] = P[(size_t)i * d + c] * ip; }
    }
    for (int q0 = 0; !rc && q0 < n; q0 += blk) {
        int nq = n - q0 < blk ? n - q0 : blk;
        /* sc (nq, n) = an[q0..] (nq, d) x pn^T (d, n) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nq, n, d, 1.0f, an + (size_t)q0 * d, d, pn, d, 0.0f, sc, n);
        for (int q = 0; !rc && q < nq; q++) {
            int nrel = 0;
            for (int j = 0; j < n; j++)
                if (pid[j] == pid[q0 + q]) rel[nrel++] = j;
            if (retr_add_query(&rm, sc + (size_t)q * n, n, rel, NULL, nrel)) rc = -1;
        }
    }
    if (!rc) retr_compute(&rm, out);
    retr_free(&rm);
    free(an); free(pn); free(sc); free(rel);
    return rc;
}
