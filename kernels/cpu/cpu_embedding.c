/* cpu_embedding.c — word + position + token-type embeddings. */
#include <omp.h>

#include "cpu_internal.h"

// ids, type_ids (B,T); wte (Vocab,C), wpe (MaxPos,C), wtt (Types,C) -> out (B,T,C)
void cpu_embedding_forward(float *out, const int *ids, const int *type_ids, const float *wte,
                           const float *wpe, const float *wtt, int B, int T, int C) {
    int N = B * T;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        int t = n % T;
        const float *a = wte + (size_t)ids[n] * C;
        const float *p = wpe + (size_t)t * C;
        const float *y = wtt + (size_t)(type_ids ? type_ids[n] : 0) * C;
        float *o = out + (size_t)n * C;
        for (int c = 0; c < C; c++) o[c] = a[c] + p[c] + y[c];
    }
}

// dout (B,T,C) -> dwte (Vocab,C), dwpe (MaxPos,C), dwtt (Types,C), each += or NULL
void cpu_embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                            const int *ids, const int *type_ids, int B, int T, int C) {
    if (!dwte && !dwpe && !dwtt) return;
    int N = B * T;
    /* Threads own disjoint column ranges and walk the tokens in order, so
     * repeated ids never race and every sum has the same order whatever the
     * thread count: bit-reproducible gradients. */
#pragma omp parallel
    {
        size_t lo, hi;
        cpu_chunk((size_t)C, omp_get_num_threads(), omp_get_thread_num(), 16, &lo, &hi);
        if (lo < hi) {
            for (int n = 0; n < N; n++) {
                const float *d = dout + (size_t)n * C;
                if (dwte) {
                    float *g = dwte + (size_t)ids[n] * C;
                    for (size_t c = lo; c < hi; c++) g[c] += d[c];
                }
                if (dwpe) {
                    float *g = dwpe + (size_t)(n % T) * C;
                    for (size_t c = lo; c < hi; c++) g[c] += d[c];
                }
                if (dwtt) {
                    float *g = dwtt + (size_t)(type_ids ? type_ids[n] : 0) * C;
                    for (size_t c = lo; c < hi; c++) g[c] += d[c];
                }
            }
        }
    }
}
