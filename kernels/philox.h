/* philox.h — Philox4x32-10 (Salmon et al., SC'11), the counter-based random
 * generator behind dropout and sampling. Header-only so that host C code and
 * CUDA kernels compute the very same numbers. */
#ifndef MTBERT_PHILOX_H
#define MTBERT_PHILOX_H

#include <stdint.h>

#ifdef __CUDACC__
#define PHILOX_FN static inline __host__ __device__
#else
#define PHILOX_FN static inline
#endif

/* 4 random 32-bit words for a 64-bit key and a 64-bit counter. */
PHILOX_FN void philox4x32(uint64_t key, uint64_t counter, uint32_t out[4]) {
    uint32_t c0 = (uint32_t)counter, c1 = (uint32_t)(counter >> 32), c2 = 0, c3 = 0;
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int r = 0; r < 10; r++) {
        uint64_t p0 = (uint64_t)0xD2511F53u * c0;
        uint64_t p1 = (uint64_t)0xCD9E8D57u * c2;
        uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1;
        c3 = (uint32_t)p0;
        c0 = n0;
        c2 = n2;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* Uniform float in [0,1) for element i of the stream keyed by `seed`: one
 * Philox call serves 4 consecutive elements. 24 random bits, exact in fp32. */
PHILOX_FN float philox_uniform(uint64_t seed, uint64_t i) {
    uint32_t r[4];
    philox4x32(seed, i >> 2, r);
    return (float)(r[i & 3] >> 8) * (1.0f / 16777216.0f);
}

/* Mix several integers (seed, step, rank, site) into one stream key. */
PHILOX_FN uint64_t philox_key(uint64_t a, uint64_t b, uint64_t c) {
    uint32_t r[4];
    philox4x32(a, (b << 20) ^ c, r);
    return ((uint64_t)r[0] << 32) | r[1];
}

#endif
