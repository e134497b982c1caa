/* cpu_loss.c — softmax cross-entropy with ignore index -100. */
#include <math.h>

#include "cpu_internal.h"

/* A target outside [0,V) other than -100 is a caller bug; we never index
 * with it: the row counts as unlabelled (loss 0, no gradient). */
static int labelled(int t, int V) { return t >= 0 && t < V; }

// logits (N,V), targets (N) -> probs (N,V), losses (N)
void cpu_crossentropy_forward(float *losses, float *probs, const float *logits,
                              const int *targets, int N, int V) {
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float *pr = probs + (size_t)n * V;
        float mx = -INFINITY;
        for (int k = 0; k < V; k++)
            if (x[k] > mx) mx = x[k];
        float sum = 0.0f;
        for (int k = 0; k < V; k++) {
            float e = expf(x[k] - mx);
            pr[k] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (int k = 0; k < V; k++) pr[k] *= inv;
        int t = targets[n];
        /* loss = logsumexp - x[t], kept in log space (no log(0) for tiny probs) */
        losses[n] = labelled(t, V) ? logf(sum) + mx - x[t] : 0.0f;
    }
}

// dlogits (N,V) += scale * (probs - onehot(target)) on labelled rows
void cpu_crossentropy_backward(float *dlogits, const float *probs, const int *targets, int N,
                               int V, float scale) {
    if (!dlogits) return;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int t = targets[n];
        if (!labelled(t, V)) continue;
        const float *pr = probs + (size_t)n * V;
        float *d = dlogits + (size_t)n * V;
        for (int k = 0; k < V; k++) d[k] += scale * pr[k];
        d[t] -= scale;
    }
}
