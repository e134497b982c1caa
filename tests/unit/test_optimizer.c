/* test_optimizer.c — AdamW bookkeeping: a tensor's bias correction counts
 * its own updates (PyTorch's per-parameter `step`), so a head first used at
 * step 2 makes a full-size first move; heads of absent tasks do not move;
 * clipping scales by max/(norm + 1e-6) only when that is below 1. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "trainer/store/hf_config.h"
#include "trainer/train/optimizer.h"

int main(void) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    bert_config_defaults(&mc.bert);
    mc.bert.vocab_size = 10; mc.bert.hidden_size = 8; mc.bert.num_hidden_layers = 1;
    mc.bert.num_attention_heads = 2; mc.bert.intermediate_size = 8; mc.bert.max_position_embeddings = 8;
    mc.bert.hidden_dropout_prob = mc.bert.attention_probs_dropout_prob = 0;
    mc.ntasks = 2;
    for (int t = 0; t < 2; t++) {
        snprintf(mc.tasks[t].name, MAX_NAME, "t%d", t);
        mc.tasks[t].type = TASK_SENTENCE_CLS;
        mc.tasks[t].num_labels = 3;
        mc.tasks[t].loss_weight = 1;
    }
    char err[256];
    Model m;
    CHECK(model_create(&m, &mc, ops_cpu(), 2, 4, 1, 3, err, sizeof err) == 0);
    OptimConfig oc;
    optim_defaults(&oc);
    oc.lr = 1e-2f;
    oc.weight_decay = 0;
    oc.max_grad_norm = 0;
    Optimizer opt;
    CHECK(optimizer_create(&opt, &m, &oc) == 0);
    const ParamTensor *h1 = params_find(&m.table, "heads.t1.weight");
    size_t n = h1->numel;
    float *before = malloc(sizeof(float) * n);
    /* step 1: only task 0 is in the batch; the t1 head gets a fake gradient
     * anyway, which must be ignored */
    model_zero_grad(&m);
    for (size_t i = 0; i < m.table.total; i++) m.grads[i] = 0.5f;
    memcpy(before, m.params + h1->offset, sizeof(float) * n);
    int active1[2] = {1, 0};
    optimizer_step(&opt, &m, oc.lr, active1);
    CHECK(memcmp(before, m.params + h1->offset, sizeof(float) * n) == 0);
    CHECK(opt.tsteps[h1 - m.table.t] == 0);
    /* step 2: t1's first update; bias-corrected Adam moves each weight by
     * lr * g / (|g| + eps') = lr (up to eps) against the gradient's sign */
    int active2[2] = {1, 1};
    optimizer_step(&opt, &m, oc.lr, active2);
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((before[i] - m.params[h1->offset + i]) - oc.lr));
    CHECKF(worst < 1e-6, "first update of a late tensor is off by %g (a shared step count gives ~0.5 lr)", worst);
    CHECK(opt.tsteps[h1 - m.table.t] == 1 && opt.t == 2);
    /* clipping: norm reported before clipping; gradients scaled to max_norm */
    opt.cfg.max_grad_norm = 1.0f;
    for (size_t i = 0; i < m.table.total; i++) m.grads[i] = 2.0f;
    float norm = optimizer_step(&opt, &m, 0.0f, active2);
    /* every updated tensor's gradient was scaled by 1/(norm + 1e-6); the
     * unused pooler is neither counted nor scaled */
    const ParamTensor *pool = params_find(&m.table, "bert.pooler.dense.weight");
    CHECKF(fabsf(m.grads[h1->offset] - 2.0f / (norm + 1e-6f)) < 1e-6f, "clipped grad %g", m.grads[h1->offset]);
    CHECK(m.grads[pool->offset] == 2.0f);
    size_t counted = m.table.total - pool->numel - params_find(&m.table, "bert.pooler.dense.bias")->numel;
    CHECKF(fabs(norm - 2.0 * sqrt((double)counted)) < 1e-3 * norm, "pre-clip norm %g", norm);
    free(before);
    optimizer_free(&opt, &m);
    model_free(&m);
    return test_finish("test_optimizer");
}
