/* test_model_grad.c — the whole model's backward against central finite
 * differences of its own forward, with dropout ON (the masks are
 * counter-based, so forward is a deterministic function of the weights),
 * for every pooling mode, projection + normalisation, a similarity task and
 * a token task, the cross-encoder heads (classes, and one BCE logit); and freezing: frozen parts get exactly zero gradient. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fd_check.h"
#include "testutil.h"
#include "trainer/model/model.h"

static ModelConfig tiny(int pooling, int proj, int normalize) {
    ModelConfig mc = test_tiny_model(pooling, proj, normalize);
    test_task(&mc, "topic", TASK_SENTENCE_CLS, 3, 1.0f, 0.2f);
    test_task(&mc, "ner", TASK_TOKEN_CLS, 4, 0.7f, 0.1f);
    test_task(&mc, "sts", TASK_SIMILARITY, 1, 1.5f, 0.0f);
    return mc;
}

enum { B = 4, T = 7 };
static int ids[B * T], types[B * T], mask[B * T], ysent[B], ytok[B * T];
static float scores[1] = {0.3f};

static void make_batch(Batch *b) {
    uint64_t s = 99;
    int lens[B] = {7, 5, 3, 6};
    for (int i = 0; i < B; i++)
        for (int j = 0; j < T; j++) {
            int k = i * T + j, real = j < lens[i];
            ids[k] = real ? 1 + (int)(test_rand_u64(&s) % 39) : 0;
            types[k] = real && j >= lens[i] / 2;
            mask[k] = real;
            ytok[k] = real && j > 0 ? (int)(test_rand_u64(&s) % 4) : -100;
        }
    ysent[0] = 2; ysent[1] = -100; ysent[2] = 0; ysent[3] = 1;
    memset(b, 0, sizeof *b);
    b->B = B; b->T = T;
    b->input_ids = ids; b->type_ids = types; b->mask = mask;
    b->labels[0] = ysent; b->labels[1] = ytok;
    /* rows 2 and 3 form one similarity pair (they also carry other labels) */
    b->sim_row0[2] = 2; b->sim_npairs[2] = 1; b->sim_scores[2] = scores;
}

static double forward_loss(Model *m, const void *b) { return model_forward(m, b); }

/* Central differences for a sample of parameters; returns bad count. */
static int gradcheck(Model *m, const Batch *b, const char *what) {
    model_zero_grad(m);
    model_forward(m, b);
    model_backward(m, b, 1.0f);
    float *g = malloc(sizeof(float) * m->table.total);
    memcpy(g, m->grads, sizeof(float) * m->table.total);
    int checked;
    int bad = fd_check(m, g, forward_loss, b, &(FdCheck){.scale = 1.0, .what = what}, &checked);
    CHECKF(checked > 40, "%s: only %d entries checked", what, checked);
    free(g);
    return bad;
}

int main(void) {
    Batch b;
    make_batch(&b);
    char err[256];
    const char *names[] = {"mean", "cls", "max", "pooler"};
    for (int pool = 0; pool < 4; pool++)
        for (int variant = 0; variant < 2; variant++) {
            ModelConfig mc = tiny(pool, variant ? 12 : 0, variant);
            Model m;
            if (model_create(&m, &mc, ops_cpu(), B, T, 1, 1234 + pool, err, sizeof err)) {
                CHECKF(0, "%s", err);
                continue;
            }
            m.dropout_key = 77;
            char what[64];
            snprintf(what, sizeof what, "%s%s", names[pool], variant ? "+proj+norm" : "");
            int bad = gradcheck(&m, &b, what);
            CHECKF(bad == 0, "%s: %d gradient entries disagree with finite differences", what, bad);
            model_free(&m);
        }

    /* learned task weights (uncertainty weighting): the log-variances get
     * gradients that agree with finite differences too */
    {
        ModelConfig mc = tiny(POOL_MEAN, 0, 0);
        mc.uncertainty_weighting = 1;
        Model m;
        CHECK(model_create(&m, &mc, ops_cpu(), B, T, 1, 4321, err, sizeof err) == 0);
        float *lv = model_param(&m, "loss_weights.log_var");
        CHECK(lv != NULL);
        if (lv) { lv[0] = 0.3f; lv[1] = -0.2f; lv[2] = 0.1f; }
        m.dropout_key = 5;
        int bad = gradcheck(&m, &b, "uncertainty");
        CHECKF(bad == 0, "uncertainty weighting: %d gradient entries disagree", bad);
        model_zero_grad(&m);
        model_forward(&m, &b);
        model_backward(&m, &b, 1.0f);
        const ParamTensor *pt = params_find(&m.table, "loss_weights.log_var");
        for (int t = 0; pt && t < 3; t++) CHECKF(m.grads[pt->offset + t] != 0.0f, "log_var[%d] has no gradient", t);
        model_free(&m);
    }

    /* a cross-encoder regression head (one logit, BCE-with-logits against
     * row scores; NaN = unlabelled) beside a cross_encoder classifier: the
     * gradients agree with finite differences, and the task's loss is the
     * mean of log(1 + e^z) - z y over the labelled rows, recomputed here
     * from the logits */
    for (int pool = 0; pool < 4; pool += 3) {
        ModelConfig mc = test_tiny_model(pool, 0, 0);
        test_task(&mc, "nli", TASK_CROSS_ENCODER, 3, 1.0f, 0.2f);
        test_task(&mc, "rerank", TASK_CROSS_ENCODER_REGRESSION, 1, 0.8f, 0.1f);
        Model m;
        CHECK(model_create(&m, &mc, ops_cpu(), B, T, 1, 2468 + pool, err, sizeof err) == 0);
        m.dropout_key = 11;
        float y[B] = {0.2f, NAN, 0.9f, 0.5f};
        Batch bc = b;
        memset(bc.labels, 0, sizeof bc.labels);
        memset(bc.sim_npairs, 0, sizeof bc.sim_npairs);
        bc.labels[0] = ysent;
        bc.row_scores[1] = y;
        int bad = gradcheck(&m, &bc, pool ? "cross-encoder (pooler)" : "cross-encoder (mean)");
        CHECKF(bad == 0, "cross-encoder heads: %d gradient entries disagree", bad);
        m.training = 0;
        model_forward(&m, &bc);
        float z[B];
        model_get_logits(&m, 1, z);
        double want = 0;
        for (int i = 0; i < B; i++)
            if (i != 1) want += log(1.0 + exp((double)z[i])) - (double)z[i] * y[i];
        want /= 3;
        CHECKF(m.task_count[1] == 3, "score head counted %d rows, want 3 (one NaN)", m.task_count[1]);
        CHECKF(fabs(m.task_loss[1] - want) < 1e-5, "score head loss %.7f, want %.7f", m.task_loss[1], want);
        model_free(&m);
    }

    /* freezing: embeddings and layer 0 frozen -> exactly zero gradients
     * there, and nothing else changes */
    ModelConfig mc = tiny(POOL_MEAN, 0, 0);
    Model full, frozen;
    model_create(&full, &mc, ops_cpu(), B, T, 1, 5, err, sizeof err);
    model_create(&frozen, &mc, ops_cpu(), B, T, 1, 5, err, sizeof err);
    full.dropout_key = frozen.dropout_key = 3;
    frozen.train.embeddings = 0;
    frozen.train.layer[0] = 0;
    frozen.train.head[0] = 0;
    model_zero_grad(&full);
    model_forward(&full, &b);
    model_backward(&full, &b, 1.0f);
    model_zero_grad(&frozen);
    model_forward(&frozen, &b);
    model_backward(&frozen, &b, 1.0f);
    for (int i = 0; i < full.table.n; i++) {
        const ParamTensor *pt = &full.table.t[i];
        int is_frozen = pt->group == GROUP_EMBEDDINGS || (pt->group == GROUP_LAYER && pt->index == 0) ||
                        (pt->group == GROUP_HEAD && pt->index == 0);
        int same = 1, zero = 1;
        for (size_t k = pt->offset; k < pt->offset + pt->numel; k++) {
            zero &= frozen.grads[k] == 0.0f;
            same &= frozen.grads[k] == full.grads[k];
        }
        if (is_frozen) CHECKF(zero, "frozen %s has a gradient", pt->name);
        else CHECKF(same, "trainable %s: gradient changed by freezing other parts", pt->name);
    }
    model_free(&full);
    model_free(&frozen);

    /* gradient checkpointing: recomputing each layer in backward gives the
     * very same loss and gradients (bit for bit), with dropout on, three
     * layers (top, middle, bottom), for every pooling, with and without
     * the lower layers frozen, and over two accumulated micro-batches */
    for (int pool = 0; pool < 4; pool++)
        for (int freeze = 0; freeze < 2; freeze++) {
            ModelConfig plain = tiny(pool, pool == POOL_MAX ? 12 : 0, pool == POOL_MAX);
            plain.bert.num_hidden_layers = 3;
            ModelConfig ck = plain;
            ck.grad_checkpoint = 1;
            Model a, c;
            CHECK(model_create(&a, &plain, ops_cpu(), B, T, 1, 11 + pool, err, sizeof err) == 0);
            CHECK(model_create(&c, &ck, ops_cpu(), B, T, 1, 11 + pool, err, sizeof err) == 0);
            CHECK(c.checkpointing && !a.checkpointing);
            if (freeze) a.train.embeddings = c.train.embeddings = a.train.layer[0] = c.train.layer[0] = 0;
            model_zero_grad(&a);
            model_zero_grad(&c);
            int same_loss = 1;
            for (int micro = 0; micro < 2; micro++) {
                a.dropout_key = c.dropout_key = 40 + (uint64_t)micro;
                float la = model_forward(&a, &b), lc = model_forward(&c, &b);
                same_loss &= la == lc;
                model_backward(&a, &b, 0.5f);
                model_backward(&c, &b, 0.5f);
            }
            size_t n = a.table.total, differ = 0;
            for (size_t k = 0; k < n; k++) differ += a.grads[k] != c.grads[k];
            CHECKF(same_loss, "checkpointing (%s, freeze %d) changed the loss", names[pool], freeze);
            CHECKF(differ == 0, "checkpointing (%s, freeze %d): %zu of %zu gradient entries differ", names[pool],
                   freeze, differ, n);
            model_free(&a);
            model_free(&c);
        }
    return test_finish("test_model_grad");
}
