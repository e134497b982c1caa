/* cpu_internal.h — private declarations shared by the CPU backend's files.
 *
 * Every function here is one field of the Ops table (see kernels/ops.h for
 * shapes and semantics); cpu_ops.c assembles the table. */
#ifndef MTBERT_CPU_INTERNAL_H
#define MTBERT_CPU_INTERNAL_H

#include <stddef.h>
#include <math.h>
#include <stdint.h>

#include "kernels/ops.h"

/* ---- scratch ----
 * A grow-only buffer private to the calling thread (thread-local), for the
 * few ops that need temporary space (attention backward: two (T,T) blocks).
 * It is never freed while the thread lives and only grows, so the step loop
 * does no allocation once the first step has run. Returns NULL on failure. */
float *cpu_scratch(size_t nfloats);

/* Dropout multipliers for elements start..start+n-1 of the stream `seed`:
 * mult[k] = 1/(1-p) if philox_uniform(seed, start+k) >= p, else 0. One
 * Philox call serves 4 consecutive elements, as in philox_uniform. */
void cpu_dropout_mult(float *mult, uint64_t seed, uint64_t start, size_t n, float p);

/* BLAS threads: make OpenBLAS single-threaded around our own OpenMP regions
 * that call it (returns the previous count to restore). */
int cpu_blas_enter_parallel(void);
void cpu_blas_leave_parallel(int prev);

/* Packed GEMM of cpu_gemm.c on the OpenMP team (not from inside a parallel
 * region): C(M,N) = (beta ? C : 0) + op(A) op(B), row-major, with op(A)(i,k)
 * = ta ? A[k*lda+i] : A[i*lda+k] and op(B)(k,j) = tb ? B[j*ldb+k] :
 * B[k*ldb+j]; beta is 0 or 1. Returns -1 (nothing done) when the BLAS is to
 * be used instead: no AVX2/AVX-512 kernel for this CPU, MTBERT_GEMM=blas,
 * called inside a parallel region, or out of memory. */
enum { CPU_GEMM_BLAS = 0, CPU_GEMM_AVX2 = 1, CPU_GEMM_AVX512 = 2 };
int cpu_gemm(int ta, int tb, int M, int N, int K, const float *A, long lda, const float *B,
             long ldb, int beta, float *C, long ldc);
/* the same on the calling thread only, for use inside parallel regions
 * (per-thread buffers); -1 when the BLAS is to be used */
int cpu_gemm_serial(int ta, int tb, int M, int N, int K, const float *A, long lda,
                    const float *B, long ldb, int beta, float *C, long ldc);
/* C(M,N) = op(A) op(B) + bias (N values added to every row), on the team */
int cpu_gemm_bias(int ta, int tb, int M, int N, int K, const float *A, long lda, const float *B,
                  long ldb, const float *bias, float *C, long ldc);
int cpu_gemm_kind(void);
/* for tests and measurements: use this kernel from now on (a kind the CPU
 * lacks is ignored; returns the kind in use), pack A or read it in place */
int cpu_gemm_select(int kind);
void cpu_gemm_pack_a(int on);
/* the same for transposed A (ta = 1; MTBERT_GEMM_PACK_AT=1) */
void cpu_gemm_pack_at(int on);
/* row splits: B packed once by the team (on, the default) or by each thread */
void cpu_gemm_share_b(int on);
/* The bytes [p, p+bytes) do not change from now on (an inference model's
 * parameters): products whose B lies there keep their packed B. Writes the
 * backend sees into the range (cpu_gemm_params_written: copy, zero, AdamW,
 * free) drop the copies and the declaration. */
void cpu_gemm_params_constant(const void *p, size_t bytes);
void cpu_gemm_params_written(const void *p, size_t bytes);
/* packed copies kept (for tests) */
int cpu_gemm_constant_count(void);
const char *cpu_gemm_name(void);

/* Split [0,n) into nt contiguous ranges whose inner boundaries are
 * multiples of `align` (16 floats = one cache line, so two threads never
 * write the same line); range tid is [*lo,*hi), possibly empty. */
static inline void cpu_chunk(size_t n, int nt, int tid, size_t align, size_t *lo, size_t *hi) {
    size_t per = (n + (size_t)nt - 1) / (size_t)nt;
    per = (per + align - 1) / align * align;
    size_t a = per * (size_t)tid, b = a + per;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}

/* ---- branch-free math that GCC vectorises (glibc's expf/erff are scalar
 * calls without -ffast-math, and they dominate GELU and softmax) ---- */

static inline float cpu_f32_from_bits(uint32_t u) {
    union { uint32_t u; float f; } v = {u};
    return v.f;
}
static inline uint32_t cpu_bits_from_f32(float f) {
    union { float f; uint32_t u; } v = {f};
    return v.u;
}

/* c ? a : b without a branch: GCC turns the ternary into control flow that
 * blocks vectorisation under AVX2 (AVX-512 if-converts it with mask
 * registers; on AVX2 GELU ran scalar, ~9x slower). Same result for every
 * input, NaN included. */
static inline float cpu_select(int c, float a, float b) {
    uint32_t m = 0u - (uint32_t)(c != 0);
    return cpu_f32_from_bits((cpu_bits_from_f32(a) & m) | (cpu_bits_from_f32(b) & ~m));
}

/* e^x, relative error about 2 ulp on [-87, 88]; 0 below -87.3, and finite
 * (saturating at e^88.3) above. Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then a
 * degree-7 Taylor/minimax polynomial for e^r and 2^n built in the exponent. */
static inline float cpu_expf(float x) {
    float xc = cpu_select(x < -87.0f, -87.0f, cpu_select(x > 88.3f, 88.3f, x));
    /* round x/ln2 to nearest with the 1.5*2^23 trick (no fast-math here) */
    const float shifter = 12582912.0f;
    float kf = xc * 1.44269504088896341f + shifter;
    int32_t n = (int32_t)(cpu_bits_from_f32(kf) - cpu_bits_from_f32(shifter));
    kf -= shifter;
    float r = xc - kf * 0.693359375f;
    r = r - kf * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    float y = p * cpu_f32_from_bits((uint32_t)(n + 127) << 23);
    return cpu_select(x < -87.3f, 0.0f, y);
}

/* erfc(z) for z >= 0 with relative error below ~3e-7 (Chebyshev fit of
 * erfc(z) = t exp(-z^2 + P(t)), t = 1/(1+z/2), as in Numerical Recipes'
 * erfcc), so the tail stays accurate where 1 - erf(z) would cancel. */
static inline float cpu_erfc_pos(float z) {
    float t = 1.0f / (1.0f + 0.5f * z);
    float p = 0.17087277f;
    p = p * t + -0.82215223f;
    p = p * t + 1.48851587f;
    p = p * t + -1.13520398f;
    p = p * t + 0.27886807f;
    p = p * t + -0.18628806f;
    p = p * t + 0.09678418f;
    p = p * t + 0.37409196f;
    p = p * t + 1.00002368f;
    p = p * t + -1.26551223f;
    return t * cpu_expf(-z * z + p);
}

/* Phi(x) = 0.5 (1 + erf(x/sqrt2)), the standard normal CDF */
static inline float cpu_normcdf(float x) {
    float z = fabsf(x) * 0.70710678118654752440f;
    float h = 0.5f * cpu_erfc_pos(z);
    return cpu_select(x < 0.0f, h, 1.0f - h);
}

/* tanh(u) = 1 - 2/(e^{2u}+1): absolute error ~1e-7, enough inside GELU */
static inline float cpu_tanh_abs(float u) {
    return 1.0f - 2.0f / (cpu_expf(2.0f * u) + 1.0f);
}

/* GELU of one value and its derivative (the one definition: gelu_forward,
 * gelu_backward and the fused FFN ops all use these, so fused and unfused
 * give the same bits) */
#define CPU_INV_SQRT_2PI 0.39894228040143267794f /* 1/sqrt(2 pi) */
#define CPU_SQRT_2_OVER_PI 0.79788456080286535588f
#define CPU_GELU_C 0.044715f
static inline float cpu_gelu1(float x, int kind) {
    if (kind == GELU_TANH)
        return 0.5f * x * (1.0f + cpu_tanh_abs(CPU_SQRT_2_OVER_PI * (x + CPU_GELU_C * x * x * x)));
    return x * cpu_normcdf(x);
}
/* d gelu(x) / dx */
static inline float cpu_dgelu1(float x, int kind) {
    if (kind == GELU_TANH) {
        float t = cpu_tanh_abs(CPU_SQRT_2_OVER_PI * (x + CPU_GELU_C * x * x * x));
        float du = CPU_SQRT_2_OVER_PI * (1.0f + 3.0f * CPU_GELU_C * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    float cdf = cpu_normcdf(x);
    float pdf = CPU_INV_SQRT_2PI * cpu_expf(-0.5f * x * x);
    return cdf + x * pdf;
}

/* memory */
void *cpu_alloc(size_t bytes);
void cpu_free(void *p);
void cpu_memcpy(void *dst, const void *src, size_t bytes);
void cpu_zero(void *p, size_t bytes);

/* embeddings */
void cpu_embedding_forward(float *out, const int *ids, const int *type_ids, const float *wte,
                           const float *wpe, const float *wtt, int B, int T, int C);
void cpu_embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                            const int *ids, const int *type_ids, int B, int T, int C);

/* layer norm */
void cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps);
void cpu_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C);

/* linear */
void cpu_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                        int N, int C, int OC);
void cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int C, int OC);

/* attention */
void cpu_attention_forward(float *out, float *att, const float *qkv, const int *mask, int B,
                           int T, int C, int NH, float p, uint64_t seed, uint64_t offset);
void cpu_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                            const int *mask, int B, int T, int C, int NH, float p,
                            uint64_t seed, uint64_t offset);
size_t cpu_attention_scratch_floats(int B, int T, int NH, int hd);

/* elementwise */
void cpu_gelu_forward(float *out, const float *inp, size_t n, int kind);
void cpu_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int kind);
void cpu_matmul_gelu_forward(float *pre, float *out, const float *inp, const float *w,
                             const float *bias, int N, int C, int OC, int kind);
void cpu_gelu_bias_backward(float *dinp, float *dbias, const float *inp, const float *dout,
                            int N, int OC, int kind);
void cpu_tanh_forward(float *out, const float *inp, size_t n);
void cpu_tanh_backward(float *dinp, const float *out, const float *dout, size_t n);
void cpu_add(float *out, const float *a, const float *b, size_t n);
void cpu_accumulate(float *dst, const float *src, size_t n);
void cpu_scale(float *x, float s, size_t n);
void cpu_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed,
                         uint64_t offset);
void cpu_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed,
                          uint64_t offset);

/* pooling, normalisation, similarity */
void cpu_pool_forward(float *out, int *argmax, const float *hidden, const int *mask, int B,
                      int T, int C, int mode);
void cpu_pool_backward(float *dhidden, const float *dout, const int *argmax, const int *mask,
                       int B, int T, int C, int mode);
void cpu_l2norm_forward(float *out, float *norm, const float *inp, int N, int D);
void cpu_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                         int N, int D);
void cpu_cosine_forward(float *cos, const float *a, const float *b, int N, int D);
void cpu_cosine_backward(float *da, float *db, const float *dcos, const float *a,
                         const float *b, const float *cos, int N, int D);

/* loss */
void cpu_crossentropy_forward(float *losses, float *probs, const float *logits,
                              const int *targets, int N, int V);
void cpu_crossentropy_backward(float *dlogits, const float *probs, const int *targets, int N,
                               int V, float scale);

/* optimizer */
void cpu_adamw_update(float *params, const float *grads, float *m, float *v,
                      const AdamSpan *spans, int nspans, float beta1, float beta2, float eps,
                      int t);
double cpu_sumsq(const float *x, const AdamSpan *spans, int nspans);

#endif
