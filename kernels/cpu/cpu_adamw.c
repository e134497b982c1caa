/* cpu_adamw.c — AdamW over spans of the flat buffers, and the gradient
 * sum of squares for clipping. */
#include <math.h>

#include "cpu_internal.h"

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
    for (int s = 0; s < nspans; s++) {
        const AdamSpan *sp = &spans[s];
        float lr = sp->lr;
        float decay = 1.0f - lr * sp->weight_decay;
        float step = (float)(lr / bc1);
        float *P = params + sp->offset, *M = m + sp->offset, *Vv = v + sp->offset;
        const float *G = grads + sp->offset;
        long n = (long)sp->count;
#pragma omp parallel for schedule(static) if (n >= 16384)
        for (long i = 0; i < n; i++) {
            float g = G[i];
            float mi = M[i] + omb1 * (g - M[i]);
            float vi = beta2 * Vv[i] + omb2 * g * g;
            M[i] = mi;
            Vv[i] = vi;
            float denom = sqrtf(vi) / bc2_sqrt + eps;
            P[i] = P[i] * decay - step * mi / denom;
        }
    }
}

double cpu_sumsq(const float *x, const AdamSpan *spans, int nspans) {
    double total = 0.0;
    for (int s = 0; s < nspans; s++) {
        const float *X = x + spans[s].offset;
        long n = (long)spans[s].count;
        double acc = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : acc) if (n >= 16384)
        for (long i = 0; i < n; i++) acc += (double)X[i] * (double)X[i];
        total += acc;
    }
    return total;
}
