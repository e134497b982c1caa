/* test_cpu_gemm.c — the packed GEMM of kernels/cpu/cpu_gemm.c against a
 * double-precision triple loop, for every kernel this CPU can run (AVX-512,
 * AVX2), both transposes of each operand, beta 0 and 1 and a bias row,
 * packed and in-place A, transposed or not (rows 4 KiB apart are copied
 * or packed), and shapes that leave partial tiles and cross the KC, MC and
 * NC block edges; on 1 and 2 OpenMP threads; and rows 4 KiB apart, copied
 * to another stride and read in place, give the bits of the packed path. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_internal.h"
#include "testutil.h"

static uint64_t rng = 0x6e33a1ull;

/* C = beta*C0 + op(A) op(B), in double */
static void ref_gemm(int ta, int tb, int M, int N, int K, const float *A, long lda, const float *B,
                     long ldb, int beta, const float *C0, double *C, long ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = beta ? C0[(size_t)i * ldc + j] : 0.0;
            for (int k = 0; k < K; k++) {
                double a = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double b = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += a * b;
            }
            C[(size_t)i * ldc + j] = s;
        }
}

/* n floats uniform in [-1, 1) (malloc'd), and a copy of x */
static float *random_floats(size_t n) {
    float *x = malloc(sizeof(float) * (n ? n : 1));
    test_fill_uniform(x, n, &rng, -1.0f, 1.0f);
    return x;
}
static float *copy_floats(const float *x, size_t n) {
    float *y = malloc(sizeof(float) * (n ? n : 1));
    memcpy(y, x, sizeof(float) * n);
    return y;
}

/* beta: 0 or 1; 2 = cpu_gemm_bias (C = bias + product) */
static int one(int ta, int tb, int M, int N, int K, int beta, int pad) {
    long lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc(sizeof(float) * (na ? na : 1)), *B = malloc(sizeof(float) * (nb ? nb : 1));
    float *C = malloc(sizeof(float) * nc), *C0 = malloc(sizeof(float) * nc);
    double *R = malloc(sizeof(double) * nc);
    test_fill_uniform(A, na, &rng, -1.0f, 1.0f);
    test_fill_uniform(B, nb, &rng, -1.0f, 1.0f);
    test_fill_uniform(C0, nc, &rng, -1.0f, 1.0f);
    memcpy(C, C0, sizeof(float) * nc);
    float *bias = malloc(sizeof(float) * (size_t)N);
    test_fill_uniform(bias, (size_t)N, &rng, -1.0f, 1.0f);
    ref_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta == 1, C0, R, ldc);
    if (beta == 2)
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) R[(size_t)i * ldc + j] += bias[j];
    int rc = beta == 2 ? cpu_gemm_bias(ta, tb, M, N, K, A, lda, B, ldb, bias, C, ldc)
                       : cpu_gemm(ta, tb, M, N, K, A, lda, B, ldb, beta, C, ldc);
    double worst = 0;
    int pad_ok = 1;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double e = fabs(C[(size_t)i * ldc + j] - R[(size_t)i * ldc + j]) / (1.0 + sqrt((double)K));
            if (!(e <= worst)) worst = e;
        }
        for (int j = N; j < ldc; j++) pad_ok &= C[(size_t)i * ldc + j] == C0[(size_t)i * ldc + j];
    }
    /* fp32 sums of K products of magnitude <= 1: error ~ 1e-7 * sqrt(K) */
    CHECKF(rc == 0 && worst < 2e-6 && pad_ok,
           "%s ta=%d tb=%d M=%d N=%d K=%d beta=%d pad=%d: rc %d, error %.3g, padding %s",
           cpu_gemm_name(), ta, tb, M, N, K, beta, pad, rc, worst, pad_ok ? "kept" : "written");
    free(A);
    free(B);
    free(C);
    free(C0);
    free(R);
    free(bias);
    return 0;
}

int main(void) {
    static const int shapes[][3] = {{1, 1, 1},    {12, 32, 7},   {13, 33, 257}, {37, 45, 300},
                                    {250, 70, 40}, {500, 20, 9},  {7, 600, 513}, {64, 3100, 5},
                                    {241, 97, 256}, {30, 40, 1024}, {26, 50, 2048}};
    int kinds[] = {CPU_GEMM_AVX512, CPU_GEMM_AVX2};
    int tested = 0;
    for (int ki = 0; ki < 2; ki++) {
        if (cpu_gemm_select(kinds[ki]) != kinds[ki]) continue;
        tested++;
        for (int threads = 1; threads <= 2; threads++) {
            omp_set_num_threads(threads);
            for (int pack = 0; pack <= 1; pack++) {
                cpu_gemm_pack_a(pack);
                cpu_gemm_pack_at(pack);
                for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
                    for (int t = 0; t < 4; t++)
                        for (int beta = 0; beta <= 2; beta++)
                            one(t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2], beta,
                                (int)((s + t) % 3));
            }
        }
    }
    /* A rows 4 KiB apart (lda 1024, 2048): the row copy read in place and
     * pack_a's panels feed the same kernel sums in the same order */
    for (int ki = 0; ki < 2; ki++) {
        if (cpu_gemm_select(kinds[ki]) != kinds[ki]) continue;
        for (int threads = 1; threads <= 2; threads++)
            for (int tb = 0; tb <= 1; tb++)
                for (long lda = 1024; lda <= 2048; lda *= 2) {
                    omp_set_num_threads(threads);
                    int M = 250, N = 70, K = (int)lda - 3 * tb; /* K < lda: a padded row */
                    long ldb = tb ? K : N;
                    size_t na = (size_t)M * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * N;
                    float *A = random_floats(na), *B = random_floats(nb), *C0 = random_floats(nc);
                    float *C1 = copy_floats(C0, nc);
                    cpu_gemm_pack_a(1);
                    int r1 = cpu_gemm(0, tb, M, N, K, A, lda, B, ldb, 1, C0, N);
                    cpu_gemm_pack_a(0);
                    int r0 = cpu_gemm(0, tb, M, N, K, A, lda, B, ldb, 1, C1, N);
                    CHECKF(r0 == 0 && r1 == 0 && !memcmp(C0, C1, sizeof(float) * nc),
                           "%s tb=%d lda=%ld, %d threads: row copy and packed A differ", cpu_gemm_name(),
                           tb, lda, threads);
                    free(A), free(B), free(C0), free(C1);
                }
    }
    cpu_gemm_pack_at(0);
    /* row splits: B packed once by the team or by each thread for its rows
     * gives the same bits; shapes with several NC blocks and KC slices, a
     * partial last panel */
    static const int rows[][3] = {{3200, 3100, 17}, {700, 300, 600}, {97, 40, 513}, {4200, 4100, 1100}};
    for (int ki = 0; ki < 2; ki++) {
        if (cpu_gemm_select(kinds[ki]) != kinds[ki]) continue;
        omp_set_num_threads(2);
        for (size_t s = 0; s < sizeof rows / sizeof rows[0]; s++)
            for (int tb = 0; tb <= 1; tb++) {
                int M = rows[s][0], N = rows[s][1], K = rows[s][2];
                long ldb = tb ? K : N;
                size_t na = (size_t)M * K, nb = (size_t)K * N, nc = (size_t)M * N;
                float *A = random_floats(na), *B = random_floats(nb), *C0 = random_floats(nc);
                float *C1 = copy_floats(C0, nc), *C2 = copy_floats(C0, nc);
                cpu_gemm_share_b(1);
                int r1 = cpu_gemm(0, tb, M, N, K, A, K, B, ldb, 1, C0, N);
                cpu_gemm_share_b(0);
                int r0 = cpu_gemm(0, tb, M, N, K, A, K, B, ldb, 1, C1, N);
                cpu_gemm_share_b(1);
                /* and the shared result against the double reference on a
                 * sample of the elements (C1 - C0 start: C0 was overwritten) */
                double worst = 0;
                for (int i = 0; i < M; i += 97)
                    for (int j = 0; j < N; j += 7) {
                        double ref = 0;
                        for (int k = 0; k < K; k++)
                            ref += (double)A[(size_t)i * K + k] *
                                   (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]);
                        double e = fabs(C1[(size_t)i * N + j] - C2[(size_t)i * N + j] - ref) /
                                   (1.0 + sqrt((double)K));
                        if (!(e <= worst)) worst = e;
                    }
                CHECKF(r0 == 0 && r1 == 0 && !memcmp(C0, C1, sizeof(float) * nc) && worst < 4e-6,
                       "%s tb=%d %dx%dx%d, 2 threads: B shared by the team and packed per thread "
                       "differ, or error %.3g", cpu_gemm_name(), tb, M, N, K, worst);
                free(C2);
                free(A), free(B), free(C0), free(C1);
            }
    }
    /* constant B (an inference model's weights, ops->params_constant): the
     * packed copy is kept and reused with the same bits, and any write the
     * backend sees into the range (copy, zero, AdamW, free) drops it, so a
     * changed weight is never multiplied in its old packed form */
    for (int ki = 0; ki < 2; ki++) {
        if (cpu_gemm_select(kinds[ki]) != kinds[ki]) continue;
        for (int threads = 1; threads <= 2; threads++) {
            omp_set_num_threads(threads);
            int M = 300, N = 200, K = 300; /* row split: M >= N */
            size_t na = (size_t)M * K, nw = (size_t)N * K, nc = (size_t)M * N;
            float *A = random_floats(na), *W = cpu_alloc(sizeof(float) * (nw + 128)), *W2 = random_floats(nw);
            float *C0 = malloc(sizeof(float) * nc), *C1 = malloc(sizeof(float) * nc);
            test_fill_uniform(W + 64, nw, &rng, -1.0f, 1.0f);
            cpu_gemm_params_constant(NULL, 0);
            int r = cpu_gemm(0, 1, M, N, K, A, K, W + 64, K, 0, C0, N); /* not constant: reference */
            CHECK(r == 0 && cpu_gemm_constant_count() == 0);
            ops_cpu()->params_constant(W, sizeof(float) * (nw + 64)); /* the table's entry, as model_open calls it */
            for (int rep = 0; rep < 2; rep++) {
                r = cpu_gemm(0, 1, M, N, K, A, K, W + 64, K, 0, C1, N);
                CHECKF(r == 0 && cpu_gemm_constant_count() == 1 && !memcmp(C0, C1, sizeof(float) * nc),
                       "%s, %d threads, call %d: kept packed B: %d kept, bits %s", cpu_gemm_name(), threads,
                       rep, cpu_gemm_constant_count(), memcmp(C0, C1, sizeof(float) * nc) ? "differ" : "same");
            }
            /* a B reaching past the range (the allocation holds 64 floats
             * more than the range declared) is not kept */
            r = cpu_gemm(0, 1, M, N, K, A, K, W + 128, K, 0, C1, N);
            CHECK(r == 0 && cpu_gemm_constant_count() == 1);
            /* new weights through the backend's copy: the copy is dropped and
             * the product uses them */
            cpu_memcpy(W + 64, W2, sizeof(float) * nw);
            CHECK(cpu_gemm_constant_count() == 0);
            cpu_gemm_params_constant(NULL, 0);
            cpu_gemm(0, 1, M, N, K, A, K, W2, K, 0, C0, N);
            r = cpu_gemm(0, 1, M, N, K, A, K, W + 64, K, 0, C1, N);
            CHECKF(r == 0 && !memcmp(C0, C1, sizeof(float) * nc), "%s, %d threads: stale packed B after a copy",
                   cpu_gemm_name(), threads);
            /* and through zero, and free */
            cpu_gemm_params_constant(W, sizeof(float) * (nw + 64));
            cpu_gemm(0, 1, M, N, K, A, K, W + 64, K, 0, C1, N);
            CHECK(cpu_gemm_constant_count() == 1);
            cpu_zero(W + 100, sizeof(float));
            CHECK(cpu_gemm_constant_count() == 0);
            cpu_gemm_params_constant(W, sizeof(float) * (nw + 64));
            cpu_gemm(0, 1, M, N, K, A, K, W + 64, K, 0, C1, N);
            CHECK(cpu_gemm_constant_count() == 1);
            cpu_free(W);
            CHECK(cpu_gemm_constant_count() == 0);
            free(A), free(W2), free(C0), free(C1);
        }
    }
    /* the BLAS choice hands the product back to the caller */
    cpu_gemm_select(CPU_GEMM_BLAS);
    float a = 1, b = 1, c = 0;
    CHECK(cpu_gemm(0, 0, 1, 1, 1, &a, 1, &b, 1, 0, &c, 1) == -1 && c == 0);
    if (!tested) return test_skip("neither AVX2+FMA nor AVX-512 on this CPU");
    return test_finish("test_cpu_gemm");
}
