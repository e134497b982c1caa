/* cpu_pool.c — sentence pooling, L2 normalisation and cosine similarity. */
#include <math.h>

#include "cpu_internal.h"

/* Clamp of the token count in masked mean pooling (sentence-transformers:
 * torch.clamp(mask.sum(1), min=1e-9)): an all-padding row gives 0, not NaN. */
#define POOL_COUNT_MIN 1e-9f
/* torch.nn.functional.normalize: x / max(||x||, 1e-12) */
#define L2_EPS 1e-12f
/* cosine: a.b / max(||a|| ||b||, 1e-8). PyTorch's cosine_similarity clamps
 * the product of the squared norms at eps^2 with the same eps = 1e-8, which
 * is the same thing. */
#define COS_EPS 1e-8f

// hidden (B,T,C), mask (B,T) -> out (B,C); argmax (B,C) for POOL_MAX (-1: no real token)
void cpu_pool_forward(float *out, int *argmax, const float *hidden, const int *mask, int B,
                      int T, int C, int mode) {
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        const float *h = hidden + (size_t)b * T * C;
        const int *mk = mask + (size_t)b * T;
        float *o = out + (size_t)b * C;
        if (mode == POOL_CLS || mode == POOL_POOLER) {
            for (int c = 0; c < C; c++) o[c] = h[c];
        } else if (mode == POOL_MAX) {
            int *am = argmax + (size_t)b * C;
            for (int c = 0; c < C; c++) {
                o[c] = 0.0f;
                am[c] = -1;
            }
            for (int t = 0; t < T; t++) {
                if (!mk[t]) continue;
                const float *r = h + (size_t)t * C;
                for (int c = 0; c < C; c++)
                    if (am[c] < 0 || r[c] > o[c]) {
                        o[c] = r[c];
                        am[c] = t;
                    }
            }
        } else { /* POOL_MEAN */
            int cnt = 0;
            for (int c = 0; c < C; c++) o[c] = 0.0f;
            for (int t = 0; t < T; t++) {
                if (!mk[t]) continue;
                cnt++;
                const float *r = h + (size_t)t * C;
                for (int c = 0; c < C; c++) o[c] += r[c];
            }
            float inv = 1.0f / fmaxf((float)cnt, POOL_COUNT_MIN);
            for (int c = 0; c < C; c++) o[c] *= inv;
        }
    }
}

// dout (B,C) -> dhidden (B,T,C) +=
void cpu_pool_backward(float *dhidden, const float *dout, const int *argmax, const int *mask,
                       int B, int T, int C, int mode) {
    if (!dhidden) return;
#pragma omp parallel for schedule(static)
    for (int b = 0; b < B; b++) {
        float *dh = dhidden + (size_t)b * T * C;
        const int *mk = mask + (size_t)b * T;
        const float *d = dout + (size_t)b * C;
        if (mode == POOL_CLS || mode == POOL_POOLER) {
            for (int c = 0; c < C; c++) dh[c] += d[c];
        } else if (mode == POOL_MAX) {
            const int *am = argmax + (size_t)b * C;
            for (int c = 0; c < C; c++)
                if (am[c] >= 0 && am[c] < T) dh[(size_t)am[c] * C + c] += d[c];
        } else {
            int cnt = 0;
            for (int t = 0; t < T; t++) cnt += mk[t] != 0;
            float inv = 1.0f / fmaxf((float)cnt, POOL_COUNT_MIN);
            for (int t = 0; t < T; t++) {
                if (!mk[t]) continue;
                float *r = dh + (size_t)t * C;
                for (int c = 0; c < C; c++) r[c] += d[c] * inv;
            }
        }
    }
}

// inp (N,D) -> out (N,D) = inp / max(||inp||, 1e-12); norm (N) = ||inp||
void cpu_l2norm_forward(float *out, float *norm, const float *inp, int N, int D) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * D;
        float *o = out + (size_t)n * D;
        float s = 0.0f;
        for (int d = 0; d < D; d++) s += x[d] * x[d];
        float nr = sqrtf(s);
        float inv = 1.0f / fmaxf(nr, L2_EPS);
        for (int d = 0; d < D; d++) o[d] = x[d] * inv;
        norm[n] = nr;
    }
}

// dout (N,D) -> dinp (N,D) +=
void cpu_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                         int N, int D) {
    if (!dinp) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *g = dout + (size_t)n * D, *y = out + (size_t)n * D;
        float *dx = dinp + (size_t)n * D;
        if (norm[n] > L2_EPS) {
            /* d(x/|x|) = (g - y (y.g)) / |x| */
            float dot = 0.0f;
            for (int d = 0; d < D; d++) dot += y[d] * g[d];
            float inv = 1.0f / norm[n];
            for (int d = 0; d < D; d++) dx[d] += (g[d] - y[d] * dot) * inv;
        } else {
            /* the clamp is active: out = x / eps, a constant scale */
            for (int d = 0; d < D; d++) dx[d] += g[d] * (1.0f / L2_EPS);
        }
    }
}

// a, b (N,D) -> cos (N)
void cpu_cosine_forward(float *cos, const float *a, const float *b, int N, int D) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = a + (size_t)n * D, *y = b + (size_t)n * D;
        float xy = 0.0f, xx = 0.0f, yy = 0.0f;
        for (int d = 0; d < D; d++) {
            xy += x[d] * y[d];
            xx += x[d] * x[d];
            yy += y[d] * y[d];
        }
        cos[n] = xy / fmaxf(sqrtf(xx) * sqrtf(yy), COS_EPS);
    }
}

// dcos (N) -> da, db (N,D) +=, either may be NULL
void cpu_cosine_backward(float *da, float *db, const float *dcos, const float *a,
                         const float *b, const float *cos, int N, int D) {
    if (!da && !db) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = a + (size_t)n * D, *y = b + (size_t)n * D;
        float xx = 0.0f, yy = 0.0f;
        for (int d = 0; d < D; d++) {
            xx += x[d] * x[d];
            yy += y[d] * y[d];
        }
        float nx = sqrtf(xx), ny = sqrtf(yy), den = nx * ny, g = dcos[n], c = cos[n];
        if (den > COS_EPS) {
            /* cos = x.y/(|x||y|): dcos/dx = y/den - cos x/|x|^2 */
            float s = g / den, cx = g * c / xx, cy = g * c / yy;
            if (da) {
                float *o = da + (size_t)n * D;
                for (int d = 0; d < D; d++) o[d] += s * y[d] - cx * x[d];
            }
            if (db) {
                float *o = db + (size_t)n * D;
                for (int d = 0; d < D; d++) o[d] += s * x[d] - cy * y[d];
            }
        } else {
            /* clamped: cos = x.y / eps */
            float s = g / COS_EPS;
            if (da) {
                float *o = da + (size_t)n * D;
                for (int d = 0; d < D; d++) o[d] += s * y[d];
            }
            if (db) {
                float *o = db + (size_t)n * D;
                for (int d = 0; d < D; d++) o[d] += s * x[d];
            }
        }
    }
}
