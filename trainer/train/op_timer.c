/* op_timer.c — see op_timer.h. */
#include "trainer/train/op_timer.h"

#include <string.h>
#include <time.h>

enum {
    K_EMBED_F, K_EMBED_B, K_LN_F, K_LN_B, K_MM_F, K_MM_B, K_ATT_F, K_ATT_B, K_GELU_F, K_GELU_B,
    K_TANH_F, K_TANH_B, K_ADD, K_ACC, K_SCALE, K_DROP_F, K_DROP_B, K_POOL_F, K_POOL_B, K_L2_F,
    K_L2_B, K_CE_F, K_CE_B, K_COS_F, K_COS_B, K_ADAMW, K_SUMSQ, K_ZERO, K_COPY, K_COUNT
};
static const char *kind_name[K_COUNT] = {
    "embedding_forward", "embedding_backward", "layernorm_forward", "layernorm_backward",
    "matmul_forward", "matmul_backward", "attention_forward", "attention_backward",
    "gelu_forward", "gelu_backward", "tanh_forward", "tanh_backward", "add", "accumulate",
    "scale", "dropout_forward", "dropout_backward", "pool_forward", "pool_backward",
    "l2norm_forward", "l2norm_backward", "crossentropy_forward", "crossentropy_backward",
    "cosine_forward", "cosine_backward", "adamw_update", "sumsq", "zero", "copy"};

static const Ops *real;
static Ops timed;
static double kind_ms[K_COUNT];
static long kind_calls[K_COUNT];

#define MAX_SHAPES 32
static struct {
    int N, C, OC, backward;
    double ms, flops;
    long calls;
} shapes[MAX_SHAPES];
static int nshapes;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static double stop(int k, double t0) {
    real->synchronize();
    double dt = now_ms() - t0;
    kind_ms[k] += dt;
    kind_calls[k]++;
    return dt;
}

static void shape_add(int N, int C, int OC, int backward, double ms, double flops) {
    int i;
    for (i = 0; i < nshapes; i++)
        if (shapes[i].N == N && shapes[i].C == C && shapes[i].OC == OC && shapes[i].backward == backward) break;
    if (i == nshapes) {
        if (nshapes == MAX_SHAPES) return;
        nshapes++;
        shapes[i].N = N, shapes[i].C = C, shapes[i].OC = OC, shapes[i].backward = backward;
        shapes[i].ms = shapes[i].flops = 0;
        shapes[i].calls = 0;
    }
    shapes[i].ms += ms;
    shapes[i].flops += flops;
    shapes[i].calls++;
}

#define T0 double t0 = now_ms()

static void w_zero(void *p, size_t n) { T0; real->zero(p, n); stop(K_ZERO, t0); }
static void w_copy(void *d, const void *s, size_t n) { T0; real->copy(d, s, n); stop(K_COPY, t0); }
static void w_embed_f(float *out, const int *ids, const int *tt, const float *wte, const float *wpe,
                      const float *wtt, int B, int T, int C) {
    T0; real->embedding_forward(out, ids, tt, wte, wpe, wtt, B, T, C); stop(K_EMBED_F, t0);
}
static void w_embed_b(float *dwte, float *dwpe, float *dwtt, const float *dout, const int *ids,
                      const int *tt, int B, int T, int C) {
    T0; real->embedding_backward(dwte, dwpe, dwtt, dout, ids, tt, B, T, C); stop(K_EMBED_B, t0);
}
static void w_ln_f(float *out, float *mean, float *rstd, const float *inp, const float *w,
                   const float *b, int N, int C, float eps) {
    T0; real->layernorm_forward(out, mean, rstd, inp, w, b, N, C, eps); stop(K_LN_F, t0);
}
static void w_ln_b(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                   const float *w, const float *mean, const float *rstd, int N, int C) {
    T0; real->layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C); stop(K_LN_B, t0);
}
static void w_mm_f(float *out, const float *inp, const float *w, const float *bias, int N, int C, int OC) {
    T0;
    real->matmul_forward(out, inp, w, bias, N, C, OC);
    shape_add(N, C, OC, 0, stop(K_MM_F, t0), 2.0 * N * C * OC);
}
static void w_mm_b(float *dinp, float *dw, float *dbias, const float *dout, const float *inp,
                   const float *w, int N, int C, int OC) {
    T0;
    real->matmul_backward(dinp, dw, dbias, dout, inp, w, N, C, OC);
    double fl = 2.0 * N * C * OC * ((dinp ? 1 : 0) + (dw ? 1 : 0));
    shape_add(N, C, OC, 1, stop(K_MM_B, t0), fl);
}
static void w_att_f(float *out, float *att, const float *qkv, const int *mask, int B, int T, int C,
                    int NH, float p, uint64_t seed, uint64_t off) {
    T0; real->attention_forward(out, att, qkv, mask, B, T, C, NH, p, seed, off); stop(K_ATT_F, t0);
}
static void w_att_b(float *dqkv, const float *dout, const float *qkv, const float *att, const int *mask,
                    int B, int T, int C, int NH, float p, uint64_t seed, uint64_t off) {
    T0; real->attention_backward(dqkv, dout, qkv, att, mask, B, T, C, NH, p, seed, off); stop(K_ATT_B, t0);
}
static void w_gelu_f(float *out, const float *inp, size_t n, int kind) {
    T0; real->gelu_forward(out, inp, n, kind); stop(K_GELU_F, t0);
}
static void w_gelu_b(float *dinp, const float *inp, const float *dout, size_t n, int kind) {
    T0; real->gelu_backward(dinp, inp, dout, n, kind); stop(K_GELU_B, t0);
}
/* the fused FFN ops: timed as the matmul (with its shape) and as
 * gelu_backward, the ops they stand for */
static void w_mm_gelu_f(float *pre, float *out, const float *inp, const float *w, const float *bias,
                        int N, int C, int OC, int kind) {
    T0;
    real->matmul_gelu_forward(pre, out, inp, w, bias, N, C, OC, kind);
    shape_add(N, C, OC, 0, stop(K_MM_F, t0), 2.0 * N * C * OC);
}
static void w_gelu_bias_b(float *dinp, float *dbias, const float *inp, const float *dout, int N,
                          int OC, int kind) {
    T0; real->gelu_bias_backward(dinp, dbias, inp, dout, N, OC, kind); stop(K_GELU_B, t0);
}
static void w_tanh_f(float *out, const float *inp, size_t n) { T0; real->tanh_forward(out, inp, n); stop(K_TANH_F, t0); }
static void w_tanh_b(float *dinp, const float *out, const float *dout, size_t n) {
    T0; real->tanh_backward(dinp, out, dout, n); stop(K_TANH_B, t0);
}
static void w_add(float *out, const float *a, const float *b, size_t n) { T0; real->add(out, a, b, n); stop(K_ADD, t0); }
static void w_acc(float *d, const float *s, size_t n) { T0; real->accumulate(d, s, n); stop(K_ACC, t0); }
static void w_scale(float *x, float s, size_t n) { T0; real->scale(x, s, n); stop(K_SCALE, t0); }
static void w_drop_f(float *out, const float *inp, size_t n, float p, uint64_t seed, uint64_t off) {
    T0; real->dropout_forward(out, inp, n, p, seed, off); stop(K_DROP_F, t0);
}
static void w_drop_b(float *dinp, const float *dout, size_t n, float p, uint64_t seed, uint64_t off) {
    T0; real->dropout_backward(dinp, dout, n, p, seed, off); stop(K_DROP_B, t0);
}
static void w_pool_f(float *out, int *argmax, const float *h, const int *mask, int B, int T, int C, int mode) {
    T0; real->pool_forward(out, argmax, h, mask, B, T, C, mode); stop(K_POOL_F, t0);
}
static void w_pool_b(float *dh, const float *dout, const int *argmax, const int *mask, int B, int T, int C,
                     int mode) {
    T0; real->pool_backward(dh, dout, argmax, mask, B, T, C, mode); stop(K_POOL_B, t0);
}
static void w_l2_f(float *out, float *norm, const float *inp, int N, int D) {
    T0; real->l2norm_forward(out, norm, inp, N, D); stop(K_L2_F, t0);
}
static void w_l2_b(float *dinp, const float *dout, const float *out, const float *norm, int N, int D) {
    T0; real->l2norm_backward(dinp, dout, out, norm, N, D); stop(K_L2_B, t0);
}
static void w_ce_f(float *losses, float *probs, const float *logits, const int *tg, int N, int V) {
    T0; real->crossentropy_forward(losses, probs, logits, tg, N, V); stop(K_CE_F, t0);
}
static void w_ce_b(float *dl, const float *probs, const int *tg, int N, int V, float s) {
    T0; real->crossentropy_backward(dl, probs, tg, N, V, s); stop(K_CE_B, t0);
}
static void w_cos_f(float *cos, const float *a, const float *b, int N, int D) {
    T0; real->cosine_forward(cos, a, b, N, D); stop(K_COS_F, t0);
}
static void w_cos_b(float *da, float *db, const float *dcos, const float *a, const float *b,
                    const float *cos, int N, int D) {
    T0; real->cosine_backward(da, db, dcos, a, b, cos, N, D); stop(K_COS_B, t0);
}
static void w_adamw(float *p, const float *g, float *m, float *v, const AdamSpan *sp, int ns, float b1,
                    float b2, float eps, int t) {
    T0; real->adamw_update(p, g, m, v, sp, ns, b1, b2, eps, t); stop(K_ADAMW, t0);
}
static double w_sumsq(const float *x, const AdamSpan *sp, int ns) {
    T0; double r = real->sumsq(x, sp, ns); stop(K_SUMSQ, t0); return r;
}

void op_timer_reset(void) {
    memset(kind_ms, 0, sizeof kind_ms);
    memset(kind_calls, 0, sizeof kind_calls);
    nshapes = 0;
}

const Ops *op_timer_wrap(const Ops *r) {
    real = r;
    timed = *r;
    timed.zero = w_zero;
    timed.copy = w_copy;
#define WRAP(field, fn) if (r->field) timed.field = fn
    WRAP(embedding_forward, w_embed_f);
    WRAP(embedding_backward, w_embed_b);
    WRAP(layernorm_forward, w_ln_f);
    WRAP(layernorm_backward, w_ln_b);
    WRAP(matmul_forward, w_mm_f);
    WRAP(matmul_backward, w_mm_b);
    WRAP(attention_forward, w_att_f);
    WRAP(attention_backward, w_att_b);
    WRAP(gelu_forward, w_gelu_f);
    WRAP(gelu_backward, w_gelu_b);
    WRAP(matmul_gelu_forward, w_mm_gelu_f);
    WRAP(gelu_bias_backward, w_gelu_bias_b);
    WRAP(tanh_forward, w_tanh_f);
    WRAP(tanh_backward, w_tanh_b);
    WRAP(add, w_add);
    WRAP(accumulate, w_acc);
    WRAP(scale, w_scale);
    WRAP(dropout_forward, w_drop_f);
    WRAP(dropout_backward, w_drop_b);
    WRAP(pool_forward, w_pool_f);
    WRAP(pool_backward, w_pool_b);
    WRAP(l2norm_forward, w_l2_f);
    WRAP(l2norm_backward, w_l2_b);
    WRAP(crossentropy_forward, w_ce_f);
    WRAP(crossentropy_backward, w_ce_b);
    WRAP(cosine_forward, w_cos_f);
    WRAP(cosine_backward, w_cos_b);
    WRAP(adamw_update, w_adamw);
    WRAP(sumsq, w_sumsq);
#undef WRAP
    op_timer_reset();
    return &timed;
}

double op_timer_json(FILE *f, int steps) {
    double n = steps > 0 ? steps : 1, total = 0;
    fprintf(f, "\"ops\": {");
    int first = 1;
    for (int k = 0; k < K_COUNT; k++) {
        if (!kind_calls[k]) continue;
        fprintf(f, "%s\"%s\": {\"ms\": %.3f, \"calls\": %.0f}", first ? "" : ", ", kind_name[k],
                kind_ms[k] / n, kind_calls[k] / n);
        total += kind_ms[k] / n;
        first = 0;
    }
    fprintf(f, "}, \"matmul_shapes\": [");
    for (int i = 0; i < nshapes; i++)
        fprintf(f, "%s{\"pass\": \"%s\", \"N\": %d, \"C\": %d, \"OC\": %d, \"ms\": %.3f, \"calls\": %.0f, \"gflops_per_s\": %.1f}",
                i ? ", " : "", shapes[i].backward ? "backward" : "forward", shapes[i].N, shapes[i].C,
                shapes[i].OC, shapes[i].ms / n, shapes[i].calls / n,
                shapes[i].ms > 0 ? shapes[i].flops / (shapes[i].ms * 1e6) : 0.0);
    fprintf(f, "]");
    return total;
}
