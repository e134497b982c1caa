/* test_ops_cpu.c — the CPU op table against naive references and finite
 * differences.
 *
 * (1) every backward is checked against central differences of its forward
 *     (loss = <out, R> for a random R, float forward, step 1e-2);
 * (2) forwards against plain double-precision loops;
 * (3) attention padding: padded query rows are exactly zero, nothing NaN;
 * (4) dropout masks: deterministic in (seed, offset), keep rate ~ 1-p,
 *     backward recomputes the same mask; attention dropout likewise;
 * (5) backwards add into their outputs and skip NULL ones. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "testutil.h"

static const Ops *O;
static uint64_t rng = 0x5eed1234ull;

#define GC_STEP 1e-2f
#define GC_TOL 1e-2

static float *rnd(size_t n, float lo, float hi) { return test_uniform(n, &rng, lo, hi); }
static double dotd(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}
static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}
static int all_zero(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (x[i] != 0.0f) return 0;
    return 1;
}
/* a == 2*b elementwise, within float rounding */
static int is_double_of(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (fabsf(a[i] - 2.0f * b[i]) > 1e-5f * (1.0f + fabsf(a[i]))) return 0;
    return 1;
}

/* Central differences of loss() in each element of x against the analytic
 * gradient g: max |num - g| over max(max |g|, max |num|, 1e-6). */
static double gradcheck(float *x, size_t n, const float *g, double (*loss)(void), float h) {
    double worst = 0, scale = 1e-6;
    for (size_t i = 0; i < n; i++) {
        float x0 = x[i];
        x[i] = x0 + h;
        double lp = loss();
        x[i] = x0 - h;
        double lm = loss();
        x[i] = x0;
        double num = (lp - lm) / (2.0 * (double)h);
        double d = fabs(num - (double)g[i]);
        if (!(d <= worst)) worst = d;
        if (fabs(num) > scale) scale = fabs(num);
        if (fabs((double)g[i]) > scale) scale = fabs((double)g[i]);
    }
    return worst / scale;
}
#define GRADCHECK(name, x, n, g, loss) do { \
    double e_ = gradcheck((x), (n), (g), (loss), GC_STEP); \
    CHECKF(e_ < GC_TOL, "%s: finite-difference error %.3g", (name), e_); } while (0)

/* ------------------------------------------------------------ memory */

static void test_memory(void) {
    float *p = O->alloc(1000 * sizeof(float));
    CHECK(p != NULL);
    CHECK(((uintptr_t)p & 63) == 0);
    CHECK(all_zero(p, 1000));
    float host[1000];
    for (int i = 0; i < 1000; i++) host[i] = (float)i;
    O->to_device(p, host, sizeof host);
    float *q = O->alloc(sizeof host);
    O->copy(q, p, sizeof host);
    float back[1000];
    O->to_host(back, q, sizeof back);
    CHECK(memcmp(back, host, sizeof host) == 0);
    O->zero(q, sizeof host);
    CHECK(all_zero(q, 1000));
    O->free(p);
    O->free(q);
    void *z = O->alloc(0);
    O->free(z);
    O->synchronize();
    CHECK(strcmp(O->name, "cpu") == 0);
}

/* ------------------------------------------------------------ embedding */

enum { EB = 2, ET = 3, EC = 5, EVOC = 7, EPOS = 4, ETY = 2 };
static int e_ids[EB * ET] = {3, 1, 3, 6, 3, 0}, e_types[EB * ET] = {0, 0, 1, 1, 0, 1};
static float *e_wte, *e_wpe, *e_wtt, *e_R, *e_out;
static double e_loss(void) {
    O->embedding_forward(e_out, e_ids, e_types, e_wte, e_wpe, e_wtt, EB, ET, EC);
    return dotd(e_out, e_R, EB * ET * EC);
}

static void test_embedding(void) {
    e_wte = rnd(EVOC * EC, -1, 1);
    e_wpe = rnd(EPOS * EC, -1, 1);
    e_wtt = rnd(ETY * EC, -1, 1);
    e_R = rnd(EB * ET * EC, -1, 1);
    e_out = test_zeros(EB * ET * EC);
    e_loss();
    double err = 0;
    for (int n = 0; n < EB * ET; n++)
        for (int c = 0; c < EC; c++) {
            double ref = (double)e_wte[e_ids[n] * EC + c] + e_wpe[(n % ET) * EC + c] +
                         e_wtt[e_types[n] * EC + c];
            err = fmax(err, fabs(ref - e_out[n * EC + c]));
        }
    CHECKF(err < 1e-6, "embedding forward err %g", err);
    float *gw = test_zeros(EVOC * EC), *gp = test_zeros(EPOS * EC), *gt = test_zeros(ETY * EC);
    O->embedding_backward(gw, gp, gt, e_R, e_ids, e_types, EB, ET, EC);
    GRADCHECK("embedding dwte", e_wte, EVOC * EC, gw, e_loss);
    GRADCHECK("embedding dwpe", e_wpe, EPOS * EC, gp, e_loss);
    GRADCHECK("embedding dwtt", e_wtt, ETY * EC, gt, e_loss);
    /* adds; NULLs skipped */
    float *gw2 = test_copy(gw, EVOC * EC), *gp2 = test_copy(gp, EPOS * EC), *gt2 = test_copy(gt, ETY * EC);
    O->embedding_backward(gw2, gp2, gt2, e_R, e_ids, e_types, EB, ET, EC);
    CHECK(is_double_of(gw2, gw, EVOC * EC) && is_double_of(gp2, gp, EPOS * EC) &&
          is_double_of(gt2, gt, ETY * EC));
    float *gp3 = test_zeros(EPOS * EC);
    O->embedding_backward(NULL, gp3, NULL, e_R, e_ids, e_types, EB, ET, EC);
    CHECK(memcmp(gp3, gp, sizeof(float) * EPOS * EC) == 0);
    O->embedding_backward(NULL, NULL, NULL, e_R, e_ids, e_types, EB, ET, EC);
    /* NULL type ids mean type 0 */
    float *o2 = test_zeros(EB * ET * EC);
    int zeros[EB * ET] = {0};
    O->embedding_forward(o2, e_ids, NULL, e_wte, e_wpe, e_wtt, EB, ET, EC);
    O->embedding_forward(e_out, e_ids, zeros, e_wte, e_wpe, e_wtt, EB, ET, EC);
    CHECK(memcmp(o2, e_out, sizeof(float) * EB * ET * EC) == 0);
    free(e_wte); free(e_wpe); free(e_wtt); free(e_R); free(e_out);
    free(gw); free(gp); free(gt); free(gw2); free(gp2); free(gt2); free(gp3); free(o2);
}

/* ------------------------------------------------------------ layernorm */

enum { LN = 4, LC = 8 };
static float *l_inp, *l_w, *l_b, *l_out, *l_mean, *l_rstd, *l_R;
static double l_loss(void) {
    O->layernorm_forward(l_out, l_mean, l_rstd, l_inp, l_w, l_b, LN, LC, 1e-5f);
    return dotd(l_out, l_R, LN * LC);
}

static void test_layernorm(void) {
    l_inp = rnd(LN * LC, -2, 2);
    for (int c = 0; c < LC; c++) l_inp[LC + c] += 10.0f; /* a row with a large mean */
    l_w = rnd(LC, 0.5f, 1.5f);
    l_b = rnd(LC, -0.5f, 0.5f);
    l_out = test_zeros(LN * LC);
    l_mean = test_zeros(LN);
    l_rstd = test_zeros(LN);
    l_R = rnd(LN * LC, -1, 1);
    l_loss();
    double err = 0;
    for (int n = 0; n < LN; n++) {
        double m = 0, v = 0;
        for (int c = 0; c < LC; c++) m += l_inp[n * LC + c];
        m /= LC;
        for (int c = 0; c < LC; c++) v += (l_inp[n * LC + c] - m) * (l_inp[n * LC + c] - m);
        v /= LC;
        double r = 1.0 / sqrt(v + 1e-5);
        err = fmax(err, fabs(m - l_mean[n]) + fabs(r - l_rstd[n]) / r);
        for (int c = 0; c < LC; c++)
            err = fmax(err, fabs((l_inp[n * LC + c] - m) * r * l_w[c] + l_b[c] - l_out[n * LC + c]));
    }
    CHECKF(err < 1e-5, "layernorm forward err %g", err);
    float *gi = test_zeros(LN * LC), *gw = test_zeros(LC), *gb = test_zeros(LC);
    O->layernorm_backward(gi, gw, gb, l_R, l_inp, l_w, l_mean, l_rstd, LN, LC);
    GRADCHECK("layernorm dinp", l_inp, LN * LC, gi, l_loss);
    GRADCHECK("layernorm dw", l_w, LC, gw, l_loss);
    GRADCHECK("layernorm db", l_b, LC, gb, l_loss);
    float *gi2 = test_copy(gi, LN * LC), *gw2 = test_copy(gw, LC), *gb2 = test_copy(gb, LC);
    O->layernorm_backward(gi2, gw2, gb2, l_R, l_inp, l_w, l_mean, l_rstd, LN, LC);
    CHECK(is_double_of(gi2, gi, LN * LC) && is_double_of(gw2, gw, LC) && is_double_of(gb2, gb, LC));
    float *gi3 = test_zeros(LN * LC), *gw3 = test_zeros(LC);
    O->layernorm_backward(gi3, NULL, NULL, l_R, l_inp, l_w, l_mean, l_rstd, LN, LC);
    O->layernorm_backward(NULL, gw3, NULL, l_R, l_inp, l_w, l_mean, l_rstd, LN, LC);
    CHECK(memcmp(gi3, gi, sizeof(float) * LN * LC) == 0);
    CHECK(memcmp(gw3, gw, sizeof(float) * LC) == 0);
    free(l_inp); free(l_w); free(l_b); free(l_out); free(l_mean); free(l_rstd); free(l_R);
    free(gi); free(gw); free(gb); free(gi2); free(gw2); free(gb2); free(gi3); free(gw3);
}

/* ------------------------------------------------------------ matmul */

enum { MN = 5, MC = 6, MO = 4 };
static float *m_inp, *m_w, *m_b, *m_out, *m_R;
static double m_loss(void) {
    O->matmul_forward(m_out, m_inp, m_w, m_b, MN, MC, MO);
    return dotd(m_out, m_R, MN * MO);
}

static double matmul_ref_err(int N, int C, int OC, int bias) {
    float *x = rnd((size_t)N * C, -1, 1), *w = rnd((size_t)OC * C, -1, 1);
    float *b = bias ? rnd(OC, -1, 1) : NULL, *out = rnd((size_t)N * OC, -9, 9);
    O->matmul_forward(out, x, w, b, N, C, OC);
    double err = 0;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < OC; o++) {
            double s = b ? b[o] : 0;
            for (int c = 0; c < C; c++) s += (double)x[n * C + c] * w[o * C + c];
            err = fmax(err, fabs(s - out[n * OC + o]) / fmax(1.0, fabs(s)));
        }
    free(x); free(w); free(b); free(out);
    return err;
}

static void test_matmul(void) {
    CHECKF(matmul_ref_err(5, 6, 4, 1) < 1e-5, "matmul small");
    CHECKF(matmul_ref_err(67, 50, 29, 1) < 1e-5, "matmul bias");
    CHECKF(matmul_ref_err(130, 64, 96, 0) < 1e-5, "matmul no bias");
    m_inp = rnd(MN * MC, -1, 1);
    m_w = rnd(MO * MC, -1, 1);
    m_b = rnd(MO, -1, 1);
    m_out = test_zeros(MN * MO);
    m_R = rnd(MN * MO, -1, 1);
    float *gi = test_zeros(MN * MC), *gw = test_zeros(MO * MC), *gb = test_zeros(MO);
    O->matmul_backward(gi, gw, gb, m_R, m_inp, m_w, MN, MC, MO);
    GRADCHECK("matmul dinp", m_inp, MN * MC, gi, m_loss);
    GRADCHECK("matmul dw", m_w, MO * MC, gw, m_loss);
    GRADCHECK("matmul dbias", m_b, MO, gb, m_loss);
    float *gi2 = test_copy(gi, MN * MC), *gw2 = test_copy(gw, MO * MC), *gb2 = test_copy(gb, MO);
    O->matmul_backward(gi2, gw2, gb2, m_R, m_inp, m_w, MN, MC, MO);
    CHECK(is_double_of(gi2, gi, MN * MC) && is_double_of(gw2, gw, MO * MC) && is_double_of(gb2, gb, MO));
    float *gi3 = test_zeros(MN * MC), *gb3 = test_zeros(MO);
    O->matmul_backward(gi3, NULL, NULL, m_R, m_inp, m_w, MN, MC, MO);
    O->matmul_backward(NULL, NULL, gb3, m_R, m_inp, m_w, MN, MC, MO);
    CHECK(test_max_abs_err(gi3, gi, MN * MC) < 1e-6);
    CHECK(test_max_abs_err(gb3, gb, MO) < 1e-6);
    free(m_inp); free(m_w); free(m_b); free(m_out); free(m_R);
    free(gi); free(gw); free(gb); free(gi2); free(gw2); free(gb2); free(gi3); free(gb3);
}

/* ------------------------------------------------------------ attention */

/* naive reference: out (B,T,C), att (B,NH,T,T) in double, dropout via
 * philox_uniform element by element */
static void attention_ref(double *out, double *att, const float *qkv, const int *mask, int B,
                          int T, int C, int NH, float p, uint64_t seed, uint64_t offset) {
    int hd = C / NH;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int i = 0; i < T; i++) {
                double *a = att + (((size_t)b * NH + h) * T + i) * T;
                double *o = out + ((size_t)b * T + i) * C + h * hd;
                for (int j = 0; j < T; j++) a[j] = 0;
                for (int d = 0; d < hd; d++) o[d] = 0;
                if (!mask[b * T + i]) continue;
                const float *q = qkv + ((size_t)b * T + i) * 3 * C + h * hd;
                double mx = -1e300, sum = 0;
                for (int j = 0; j < T; j++) {
                    if (!mask[b * T + j]) continue;
                    const float *k = qkv + ((size_t)b * T + j) * 3 * C + C + h * hd;
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += (double)q[d] * k[d];
                    a[j] = s / sqrt((double)hd);
                    if (a[j] > mx) mx = a[j];
                }
                for (int j = 0; j < T; j++)
                    if (mask[b * T + j]) sum += (a[j] = exp(a[j] - mx));
                for (int j = 0; j < T; j++) a[j] /= sum;
                for (int j = 0; j < T; j++) {
                    double pj = a[j];
                    if (p > 0) {
                        uint64_t idx = offset + (((uint64_t)b * NH + h) * T + i) * T + j;
                        pj = philox_uniform(seed, idx) >= p ? pj / (1.0 - p) : 0.0;
                    }
                    const float *v = qkv + ((size_t)b * T + j) * 3 * C + 2 * C + h * hd;
                    for (int d = 0; d < hd; d++) o[d] += pj * v[d];
                }
            }
}

enum { AB = 5, AT = 6, AC = 8, ANH = 2 };
static const int a_mask[AB * AT] = {
    1, 1, 1, 1, 1, 1, /* all real */
    1, 1, 1, 0, 0, 0, /* trailing padding */
    1, 0, 0, 0, 0, 0, /* a single real token */
    1, 0, 1, 1, 0, 1, /* holes */
    0, 0, 0, 0, 0, 0, /* nothing real */
};
static float *a_qkv, *a_out, *a_att, *a_R, a_p;
static uint64_t a_seed = 77, a_off = 5;
static double a_loss(void) {
    O->attention_forward(a_out, a_att, a_qkv, a_mask, AB, AT, AC, ANH, a_p, a_seed, a_off);
    return dotd(a_out, a_R, AB * AT * AC);
}

static void attention_compare(float p, const char *what) {
    size_t no = (size_t)AB * AT * AC, na = (size_t)AB * ANH * AT * AT;
    double *ro = malloc(no * sizeof(double)), *ra = malloc(na * sizeof(double));
    a_p = p;
    a_loss();
    attention_ref(ro, ra, a_qkv, a_mask, AB, AT, AC, ANH, p, a_seed, a_off);
    double eo = 0, ea = 0;
    for (size_t i = 0; i < no; i++) eo = fmax(eo, fabs(ro[i] - a_out[i]));
    for (size_t i = 0; i < na; i++) ea = fmax(ea, fabs(ra[i] - a_att[i]));
    CHECKF(eo < 1e-5 && ea < 1e-6, "attention forward (%s): out err %g, att err %g", what, eo, ea);
    CHECKF(all_finite(a_out, no) && all_finite(a_att, na), "attention NaN (%s)", what);
    /* padded query rows: exactly zero output */
    int ok = 1;
    for (int n = 0; n < AB * AT; n++)
        if (!a_mask[n] && !all_zero(a_out + (size_t)n * AC, AC)) ok = 0;
    CHECKF(ok, "attention padded query rows not zero (%s)", what);
    free(ro);
    free(ra);
}

static void attention_grad(float p, const char *what) {
    size_t nq = (size_t)AB * AT * 3 * AC;
    a_p = p;
    a_loss();
    float *g = test_zeros(nq);
    O->attention_backward(g, a_R, a_qkv, a_att, a_mask, AB, AT, AC, ANH, p, a_seed, a_off);
    char name[64];
    snprintf(name, sizeof name, "attention dqkv (%s)", what);
    GRADCHECK(name, a_qkv, nq, g, a_loss);
    CHECK(all_finite(g, nq));
    /* padded tokens: no gradient to their q, k or v */
    int ok = 1;
    for (int n = 0; n < AB * AT; n++)
        if (!a_mask[n] && !all_zero(g + (size_t)n * 3 * AC, 3 * AC)) ok = 0;
    CHECKF(ok, "attention: gradient reached padded tokens (%s)", what);
    float *g2 = test_copy(g, nq);
    a_loss();
    O->attention_backward(g2, a_R, a_qkv, a_att, a_mask, AB, AT, AC, ANH, p, a_seed, a_off);
    CHECKF(is_double_of(g2, g, nq), "attention backward does not add (%s)", what);
    O->attention_backward(NULL, a_R, a_qkv, a_att, a_mask, AB, AT, AC, ANH, p, a_seed, a_off);
    free(g);
    free(g2);
}

static void test_attention(void) {
    size_t nq = (size_t)AB * AT * 3 * AC, no = (size_t)AB * AT * AC;
    a_qkv = rnd(nq, -1.5f, 1.5f);
    a_out = test_zeros(no);
    a_att = test_zeros((size_t)AB * ANH * AT * AT);
    a_R = rnd(no, -1, 1);
    attention_compare(0.0f, "p=0");
    attention_compare(0.3f, "p=0.3");
    attention_grad(0.0f, "p=0");
    attention_grad(0.3f, "p=0.3");

    /* dropout masks: same (seed, offset) -> same output, else different */
    a_p = 0.3f;
    a_loss();
    float *o1 = test_copy(a_out, no);
    a_loss();
    CHECK(memcmp(o1, a_out, no * sizeof(float)) == 0);
    a_off = 6;
    a_loss();
    CHECK(memcmp(o1, a_out, no * sizeof(float)) != 0);
    a_off = 5;
    a_seed = 78;
    a_loss();
    CHECK(memcmp(o1, a_out, no * sizeof(float)) != 0);
    a_seed = 77;
    /* the stored probabilities do not depend on dropout */
    a_p = 0.0f;
    a_loss();
    float *att0 = test_copy(a_att, (size_t)AB * ANH * AT * AT);
    a_p = 0.3f;
    a_loss();
    CHECK(memcmp(att0, a_att, sizeof(float) * AB * ANH * AT * AT) == 0);
    free(o1);
    free(att0);
    free(a_qkv); free(a_out); free(a_att); free(a_R);

    /* a bigger case (several GEMM blocks), random masks with a leading real
     * token, against the reference */
    int B = 3, T = 40, C = 64, NH = 4;
    float *qkv = rnd((size_t)B * T * 3 * C, -1, 1), *out = test_zeros((size_t)B * T * C);
    float *att = test_zeros((size_t)B * NH * T * T);
    int *mask = calloc((size_t)B * T, sizeof(int));
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) mask[b * T + t] = t < T - 11 * b;
    double *ro = malloc(sizeof(double) * B * T * C), *ra = malloc(sizeof(double) * B * NH * T * T);
    for (int k = 0; k < 2; k++) {
        float p = k ? 0.1f : 0.0f;
        O->attention_forward(out, att, qkv, mask, B, T, C, NH, p, 1234, 99);
        attention_ref(ro, ra, qkv, mask, B, T, C, NH, p, 1234, 99);
        double eo = 0;
        for (int i = 0; i < B * T * C; i++) eo = fmax(eo, fabs(ro[i] - out[i]));
        CHECKF(eo < 1e-5, "attention large forward p=%g err %g", p, eo);
    }
    free(qkv); free(out); free(att); free(mask); free(ro); free(ra);
}

/* ------------------------------------------------------------ gelu, tanh */

enum { GN = 64 };
static float *g_inp, *g_out, *g_R;
static int g_kind;
static double g_loss(void) {
    O->gelu_forward(g_out, g_inp, GN, g_kind);
    return dotd(g_out, g_R, GN);
}
static double t_loss(void) {
    O->tanh_forward(g_out, g_inp, GN);
    return dotd(g_out, g_R, GN);
}

static void test_gelu_tanh(void) {
    g_inp = rnd(GN, -4, 4);
    g_out = test_zeros(GN);
    g_R = rnd(GN, -1, 1);
    for (g_kind = 0; g_kind < 2; g_kind++) {
        g_loss();
        double err = 0;
        for (int i = 0; i < GN; i++) {
            double x = g_inp[i];
            double ref = g_kind == GELU_ERF
                             ? 0.5 * x * (1 + erf(x / sqrt(2.0)))
                             : 0.5 * x * (1 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
            err = fmax(err, fabs(ref - g_out[i]));
        }
        CHECKF(err < 1e-5, "gelu kind %d forward err %g", g_kind, err);
        float *gi = test_zeros(GN);
        O->gelu_backward(gi, g_inp, g_R, GN, g_kind);
        GRADCHECK(g_kind ? "gelu_tanh" : "gelu_erf", g_inp, GN, gi, g_loss);
        float *gi2 = test_copy(gi, GN);
        O->gelu_backward(gi2, g_inp, g_R, GN, g_kind);
        CHECK(is_double_of(gi2, gi, GN));
        free(gi);
        free(gi2);
    }
    t_loss();
    double err = 0;
    for (int i = 0; i < GN; i++) err = fmax(err, fabs(tanh((double)g_inp[i]) - g_out[i]));
    CHECKF(err < 1e-6, "tanh forward err %g", err);
    float *gi = test_zeros(GN);
    O->tanh_backward(gi, g_out, g_R, GN);
    GRADCHECK("tanh", g_inp, GN, gi, t_loss);
    t_loss(); /* the saved output again, unperturbed */
    float *gi2 = test_copy(gi, GN);
    O->tanh_backward(gi2, g_out, g_R, GN);
    CHECK(is_double_of(gi2, gi, GN));
    free(gi); free(gi2);

    /* the long (threaded) path agrees with the short one */
    size_t n = 100000;
    float *x = rnd(n, -5, 5), *y = test_zeros(n), *ys = test_zeros(GN);
    O->gelu_forward(y, x, n, GELU_ERF);
    O->gelu_forward(ys, x + 5000, GN, GELU_ERF);
    CHECK(memcmp(ys, y + 5000, GN * sizeof(float)) == 0);
    free(x); free(y); free(ys);
    free(g_inp); free(g_out); free(g_R);
}

/* ------------------------------------------------------------ helpers */

static void test_elementwise(void) {
    size_t n = 40000;
    float *a = rnd(n, -1, 1), *b = rnd(n, -1, 1), *o = test_zeros(n);
    O->add(o, a, b, n);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= o[i] == a[i] + b[i];
    CHECK(ok);
    O->accumulate(o, a, n);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= o[i] == (a[i] + b[i]) + a[i];
    CHECK(ok);
    O->scale(a, 0.5f, n);
    ok = 1;
    for (size_t i = 0; i < n; i++) ok &= a[i] * 2.0f == b[i] * 0 + a[i] * 2.0f;
    CHECK(ok);
    free(a); free(b); free(o);
}

/* ------------------------------------------------------------ dropout */

enum { DN = 37 };
static float *d_inp, *d_out, *d_R;
static double d_loss(void) {
    O->dropout_forward(d_out, d_inp, DN, 0.4f, 9, 3);
    return dotd(d_out, d_R, DN);
}

static void test_dropout(void) {
    size_t n = 200003;
    float p = 0.1f;
    float *x = rnd(n, 0.5f, 1.5f), *y = test_zeros(n), *y2 = test_zeros(n);
    O->dropout_forward(y, x, n, p, 42, 7);
    size_t kept = 0;
    int exact = 1;
    for (size_t i = 0; i < n; i++) {
        int keep = philox_uniform(42, 7 + i) >= p;
        kept += keep;
        float ref = keep ? x[i] * (1.0f / (1.0f - p)) : 0.0f;
        if (fabsf(ref - y[i]) > 1e-6f) exact = 0;
        if ((y[i] != 0.0f) != keep) exact = 0;
    }
    double frac = (double)kept / (double)n;
    CHECKF(fabs(frac - (1.0 - p)) < 0.005, "dropout kept fraction %g", frac);
    CHECK(exact);
    O->dropout_forward(y2, x, n, p, 42, 7);
    CHECK(memcmp(y, y2, n * sizeof(float)) == 0);
    O->dropout_forward(y2, x, n, p, 42, 8);
    CHECK(memcmp(y, y2, n * sizeof(float)) != 0);
    O->dropout_forward(y2, x, n, p, 43, 7);
    CHECK(memcmp(y, y2, n * sizeof(float)) != 0);
    /* an offset shifts the stream: element i at offset 8 is element i+1 at 7 */
    O->dropout_forward(y2, x + 1, n - 1, p, 42, 8);
    CHECK(memcmp(y + 1, y2, (n - 1) * sizeof(float)) == 0);
    /* in place */
    memcpy(y2, x, n * sizeof(float));
    O->dropout_forward(y2, y2, n, p, 42, 7);
    CHECK(memcmp(y, y2, n * sizeof(float)) == 0);
    /* backward: the same mask, added */
    float *g = rnd(n, -1, 1), *dx = rnd(n, -1, 1), *dx0 = test_copy(dx, n);
    O->dropout_backward(dx, g, n, p, 42, 7);
    int same = 1;
    for (size_t i = 0; i < n; i++) {
        float mult = y[i] != 0.0f ? 1.0f / (1.0f - p) : 0.0f;
        if (fabsf(dx[i] - (dx0[i] + g[i] * mult)) > 1e-6f) same = 0;
    }
    CHECK(same);
    /* p = 0: identity, and add */
    O->dropout_forward(y2, x, n, 0.0f, 42, 7);
    CHECK(memcmp(y2, x, n * sizeof(float)) == 0);
    memcpy(dx, dx0, n * sizeof(float));
    O->dropout_backward(dx, g, n, 0.0f, 42, 7);
    same = 1;
    for (size_t i = 0; i < n; i++) same &= dx[i] == dx0[i] + g[i];
    CHECK(same);
    O->dropout_backward(NULL, g, n, p, 42, 7);
    free(x); free(y); free(y2); free(g); free(dx); free(dx0);

    /* finite differences (the mask is fixed by seed and offset) */
    d_inp = rnd(DN, -1, 1);
    d_out = test_zeros(DN);
    d_R = rnd(DN, -1, 1);
    float *gi = test_zeros(DN);
    O->dropout_backward(gi, d_R, DN, 0.4f, 9, 3);
    GRADCHECK("dropout", d_inp, DN, gi, d_loss);
    free(d_inp); free(d_out); free(d_R); free(gi);
}

/* ------------------------------------------------------------ pooling */

enum { PB = 3, PT = 5, PC = 4 };
static const int p_mask[PB * PT] = {1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0, 0};
static float *p_h, *p_out, *p_R;
static int p_argmax[PB * PC], p_mode;
static double p_loss(void) {
    O->pool_forward(p_out, p_argmax, p_h, p_mask, PB, PT, PC, p_mode);
    return dotd(p_out, p_R, PB * PC);
}

static void test_pool(void) {
    size_t nh = (size_t)PB * PT * PC;
    p_h = test_zeros(nh);
    /* distinct values 0.1 apart in every column (no ties within a step) */
    for (int b = 0; b < PB; b++)
        for (int c = 0; c < PC; c++) {
            int perm[PT] = {0, 1, 2, 3, 4};
            for (int t = PT - 1; t > 0; t--) {
                int j = (int)(test_rand_u64(&rng) % (uint64_t)(t + 1)), s = perm[t];
                perm[t] = perm[j];
                perm[j] = s;
            }
            for (int t = 0; t < PT; t++)
                p_h[((size_t)b * PT + t) * PC + c] = 0.1f * (float)perm[t] - 0.3f;
        }
    p_out = test_zeros(PB * PC);
    p_R = rnd(PB * PC, -1, 1);
    const char *names[3] = {"mean", "cls", "max"};
    for (p_mode = 0; p_mode < 3; p_mode++) {
        p_loss();
        double err = 0;
        for (int b = 0; b < PB; b++)
            for (int c = 0; c < PC; c++) {
                double ref = 0;
                if (p_mode == POOL_CLS) {
                    ref = p_h[(size_t)b * PT * PC + c];
                } else if (p_mode == POOL_MEAN) {
                    double cnt = 0;
                    for (int t = 0; t < PT; t++)
                        if (p_mask[b * PT + t]) ref += p_h[((size_t)b * PT + t) * PC + c], cnt++;
                    ref /= fmax(cnt, 1e-9);
                } else {
                    int any = 0;
                    for (int t = 0; t < PT; t++)
                        if (p_mask[b * PT + t]) {
                            double v = p_h[((size_t)b * PT + t) * PC + c];
                            if (!any || v > ref) ref = v;
                            any = 1;
                        }
                }
                err = fmax(err, fabs(ref - p_out[b * PC + c]));
            }
        CHECKF(err < 1e-6, "pool %s forward err %g", names[p_mode], err);
        CHECK(all_finite(p_out, PB * PC));
        float *g = test_zeros(nh);
        O->pool_backward(g, p_R, p_argmax, p_mask, PB, PT, PC, p_mode);
        char name[32];
        snprintf(name, sizeof name, "pool %s", names[p_mode]);
        GRADCHECK(name, p_h, nh, g, p_loss);
        float *g2 = test_copy(g, nh);
        O->pool_backward(g2, p_R, p_argmax, p_mask, PB, PT, PC, p_mode);
        CHECK(is_double_of(g2, g, nh));
        O->pool_backward(NULL, p_R, p_argmax, p_mask, PB, PT, PC, p_mode);
        free(g);
        free(g2);
    }
    free(p_h); free(p_out); free(p_R);
}

/* ------------------------------------------------------------ l2norm */

enum { NN = 3, ND = 6 };
static float *n_inp, *n_out, *n_norm, *n_R;
static double n_loss(void) {
    O->l2norm_forward(n_out, n_norm, n_inp, NN, ND);
    return dotd(n_out, n_R, NN * ND);
}

static void test_l2norm(void) {
    n_inp = rnd(NN * ND, -1, 1);
    n_out = test_zeros(NN * ND);
    n_norm = test_zeros(NN);
    n_R = rnd(NN * ND, -1, 1);
    n_loss();
    double err = 0;
    for (int n = 0; n < NN; n++) {
        double s = 0;
        for (int d = 0; d < ND; d++) s += (double)n_inp[n * ND + d] * n_inp[n * ND + d];
        s = sqrt(s);
        err = fmax(err, fabs(s - n_norm[n]));
        for (int d = 0; d < ND; d++) err = fmax(err, fabs(n_inp[n * ND + d] / s - n_out[n * ND + d]));
    }
    CHECKF(err < 1e-6, "l2norm forward err %g", err);
    float *g = test_zeros(NN * ND);
    O->l2norm_backward(g, n_R, n_out, n_norm, NN, ND);
    GRADCHECK("l2norm", n_inp, NN * ND, g, n_loss);
    n_loss(); /* the saved output again, unperturbed */
    float *g2 = test_copy(g, NN * ND);
    O->l2norm_backward(g2, n_R, n_out, n_norm, NN, ND);
    CHECK(is_double_of(g2, g, NN * ND));
    O->l2norm_backward(NULL, n_R, n_out, n_norm, NN, ND);
    /* a zero row stays zero, never NaN */
    for (int d = 0; d < ND; d++) n_inp[ND + d] = 0.0f;
    n_loss();
    CHECK(all_zero(n_out + ND, ND) && all_finite(n_out, NN * ND));
    free(n_inp); free(n_out); free(n_norm); free(n_R); free(g); free(g2);
}

/* ------------------------------------------------------------ cosine */

enum { CN = 4, CD = 5 };
static float *c_a, *c_b, *c_cos, *c_R;
static double c_loss(void) {
    O->cosine_forward(c_cos, c_a, c_b, CN, CD);
    return dotd(c_cos, c_R, CN);
}

static void test_cosine(void) {
    c_a = rnd(CN * CD, -1, 1);
    c_b = rnd(CN * CD, -1, 1);
    c_cos = test_zeros(CN);
    c_R = rnd(CN, -1, 1);
    c_loss();
    double err = 0;
    for (int n = 0; n < CN; n++) {
        double ab = 0, aa = 0, bb = 0;
        for (int d = 0; d < CD; d++) {
            ab += (double)c_a[n * CD + d] * c_b[n * CD + d];
            aa += (double)c_a[n * CD + d] * c_a[n * CD + d];
            bb += (double)c_b[n * CD + d] * c_b[n * CD + d];
        }
        err = fmax(err, fabs(ab / fmax(sqrt(aa) * sqrt(bb), 1e-8) - c_cos[n]));
    }
    CHECKF(err < 1e-6, "cosine forward err %g", err);
    float *ga = test_zeros(CN * CD), *gb = test_zeros(CN * CD);
    O->cosine_backward(ga, gb, c_R, c_a, c_b, c_cos, CN, CD);
    GRADCHECK("cosine da", c_a, CN * CD, ga, c_loss);
    GRADCHECK("cosine db", c_b, CN * CD, gb, c_loss);
    c_loss();
    float *ga2 = test_copy(ga, CN * CD), *gb2 = test_copy(gb, CN * CD), *gb3 = test_zeros(CN * CD);
    O->cosine_backward(ga2, gb2, c_R, c_a, c_b, c_cos, CN, CD);
    CHECK(is_double_of(ga2, ga, CN * CD) && is_double_of(gb2, gb, CN * CD));
    O->cosine_backward(NULL, gb3, c_R, c_a, c_b, c_cos, CN, CD);
    CHECK(memcmp(gb3, gb, sizeof(float) * CN * CD) == 0);
    /* a zero vector: cosine 0, finite gradients */
    for (int d = 0; d < CD; d++) c_a[d] = 0.0f;
    c_loss();
    CHECK(c_cos[0] == 0.0f && all_finite(c_cos, CN));
    free(c_a); free(c_b); free(c_cos); free(c_R); free(ga); free(gb); free(ga2); free(gb2); free(gb3);
}

/* ------------------------------------------------------------ cross-entropy */

enum { XN = 7, XV = 6 };
static const int x_t[XN] = {2, -100, 0, 5, 3, 6, -7}; /* 6 and -7: out of range, skipped */
static float *x_logits, *x_probs, *x_losses;
static const float x_scale = 0.7f;
static double x_loss(void) {
    O->crossentropy_forward(x_losses, x_probs, x_logits, x_t, XN, XV);
    double s = 0;
    for (int n = 0; n < XN; n++) s += x_losses[n];
    return x_scale * s;
}

static void test_crossentropy(void) {
    x_logits = rnd(XN * XV, -3, 3);
    x_logits[0] = 40.0f; /* large logit: no overflow */
    x_probs = test_zeros(XN * XV);
    x_losses = test_zeros(XN);
    x_loss();
    double err = 0;
    for (int n = 0; n < XN; n++) {
        const float *x = x_logits + n * XV;
        double mx = -1e300, s = 0;
        for (int k = 0; k < XV; k++) mx = fmax(mx, x[k]);
        for (int k = 0; k < XV; k++) s += exp(x[k] - mx);
        for (int k = 0; k < XV; k++) err = fmax(err, fabs(exp(x[k] - mx) / s - x_probs[n * XV + k]));
        int t = x_t[n];
        double ref = t >= 0 && t < XV ? log(s) + mx - x[t] : 0.0;
        err = fmax(err, fabs(ref - x_losses[n]) / fmax(1.0, fabs(ref)));
    }
    CHECKF(err < 1e-5, "cross-entropy forward err %g", err);
    CHECK(x_losses[1] == 0.0f && x_losses[5] == 0.0f && x_losses[6] == 0.0f);
    float *g = test_zeros(XN * XV);
    O->crossentropy_backward(g, x_probs, x_t, XN, XV, x_scale);
    GRADCHECK("cross-entropy", x_logits, XN * XV, g, x_loss);
    CHECK(all_zero(g + 1 * XV, XV) && all_zero(g + 5 * XV, 2 * XV));
    x_loss();
    float *g2 = test_copy(g, XN * XV);
    O->crossentropy_backward(g2, x_probs, x_t, XN, XV, x_scale);
    CHECK(is_double_of(g2, g, XN * XV));
    O->crossentropy_backward(NULL, x_probs, x_t, XN, XV, x_scale);
    free(x_logits); free(x_probs); free(x_losses); free(g); free(g2);
}

/* ------------------------------------------------------------ AdamW */

static void test_adamw(void) {
    enum { P = 50000 };
    float *p = rnd(P, -1, 1), *m = test_zeros(P), *v = test_zeros(P);
    double *rp = malloc(sizeof(double) * P), *rm = calloc(P, sizeof(double)),
           *rv = calloc(P, sizeof(double));
    for (int i = 0; i < P; i++) rp[i] = p[i];
    /* spans with different lr/wd, and a gap [30000, 30100) nobody updates */
    AdamSpan spans[3] = {{0, 20000, 1e-3f, 0.01f}, {20000, 10000, 5e-4f, 0.0f},
                         {30100, 19900, 2e-3f, 0.1f}};
    float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f;
    double worst = 0;
    float *g = test_zeros(P);
    for (int t = 1; t <= 4; t++) {
        test_fill_uniform(g, P, &rng, -1, 1);
        if (t == 2)
            for (int i = 0; i < P; i += 7) g[i] = 0.0f;
        O->adamw_update(p, g, m, v, spans, 3, b1, b2, eps, t);
        for (int s = 0; s < 3; s++)
            for (size_t i = spans[s].offset; i < spans[s].offset + spans[s].count; i++) {
                double lr = spans[s].lr, wd = spans[s].weight_decay;
                rm[i] = b1 * rm[i] + (1 - (double)b1) * g[i];
                rv[i] = b2 * rv[i] + (1 - (double)b2) * (double)g[i] * g[i];
                rp[i] -= lr * wd * rp[i];
                double mh = rm[i] / (1 - pow(b1, t)), vh = rv[i] / (1 - pow(b2, t));
                rp[i] -= lr * mh / (sqrt(vh) + eps);
            }
        for (int i = 0; i < P; i++) worst = fmax(worst, fabs(rp[i] - p[i]) / fmax(fabs(rp[i]), 1e-2));
        for (int i = 0; i < P; i++) worst = fmax(worst, fabs(rm[i] - m[i]) / fmax(fabs(rm[i]), 1e-2));
    }
    CHECKF(worst < 1e-5, "adamw vs torch formula: rel err %g", worst);
    int gap_ok = 1;
    for (int i = 30000; i < 30100; i++) gap_ok &= (double)p[i] == rp[i] && m[i] == 0 && v[i] == 0;
    CHECK(gap_ok);
    /* sum of squares over the spans only */
    double ref = 0;
    for (int s = 0; s < 3; s++)
        for (size_t i = spans[s].offset; i < spans[s].offset + spans[s].count; i++)
            ref += (double)g[i] * g[i];
    double got = O->sumsq(g, spans, 3);
    CHECKF(fabs(got - ref) <= 1e-9 * ref, "sumsq %.17g vs %.17g", got, ref);
    free(p); free(m); free(v); free(rp); free(rm); free(rv); free(g);
}

int main(void) {
    O = ops_cpu();
    CHECK(O != NULL);
    if (!O) return test_finish("test_ops_cpu");
    /* every field set */
    CHECK(O->alloc && O->free && O->to_device && O->to_host && O->copy && O->zero &&
          O->embedding_forward && O->embedding_backward && O->layernorm_forward &&
          O->layernorm_backward && O->matmul_forward && O->matmul_backward &&
          O->attention_forward && O->attention_backward && O->gelu_forward && O->gelu_backward &&
          O->tanh_forward && O->tanh_backward && O->add && O->accumulate && O->scale &&
          O->dropout_forward && O->dropout_backward && O->pool_forward && O->pool_backward &&
          O->l2norm_forward && O->l2norm_backward && O->crossentropy_forward &&
          O->crossentropy_backward && O->cosine_forward && O->cosine_backward &&
          O->adamw_update && O->sumsq && O->synchronize && O->set_threads);
    test_memory();
    test_embedding();
    test_layernorm();
    test_matmul();
    test_attention();
    test_gelu_tanh();
    test_elementwise();
    test_dropout();
    test_pool();
    test_l2norm();
    test_cosine();
    test_crossentropy();
    test_adamw();
    /* the same results with one thread (deterministic kernels) */
    O->set_threads(1);
    test_attention();
    test_dropout();
    O->set_threads(2);
    return test_finish("test_ops_cpu");
}
