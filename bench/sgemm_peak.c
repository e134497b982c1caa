/* sgemm_peak.c — the fp32 GEMM peak on this machine, for
 * bench/cpu_compare.sh. Prints one JSON line: the best GFLOP/s over a few
 * square and BERT-shaped sizes (C = A B^T, the linear layer's layout), with
 * the BLAS threaded by itself (set to THREADS) and the core type it chose,
 * or (mode "mtbert") kernels/cpu/cpu_gemm.c on THREADS OpenMP threads.
 *   cc -O2 -fopenmp bench/sgemm_peak.c -o sgemm_peak $(pkg-config --cflags --libs openblas)
 *   cc -O2 -fopenmp -DWITH_MTBERT_GEMM -I. -Ikernels bench/sgemm_peak.c kernels/cpu/cpu_gemm.c \
 *      $(pkg-config --cflags --libs openblas) -o sgemm_peak
 *   ./sgemm_peak [THREADS [blas|mtbert]]      (default 2 blas) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cblas.h>
#include <omp.h>
#ifdef WITH_MTBERT_GEMM
#include "kernels/cpu/cpu_internal.h"
#endif

static int use_own;

/* OpenBLAS extras, absent from other BLAS libraries (weak: NULL there) */
extern char *openblas_get_corename(void) __attribute__((weak));
extern char *openblas_get_config(void) __attribute__((weak));
extern void openblas_set_num_threads(int) __attribute__((weak));
extern void bli_thread_set_num_threads(long) __attribute__((weak));

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* best of `reps` timed calls of C(M,N) = A(M,K) B(K,N)^T-style NT products,
 * the layout of a linear layer (PyTorch weights (OC,C)) */
static double gflops(int M, int N, int K, int reps) {
    float *A = malloc(sizeof(float) * (size_t)M * K), *B = malloc(sizeof(float) * (size_t)N * K);
    float *C = malloc(sizeof(float) * (size_t)M * N);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)((i * 7) % 13) * 0.01f;
    for (size_t i = 0; i < (size_t)N * K; i++) B[i] = (float)((i * 5) % 11) * 0.01f;
    memset(C, 0, sizeof(float) * (size_t)M * N);
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = now_s();
#ifdef WITH_MTBERT_GEMM
        if (use_own) cpu_gemm(0, 1, M, N, K, A, K, B, K, 0, C, N);
        else
#endif
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
        double dt = now_s() - t0;
        if (r > 0 && dt < best) best = dt; /* the first call warms up */
    }
    free(A);
    free(B);
    free(C);
    return 2.0 * M * N * K / best / 1e9;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1) threads = 1;
    use_own = argc > 2 && !strcmp(argv[2], "mtbert");
    const char *lib = openblas_get_config ? openblas_get_config() : "non-OpenBLAS";
    const char *core = openblas_get_corename ? openblas_get_corename() : "";
#ifdef WITH_MTBERT_GEMM
    if (use_own) {
        lib = "mtbert cpu_gemm";
        core = cpu_gemm_name();
        if (cpu_gemm_kind() == CPU_GEMM_BLAS) use_own = 0, lib = "mtbert cpu_gemm (BLAS fallback)";
    }
#else
    if (use_own) {
        fprintf(stderr, "sgemm_peak: built without -DWITH_MTBERT_GEMM\n");
        return 2;
    }
#endif
    omp_set_num_threads(threads);
    if (openblas_set_num_threads) openblas_set_num_threads(use_own ? 1 : threads);
    if (bli_thread_set_num_threads) bli_thread_set_num_threads(threads);
    static const int sizes[][3] = {{1024, 1024, 1024}, {2048, 2048, 2048}, {4096, 1024, 1024},
                                   {4096, 768, 256},   {4096, 1024, 256},  {4096, 256, 1024}};
    int ns = (int)(sizeof sizes / sizeof sizes[0]);
    double best = 0;
    printf("{\"impl\": \"sgemm_peak\", \"threads\": %d", threads);
    printf(", \"blas\": \"%s\", \"core\": \"%s\"", lib, core);
    printf(", \"sizes\": {");
    for (int i = 0; i < ns; i++) {
        int M = sizes[i][0], N = sizes[i][1], K = sizes[i][2];
        double g = gflops(M, N, K, M * (double)N * K > 2e9 ? 3 : 8);
        if (g > best) best = g;
        printf("%s\"%dx%dx%d\": %.1f", i ? ", " : "", M, N, K, g);
    }
    printf("}, \"peak_gflops\": %.1f}\n", best);
    return 0;
}
