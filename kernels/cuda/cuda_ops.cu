/* cuda_ops.cu — the CUDA backend's op tables: "cuda" (fp32 throughout) and
 * "cuda-bf16" (linear layers on bf16 tensor cores, the rest fp32). */
#include "cuda_common.cuh"

extern "C" {
#include "kernels/cuda/ops_cuda.h"
}

#define CUDA_OPS_COMMON                                   \
    t.alloc = cuda_alloc;                                 \
    t.free = cuda_free;                                   \
    t.to_device = cuda_to_device;                         \
    t.to_host = cuda_to_host;                             \
    t.copy = cuda_copy;                                   \
    t.zero = cuda_zero;                                   \
    t.embedding_forward = cuda_embedding_forward;         \
    t.embedding_backward = cuda_embedding_backward;       \
    t.layernorm_forward = cuda_layernorm_forward;         \
    t.layernorm_backward = cuda_layernorm_backward;       \
    t.attention_forward = cuda_attention_forward;         \
    t.attention_backward = cuda_attention_backward;       \
    t.attention_scratch_floats = cuda_attention_scratch_floats; \
    t.gelu_forward = cuda_gelu_forward;                   \
    t.gelu_backward = cuda_gelu_backward;                 \
    t.gelu_bias_backward = cuda_gelu_bias_backward;       \
    t.tanh_forward = cuda_tanh_forward;                   \
    t.tanh_backward = cuda_tanh_backward;                 \
    t.add = cuda_add;                                     \
    t.accumulate = cuda_accumulate;                       \
    t.scale = cuda_scale;                                 \
    t.dropout_forward = cuda_dropout_forward;             \
    t.dropout_backward = cuda_dropout_backward;           \
    t.pool_forward = cuda_pool_forward;                   \
    t.pool_backward = cuda_pool_backward;                 \
    t.l2norm_forward = cuda_l2norm_forward;               \
    t.l2norm_backward = cuda_l2norm_backward;             \
    t.crossentropy_forward = cuda_crossentropy_forward;   \
    t.crossentropy_backward = cuda_crossentropy_backward; \
    t.cosine_forward = cuda_cosine_forward;               \
    t.cosine_backward = cuda_cosine_backward;             \
    t.adamw_update = cuda_adamw_update;                   \
    t.sumsq = cuda_sumsq;                                 \
    t.synchronize = cuda_synchronize;                     \
    t.set_threads = cuda_set_threads;

static Ops make_fp32(void) {
    Ops t = {};
    t.name = "cuda";
    CUDA_OPS_COMMON
    t.matmul_forward = cuda_matmul_forward;
    t.matmul_backward = cuda_matmul_backward;
    t.matmul_gelu_forward = cuda_matmul_gelu_forward;
    return t;
}

static Ops make_bf16(void) {
    Ops t = {};
    t.name = "cuda-bf16";
    CUDA_OPS_COMMON
    t.matmul_forward = cuda_matmul_forward_bf16;
    t.matmul_backward = cuda_matmul_backward_bf16;
    t.matmul_gelu_forward = cuda_matmul_gelu_forward_bf16;
    return t;
}

/* 1 when a usable device exists (checked once) */
static int have_gpu(void) {
    static int state = -1;
    if (state < 0) {
        int n = 0;
        cudaError_t e = cudaGetDeviceCount(&n);
        if (e != cudaSuccess) cudaGetLastError(); /* no driver / no device: not an error here */
        state = e == cudaSuccess && n > 0;
        if (state) cuda_stream(); /* create the stream and handles now, not mid-step */
    }
    return state;
}

static Ops g_fp32, g_bf16;

extern "C" const Ops *ops_cuda(void) {
    if (!have_gpu()) return NULL;
    if (!g_fp32.name) g_fp32 = make_fp32();
    return &g_fp32;
}

extern "C" const Ops *ops_cuda_bf16(void) {
    if (!have_gpu()) return NULL;
    if (!g_bf16.name) g_bf16 = make_bf16();
    return &g_bf16;
}
