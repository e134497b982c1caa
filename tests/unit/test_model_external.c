/* test_model_external.c — model_set_embedding_loss, the model's entry
 * point for a loss computed outside it on the final embeddings (contrastive
 * tasks): the parameter gradient of
 *     L = model_forward's total (a sentence task in the same batch)
 *         + loss_weight x MNRL(final embeddings of the pair rows)
 * with MNRL from contrastive.h on the host, handed back through
 * model_set_embedding_loss and model_backward (scale 0.5, as under
 * gradient accumulation), against central finite differences of L, with
 * dropout on (counter-based masks: forward is a function of the weights),
 * for mean pooling and for CLS pooling + projection + normalisation. Also:
 * the entry point refuses a task without an external loss and rows outside
 * the batch, and a forward clears what the last one was given. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fd_check.h"
#include "testutil.h"
#include "trainer/model/contrastive.h"
#include "trainer/model/model.h"

enum { NP = 3, B = 2 * NP, T = 6 };
static int ids[B * T], types[B * T], mask[B * T], ysent[B];
static float scores[NP] = {0.9f, 0.1f, 0.5f};

static ModelConfig tiny(int pooling, int proj, int normalize) {
    ModelConfig mc = test_tiny_model(pooling, proj, normalize);
    test_task(&mc, "topic", TASK_SENTENCE_CLS, 3, 1.0f, 0.2f);
    test_task(&mc, "pairs", TASK_CONTRASTIVE, 1, 0.7f, 0.0f);
    return mc;
}

static void make_batch(Batch *b) {
    uint64_t s = 7;
    int lens[B] = {6, 4, 3, 5, 6, 2};
    for (int i = 0; i < B; i++)
        for (int j = 0; j < T; j++) {
            int k = i * T + j, real = j < lens[i];
            ids[k] = real ? 1 + (int)(test_rand_u64(&s) % 39) : 0;
            types[k] = 0;
            mask[k] = real;
        }
    for (int i = 0; i < B; i++) ysent[i] = i < NP ? i % 3 : -100; /* the classifier labels the first sentences */
    memset(b, 0, sizeof *b);
    b->B = B; b->T = T;
    b->input_ids = ids; b->type_ids = types; b->mask = mask;
    b->labels[0] = ysent;
    b->sim_row0[1] = 0; b->sim_npairs[1] = NP; b->sim_scores[1] = scores;
}

/* MNRL (scale 5, symmetric) of the pair rows; grad (B, D) when not NULL. */
static double external(Model *m, float *grad) {
    int D = model_embedding_dim(m);
    float *e = malloc(sizeof(float) * B * D);
    model_get_embeddings(m, e);
    CtrOptions o;
    ctr_options_default(&o, CTR_MNRL);
    o.scale = 5.0f;
    o.symmetric = 1;
    CtrBatch cb = {.n = NP, .k = 0, .d = D, .anchors = e, .positives = e + (size_t)NP * D, .scores = scores};
    CtrResult res;
    char err[256];
    int rc = ctr_loss(&cb, &o, 0, NP, &res, grad, grad ? grad + (size_t)NP * D : NULL, NULL, err, sizeof err);
    CHECKF(rc == 0, "ctr_loss: %s", err);
    free(e);
    return res.loss;
}

static double total_loss(Model *m, const Batch *b) {
    double l = model_forward(m, b);
    return l + m->task_weight[1] * external(m, NULL);
}

static double total_loss_fd(Model *m, const void *b) { return total_loss(m, b); }

static int gradcheck(Model *m, const Batch *b, const char *what) {
    const float scale = 0.5f;
    int D = model_embedding_dim(m);
    float *ge = malloc(sizeof(float) * B * D);
    model_zero_grad(m);
    model_forward(m, b);
    double lext = external(m, ge);
    CHECK(model_set_embedding_loss(m, 1, (float)lext, 1, ge, 0, B) == 0);
    CHECK(m->task_count[1] == 1 && fabsf(m->task_loss[1] - (float)lext) < 1e-6f);
    model_backward(m, b, scale);
    float *g = malloc(sizeof(float) * m->table.total);
    memcpy(g, m->grads, sizeof(float) * m->table.total);
    int checked;
    /* the classifier's own head is test_model_grad's */
    FdCheck c = {.scale = scale, .skip_prefix = "heads.", .what = what};
    int bad = fd_check(m, g, total_loss_fd, b, &c, &checked);
    CHECKF(checked > 30, "%s: only %d entries checked", what, checked);
    free(g);
    free(ge);
    return bad;
}

int main(void) {
    Batch b;
    make_batch(&b);
    char err[256];
    struct { int pool, proj, norm; const char *name; } v[] = {{POOL_MEAN, 0, 0, "mean"},
                                                              {POOL_CLS, 12, 1, "cls+proj+norm"}};
    for (int i = 0; i < 2; i++) {
        ModelConfig mc = tiny(v[i].pool, v[i].proj, v[i].norm);
        Model m;
        if (model_create(&m, &mc, ops_cpu(), B, T, 1, 4242 + i, err, sizeof err)) {
            CHECKF(0, "%s", err);
            continue;
        }
        m.dropout_key = 91;
        int bad = gradcheck(&m, &b, v[i].name);
        CHECKF(bad == 0, "%s: %d gradient entries disagree with finite differences", v[i].name, bad);

        /* the entry point's refusals, and a forward forgets the last external loss */
        float g[B * 16] = {0};
        CHECK(model_set_embedding_loss(&m, 0, 1.0f, 1, g, 0, B) == -1); /* a classifier has no external loss */
        CHECK(model_set_embedding_loss(&m, 1, 1.0f, 1, g, 1, B) == -1); /* rows past the batch */
        CHECK(model_set_embedding_loss(&m, 5, 1.0f, 1, g, 0, B) == -1); /* no such task */
        model_forward(&m, &b);
        CHECK(m.task_count[1] == 0 && m.ext_rows[1] == 0);
        model_free(&m);
    }
    return test_finish("test_model_external");
}
