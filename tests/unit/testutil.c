#include "testutil.h"

#include "kernels/ops.h" /* GELU_TANH */

#include <math.h>
#include <stdlib.h>
#include <string.h>

int test_failures = 0;
int test_checks = 0;

uint64_t test_rand_u64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

float test_rand_uniform(uint64_t *s, float lo, float hi) {
    return lo + (hi - lo) * (float)((test_rand_u64(s) >> 40) * (1.0 / 16777216.0));
}

float test_rand_normal(uint64_t *s) {
    double u1 = ((test_rand_u64(s) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (test_rand_u64(s) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void test_fill_uniform(float *x, size_t n, uint64_t *s, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = test_rand_uniform(s, lo, hi);
}

float *test_zeros(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) abort();
    return p;
}
float *test_uniform(size_t n, uint64_t *state, float lo, float hi) {
    float *p = test_zeros(n);
    test_fill_uniform(p, n, state, lo, hi);
    return p;
}
float *test_copy(const float *x, size_t n) {
    float *p = test_zeros(n);
    memcpy(p, x, n * sizeof(float));
    return p;
}

double test_max_rel_err(const float *a, const float *b, size_t n, double floor) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double r = d / fmax(fabs((double)b[i]), floor);
        if (!(r <= worst)) worst = r; /* NaN propagates as a failure */
        if (isnan(r)) return INFINITY;
    }
    return worst;
}

double test_max_abs_err(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        if (d > worst) worst = d;
    }
    return worst;
}

const char *test_source_path(const char *rel, char *buf, size_t len) {
    const char *root = getenv("MTBERT_SOURCE");
    snprintf(buf, len, "%s/%s", root && *root ? root : ".", rel);
    return buf;
}

int test_finish(const char *name) {
    if (test_failures) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, test_failures, test_checks);
        return 1;
    }
    printf("%s: all %d checks passed\n", name, test_checks);
    return 0;
}

int test_skip(const char *why) {
    printf("SKIPPED: %s\n", why);
    return 77;
}

ModelConfig test_tiny_model(int pooling, int embedding_dim, int normalize) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    BertConfig *b = &mc.bert;
    b->vocab_size = 40;
    b->hidden_size = 16;
    b->num_hidden_layers = 2;
    b->num_attention_heads = 2;
    b->intermediate_size = 24;
    b->max_position_embeddings = 16;
    b->type_vocab_size = 2;
    b->layer_norm_eps = 1e-5f;
    b->initializer_range = 0.3f;
    b->hidden_act = GELU_TANH;
    b->hidden_dropout_prob = 0.1f;
    b->attention_probs_dropout_prob = 0.1f;
    mc.pooling = pooling;
    mc.embedding_dim = embedding_dim;
    mc.normalize = normalize;
    return mc;
}

void test_task(ModelConfig *mc, const char *name, TaskType type, int num_labels, float loss_weight, float dropout) {
    TaskConfig *t = &mc->tasks[mc->ntasks++];
    snprintf(t->name, MAX_NAME, "%s", name);
    t->type = type;
    t->num_labels = num_labels;
    t->loss_weight = loss_weight;
    t->dropout = dropout;
}
