/* cuda_common.cuh — private declarations shared by the CUDA backend's files.
 *
 * Every cuda_* function below is one field of the Ops table (kernels/ops.h
 * is the contract: shapes, += semantics, NULL gradients); cuda_ops.cu
 * assembles the tables. All kernels run on one stream owned by the backend
 * (cuda_stream()); memory transfers are ordered on it too, so the model
 * never sees a half-finished kernel. */
#ifndef MTBERT_CUDA_COMMON_CUH
#define MTBERT_CUDA_COMMON_CUH

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

extern "C" {
#include "kernels/ops.h"
}

/* Every runtime / cuBLAS call is checked; an op has no error return, so a
 * failure prints where and why and aborts (a half-done step is worthless). */
#define CUDA_CHECK(call)                                                               \
    do {                                                                               \
        cudaError_t err_ = (call);                                                     \
        if (err_ != cudaSuccess) {                                                     \
            fprintf(stderr, "%s:%d: CUDA error %s: %s (in %s)\n", __FILE__, __LINE__,  \
                    cudaGetErrorName(err_), cudaGetErrorString(err_), #call);          \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#define CUBLAS_CHECK(call)                                                             \
    do {                                                                               \
        cublasStatus_t st_ = (call);                                                   \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                            \
            fprintf(stderr, "%s:%d: cuBLAS error %d: %s (in %s)\n", __FILE__, __LINE__, \
                    (int)st_, cublasGetStatusString(st_), #call);                      \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* Debug mode, MTBERT_CUDA_SYNC=1 in the environment (read once): every
 * CUDA_LAUNCH_CHECK / CUDA_DEBUG_SYNC also waits for the device and checks
 * for errors, so that a kernel that faults (an illegal address, a trap) is
 * reported at the file:line of its own launch instead of at some later,
 * unrelated call. Slow: for finding faults, not for training. */
int cuda_debug_sync(void);

#define CUDA_SYNC_CHECK_(what)                                                         \
    do {                                                                               \
        cudaError_t err_ = cudaDeviceSynchronize();                                    \
        if (err_ == cudaSuccess) err_ = cudaGetLastError();                            \
        if (err_ != cudaSuccess) {                                                     \
            fprintf(stderr, "%s:%d: CUDA error %s: %s (in the %s here; found by "       \
                    "MTBERT_CUDA_SYNC=1)\n", __FILE__, __LINE__, cudaGetErrorName(err_), \
                    cudaGetErrorString(err_), what);                                   \
            abort();                                                                   \
        }                                                                              \
    } while (0)

/* after a kernel launch: configuration errors show up here, and in the
 * debug mode any fault of the kernel itself */
#define CUDA_LAUNCH_CHECK()                                                            \
    do {                                                                               \
        CUDA_CHECK(cudaGetLastError());                                                \
        if (cuda_debug_sync()) CUDA_SYNC_CHECK_("kernel launched");                    \
    } while (0)

/* after library work that launches kernels itself (cuBLAS, CUB): a no-op
 * unless the debug mode is on */
#define CUDA_DEBUG_SYNC()                                                              \
    do {                                                                               \
        if (cuda_debug_sync()) CUDA_SYNC_CHECK_("library call made");                  \
    } while (0)

/* ---- backend state (cuda_memory.cu) ---- */
cudaStream_t cuda_stream(void);
cublasHandle_t cuda_cublas(void);
cublasLtHandle_t cuda_cublaslt(void);
/* cuBLASLt workspace (fixed size, allocated once) */
void *cuda_lt_workspace(size_t *bytes);
/* Grow-only device scratch for ops that need temporary space. Ops run in
 * stream order, so one buffer serves them all; it grows only on the first
 * calls of a run (no allocation in the steady step loop). The pointer is
 * valid until the next cuda_scratch call. */
void *cuda_scratch(size_t bytes);
/* number of SMs of the current device (for grid sizing) */
int cuda_num_sms(void);

static inline unsigned cuda_blocks(size_t n, unsigned threads) {
    size_t b = (n + threads - 1) / threads;
    size_t cap = (size_t)cuda_num_sms() * 32;
    if (b > cap) b = cap; /* kernels using this are grid-stride loops */
    return b ? (unsigned)b : 1u;
}

/* ---- device helpers ---- */
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}
/* dropout multiplier of element i: philox_uniform as on the CPU */
__device__ __forceinline__ float dropout_mult(uint64_t seed, uint64_t i, float p, float s) {
    return philox_uniform(seed, i) >= p ? s : 0.0f;
}

/* Deterministic column sums of a row-major (N,C) matrix, in two stages with
 * fixed partitioning (cuda_layernorm.cu): dst[c] += sum_n src[n*C+c]. */
void cuda_colsum_add(float *dst, const float *src, int N, int C);

/* memory */
void *cuda_alloc(size_t bytes);
void cuda_free(void *p);
void cuda_to_device(void *dst, const void *src, size_t bytes);
void cuda_to_host(void *dst, const void *src, size_t bytes);
void cuda_copy(void *dst, const void *src, size_t bytes);
void cuda_zero(void *p, size_t bytes);
void cuda_synchronize(void);
void cuda_set_threads(int n);

/* embeddings */
void cuda_embedding_forward(float *out, const int *ids, const int *type_ids, const float *wte,
                            const float *wpe, const float *wtt, int B, int T, int C);
void cuda_embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                             const int *ids, const int *type_ids, int B, int T, int C);

/* layer norm */
void cuda_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                            const float *w, const float *b, int N, int C, float eps);
void cuda_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                             const float *inp, const float *w, const float *mean,
                             const float *rstd, int N, int C);

/* linear: fp32 (TF32 only with MTBERT_CUDA_TF32=1) and bf16 tensor-core inputs */
void cuda_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                         int N, int C, int OC);
void cuda_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int C, int OC);
void cuda_matmul_forward_bf16(float *out, const float *inp, const float *w, const float *bias,
                              int N, int C, int OC);
void cuda_matmul_backward_bf16(float *dinp, float *dw, float *dbias, const float *dout,
                               const float *inp, const float *w, int N, int C, int OC);

/* attention */
size_t cuda_attention_scratch_floats(int B, int T, int NH, int hd);
void cuda_attention_forward(float *out, float *att, const float *qkv, const int *mask, int B,
                            int T, int C, int NH, float p, uint64_t seed, uint64_t offset);
void cuda_attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                             const int *mask, int B, int T, int C, int NH, float p,
                             uint64_t seed, uint64_t offset);

/* elementwise */
void cuda_gelu_forward(float *out, const float *inp, size_t n, int kind);
void cuda_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n, int kind);
void cuda_gelu_bias_backward(float *dinp, float *dbias, const float *inp, const float *dout, int N,
                             int OC, int kind);
void cuda_matmul_gelu_forward(float *pre, float *out, const float *inp, const float *w,
                              const float *bias, int N, int C, int OC, int kind);
void cuda_matmul_gelu_forward_bf16(float *pre, float *out, const float *inp, const float *w,
                                   const float *bias, int N, int C, int OC, int kind);
void cuda_tanh_forward(float *out, const float *inp, size_t n);
void cuda_tanh_backward(float *dinp, const float *out, const float *dout, size_t n);
void cuda_add(float *out, const float *a, const float *b, size_t n);
void cuda_accumulate(float *dst, const float *src, size_t n);
void cuda_scale(float *x, float s, size_t n);
void cuda_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed,
                          uint64_t offset);
void cuda_dropout_backward(float *dinp, const float *dout, size_t n, float p, uint64_t seed,
                           uint64_t offset);

/* pooling, normalisation, similarity */
void cuda_pool_forward(float *out, int *argmax, const float *hidden, const int *mask, int B,
                       int T, int C, int mode);
void cuda_pool_backward(float *dhidden, const float *dout, const int *argmax, const int *mask,
                        int B, int T, int C, int mode);
void cuda_l2norm_forward(float *out, float *norm, const float *inp, int N, int D);
void cuda_l2norm_backward(float *dinp, const float *dout, const float *out, const float *norm,
                          int N, int D);
void cuda_cosine_forward(float *cos, const float *a, const float *b, int N, int D);
void cuda_cosine_backward(float *da, float *db, const float *dcos, const float *a,
                          const float *b, const float *cos, int N, int D);

/* loss */
void cuda_crossentropy_forward(float *losses, float *probs, const float *logits,
                               const int *targets, int N, int V);
void cuda_crossentropy_backward(float *dlogits, const float *probs, const int *targets, int N,
                                int V, float scale);

/* optimizer */
void cuda_adamw_update(float *params, const float *grads, float *m, float *v,
                       const AdamSpan *spans, int nspans, float beta1, float beta2, float eps,
                       int t);
double cuda_sumsq(const float *x, const AdamSpan *spans, int nspans);

#endif
