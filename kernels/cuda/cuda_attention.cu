/* cuda_attention.cu — multi-head self-attention with padding masks and
 * counter-based attention dropout.
 *
 * Fast path (head size 16, 32, 64 or 128): fused flash-style kernels in
 * fp32. Forward runs an online softmax over key tiles held in shared memory
 * and keeps only the log-sum-exp of each query row, in the first B*NH*T
 * floats of `att`. Backward recomputes the probabilities from it:
 *   kernel 1 (one thread group per query): D_i = sum_j P_ij M_ij dO_i.V_j,
 *            then dQ_i += scale sum_j P_ij (M_ij dO_i.V_j - D_i) K_j;
 *   kernel 2 (one thread group per key): dV_j += sum_i P_ij M_ij dO_i,
 *            dK_j += scale sum_i P_ij (M_ij dO_i.V_j - D_i) Q_i.
 * Each output is owned by one thread group and summed in a fixed order: no
 * atomics, bit-identical runs. A query row is served by G = HD/16 threads,
 * each owning 16 of the head dimensions (interleaved: dim sub + G*k, so a
 * warp's shared-memory reads hit distinct banks or broadcast).
 *
 * General fallback (any other head size): one warp per row, the full
 * softmax probabilities kept in `att` (B,NH,T,T) like the CPU backend, and
 * the score gradients in scratch.
 *
 * M_ij is the dropout multiplier of element ((b*NH+h)*T+i)*T+j + offset
 * (0 or 1/(1-p)); padded keys get weight 0, padded queries give zero rows. */
#include "cuda_common.cuh"

#define ATT_THREADS 128
#define ATT_TILE 32 /* keys (forward, dQ) or queries (dK/dV) per shared tile */
#define ATT_DPT 16  /* head dims per thread */

template <int G>
__device__ __forceinline__ float group_sum(float v) {
#pragma unroll
    for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float keep_mult(uint64_t seed, uint64_t e, float p, float s) {
    return philox_uniform(seed, e) >= p ? s : 0.0f;
}

/* Load rows [r0, r0+ATT_TILE) of part `part` (0 q, 1 k, 2 v) of head h into
 * a (ATT_TILE, HD) shared tile (zeros past T), and their mask bits. */
template <int HD>
__device__ __forceinline__ void load_tile(float (*dst)[HD], const float *qkv, int b, int h,
                                          int part, int r0, int T, int C) {
    for (int e = threadIdx.x; e < ATT_TILE * HD; e += blockDim.x) {
        int r = e / HD, d = e % HD, t = r0 + r;
        dst[r][d] = t < T ? qkv[((size_t)b * T + t) * 3 * C + (size_t)part * C + (size_t)h * HD + d]
                          : 0.0f;
    }
}

template <int HD>
__global__ void __launch_bounds__(ATT_THREADS)
attn_flash_forward(float *out, float *lse, const float *qkv, const int *mask, int T, int C,
                   int NH, float p, uint64_t seed, uint64_t offset) {
    constexpr int G = HD / ATT_DPT, ROWS = ATT_THREADS / G, NM = ATT_TILE / G;
    __shared__ float Ks[ATT_TILE][HD], Vs[ATT_TILE][HD];
    __shared__ int mks[ATT_TILE];
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int sub = threadIdx.x % G, lane = threadIdx.x & 31, gbase = lane & ~(G - 1);
    int i = blockIdx.y * ROWS + threadIdx.x / G;
    const int *mk = mask + (size_t)b * T;
    bool valid = i < T && mk[i] != 0;
    float scale = rsqrtf((float)HD);
    float *o = out + ((size_t)b * T + i) * C + (size_t)h * HD;
    if (!__syncthreads_or(valid)) {
        if (i < T)
#pragma unroll
            for (int k = 0; k < ATT_DPT; k++) o[sub + G * k] = 0.0f;
        return;
    }
    float q[ATT_DPT], acc[ATT_DPT];
    const float *qrow = qkv + ((size_t)b * T + (i < T ? i : 0)) * 3 * C + (size_t)h * HD;
#pragma unroll
    for (int k = 0; k < ATT_DPT; k++) {
        q[k] = qrow[sub + G * k];
        acc[k] = 0.0f;
    }
    bool drop = p > 0.0f;
    float ms = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
    uint64_t erow = offset + ((uint64_t)bh * T + (uint64_t)i) * T;
    float m = -INFINITY, l = 0.0f;
    for (int j0 = 0; j0 < T; j0 += ATT_TILE) {
        __syncthreads(); /* previous tile fully used */
        load_tile<HD>(Ks, qkv, b, h, 1, j0, T, C);
        load_tile<HD>(Vs, qkv, b, h, 2, j0, T, C);
        int anyk = 0;
        if (threadIdx.x < ATT_TILE) {
            int j = j0 + threadIdx.x;
            mks[threadIdx.x] = j < T ? mk[j] != 0 : 0;
        }
        if (threadIdx.x < ATT_TILE) anyk = mks[threadIdx.x];
        if (!__syncthreads_or(anyk)) continue; /* all keys of the tile are padding */
        float sc[ATT_TILE];
        float tmax = -INFINITY;
#pragma unroll
        for (int jj = 0; jj < ATT_TILE; jj++) {
            float part = 0.0f;
#pragma unroll
            for (int k = 0; k < ATT_DPT; k++) part += q[k] * Ks[jj][sub + G * k];
            float s = group_sum<G>(part) * scale;
            s = mks[jj] ? s : -INFINITY;
            sc[jj] = s;
            tmax = fmaxf(tmax, s);
        }
        float mult[NM];
        if (drop) {
#pragma unroll
            for (int u = 0; u < NM; u++) mult[u] = keep_mult(seed, erow + j0 + u * G + sub, p, ms);
        }
        float mnew = fmaxf(m, tmax); /* finite: the tile has a real key */
        float alpha = expf(m - mnew);
        l *= alpha;
#pragma unroll
        for (int k = 0; k < ATT_DPT; k++) acc[k] *= alpha;
#pragma unroll
        for (int jj = 0; jj < ATT_TILE; jj++) {
            float pj = expf(sc[jj] - mnew);
            l += pj;
            if (drop) pj *= __shfl_sync(0xffffffffu, mult[jj / G], gbase + jj % G);
#pragma unroll
            for (int k = 0; k < ATT_DPT; k++) acc[k] += pj * Vs[jj][sub + G * k];
        }
        m = mnew;
    }
    if (i >= T) return;
    if (valid) {
        float inv = 1.0f / l;
#pragma unroll
        for (int k = 0; k < ATT_DPT; k++) o[sub + G * k] = acc[k] * inv;
        if (sub == 0) lse[(size_t)bh * T + i] = m + logf(l);
    } else {
#pragma unroll
        for (int k = 0; k < ATT_DPT; k++) o[sub + G * k] = 0.0f;
        if (sub == 0) lse[(size_t)bh * T + i] = 0.0f;
    }
}

/* kernel 1 of backward: dQ and D per query row */
template <int HD>
__global__ void __launch_bounds__(ATT_THREADS)
attn_flash_backward_q(float *dqkv, float *Dbuf, const float *dout, const float *qkv,
                      const float *lse, const int *mask, int T, int C, int NH, float p,
                      uint64_t seed, uint64_t offset) {
    constexpr int G = HD / ATT_DPT, ROWS = ATT_THREADS / G, NM = ATT_TILE / G;
    __shared__ float Ks[ATT_TILE][HD], Vs[ATT_TILE][HD];
    __shared__ int mks[ATT_TILE];
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int sub = threadIdx.x % G, lane = threadIdx.x & 31, gbase = lane & ~(G - 1);
    int i = blockIdx.y * ROWS + threadIdx.x / G;
    const int *mk = mask + (size_t)b * T;
    bool valid = i < T && mk[i] != 0;
    if (!__syncthreads_or(valid)) return;
    int ic = i < T ? i : 0;
    const float *qrow = qkv + ((size_t)b * T + ic) * 3 * C + (size_t)h * HD;
    const float *drow = dout + ((size_t)b * T + ic) * C + (size_t)h * HD;
    float q[ATT_DPT], dO[ATT_DPT], dq[ATT_DPT];
#pragma unroll
    for (int k = 0; k < ATT_DPT; k++) {
        q[k] = qrow[sub + G * k];
        dO[k] = drow[sub + G * k];
        dq[k] = 0.0f;
    }
    float L = valid ? lse[(size_t)bh * T + i] : 0.0f;
    float scale = rsqrtf((float)HD);
    bool drop = p > 0.0f;
    float ms = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
    uint64_t erow = offset + ((uint64_t)bh * T + (uint64_t)i) * T;
    float D = 0.0f;
    for (int pass = 0; pass < 2; pass++) {
        for (int j0 = 0; j0 < T; j0 += ATT_TILE) {
            __syncthreads();
            load_tile<HD>(Ks, qkv, b, h, 1, j0, T, C);
            load_tile<HD>(Vs, qkv, b, h, 2, j0, T, C);
            int anyk = 0;
            if (threadIdx.x < ATT_TILE) {
                int j = j0 + threadIdx.x;
                mks[threadIdx.x] = j < T ? mk[j] != 0 : 0;
            }
            if (threadIdx.x < ATT_TILE) anyk = mks[threadIdx.x];
            if (!__syncthreads_or(anyk)) continue;
            float mult[NM];
            if (drop) {
#pragma unroll
                for (int u = 0; u < NM; u++) mult[u] = keep_mult(seed, erow + j0 + u * G + sub, p, ms);
            }
#pragma unroll /* fully: mult[] must stay in registers */
            for (int jj = 0; jj < ATT_TILE; jj++) {
                float ps = 0.0f, pd = 0.0f;
#pragma unroll
                for (int k = 0; k < ATT_DPT; k++) {
                    ps += q[k] * Ks[jj][sub + G * k];
                    pd += dO[k] * Vs[jj][sub + G * k];
                }
                float s = group_sum<G>(ps) * scale;
                float dp = group_sum<G>(pd);
                float P = mks[jj] && valid ? expf(s - L) : 0.0f;
                float M = 1.0f;
                if (drop) M = __shfl_sync(0xffffffffu, mult[jj / G], gbase + jj % G);
                if (pass == 0) {
                    D += P * (dp * M);
                } else {
                    float ds = P * (dp * M - D) * scale;
#pragma unroll
                    for (int k = 0; k < ATT_DPT; k++) dq[k] += ds * Ks[jj][sub + G * k];
                }
            }
        }
    }
    if (!valid) return;
    float *dqrow = dqkv + ((size_t)b * T + i) * 3 * C + (size_t)h * HD;
#pragma unroll
    for (int k = 0; k < ATT_DPT; k++) dqrow[sub + G * k] += dq[k];
    if (sub == 0) Dbuf[(size_t)bh * T + i] = D;
}

/* kernel 2 of backward: dK and dV per key row */
template <int HD>
__global__ void __launch_bounds__(ATT_THREADS)
attn_flash_backward_kv(float *dqkv, const float *Dbuf, const float *dout, const float *qkv,
                       const float *lse, const int *mask, int T, int C, int NH, float p,
                       uint64_t seed, uint64_t offset) {
    constexpr int G = HD / ATT_DPT, ROWS = ATT_THREADS / G, NM = ATT_TILE / G;
    __shared__ float Qs[ATT_TILE][HD], dOs[ATT_TILE][HD];
    __shared__ float Ls[ATT_TILE], Ds[ATT_TILE];
    __shared__ int mqs[ATT_TILE];
    int bh = blockIdx.x, b = bh / NH, h = bh % NH;
    int sub = threadIdx.x % G, lane = threadIdx.x & 31, gbase = lane & ~(G - 1);
    int j = blockIdx.y * ROWS + threadIdx.x / G;
    const int *mk = mask + (size_t)b * T;
    bool valid = j < T && mk[j] != 0;
    if (!__syncthreads_or(valid)) return;
    int jc = j < T ? j : 0;
    const float *krow = qkv + ((size_t)b * T + jc) * 3 * C + (size_t)C + (size_t)h * HD;
    const float *vrow = krow + C;
    float kk[ATT_DPT], vv[ATT_DPT], dk[ATT_DPT], dv[ATT_DPT];
#pragma unroll
    for (int k = 0; k < ATT_DPT; k++) {
        kk[k] = krow[sub + G * k];
        vv[k] = vrow[sub + G * k];
        dk[k] = 0.0f;
        dv[k] = 0.0f;
    }
    float scale = rsqrtf((float)HD);
    bool drop = p > 0.0f;
    float ms = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
    for (int i0 = 0; i0 < T; i0 += ATT_TILE) {
        __syncthreads();
        load_tile<HD>(Qs, qkv, b, h, 0, i0, T, C);
        for (int e = threadIdx.x; e < ATT_TILE * HD; e += blockDim.x) {
            int r = e / HD, d = e % HD, t = i0 + r;
            dOs[r][d] = t < T ? dout[((size_t)b * T + t) * C + (size_t)h * HD + d] : 0.0f;
        }
        int anyq = 0;
        if (threadIdx.x < ATT_TILE) {
            int t = i0 + threadIdx.x;
            int mq = t < T ? mk[t] != 0 : 0;
            mqs[threadIdx.x] = mq;
            Ls[threadIdx.x] = mq ? lse[(size_t)bh * T + t] : 0.0f;
            Ds[threadIdx.x] = mq ? Dbuf[(size_t)bh * T + t] : 0.0f;
            anyq = mq;
        }
        if (!__syncthreads_or(anyq)) continue;
        /* multipliers of (i0 + u*G + sub, j): element ((bh*T+i)*T + j) */
        float mult[NM];
        if (drop) {
#pragma unroll
            for (int u = 0; u < NM; u++) {
                uint64_t iq = (uint64_t)(i0 + u * G + sub);
                mult[u] = keep_mult(seed, offset + ((uint64_t)bh * T + iq) * T + (uint64_t)j, p, ms);
            }
        }
#pragma unroll /* fully: mult[] must stay in registers */
        for (int ii = 0; ii < ATT_TILE; ii++) {
            float ps = 0.0f, pd = 0.0f;
#pragma unroll
            for (int k = 0; k < ATT_DPT; k++) {
                ps += Qs[ii][sub + G * k] * kk[k];
                pd += dOs[ii][sub + G * k] * vv[k];
            }
            float s = group_sum<G>(ps) * scale;
            float dp = group_sum<G>(pd);
            float P = mqs[ii] && valid ? expf(s - Ls[ii]) : 0.0f;
            float M = 1.0f;
            if (drop) M = __shfl_sync(0xffffffffu, mult[ii / G], gbase + ii % G);
            float pm = P * M;
            float ds = P * (dp * M - Ds[ii]) * scale;
#pragma unroll
            for (int k = 0; k < ATT_DPT; k++) {
                dv[k] += pm * dOs[ii][sub + G * k];
                dk[k] += ds * Qs[ii][sub + G * k];
            }
        }
    }
    if (!valid) return;
    float *dkrow = dqkv + ((size_t)b * T + j) * 3 * C + (size_t)C + (size_t)h * HD;
    float *dvrow = dkrow + C;
#pragma unroll
    for (int k = 0; k < ATT_DPT; k++) {
        dkrow[sub + G * k] += dk[k];
        dvrow[sub + G * k] += dv[k];
    }
}

/* ---------------- general fallback: one warp per row ---------------- */

__global__ void attn_naive_forward(float *out, float *att, const float *qkv, const int *mask,
                                   int T, int C, int NH, float p, uint64_t seed,
                                   uint64_t offset) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    int hd = C / NH;
    int bh = blockIdx.y;
    int b = bh / NH, h = bh % NH, i = row;
    if (i >= T) return;
    const int *mk = mask + (size_t)b * T;
    float *A = att + ((size_t)bh * T + i) * T;
    float *o = out + ((size_t)b * T + i) * C + (size_t)h * hd;
    if (!mk[i]) {
        for (int j = lane; j < T; j += 32) A[j] = 0.0f;
        for (int d = lane; d < hd; d += 32) o[d] = 0.0f;
        return;
    }
    float scale = 1.0f / sqrtf((float)hd);
    const float *Q = qkv + ((size_t)b * T + i) * 3 * C + (size_t)h * hd;
    float mx = -INFINITY;
    for (int j = lane; j < T; j += 32) {
        float s = -INFINITY;
        if (mk[j]) {
            const float *K = qkv + ((size_t)b * T + j) * 3 * C + C + (size_t)h * hd;
            float acc = 0.0f;
            for (int d = 0; d < hd; d++) acc += Q[d] * K[d];
            s = acc * scale;
        }
        A[j] = s;
        mx = fmaxf(mx, s);
    }
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int j = lane; j < T; j += 32) {
        float e = mk[j] ? expf(A[j] - mx) : 0.0f;
        A[j] = e;
        sum += e;
    }
    float inv = 1.0f / warp_sum(sum);
    for (int j = lane; j < T; j += 32) A[j] *= inv;
    __syncwarp();
    bool drop = p > 0.0f;
    float ms = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
    uint64_t erow = offset + ((uint64_t)bh * T + (uint64_t)i) * T;
    for (int d = lane; d < hd; d += 32) {
        float acc = 0.0f;
        for (int j = 0; j < T; j++) {
            float P = A[j];
            if (P == 0.0f) continue;
            if (drop) P *= keep_mult(seed, erow + j, p, ms);
            acc += P * qkv[((size_t)b * T + j) * 3 * C + 2 * C + (size_t)h * hd + d];
        }
        o[d] = acc;
    }
}

/* dS (B,NH,T,T) in scratch; dQ += dS K */
__global__ void attn_naive_backward_q(float *dqkv, float *dS, const float *dout,
                                      const float *qkv, const float *att, const int *mask,
                                      int T, int C, int NH, float p, uint64_t seed,
                                      uint64_t offset) {
    int i = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, hd = C / NH;
    if (i >= T) return;
    const int *mk = mask + (size_t)b * T;
    const float *A = att + ((size_t)bh * T + i) * T;
    float *S = dS + ((size_t)bh * T + i) * T;
    if (!mk[i]) {
        for (int j = lane; j < T; j += 32) S[j] = 0.0f;
        return;
    }
    float scale = 1.0f / sqrtf((float)hd);
    bool drop = p > 0.0f;
    float ms = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
    uint64_t erow = offset + ((uint64_t)bh * T + (uint64_t)i) * T;
    const float *dO = dout + ((size_t)b * T + i) * C + (size_t)h * hd;
    float D = 0.0f;
    for (int j = lane; j < T; j += 32) {
        float g = 0.0f;
        if (mk[j]) {
            const float *V = qkv + ((size_t)b * T + j) * 3 * C + 2 * C + (size_t)h * hd;
            for (int d = 0; d < hd; d++) g += dO[d] * V[d];
            if (drop) g *= keep_mult(seed, erow + j, p, ms);
        }
        S[j] = g;
        D += A[j] * g;
    }
    D = warp_sum(D);
    for (int j = lane; j < T; j += 32) S[j] = A[j] * (S[j] - D) * scale;
    __syncwarp();
    float *dQ = dqkv + ((size_t)b * T + i) * 3 * C + (size_t)h * hd;
    for (int d = lane; d < hd; d += 32) {
        float acc = 0.0f;
        for (int j = 0; j < T; j++) {
            float s = S[j];
            if (s != 0.0f) acc += s * qkv[((size_t)b * T + j) * 3 * C + C + (size_t)h * hd + d];
        }
        dQ[d] += acc;
    }
}

/* dV_j += sum_i P_ij M_ij dO_i ; dK_j += sum_i dS_ij Q_i */
__global__ void attn_naive_backward_kv(float *dqkv, const float *dS, const float *dout,
                                       const float *qkv, const float *att, const int *mask,
                                       int T, int C, int NH, float p, uint64_t seed,
                                       uint64_t offset) {
    int j = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, hd = C / NH;
    if (j >= T) return;
    const int *mk = mask + (size_t)b * T;
    if (!mk[j]) return;
    bool drop = p > 0.0f;
    float ms = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
    float *dK = dqkv + ((size_t)b * T + j) * 3 * C + C + (size_t)h * hd;
    float *dV = dK + C;
    for (int d = lane; d < hd; d += 32) {
        float av = 0.0f, ak = 0.0f;
        for (int i = 0; i < T; i++) {
            if (!mk[i]) continue;
            float P = att[((size_t)bh * T + i) * T + j];
            if (drop) P *= keep_mult(seed, offset + ((uint64_t)bh * T + i) * T + j, p, ms);
            av += P * dout[((size_t)b * T + i) * C + (size_t)h * hd + d];
            ak += dS[((size_t)bh * T + i) * T + j] * qkv[((size_t)b * T + i) * 3 * C + (size_t)h * hd + d];
        }
        dV[d] += av;
        dK[d] += ak;
    }
}

/* ---------------- dispatch ---------------- */

template <int HD>
static void flash_forward(float *out, float *lse, const float *qkv, const int *mask, int B,
                          int T, int C, int NH, float p, uint64_t seed, uint64_t offset) {
    constexpr int ROWS = ATT_THREADS / (HD / ATT_DPT);
    dim3 grid(B * NH, (T + ROWS - 1) / ROWS);
    attn_flash_forward<HD><<<grid, ATT_THREADS, 0, cuda_stream()>>>(out, lse, qkv, mask, T, C, NH,
                                                                    p, seed, offset);
    CUDA_LAUNCH_CHECK();
}

template <int HD>
static void flash_backward(float *dqkv, const float *dout, const float *qkv, const float *lse,
                           const int *mask, int B, int T, int C, int NH, float p, uint64_t seed,
                           uint64_t offset) {
    constexpr int ROWS = ATT_THREADS / (HD / ATT_DPT);
    float *Dbuf = (float *)cuda_scratch((size_t)B * NH * T * sizeof(float));
    dim3 grid(B * NH, (T + ROWS - 1) / ROWS);
    attn_flash_backward_q<HD><<<grid, ATT_THREADS, 0, cuda_stream()>>>(
        dqkv, Dbuf, dout, qkv, lse, mask, T, C, NH, p, seed, offset);
    CUDA_LAUNCH_CHECK();
    attn_flash_backward_kv<HD><<<grid, ATT_THREADS, 0, cuda_stream()>>>(
        dqkv, Dbuf, dout, qkv, lse, mask, T, C, NH, p, seed, offset);
    CUDA_LAUNCH_CHECK();
}

static int flash_ok(int hd) { return hd == 16 || hd == 32 || hd == 64 || hd == 128; }

/* The rows of both grids: B*NH must fit gridDim.y (fallback) */
static void check_dims(int B, int NH) {
    if ((long)B * NH > 65535) {
        fprintf(stderr, "mtbert cuda attention: B*NH = %ld exceeds 65535\n", (long)B * NH);
        abort();
    }
}

// floats of `att`: the fused kernels keep one log-sum-exp per (b, h, query)
// row; the fallback keeps the probabilities (B,NH,T,T)
size_t cuda_attention_scratch_floats(int B, int T, int NH, int hd) {
    size_t rows = (size_t)B * NH * T;
    return flash_ok(hd) ? rows : rows * T;
}

// qkv (B,T,3C), mask (B,T) -> out (B,T,C); att: scratch (see top)
void cuda_attention_forward(float *out, float *att, const float *qkv, const int *mask, int B,
                            int T, int C, int NH, float p, uint64_t seed, uint64_t offset) {
    if (B <= 0 || T <= 0 || C <= 0 || NH <= 0) return;
    int hd = C / NH;
    switch (hd) {
    case 16: flash_forward<16>(out, att, qkv, mask, B, T, C, NH, p, seed, offset); return;
    case 32: flash_forward<32>(out, att, qkv, mask, B, T, C, NH, p, seed, offset); return;
    case 64: flash_forward<64>(out, att, qkv, mask, B, T, C, NH, p, seed, offset); return;
    case 128: flash_forward<128>(out, att, qkv, mask, B, T, C, NH, p, seed, offset); return;
    default: break;
    }
    check_dims(B, NH);
    dim3 grid((T + 7) / 8, B * NH);
    attn_naive_forward<<<grid, 256, 0, cuda_stream()>>>(out, att, qkv, mask, T, C, NH, p, seed,
                                                        offset);
    CUDA_LAUNCH_CHECK();
}

// dout (B,T,C) -> dqkv (B,T,3C) +=
void cuda_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                             const int *mask, int B, int T, int C, int NH, float p,
                             uint64_t seed, uint64_t offset) {
    if (!dqkv || B <= 0 || T <= 0 || C <= 0 || NH <= 0) return;
    int hd = C / NH;
    if (flash_ok(hd)) {
        switch (hd) {
        case 16: flash_backward<16>(dqkv, dout, qkv, att, mask, B, T, C, NH, p, seed, offset); break;
        case 32: flash_backward<32>(dqkv, dout, qkv, att, mask, B, T, C, NH, p, seed, offset); break;
        case 64: flash_backward<64>(dqkv, dout, qkv, att, mask, B, T, C, NH, p, seed, offset); break;
        default: flash_backward<128>(dqkv, dout, qkv, att, mask, B, T, C, NH, p, seed, offset); break;
        }
        return;
    }
    check_dims(B, NH);
    float *dS = (float *)cuda_scratch((size_t)B * NH * T * T * sizeof(float));
    dim3 grid((T + 7) / 8, B * NH);
    attn_naive_backward_q<<<grid, 256, 0, cuda_stream()>>>(dqkv, dS, dout, qkv, att, mask, T, C,
                                                           NH, p, seed, offset);
    CUDA_LAUNCH_CHECK();
    attn_naive_backward_kv<<<grid, 256, 0, cuda_stream()>>>(dqkv, dS, dout, qkv, att, mask, T, C,
                                                            NH, p, seed, offset);
    CUDA_LAUNCH_CHECK();
}
