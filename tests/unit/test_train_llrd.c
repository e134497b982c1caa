/* test_train_llrd.c — layer-wise learning-rate decay and the no-decay set,
 * on a real Model and Optimizer (tiny shape, 3 layers):
 *   - optimizer_lr_scale of every tensor, decided from its NAME (so a tensor
 *     put in the wrong group fails): embeddings decay^(L+1), encoder layer i
 *     decay^(L-i), pooler and projection 1, heads head_lr / lr;
 *   - ParamTensor.no_decay exactly on biases and LayerNorm weights;
 *   - one optimizer_step really applies those rates: with equal gradients
 *     and no weight decay, AdamW's first step moves every entry by
 *     lr x scale (|m_hat / sqrt(v_hat)| = 1); with zero gradients and weight
 *     decay, exactly the decayed tensors shrink by lr x scale x wd. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "testutil.h"
#include "trainer/model/model.h"
#include "trainer/train/optimizer.h"

enum { L = 3 };

static ModelConfig tiny(void) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    BertConfig *b = &mc.bert;
    b->vocab_size = 30;
    b->hidden_size = 8;
    b->num_hidden_layers = L;
    b->num_attention_heads = 2;
    b->intermediate_size = 12;
    b->max_position_embeddings = 8;
    b->type_vocab_size = 2;
    b->layer_norm_eps = 1e-12f;
    b->initializer_range = 0.02f;
    b->hidden_act = GELU_ERF;
    mc.pooling = POOL_POOLER;   /* the pooler is used, so it is updated */
    mc.embedding_dim = 6;       /* with a projection */
    mc.ntasks = 2;
    snprintf(mc.tasks[0].name, MAX_NAME, "topic");
    mc.tasks[0].type = TASK_SENTENCE_CLS;
    mc.tasks[0].num_labels = 4;
    mc.tasks[0].loss_weight = 1;
    snprintf(mc.tasks[1].name, MAX_NAME, "ner");
    mc.tasks[1].type = TASK_TOKEN_CLS;
    mc.tasks[1].num_labels = 5;
    mc.tasks[1].loss_weight = 1;
    return mc;
}

static int starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }
static int ends(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The expected multiplier from the tensor's name alone; -1 if unknown. */
static double expected_scale(const char *name, double decay, double lr, double head_lr) {
    if (starts(name, "bert.embeddings.")) return pow(decay, L + 1);
    int layer;
    if (sscanf(name, "bert.encoder.layer.%d.", &layer) == 1) return pow(decay, L - layer);
    if (starts(name, "bert.pooler.") || starts(name, "projection.")) return 1.0;
    if (starts(name, "heads.")) return head_lr / lr;
    return -1;
}

static int expected_no_decay(const char *name) {
    return ends(name, ".bias") || strstr(name, "LayerNorm") != NULL;
}

int main(void) {
    const Ops *ops = ops_cpu();
    ops->set_threads(1);
    ModelConfig mc = tiny();
    Model m;
    char err[512];
    if (model_create(&m, &mc, ops, 2, 8, 1, 5, err, sizeof err)) {
        fprintf(stderr, "model_create: %s\n", err);
        return 1;
    }
    for (int l = 0; l < L; l++) m.train.layer[l] = 1;
    m.train.embeddings = m.train.pooler = m.train.projection = 1;
    for (int k = 0; k < mc.ntasks; k++) m.train.head[k] = 1;
    m.sentence_needed = 1;

    const float lr = 1e-3f, head_lr = 4e-3f, decay = 0.5f;
    OptimConfig oc;
    optim_defaults(&oc);
    oc.lr = lr;
    oc.layer_decay = decay;
    oc.head_lr = head_lr;
    oc.weight_decay = 0.0f;
    oc.head_weight_decay = -1.0f;
    oc.max_grad_norm = 0.0f;   /* no clipping: the step sizes are the rates */
    Optimizer opt;
    CHECK(optimizer_create(&opt, &m, &oc) == 0);

    /* 1. the multipliers and the no-decay flags, tensor by tensor */
    int seen_emb = 0, seen_layer[L] = {0}, seen_pooler = 0, seen_proj = 0, seen_head = 0, seen_ln = 0, nd = 0;
    for (int i = 0; i < m.table.n; i++) {
        const ParamTensor *t = &m.table.t[i];
        double want = expected_scale(t->name, decay, lr, head_lr);
        if (starts(t->name, "loss_weights.")) continue;   /* not a BERT part, nor a head */
        CHECKF(want > 0, "tensor %s: no expectation for this name", t->name);
        float got = optimizer_lr_scale(&opt, &m, i);
        CHECKF(fabs(got - want) <= 1e-6 * want, "%s: lr scale %.8g, expected %.8g", t->name, got, want);
        CHECKF(opt.lr_scale[i] == got, "%s: cached lr_scale %.8g != optimizer_lr_scale %.8g", t->name,
               opt.lr_scale[i], got);
        CHECKF(t->no_decay == expected_no_decay(t->name), "%s: no_decay %d", t->name, t->no_decay);
        int layer;
        if (starts(t->name, "bert.embeddings.")) seen_emb++;
        if (sscanf(t->name, "bert.encoder.layer.%d.", &layer) == 1 && layer >= 0 && layer < L) seen_layer[layer]++;
        if (starts(t->name, "bert.pooler.")) seen_pooler++;
        if (starts(t->name, "projection.")) seen_proj++;
        if (starts(t->name, "heads.")) seen_head++;
        if (strstr(t->name, "LayerNorm.weight")) seen_ln++;
        nd += t->no_decay;
    }
    /* the table has what the test expects to look at */
    CHECKF(seen_emb == 5, "embedding tensors: %d", seen_emb);   /* word, position, type, LN weight, LN bias */
    for (int l = 0; l < L; l++) CHECKF(seen_layer[l] >= 12, "layer %d tensors: %d", l, seen_layer[l]);
    CHECK(seen_pooler == 2 && seen_proj == 2 && seen_head == 4);
    CHECKF(seen_ln == 1 + 2 * L, "LayerNorm weights: %d", seen_ln);
    CHECK(nd > seen_ln && nd < m.table.n);
    /* spot checks by name, independent of the loop above */
    const char *spot[][2] = {{"bert.embeddings.word_embeddings.weight", "0.0625"},
                             {"bert.encoder.layer.0.attention.self.query.weight", "0.125"},
                             {"bert.encoder.layer.2.output.dense.weight", "0.5"},
                             {"bert.pooler.dense.weight", "1"},
                             {"projection.weight", "1"},
                             {"heads.ner.bias", "4"}};
    for (size_t s = 0; s < sizeof spot / sizeof spot[0]; s++) {
        const ParamTensor *t = params_find(&m.table, spot[s][0]);
        CHECKF(t != NULL, "no tensor %s", spot[s][0]);
        if (!t) continue;
        float got = optimizer_lr_scale(&opt, &m, (int)(t - m.table.t));
        CHECKF(fabsf(got - (float)atof(spot[s][1])) < 1e-6f, "%s: %.8g, expected %s", spot[s][0], got, spot[s][1]);
    }

    /* 2. the step applies the rates: equal gradients, no weight decay */
    size_t n = m.table.total;
    float *before = malloc(sizeof(float) * n), *after = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    for (size_t j = 0; j < n; j++) g[j] = (j % 2) ? 0.5f : -0.25f;
    ops->to_device(m.grads, g, sizeof(float) * n);
    ops->to_host(before, m.params, sizeof(float) * n);
    optimizer_step(&opt, &m, lr, NULL);
    ops->to_host(after, m.params, sizeof(float) * n);
    for (int i = 0; i < m.table.n; i++) {
        const ParamTensor *t = &m.table.t[i];
        if (starts(t->name, "loss_weights.")) continue;
        double step = (double)lr * opt.lr_scale[i], worst = 0;
        for (size_t j = t->offset; j < t->offset + t->numel; j++) {
            double want = before[j] - step * (g[j] > 0 ? 1 : -1);
            double e = fabs(after[j] - want) / step;
            if (e > worst) worst = e;
        }
        CHECKF(worst < 1e-2, "%s: first AdamW step is off lr x scale by %.3g of a step", t->name, worst);
    }

    /* 3. weight decay only where no_decay is 0 (zero gradients: decay alone moves) */
    optimizer_free(&opt, &m);
    oc.weight_decay = 0.1f;
    CHECK(optimizer_create(&opt, &m, &oc) == 0);
    model_zero_grad(&m);
    for (size_t j = 0; j < n; j++) before[j] = 1.0f + (float)(j % 7) * 0.25f;   /* nonzero everywhere */
    ops->to_device(m.params, before, sizeof(float) * n);
    optimizer_step(&opt, &m, lr, NULL);
    ops->to_host(after, m.params, sizeof(float) * n);
    for (int i = 0; i < m.table.n; i++) {
        const ParamTensor *t = &m.table.t[i];
        if (starts(t->name, "loss_weights.")) continue;
        double f = 1.0 - (double)lr * opt.lr_scale[i] * 0.1;
        int wrong = 0;
        for (size_t j = t->offset; j < t->offset + t->numel; j++) {
            double want = t->no_decay ? before[j] : before[j] * f;
            if (fabs(after[j] - want) > 1e-6 * fabs(before[j]) + 1e-9) wrong++;
        }
        CHECKF(!wrong, "%s (no_decay %d): %d entries not %s", t->name, t->no_decay, wrong,
               t->no_decay ? "left alone" : "decayed by lr x scale x wd");
    }

    free(before);
    free(after);
    free(g);
    optimizer_free(&opt, &m);
    model_free(&m);
    return test_finish("test_train_llrd");
}
