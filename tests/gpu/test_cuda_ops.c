/* test_cuda_ops.c — the CUDA op table against the CPU reference (ops_cpu)
 * on the same random inputs, op by op, forward and backward.
 *
 * Error measure: max |gpu - cpu| / max(max |cpu|, 1e-3) per tensor (the
 * element-wise relative error with a 1e-3 floor is printed too). Bounds:
 * 1e-5 for the fp32 table, 1e-2 for the bf16 linear layers. Also checked:
 * padded query rows of attention are exactly zero, nothing is NaN, dropout
 * masks are bit-identical to the CPU's, and every backward (embedding
 * included) gives bit-identical results when run twice.
 *
 * Skipped (exit 77) when no CUDA GPU is present or the build has no CUDA.
 *
 * Arguments (or MTBERT_TEST_ONLY, comma-separated) pick groups of cases:
 * memory embedding layernorm matmul attention elementwise pool loss adamw
 * bf16; none means all. `test_cuda_ops attention` runs the attention cases
 * only (what tests/gpu/run_gpu_tests.sh gives racecheck). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "tests/unit/testutil.h"
#ifdef MTBERT_HAVE_CUDA
#include "kernels/cuda/ops_cuda.h"
#endif

static const Ops *G, *Cp;
static uint64_t rng = 0xc0dacafeull;

#define TOL32 1e-5

static float *hrnd(size_t n, float lo, float hi) { return test_uniform(n, &rng, lo, hi); }
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

static int has_nan(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i]) || isinf(x[i])) return 1;
    return 0;
}

/* compare a device tensor with a host reference */
static double cmp_dev(const char *what, const float *dgpu, const float *cpu, size_t n, double tol) {
    float *g = dget(dgpu, n);
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs((double)cpu[i]));
    double err = test_max_abs_err(g, cpu, n) / fmax(mx, 1e-3);
    double rel = test_max_rel_err(g, cpu, n, 1e-3);
    printf("  %-34s n=%-9zu norm-err %.3e  elem-rel %.3e\n", what, n, err, rel);
    CHECKF(!has_nan(g, n), "%s: NaN/Inf in GPU result", what);
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

/* ---------------------------------------------------------------- */

static void test_embedding(void) {
    int B = 4, T = 128, C = 256, V = 97, MP = 512, TY = 2;
    size_t N = (size_t)B * T;
    printf("embedding B=%d T=%d C=%d vocab=%d\n", B, T, C, V);
    int *ids = malloc(sizeof(int) * N), *tt = malloc(sizeof(int) * N);
    for (size_t i = 0; i < N; i++) {
        ids[i] = (int)(test_rand_u64(&rng) % (uint64_t)V); /* many repeats */
        tt[i] = (int)(test_rand_u64(&rng) % (uint64_t)TY);
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
    cmp_dev("embedding_forward", dout_g, out, N * C, TOL32);

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
    cmp_dev("embedding_backward dwte", d1, gte, (size_t)V * C, TOL32);
    cmp_dev("embedding_backward dwpe", d2, gpe, (size_t)MP * C, TOL32);
    cmp_dev("embedding_backward dwtt", d3, gtt, (size_t)TY * C, TOL32);
    same_bits("embedding_backward dwte", d1, e1, sizeof(float) * V * C);
    same_bits("embedding_backward dwpe", d2, e2, sizeof(float) * MP * C);
    same_bits("embedding_backward dwtt", d3, e3, sizeof(float) * TY * C);

    /* NULL type ids (all type 0) and NULL gradients */
    float *g0 = test_zeros((size_t)TY * C);
    float *dg0 = dput(NULL, sizeof(float) * TY * C);
    Cp->embedding_backward(NULL, NULL, g0, dout, ids, NULL, B, T, C);
    G->embedding_backward(NULL, NULL, dg0, ddout, dids, NULL, B, T, C);
    cmp_dev("embedding_backward dwtt (no type ids)", dg0, g0, (size_t)TY * C, TOL32);

    /* realistic vocabulary size, ids spread out */
    int V2 = 30522;
    for (size_t i = 0; i < N; i++) ids[i] = (int)(test_rand_u64(&rng) % (uint64_t)V2);
    ids[5] = ids[7] = ids[300] = 42;
    float *big = test_zeros((size_t)V2 * C);
    float *dbig = dput(NULL, sizeof(float) * V2 * C), *ebig = dput(NULL, sizeof(float) * V2 * C);
    G->to_device(dids, ids, sizeof(int) * N);
    Cp->embedding_backward(big, NULL, NULL, dout, ids, tt, B, T, C);
    G->embedding_backward(dbig, NULL, NULL, ddout, dids, dtt, B, T, C);
    G->embedding_backward(ebig, NULL, NULL, ddout, dids, dtt, B, T, C);
    cmp_dev("embedding_backward dwte (V=30522)", dbig, big, (size_t)V2 * C, TOL32);
    same_bits("embedding_backward dwte (V=30522)", dbig, ebig, sizeof(float) * V2 * C);

    void *dev[] = {dids, dtt, dwte, dwpe, dwtt, ddout, dout_g, d1, d2, d3, e1, e2, e3, dg0, dbig, ebig};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(ids); free(tt); free(wte); free(wpe); free(wtt); free(dout); free(out);
    free(gte); free(gpe); free(gtt); free(g0); free(big);
}

static void test_layernorm(void) {
    int N = 512, C = 256;
    printf("layernorm N=%d C=%d\n", N, C);
    size_t NC = (size_t)N * C;
    float *x = hrnd(NC, -2, 3), *w = hrnd(C, 0.5f, 1.5f), *b = hrnd(C, -0.5f, 0.5f);
    float *out = test_zeros(NC), *mean = test_zeros(N), *rstd = test_zeros(N);
    Cp->layernorm_forward(out, mean, rstd, x, w, b, N, C, 1e-12f);
    float *dx = dput(x, NC * 4), *dw = dput(w, C * 4), *db = dput(b, C * 4);
    float *dout_ = dput(NULL, NC * 4), *dmean = dput(NULL, N * 4), *drstd = dput(NULL, N * 4);
    G->layernorm_forward(dout_, dmean, drstd, dx, dw, db, N, C, 1e-12f);
    cmp_dev("layernorm_forward out", dout_, out, NC, TOL32);
    cmp_dev("layernorm_forward mean", dmean, mean, N, TOL32);
    cmp_dev("layernorm_forward rstd", drstd, rstd, N, TOL32);

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
    cmp_dev("layernorm_backward dinp", a1, gi, NC, TOL32);
    cmp_dev("layernorm_backward dw", a2, gw, C, TOL32);
    cmp_dev("layernorm_backward db", a3, gb, C, TOL32);
    same_bits("layernorm_backward dinp", a1, b1, NC * 4);
    same_bits("layernorm_backward dw", a2, b2, C * 4);
    same_bits("layernorm_backward db", a3, b3, C * 4);
    void *dev[] = {dx, dw, db, dout_, dmean, drstd, dg, a1, a2, a3, b1, b2, b3};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(x); free(w); free(b); free(out); free(mean); free(rstd); free(g); free(gi); free(gw); free(gb);
}

/* linear layer on table T (fp32 or bf16) at tolerance tol; `misalign`
 * offsets the bias by one float (the non-epilogue path) */
static void test_matmul_one(const Ops *T, int N, int C, int OC, int with_bias, int misalign,
                            double tol) {
    printf("matmul[%s] N=%d C=%d OC=%d bias=%d misalign=%d\n", T->name, N, C, OC, with_bias, misalign);
    size_t nI = (size_t)N * C, nW = (size_t)OC * C, nO = (size_t)N * OC;
    float *x = hrnd(nI, -1, 1), *w = hrnd(nW, -1, 1), *bias = hrnd(OC + 1, -1, 1);
    float *out = test_zeros(nO);
    const float *hb = with_bias ? bias + misalign : NULL;
    Cp->matmul_forward(out, x, w, hb, N, C, OC);
    float *dx = dput(x, nI * 4), *dw = dput(w, nW * 4), *dbias = dput(bias, (OC + 1) * 4);
    float *dout_ = dput(NULL, nO * 4);
    T->matmul_forward(dout_, dx, dw, with_bias ? dbias + misalign : NULL, N, C, OC);
    cmp_dev("matmul_forward", dout_, out, nO, tol);

    float *g = hrnd(nO, -1, 1), *gi = hrnd(nI, -1, 1), *gw = hrnd(nW, -1, 1), *gb = hrnd(OC, -1, 1);
    float *dg = dput(g, nO * 4), *a1 = dput(gi, nI * 4), *a2 = dput(gw, nW * 4), *a3 = dput(gb, OC * 4);
    float *b1 = dput(gi, nI * 4), *b2 = dput(gw, nW * 4), *b3 = dput(gb, OC * 4);
    Cp->matmul_backward(gi, gw, gb, g, x, w, N, C, OC);
    T->matmul_backward(a1, a2, a3, dg, dx, dw, N, C, OC);
    T->matmul_backward(b1, b2, b3, dg, dx, dw, N, C, OC);
    cmp_dev("matmul_backward dinp", a1, gi, nI, tol);
    cmp_dev("matmul_backward dw", a2, gw, nW, tol);
    cmp_dev("matmul_backward dbias", a3, gb, OC, TOL32); /* fp32 in both tables */
    same_bits("matmul_backward dinp", a1, b1, nI * 4);
    same_bits("matmul_backward dw", a2, b2, nW * 4);
    same_bits("matmul_backward dbias", a3, b3, OC * 4);
    /* NULL outputs are skipped: only dw requested */
    float *c2 = dput(NULL, nW * 4);
    float *zw = test_zeros(nW);
    Cp->matmul_backward(NULL, zw, NULL, g, x, w, N, C, OC);
    T->matmul_backward(NULL, c2, NULL, dg, dx, dw, N, C, OC);
    cmp_dev("matmul_backward dw only", c2, zw, nW, tol);
    void *dev[] = {dx, dw, dbias, dout_, dg, a1, a2, a3, b1, b2, b3, c2};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(x); free(w); free(bias); free(out); free(g); free(gi); free(gw); free(gb); free(zw);
}

/* More distinct GEMM shapes than the plan cache holds (256): every one
 * right, also those asked for again after their plans were evicted. */
static void test_matmul_churn(void) {
    int C = 32, OC = 24, NMAX = 300;
    printf("matmul plan-cache churn: N=1..%d, C=%d OC=%d, then N=1..40 again\n", NMAX, C, OC);
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
            if (!(err < TOL32) || has_nan(g, (size_t)N * OC)) bad++;
            free(g);
        }
    printf("  worst norm-err %.3e over %d products\n", worst, NMAX + 40);
    CHECKF(bad == 0, "%d of %d products past the plan cache's capacity are wrong", bad, NMAX + 40);
    G->free(dx); G->free(dw); G->free(db); G->free(dout_);
    free(x); free(w); free(bias); free(out);
}

/* `empty`: sequence B-1 is all padding (no real key at all) */
static void test_attention_one(const Ops *T, int B, int Tn, int C, int NH, float p, int empty,
                               double tol) {
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
    cmp_dev("attention_forward", dout_, out, nO, tol);
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
    cmp_dev("attention_backward dqkv", a1, gq, nqkv, tol);
    same_bits("attention_backward dqkv", a1, b1, nqkv * 4);
    /* forward twice: bit-identical too */
    float *dout2 = dput(NULL, nO * 4);
    T->attention_forward(dout2, datt, dqkv, dmask, B, Tn, C, NH, p, seed, off);
    same_bits("attention_forward", dout_, dout2, nO * 4);
    void *dev[] = {dmask, dqkv, dout_, datt, dg, a1, b1, dout2};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(mask); free(qkv); free(out); free(att); free(junk); free(go); free(g); free(gq);
}

static void test_elementwise(void) {
    size_t n = (size_t)4 * 128 * 1024 + 3; /* not a multiple of 4 */
    printf("elementwise n=%zu\n", n);
    float *x = hrnd(n, -6, 6), *y = hrnd(n, -1, 1), *g = hrnd(n, -1, 1), *acc = hrnd(n, -1, 1);
    float *dx = dput(x, n * 4), *dy = dput(y, n * 4), *dg = dput(g, n * 4);
    float *r = test_zeros(n), *dr = dput(NULL, n * 4);
    for (int kind = 0; kind < 2; kind++) {
        Cp->gelu_forward(r, x, n, kind);
        G->gelu_forward(dr, dx, n, kind);
        cmp_dev(kind ? "gelu_forward tanh" : "gelu_forward erf", dr, r, n, TOL32);
        float *ha = test_copy(acc, n), *da = dput(acc, n * 4);
        Cp->gelu_backward(ha, x, g, n, kind);
        G->gelu_backward(da, dx, dg, n, kind);
        cmp_dev(kind ? "gelu_backward tanh" : "gelu_backward erf", da, ha, n, TOL32);
        G->free(da);
        free(ha);
    }
    Cp->tanh_forward(r, x, n);
    G->tanh_forward(dr, dx, n);
    cmp_dev("tanh_forward", dr, r, n, TOL32);
    {
        float *ha = test_copy(acc, n), *da = dput(acc, n * 4);
        Cp->tanh_backward(ha, r, g, n);
        G->to_device(dr, r, n * 4);
        G->tanh_backward(da, dr, dg, n);
        cmp_dev("tanh_backward", da, ha, n, TOL32);
        G->free(da);
        free(ha);
    }
    Cp->add(r, x, y, n);
    G->add(dr, dx, dy, n);
    cmp_dev("add", dr, r, n, TOL32);
    {
        float *ha = test_copy(acc, n), *da = dput(acc, n * 4);
        Cp->accumulate(ha, x, n);
        G->accumulate(da, dx, n);
        cmp_dev("accumulate", da, ha, n, TOL32);
        Cp->scale(ha, 0.37f, n);
        G->scale(da, 0.37f, n);
        cmp_dev("scale", da, ha, n, TOL32);
        G->free(da);
        free(ha);
    }
    /* dropout: bit-identical masks, odd offsets and lengths */
    uint64_t offs[] = {0, 3, 1000001};
    for (int k = 0; k < 3; k++) {
        Cp->dropout_forward(r, x, n, 0.1f, 99, offs[k]);
        G->dropout_forward(dr, dx, n, 0.1f, 99, offs[k]);
        float *gr = dget(dr, n);
        CHECKF(memcmp(gr, r, n * 4) == 0, "dropout_forward offset %llu differs from the CPU",
               (unsigned long long)offs[k]);
        free(gr);
        float *ha = test_copy(acc, n), *da = dput(acc, n * 4);
        Cp->dropout_backward(ha, g, n, 0.1f, 99, offs[k]);
        G->dropout_backward(da, dg, n, 0.1f, 99, offs[k]);
        cmp_dev("dropout_backward", da, ha, n, TOL32);
        G->free(da);
        free(ha);
    }
    /* in place */
    G->copy(dr, dx, n * 4);
    G->dropout_forward(dr, dr, n, 0.25f, 5, 11);
    Cp->dropout_forward(r, x, n, 0.25f, 5, 11);
    cmp_dev("dropout_forward in place", dr, r, n, 0.0 + 1e-30);
    G->free(dx); G->free(dy); G->free(dg); G->free(dr);
    free(x); free(y); free(g); free(acc); free(r);
}

static void test_pool(void) {
    int B = 4, T = 128, C = 256;
    printf("pool/l2norm/cosine B=%d T=%d C=%d\n", B, T, C);
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
        cmp_dev(what, dout_, out, (size_t)B * C, TOL32);
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
        cmp_dev(what, da, acc, n, TOL32);
        G->free(dout_); G->free(dam); G->free(dg); G->free(da);
        free(out); free(am); free(g); free(acc);
    }
    /* l2norm and cosine on (N, D) with a zero row (the clamps) */
    int N = 64, D = 256;
    size_t nd = (size_t)N * D;
    float *a = hrnd(nd, -1, 1), *b = hrnd(nd, -1, 1);
    for (int d = 0; d < D; d++) a[(size_t)5 * D + d] = 0.0f;
    float *da = dput(a, nd * 4), *db = dput(b, nd * 4);
    float *o = test_zeros(nd), *nr = test_zeros(N), *dO = dput(NULL, nd * 4), *dnr = dput(NULL, N * 4);
    Cp->l2norm_forward(o, nr, a, N, D);
    G->l2norm_forward(dO, dnr, da, N, D);
    cmp_dev("l2norm_forward out", dO, o, nd, TOL32);
    cmp_dev("l2norm_forward norm", dnr, nr, N, TOL32);
    float *g = hrnd(nd, -1, 1), *acc = hrnd(nd, -1, 1);
    for (int d = 0; d < D; d++) g[(size_t)5 * D + d] = 1e-14f; /* keep the clamp branch finite */
    float *dg = dput(g, nd * 4), *dacc = dput(acc, nd * 4);
    G->to_device(dO, o, nd * 4);
    G->to_device(dnr, nr, N * 4);
    Cp->l2norm_backward(acc, g, o, nr, N, D);
    G->l2norm_backward(dacc, dg, dO, dnr, N, D);
    cmp_dev("l2norm_backward", dacc, acc, nd, TOL32);

    float *cs = test_zeros(N), *dcs = dput(NULL, N * 4);
    Cp->cosine_forward(cs, a, b, N, D);
    G->cosine_forward(dcs, da, db, N, D);
    cmp_dev("cosine_forward", dcs, cs, N, TOL32);
    float *gc = hrnd(N, -1, 1), *ga = hrnd(nd, -1, 1), *gb = hrnd(nd, -1, 1);
    /* row 5 (a = 0) takes the clamp branch, da += dcos/eps * b: with dcos of
     * order 1 that row is ~1e8 and the normalised error would not see the
     * other rows at all; dcos = eps keeps it of order 1 */
    gc[5] = 1e-8f;
    float *dgc = dput(gc, N * 4), *dga = dput(ga, nd * 4), *dgb = dput(gb, nd * 4);
    G->to_device(dcs, cs, N * 4);
    Cp->cosine_backward(ga, gb, gc, a, b, cs, N, D);
    G->cosine_backward(dga, dgb, dgc, da, db, dcs, N, D);
    cmp_dev("cosine_backward da", dga, ga, nd, TOL32);
    cmp_dev("cosine_backward db", dgb, gb, nd, TOL32);
    void *dev[] = {dmask, dh, da, db, dO, dnr, dg, dacc, dcs, dgc, dga, dgb};
    for (size_t i = 0; i < sizeof dev / sizeof *dev; i++) G->free(dev[i]);
    free(mask); free(h); free(a); free(b); free(o); free(nr); free(g); free(acc);
    free(cs); free(gc); free(ga); free(gb);
}

static void test_loss(void) {
    int Vs[] = {7, 1000};
    for (int k = 0; k < 2; k++) {
        int N = 512, V = Vs[k];
        printf("crossentropy N=%d V=%d\n", N, V);
        size_t nv = (size_t)N * V;
        float *x = hrnd(nv, -8, 8);
        int *t = malloc(sizeof(int) * N);
        for (int i = 0; i < N; i++) t[i] = (i % 5 == 0) ? -100 : (int)(test_rand_u64(&rng) % (uint64_t)V);
        float *loss = test_zeros(N), *pr = test_zeros(nv);
        Cp->crossentropy_forward(loss, pr, x, t, N, V);
        float *dx = dput(x, nv * 4), *dl = dput(NULL, N * 4), *dp = dput(NULL, nv * 4);
        int *dt = dput(t, sizeof(int) * N);
        G->crossentropy_forward(dl, dp, dx, dt, N, V);
        cmp_dev("crossentropy_forward losses", dl, loss, N, TOL32);
        cmp_dev("crossentropy_forward probs", dp, pr, nv, TOL32);
        float *acc = hrnd(nv, -1, 1), *da = dput(acc, nv * 4);
        G->to_device(dp, pr, nv * 4);
        Cp->crossentropy_backward(acc, pr, t, N, V, 0.125f);
        G->crossentropy_backward(da, dp, dt, N, V, 0.125f);
        cmp_dev("crossentropy_backward", da, acc, nv, TOL32);
        G->free(dx); G->free(dl); G->free(dp); G->free(dt); G->free(da);
        free(x); free(t); free(loss); free(pr); free(acc);
    }
}

static void test_adamw(void) {
    size_t n = 3 * 1000 * 1000 + 17;
    printf("adamw/sumsq n=%zu\n", n);
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
    cmp_dev("adamw params", dp, p, n, TOL32);
    cmp_dev("adamw m", dm, m, n, TOL32);
    cmp_dev("adamw v", dv, v, n, TOL32);
    double sc = Cp->sumsq(g, sp, 4), sg = G->sumsq(dg, sp, 4), sg2 = G->sumsq(dg, sp, 4);
    printf("  sumsq cpu %.17g gpu %.17g\n", sc, sg);
    CHECKF(fabs(sc - sg) <= 1e-9 * fabs(sc), "sumsq %.17g vs %.17g", sg, sc);
    CHECKF(sg == sg2, "sumsq not deterministic");
    G->free(dp); G->free(dg); G->free(dm); G->free(dv);
    free(p); free(g); free(m); free(v);
}

static void test_memory(void) {
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

/* ---- case groups picked on the command line ---- */
static const char *const k_groups[] = {"memory", "embedding", "layernorm", "matmul", "attention",
                                       "elementwise", "pool", "loss", "adamw", "bf16"};
#define NGROUPS ((int)(sizeof k_groups / sizeof *k_groups))
static int g_want[NGROUPS];

static int group_index(const char *name, size_t len) {
    for (int i = 0; i < NGROUPS; i++)
        if (strlen(k_groups[i]) == len && strncmp(k_groups[i], name, len) == 0) return i;
    return -1;
}

/* 0, or -1 for an unknown name (message printed) */
static int pick(const char *list) {
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ", ");
        if (len) {
            int g = group_index(p, len);
            if (g < 0) {
                fprintf(stderr, "test_cuda_ops: unknown case group '%.*s' (groups:", (int)len, p);
                for (int i = 0; i < NGROUPS; i++) fprintf(stderr, " %s", k_groups[i]);
                fprintf(stderr, ")\n");
                return -1;
            }
            g_want[g] = 1;
        }
        p += len;
        while (*p == ',' || *p == ' ') p++;
    }
    return 0;
}

static int want(const char *group) {
    int any = 0;
    for (int i = 0; i < NGROUPS; i++) any |= g_want[i];
    int g = group_index(group, strlen(group));
    return !any || (g >= 0 && g_want[g]);
}

int main(int argc, char **argv) {
    unsetenv("MTBERT_CUDA_TF32"); /* fp32 tolerances assume TF32 off */
    const char *only = getenv("MTBERT_TEST_ONLY");
    if (only && pick(only)) return 2;
    for (int i = 1; i < argc; i++)
        if (pick(argv[i])) return 2;
    G = ops_cuda();
    if (!G) return test_skip("no CUDA GPU present (or built without CUDA)");
    Cp = ops_cpu();
    printf("backend %s vs %s\n", G->name, Cp->name);
    if (want("memory")) test_memory();
    if (want("embedding")) test_embedding();
    if (want("layernorm")) test_layernorm();
    if (want("matmul")) {
        test_matmul_one(G, 512, 256, 768, 1, 0, TOL32);
        test_matmul_one(G, 512, 256, 3, 1, 1, TOL32);   /* classifier, misaligned bias */
        test_matmul_one(G, 300, 1024, 256, 0, 0, TOL32); /* no bias, odd N */
        test_matmul_churn();
    }
    if (want("attention")) {
        test_attention_one(G, 4, 128, 256, 4, 0.0f, 0, TOL32);
        test_attention_one(G, 4, 128, 256, 4, 0.1f, 0, TOL32);
        test_attention_one(G, 2, 512, 256, 4, 0.0f, 0, TOL32);
        test_attention_one(G, 2, 512, 256, 4, 0.1f, 0, TOL32);
        test_attention_one(G, 2, 100, 256, 8, 0.1f, 0, TOL32); /* hd 32, T not a tile multiple */
        test_attention_one(G, 3, 70, 256, 16, 0.1f, 1, TOL32); /* hd 16 (1 thread a row), empty sequence */
        test_attention_one(G, 3, 90, 256, 2, 0.1f, 1, TOL32);  /* hd 128 (8 threads a row), empty sequence */
        test_attention_one(G, 2, 77, 192, 4, 0.1f, 0, TOL32);  /* hd 48: general fallback */
        test_attention_one(G, 3, 40, 192, 4, 0.1f, 1, TOL32);  /* fallback, empty sequence */
    }
    if (want("elementwise")) test_elementwise();
    if (want("pool")) test_pool();
    if (want("loss")) test_loss();
    if (want("adamw")) test_adamw();
#ifdef MTBERT_HAVE_CUDA
    const Ops *H = ops_cuda_bf16();
    if (H && want("bf16")) {
        test_matmul_one(H, 512, 256, 768, 1, 0, 1e-2);
        test_matmul_one(H, 512, 256, 3, 1, 1, 1e-2);
    }
#endif
    return test_finish("test_cuda_ops");
}
