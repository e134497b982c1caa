/* cpu_elementwise.c — GELU (and the FFN's fused GELU + bias backward), tanh, add/accumulate/scale and dropout. */
#include <immintrin.h>
#include <math.h>
#include <omp.h>

#include "cpu_internal.h"

/* GELU uses the vectorisable cpu_normcdf / cpu_tanh_abs / cpu_expf of
 * cpu_internal.h (within a few 1e-7 of erff/tanhf, and more accurate than
 * 1+erff(x) in the negative tail); 4-5x faster than the libm calls.
 *
 * Elementwise loops split into static OpenMP chunks only when the vector
 * is long enough to pay for waking the team. */
#define PAR_MIN 16384

// inp (n) -> out (n)   (cpu_gelu1: cpu_internal.h; the kind is a constant
// in each loop so the branch folds away)
void cpu_gelu_forward(float *out, const float *inp, size_t n, int kind) {
    long N = (long)n;
    if (kind == GELU_TANH) {
#pragma omp parallel for schedule(static) if (N >= PAR_MIN)
        for (long i = 0; i < N; i++) out[i] = cpu_gelu1(inp[i], GELU_TANH);
    } else {
#pragma omp parallel for schedule(static) if (N >= PAR_MIN)
        for (long i = 0; i < N; i++) out[i] = cpu_gelu1(inp[i], GELU_ERF);
    }
}

// dout (n) -> dinp (n) +=
void cpu_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int kind) {
    long N = (long)n;
    if (kind == GELU_TANH) {
#pragma omp parallel for schedule(static) if (N >= PAR_MIN)
        for (long i = 0; i < N; i++) dinp[i] += dout[i] * cpu_dgelu1(inp[i], GELU_TANH);
    } else {
#pragma omp parallel for schedule(static) if (N >= PAR_MIN)
        for (long i = 0; i < N; i++) dinp[i] += dout[i] * cpu_dgelu1(inp[i], GELU_ERF);
    }
}

/* one row piece of gelu_bias_backward: d[k] = 0 + dout[k] * gelu'(x[k])
 * (0 + as in zero then +=, so a -0 product stores +0 as before) and
 * db[k] += d[k] */
static inline void gelu_bias_piece(float *d, float *db, const float *x, const float *g,
                                   size_t n, int kind) {
    /* four loops, no branch inside any (AVX2 vectorises only those) */
    if (kind == GELU_TANH && db)
        for (size_t k = 0; k < n; k++) {
            float v = 0.0f + g[k] * cpu_dgelu1(x[k], GELU_TANH);
            d[k] = v;
            db[k] += v;
        }
    else if (kind == GELU_TANH)
        for (size_t k = 0; k < n; k++) d[k] = 0.0f + g[k] * cpu_dgelu1(x[k], GELU_TANH);
    else if (db)
        for (size_t k = 0; k < n; k++) {
            float v = 0.0f + g[k] * cpu_dgelu1(x[k], GELU_ERF);
            d[k] = v;
            db[k] += v;
        }
    else
        for (size_t k = 0; k < n; k++) d[k] = 0.0f + g[k] * cpu_dgelu1(x[k], GELU_ERF);
}

// inp, dout (N,OC) -> dinp (N,OC) = dout * gelu'(inp) (written), dbias (OC) += colsum(dinp)
void cpu_gelu_bias_backward(float *dinp, float *dbias, const float *inp, const float *dout,
                            int N, int OC, int kind) {
    if (N <= 0 || OC <= 0) return;
    size_t total = (size_t)N * OC;
    /* threads own column ranges and go down all rows in order: the bias
     * sums add in the order of matmul_backward's column sums (same bits) */
#pragma omp parallel if (total >= PAR_MIN)
    {
        size_t lo, hi;
        cpu_chunk((size_t)OC, omp_get_num_threads(), omp_get_thread_num(), 16, &lo, &hi);
        for (int n = 0; n < N && lo < hi; n++) {
            size_t r = (size_t)n * OC;
            gelu_bias_piece(dinp + r + lo, dbias ? dbias + lo : NULL, inp + r + lo, dout + r + lo,
                            hi - lo, kind);
        }
    }
}

void cpu_tanh_forward(float *out, const float *inp, size_t n) {
    long N = (long)n;
#pragma omp parallel for schedule(static) if (N >= PAR_MIN)
    for (long i = 0; i < N; i++) out[i] = tanhf(inp[i]);
}

// d tanh(x)/dx = 1 - tanh(x)^2, from the saved output
void cpu_tanh_backward(float *dinp, const float *out, const float *dout, size_t n) {
    long N = (long)n;
#pragma omp parallel for schedule(static) if (N >= PAR_MIN)
    for (long i = 0; i < N; i++) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}

void cpu_add(float *out, const float *a, const float *b, size_t n) {
    long N = (long)n;
#pragma omp parallel for schedule(static) if (N >= PAR_MIN)
    for (long i = 0; i < N; i++) out[i] = a[i] + b[i];
}

void cpu_accumulate(float *dst, const float *src, size_t n) {
    long N = (long)n;
#pragma omp parallel for schedule(static) if (N >= PAR_MIN)
    for (long i = 0; i < N; i++) dst[i] += src[i];
}

void cpu_scale(float *x, float s, size_t n) {
    long N = (long)n;
#pragma omp parallel for schedule(static) if (N >= PAR_MIN)
    for (long i = 0; i < N; i++) x[i] *= s;
}

/* ---- dropout ---- */

/* Philox4x32-10 for PH_LANES consecutive counters at once, written lane by
 * lane so that GCC vectorises the 32x32->64 multiplies (the same arithmetic
 * as philox4x32 in philox.h). out[w][l] is word w of counter ctr0 + l. */
#define PH_LANES 16
static void philox_lanes(uint64_t key, uint64_t ctr0, uint32_t out[4][PH_LANES]) {
    uint32_t c0[PH_LANES], c1[PH_LANES], c2[PH_LANES], c3[PH_LANES];
    for (int l = 0; l < PH_LANES; l++) {
        uint64_t c = ctr0 + (uint64_t)l;
        c0[l] = (uint32_t)c;
        c1[l] = (uint32_t)(c >> 32);
        c2[l] = 0;
        c3[l] = 0;
    }
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
#pragma omp simd
        for (int l = 0; l < PH_LANES; l++) {
            uint64_t p0 = (uint64_t)0xD2511F53u * c0[l];
            uint64_t p1 = (uint64_t)0xCD9E8D57u * c2[l];
            uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1[l] ^ k0;
            uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3[l] ^ k1;
            c1[l] = (uint32_t)p1;
            c3[l] = (uint32_t)p0;
            c0[l] = n0;
            c2[l] = n2;
        }
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    for (int l = 0; l < PH_LANES; l++) {
        out[0][l] = c0[l];
        out[1][l] = c1[l];
        out[2][l] = c2[l];
        out[3][l] = c3[l];
    }
}

/* 64 multipliers (16 Philox blocks, counters ctr0..ctr0+15) with AVX-512:
 * the 32x32->64 products with vpmuludq on even and odd lanes (GCC's own
 * vectorisation of philox_lanes widens to 64-bit lanes and multiplies with
 * the slower vpmullq), then a 4x16 transpose into element order. The same
 * bits as philox4x32. */
__attribute__((target("avx512f"))) static void dropout_mult64_avx512(float *mult, uint64_t key,
                                                                     uint64_t ctr0, float p,
                                                                     float s) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i lo0 = _mm512_set1_epi32((int)(uint32_t)ctr0);
    __m512i c0 = _mm512_add_epi32(lo0, lane);
    __mmask16 carry = _mm512_cmplt_epu32_mask(c0, lo0);
    __m512i c1 = _mm512_mask_add_epi32(_mm512_set1_epi32((int)(uint32_t)(ctr0 >> 32)), carry,
                                       _mm512_set1_epi32((int)(uint32_t)(ctr0 >> 32)),
                                       _mm512_set1_epi32(1));
    __m512i c2 = _mm512_setzero_si512(), c3 = _mm512_setzero_si512();
    const __m512i m0 = _mm512_set1_epi64(0xD2511F53u), m1 = _mm512_set1_epi64(0xCD9E8D57u);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        /* even lanes in the low halves of 64-bit lanes, odd lanes shifted down */
        __m512i p0e = _mm512_mul_epu32(c0, m0), p0o = _mm512_mul_epu32(_mm512_srli_epi64(c0, 32), m0);
        __m512i p1e = _mm512_mul_epu32(c2, m1), p1o = _mm512_mul_epu32(_mm512_srli_epi64(c2, 32), m1);
        __m512i hi0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(p0e, 32), p0o);
        __m512i lo0v = _mm512_mask_blend_epi32(0xAAAA, p0e, _mm512_slli_epi64(p0o, 32));
        __m512i hi1 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(p1e, 32), p1o);
        __m512i lo1v = _mm512_mask_blend_epi32(0xAAAA, p1e, _mm512_slli_epi64(p1o, 32));
        __m512i n0 = _mm512_xor_si512(_mm512_xor_si512(hi1, c1), _mm512_set1_epi32((int)k0));
        __m512i n2 = _mm512_xor_si512(_mm512_xor_si512(hi0, c3), _mm512_set1_epi32((int)k1));
        c1 = lo1v;
        c3 = lo0v;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    const __m512 scale24 = _mm512_set1_ps(1.0f / 16777216.0f), vp = _mm512_set1_ps(p);
    const __m512 vs = _mm512_set1_ps(s), z = _mm512_setzero_ps();
    __m512 f[4];
    __m512i w[4] = {c0, c1, c2, c3};
    for (int j = 0; j < 4; j++) {
        __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(w[j], 8)), scale24);
        f[j] = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(u, vp, _CMP_GE_OQ), z, vs);
    }
    /* f[j] lane l is element 4l+j: transpose to element order */
    __m512 t0 = _mm512_unpacklo_ps(f[0], f[1]), t1 = _mm512_unpackhi_ps(f[0], f[1]);
    __m512 t2 = _mm512_unpacklo_ps(f[2], f[3]), t3 = _mm512_unpackhi_ps(f[2], f[3]);
    __m512 u0 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    __m512 u1 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t2)));
    __m512 u2 = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    __m512 u3 = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t1), _mm512_castps_pd(t3)));
    /* u_q holds elements of blocks l = 4*lane128 + q */
    __m512 v0 = _mm512_shuffle_f32x4(u0, u1, 0x44), v1 = _mm512_shuffle_f32x4(u2, u3, 0x44);
    __m512 v2 = _mm512_shuffle_f32x4(u0, u1, 0xEE), v3 = _mm512_shuffle_f32x4(u2, u3, 0xEE);
    _mm512_storeu_ps(mult, _mm512_shuffle_f32x4(v0, v1, 0x88));
    _mm512_storeu_ps(mult + 16, _mm512_shuffle_f32x4(v0, v1, 0xDD));
    _mm512_storeu_ps(mult + 32, _mm512_shuffle_f32x4(v2, v3, 0x88));
    _mm512_storeu_ps(mult + 48, _mm512_shuffle_f32x4(v2, v3, 0xDD));
}

static int have_avx512 = -1;

/* keep test of philox_uniform: 24 high bits scaled to [0,1) */
static inline float keep_mult(uint32_t word, float p, float s) {
    float u = (float)(word >> 8) * (1.0f / 16777216.0f);
    return u >= p ? s : 0.0f;
}

void cpu_dropout_mult(float *mult, uint64_t seed, uint64_t start, size_t n, float p) {
    if (p >= 1.0f) {
        for (size_t k = 0; k < n; k++) mult[k] = 0.0f;
        return;
    }
    float s = 1.0f / (1.0f - p);
    size_t k = 0;
    uint64_t i = start;
    /* the same draws as philox_uniform(seed, i): one Philox block per 4
     * elements; whole runs of 4*PH_LANES elements go through philox_lanes */
    if (have_avx512 < 0) {
        __builtin_cpu_init();
        have_avx512 = __builtin_cpu_supports("avx512f") ? 1 : 0;
    }
    while (k < n) {
        if (have_avx512 && (i & 3) == 0 && n - k >= 64) {
            dropout_mult64_avx512(mult + k, seed, i >> 2, p, s);
            k += 64;
            i += 64;
            continue;
        }
        if ((i & 3) == 0 && n - k >= 4 * PH_LANES) {
            uint32_t w[4][PH_LANES];
            philox_lanes(seed, i >> 2, w);
            for (int l = 0; l < PH_LANES; l++)
                for (int j = 0; j < 4; j++) mult[k + 4 * (size_t)l + (size_t)j] = keep_mult(w[j][l], p, s);
            k += 4 * PH_LANES;
            i += 4 * PH_LANES;
            continue;
        }
        uint32_t r[4];
        philox4x32(seed, i >> 2, r);
        for (unsigned j = (unsigned)(i & 3); j < 4 && k < n; j++, k++, i++) mult[k] = keep_mult(r[j], p, s);
    }
}

/* Dropout works in blocks of DBLK elements: multipliers for a block go to a
 * stack buffer, then one pass applies them. */
#define DBLK 512

// inp (n) -> out (n) = inp * keep / (1-p); out == inp allowed
void cpu_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed,
                         uint64_t offset) {
    if (p <= 0.0f) {
        cpu_memcpy(out, inp, n * sizeof(float));
        return;
    }
    long nblk = (long)((n + DBLK - 1) / DBLK);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (long bi = 0; bi < nblk; bi++) {
        float mult[DBLK];
        size_t i0 = (size_t)bi * DBLK, len = n - i0 < DBLK ? n - i0 : DBLK;
        cpu_dropout_mult(mult, seed, offset + i0, len, p);
        for (size_t k = 0; k < len; k++) out[i0 + k] = inp[i0 + k] * mult[k];
    }
}

// dout (n) -> dinp (n) += dout * keep / (1-p), the mask recomputed from (seed, offset)
void cpu_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed,
                          uint64_t offset) {
    if (!dinp) return;
    if (p <= 0.0f) {
        cpu_accumulate(dinp, dout, n);
        return;
    }
    long nblk = (long)((n + DBLK - 1) / DBLK);
#pragma omp parallel for schedule(static) if (n >= PAR_MIN)
    for (long bi = 0; bi < nblk; bi++) {
        float mult[DBLK];
        size_t i0 = (size_t)bi * DBLK, len = n - i0 < DBLK ? n - i0 : DBLK;
        cpu_dropout_mult(mult, seed, offset + i0, len, p);
        for (size_t k = 0; k < len; k++) dinp[i0 + k] += dout[i0 + k] * mult[k];
    }
}
