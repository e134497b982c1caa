/* optimizer.h — AdamW over the flat parameter buffer, with per-tensor
 * learning rates (layer-wise decay, separate head rate), no decay on biases
 * and LayerNorm weights, global-norm clipping, and frozen parts skipped. */
#ifndef MTBERT_OPTIMIZER_H
#define MTBERT_OPTIMIZER_H

#include "trainer/model/model.h"

typedef struct {
    float lr;                 /* base learning rate */
    float weight_decay;
    float beta1, beta2, eps;
    float max_grad_norm;      /* <= 0: no clipping */
    float layer_decay;        /* 1 = off; lr x decay^(depth from the top) */
    float head_lr;            /* <= 0: same as lr */
    float head_weight_decay;  /* < 0: same as weight_decay */
    float head_lr_mult[MAX_TASKS]; /* tasks[].lr_multiplier: task t's head lr x this; <= 0: 1 */
} OptimConfig;

typedef struct {
    OptimConfig cfg;
    float *m, *v;             /* backend memory, table.total floats each */
    int t;                    /* steps taken */
    int *tsteps;              /* per tensor: updates it has had (PyTorch's per-parameter
                                 `step`, which drives the bias correction) */
    float *lr_scale;          /* per tensor: multiplier of the scheduled lr */
    AdamSpan *spans;          /* scratch, one per tensor */
} Optimizer;

void optim_defaults(OptimConfig *c);
int optimizer_create(Optimizer *opt, const Model *model, const OptimConfig *cfg);
void optimizer_free(Optimizer *opt, const Model *model);

/* Learning rate multiplier of tensor i relative to the base lr: layer-wise
 * decay for BERT parts (top layer decay^1 ... embeddings decay^(L+1)), 1 for
 * pooler, projection and heads (then head_lr/lr x the task's multiplier). */
float optimizer_lr_scale(const Optimizer *opt, const Model *model, int i);

/* One step with learning rate `lr` (the schedule's value for this step):
 * clip the global gradient norm, then AdamW on every trainable tensor that
 * is used by this step's losses (`task_active[t]` false: that task's head is
 * left alone, as PyTorch skips parameters without gradients; NULL: all).
 * Returns the global gradient norm before clipping. */
float optimizer_step(Optimizer *opt, Model *model, float lr, const int *task_active);

#endif
