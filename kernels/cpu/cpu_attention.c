/* cpu_attention.c — multi-head self-attention with key/query padding masks
 * and counter-based attention dropout.
 *
 * Work is split over (batch, head) pairs with OpenMP; each pair runs its
 * products as single-threaded OpenBLAS GEMMs straight on the strided q/k/v
 * columns of qkv (leading dimension 3C), so nothing is copied. For a
 * sequence whose last real token is at Tv-1 only the leading (Tv,Tv) block
 * is computed: trailing padding costs nothing. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <cblas.h>

#include "cpu_internal.h"

/* C (+)= op(A) op(B) on this thread: the packed GEMM of cpu_gemm.c, or a
 * single-threaded OpenBLAS call where that declines. beta is 0 or 1. */
static void mm(int ta, int tb, int M, int N, int K, const float *A, int lda, const float *B,
               int ldb, int beta, float *C, int ldc) {
    if (!cpu_gemm_serial(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc)) return;
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
                K, 1.0f, A, lda, B, ldb, beta ? 1.0f : 0.0f, C, ldc);
}

/* 1 + index of the last real token of a row of the mask (0: none). */
static int valid_len(const int *mk, int T) {
    int tv = 0;
    for (int t = 0; t < T; t++)
        if (mk[t]) tv = t + 1;
    return tv;
}

/* zero rows r0..T-1 of a (T, hd) block with leading dimension ld */
static void zero_rows(float *x, int r0, int T, int hd, int ld) {
    for (int r = r0; r < T; r++) {
        float *row = x + (size_t)r * ld;
        for (int d = 0; d < hd; d++) row[d] = 0.0f;
    }
}

// qkv (B,T,3C), mask (B,T) -> out (B,T,C); att (B,NH,T,T) softmax probabilities
void cpu_attention_forward(float *out, float *att, const float *qkv, const int *mask, int B,
                           int T, int C, int NH, float p, uint64_t seed, uint64_t offset) {
    int hd = C / NH, C3 = 3 * C, BH = B * NH;
    float scale = 1.0f / sqrtf((float)hd);
    int drop = p > 0.0f;
    int blas_prev = cpu_blas_enter_parallel();
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < BH; bh++) {
        int b = bh / NH, h = bh % NH;
        const int *mk = mask + (size_t)b * T;
        int tv = valid_len(mk, T);
        float *A = att + (size_t)bh * T * T;
        float *O = out + (size_t)b * T * C + (size_t)h * hd;
        const float *Q = qkv + (size_t)b * T * C3 + (size_t)h * hd;
        const float *K = Q + C, *V = Q + 2 * C;
        /* raw scores Q K^T; the softmax pass applies the 1/sqrt(hd) scale */
        if (tv > 0) mm(0, 1, tv, tv, hd, Q, C3, K, C3, 0, A, T);
        for (int i = 0; i < T; i++) {
            float *row = A + (size_t)i * T;
            if (i >= tv || !mk[i]) {
                for (int j = 0; j < T; j++) row[j] = 0.0f;
                continue;
            }
            float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
            for (int j = 0; j < tv; j++) {
                float sc = row[j] * scale;
                row[j] = sc;
                if (mk[j] && sc > mx) mx = sc;
            }
            float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
            for (int j = 0; j < tv; j++) {
                float e = cpu_select(mk[j] != 0, cpu_expf(row[j] - mx), 0.0f);
                row[j] = e;
                sum += e;
            }
            /* sum >= 1: the query itself is a real key */
            float inv = 1.0f / sum;
            for (int j = 0; j < tv; j++) row[j] *= inv;
            for (int j = tv; j < T; j++) row[j] = 0.0f;
        }
        if (tv == 0) {
            zero_rows(O, 0, T, hd, C);
            continue;
        }
        const float *P = A;
        if (drop) {
            float *Pd = cpu_scratch((size_t)tv * T);
            if (!Pd) {
                fprintf(stderr, "mtbert cpu attention: out of memory for scratch\n");
                abort();
            }
            for (int i = 0; i < tv; i++) {
                float *pr = Pd + (size_t)i * T;
                const float *ar = A + (size_t)i * T;
                if (!mk[i]) {
                    for (int j = 0; j < tv; j++) pr[j] = 0.0f;
                    continue;
                }
                cpu_dropout_mult(pr, seed, offset + ((uint64_t)bh * T + (uint64_t)i) * T, tv, p);
                for (int j = 0; j < tv; j++) pr[j] *= ar[j];
            }
            P = Pd;
        }
        mm(0, 0, tv, hd, tv, P, T, V, C3, 0, O, C);
        zero_rows(O, tv, T, hd, C);
    }
    cpu_blas_leave_parallel(blas_prev);
}

// dout (B,T,C) -> dqkv (B,T,3C) +=
void cpu_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                            const int *mask, int B, int T, int C, int NH, float p,
                            uint64_t seed, uint64_t offset) {
    if (!dqkv) return;
    int hd = C / NH, C3 = 3 * C, BH = B * NH;
    float scale = 1.0f / sqrtf((float)hd);
    int drop = p > 0.0f;
    int blas_prev = cpu_blas_enter_parallel();
#pragma omp parallel for schedule(dynamic, 1)
    for (int bh = 0; bh < BH; bh++) {
        int b = bh / NH, h = bh % NH;
        const int *mk = mask + (size_t)b * T;
        int tv = valid_len(mk, T);
        if (tv == 0) continue;
        /* scratch: dP (tv,T) always; with dropout also the multipliers M and
         * the dropped probabilities Pd, (tv,T) each */
        size_t blk = (size_t)tv * T;
        float *dP = cpu_scratch(drop ? 3 * blk : blk);
        if (!dP) {
            fprintf(stderr, "mtbert cpu attention: out of memory for scratch\n");
            abort();
        }
        float *M = dP + blk, *Pd = M + blk;
        const float *A = att + (size_t)bh * T * T;
        const float *dO = dout + (size_t)b * T * C + (size_t)h * hd;
        const float *Q = qkv + (size_t)b * T * C3 + (size_t)h * hd;
        const float *K = Q + C, *V = Q + 2 * C;
        float *dQ = dqkv + (size_t)b * T * C3 + (size_t)h * hd;
        float *dK = dQ + C, *dV = dQ + 2 * C;
        const float *P = A;
        if (drop) {
            for (int i = 0; i < tv; i++) {
                float *mr = M + (size_t)i * T, *pr = Pd + (size_t)i * T;
                const float *ar = A + (size_t)i * T;
                if (!mk[i]) {
                    for (int j = 0; j < tv; j++) mr[j] = pr[j] = 0.0f;
                    continue;
                }
                cpu_dropout_mult(mr, seed, offset + ((uint64_t)bh * T + (uint64_t)i) * T, tv, p);
                for (int j = 0; j < tv; j++) pr[j] = ar[j] * mr[j];
            }
            P = Pd;
        }
        /* dV += P^T dO (rows of padded queries in P are zero) */
        mm(1, 0, tv, hd, tv, P, T, dO, C, 1, dV, C3);
        /* dP = dO V^T */
        mm(0, 1, tv, tv, hd, dO, C, V, C3, 0, dP, T);
        /* softmax backward, in place: dS = A * (dP*M - sum(A * dP*M)) * scale */
        for (int i = 0; i < tv; i++) {
            float *g = dP + (size_t)i * T;
            const float *ar = A + (size_t)i * T;
            if (!mk[i]) {
                for (int j = 0; j < tv; j++) g[j] = 0.0f;
                continue;
            }
            if (drop) {
                const float *mr = M + (size_t)i * T;
                for (int j = 0; j < tv; j++) g[j] *= mr[j];
            }
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int j = 0; j < tv; j++) dot += ar[j] * g[j];
            for (int j = 0; j < tv; j++) g[j] = ar[j] * (g[j] - dot) * scale;
        }
        /* dQ += dS K ; dK += dS^T Q */
        mm(0, 0, tv, hd, tv, dP, T, K, C3, 1, dQ, C3);
        mm(1, 0, tv, hd, tv, dP, T, Q, C3, 1, dK, C3);
    }
    cpu_blas_leave_parallel(blas_prev);
}

/* the softmax probabilities of every (b, h, query) row: (B,NH,T,T) */
size_t cpu_attention_scratch_floats(int B, int T, int NH, int hd) {
    (void)hd;
    return (size_t)B * NH * T * T;
}
