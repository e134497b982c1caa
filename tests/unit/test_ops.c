/* test_ops.c — one op test over every op table the build has.
 *
 *   test_ops [--backend LIST] [CASE|GROUP ...]
 *
 * k_cases below is the one list of op cases (in the spirit of ggml's
 * test-backend-ops). Each case has two checks, and every table the run asks
 * for goes through the whole list:
 *  - ref (the CPU table): against plain double-precision loops, and every
 *    backward against central differences of its forward (loss = <out, R>
 *    for a random R, float forward, step 1e-2); attention padding (padded
 *    query rows exactly zero, nothing NaN); dropout masks deterministic in
 *    (seed, offset) with keep rate ~ 1-p, backward recomputing the same
 *    mask; backwards add into their outputs and skip NULL ones; the same
 *    results with one thread.
 *  - parity (a device table): against the CPU table on the same random
 *    inputs, op by op, forward and backward, at realistic shapes. Error
 *    measure: max |dev - cpu| / max(max |cpu|, 1e-3) per tensor (the
 *    element-wise relative error with a 1e-3 floor is printed too), below
 *    the table's tolerance. Also: padded query rows of attention exactly
 *    zero, the attention scratch exactly attention_scratch_floats (memcheck
 *    sees overruns), nothing NaN, dropout masks bit-identical to the CPU's,
 *    every backward bit-identical when run twice.
 *
 * --backend takes a comma-separated list (default cpu):
 *   cpu        the CPU table, ref checks
 *   cuda       the fp32 CUDA table, parity at 1e-5 (TF32 off)
 *   cuda-bf16  the bf16 CUDA table: 1e-2 for the linear layers (matmul
 *              output, dinp, dw), 1e-5 for the rest
 *   cpu-self   the parity checks with the CPU table as the device against
 *              itself (bit-identical up to 1e-12): runs the device harness
 *              where no GPU is
 *   cpu-bf16   the CPU bf16-activation table (kernels/cpu/cpu_bf16.c, the
 *              numerics reference) against the fp32 CPU table: 1e-2 for
 *              every output it rounds to bf16 (activations, activation
 *              gradients, linear-layer results), and for those it must keep
 *              fp32 (parameter gradients, LayerNorm statistics, softmax
 *              probabilities, losses, cosine scores, AdamW, sumsq) exactly
 *              the fp32 table's bits. On a table with bf16 activations every
 *              output is also checked for its storage: a rounded one has all
 *              low 16 bits zero, an fp32 one has some element with them set
 *              (docs/precision.md is the list). Plus round-to-nearest-even
 *              on hand-picked values (ties, overflow, NaN) through `add`.
 *   all        cpu, cuda, cuda-bf16, cpu-bf16: those present
 * A table comes from ops_select, as in the commands. On a device table a
 * case is skipped when every op it calls is the same function as in a
 * table already checked in this run (in cuda-bf16 only the linear layers
 * differ from cuda); `test_ops --backend cuda-bf16` alone checks it all.
 *
 * Cases (or groups of them) may be picked by name on the command line or
 * in MTBERT_TEST_ONLY (comma-separated); none means all. `test_ops
 * --backend cuda attention` runs the attention cases only (what
 * tests/gpu/run_gpu_tests.sh gives racecheck).
 *
 * Exit: 0 all passed, 1 some check failed, 2 bad arguments, 77 (skipped)
 * when none of the tables asked for is present (no GPU, or a build without
 * CUDA). ctest runs it as test_ops (cpu, label unit), test_ops_cpu_self
 * (cpu-self, unit), test_ops_cpu_bf16 (cpu-bf16, unit) and test_ops_cuda
 * (cuda,cuda-bf16, label gpu). */
#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/bf16.h"
#include "kernels/ops.h"
#include "testutil.h"

/* ref checks: O is the CPU table, rng their random numbers */
static const Ops *O;
static uint64_t rng = 0x5eed1234ull;
/* parity checks: G is the table under test, Cp the CPU table; g_tol the
 * bound for fp32 ops, g_tol_lin for the linear layers, g_tol_act for the
 * other activations (and activation gradients); g_bf16_acts: the table
 * stores activations rounded to bf16 (their storage is checked too) */
static const Ops *G, *Cp;
static uint64_t prng = 0xc0dacafeull;
static double g_tol, g_tol_lin, g_tol_act;
static int g_bf16_acts;

/* ================================================================ ref */

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

static void ref_memory(void) {
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

static void ref_embedding(void) {
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

static void ref_layernorm(void) {
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

static void ref_matmul(void) {
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

static void ref_attention(void) {
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

static void ref_gelu_tanh(void) {
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

/* ------------------------------------------------------------ fused FFN */

/* matmul_gelu_forward and gelu_bias_backward against the unfused ops they
 * stand for (matmul_forward + gelu_forward; zero + gelu_backward + the bias
 * sums of matmul_backward): the same bits. Shapes: below the own-GEMM
 * threshold (BLAS), partial MR/NR tiles, depth past one KC slice (300 >
 * 256), fewer rows than columns (the GEMM's column split), no bias; rows
 * and columns not multiples of the backward's 16-column thread split. */
static void ref_ffn_one(int N, int C, int OC, int with_bias, int kind) {
    size_t nI = (size_t)N * C, nW = (size_t)OC * C, nO = (size_t)N * OC;
    float *x = rnd(nI, -1, 1), *w = rnd(nW, -0.3f, 0.3f), *b = with_bias ? rnd(OC, -1, 1) : NULL;
    float *pre = test_zeros(nO), *out = test_zeros(nO), *pre_r = test_zeros(nO), *out_r = test_zeros(nO);
    O->matmul_forward(pre_r, x, w, b, N, C, OC);
    O->gelu_forward(out_r, pre_r, nO, kind);
    O->matmul_gelu_forward(pre, out, x, w, b, N, C, OC, kind);
    CHECKF(memcmp(pre, pre_r, nO * 4) == 0, "matmul_gelu_forward N=%d C=%d OC=%d bias=%d kind=%d: pre differs from matmul_forward",
           N, C, OC, with_bias, kind);
    CHECKF(memcmp(out, out_r, nO * 4) == 0, "matmul_gelu_forward N=%d C=%d OC=%d bias=%d kind=%d: out differs from gelu_forward",
           N, C, OC, with_bias, kind);
    /* backward from the pre-activation, into a dinp full of NaN (written, not added) */
    float *g = rnd(nO, -1, 1), *db0 = rnd(OC, -1, 1);
    float *di = test_zeros(nO), *di_r = test_zeros(nO), *db = test_copy(db0, OC), *db_r = test_copy(db0, OC);
    for (size_t i = 0; i < nO; i++) di[i] = NAN;
    O->zero(di_r, nO * 4);
    O->gelu_backward(di_r, pre, g, nO, kind);
    O->matmul_backward(NULL, NULL, db_r, di_r, NULL, NULL, N, 1, OC);
    O->gelu_bias_backward(di, db, pre, g, N, OC, kind);
    CHECKF(memcmp(di, di_r, nO * 4) == 0, "gelu_bias_backward N=%d OC=%d kind=%d: dinp differs from zero + gelu_backward",
           N, OC, kind);
    CHECKF(memcmp(db, db_r, OC * 4) == 0, "gelu_bias_backward N=%d OC=%d kind=%d: dbias differs from matmul_backward's sums",
           N, OC, kind);
    for (size_t i = 0; i < nO; i++) di[i] = NAN;
    O->gelu_bias_backward(di, NULL, pre, g, N, OC, kind); /* NULL dbias skipped */
    CHECK(memcmp(di, di_r, nO * 4) == 0);
    free(x); free(w); free(b); free(pre); free(out); free(pre_r); free(out_r);
    free(g); free(db0); free(di); free(di_r); free(db); free(db_r);
}

static void ref_ffn(void) {
    for (int kind = 0; kind < 2; kind++) {
        ref_ffn_one(9, 16, 24, 1, kind);      /* BLAS path, serial backward */
        ref_ffn_one(130, 96, 200, 1, kind);   /* own GEMM, partial tiles */
        ref_ffn_one(70, 300, 100, 1, kind);   /* two KC slices */
        ref_ffn_one(40, 128, 300, 0, kind);   /* column split, no bias */
        ref_ffn_one(512, 64, 256, 1, kind);   /* the model's shape, smaller */
    }
    O->set_threads(1);
    ref_ffn_one(130, 96, 200, 1, GELU_ERF);
    O->set_threads(2);
}

/* ------------------------------------------------------------ helpers */

static void ref_arith(void) {
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

static void ref_dropout(void) {
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

static void ref_pool(void) {
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

static void ref_l2norm(void) {
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

static void ref_cosine(void) {
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

static void ref_crossentropy(void) {
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

static void ref_adamw(void) {
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

/* ================================================================ parity */

static float *hrnd(size_t n, float lo, float hi) { return test_uniform(n, &prng, lo, hi); }
static void *dput(const void *h, size_t bytes) {
    void *d = G->alloc(bytes);
    if (!d) {
        fprintf(stderr, "device alloc of %zu bytes failed\n", bytes);
        abort();
    }
    if (h) G->to_device(d, h, bytes);
    return d;
}
static float *dget(const void *d, size_t n) {
    float *h = test_zeros(n);
    G->to_host(h, d, n * sizeof(float));
    return h;
}

/* compare a device tensor with a host reference */
static double cmp_dev(const char *what, const float *dgpu, const float *cpu, size_t n, double tol) {
    float *g = dget(dgpu, n);
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)cpu[i]));
    double err = test_max_abs_err(g, cpu, n) / fmax(mx, 1e-3);
    double rel = test_max_rel_err(g, cpu, n, 1e-3);
    printf("  %-34s n=%-9zu norm-err %.3e  elem-rel %.3e\n", what, n, err, rel);
    CHECKF(all_finite(g, n), "%s: NaN/Inf in GPU result", what);
    CHECKF(err < tol, "%s: error %.3e >= %.1e", what, err, tol);
    free(g);
    return err;
}

/* two device buffers hold the same bits */
static void same_bits(const char *what, const void *da, const void *db, size_t bytes) {
    unsigned char *a = malloc(bytes ? bytes : 1), *b = malloc(bytes ? bytes : 1);
    if (!a || !b) abort();
    G->to_host(a, da, bytes);
    G->to_host(b, db, bytes);
    CHECKF(memcmp(a, b, bytes) == 0, "%s: two runs differ (not deterministic)", what);
    free(a);
    free(b);
}

/* Storage of an output on a table with bf16 activations: BF16, every
 * element is a bf16 value (low 16 bits zero); F32, some element is not (the
 * buffer was not rounded). */
enum { F32 = 0, BF16 = 1 };
static void check_storage(const char *what, const float *dgpu, size_t n, int kind) {
    float *g = dget(dgpu, n);
    size_t inexact = 0;
    for (size_t i = 0; i < n; i++) inexact += !bf16_exact(g[i]);
    printf("  %-34s %s: %zu of %zu elements not bf16 values\n", what, kind == BF16 ? "bf16" : "fp32",
           inexact, n);
    if (kind == BF16)
        CHECKF(inexact == 0, "%s: %zu of %zu elements are not bf16 values (must be rounded)", what, inexact, n);
    else
        CHECKF(inexact > 0, "%s: every element is a bf16 value (must stay fp32)", what);
    free(g);
}

/* cmp_dev, and on a bf16-activation table the output's storage */
static double cmp_out(const char *what, const float *dgpu, const float *cpu, size_t n, double tol, int kind) {
    double err = cmp_dev(what, dgpu, cpu, n, tol);
    if (g_bf16_acts) check_storage(what, dgpu, n, kind);
    return err;
}
/* an activation (or activation gradient) / an fp32 output */
#define CMP_ACT(what, d, c, n) cmp_out((what), (d), (c), (n), g_tol_act, BF16)
#define CMP_F32(what, d, c, n) cmp_out((what), (d), (c), (n), g_tol, F32)

static int *make_mask(int B, int T, int with_empty) {
    int *m = malloc(sizeof(int) * (size_t)B * T);
    if (!m) abort();
    for (int b = 0; b < B; b++) {
        int len = T - (b * 37) % (T / 2 + 1); /* rows of several lengths, row 0 full */
        if (len < 1) len = 1;
        for (int t = 0; t < T; t++) m[(size_t)b * T + t] = t < len;
    }
    if (with_empty && B > 1) /* one interior hole: padding not only at the end */
        m[(size_t)1 * T + 2] = 0;
    return m;
}

static void par_embedding(void) {
    int B = 4, T = 128, C = 256, V = 97, MP = 512, TY = 2;
    size_t N = (size_t)B * T;
    printf("embedding[%s] B=%d T=%d C=%d vocab=%d\n", G->name, B, T, C, V);
    int *ids = malloc(sizeof(int) * N), *tt = malloc(sizeof(int) * N);
    for (size_t i = 0; i < N; i++) {
        ids[i] = (int)(test_rand_u64(&prng) % (uint64_t)V); /* many repeats */
        tt[i] = (int)(test_rand_u64(&prng) % (uint64_t)TY);
    }
    float *wte = hrnd((size_t)V * C, -1, 1), *wpe = hrnd((size_t)MP * C, -1, 1),
          *wtt = hrnd((size_t)TY * C, -1, 1), *dout = hrnd(N * C, -1, 1);
    float *out = test_zeros(N * C);
    Cp->embedding_forward(out, ids, tt, wte, wpe, wtt, B, T, C);
    int *dids = dput(ids, sizeof(int) * N), *dtt = dput(tt, sizeof(int) * N);
    float *dwte = dput(wte, sizeof(float) * V * C), *dwpe = dput(wpe, sizeof(float) * MP * C),
          *dwtt = dput(wtt, sizeof(float) * TY * C), *ddout = dput(dout, sizeof(float) * N * C),
          *dout_g = dput(NULL, sizeof(float) * N * C);
    G->embedding_forward(dout_g, dids, dtt, dwte, dwpe, dwtt, B, T, C);
    CMP_ACT("embedding_forward", dout_g, out, N * C);

    /* backward adds into non-zero gradients */
    float *gte = hrnd((size_t)V * C, -1, 1), *gpe = hrnd((size_t)MP * C, -1, 1),
          *gtt = hrnd((size_t)TY * C, -1, 1);
    float *d1 = dput(gte, sizeof(float) * V * C), *d2 = dput(gpe, sizeof(float) * MP * C),
          *d3 = dput(gtt, sizeof(float) * TY * C);
    float *e1 = dput(gte, sizeof(float) * V * C), *e2 = dput(gpe, sizeof(float) * MP * C),
          *e3 = dput(gtt, sizeof(float) * TY * C);
    Cp->embedding_backward(gte, gpe, gtt, dout, ids, tt, B, T, C);
    G->embedding_backward(d1, d2, d3, ddout, dids, dtt, B, T, C);
    G->embedding_backward(e1, e2, e3, ddout, dids, dtt, B, T, C);
    CMP_F32("embedding_backward dwte", d1, gte, (size_t)V * C);
    CMP_F32("embedding_backward dwpe", d2, gpe, (size_t)MP * C);
    CMP_F32("embedding_backward dwtt", d3, gtt, (size_t)TY * C);
    same_bits("embedding_backward dwte", d1, e1, sizeof(float) * V * C);
    same_bits("embedding_backward dwpe", d2, e2, sizeof(float) * MP * C);
    same_bits("embedding_backward dwtt", d3, e3, sizeof(float) * TY * C);

    /* NULL type ids (all type 0) and NULL gradients */
    float *g0 = test_zeros((size_t)TY * C);
    float *dg0 = dput(NULL, sizeof(float) * TY * C);
    Cp->embedding_backward(NULL, NULL, g0, dout, ids, NULL, B, T, C);
    G->embedding_backward(NULL, NULL, dg0, ddout, dids, NULL, B, T, C);
    CMP_F32("embedding_backward dwtt (no type ids)", dg0, g0, (size_t)TY * C);

    /* realistic vocabulary size, ids spread out */
    int V2 = 30522;
    for (size_t i = 0; i < N; i++) ids[i] = (int)(test_rand_u64(&prng) % (uint64_t)V2);
    ids[5] = ids[7] = ids[300] = 42;
    float *big = test_zeros((size_t)V2 * C);
    float *dbig = dput(NULL, sizeof(float) * V2 * C), *ebig = dput(NULL, sizeof(float) * V2 * C);
    G->to_device(dids, ids, sizeof(int) * N);
    Cp->embedding_backward(big, NULL, NULL, dout, ids, tt, B, T, C);
    G->embedding_backward(dbig, NULL, NULL, ddout, dids, dtt, B, T, C);
    G->embedding_backward(ebig, NULL, NULL, ddout, dids, dtt, B, T, C);
    CMP_F32("embedding_backward dwte (V=30522)", dbig, big, (size_t)V2 * C);
    same_bits("embedding_backward dwte (V=30522)", dbig, ebig, sizeof(float) * V2 * C);

    void *dev[] = {dids, dtt, dwte, dwpe, dwtt, ddout, dout_g, d1, d2, d3, e1, e2, e3, dg0, dbig, ebig};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(ids); free(tt); free(wte); free(wpe); free(wtt); free(dout); free(out);
    free(gte); free(gpe); free(gtt); free(g0); free(big);
}

static void par_layernorm(void) {
    int N = 512, C = 256;
    printf("layernorm[%s] N=%d C=%d\n", G->name, N, C);
    size_t NC = (size_t)N * C;
    float *x = hrnd(NC, -2, 3), *w = hrnd(C, 0.5f, 1.5f), *b = hrnd(C, -0.5f, 0.5f);
    float *out = test_zeros(NC), *mean = test_zeros(N), *rstd = test_zeros(N);
    Cp->layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-12f);
    float *dx = dput(x, NC * 4), *dw = dput(w, C * 4), *db = dput(b, C * 4);
    float *dout_ = dput(NULL, NC * 4), *dmean = dput(NULL, N * 4), *drstd = dput(NULL, N * 4);
    G->layernorm_forward(dout_, dmean, drstd, dx, dw, db, N, C, 1e-12f);
    CMP_ACT("layernorm_forward out", dout_, out, NC);
    CMP_F32("layernorm_forward mean", dmean, mean, N);
    CMP_F32("layernorm_forward rstd", drstd, rstd, N);

    float *g = hrnd(NC, -1, 1), *gi = hrnd(NC, -1, 1), *gw = hrnd(C, -1, 1), *gb = hrnd(C, -1, 1);
    float *dg = dput(g, NC * 4);
    float *a1 = dput(gi, NC * 4), *a2 = dput(gw, C * 4), *a3 = dput(gb, C * 4);
    float *b1 = dput(gi, NC * 4), *b2 = dput(gw, C * 4), *b3 = dput(gb, C * 4);
    /* both backends from the same saved statistics (the CPU's) */
    G->to_device(dmean, mean, N * 4);
    G->to_device(drstd, rstd, N * 4);
    Cp->layernorm_backward(gi, gw, gb, g, x, w, mean, rstd, N, C);
    G->layernorm_backward(a1, a2, a3, dg, dx, dw, dmean, drstd, N, C);
    G->layernorm_backward(b1, b2, b3, dg, dx, dw, dmean, drstd, N, C);
    CMP_ACT("layernorm_backward dinp", a1, gi, NC);
    CMP_F32("layernorm_backward dw", a2, gw, C);
    CMP_F32("layernorm_backward db", a3, gb, C);
    same_bits("layernorm_backward dinp", a1, b1, NC * 4);
    same_bits("layernorm_backward dw", a2, b2, C * 4);
    same_bits("layernorm_backward db", a3, b3, C * 4);
    void *dev[] = {dx, dw, db, dout_, dmean, drstd, dg, a1, a2, a3, b1, b2, b3};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(x); free(w); free(b); free(out); free(mean); free(rstd); free(g); free(gi); free(gw); free(gb);
}

/* linear layer on the table under test at its linear-layer tolerance;
 * `misalign` offsets the bias by one float (the non-epilogue path) */
static void par_matmul_one(int N, int C, int OC, int with_bias, int misalign) {
    const Ops *T = G;
    double tol = g_tol_lin;
    printf("matmul[%s] N=%d C=%d OC=%d bias=%d misalign=%d\n", T->name, N, C, OC, with_bias, misalign);
    size_t nI = (size_t)N * C, nW = (size_t)OC * C, nO = (size_t)N * OC;
    float *x = hrnd(nI, -1, 1), *w = hrnd(nW, -1, 1), *bias = hrnd(OC + 1, -1, 1);
    float *out = test_zeros(nO);
    const float *hb = with_bias ? bias + misalign : NULL;
    Cp->matmul_forward(out, x, w, hb, N, C, OC);
    float *dx = dput(x, nI * 4), *dw = dput(w, nW * 4), *dbias = dput(bias, (OC + 1) * 4);
    float *dout_ = dput(NULL, nO * 4);
    T->matmul_forward(dout_, dx, dw, with_bias ? dbias + misalign : NULL, N, C, OC);
    cmp_out("matmul_forward", dout_, out, nO, tol, BF16);

    float *g = hrnd(nO, -1, 1), *gi = hrnd(nI, -1, 1), *gw = hrnd(nW, -1, 1), *gb = hrnd(OC, -1, 1);
    float *dg = dput(g, nO * 4), *a1 = dput(gi, nI * 4), *a2 = dput(gw, nW * 4), *a3 = dput(gb, OC * 4);
    float *b1 = dput(gi, nI * 4), *b2 = dput(gw, nW * 4), *b3 = dput(gb, OC * 4);
    Cp->matmul_backward(gi, gw, gb, g, x, w, N, C, OC);
    T->matmul_backward(a1, a2, a3, dg, dx, dw, N, C, OC);
    T->matmul_backward(b1, b2, b3, dg, dx, dw, N, C, OC);
    cmp_out("matmul_backward dinp", a1, gi, nI, tol, BF16);
    cmp_out("matmul_backward dw", a2, gw, nW, tol, F32);
    CMP_F32("matmul_backward dbias", a3, gb, OC); /* fp32 in every table */
    same_bits("matmul_backward dinp", a1, b1, nI * 4);
    same_bits("matmul_backward dw", a2, b2, nW * 4);
    same_bits("matmul_backward dbias", a3, b3, OC * 4);
    /* NULL outputs are skipped: only dw requested */
    float *c2 = dput(NULL, nW * 4);
    float *zw = test_zeros(nW);
    Cp->matmul_backward(NULL, zw, NULL, g, x, w, N, C, OC);
    T->matmul_backward(NULL, c2, NULL, dg, dx, dw, N, C, OC);
    cmp_out("matmul_backward dw only", c2, zw, nW, tol, F32);
    void *dev[] = {dx, dw, dbias, dout_, dg, a1, a2, a3, b1, b2, b3, c2};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(x); free(w); free(bias); free(out); free(g); free(gi); free(gw); free(gb); free(zw);
}

/* More distinct GEMM shapes than the plan cache holds (256): every one
 * right, also those asked for again after their plans were evicted. */
static void par_matmul_churn(void) {
    int C = 32, OC = 24, NMAX = 300;
    printf("matmul[%s] plan-cache churn: N=1..%d, C=%d OC=%d, then N=1..40 again\n", G->name, NMAX, C, OC);
    size_t nI = (size_t)NMAX * C, nW = (size_t)OC * C, nO = (size_t)NMAX * OC;
    float *x = hrnd(nI, -1, 1), *w = hrnd(nW, -1, 1), *bias = hrnd(OC, -1, 1), *out = test_zeros(nO);
    float *dx = dput(x, nI * 4), *dw = dput(w, nW * 4), *db = dput(bias, OC * 4);
    float *dout_ = dput(NULL, nO * 4);
    double worst = 0;
    int bad = 0;
    for (int pass = 0; pass < 2; pass++)
        for (int N = 1; N <= (pass ? 40 : NMAX); N++) {
            Cp->matmul_forward(out, x, w, bias, N, C, OC);
            G->matmul_forward(dout_, dx, dw, db, N, C, OC);
            float *g = dget(dout_, (size_t)N * OC);
            double mx = 0;
            for (size_t i = 0; i < (size_t)N * OC; i++) mx = fmax(mx, fabs((double)out[i]));
            double err = test_max_abs_err(g, out, (size_t)N * OC) / fmax(mx, 1e-3);
            if (err > worst) worst = err;
            if (!(err < g_tol_lin) || !all_finite(g, (size_t)N * OC)) bad++;
            free(g);
        }
    printf("  worst norm-err %.3e over %d products\n", worst, NMAX + 40);
    CHECKF(bad == 0, "%d of %d products past the plan cache's capacity are wrong", bad, NMAX + 40);
    G->free(dx); G->free(dw); G->free(db); G->free(dout_);
    free(x); free(w); free(bias); free(out);
}

/* `empty`: sequence B-1 is all padding (no real key at all) */
static void par_attention_one(int B, int Tn, int C, int NH, float p, int empty) {
    const Ops *T = G;
    double tol = g_tol_act;
    printf("attention[%s] B=%d T=%d C=%d NH=%d (hd=%d) p=%.2f empty=%d\n", T->name, B, Tn, C, NH,
           C / NH, p, empty);
    size_t N = (size_t)B * Tn, nqkv = N * 3 * C, nO = N * C, natt = (size_t)B * NH * Tn * Tn;
    uint64_t seed = 0x1234abcdull, off = 7;
    int *mask = make_mask(B, Tn, 1);
    if (empty)
        for (int t = 0; t < Tn; t++) mask[(size_t)(B - 1) * Tn + t] = 0;
    float *qkv = hrnd(nqkv, -1, 1), *out = test_zeros(nO), *att = test_zeros(natt);
    Cp->attention_forward(out, att, qkv, mask, B, Tn, C, NH, p, seed, off);
    int *dmask = dput(mask, sizeof(int) * N);
    /* the device scratch is exactly what the backend asks for (memcheck sees overruns) */
    size_t ndatt = T->attention_scratch_floats(B, Tn, NH, C / NH);
    CHECKF(ndatt >= (size_t)B * NH * Tn && ndatt <= natt, "attention_scratch_floats %zu outside [B*NH*T, B*NH*T*T]", ndatt);
    float *dqkv = dput(qkv, nqkv * 4), *dout_ = dput(NULL, nO * 4), *datt = dput(NULL, ndatt * 4);
    /* garbage in the output and scratch first: the op must overwrite all */
    float *junk = hrnd(nO, 5, 6);
    G->to_device(dout_, junk, nO * 4);
    T->attention_forward(dout_, datt, dqkv, dmask, B, Tn, C, NH, p, seed, off);
    cmp_out("attention_forward", dout_, out, nO, tol, BF16);
    float *go = dget(dout_, nO);
    int zero_ok = 1;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < Tn; t++)
            if (!mask[(size_t)b * Tn + t])
                for (int c = 0; c < C; c++)
                    if (go[((size_t)b * Tn + t) * C + c] != 0.0f) zero_ok = 0;
    CHECKF(zero_ok, "attention_forward: padded query rows are not exactly zero");

    float *g = hrnd(nO, -1, 1), *gq = hrnd(nqkv, -1, 1);
    float *dg = dput(g, nO * 4), *a1 = dput(gq, nqkv * 4), *b1 = dput(gq, nqkv * 4);
    Cp->attention_backward(gq, g, qkv, att, mask, B, Tn, C, NH, p, seed, off);
    T->attention_backward(a1, dg, dqkv, datt, dmask, B, Tn, C, NH, p, seed, off);
    T->attention_backward(b1, dg, dqkv, datt, dmask, B, Tn, C, NH, p, seed, off);
    cmp_out("attention_backward dqkv", a1, gq, nqkv, tol, BF16);
    same_bits("attention_backward dqkv", a1, b1, nqkv * 4);
    /* forward twice: bit-identical too */
    float *dout2 = dput(NULL, nO * 4);
    T->attention_forward(dout2, datt, dqkv, dmask, B, Tn, C, NH, p, seed, off);
    same_bits("attention_forward", dout_, dout2, nO * 4);
    void *dev[] = {dmask, dqkv, dout_, datt, dg, a1, b1, dout2};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(mask); free(qkv); free(out); free(att); free(junk); free(go); free(g); free(gq);
}

/* inputs of the elementwise cases, on both sides: x (n) in [-6, 6), y, g
 * and acc (n) in [-1, 1); r / dr (n) take the outputs */
typedef struct {
    size_t n;
    float *x, *y, *g, *acc, *r;
    float *dx, *dy, *dg, *dr;
} EwInputs;

static EwInputs ew_make(const char *what) {
    EwInputs e;
    e.n = (size_t)4 * 128 * 1024 + 3; /* not a multiple of 4 */
    printf("%s[%s] n=%zu\n", what, G->name, e.n);
    e.x = hrnd(e.n, -6, 6);
    e.y = hrnd(e.n, -1, 1);
    e.g = hrnd(e.n, -1, 1);
    e.acc = hrnd(e.n, -1, 1);
    e.r = test_zeros(e.n);
    e.dx = dput(e.x, e.n * 4);
    e.dy = dput(e.y, e.n * 4);
    e.dg = dput(e.g, e.n * 4);
    e.dr = dput(NULL, e.n * 4);
    return e;
}

static void ew_free(EwInputs *e) {
    G->free(e->dx); G->free(e->dy); G->free(e->dg); G->free(e->dr);
    free(e->x); free(e->y); free(e->g); free(e->acc); free(e->r);
}

/* the fused FFN ops on the device against the CPU's unfused ops */
static void par_ffn_one(int N, int C, int OC, int kind) {
    printf("ffn[%s] N=%d C=%d OC=%d kind=%d\n", G->name, N, C, OC, kind);
    size_t nI = (size_t)N * C, nW = (size_t)OC * C, nO = (size_t)N * OC;
    float *x = hrnd(nI, -1, 1), *w = hrnd(nW, -0.3f, 0.3f), *b = hrnd(OC, -1, 1);
    float *pre = test_zeros(nO), *out = test_zeros(nO);
    Cp->matmul_forward(pre, x, w, b, N, C, OC);
    Cp->gelu_forward(out, pre, nO, kind);
    float *dx = dput(x, nI * 4), *dw = dput(w, nW * 4), *db = dput(b, OC * 4);
    float *dpre = dput(NULL, nO * 4), *dout_ = dput(NULL, nO * 4);
    G->matmul_gelu_forward(dpre, dout_, dx, dw, db, N, C, OC, kind);
    cmp_out("matmul_gelu_forward pre", dpre, pre, nO, g_tol_lin, BF16);
    cmp_out("matmul_gelu_forward out", dout_, out, nO, g_tol_lin, BF16);
    /* backward from the CPU's pre-activation on both */
    float *g = hrnd(nO, -1, 1), *gb = hrnd(OC, -1, 1), *nan_ = test_zeros(nO);
    for (size_t i = 0; i < nO; i++) nan_[i] = NAN;
    float *di = test_zeros(nO);
    Cp->gelu_backward(di, pre, g, nO, kind);
    G->to_device(dpre, pre, nO * 4);
    float *dg = dput(g, nO * 4), *a1 = dput(nan_, nO * 4), *a2 = dput(gb, OC * 4);
    float *b1 = dput(nan_, nO * 4), *b2 = dput(gb, OC * 4);
    G->gelu_bias_backward(a1, a2, dpre, dg, N, OC, kind);
    G->gelu_bias_backward(b1, b2, dpre, dg, N, OC, kind);
    cmp_out("gelu_bias_backward dinp", a1, di, nO, g_tol_act, BF16);
    /* dbias: the column sums of the dinp this table wrote (fp32 in every table) */
    float *hd = dget(a1, nO), *rb = test_copy(gb, OC);
    Cp->matmul_backward(NULL, NULL, rb, hd, NULL, NULL, N, 1, OC);
    CMP_F32("gelu_bias_backward dbias", a2, rb, OC);
    same_bits("gelu_bias_backward dinp", a1, b1, nO * 4);
    same_bits("gelu_bias_backward dbias", a2, b2, OC * 4);
    void *dev[] = {dx, dw, db, dpre, dout_, dg, a1, a2, b1, b2};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(x); free(w); free(b); free(pre); free(out); free(g); free(gb); free(nan_); free(di);
    free(hd); free(rb);
}

static void par_ffn(void) {
    for (int kind = 0; kind < 2; kind++) par_ffn_one(4096, 256, 1024, kind); /* bert-mini's FC1 */
    par_ffn_one(77, 48, 130, GELU_ERF);
}

static void par_gelu_tanh(void) {
    EwInputs e = ew_make("gelu/tanh");
    size_t n = e.n;
    for (int kind = 0; kind < 2; kind++) {
        Cp->gelu_forward(e.r, e.x, n, kind);
        G->gelu_forward(e.dr, e.dx, n, kind);
        CMP_ACT(kind ? "gelu_forward tanh" : "gelu_forward erf", e.dr, e.r, n);
        float *ha = test_copy(e.acc, n), *da = dput(e.acc, n * 4);
        Cp->gelu_backward(ha, e.x, e.g, n, kind);
        G->gelu_backward(da, e.dx, e.dg, n, kind);
        CMP_ACT(kind ? "gelu_backward tanh" : "gelu_backward erf", da, ha, n);
        G->free(da);
        free(ha);
    }
    Cp->tanh_forward(e.r, e.x, n);
    G->tanh_forward(e.dr, e.dx, n);
    CMP_ACT("tanh_forward", e.dr, e.r, n);
    float *ha = test_copy(e.acc, n), *da = dput(e.acc, n * 4);
    Cp->tanh_backward(ha, e.r, e.g, n);
    G->to_device(e.dr, e.r, n * 4); /* both from the CPU's output */
    G->tanh_backward(da, e.dr, e.dg, n);
    CMP_ACT("tanh_backward", da, ha, n);
    G->free(da);
    free(ha);
    ew_free(&e);
}

/* bf16 rounding (nearest, ties to even) through `add` on a table with bf16
 * activations: a + b is exact in fp32, the table rounds it; the expected
 * bf16 values are worked out by hand (u = 2^-8, half a bf16 ulp at 1) */
static void bf16_rounding_cases(void) {
    const float u = ldexpf(1, -8), e20 = ldexpf(1, -20), bmax = ldexpf(2 - ldexpf(1, -7), 127);
    const float a[] = {1, 1 + 2 * u, 1, -1, 1, FLT_MAX, -FLT_MAX, bmax, INFINITY, 3 * ldexpf(1, -134), 1, NAN};
    const float b[] = {u, u, u + e20, -u, u - e20, 0, 0, 0, 0, 0, 0, 0};
    const float want[] = {1,              /* a tie: down to the even 1 */
                          1 + 4 * u,      /* a tie: up to the even 1 + 2^-6 */
                          1 + 2 * u,      /* above half an ulp: up */
                          -1,             /* a tie, negative */
                          1,              /* below half an ulp: down */
                          INFINITY,       /* past the largest bf16 */
                          -INFINITY,
                          bmax,           /* the largest bf16 stays */
                          INFINITY,
                          ldexpf(1, -132), /* subnormal tie 3*2^-134: up to the even 2^-132 */
                          1, NAN};
    const size_t n = sizeof a / sizeof *a;
    float *da = dput(a, sizeof a), *db = dput(b, sizeof b), *dr = dput(NULL, sizeof a);
    G->add(dr, da, db, n);
    float *r = dget(dr, n);
    for (size_t i = 0; i < n; i++) {
        int ok = isnan(want[i]) ? isnan(r[i]) : bf16_bits_of(r[i]) == bf16_bits_of(want[i]);
        CHECKF(ok, "bf16 rounding: %.9g + %.9g gave %.9g (bits %08x), expected %.9g", a[i], b[i], r[i],
               (unsigned)bf16_bits_of(r[i]), want[i]);
    }
    printf("  bf16 rounding of %zu hand-picked sums checked\n", n);
    G->free(da); G->free(db); G->free(dr);
    free(r);
}

static void par_arith(void) {
    EwInputs e = ew_make("add/accumulate/scale");
    size_t n = e.n;
    Cp->add(e.r, e.x, e.y, n);
    G->add(e.dr, e.dx, e.dy, n);
    CMP_ACT("add", e.dr, e.r, n);
    if (g_bf16_acts) bf16_rounding_cases();
    float *ha = test_copy(e.acc, n), *da = dput(e.acc, n * 4);
    Cp->accumulate(ha, e.x, n);
    G->accumulate(da, e.dx, n);
    CMP_F32("accumulate", da, ha, n);
    Cp->scale(ha, 0.37f, n);
    G->scale(da, 0.37f, n);
    CMP_F32("scale", da, ha, n);
    G->free(da);
    free(ha);
    ew_free(&e);
}

static void par_dropout(void) {
    EwInputs e = ew_make("dropout");
    size_t n = e.n;
    /* bit-identical masks, odd offsets and lengths */
    uint64_t offs[] = {0, 3, 1000001};
    for (int k = 0; k < 3; k++) {
        Cp->dropout_forward(e.r, e.x, n, 0.1f, 99, offs[k]);
        G->dropout_forward(e.dr, e.dx, n, 0.1f, 99, offs[k]);
        float *gr = dget(e.dr, n);
        if (g_bf16_acts) { /* the same mask (zeros), values within bf16 rounding */
            size_t other = 0;
            for (size_t i = 0; i < n; i++) other += (gr[i] == 0.0f) != (e.r[i] == 0.0f);
            CHECKF(other == 0, "dropout_forward offset %llu: %zu elements dropped differently from the CPU",
                   (unsigned long long)offs[k], other);
            CMP_ACT("dropout_forward", e.dr, e.r, n);
        } else {
            CHECKF(memcmp(gr, e.r, n * 4) == 0, "dropout_forward offset %llu differs from the CPU",
                   (unsigned long long)offs[k]);
        }
        free(gr);
        float *ha = test_copy(e.acc, n), *da = dput(e.acc, n * 4);
        Cp->dropout_backward(ha, e.g, n, 0.1f, 99, offs[k]);
        G->dropout_backward(da, e.dg, n, 0.1f, 99, offs[k]);
        CMP_ACT("dropout_backward", da, ha, n);
        G->free(da);
        free(ha);
    }
    /* in place */
    G->copy(e.dr, e.dx, n * 4);
    G->dropout_forward(e.dr, e.dr, n, 0.25f, 5, 11);
    Cp->dropout_forward(e.r, e.x, n, 0.25f, 5, 11);
    cmp_out("dropout_forward in place", e.dr, e.r, n, g_bf16_acts ? g_tol_act : 1e-30, BF16);
    ew_free(&e);
}

static void par_pool(void) {
    int B = 4, T = 128, C = 256;
    printf("pool[%s] B=%d T=%d C=%d\n", G->name, B, T, C);
    size_t n = (size_t)B * T * C;
    int *mask = make_mask(B, T, 1);
    for (int t = 0; t < T; t++) mask[(size_t)3 * T + t] = 0; /* an all-padding row */
    float *h = hrnd(n, -1, 1);
    int *dmask = dput(mask, sizeof(int) * B * T);
    float *dh = dput(h, n * 4);
    int modes[] = {POOL_MEAN, POOL_CLS, POOL_MAX, POOL_POOLER};
    const char *names[] = {"mean", "cls", "max", "pooler"};
    for (int k = 0; k < 4; k++) {
        char what[64];
        float *out = test_zeros((size_t)B * C);
        int *am = calloc((size_t)B * C, sizeof(int));
        float *dout_ = dput(NULL, (size_t)B * C * 4);
        int *dam = dput(NULL, sizeof(int) * B * C);
        Cp->pool_forward(out, am, h, mask, B, T, C, modes[k]);
        G->pool_forward(dout_, dam, dh, dmask, B, T, C, modes[k]);
        snprintf(what, sizeof what, "pool_forward %s", names[k]);
        CMP_ACT(what, dout_, out, (size_t)B * C);
        if (modes[k] == POOL_MAX) {
            int *gam = malloc(sizeof(int) * B * C);
            G->to_host(gam, dam, sizeof(int) * B * C);
            CHECKF(memcmp(gam, am, sizeof(int) * B * C) == 0, "pool max argmax differs");
            free(gam);
        }
        float *g = hrnd((size_t)B * C, -1, 1), *acc = hrnd(n, -1, 1);
        float *dg = dput(g, (size_t)B * C * 4), *da = dput(acc, n * 4);
        Cp->pool_backward(acc, g, am, mask, B, T, C, modes[k]);
        G->pool_backward(da, dg, dam, dmask, B, T, C, modes[k]);
        snprintf(what, sizeof what, "pool_backward %s", names[k]);
        CMP_ACT(what, da, acc, n);
        G->free(dout_); G->free(dam); G->free(dg); G->free(da);
        free(out); free(am); free(g); free(acc);
    }
    G->free(dmask); G->free(dh);
    free(mask); free(h);
}

/* rows a, b (N, D) in [-1, 1) for l2norm and cosine; row 5 of a is zero
 * (the clamps) */
enum { RN = 64, RD = 256, RZERO = 5 };
static float *rows_make(int zero_row) {
    float *x = hrnd((size_t)RN * RD, -1, 1);
    if (zero_row)
        for (int d = 0; d < RD; d++) x[(size_t)RZERO * RD + d] = 0.0f;
    return x;
}

static void par_l2norm(void) {
    int N = RN, D = RD;
    printf("l2norm[%s] N=%d D=%d, row %d zero\n", G->name, N, D, RZERO);
    size_t nd = (size_t)N * D;
    float *a = rows_make(1), *da = dput(a, nd * 4);
    float *o = test_zeros(nd), *nr = test_zeros(N), *dO = dput(NULL, nd * 4), *dnr = dput(NULL, N * 4);
    Cp->l2norm_forward(o, nr, a, N, D);
    G->l2norm_forward(dO, dnr, da, N, D);
    CMP_ACT("l2norm_forward out", dO, o, nd);
    CMP_F32("l2norm_forward norm", dnr, nr, N);
    float *g = hrnd(nd, -1, 1), *acc = hrnd(nd, -1, 1);
    for (int d = 0; d < D; d++) g[(size_t)RZERO * D + d] = 1e-14f; /* keep the clamp branch finite */
    float *dg = dput(g, nd * 4), *dacc = dput(acc, nd * 4);
    G->to_device(dO, o, nd * 4);
    G->to_device(dnr, nr, N * 4);
    Cp->l2norm_backward(acc, g, o, nr, N, D);
    G->l2norm_backward(dacc, dg, dO, dnr, N, D);
    CMP_ACT("l2norm_backward", dacc, acc, nd);
    void *dev[] = {da, dO, dnr, dg, dacc};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(a); free(o); free(nr); free(g); free(acc);
}

static void par_cosine(void) {
    int N = RN, D = RD;
    printf("cosine[%s] N=%d D=%d, row %d of a zero\n", G->name, N, D, RZERO);
    size_t nd = (size_t)N * D;
    float *a = rows_make(1), *b = rows_make(0);
    float *da = dput(a, nd * 4), *db = dput(b, nd * 4);
    float *cs = test_zeros(N), *dcs = dput(NULL, N * 4);
    Cp->cosine_forward(cs, a, b, N, D);
    G->cosine_forward(dcs, da, db, N, D);
    CMP_F32("cosine_forward", dcs, cs, N);
    float *gc = hrnd(N, -1, 1), *ga = hrnd(nd, -1, 1), *gb = hrnd(nd, -1, 1);
    /* row 5 (a = 0) takes the clamp branch, da += dcos/eps * b: with dcos of
     * order 1 that row is ~1e8 and the normalised error would not see the
     * other rows at all; dcos = eps keeps it of order 1 */
    gc[RZERO] = 1e-8f;
    float *dgc = dput(gc, N * 4), *dga = dput(ga, nd * 4), *dgb = dput(gb, nd * 4);
    G->to_device(dcs, cs, N * 4);
    Cp->cosine_backward(ga, gb, gc, a, b, cs, N, D);
    G->cosine_backward(dga, dgb, dgc, da, db, dcs, N, D);
    CMP_ACT("cosine_backward da", dga, ga, nd);
    CMP_ACT("cosine_backward db", dgb, gb, nd);
    void *dev[] = {da, db, dcs, dgc, dga, dgb};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(a); free(b); free(cs); free(gc); free(ga); free(gb);
}

static void par_crossentropy(void) {
    int Vs[] = {7, 1000};
    for (int k = 0; k < 2; k++) {
        int N = 512, V = Vs[k];
        printf("crossentropy[%s] N=%d V=%d\n", G->name, N, V);
        size_t nv = (size_t)N * V;
        float *x = hrnd(nv, -8, 8);
        int *t = malloc(sizeof(int) * N);
        for (int i = 0; i < N; i++) t[i] = (i % 5 == 0) ? -100 : (int)(test_rand_u64(&prng) % (uint64_t)V);
        float *loss = test_zeros(N), *pr = test_zeros(nv);
        Cp->crossentropy_forward(loss, pr, x, t, N, V);
        float *dx = dput(x, nv * 4), *dl = dput(NULL, N * 4), *dp = dput(NULL, nv * 4);
        int *dt = dput(t, sizeof(int) * N);
        G->crossentropy_forward(dl, dp, dx, dt, N, V);
        CMP_F32("crossentropy_forward losses", dl, loss, N);
        CMP_F32("crossentropy_forward probs", dp, pr, nv);
        float *acc = hrnd(nv, -1, 1), *da = dput(acc, nv * 4);
        G->to_device(dp, pr, nv * 4);
        Cp->crossentropy_backward(acc, pr, t, N, V, 0.125f);
        G->crossentropy_backward(da, dp, dt, N, V, 0.125f);
        CMP_ACT("crossentropy_backward", da, acc, nv);
        G->free(dx); G->free(dl); G->free(dp); G->free(dt); G->free(da);
        free(x); free(t); free(loss); free(pr); free(acc);
    }
}

static void par_adamw(void) {
    size_t n = 3 * 1000 * 1000 + 17;
    printf("adamw/sumsq[%s] n=%zu\n", G->name, n);
    AdamSpan sp[4] = {
        {0, 1000, 1e-3f, 0.01f},
        {1000, 768, 2e-3f, 0.0f},
        {2000, 2 * 1000 * 1000, 5e-4f, 0.01f}, /* gap 1768..2000 stays untouched */
        {2002000, n - 2002000, 1e-4f, 0.1f},
    };
    float *p = hrnd(n, -1, 1), *g = hrnd(n, -1, 1), *m = hrnd(n, -0.1f, 0.1f), *v = hrnd(n, 0, 0.01f);
    float *dp = dput(p, n * 4), *dg = dput(g, n * 4), *dm = dput(m, n * 4), *dv = dput(v, n * 4);
    for (int t = 1; t <= 3; t++) {
        Cp->adamw_update(p, g, m, v, sp, 4, 0.9f, 0.999f, 1e-8f, t);
        G->adamw_update(dp, dg, dm, dv, sp, 4, 0.9f, 0.999f, 1e-8f, t);
    }
    CMP_F32("adamw params", dp, p, n);
    CMP_F32("adamw m", dm, m, n);
    CMP_F32("adamw v", dv, v, n);
    double sc = Cp->sumsq(g, sp, 4), sg = G->sumsq(dg, sp, 4), sg2 = G->sumsq(dg, sp, 4);
    printf("  sumsq cpu %.17g %s %.17g\n", sc, G->name, sg);
    CHECKF(fabs(sc - sg) <= 1e-9 * fabs(sc), "sumsq %.17g vs %.17g", sg, sc);
    CHECKF(sg == sg2, "sumsq not deterministic");
    G->free(dp); G->free(dg); G->free(dm); G->free(dv);
    free(p); free(g); free(m); free(v);
}

static void par_memory(void) {
    /* alloc is zeroed; copy/zero move the right bytes */
    size_t n = 1 << 20;
    float *d = G->alloc(n * 4);
    CHECK(d != NULL);
    float *h = dget(d, n);
    int zero = 1;
    for (size_t i = 0; i < n; i++) zero &= h[i] == 0.0f;
    CHECKF(zero, "alloc did not zero");
    float *x = hrnd(n, -1, 1), *d2 = dput(x, n * 4);
    G->copy(d, d2, n * 4);
    G->zero(d2, 16);
    float *y = dget(d, n), *z = dget(d2, 4);
    CHECK(memcmp(x, y, n * 4) == 0);
    CHECK(z[0] == 0.0f && z[3] == 0.0f);
    G->synchronize();
    G->free(d); G->free(d2);
    free(h); free(x); free(y); free(z);
}

/* ---- parity groups of several shapes ---- */

static void par_matmul(void) {
    par_matmul_one(512, 256, 768, 1, 0);
    par_matmul_one(512, 256, 3, 1, 1);   /* classifier, misaligned bias */
    par_matmul_one(300, 1024, 256, 0, 0); /* no bias, odd N */
    par_matmul_churn();
}

static void par_attention(void) {
    par_attention_one(4, 128, 256, 4, 0.0f, 0);
    par_attention_one(4, 128, 256, 4, 0.1f, 0);
    par_attention_one(2, 512, 256, 4, 0.0f, 0);
    par_attention_one(2, 512, 256, 4, 0.1f, 0);
    par_attention_one(2, 100, 256, 8, 0.1f, 0); /* hd 32, T not a tile multiple */
    par_attention_one(3, 70, 256, 16, 0.1f, 1); /* hd 16 (1 thread a row), empty sequence */
    par_attention_one(3, 90, 256, 2, 0.1f, 1);  /* hd 128 (8 threads a row), empty sequence */
    par_attention_one(2, 77, 192, 4, 0.1f, 0);  /* hd 48: general fallback */
    par_attention_one(3, 40, 192, 4, 0.1f, 1);  /* fallback, empty sequence */
}

/* ================================================================ the cases */

/* every field of the table set */
static int all_fields(const Ops *T) {
    return T->alloc && T->free && T->to_device && T->to_host && T->copy && T->zero &&
           T->embedding_forward && T->embedding_backward && T->layernorm_forward &&
           T->layernorm_backward && T->matmul_forward && T->matmul_backward &&
           T->attention_forward && T->attention_backward && T->attention_scratch_floats &&
           T->gelu_forward && T->gelu_backward && T->matmul_gelu_forward &&
           T->gelu_bias_backward && T->tanh_forward && T->tanh_backward && T->add &&
           T->accumulate && T->scale && T->dropout_forward && T->dropout_backward &&
           T->pool_forward && T->pool_backward && T->l2norm_forward && T->l2norm_backward &&
           T->crossentropy_forward && T->crossentropy_backward && T->cosine_forward &&
           T->cosine_backward && T->adamw_update && T->sumsq && T->synchronize && T->set_threads;
}
static const char *g_want_name; /* the name the table under test should carry */
static void ref_fields(void) { CHECK(all_fields(O)); }
static void par_fields(void) {
    CHECK(all_fields(G));
    CHECKF(strcmp(G->name, g_want_name) == 0, "table name '%s', expected '%s'", G->name, g_want_name);
}

/* the same results with one thread (deterministic kernels) */
static void ref_threads(void) {
    O->set_threads(1);
    ref_attention();
    ref_dropout();
    O->set_threads(2);
}

#define OP(f) offsetof(Ops, f)
#define MAX_USES 8
typedef struct {
    const char *group, *name;
    void (*ref)(void);    /* the CPU table (O); NULL: nothing to check there */
    void (*parity)(void); /* a device table (G) against the CPU (Cp); NULL: likewise */
    /* the Ops fields the case is about (offset 0, the name, ends the
     * list): on a device table the case is skipped when all of them are
     * the functions of a table checked before; none: never skipped */
    size_t uses[MAX_USES];
} OpCase;

static const OpCase k_cases[] = {
    {"memory", "fields", ref_fields, par_fields, {0}},
    {"memory", "memory", ref_memory, par_memory,
     {OP(alloc), OP(free), OP(to_device), OP(to_host), OP(copy), OP(zero), OP(synchronize)}},
    {"embedding", "embedding", ref_embedding, par_embedding,
     {OP(embedding_forward), OP(embedding_backward)}},
    {"layernorm", "layernorm", ref_layernorm, par_layernorm,
     {OP(layernorm_forward), OP(layernorm_backward)}},
    {"matmul", "matmul", ref_matmul, par_matmul, {OP(matmul_forward), OP(matmul_backward)}},
    {"attention", "attention", ref_attention, par_attention,
     {OP(attention_forward), OP(attention_backward), OP(attention_scratch_floats)}},
    {"elementwise", "gelu_tanh", ref_gelu_tanh, par_gelu_tanh,
     {OP(gelu_forward), OP(gelu_backward), OP(tanh_forward), OP(tanh_backward)}},
    {"elementwise", "ffn", ref_ffn, par_ffn, {OP(matmul_gelu_forward), OP(gelu_bias_backward)}},
    {"elementwise", "arith", ref_arith, par_arith, {OP(add), OP(accumulate), OP(scale)}},
    {"elementwise", "dropout", ref_dropout, par_dropout,
     {OP(dropout_forward), OP(dropout_backward), OP(copy)}},
    {"pool", "pool", ref_pool, par_pool, {OP(pool_forward), OP(pool_backward)}},
    {"pool", "l2norm", ref_l2norm, par_l2norm, {OP(l2norm_forward), OP(l2norm_backward)}},
    {"pool", "cosine", ref_cosine, par_cosine, {OP(cosine_forward), OP(cosine_backward)}},
    {"loss", "crossentropy", ref_crossentropy, par_crossentropy,
     {OP(crossentropy_forward), OP(crossentropy_backward)}},
    {"adamw", "adamw", ref_adamw, par_adamw, {OP(adamw_update), OP(sumsq)}},
    {"threads", "threads", ref_threads, NULL, {0}},
};
#define NCASES ((int)(sizeof k_cases / sizeof *k_cases))

/* ================================================================ tables */

typedef struct {
    const char *name;           /* as --backend spells it, and the table's name */
    BackendChoice backend;
    PrecisionChoice precision;
    int device;                 /* parity checks (else ref) */
    double tol, tol_linear, tol_act; /* fp32 outputs, linear layers, other activations */
    int bf16_acts;              /* activations stored rounded to bf16 (storage checked) */
} TableSpec;

static const TableSpec k_tables[] = {
    {"cpu", BACKEND_CPU, PRECISION_FP32, 0, 0, 0, 0, 0},
    {"cuda", BACKEND_CUDA, PRECISION_FP32, 1, 1e-5, 1e-5, 1e-5, 0},
    {"cuda-bf16", BACKEND_CUDA, PRECISION_BF16, 1, 1e-5, 1e-2, 1e-5, 0},
    {"cpu-self", BACKEND_CPU, PRECISION_FP32, 1, 1e-12, 1e-12, 1e-12, 0},
    /* fp32 outputs bit-identical to the fp32 table (error < 1e-30: zero) */
    {"cpu-bf16", BACKEND_CPU, PRECISION_BF16, 1, 1e-30, 1e-2, 1e-2, 1},
};
#define NTABLES ((int)(sizeof k_tables / sizeof *k_tables))

/* ================================================================ arguments */

static int g_want_case[NCASES];
static int g_want_table[NTABLES];

/* marks the cases named by (or in the group named by) name[0..len): 0, or
 * -1 for an unknown name */
static int pick_case(const char *name, size_t len) {
    int found = 0;
    for (int i = 0; i < NCASES; i++)
        if ((strlen(k_cases[i].name) == len && !strncmp(k_cases[i].name, name, len)) ||
            (strlen(k_cases[i].group) == len && !strncmp(k_cases[i].group, name, len)))
            g_want_case[i] = found = 1;
    return found ? 0 : -1;
}

static int pick_table(const char *name, size_t len) {
    if (len == 3 && !strncmp(name, "all", 3)) {
        for (int i = 0; i < NTABLES; i++) g_want_table[i] |= strcmp(k_tables[i].name, "cpu-self") != 0;
        return 0;
    }
    for (int i = 0; i < NTABLES; i++)
        if (strlen(k_tables[i].name) == len && !strncmp(k_tables[i].name, name, len)) {
            g_want_table[i] = 1;
            return 0;
        }
    return -1;
}

static void list_names(void) {
    fprintf(stderr, "  backends: all");
    for (int i = 0; i < NTABLES; i++) fprintf(stderr, " %s", k_tables[i].name);
    fprintf(stderr, "\n  cases:");
    for (int i = 0; i < NCASES; i++) fprintf(stderr, " %s", k_cases[i].name);
    fprintf(stderr, "\n  groups:");
    for (int i = 0; i < NCASES; i++)
        if (i == 0 || strcmp(k_cases[i].group, k_cases[i - 1].group))
            fprintf(stderr, " %s", k_cases[i].group);
    fputc('\n', stderr);
}

/* a comma- or space-separated list of names: 0, or -1 (message printed) */
static int pick_list(const char *list, int tables) {
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ", ");
        if (len && (tables ? pick_table(p, len) : pick_case(p, len))) {
            fprintf(stderr, "test_ops: unknown %s '%.*s'\n", tables ? "backend" : "case or group",
                    (int)len, p);
            list_names();
            return -1;
        }
        p += len;
        while (*p == ',' || *p == ' ') p++;
    }
    return 0;
}

/* 0, or 2 for bad arguments */
static int parse_args(int argc, char **argv) {
    const char *only = getenv("MTBERT_TEST_ONLY");
    if (only && pick_list(only, 0)) return 2;
    int any_table = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--backend") || !strncmp(a, "--backend=", 10)) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v || !*v) {
                fprintf(stderr, "test_ops: --backend needs a value\n");
                list_names();
                return 2;
            }
            if (pick_list(v, 1)) return 2;
            any_table = 1;
        } else if (a[0] == '-') {
            fprintf(stderr, "test_ops: unknown option %s (usage: test_ops [--backend LIST] [CASE|GROUP ...])\n", a);
            list_names();
            return 2;
        } else if (pick_list(a, 0)) {
            return 2;
        }
    }
    if (!any_table) g_want_table[0] = 1; /* cpu */
    int any_case = 0;
    for (int i = 0; i < NCASES; i++) any_case |= g_want_case[i];
    if (!any_case)
        for (int i = 0; i < NCASES; i++) g_want_case[i] = 1;
    return 0;
}

/* ================================================================ driver */

/* the device tables checked so far in this run */
static const Ops *g_done[NTABLES];
static int g_ndone;

static int same_op(const Ops *a, const Ops *b, size_t off) {
    return memcmp((const char *)a + off, (const char *)b + off, sizeof(void (*)(void))) == 0;
}

/* the name of a table checked earlier in which every op of case c is the
 * same function as in T, or NULL */
static const char *checked_before(const OpCase *c, const Ops *T) {
    if (!c->uses[0]) return NULL;
    for (int k = 0; k < g_ndone; k++) {
        int same = 1;
        for (int u = 0; u < MAX_USES && c->uses[u]; u++) same &= same_op(T, g_done[k], c->uses[u]);
        if (same) return g_done[k]->name;
    }
    return NULL;
}

/* runs the wanted cases on one table; prints its count */
static void run_table(const TableSpec *spec, const Ops *T) {
    int checks0 = test_checks, fail0 = test_failures;
    printf("=== table %s (%s checks%s)\n", spec->name, spec->device ? "parity" : "ref",
           spec->device ? ", against cpu" : "");
    if (spec->device) {
        G = T;
        g_tol = spec->tol;
        g_tol_lin = spec->tol_linear;
        g_tol_act = spec->tol_act;
        g_bf16_acts = spec->bf16_acts;
        g_want_name = T == Cp ? "cpu" : spec->name;
    } else {
        O = T;
    }
    for (int i = 0; i < NCASES; i++) {
        const OpCase *c = &k_cases[i];
        void (*fn)(void) = spec->device ? c->parity : c->ref;
        if (!g_want_case[i] || !fn) continue;
        const char *dup = spec->device ? checked_before(c, T) : NULL;
        if (dup) {
            printf("--- %s [%s]: skipped, the same functions as in table %s\n", c->name, spec->name, dup);
            continue;
        }
        printf("--- %s [%s]\n", c->name, spec->name);
        fn();
    }
    if (spec->device) g_done[g_ndone++] = T;
    printf("=== table %s: %d checks, %d failed\n", spec->name, test_checks - checks0,
           test_failures - fail0);
}

int main(int argc, char **argv) {
    unsetenv("MTBERT_CUDA_TF32"); /* fp32 tolerances assume TF32 off */
    int rc = parse_args(argc, argv);
    if (rc) return rc;
    char err[256];
    Cp = ops_select(BACKEND_CPU, PRECISION_FP32, err, sizeof err);
    CHECK(Cp != NULL);
    if (!Cp) return test_finish("test_ops");
    int ran = 0;
    char skipped[1024] = "";
    for (int i = 0; i < NTABLES; i++) {
        if (!g_want_table[i]) continue;
        const TableSpec *spec = &k_tables[i];
        const Ops *T = ops_select(spec->backend, spec->precision, err, sizeof err);
        if (!T) {
            printf("=== table %s: not present here (%s)\n", spec->name, err);
            size_t used = strlen(skipped);
            snprintf(skipped + used, sizeof skipped - used, "%s%s: %s", used ? "; " : "", spec->name, err);
            continue;
        }
        run_table(spec, T);
        ran++;
    }
    if (!ran) return test_skip(skipped);
    return test_finish("test_ops");
}
