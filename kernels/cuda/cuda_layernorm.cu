/* cuda_layernorm.cu — layer normalisation over the last dimension, and the
 * deterministic column-sum machinery shared with the linear layer's bias
 * gradient.
 *
 * Column sums never use atomics: rows are cut into fixed chunks of
 * COL_CHUNK rows, each chunk's partial sums land in scratch, and a second
 * kernel adds the partials in chunk order. The result depends only on the
 * shapes, never on scheduling. */
#include "cuda_common.cuh"

#define COL_CHUNK 128 /* rows per partial */
#define COL_RG 8      /* row groups inside a block */

/* partial[chunk][c] = sum over the chunk's rows of f(row, c) with
 * f = src (colsum), or for layer norm: dout*(x-mean)*rstd (dw) and dout (db). */
__global__ void colsum_partial_kernel(float *partial, const float *src, int N, int C) {
    __shared__ float part[COL_RG][33];
    int chunk = blockIdx.x, c = blockIdx.y * 32 + threadIdx.x;
    int r0 = chunk * COL_CHUNK, r1 = min(N, r0 + COL_CHUNK);
    float s = 0.0f;
    if (c < C)
        for (int r = r0 + threadIdx.y; r < r1; r += COL_RG) s += src[(size_t)r * C + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tot = part[0][threadIdx.x];
        for (int y = 1; y < COL_RG; y++) tot += part[y][threadIdx.x];
        partial[(size_t)chunk * C + c] = tot;
    }
}

__global__ void colsum_finish_kernel(float *dst, const float *partial, int nchunks, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int k = 0; k < nchunks; k++) s += partial[(size_t)k * C + c];
    dst[c] += s;
}

void cuda_colsum_add(float *dst, const float *src, int N, int C) {
    if (N <= 0 || C <= 0) return;
    cudaStream_t s = cuda_stream();
    int nchunks = (N + COL_CHUNK - 1) / COL_CHUNK;
    float *partial = (float *)cuda_scratch((size_t)nchunks * C * sizeof(float));
    dim3 grid(nchunks, (C + 31) / 32), block(32, COL_RG);
    colsum_partial_kernel<<<grid, block, 0, s>>>(partial, src, N, C);
    CUDA_LAUNCH_CHECK();
    colsum_finish_kernel<<<(C + 255) / 256, 256, 0, s>>>(dst, partial, nchunks, C);
    CUDA_LAUNCH_CHECK();
}

// inp (N,C), w, b (C) -> out (N,C); mean, rstd (N). One warp per row.
__global__ void layernorm_forward_kernel(float *out, float *mean, float *rstd, const float *inp,
                                         const float *w, const float *b, int N, int C,
                                         float eps) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C;
    float *o = out + (size_t)row * C;
    /* two passes (mean, then centred squares), as PyTorch and the CPU */
    float s = 0.0f;
    for (int c = lane; c < C; c += 32) s += x[c];
    float m = warp_sum(s) / (float)C;
    float v = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float d = x[c] - m;
        v += d * d;
    }
    v = warp_sum(v) / (float)C;
    float r = 1.0f / sqrtf(v + eps);
    for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * r * w[c] + b[c];
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

void cuda_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, int N, int C, float eps) {
    if (N <= 0 || C <= 0) return;
    layernorm_forward_kernel<<<(N + 7) / 8, 256, 0, cuda_stream()>>>(out, mean, rstd, inp, w, b,
                                                                     N, C, eps);
    CUDA_LAUNCH_CHECK();
}

// dx = r * (dy*w - mean(dy*w) - xhat * mean(dy*w*xhat)), one warp per row, +=
__global__ void layernorm_dinp_kernel(float *dinp, const float *dout, const float *inp,
                                      const float *w, const float *mean, const float *rstd,
                                      int N, int C) {
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x & 31;
    if (row >= N) return;
    const float *x = inp + (size_t)row * C, *d = dout + (size_t)row * C;
    float *g = dinp + (size_t)row * C;
    float m = mean[row], r = rstd[row];
    float s1 = 0.0f, s2 = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float dn = d[c] * w[c];
        s1 += dn;
        s2 += dn * (x[c] - m) * r;
    }
    s1 = warp_sum(s1) / (float)C;
    s2 = warp_sum(s2) / (float)C;
    for (int c = lane; c < C; c += 32) {
        float xh = (x[c] - m) * r;
        g[c] += r * (d[c] * w[c] - s1 - xh * s2);
    }
}

/* partials of dw (dout * xhat) and db (dout) per chunk of rows */
__global__ void layernorm_dwdb_partial_kernel(float *pw, float *pb, const float *dout,
                                              const float *inp, const float *mean,
                                              const float *rstd, int N, int C) {
    __shared__ float sw[COL_RG][33], sb[COL_RG][33];
    int chunk = blockIdx.x, c = blockIdx.y * 32 + threadIdx.x;
    int r0 = chunk * COL_CHUNK, r1 = min(N, r0 + COL_CHUNK);
    float aw = 0.0f, ab = 0.0f;
    if (c < C)
        for (int r = r0 + threadIdx.y; r < r1; r += COL_RG) {
            float d = dout[(size_t)r * C + c];
            aw += d * (inp[(size_t)r * C + c] - mean[r]) * rstd[r];
            ab += d;
        }
    sw[threadIdx.y][threadIdx.x] = aw;
    sb[threadIdx.y][threadIdx.x] = ab;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tw = sw[0][threadIdx.x], tb = sb[0][threadIdx.x];
        for (int y = 1; y < COL_RG; y++) {
            tw += sw[y][threadIdx.x];
            tb += sb[y][threadIdx.x];
        }
        pw[(size_t)chunk * C + c] = tw;
        pb[(size_t)chunk * C + c] = tb;
    }
}

void cuda_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean,
                             const float *rstd, int N, int C) {
    if (N <= 0 || C <= 0) return;
    cudaStream_t s = cuda_stream();
    if (dw || db) {
        int nchunks = (N + COL_CHUNK - 1) / COL_CHUNK;
        float *pw = (float *)cuda_scratch(2 * (size_t)nchunks * C * sizeof(float));
        float *pb = pw + (size_t)nchunks * C;
        dim3 grid(nchunks, (C + 31) / 32), block(32, COL_RG);
        layernorm_dwdb_partial_kernel<<<grid, block, 0, s>>>(pw, pb, dout, inp, mean, rstd, N, C);
        CUDA_LAUNCH_CHECK();
        if (dw) {
            colsum_finish_kernel<<<(C + 255) / 256, 256, 0, s>>>(dw, pw, nchunks, C);
            CUDA_LAUNCH_CHECK();
        }
        if (db) {
            colsum_finish_kernel<<<(C + 255) / 256, 256, 0, s>>>(db, pb, nchunks, C);
            CUDA_LAUNCH_CHECK();
        }
    }
    if (dinp) {
        layernorm_dinp_kernel<<<(N + 7) / 8, 256, 0, s>>>(dinp, dout, inp, w, mean, rstd, N, C);
        CUDA_LAUNCH_CHECK();
    }
}
