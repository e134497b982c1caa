/* cpu_gemm.c — a packed fp32 GEMM for the linear layers, with AVX-512 and
 * AVX2 micro-kernels chosen at run time from CPUID.
 *
 * Why not only OpenBLAS: the library picks its kernels once, from CPUID or
 * OPENBLAS_CORETYPE, and on some machines here that variable pins it to its
 * AVX2 (Haswell) kernels on AVX-512 hardware; and split into row blocks over
 * our OpenMP threads it only ever sees small single-threaded sub-GEMMs.
 * This GEMM runs on the OpenMP team itself: the threads pack the shared
 * B panel together and then take disjoint row blocks of C.
 *
 * The layout is the usual one (Goto/BLIS): C is computed in KC-deep slices;
 * a KC x NC slice of B is packed into NR-wide column panels (L3/L2), an
 * MC x KC block of A into MR-tall row panels (L2), and the micro-kernel
 * multiplies one MR x KC panel by one KC x NR panel into an MR x NR tile
 * held in registers. Sums over k run in order within a KC slice, slices in
 * order: the result does not depend on the number of threads. */
#include <stdlib.h>
#include <string.h>
#include <immintrin.h>
#include <omp.h>

#include "cpu_internal.h"

#define KC 256
#define MC_ROWS 240 /* multiple of both MRs (12 and 6) */
#define NC 3072     /* multiple of both NRs (32 and 16) */
#define MR_MAX 12
#define NR_MAX 32

typedef void (*ukr_fn)(int kc, const float *Ap, long ak, const float *Bp, float *C, long ldc, int acc,
                       const float *bias);

/* ---- AVX-512: 12 x 32 tile, 24 zmm accumulators ---- */
__attribute__((target("avx512f,fma"))) static void ukr_avx512(int kc, const float *Ap, long ak,
                                                                const float *Bp, float *C,
                                                                long ldc, int acc, const float *bias) {
    __m512 c[12][2];
    for (int r = 0; r < 12; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    if (acc)
        for (int r = 0; r < 12; r++) {
            _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + r * ldc + 16), _MM_HINT_T0);
        }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
#pragma GCC unroll 12
        for (int r = 0; r < 12; r++) {
            __m512 a = _mm512_set1_ps(Ap[r]);
            c[r][0] = _mm512_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(a, b1, c[r][1]);
        }
        Ap += ak;
        Bp += 32;
    }
#pragma GCC unroll 12
    for (int r = 0; r < 12; r++) {
        float *cr = C + r * ldc;
        if (acc) {
            c[r][0] = _mm512_add_ps(c[r][0], _mm512_loadu_ps(cr));
            c[r][1] = _mm512_add_ps(c[r][1], _mm512_loadu_ps(cr + 16));
        } else if (bias) {
            c[r][0] = _mm512_add_ps(c[r][0], _mm512_loadu_ps(bias));
            c[r][1] = _mm512_add_ps(c[r][1], _mm512_loadu_ps(bias + 16));
        }
        _mm512_storeu_ps(cr, c[r][0]);
        _mm512_storeu_ps(cr + 16, c[r][1]);
    }
}

/* ---- AVX2 + FMA: 6 x 16 tile, 12 ymm accumulators ---- */
__attribute__((target("avx2,fma"))) static void ukr_avx2(int kc, const float *Ap, long ak,
                                                          const float *Bp, float *C, long ldc,
                                                          int acc, const float *bias) {
    __m256 c[6][2];
    for (int r = 0; r < 6; r++) c[r][0] = c[r][1] = _mm256_setzero_ps();
    if (acc)
        for (int r = 0; r < 6; r++) {
            _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + r * ldc + 8), _MM_HINT_T0);
        }
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) {
            __m256 a = _mm256_broadcast_ss(Ap + r);
            c[r][0] = _mm256_fmadd_ps(a, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(a, b1, c[r][1]);
        }
        Ap += ak;
        Bp += 16;
    }
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        float *cr = C + r * ldc;
        if (acc) {
            c[r][0] = _mm256_add_ps(c[r][0], _mm256_loadu_ps(cr));
            c[r][1] = _mm256_add_ps(c[r][1], _mm256_loadu_ps(cr + 8));
        } else if (bias) {
            c[r][0] = _mm256_add_ps(c[r][0], _mm256_loadu_ps(bias));
            c[r][1] = _mm256_add_ps(c[r][1], _mm256_loadu_ps(bias + 8));
        }
        _mm256_storeu_ps(cr, c[r][0]);
        _mm256_storeu_ps(cr + 8, c[r][1]);
    }
}

/* The same tiles with A read in place, row-major (row r of the tile at
 * A + r*lda, depth k at +k): no packing of A for products whose A rows are
 * contiguous in k. Rows past the edge point at a valid row (ignored). */
typedef void (*ukr_rows_fn)(int kc, const float *A, long lda, int m, const float *Bp, float *C,
                            long ldc, int acc, const float *bias);

__attribute__((target("avx512f,fma"))) static void ukr_rows_avx512(int kc, const float *A,
                                                                     long lda, int m,
                                                                     const float *Bp, float *C,
                                                                     long ldc, int acc, const float *bias) {
    const float *a[12];
    for (int r = 0; r < 12; r++) a[r] = A + (size_t)(r < m ? r : 0) * lda;
    __m512 c[12][2];
    for (int r = 0; r < 12; r++) c[r][0] = c[r][1] = _mm512_setzero_ps();
    if (acc)
        for (int r = 0; r < 12; r++) {
            _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + r * ldc + 16), _MM_HINT_T0);
        }
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
#pragma GCC unroll 12
        for (int r = 0; r < 12; r++) {
            __m512 av = _mm512_set1_ps(a[r][k]);
            c[r][0] = _mm512_fmadd_ps(av, b0, c[r][0]);
            c[r][1] = _mm512_fmadd_ps(av, b1, c[r][1]);
        }
        Bp += 32;
    }
#pragma GCC unroll 12
    for (int r = 0; r < 12; r++) {
        float *cr = C + r * ldc;
        if (acc) {
            c[r][0] = _mm512_add_ps(c[r][0], _mm512_loadu_ps(cr));
            c[r][1] = _mm512_add_ps(c[r][1], _mm512_loadu_ps(cr + 16));
        } else if (bias) {
            c[r][0] = _mm512_add_ps(c[r][0], _mm512_loadu_ps(bias));
            c[r][1] = _mm512_add_ps(c[r][1], _mm512_loadu_ps(bias + 16));
        }
        _mm512_storeu_ps(cr, c[r][0]);
        _mm512_storeu_ps(cr + 16, c[r][1]);
    }
}

__attribute__((target("avx2,fma"))) static void ukr_rows_avx2(int kc, const float *A, long lda,
                                                               int m, const float *Bp, float *C,
                                                               long ldc, int acc, const float *bias) {
    const float *a[6];
    for (int r = 0; r < 6; r++) a[r] = A + (size_t)(r < m ? r : 0) * lda;
    __m256 c[6][2];
    for (int r = 0; r < 6; r++) c[r][0] = c[r][1] = _mm256_setzero_ps();
    if (acc)
        for (int r = 0; r < 6; r++) {
            _mm_prefetch((const char *)(C + r * ldc), _MM_HINT_T0);
            _mm_prefetch((const char *)(C + r * ldc + 8), _MM_HINT_T0);
        }
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
#pragma GCC unroll 6
        for (int r = 0; r < 6; r++) {
            __m256 av = _mm256_broadcast_ss(a[r] + k);
            c[r][0] = _mm256_fmadd_ps(av, b0, c[r][0]);
            c[r][1] = _mm256_fmadd_ps(av, b1, c[r][1]);
        }
        Bp += 16;
    }
#pragma GCC unroll 6
    for (int r = 0; r < 6; r++) {
        float *cr = C + r * ldc;
        if (acc) {
            c[r][0] = _mm256_add_ps(c[r][0], _mm256_loadu_ps(cr));
            c[r][1] = _mm256_add_ps(c[r][1], _mm256_loadu_ps(cr + 8));
        } else if (bias) {
            c[r][0] = _mm256_add_ps(c[r][0], _mm256_loadu_ps(bias));
            c[r][1] = _mm256_add_ps(c[r][1], _mm256_loadu_ps(bias + 8));
        }
        _mm256_storeu_ps(cr, c[r][0]);
        _mm256_storeu_ps(cr + 8, c[r][1]);
    }
}

static struct {
    int ready, kind, MR, NR, pack_rows, pack_t, share_b;
    ukr_fn ukr;
    ukr_rows_fn ukr_rows;
} G;

/* CPUID (with OS support of the registers, which __builtin_cpu_supports
 * checks) picks the kernel; MTBERT_GEMM=blas|avx2|avx512 overrides it for
 * measurements (an unsupported choice falls back to what the CPU has). */
static void gemm_init(void) {
    if (G.ready) return;
    __builtin_cpu_init();
    int has512 = __builtin_cpu_supports("avx512f");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const char *e = getenv("MTBERT_GEMM");
    int want = has512 ? CPU_GEMM_AVX512 : has2 ? CPU_GEMM_AVX2 : CPU_GEMM_BLAS;
    if (e && !strcmp(e, "blas")) want = CPU_GEMM_BLAS;
    else if (e && !strcmp(e, "avx2") && has2) want = CPU_GEMM_AVX2;
    else if (e && !strcmp(e, "avx512") && has512) want = CPU_GEMM_AVX512;
    G.kind = want;
    if (want == CPU_GEMM_AVX512) G.MR = 12, G.NR = 32, G.ukr = ukr_avx512, G.ukr_rows = ukr_rows_avx512;
    else if (want == CPU_GEMM_AVX2) G.MR = 6, G.NR = 16, G.ukr = ukr_avx2, G.ukr_rows = ukr_rows_avx2;
    /* A read in place, not packed (MTBERT_GEMM_PACK_A=1 packs it) */
    e = getenv("MTBERT_GEMM_PACK_A");
    G.pack_rows = e && *e == '1';
    e = getenv("MTBERT_GEMM_PACK_AT");
    G.pack_t = e && *e == '1';
    G.share_b = 1; /* row splits: B packed once by the team (cpu_gemm_share_b) */
    G.ready = 1;
}

static void const_b_clear(void);

int cpu_gemm_select(int kind) {
    gemm_init();
    const_b_clear();
    int has512 = __builtin_cpu_supports("avx512f");
    int has2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (kind == CPU_GEMM_AVX512 && has512) G.kind = kind, G.MR = 12, G.NR = 32, G.ukr = ukr_avx512, G.ukr_rows = ukr_rows_avx512;
    else if (kind == CPU_GEMM_AVX2 && has2) G.kind = kind, G.MR = 6, G.NR = 16, G.ukr = ukr_avx2, G.ukr_rows = ukr_rows_avx2;
    else if (kind == CPU_GEMM_BLAS) G.kind = kind;
    return G.kind;
}

void cpu_gemm_pack_a(int on) {
    gemm_init();
    G.pack_rows = on;
}

void cpu_gemm_share_b(int on) {
    gemm_init();
    G.share_b = on;
}

void cpu_gemm_pack_at(int on) {
    gemm_init();
    G.pack_t = on;
}

int cpu_gemm_kind(void) {
    gemm_init();
    return G.kind;
}

const char *cpu_gemm_name(void) {
    int k = cpu_gemm_kind();
    return k == CPU_GEMM_AVX512 ? "mtbert avx512 12x32" : k == CPU_GEMM_AVX2 ? "mtbert avx2 6x16" : "openblas";
}

/* A(i,k) of op(A): ta = 0 -> A[i*lda+k], ta = 1 -> A[k*lda+i]. Pack rows
 * i0..i0+mc-1, depths k0..k0+kc-1 into MR-tall panels, zero-padded. */
static void pack_a(float *Ap, const float *A, long lda, int ta, int i0, int mc, int k0, int kc,
                   int MR) {
    if (ta) {
        /* depth-major: one contiguous read of each depth's mc values, dealt
         * to the panels (a panel at a time would read kc lines lda apart
         * for every panel: with lda a multiple of 4 KiB they share L1 sets) */
        int full = mc / MR * MR;
        for (int k = 0; k < kc; k++) {
            const float *src = A + (size_t)(k0 + k) * lda + i0;
            for (int p = 0; p < full; p += MR) {
                float *dst = Ap + (size_t)p * kc + (size_t)k * MR;
                for (int r = 0; r < MR; r++) dst[r] = src[p + r];
            }
        }
        if (full < mc) {
            int m = mc - full;
            float *dst = Ap + (size_t)full * kc;
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)(k0 + k) * lda + i0 + full;
                for (int r = 0; r < MR; r++) dst[k * MR + r] = r < m ? src[r] : 0.0f;
            }
        }
        return;
    }
    for (int p = 0; p < mc; p += MR) {
        int m = mc - p < MR ? mc - p : MR;
        float *dst = Ap + (size_t)p * kc;
        if (!ta) {
            const float *src[MR_MAX];
            for (int r = 0; r < m; r++) src[r] = A + (size_t)(i0 + p + r) * lda + k0;
            for (int k = 0; k < kc; k++)
                for (int r = 0; r < m; r++) dst[k * MR + r] = src[r][k];
        } else {
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)(k0 + k) * lda + i0 + p;
                for (int r = 0; r < m; r++) dst[k * MR + r] = src[r];
            }
        }
        if (m < MR)
            for (int k = 0; k < kc; k++)
                for (int r = m; r < MR; r++) dst[k * MR + r] = 0.0f;
    }
}

/* Transposed B, 16 columns (rows of B, ldb apart, from src) by 16 depths:
 * dst[k*NR + j] = src[j*ldb + k] for j, k < 16, as one 16 x 16 register
 * transpose (unpack pairs of rows, shuffle within 128-bit lanes, then
 * gather lanes) instead of 256 strided scalar stores. */
__attribute__((target("avx512f"))) static void transpose16(float *dst, long NR, const float *src,
                                                             long ldb) {
    __m512 r[16], a[16], b[16];
    for (int j = 0; j < 16; j++) r[j] = _mm512_loadu_ps(src + (size_t)j * ldb);
    for (int i = 0; i < 8; i++) { /* lane: r0[0] r1[0] r0[1] r1[1] | r0[2] r1[2] r0[3] r1[3] */
        a[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) { /* b[4i+c], lane L: depth 4L+c of rows 4i..4i+3 */
        b[4 * i + 0] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0x44);
        b[4 * i + 1] = _mm512_shuffle_ps(a[4 * i], a[4 * i + 2], 0xEE);
        b[4 * i + 2] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0x44);
        b[4 * i + 3] = _mm512_shuffle_ps(a[4 * i + 1], a[4 * i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) { /* depth 4L+c: lane L of b[c], b[4+c], b[8+c], b[12+c] */
        __m512 s0 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0x88);
        __m512 s1 = _mm512_shuffle_f32x4(b[c], b[4 + c], 0xDD);
        __m512 s2 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0x88);
        __m512 s3 = _mm512_shuffle_f32x4(b[8 + c], b[12 + c], 0xDD);
        _mm512_storeu_ps(dst + (size_t)(0 + c) * NR, _mm512_shuffle_f32x4(s0, s2, 0x88));
        _mm512_storeu_ps(dst + (size_t)(4 + c) * NR, _mm512_shuffle_f32x4(s1, s3, 0x88));
        _mm512_storeu_ps(dst + (size_t)(8 + c) * NR, _mm512_shuffle_f32x4(s0, s2, 0xDD));
        _mm512_storeu_ps(dst + (size_t)(12 + c) * NR, _mm512_shuffle_f32x4(s1, s3, 0xDD));
    }
}

/* B(k,j) of op(B): tb = 0 -> B[k*ldb+j], tb = 1 -> B[j*ldb+k]. Pack NR-wide
 * panel q (columns j0+q*NR..) of depths k0..k0+kc-1, zero-padded. */
static void pack_b_panel(float *Bp, const float *B, long ldb, int tb, int j0, int nc, int k0,
                         int kc, int NR) {
    int n = nc - j0 < NR ? nc - j0 : NR;
    if (tb && G.kind == CPU_GEMM_AVX512 && n % 16 == 0) {
        /* whole 16 x 16 blocks by register transposes, the last kc % 16
         * depths and the missing columns as below */
        int k16 = kc / 16 * 16;
        for (int j = 0; j < n; j += 16)
            for (int k = 0; k < k16; k += 16)
                transpose16(Bp + (size_t)k * NR + j, NR, B + (size_t)(j0 + j) * ldb + k0 + k, ldb);
        for (int j = 0; j < n; j++) {
            const float *src = B + (size_t)(j0 + j) * ldb + k0;
            for (int k = k16; k < kc; k++) Bp[(size_t)k * NR + j] = src[k];
        }
        for (int j = n; j < NR; j++)
            for (int k = 0; k < kc; k++) Bp[(size_t)k * NR + j] = 0.0f;
        return;
    }
    if (!tb) {
        for (int k = 0; k < kc; k++) {
            const float *src = B + (size_t)(k0 + k) * ldb + j0;
            float *dst = Bp + (size_t)k * NR;
            int j = 0;
            for (; j < n; j++) dst[j] = src[j];
            for (; j < NR; j++) dst[j] = 0.0f;
        }
    } else {
        for (int j = 0; j < n; j++) {
            const float *src = B + (size_t)(j0 + j) * ldb + k0;
            for (int k = 0; k < kc; k++) Bp[(size_t)k * NR + j] = src[k];
        }
        for (int j = n; j < NR; j++)
            for (int k = 0; k < kc; k++) Bp[(size_t)k * NR + j] = 0.0f;
    }
}

/* per-thread packing buffers, grow-only (the OpenMP pool keeps its threads) */
static _Thread_local float *abuf, *bbuf;
static _Thread_local size_t bbuf_len;

/* the stride A rows that are 4 KiB apart are copied to: KC + 16 floats puts
 * the MR rows of a panel in different L1 sets */
#define A_COPY_LD (KC + 16)

static float *aligned_floats(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    return aligned_alloc(64, bytes);
}

/* All of B packed ahead, in the order gemm_serial reads it: NC-column
 * blocks, in each the KC-deep slices, in each the NR-wide panels of that
 * slice (KC x NR floats, the last slice kc deep). Every block but the last
 * is NC = npan * NR columns wide, so block jc starts at jc * K. */
static size_t packed_b_offset(int jc, int pc, int npan, int K) {
    return (size_t)jc * K + (size_t)npan * G.NR * pc;
}

static size_t packed_b_floats(int N, int K) {
    return (size_t)((N + G.NR - 1) / G.NR) * G.NR * K;
}

/* Thread id of nt packs its share of the panels of all of B into Bpre. */
static void pack_b_share(float *Bpre, const float *B, long ldb, int tb, int N, int K, int id,
                         int nt) {
    const int NR = G.NR;
    long units = 0;
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        units += (long)((nc + NR - 1) / NR) * ((K + KC - 1) / KC);
    }
    long per = (units + nt - 1) / nt, lo = per * id, hi = lo + per < units ? lo + per : units;
    long u = 0;
    for (int jc = 0; jc < N && u < hi; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC, npan = (nc + NR - 1) / NR;
        for (int pc = 0; pc < K && u < hi; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            float *slice = Bpre + packed_b_offset(jc, pc, npan, K);
            for (int q = 0; q < npan; q++, u++)
                if (u >= lo && u < hi)
                    pack_b_panel(slice + (size_t)q * NR * kc, B, ldb, tb, jc + q * NR, jc + nc, pc, kc, NR);
        }
    }
}

/* the team's shared packed B, grow-only (one product at a time: gemm_parallel
 * is never called inside a parallel region) */
static float *shared_b;
static size_t shared_b_len;
/* largest B packed ahead by the team (floats); beyond it each thread packs
 * its KC x NC slices itself (a B this large is not re-read from cache anyway) */
#define SHARED_B_MAX ((size_t)16 << 20)

/* ---- B operands that do not change: packed once, kept ----
 * An inference model declares its parameters constant (ops->params_constant);
 * a product whose B lies inside that range (a weight matrix) is packed the
 * first time and the packed copy reused by every later product with the same
 * B, transpose, shape and kernel. Any write into the range the backend sees
 * (copy, zero, AdamW, free) drops the copies and the declaration. */
static struct {
    const char *lo, *hi; /* the constant range, [lo, hi) */
    struct ConstB {
        const float *B;
        long ldb;
        int tb, N, K, kind;
        float *packed;
    } *e;
    int n, cap;
    size_t floats; /* held, for CONST_B_MAX */
} CB;
/* the most packed floats kept (1 GiB); products beyond it pack as usual */
#define CONST_B_MAX ((size_t)256 << 20)

static void const_b_clear(void) {
    for (int i = 0; i < CB.n; i++) free(CB.e[i].packed);
    free(CB.e);
    CB.e = NULL, CB.n = CB.cap = 0, CB.floats = 0;
}

void cpu_gemm_params_constant(const void *p, size_t bytes) {
    const_b_clear();
    CB.lo = p, CB.hi = p ? (const char *)p + bytes : NULL;
}

void cpu_gemm_params_written(const void *p, size_t bytes) {
    const char *a = p, *b = a + (bytes ? bytes : 1);
    if (!CB.lo || b <= CB.lo || a >= CB.hi) return;
    const_b_clear();
    CB.lo = CB.hi = NULL;
}

int cpu_gemm_constant_count(void) { return CB.n; }

/* the kept packed copy of this B, NULL when B is not constant (or out of
 * room): made on first use by the calling team (outside a parallel region) */
static const float *const_b_find(const float *B, long ldb, int tb, int N, int K) {
    const char *b0 = (const char *)B;
    size_t span = tb ? (size_t)(N - 1) * ldb + K : (size_t)(K - 1) * ldb + N;
    if (!CB.lo || b0 < CB.lo || b0 + span * sizeof(float) > CB.hi) return NULL;
    for (int i = 0; i < CB.n; i++) {
        struct ConstB *c = &CB.e[i];
        if (c->B == B && c->ldb == ldb && c->tb == tb && c->N == N && c->K == K && c->kind == G.kind)
            return c->packed;
    }
    size_t nb = packed_b_floats(N, K);
    if (CB.floats + nb > CONST_B_MAX) return NULL;
    if (CB.n == CB.cap) {
        int cap = CB.cap ? 2 * CB.cap : 64;
        struct ConstB *e = realloc(CB.e, sizeof *e * (size_t)cap);
        if (!e) return NULL;
        CB.e = e, CB.cap = cap;
    }
    float *packed = aligned_floats(nb);
    if (!packed) return NULL;
#pragma omp parallel
    pack_b_share(packed, B, ldb, tb, N, K, omp_get_thread_num(), omp_get_num_threads());
    CB.e[CB.n++] = (struct ConstB){B, ldb, tb, N, K, G.kind, packed};
    CB.floats += nb;
    return packed;
}

/* C(M,N) (+)= op(A) op(B) on the calling thread alone. Bpre: all of B
 * already packed in packed_b_offset's order (by the team, or kept for a
 * constant B), or NULL to pack each KC x NC slice here. 0, or -1 when out
 * of memory (nothing done). */
static int gemm_serial(int ta, int tb, int M, int N, int K, const float *A, long lda,
                       const float *B, long ldb, int beta, const float *bias, float *C,
                       long ldc, const float *Bpre) {
    const int MR = G.MR, NR = G.NR;
    if (!abuf && !(abuf = aligned_floats((size_t)MC_ROWS * A_COPY_LD))) return -1;
    int ncols = N < NC ? N : NC;
    size_t need = (size_t)((ncols + NR - 1) / NR) * NR * KC;
    if (!Bpre && need > bbuf_len) {
        free(bbuf);
        bbuf = aligned_floats(need);
        bbuf_len = bbuf ? need : 0;
        if (!bbuf) return -1;
    }
    float *Ap = abuf, *Bp = bbuf;
    float tile[MR_MAX * NR_MAX] __attribute__((aligned(64)));
    for (int jc = 0; jc < N; jc += NC) {
        int nc = N - jc < NC ? N - jc : NC;
        int npan = (nc + NR - 1) / NR;
        for (int pc = 0; pc < K; pc += KC) {
            int kc = K - pc < KC ? K - pc : KC;
            int acc = beta || pc > 0;
            if (Bpre) Bp = (float *)Bpre + packed_b_offset(jc, pc, npan, K);
            else
                for (int q = 0; q < npan; q++)
                    pack_b_panel(Bp + (size_t)q * NR * kc, B, ldb, tb, jc + q * NR, jc + nc, pc, kc, NR);
            for (int ic = 0; ic < M; ic += MC_ROWS) {
                int mc = M - ic < MC_ROWS ? M - ic : MC_ROWS;
                /* A in place unless its rows are a multiple of 4 KiB apart:
                 * then the 12 rows (or depths) of a panel fall into the same
                 * L1 sets and evict each other (kernel alone on L1 data:
                 * 215 GFLOP/s at lda 256 or 768, 162 at lda 1024) */
                int alias = lda % 1024 == 0;
                int inplace = !ta && !G.pack_rows;
                /* such rows (ta = 0) are copied a row at a time to a
                 * stride that does not alias and read in place there: a
                 * contiguous copy instead of pack_a's transposition into
                 * MR-float depths, the same products in the same order */
                const float *Arows = A + (size_t)ic * lda + pc;
                long ldr = lda;
                if (inplace && alias) {
                    for (int r = 0; r < mc; r++)
                        memcpy(Ap + (size_t)r * A_COPY_LD, Arows + (size_t)r * lda,
                               sizeof(float) * (size_t)kc);
                    Arows = Ap, ldr = A_COPY_LD;
                }
                /* ta = 1: full panels read in place (MR floats per depth, lda apart) */
                int inplace_t = ta && !G.pack_t && !alias;
                if (!inplace && !inplace_t) pack_a(Ap, A, lda, ta, ic, mc, pc, kc, MR);
                else if (inplace_t && mc % MR) {
                    int full = mc / MR * MR;
                    pack_a(Ap + (size_t)full * kc, A, lda, ta, ic + full, mc - full, pc, kc, MR);
                }
                for (int q = 0; q < npan; q++) {
                    int j = jc + q * NR, n = jc + nc - j < NR ? jc + nc - j : NR;
                    const float *bp = Bp + (size_t)q * NR * kc;
                    for (int p = 0; p < mc; p += MR) {
                        int m = mc - p < MR ? mc - p : MR;
                        float *c = C + (size_t)(ic + p) * ldc + j;
                        const float *arow = Arows + (size_t)p * ldr;
                        const float *ap = Ap + (size_t)p * kc;
                        long ak = MR;
                        if (inplace_t && m == MR) ap = A + (size_t)pc * lda + ic + p, ak = lda;
                        const float *bj = bias ? bias + j : NULL;
                        if (m == MR && n == NR) {
                            if (inplace) G.ukr_rows(kc, arow, ldr, m, bp, c, ldc, acc, bj);
                            else G.ukr(kc, ap, ak, bp, c, ldc, acc, bj);
                        } else {
                            if (inplace) G.ukr_rows(kc, arow, ldr, m, bp, tile, NR, 0, NULL);
                            else G.ukr(kc, ap, ak, bp, tile, NR, 0, NULL);
                            for (int r = 0; r < m; r++)
                                for (int t = 0; t < n; t++)
                                    c[(size_t)r * ldc + t] = acc ? c[(size_t)r * ldc + t] + tile[r * NR + t]
                                                             : bj ? tile[r * NR + t] + bj[t]
                                                                  : tile[r * NR + t];
                        }
                    }
                }
            }
        }
    }
    return 0;
}

int cpu_gemm_serial(int ta, int tb, int M, int N, int K, const float *A, long lda,
                    const float *B, long ldb, int beta, float *C, long ldc) {
    gemm_init();
    if (G.kind == CPU_GEMM_BLAS) return -1;
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) {
        if (!beta)
            for (int i = 0; i < M; i++) memset(C + (size_t)i * ldc, 0, sizeof(float) * (size_t)N);
        return 0;
    }
    return gemm_serial(ta, tb, M, N, K, A, lda, B, ldb, beta, NULL, C, ldc, NULL);
}

/* Threads: each takes one block of C, rows (whole MR panels) when M >= N,
 * else columns (whole NR panels), and runs its own packed GEMM on it: no
 * barriers inside, so a thread that the OS delays holds up the others only
 * once, at the end (the operand both share is packed twice: a few percent). */
static int gemm_parallel(int ta, int tb, int M, int N, int K, const float *A, long lda,
                         const float *B, long ldb, int beta, const float *bias, float *C, long ldc) {
    gemm_init();
    if (G.kind == CPU_GEMM_BLAS || omp_in_parallel()) return -1;
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0) {
        for (int i = 0; i < M; i++) {
            float *c = C + (size_t)i * ldc;
            if (bias) memcpy(c, bias, sizeof(float) * (size_t)N);
            else if (!beta) memset(c, 0, sizeof(float) * (size_t)N);
        }
        return 0;
    }
    int by_rows = M >= N, unit = by_rows ? G.MR : G.NR, len = by_rows ? M : N;
    int units = (len + unit - 1) / unit;
    int threads = omp_get_max_threads();
    if (threads > units) threads = units;
    /* a constant B (an inference model's weight) packed once and kept */
    const float *kept = (by_rows || threads <= 1) ? const_b_find(B, ldb, tb, N, K) : NULL;
    if (threads <= 1) return gemm_serial(ta, tb, M, N, K, A, lda, B, ldb, beta, bias, C, ldc, kept);
    /* row blocks share all of B: the team packs it once, each thread a share
     * of the panels, then one barrier (instead of every thread packing all
     * of it for its rows) */
    size_t nb = packed_b_floats(N, K);
    int share = !kept && by_rows && G.share_b && nb <= SHARED_B_MAX;
    if (share && nb > shared_b_len) {
        free(shared_b);
        shared_b = aligned_floats(nb);
        shared_b_len = shared_b ? nb : 0;
        share = shared_b != NULL;
    }
    int fail = 0;
#pragma omp parallel num_threads(threads) reduction(| : fail)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        if (share) {
            pack_b_share(shared_b, B, ldb, tb, N, K, id, nt);
#pragma omp barrier
        }
        int per = (units + nt - 1) / nt;
        int lo = per * id * unit, hi = per * (id + 1) * unit;
        if (hi > len) hi = len;
        if (lo < hi) {
            if (by_rows)
                fail |= gemm_serial(ta, tb, hi - lo, N, K, ta ? A + lo : A + (size_t)lo * lda, lda, B,
                                    ldb, beta, bias, C + (size_t)lo * ldc, ldc,
                                    kept ? kept : share ? shared_b : NULL);
            else
                fail |= gemm_serial(ta, tb, M, hi - lo, K, A, lda, tb ? B + (size_t)lo * ldb : B + lo,
                                    ldb, beta, bias ? bias + lo : NULL, C + lo, ldc, NULL);
        }
    }
    return fail ? -1 : 0;
}

int cpu_gemm(int ta, int tb, int M, int N, int K, const float *A, long lda, const float *B,
             long ldb, int beta, float *C, long ldc) {
    return gemm_parallel(ta, tb, M, N, K, A, lda, B, ldb, beta, NULL, C, ldc);
}

int cpu_gemm_bias(int ta, int tb, int M, int N, int K, const float *A, long lda, const float *B,
                  long ldb, const float *bias, float *C, long ldc) {
    return gemm_parallel(ta, tb, M, N, K, A, lda, B, ldb, 0, bias, C, ldc);
}
