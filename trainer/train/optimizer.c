#include "trainer/train/optimizer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void optim_defaults(OptimConfig *c) {
    c->lr = 5e-5f;
    c->weight_decay = 0.01f;
    c->beta1 = 0.9f;
    c->beta2 = 0.999f;
    c->eps = 1e-8f;
    c->max_grad_norm = 1.0f;
    c->layer_decay = 1.0f;
    c->head_lr = 0.0f;
    c->head_weight_decay = -1.0f;
    for (int t = 0; t < MAX_TASKS; t++) c->head_lr_mult[t] = 1.0f;
}

int optimizer_create(Optimizer *opt, const Model *model, const OptimConfig *cfg) {
    memset(opt, 0, sizeof *opt);
    opt->cfg = *cfg;
    size_t bytes = sizeof(float) * model->table.total;
    opt->m = model->ops->alloc(bytes);
    opt->v = model->ops->alloc(bytes);
    opt->lr_scale = malloc(sizeof(float) * model->table.n);
    opt->spans = malloc(sizeof(AdamSpan) * model->table.n);
    opt->tsteps = calloc(model->table.n ? model->table.n : 1, sizeof(int));
    if (!opt->m || !opt->v || !opt->lr_scale || !opt->spans || !opt->tsteps) {
        optimizer_free(opt, model);
        return -1;
    }
    for (int i = 0; i < model->table.n; i++) opt->lr_scale[i] = optimizer_lr_scale(opt, model, i);
    return 0;
}

void optimizer_free(Optimizer *opt, const Model *model) {
    if (model && model->ops) {
        model->ops->free(opt->m);
        model->ops->free(opt->v);
    }
    free(opt->lr_scale);
    free(opt->spans);
    free(opt->tsteps);
    memset(opt, 0, sizeof *opt);
}

float optimizer_lr_scale(const Optimizer *opt, const Model *model, int i) {
    const ParamTensor *t = &model->table.t[i];
    const OptimConfig *c = &opt->cfg;
    int L = model->cfg.bert.num_hidden_layers;
    switch (t->group) {
    case GROUP_EMBEDDINGS: return powf(c->layer_decay, (float)(L + 1));
    case GROUP_LAYER: return powf(c->layer_decay, (float)(L - t->index));
    case GROUP_HEAD: {
        float mult = t->index >= 0 && t->index < MAX_TASKS && c->head_lr_mult[t->index] > 0 ? c->head_lr_mult[t->index] : 1.0f;
        return (c->head_lr > 0 && c->lr > 0 ? c->head_lr / c->lr : 1.0f) * mult;
    }
    default: return 1.0f;
    }
}

/* Is tensor t updated this step? Frozen parts never; the pooler and the
 * projection only when the loss uses them; a head only when its task is in
 * the step. */
static int tensor_active(const Model *m, const ParamTensor *t, const int *task_active) {
    switch (t->group) {
    case GROUP_EMBEDDINGS: return m->train.embeddings;
    case GROUP_LAYER: return m->train.layer[t->index];
    case GROUP_POOLER: return m->train.pooler && m->sentence_needed && m->cfg.pooling == POOL_POOLER;
    case GROUP_PROJECTION: return m->train.projection && m->sentence_needed;
    case GROUP_HEAD: return m->train.head[t->index] && (!task_active || task_active[t->index]);
    case GROUP_LOSS_WEIGHTS: return m->train.projection; /* off only when everything is frozen */
    }
    return 0;
}

float optimizer_step(Optimizer *opt, Model *model, float lr, const int *task_active) {
    const Ops *o = model->ops;
    const OptimConfig *c = &opt->cfg;
    int n = 0, nt = model->table.n;
    int *owner = opt->tsteps ? malloc(sizeof(int) * (nt ? nt : 1)) : NULL; /* span -> a tensor of it */
    for (int i = 0; i < nt; i++) {
        const ParamTensor *t = &model->table.t[i];
        if (!tensor_active(model, t, task_active)) continue;
        float wd = c->weight_decay;
        if (t->group == GROUP_HEAD && c->head_weight_decay >= 0) wd = c->head_weight_decay;
        AdamSpan s = {t->offset, t->numel, lr * opt->lr_scale[i], t->no_decay ? 0.0f : wd};
        opt->tsteps[i]++;
        /* merge with the previous span when adjacent and alike: fewer passes */
        if (n && opt->spans[n - 1].offset + opt->spans[n - 1].count == s.offset &&
            opt->spans[n - 1].lr == s.lr && opt->spans[n - 1].weight_decay == s.weight_decay &&
            opt->tsteps[owner[n - 1]] == opt->tsteps[i])
            opt->spans[n - 1].count += s.count;
        else {
            owner[n] = i;
            opt->spans[n++] = s;
        }
    }
    double sq = o->sumsq(model->grads, opt->spans, n);
    float norm = (float)sqrt(sq);
    /* torch.nn.utils.clip_grad_norm_: coef = max / (norm + 1e-6), applied when < 1 */
    float coef = c->max_grad_norm > 0 ? c->max_grad_norm / (norm + 1e-6f) : 1.0f;
    if (coef < 1.0f) {
        for (int i = 0; i < n; i++) o->scale(model->grads + opt->spans[i].offset, coef, opt->spans[i].count);
    }
    opt->t++;
    /* one AdamW pass per distinct step count (usually one: all tensors move
     * together; heads of rarely sampled tasks and late-unfrozen parts lag) */
    size_t ncap = n > 0 ? (size_t)n : 1;
    AdamSpan *group = malloc(sizeof(AdamSpan) * ncap);
    int *done = calloc(ncap, sizeof(int));
    for (int a = 0; a < n; a++) {
        if (done[a]) continue;
        int t = opt->tsteps[owner[a]], g = 0;
        for (int b = a; b < n; b++)
            if (!done[b] && opt->tsteps[owner[b]] == t) {
                group[g++] = opt->spans[b];
                done[b] = 1;
            }
        o->adamw_update(model->params, model->grads, opt->m, opt->v, group, g, c->beta1, c->beta2, c->eps, t);
    }
    free(group);
    free(done);
    free(owner);
    return norm;
}
