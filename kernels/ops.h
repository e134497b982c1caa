/* ops.h — the backend-neutral op table.
 *
 * The BERT model (trainer/model/model.c) is written once as calls into this table;
 * kernels/cpu implements it in plain fp32 C (the readable reference) and
 * kernels/cuda on NVIDIA GPUs. Every pointer a function takes is memory of
 * that backend (host memory for CPU, device memory for CUDA) unless it is
 * documented as a host value.
 *
 * Conventions
 * - Shapes are written above each function: B batch, T sequence length,
 *   C hidden size, NH heads, hd = C/NH head size, N = B*T rows, OC output
 *   features, V classes.
 * - Every *_backward ADDS into its gradient outputs (dinp, dw, db: +=).
 *   The model zeroes activation gradients once per backward pass and
 *   parameter gradients once per optimizer step (so gradient accumulation
 *   over micro-batches is free). A NULL gradient output means "not needed"
 *   (frozen parameter, or nothing trainable below): skip that work.
 * - Linear weights use the PyTorch layout (OC, C): out = inp @ w^T + b.
 * - Masks are int (B,T): 1 for a real token, 0 for padding. Padded keys get
 *   no attention weight; padded query rows produce zeros (never NaN).
 * - Random numbers for dropout are counter-based: element i of a dropout
 *   site keeps its value iff philox(seed, offset + i) >= p, so the mask does
 *   not depend on threads, backend or resume point and backward recomputes
 *   it instead of storing it.
 */
#ifndef MTBERT_OPS_H
#define MTBERT_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "philox.h"

enum { POOL_MEAN = 0, POOL_CLS = 1, POOL_MAX = 2, POOL_POOLER = 3 };
enum { GELU_ERF = 0, GELU_TANH = 1 };

/* One contiguous run of the flat parameter buffer updated with one learning
 * rate and weight decay (a tensor, or a group of adjacent tensors). */
typedef struct {
    size_t offset, count;
    float lr, weight_decay;
} AdamSpan;

typedef struct Ops {
    const char *name;

    /* ---- memory (bytes) ---- */
    void *(*alloc)(size_t bytes);          /* zeroed; NULL on failure */
    void (*free)(void *p);
    void (*to_device)(void *dst, const void *host_src, size_t bytes);
    void (*to_host)(void *host_dst, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes); /* device to device */
    void (*zero)(void *p, size_t bytes);

    /* ---- embeddings ----
     * ids, type_ids (B,T) int; wte (Vocab,C), wpe (MaxPos,C), wtt (Types,C)
     * out (B,T,C) = wte[ids] + wpe[t] + wtt[type_ids] */
    void (*embedding_forward)(float *out, const int *ids, const int *type_ids,
                              const float *wte, const float *wpe, const float *wtt,
                              int B, int T, int C);
    /* dwte, dwpe, dwtt may each be NULL (frozen) */
    void (*embedding_backward)(float *dwte, float *dwpe, float *dwtt, const float *dout,
                               const int *ids, const int *type_ids, int B, int T, int C);

    /* ---- layer norm over the last dimension ----
     * inp (N,C) -> out (N,C); mean, rstd (N) saved for backward */
    void (*layernorm_forward)(float *out, float *mean, float *rstd, const float *inp,
                              const float *w, const float *b, int N, int C, float eps);
    void (*layernorm_backward)(float *dinp, float *dw, float *db, const float *dout,
                               const float *inp, const float *w, const float *mean,
                               const float *rstd, int N, int C);

    /* ---- linear: inp (N,C), w (OC,C), bias (OC) or NULL -> out (N,OC) ---- */
    void (*matmul_forward)(float *out, const float *inp, const float *w, const float *bias,
                           int N, int C, int OC);
    void (*matmul_backward)(float *dinp, float *dw, float *dbias, const float *dout,
                            const float *inp, const float *w, int N, int C, int OC);

    /* ---- self-attention ----
     * qkv (B,T,3C): [q | k | v] per token, head h at columns h*hd..h*hd+hd-1
     * of each part; mask (B,T). att (B,NH,T,T) is scratch the model
     * allocates for the backend: the CPU backend keeps the softmax
     * probabilities there (before dropout); a fused backend may keep less.
     * Scores are scaled by 1/sqrt(hd). out (B,T,C) is the context, heads
     * concatenated; rows of padded queries are zero.
     * Attention dropout uses site seed `seed` and offset `offset`, with
     * element index ((b*NH+h)*T+i)*T+j; p = 0 turns it off. */
    void (*attention_forward)(float *out, float *att, const float *qkv, const int *mask,
                              int B, int T, int C, int NH, float p, uint64_t seed,
                              uint64_t offset);
    void (*attention_backward)(float *dqkv, const float *dout, const float *qkv,
                               const float *att, const int *mask, int B, int T, int C,
                               int NH, float p, uint64_t seed, uint64_t offset);
    /* floats of `att` the two functions above need for these shapes (the CPU
     * keeps all B*NH*T*T probabilities; a fused backend may keep B*NH*T) */
    size_t (*attention_scratch_floats)(int B, int T, int NH, int hd);

    /* ---- GELU (exact erf or tanh approximation): inp (N) -> out (N) ---- */
    void (*gelu_forward)(float *out, const float *inp, size_t n, int kind);
    void (*gelu_backward)(float *dinp, const float *inp, const float *dout, size_t n, int kind);

    /* ---- the FFN's fused passes (the model's intermediate layer) ----
     * matmul_gelu_forward: inp (N,C), w (OC,C), bias (OC) or NULL ->
     * pre (N,OC) = inp @ w^T + bias and out (N,OC) = gelu(pre): the values
     * of matmul_forward then gelu_forward; a backend may fuse them (a GEMM
     * epilogue). The CPU runs the two passes: GELU on each GEMM tile was
     * measured slower (docs/performance.md). pre is kept for
     * gelu_bias_backward. */
    void (*matmul_gelu_forward)(float *pre, float *out, const float *inp, const float *w,
                                const float *bias, int N, int C, int OC, int kind);
    /* gelu_bias_backward: inp = pre (N,OC), dout (N,OC) = d(gelu output) ->
     * dinp (N,OC) = dout * gelu'(inp), WRITTEN (=, the one exception to the
     * += rule: it stands for zero + gelu_backward), and dbias (OC) += the
     * column sums of dinp (rows in order, as matmul_backward's dbias); NULL
     * dbias: skipped. One pass instead of zero, gelu_backward and the bias
     * sums. */
    void (*gelu_bias_backward)(float *dinp, float *dbias, const float *inp, const float *dout,
                               int N, int OC, int kind);

    /* ---- tanh: inp (N) -> out (N); backward uses the output ---- */
    void (*tanh_forward)(float *out, const float *inp, size_t n);
    void (*tanh_backward)(float *dinp, const float *out, const float *dout, size_t n);

    /* ---- elementwise helpers ---- */
    void (*add)(float *out, const float *a, const float *b, size_t n); /* out = a + b */
    void (*accumulate)(float *dst, const float *src, size_t n);        /* dst += src */
    void (*scale)(float *x, float s, size_t n);                        /* x *= s */

    /* ---- dropout: out = inp * keep / (1-p); in place allowed ---- */
    void (*dropout_forward)(float *out, const float *inp, size_t n, float p,
                            uint64_t seed, uint64_t offset);
    void (*dropout_backward)(float *dinp, const float *dout, size_t n, float p,
                             uint64_t seed, uint64_t offset);

    /* ---- pooling of hidden (B,T,C) with mask (B,T) -> out (B,C) ----
     * mode POOL_MEAN (masked mean), POOL_CLS (row 0), POOL_MAX (masked max;
     * argmax (B,C) int saved for backward). POOL_POOLER is composed by the
     * model from POOL_CLS, a matmul and tanh. */
    void (*pool_forward)(float *out, int *argmax, const float *hidden, const int *mask,
                         int B, int T, int C, int mode);
    void (*pool_backward)(float *dhidden, const float *dout, const int *argmax,
                          const int *mask, int B, int T, int C, int mode);

    /* ---- L2 normalisation of rows: inp (N,D) -> out (N,D), norm (N) saved ---- */
    void (*l2norm_forward)(float *out, float *norm, const float *inp, int N, int D);
    void (*l2norm_backward)(float *dinp, const float *dout, const float *out,
                            const float *norm, int N, int D);

    /* ---- softmax cross-entropy with ignore index -100 ----
     * logits (N,V), targets (N) -> probs (N,V), losses (N) (0 where ignored).
     * Backward: dlogits += scale * (probs - onehot(target)) on labelled rows. */
    void (*crossentropy_forward)(float *losses, float *probs, const float *logits,
                                 const int *targets, int N, int V);
    void (*crossentropy_backward)(float *dlogits, const float *probs, const int *targets,
                                  int N, int V, float scale);

    /* ---- cosine similarity of row pairs: a, b (N,D) -> cos (N) ---- */
    void (*cosine_forward)(float *cos, const float *a, const float *b, int N, int D);
    /* dcos (N) -> da, db (N,D) (+=) */
    void (*cosine_backward)(float *da, float *db, const float *dcos, const float *a,
                            const float *b, const float *cos, int N, int D);

    /* ---- optimizer over the flat buffers ----
     * AdamW as torch.optim.AdamW: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     * p -= lr*wd*p; p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps).
     * Spans are host memory. `t` is the 1-based step count. */
    void (*adamw_update)(float *params, const float *grads, float *m, float *v,
                         const AdamSpan *spans, int nspans, float beta1, float beta2,
                         float eps, int t);
    /* sum of squares of the spans' gradients (host result, fp64 accumulation) */
    double (*sumsq)(const float *x, const AdamSpan *spans, int nspans);

    /* ---- synchronisation (no-op on CPU) ---- */
    void (*synchronize)(void);
    /* ---- threads for the CPU work of this backend (OpenMP and BLAS) ---- */
    void (*set_threads)(int n);
    /* ---- a promise (optional, NULL: none): the `bytes` at p (an inference
     * model's parameters, loaded) do not change until p is freed; the
     * backend may keep forms derived from them (the CPU keeps its GEMM's
     * packed weight matrices). The CPU backend still drops them on any
     * write into the range it sees (copy, zero, AdamW). ---- */
    void (*params_constant)(const void *p, size_t bytes);
} Ops;

/* The CPU backend (always built). */
const Ops *ops_cpu(void);
/* The CPU backend with activations rounded to bf16 where a bf16-activation
 * GPU stores them, compute in fp32 (kernels/cpu/cpu_bf16.c): the numerics
 * reference for bf16, slower than ops_cpu(). Which outputs are rounded:
 * docs/precision.md. */
const Ops *ops_cpu_bf16(void);
/* 1 when the table's memory is host memory (the CPU tables: cpu, cpu-bf16) */
int ops_on_host(const Ops *ops);
/* The CUDA backend, or NULL when built without CUDA or no GPU is present. */
const Ops *ops_cuda(void);
/* The same with bf16 tensor-core matmuls (kernels/cuda/ops_cuda.h). */
const Ops *ops_cuda_bf16(void);

/* ---- the one backend chooser (kernels/backend.c): every command asks it ---- */
typedef enum { BACKEND_AUTO = 0, BACKEND_CPU = 1, BACKEND_CUDA = 2 } BackendChoice;
typedef enum { PRECISION_FP32 = 0, PRECISION_BF16 = 1 } PrecisionChoice;
/* "auto" | "cpu" | "cuda", "fp32" | "bf16": 0, or -1 for an unknown name. */
int ops_parse_backend(const char *name, BackendChoice *out);
int ops_parse_precision(const char *name, PrecisionChoice *out);
/* The op table for (backend, precision): auto takes CUDA when a GPU is
 * present, else the CPU. bf16 is cuda-bf16 on a GPU and cpu-bf16 (the
 * numerics reference, not faster) on the CPU. NULL with a message in err
 * when the choice cannot be had here (cuda without a GPU or without a CUDA
 * build). */
const Ops *ops_select(BackendChoice backend, PrecisionChoice precision, char *err, size_t errlen);

#endif
