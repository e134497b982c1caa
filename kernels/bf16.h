/* bf16.h — rounding fp32 values to bfloat16, kept in fp32 storage.
 *
 * bfloat16 is the top 16 bits of an IEEE fp32 (sign, 8 exponent bits, 7
 * mantissa bits). bf16_round() gives the fp32 value of the nearest bf16,
 * ties to even, as CUDA's __float2bfloat16_rn: the result's low 16 bits are
 * zero; values past the largest bf16 (beyond 0x7f7f7fff plus half an ulp)
 * become +-inf; infinities stay; a NaN stays a (quiet) NaN of the same
 * sign; subnormals round in the same way (no flush to zero).
 *
 * Plain C, header only: the CPU bf16 table (kernels/cpu/cpu_bf16.c) uses
 * it, and so can host code next to the CUDA tables and the tests. */
#ifndef MTBERT_BF16_H
#define MTBERT_BF16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t bf16_bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bf16_float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* the fp32 value of f rounded to the nearest bf16 (ties to even) */
static inline float bf16_round(float f) {
    uint32_t u = bf16_bits_of(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) /* NaN: keep it one (set the quiet bit) */
        return bf16_float_of((u | 0x00400000u) & 0xffff0000u);
    u += 0x7fffu + ((u >> 16) & 1u); /* half an ulp, plus one on an odd ulp: ties to even */
    return bf16_float_of(u & 0xffff0000u);
}

/* 1 when f is exactly a bf16 value (its low 16 bits are zero) */
static inline int bf16_exact(float f) { return (bf16_bits_of(f) & 0xffffu) == 0; }

#endif
