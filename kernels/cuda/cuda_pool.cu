/* cuda_pool.cu — sentence pooling, L2 normalisation and cosine similarity
 * (the same clamps as the CPU backend: count >= 1e-9, norm >= 1e-12,
 * |a||b| >= 1e-8). */
#include "cuda_common.cuh"

#define POOL_COUNT_MIN 1e-9f
#define L2_EPS 1e-12f
#define COS_EPS 1e-8f

/* one thread per (b, c); tokens walked in order as on the CPU */
__global__ void pool_forward_kernel(float *out, int *argmax, const float *hidden,
                                    const int *mask, int B, int T, int C, int mode) {
    int b = blockIdx.y, c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    const float *h = hidden + (size_t)b * T * C + c;
    const int *mk = mask + (size_t)b * T;
    float *o = out + (size_t)b * C + c;
    if (mode == POOL_CLS || mode == POOL_POOLER) {
        *o = h[0];
    } else if (mode == POOL_MAX) {
        float best = 0.0f;
        int am = -1;
        for (int t = 0; t < T; t++) {
            if (!mk[t]) continue;
            float v = h[(size_t)t * C];
            if (am < 0 || v > best) {
                best = v;
                am = t;
            }
        }
        *o = best;
        argmax[(size_t)b * C + c] = am;
    } else {
        int cnt = 0;
        float s = 0.0f;
        for (int t = 0; t < T; t++) {
            if (!mk[t]) continue;
            cnt++;
            s += h[(size_t)t * C];
        }
        *o = s * (1.0f / fmaxf((float)cnt, POOL_COUNT_MIN));
    }
}

void cuda_pool_forward(float *out, int *argmax, const float *hidden, const int *mask, int B,
                       int T, int C, int mode) {
    if (B <= 0 || C <= 0) return;
    dim3 grid((C + 127) / 128, B);
    pool_forward_kernel<<<grid, 128, 0, cuda_stream()>>>(out, argmax, hidden, mask, B, T, C, mode);
    CUDA_LAUNCH_CHECK();
}

/* mean: one block per (t, b), the real-token count reduced in the block */
__global__ void pool_mean_backward_kernel(float *dhidden, const float *dout, const int *mask,
                                          int T, int C) {
    __shared__ int cnt_s;
    int t = blockIdx.x, b = blockIdx.y;
    const int *mk = mask + (size_t)b * T;
    if (threadIdx.x == 0) cnt_s = 0;
    __syncthreads();
    int cnt = 0;
    for (int k = threadIdx.x; k < T; k += blockDim.x) cnt += mk[k] != 0;
    atomicAdd(&cnt_s, cnt); /* integer: order-independent */
    __syncthreads();
    if (!mk[t]) return;
    float inv = 1.0f / fmaxf((float)cnt_s, POOL_COUNT_MIN);
    float *dh = dhidden + ((size_t)b * T + t) * C;
    const float *d = dout + (size_t)b * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) dh[c] += d[c] * inv;
}

__global__ void pool_pick_backward_kernel(float *dhidden, const float *dout, const int *argmax,
                                          int B, int T, int C, int mode) {
    int b = blockIdx.y, c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float d = dout[(size_t)b * C + c];
    float *dh = dhidden + (size_t)b * T * C;
    if (mode == POOL_MAX) {
        int am = argmax[(size_t)b * C + c];
        if (am >= 0 && am < T) dh[(size_t)am * C + c] += d;
    } else {
        dh[c] += d;
    }
}

void cuda_pool_backward(float *dhidden, const float *dout, const int *argmax, const int *mask,
                        int B, int T, int C, int mode) {
    if (!dhidden || B <= 0 || C <= 0 || T <= 0) return;
    if (mode == POOL_MEAN) {
        dim3 grid(T, B);
        pool_mean_backward_kernel<<<grid, 128, 0, cuda_stream()>>>(dhidden, dout, mask, T, C);
    } else {
        dim3 grid((C + 127) / 128, B);
        pool_pick_backward_kernel<<<grid, 128, 0, cuda_stream()>>>(dhidden, dout, argmax, B, T, C,
                                                                   mode);
    }
    CUDA_LAUNCH_CHECK();
}

/* one warp per row */
#define ROW_OF_WARP() (blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32)

__global__ void l2norm_forward_kernel(float *out, float *norm, const float *inp, int N, int D) {
    int n = ROW_OF_WARP(), lane = threadIdx.x & 31;
    if (n >= N) return;
    const float *x = inp + (size_t)n * D;
    float *o = out + (size_t)n * D;
    float s = 0.0f;
    for (int d = lane; d < D; d += 32) s += x[d] * x[d];
    float nr = sqrtf(warp_sum(s));
    float inv = 1.0f / fmaxf(nr, L2_EPS);
    for (int d = lane; d < D; d += 32) o[d] = x[d] * inv;
    if (lane == 0) norm[n] = nr;
}

__global__ void l2norm_backward_kernel(float *dinp, const float *dout, const float *out,
                                       const float *norm, int N, int D) {
    int n = ROW_OF_WARP(), lane = threadIdx.x & 31;
    if (n >= N) return;
    const float *g = dout + (size_t)n * D, *y = out + (size_t)n * D;
    float *dx = dinp + (size_t)n * D;
    float nr = norm[n];
    if (nr > L2_EPS) {
        float dot = 0.0f;
        for (int d = lane; d < D; d += 32) dot += y[d] * g[d];
        dot = warp_sum(dot);
        float inv = 1.0f / nr;
        for (int d = lane; d < D; d += 32) dx[d] += (g[d] - y[d] * dot) * inv;
    } else {
        for (int d = lane; d < D; d += 32) dx[d] += g[d] * (1.0f / L2_EPS);
    }
}

void cuda_l2norm_forward(float *out, float *norm, const float *inp, int N, int D) {
    if (N <= 0 || D <= 0) return;
    l2norm_forward_kernel<<<(N + 7) / 8, 256, 0, cuda_stream()>>>(out, norm, inp, N, D);
    CUDA_LAUNCH_CHECK();
}
void cuda_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                          int N, int D) {
    if (!dinp || N <= 0 || D <= 0) return;
    l2norm_backward_kernel<<<(N + 7) / 8, 256, 0, cuda_stream()>>>(dinp, dout, out, norm, N, D);
    CUDA_LAUNCH_CHECK();
}

__global__ void cosine_forward_kernel(float *cos, const float *a, const float *b, int N, int D) {
    int n = ROW_OF_WARP(), lane = threadIdx.x & 31;
    if (n >= N) return;
    const float *x = a + (size_t)n * D, *y = b + (size_t)n * D;
    float xy = 0.0f, xx = 0.0f, yy = 0.0f;
    for (int d = lane; d < D; d += 32) {
        xy += x[d] * y[d];
        xx += x[d] * x[d];
        yy += y[d] * y[d];
    }
    xy = warp_sum(xy);
    xx = warp_sum(xx);
    yy = warp_sum(yy);
    if (lane == 0) cos[n] = xy / fmaxf(sqrtf(xx) * sqrtf(yy), COS_EPS);
}

__global__ void cosine_backward_kernel(float *da, float *db, const float *dcos, const float *a,
                                       const float *b, const float *cos, int N, int D) {
    int n = ROW_OF_WARP(), lane = threadIdx.x & 31;
    if (n >= N) return;
    const float *x = a + (size_t)n * D, *y = b + (size_t)n * D;
    float xx = 0.0f, yy = 0.0f;
    for (int d = lane; d < D; d += 32) {
        xx += x[d] * x[d];
        yy += y[d] * y[d];
    }
    xx = warp_sum(xx);
    yy = warp_sum(yy);
    float den = sqrtf(xx) * sqrtf(yy), g = dcos[n], c = cos[n];
    float s, cx, cy;
    if (den > COS_EPS) {
        s = g / den;
        cx = g * c / xx;
        cy = g * c / yy;
    } else {
        s = g / COS_EPS;
        cx = cy = 0.0f;
    }
    if (da)
        for (int d = lane; d < D; d += 32) da[(size_t)n * D + d] += s * y[d] - cx * x[d];
    if (db)
        for (int d = lane; d < D; d += 32) db[(size_t)n * D + d] += s * x[d] - cy * y[d];
}

void cuda_cosine_forward(float *cos, const float *a, const float *b, int N, int D) {
    if (N <= 0) return;
    cosine_forward_kernel<<<(N + 7) / 8, 256, 0, cuda_stream()>>>(cos, a, b, N, D);
    CUDA_LAUNCH_CHECK();
}
void cuda_cosine_backward(float *da, float *db, const float *dcos, const float *a,
                          const float *b, const float *cos, int N, int D) {
    if ((!da && !db) || N <= 0) return;
    cosine_backward_kernel<<<(N + 7) / 8, 256, 0, cuda_stream()>>>(da, db, dcos, a, b, cos, N, D);
    CUDA_LAUNCH_CHECK();
}
