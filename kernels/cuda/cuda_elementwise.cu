/* cuda_elementwise.cu — GELU, tanh, add/accumulate/scale and dropout.
 * Grid-stride loops; dropout draws one Philox block per 4 elements, exactly
 * the numbers philox_uniform gives the CPU. */
#include "cuda_common.cuh"

#define INV_SQRT_2PI 0.39894228040143267794f
#define SQRT_2_OVER_PI 0.79788456080286535588f
#define GELU_C 0.044715f

#define GRID_LOOP(i, n)                                                        \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);     \
         i += (size_t)gridDim.x * blockDim.x)

__global__ void gelu_forward_kernel(float *out, const float *inp, size_t n, int kind) {
    GRID_LOOP(i, n) {
        float x = inp[i];
        if (kind == GELU_TANH)
            out[i] = 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x)));
        else
            out[i] = x * normcdff(x);
    }
}

/* d gelu(x) / dx */
__device__ __forceinline__ float dgelu(float x, int kind) {
    if (kind == GELU_TANH) {
        float t = tanhf(SQRT_2_OVER_PI * (x + GELU_C * x * x * x));
        float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_C * x * x);
        return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du;
    }
    return normcdff(x) + x * INV_SQRT_2PI * expf(-0.5f * x * x);
}

__global__ void gelu_backward_kernel(float *dinp, const float *inp, const float *dout, size_t n,
                                     int kind) {
    GRID_LOOP(i, n) dinp[i] += dout[i] * dgelu(inp[i], kind);
}

/* gelu_bias_backward's element-wise part: written, not added */
__global__ void gelu_backward_write_kernel(float *dinp, const float *inp, const float *dout,
                                           size_t n, int kind) {
    GRID_LOOP(i, n) dinp[i] = dout[i] * dgelu(inp[i], kind);
}

__global__ void tanh_forward_kernel(float *out, const float *inp, size_t n) {
    GRID_LOOP(i, n) out[i] = tanhf(inp[i]);
}
__global__ void tanh_backward_kernel(float *dinp, const float *out, const float *dout, size_t n) {
    GRID_LOOP(i, n) dinp[i] += dout[i] * (1.0f - out[i] * out[i]);
}
__global__ void add_kernel(float *out, const float *a, const float *b, size_t n) {
    GRID_LOOP(i, n) out[i] = a[i] + b[i];
}
__global__ void accumulate_kernel(float *dst, const float *src, size_t n) {
    GRID_LOOP(i, n) dst[i] += src[i];
}
__global__ void scale_kernel(float *x, float s, size_t n) {
    GRID_LOOP(i, n) x[i] *= s;
}

/* Thread k owns Philox counter c0 + k, i.e. stream elements 4(c0+k) ..
 * 4(c0+k)+3, and handles those inside [offset, offset+n). mode 0: out =
 * inp*mult; mode 1: out += inp*mult. */
__global__ void dropout_kernel(float *out, const float *inp, size_t n, float p, float s,
                               uint64_t seed, uint64_t offset, int accumulate) {
    uint64_t c0 = offset >> 2, c1 = (offset + n - 1) >> 2;
    uint64_t nctr = c1 - c0 + 1;
    for (uint64_t k = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; k < nctr;
         k += (uint64_t)gridDim.x * blockDim.x) {
        uint32_t r[4];
        philox4x32(seed, c0 + k, r);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            uint64_t e = 4 * (c0 + k) + j; /* stream element */
            if (e < offset || e >= offset + n) continue;
            size_t i = (size_t)(e - offset);
            float u = (float)(r[j] >> 8) * (1.0f / 16777216.0f);
            float m = u >= p ? s : 0.0f;
            if (accumulate)
                out[i] += inp[i] * m;
            else
                out[i] = inp[i] * m;
        }
    }
}

void cuda_gelu_forward(float *out, const float *inp, size_t n, int kind) {
    if (!n) return;
    gelu_forward_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(out, inp, n, kind);
    CUDA_LAUNCH_CHECK();
}
void cuda_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int kind) {
    if (!n || !dinp) return;
    gelu_backward_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(dinp, inp, dout, n, kind);
    CUDA_LAUNCH_CHECK();
}
// inp, dout (N,OC) -> dinp (N,OC) = dout * gelu'(inp) (written), dbias (OC) += colsum(dinp)
// (NEVER RUN: no GPU in the session that wrote it; docs/cuda.md)
void cuda_gelu_bias_backward(float *dinp, float *dbias, const float *inp, const float *dout, int N,
                             int OC, int kind) {
    if (N <= 0 || OC <= 0) return;
    size_t n = (size_t)N * OC;
    gelu_backward_write_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(dinp, inp, dout, n,
                                                                              kind);
    CUDA_LAUNCH_CHECK();
    if (dbias) cuda_colsum_add(dbias, dinp, N, OC);
}
void cuda_tanh_forward(float *out, const float *inp, size_t n) {
    if (!n) return;
    tanh_forward_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(out, inp, n);
    CUDA_LAUNCH_CHECK();
}
void cuda_tanh_backward(float *dinp, const float *out, const float *dout, size_t n) {
    if (!n || !dinp) return;
    tanh_backward_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(dinp, out, dout, n);
    CUDA_LAUNCH_CHECK();
}
void cuda_add(float *out, const float *a, const float *b, size_t n) {
    if (!n) return;
    add_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(out, a, b, n);
    CUDA_LAUNCH_CHECK();
}
void cuda_accumulate(float *dst, const float *src, size_t n) {
    if (!n) return;
    accumulate_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(dst, src, n);
    CUDA_LAUNCH_CHECK();
}
void cuda_scale(float *x, float s, size_t n) {
    if (!n) return;
    scale_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(x, s, n);
    CUDA_LAUNCH_CHECK();
}

// inp (n) -> out (n) = inp * keep / (1-p); out == inp allowed (each element
// is read then written by the same thread)
void cuda_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed,
                          uint64_t offset) {
    if (!n) return;
    if (p <= 0.0f) {
        cuda_copy(out, inp, n * sizeof(float));
        return;
    }
    float s = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
    size_t nctr = (size_t)(((offset + n - 1) >> 2) - (offset >> 2) + 1);
    dropout_kernel<<<cuda_blocks(nctr, 256), 256, 0, cuda_stream()>>>(out, inp, n, p, s, seed,
                                                                      offset, 0);
    CUDA_LAUNCH_CHECK();
}

void cuda_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed,
                           uint64_t offset) {
    if (!n || !dinp) return;
    if (p <= 0.0f) {
        cuda_accumulate(dinp, dout, n);
        return;
    }
    float s = p >= 1.0f ? 0.0f : 1.0f / (1.0f - p);
    size_t nctr = (size_t)(((offset + n - 1) >> 2) - (offset >> 2) + 1);
    dropout_kernel<<<cuda_blocks(nctr, 256), 256, 0, cuda_stream()>>>(dinp, dout, n, p, s, seed,
                                                                      offset, 1);
    CUDA_LAUNCH_CHECK();
}
