/* cpu_layernorm.c — layer normalisation over the last dimension. */
#include <math.h>
#include <omp.h>

#include "cpu_internal.h"

// inp (N,C), w, b (C) -> out (N,C); mean, rstd (N)
void cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                           const float *w, const float *b, int N, int C, float eps) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *o = out + (size_t)n * C;
        /* two passes (mean, then centred squares) as PyTorch: no
         * cancellation when |mean| >> std */
        float s = 0.0f;
#pragma omp simd reduction(+ : s)
        for (int c = 0; c < C; c++) s += x[c];
        float m = s / (float)C;
        float v = 0.0f;
#pragma omp simd reduction(+ : v)
        for (int c = 0; c < C; c++) {
            float d = x[c] - m;
            v += d * d;
        }
        v /= (float)C;
        float r = 1.0f / sqrtf(v + eps);
        for (int c = 0; c < C; c++) o[c] = (x[c] - m) * r * w[c] + b[c];
        mean[n] = m;
        rstd[n] = r;
    }
}

// dout (N,C) -> dinp (N,C), dw, db (C); each += or NULL
void cpu_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                            const float *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C) {
    if (dw || db) {
        /* parameter gradients: threads own column ranges and sum the rows in
         * order (deterministic, no reduction buffers) */
#pragma omp parallel
        {
            size_t lo, hi;
            cpu_chunk((size_t)C, omp_get_num_threads(), omp_get_thread_num(), 16, &lo, &hi);
            for (int n = 0; n < N && lo < hi; n++) {
                const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
                float m = mean[n], r = rstd[n];
                if (dw)
                    for (size_t c = lo; c < hi; c++) dw[c] += d[c] * (x[c] - m) * r;
                if (db)
                    for (size_t c = lo; c < hi; c++) db[c] += d[c];
            }
        }
    }
    if (!dinp) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *d = dout + (size_t)n * C;
        float *g = dinp + (size_t)n * C;
        float m = mean[n], r = rstd[n];
        /* dx = r * (dy*w - mean(dy*w) - xhat * mean(dy*w*xhat)) */
        float s1 = 0.0f, s2 = 0.0f;
#pragma omp simd reduction(+ : s1, s2)
        for (int c = 0; c < C; c++) {
            float dn = d[c] * w[c];
            s1 += dn;
            s2 += dn * (x[c] - m) * r;
        }
        s1 /= (float)C;
        s2 /= (float)C;
        for (int c = 0; c < C; c++) {
            float xh = (x[c] - m) * r;
            g[c] += r * (d[c] * w[c] - s1 - xh * s2);
        }
    }
}
