/* cpu_adamw.c — AdamW over spans of the flat buffers, and the gradient
 * sum of squares for clipping. */
#include <math.h>
#include <omp.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

#include "cpu_internal.h"

/* Elements lo..hi-1 of one span. With AVX the loop runs 8 lanes at a time
 * in intrinsics: GCC does not vectorise sqrtf here by itself (without
 * -fno-math-errno it keeps a scalar sqrtss and a libm call per element).
 * The lanes do the scalar tail's arithmetic (vsqrtps and vdivps are
 * correctly rounded like sqrtf and /). */
static void adamw_range(float *P, const float *G, float *M, float *Vv, size_t lo, size_t hi,
                        float beta2, float omb1, float omb2, float bc2_sqrt, float eps,
                        float decay, float step) {
    size_t i = lo;
#ifdef __AVX__
    const __m256 vb2 = _mm256_set1_ps(beta2), vomb1 = _mm256_set1_ps(omb1);
    const __m256 vomb2 = _mm256_set1_ps(omb2), vbc2 = _mm256_set1_ps(bc2_sqrt);
    const __m256 veps = _mm256_set1_ps(eps), vdec = _mm256_set1_ps(decay);
    const __m256 vstep = _mm256_set1_ps(step);
    for (; i + 8 <= hi; i += 8) {
        __m256 g = _mm256_loadu_ps(G + i), m0 = _mm256_loadu_ps(M + i);
        __m256 mi = _mm256_add_ps(m0, _mm256_mul_ps(vomb1, _mm256_sub_ps(g, m0)));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(Vv + i)),
                                  _mm256_mul_ps(_mm256_mul_ps(vomb2, g), g));
        _mm256_storeu_ps(M + i, mi);
        _mm256_storeu_ps(Vv + i, vi);
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vbc2), veps);
        __m256 p = _mm256_mul_ps(_mm256_loadu_ps(P + i), vdec);
        _mm256_storeu_ps(P + i, _mm256_sub_ps(p, _mm256_div_ps(_mm256_mul_ps(vstep, mi), denom)));
    }
#endif
    for (; i < hi; i++) {
        float g = G[i];
        float mi = M[i] + omb1 * (g - M[i]);
        float vi = beta2 * Vv[i] + omb2 * g * g;
        M[i] = mi;
        Vv[i] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        P[i] = P[i] * decay - step * mi / denom;
    }
}

/* torch.optim.AdamW (single-tensor path), step by step in its order:
 *   p *= 1 - lr*wd
 *   m  = lerp(m, g, 1-b1)          (= b1 m + (1-b1) g)
 *   v  = b2 v + (1-b2) g^2
 *   p -= (lr / (1-b1^t)) * m / (sqrt(v) / sqrt(1-b2^t) + eps)
 * The bias corrections are computed in double, as Python does. */
void cpu_adamw_update(float *params, const float *grads, float *m, float *v,
                      const AdamSpan *spans, int nspans, float beta1, float beta2, float eps,
                      int t) {
    double bc1 = 1.0 - pow((double)beta1, (double)t);
    double bc2 = 1.0 - pow((double)beta2, (double)t);
    float bc2_sqrt = (float)sqrt(bc2);
    float omb1 = 1.0f - beta1, omb2 = 1.0f - beta2;
    for (int s = 0; s < nspans; s++)
        cpu_gemm_params_written(params + spans[s].offset, sizeof(float) * spans[s].count);
    for (int s = 0; s < nspans; s++) {
        const AdamSpan *sp = &spans[s];
        float lr = sp->lr;
        float decay = 1.0f - lr * sp->weight_decay;
        float step = (float)(lr / bc1);
        float *P = params + sp->offset, *M = m + sp->offset, *Vv = v + sp->offset;
        const float *G = grads + sp->offset;
        size_t n = sp->count;
        if (n < 16384) {
            adamw_range(P, G, M, Vv, 0, n, beta2, omb1, omb2, bc2_sqrt, eps, decay, step);
            continue;
        }
#pragma omp parallel
        {
            size_t lo, hi;
            cpu_chunk(n, omp_get_num_threads(), omp_get_thread_num(), 16, &lo, &hi);
            adamw_range(P, G, M, Vv, lo, hi, beta2, omb1, omb2, bc2_sqrt, eps, decay, step);
        }
    }
}

double cpu_sumsq(const float *x, const AdamSpan *spans, int nspans) {
    double total = 0.0;
    for (int s = 0; s < nspans; s++) {
        const float *X = x + spans[s].offset;
        long n = (long)spans[s].count;
        double acc = 0.0;
#pragma omp parallel for simd schedule(static) reduction(+ : acc) if (n >= 16384)
        for (long i = 0; i < n; i++) acc += (double)X[i] * (double)X[i];
        total += acc;
    }
    return total;
}
