/* sgemm_peak.c — the fp32 GEMM peak on this machine, for
 * bench/cpu_compare.sh. Prints one JSON line: the best GFLOP/s over a few
 * square and BERT-shaped sizes (C = A B^T, the linear layer's layout), with
 * the BLAS threaded by itself (set to THREADS) and the core type it chose,
 * or (mode "mtbert") kernels/cpu/cpu_gemm.c on THREADS OpenMP threads.
 *   cc -O2 -fopenmp bench/sgemm_peak.c -o sgemm_peak $(pkg-config --cflags --libs openblas)
 *   cc -O2 -fopenmp -DWITH_MTBERT_GEMM -I. -Ikernels bench/sgemm_peak.c kernels/cpu/cpu_gemm.c \
 *      $(pkg-config --cflags --libs openblas) -o sgemm_peak
 *   cc -O2 -fopenmp -I/usr/include/x86_64-linux-gnu/blis-openmp bench/sgemm_peak.c \
 *      /usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so -o sgemm_peak_blis   (BLIS instead)
 *   ./sgemm_peak [THREADS [blas|mtbert]]      (default 2 blas)
 *   ./sgemm_peak THREADS shapes [T H FF]       mtbert GEMM on the step's products
 *   ./sgemm_peak THREADS blas-shapes [T H FF]  the same products through the linked BLAS */
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
/* BLIS's (the same idea): its version and the sub-configuration it picked */
extern const char *bli_info_get_version_str(void) __attribute__((weak));
extern int bli_arch_query_id(void) __attribute__((weak));
extern const char *bli_arch_string(int) __attribute__((weak));

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

#ifdef WITH_MTBERT_GEMM
static int shapes_blas; /* mode "blas-shapes" */

/* best of `reps` calls of one product of the training step, with the
 * transposes and beta the model uses: fwd C = X W^T + b (NT), bwd dX += dY W
 * (NN, beta 1), dW += dY^T X (TN, beta 1). M x N x K is the product's. */
static double shape_gflops(int kind, int M, int N, int K, int reps) {
    size_t na = (size_t)M * K, nb = (size_t)N * K;
    float *A = malloc(sizeof(float) * na), *B = malloc(sizeof(float) * nb);
    float *C = calloc((size_t)M * N, sizeof(float)), *bias = calloc((size_t)N, sizeof(float));
    for (size_t i = 0; i < na; i++) A[i] = (float)((i * 7) % 13) * 0.01f;
    for (size_t i = 0; i < nb; i++) B[i] = (float)((i * 5) % 11) * 0.01f;
    double best = 1e30;
    for (int r = 0; r < reps + 1; r++) {
        double t0 = now_s();
        if (shapes_blas) { /* the same products through the linked BLAS, threaded by itself */
            if (kind == 0)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
            else if (kind == 1)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, A, K, B, N, 1.0f, C, N);
            else
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, 1.0f, A, M, B, N, 1.0f, C, N);
        } else if (kind == 0) cpu_gemm_bias(0, 1, M, N, K, A, K, B, K, bias, C, N);
        else if (kind == 1) cpu_gemm(0, 0, M, N, K, A, K, B, N, 1, C, N);
        else cpu_gemm(1, 0, M, N, K, A, M, B, N, 1, C, N);
        double dt = now_s() - t0;
        if (r > 0 && dt < best) best = dt;
    }
    free(A), free(B), free(C), free(bias);
    return 2.0 * M * N * K / best / 1e9;
}

/* `sgemm_peak THREADS shapes [T H FF]`: the bert-mini step's products
 * (tokens T, hidden H, intermediate FF; default 4096 256 1024) one by one */
static int run_shapes(int threads, int argc, char **argv) {
    int T = argc > 3 ? atoi(argv[3]) : 4096, H = argc > 4 ? atoi(argv[4]) : 256;
    int FF = argc > 5 ? atoi(argv[5]) : 1024;
    omp_set_num_threads(threads);
    if (openblas_set_num_threads) openblas_set_num_threads(shapes_blas ? threads : 1);
    if (bli_thread_set_num_threads) bli_thread_set_num_threads(threads);
    if (!shapes_blas && cpu_gemm_kind() == CPU_GEMM_BLAS) {
        fprintf(stderr, "sgemm_peak: no mtbert GEMM kernel on this CPU\n");
        return 2;
    }
    const int lin[4][2] = {{H, 3 * H}, {H, H}, {H, FF}, {FF, H}}; /* (C, OC) */
    static const char *tag[3] = {"fwd", "dinp", "dw"};
    double flop = 0, sec = 0;
    const char *core = cpu_gemm_name();
    if (shapes_blas)
        core = bli_arch_query_id && bli_arch_string ? bli_arch_string(bli_arch_query_id())
               : openblas_get_corename                ? openblas_get_corename()
                                                      : "BLAS";
    printf("{\"impl\": \"sgemm_shapes\", \"threads\": %d, \"core\": \"%s\", \"shapes\": {",
           threads, core);
    for (int l = 0; l < 4; l++)
        for (int k = 0; k < 3; k++) {
            int C = lin[l][0], OC = lin[l][1];
            int M = k == 0 ? T : k == 1 ? T : OC, N = k == 0 ? OC : k == 1 ? C : C;
            int K = k == 0 ? C : k == 1 ? OC : T;
            double g = shape_gflops(k, M, N, K, 6);
            flop += 2.0 * M * N * K, sec += 2.0 * M * N * K / (g * 1e9);
            printf("%s\"%s %dx%dx%d\": %.1f", l + k ? ", " : "", tag[k], M, N, K, g);
        }
    printf("}, \"all_gflops\": %.1f}\n", flop / sec / 1e9);
    return 0;
}
#endif

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1) threads = 1;
    use_own = argc > 2 && !strcmp(argv[2], "mtbert");
#ifdef WITH_MTBERT_GEMM
    if (argc > 2 && !strcmp(argv[2], "shapes")) return run_shapes(threads, argc, argv);
    if (argc > 2 && !strcmp(argv[2], "blas-shapes")) return shapes_blas = 1, run_shapes(threads, argc, argv);
#endif
    const char *lib = openblas_get_config ? openblas_get_config() : "non-OpenBLAS";
    const char *core = openblas_get_corename ? openblas_get_corename() : "";
    char blis[64];
    if (bli_info_get_version_str && bli_arch_query_id && bli_arch_string) {
        snprintf(blis, sizeof blis, "BLIS %s", bli_info_get_version_str());
        lib = blis, core = bli_arch_string(bli_arch_query_id());
    }
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
