/* test_model_alloc.c — model_alloc_bytes (the size the trainer checks
 * against free memory before it allocates) equals what model_create really
 * allocates: the CPU op table with its alloc wrapped by a counter, for
 * several shapes (with and without gradients, token and similarity tasks,
 * head dropout, a projection), plus the host scratch (max(N, B x D) floats,
 * allocated with malloc). And it grows with the batch as it should. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "trainer/model/model.h"

static const Ops *real;
static size_t counted;
static void *count_alloc(size_t bytes) {
    counted += bytes;
    return real->alloc(bytes);
}

static ModelConfig shape(int C, int L, int I, int proj, int with_token, float head_dropout) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    BertConfig *b = &mc.bert;
    b->vocab_size = 50;
    b->hidden_size = C;
    b->num_hidden_layers = L;
    b->num_attention_heads = 2;
    b->intermediate_size = I;
    b->max_position_embeddings = 32;
    b->type_vocab_size = 2;
    b->layer_norm_eps = 1e-5f;
    b->initializer_range = 0.02f;
    b->hidden_act = GELU_ERF;
    mc.embedding_dim = proj;
    mc.ntasks = 2;
    snprintf(mc.tasks[0].name, MAX_NAME, "topic");
    mc.tasks[0].type = TASK_SENTENCE_CLS;
    mc.tasks[0].num_labels = 5;
    mc.tasks[0].loss_weight = 1;
    mc.tasks[0].dropout = head_dropout;
    snprintf(mc.tasks[1].name, MAX_NAME, with_token ? "ner" : "sts");
    mc.tasks[1].type = with_token ? TASK_TOKEN_CLS : TASK_SIMILARITY;
    mc.tasks[1].num_labels = with_token ? 9 : 1;
    mc.tasks[1].loss_weight = 1;
    return mc;
}

static void one(const char *what, ModelConfig mc, int B, int T, int grads) {
    Ops o = *real;
    o.alloc = count_alloc;
    counted = 0;
    Model m;
    char err[512];
    int rc = model_create(&m, &mc, &o, B, T, grads, MODEL_INIT_NONE, err, sizeof err);
    CHECKF(rc == 0, "%s: model_create: %s", what, err);
    if (rc) return;
    size_t D = mc.embedding_dim > 0 ? (size_t)mc.embedding_dim : (size_t)mc.bert.hidden_size;
    size_t N = (size_t)B * T, host = 4 * (N > B * D ? N : B * D);
    size_t est = model_alloc_bytes(&mc, real, B, T, grads);
    CHECKF(est == counted + host, "%s: model_alloc_bytes %zu, model_create allocated %zu + host scratch %zu", what,
           est, counted, host);
    model_free(&m);
}

int main(void) {
    real = ops_cpu();
    one("sentence+token, grads", shape(16, 2, 32, 0, 1, 0.1f), 4, 8, 1);
    one("sentence+token, no grads", shape(16, 2, 32, 0, 1, 0.1f), 4, 8, 0);
    one("sentence+similarity, projection 8, grads", shape(16, 3, 24, 8, 0, 0.0f), 6, 5, 1);
    one("one layer, projection 24 > hidden, grads", shape(16, 1, 16, 24, 1, 0.0f), 3, 16, 1);
    one("batch 64 x 32", shape(32, 2, 64, 0, 1, 0.2f), 64, 32, 1);
    /* gradient checkpointing: one shared layer's activations + each layer's output */
    {
        ModelConfig ck = shape(32, 4, 64, 0, 1, 0.1f);
        ck.grad_checkpoint = 1;
        one("4 layers, checkpointed, grads", ck, 16, 32, 1);
        one("4 layers, checkpointed, no grads (no effect)", ck, 16, 32, 0);
        ModelConfig plain = ck;
        plain.grad_checkpoint = 0;
        size_t with = model_alloc_bytes(&ck, real, 16, 32, 1), without = model_alloc_bytes(&plain, real, 16, 32, 1);
        CHECKF(with < without, "checkpointing saves nothing: %zu vs %zu", with, without);
        CHECK(model_alloc_bytes(&ck, real, 16, 32, 0) == model_alloc_bytes(&plain, real, 16, 32, 0));
    }
    /* activations scale with B x T: 10x the batch is close to 10x the bytes
     * once the parameters are taken out */
    ModelConfig mc = shape(32, 2, 64, 0, 1, 0.0f);
    size_t p = model_alloc_bytes(&mc, real, 1, 1, 1), a = model_alloc_bytes(&mc, real, 10, 32, 1) - p,
           b = model_alloc_bytes(&mc, real, 100, 32, 1) - p;
    CHECKF(b > 9 * a && b < 11 * a, "activation bytes %zu at batch 10, %zu at batch 100", a, b);
    CHECK(model_alloc_bytes(&mc, real, 1000000, 64, 1) > (size_t)100 << 30); /* what issue 15 point 4 asked for */
    return test_finish("test_model_alloc");
}
