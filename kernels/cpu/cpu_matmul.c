/* cpu_matmul.c — the linear layer on OpenBLAS (PyTorch weight layout). */
#include <omp.h>

#include <cblas.h>

#include "cpu_internal.h"

// inp (N,C), w (OC,C), bias (OC) or NULL -> out (N,OC) = inp @ w^T + bias
void cpu_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                        int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
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
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, w, C,
                bias ? 1.0f : 0.0f, out, OC);
}

// dout (N,OC) -> dinp (N,C) += dout @ w, dw (OC,C) += dout^T @ inp, dbias (OC) += colsum
void cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                         const float *inp, const float *w, int N, int C, int OC) {
    if (N <= 0 || OC <= 0 || C <= 0) return;
    if (dinp)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, w, C,
                    1.0f, dinp, C);
    if (dw)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C,
                    1.0f, dw, C);
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
