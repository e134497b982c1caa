/* cpu_matmul.c — the linear layer on OpenBLAS (PyTorch weight layout). */
#include <omp.h>

#include <cblas.h>

#include "cpu_internal.h"

/* The packed GEMM of cpu_gemm.c from about a million multiply-adds on
 * (classifier heads with a handful of outputs included: partial tiles cost
 * less than OpenBLAS's thread split); OpenBLAS below that. */
static int use_own_gemm(int M, int N, int K) {
    return (double)M * N * K >= 1e6;
}

// inp (N,C), w (OC,C), bias (OC) or NULL -> out (N,OC) = inp @ w^T + bias
void cpu_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                        int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    /* own GEMM: the bias added as each tile is stored (no extra pass) */
    if (C > 0 && use_own_gemm(N, OC, C) &&
        !(bias ? cpu_gemm_bias(0, 1, N, OC, C, inp, C, w, C, bias, out, OC)
               : cpu_gemm(0, 1, N, OC, C, inp, C, w, C, 0, out, OC)))
        return;
    if (bias) {
        /* start from the bias and let the GEMM accumulate (beta = 1) */
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            float *o = out + (size_t)n * OC;
            for (int k = 0; k < OC; k++) o[k] = bias[k];
        }
    }
    if (C <= 0) {
        if (!bias) cpu_zero(out, sizeof(float) * (size_t)N * OC);
        return;
    }
    /* one thread pool: OpenMP threads take row blocks, BLAS runs single-threaded */
#pragma omp parallel
    {
        size_t lo, hi;
        cpu_chunk((size_t)N, omp_get_num_threads(), omp_get_thread_num(), 8, &lo, &hi);
        if (lo < hi)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(hi - lo), OC, C, 1.0f,
                        inp + lo * C, C, w, C, bias ? 1.0f : 0.0f, out + lo * OC, OC);
    }
}

// inp (N,C), w (OC,C), bias (OC) or NULL -> pre (N,OC) = inp @ w^T + bias, out = gelu(pre)
void cpu_matmul_gelu_forward(float *pre, float *out, const float *inp, const float *w,
                             const float *bias, int N, int C, int OC, int kind) {
    if (N <= 0 || OC <= 0) return;
    /* Two passes on the CPU: GELU applied to each GEMM tile as it is stored
     * (tried, docs/performance.md) ran at 0.79-0.92x of the separate
     * streaming pass (the bias is already added in the GEMM's store) */
    cpu_matmul_forward(pre, inp, w, bias, N, C, OC);
    cpu_gelu_forward(out, pre, (size_t)N * OC, kind);
}

// dout (N,OC) -> dinp (N,C) += dout @ w, dw (OC,C) += dout^T @ inp, dbias (OC) += colsum
void cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int C, int OC) {
    if (N <= 0 || OC <= 0 || C <= 0) return;
    /* dinp: threads own row blocks of N; dw: threads own row blocks of OC
     * (each sums over all N itself, so no reduction between threads) */
    if (dinp && use_own_gemm(N, C, OC) &&
        !cpu_gemm(0, 0, N, C, OC, dout, OC, w, C, 1, dinp, C))
        dinp = NULL; /* done */
    if (dw && use_own_gemm(OC, C, N) &&
        !cpu_gemm(1, 0, OC, C, N, dout, OC, inp, C, 1, dw, C))
        dw = NULL;
    if (dinp || dw) {
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        size_t lo, hi;
        if (dinp) {
            cpu_chunk((size_t)N, nt, id, 8, &lo, &hi);
            if (lo < hi)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(hi - lo), C, OC, 1.0f,
                            dout + lo * OC, OC, w, C, 1.0f, dinp + lo * C, C);
        }
        if (dw) {
            cpu_chunk((size_t)OC, nt, id, 8, &lo, &hi);
            if (lo < hi)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)(hi - lo), C, N, 1.0f,
                            dout + lo, OC, inp, C, 1.0f, dw + lo * C, C);
        }
    }
    }
    if (dbias) {
        /* column sums; threads own column ranges, rows summed in order */
#pragma omp parallel
        {
            size_t lo, hi;
            cpu_chunk((size_t)OC, omp_get_num_threads(), omp_get_thread_num(), 16, &lo, &hi);
            for (int n = 0; n < N && lo < hi; n++) {
                const float *d = dout + (size_t)n * OC;
                for (size_t k = lo; k < hi; k++) dbias[k] += d[k];
            }
        }
    }
}
