/* embed_loss.c — the losses computed outside the model (task kinds with
 * external_loss: contrastive), between model_forward and model_backward.
 *
 * For each such task with pairs in the batch (rows [r0, r0 + P) anchors =
 * first sentences, [r0 + P, r0 + 2P) positives = second sentences, as
 * batch_convert lays out every pair task):
 *   1. the final embeddings come down to the host, (2P, D) = one block
 *      [a (P); p (P)] of contrastive.h's layout (k = 0);
 *   2. training with several ranks: every rank's block, the pairs' scores
 *      and the rows' text ids are all-gathered in rank order and split
 *      (ctr_blocks_split: the gathered buffer is [a_0 p_0 | a_1 p_1 | ...],
 *      not [a_0 a_1 | p_0 p_1]) into the global anchors and positives;
 *   3. ctr_loss on the global batch, for this rank's examples [row0, row0 +
 *      P), grad_scale = world (the loop averages gradients over ranks, and
 *      the owned slices of the global gradient must add up);
 *   4. the gradient, joined back into the block layout, goes to the model
 *      (model_set_embedding_loss, one item: the loss is already the mean).
 * Text ids: a hash of each row's token ids, so that duplicate texts in a
 * batch are masked as negatives (contrastive.h). */
#include "trainer/train/train_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/model/contrastive.h"
#include "trainer/model/task_kind.h"

/* FNV-1a over the row's real tokens: equal texts, equal ids. */
static int64_t row_text_id(const Batch *b, int r) {
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
    float *emb, *gemb, *A, *P, *dA, *dP, *gblock, *gscores;
    int64_t *ids, *gids, *ida, *idp;
} Scratch;

static void scratch_free(Scratch *s) {
    free(s->emb); free(s->gemb); free(s->A); free(s->P); free(s->dA); free(s->dP); free(s->gblock);
    free(s->gscores); free(s->ids); free(s->gids); free(s->ida); free(s->idp);
}

/* One task: 0, or -1 with err (a collective failed or no memory: the
 * caller ends the job). A non-finite loss is not an error: it is recorded
 * as NaN without a gradient, and the loop skips or stops the step. */
static int task_loss(Trainer *t, const Batch *b, int k, int gather, Scratch *s, double *top1, char *err, size_t errlen) {
    Model *m = &t->model;
    const TaskSetup *ts = &t->cfg->task[k];
    int D = model_embedding_dim(m), P = b->sim_npairs[k], r0 = b->sim_row0[k];
    int W = gather ? t->comm->world : 1, rank = gather ? t->comm->rank : 0;
    size_t rowb = sizeof(float) * (size_t)D, cap = (size_t)W * m->maxB;
    const float *block = s->emb + (size_t)r0 * D;
    for (int r = 0; r < 2 * P; r++) s->ids[r] = row_text_id(b, r0 + r);
    const float *A = block, *Pp = block + (size_t)P * D, *scores = b->sim_scores[k];
    const int64_t *ida = s->ids, *idp = s->ids + P;
    int n = P, row0 = 0;
    if (W > 1) {
        size_t counts[1024];
        int ex[1024];
        if (W > 1024) { snprintf(err, errlen, "contrastive loss: at most 1024 ranks"); return -1; }
        if (comm_allgather(t->comm, block, 2 * (size_t)P * rowb, s->gemb, cap * rowb, counts) ||
            comm_allgather(t->comm, scores, sizeof(float) * (size_t)P, s->gscores, sizeof(float) * cap, NULL) ||
            comm_allgather(t->comm, s->ids, sizeof(int64_t) * 2 * (size_t)P, s->gids, sizeof(int64_t) * cap, NULL)) {
            snprintf(err, errlen, "contrastive loss of task '%s': the embedding all-gather failed", m->cfg.tasks[k].name);
            return -1;
        }
        n = 0;
        for (int r = 0; r < W; r++) {
            ex[r] = (int)(counts[r] / (2 * rowb));
            if (r < rank) row0 += ex[r];
            n += ex[r];
        }
        ctr_blocks_split(s->gemb, ex, W, 0, rowb, CTR_NEG_EXAMPLE_MAJOR, s->A, s->P, NULL);
        ctr_blocks_split(s->gids, ex, W, 0, sizeof(int64_t), CTR_NEG_EXAMPLE_MAJOR, s->ida, s->idp, NULL);
        A = s->A, Pp = s->P, scores = s->gscores, ida = s->ida, idp = s->idp;
    }
    CtrBatch cb = {.n = n, .k = 0, .d = D, .anchors = A, .positives = Pp, .scores = scores,
                   .anchor_ids = ida, .positive_ids = idp};
    CtrOptions o;
    ctr_options_default(&o, (CtrLoss)ts->ctr_loss);
    o.scale = ts->ctr_scale;
    o.symmetric = ts->ctr_symmetric;
    o.grad_scale = (float)W;
    CtrResult res;
    int with_grad = m->grads && m->ext_grad[k];
    char why[512];
    if (ctr_loss(&cb, &o, row0, P, &res, with_grad ? s->dA : NULL, with_grad ? s->dP : NULL, NULL, why, sizeof why)) {
        model_set_embedding_loss(m, k, NAN, 1, NULL, r0, 2 * P); /* non-finite embeddings: the step is not good */
        return 0;
    }
    if (with_grad) ctr_block_join(s->dA, s->dP, NULL, 0, P, 0, rowb, CTR_NEG_EXAMPLE_MAJOR, s->gblock);
    model_set_embedding_loss(m, k, (float)res.loss, 1, with_grad ? s->gblock : NULL, r0, 2 * P);
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
    s.dA = malloc(sizeof(float) * B * D);
    s.dP = malloc(sizeof(float) * B * D);
    s.gblock = malloc(sizeof(float) * B * D);
    s.gscores = malloc(sizeof(float) * cap);
    s.ids = malloc(sizeof(int64_t) * B);
    s.gids = malloc(sizeof(int64_t) * cap);
    s.ida = malloc(sizeof(int64_t) * cap);
    s.idp = malloc(sizeof(int64_t) * cap);
    int rc = 0;
    if (!s.emb || !s.gemb || !s.A || !s.P || !s.dA || !s.dP || !s.gblock || !s.gscores || !s.ids || !s.gids ||
        !s.ida || !s.idp) {
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
