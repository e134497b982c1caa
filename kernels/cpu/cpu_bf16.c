/* cpu_bf16.c — the "cpu-bf16" table: the numerics reference for bf16
 * activations (ops_cpu_bf16, chosen by ops_select(cpu, bf16)).
 *
 * Every op is the fp32 CPU op (the same function, same arithmetic) followed
 * by rounding, to bf16 and kept in the fp32 buffer, of each ACTIVATION the
 * op writes — the buffers that a GPU implementation with bf16 activations
 * stores as bf16 — and, as in the cuda-bf16 table, the linear layers
 * compute from bf16-rounded operands with fp32 accumulation. Parameters,
 * their gradients, the optimizer state and the fp32 reductions are written
 * exactly as by the fp32 table. docs/precision.md has the table of which
 * output of which op is rounded; keep the two in step.
 *
 *   rounded to bf16 (written by the op)        stays fp32
 *   embedding_forward out                      embedding_backward dwte dwpe dwtt
 *   layernorm_forward out                      layernorm mean, rstd; backward dw, db
 *   layernorm_backward dinp
 *   matmul_forward out (fp32 accumulate+bias)  matmul_backward dw (from bf16 operands), dbias
 *   matmul_backward dinp                       (dbias from the unrounded dout, as cuda-bf16)
 *   attention_forward out                      attention scratch `att` (probabilities)
 *   attention_backward dqkv
 *   gelu / tanh forward out, backward dinp
 *   add out                                    accumulate, scale (parameter gradients)
 *   dropout forward out, backward dinp
 *   pool_forward out, pool_backward dhidden    pool argmax (int)
 *   l2norm_forward out, backward dinp          l2norm norm
 *   cosine_backward da, db                     cosine_forward cos
 *   crossentropy_backward dlogits              crossentropy losses, probs
 *                                              adamw params/m/v, sumsq; memory ops
 *
 * Matmul operands: forward rounds inp and w, backward rounds dout, w (for
 * dinp) and inp (for dw) into private copies; the caller's buffers are
 * never changed. The other ops read their inputs as they are: in the model
 * every activation input was written (rounded) by an op of this table.
 *
 * Compute is fp32 throughout, so this table is SLOWER than the fp32 one
 * (the same work plus the rounding passes and operand copies). */
#include <stdio.h>
#include <stdlib.h>

#include <omp.h>

#include "cpu_internal.h"
#include "kernels/bf16.h"

/* ---- rounding passes ---- */

/* x[0..n) = bf16_round(x[i]) in place; on the OpenMP team when large */
static void round_buf(float *x, size_t n) {
    if (!x) return;
    if (n < ((size_t)1 << 15) || omp_in_parallel()) {
        for (size_t i = 0; i < n; i++) x[i] = bf16_round(x[i]);
        return;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = bf16_round(x[i]);
}

/* Grow-only private buffers for the rounded matmul operands (ops are not
 * called from several threads at once, see cpu_ops.c); they live as long as
 * the process, like cpu_scratch. */
enum { SLOT_INP = 0, SLOT_W = 1, SLOT_DOUT = 2, NSLOTS = 3 };
static float *slot_buf[NSLOTS];
static size_t slot_len[NSLOTS];

/* a bf16-rounded copy of src (n floats) in slot s */
static const float *rounded_copy(int s, const float *src, size_t n) {
    if (n > slot_len[s]) {
        float *p = cpu_alloc(n * sizeof(float));
        if (!p) {
            fprintf(stderr, "mtbert cpu-bf16: out of memory for a %zu-float operand copy\n", n);
            abort();
        }
        cpu_free(slot_buf[s]);
        slot_buf[s] = p;
        slot_len[s] = n;
    }
    float *d = slot_buf[s];
    if (n < ((size_t)1 << 15)) {
        for (size_t i = 0; i < n; i++) d[i] = bf16_round(src[i]);
    } else {
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++) d[i] = bf16_round(src[i]);
    }
    return d;
}

/* ---- embeddings: out (B,T,C) rounded; parameter gradients fp32 ---- */

static void bf_embedding_forward(float *out, const int *ids, const int *type_ids,
                                 const float *wte, const float *wpe, const float *wtt, int B,
                                 int T, int C) {
    cpu_embedding_forward(out, ids, type_ids, wte, wpe, wtt, B, T, C);
    round_buf(out, (size_t)B * T * C);
}

/* ---- layer norm: out (N,C) and dinp rounded; mean, rstd, dw, db fp32 ---- */

static void bf_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                 const float *w, const float *b, int N, int C, float eps) {
    cpu_layernorm_forward(out, mean, rstd, inp, w, b, N, C, eps);
    round_buf(out, (size_t)N * C);
}

static void bf_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                                  const float *inp, const float *w, const float *mean,
                                  const float *rstd, int N, int C) {
    cpu_layernorm_backward(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
    round_buf(dinp, (size_t)N * C);
}

/* ---- linear: bf16 operands, fp32 accumulation and bias, out rounded ---- */

// inp (N,C), w (OC,C), bias (OC) or NULL -> out (N,OC)
static void bf_matmul_forward(float *out, const float *inp, const float *w, const float *bias,
                              int N, int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (C > 0) {
        inp = rounded_copy(SLOT_INP, inp, (size_t)N * C);
        w = rounded_copy(SLOT_W, w, (size_t)OC * C);
    }
    cpu_matmul_forward(out, inp, w, bias, N, C, OC);
    round_buf(out, (size_t)N * OC);
}

// dout (N,OC) -> dinp (N,C) += bf16(dout) @ bf16(w), rounded;
// dw (OC,C) += bf16(dout)^T @ bf16(inp), fp32; dbias (OC) += colsum(dout), fp32
static void bf_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                               const float *inp, const float *w, int N, int C, int OC) {
    if (N <= 0 || OC <= 0 || C <= 0) return;
    /* the bias gradient from the dout given, as the cuda-bf16 table */
    if (dbias) cpu_matmul_backward(NULL, NULL, dbias, dout, inp, w, N, C, OC);
    if (!dinp && !dw) return;
    const float *xd = rounded_copy(SLOT_DOUT, dout, (size_t)N * OC);
    const float *xw = dinp ? rounded_copy(SLOT_W, w, (size_t)OC * C) : w;
    const float *xi = dw ? rounded_copy(SLOT_INP, inp, (size_t)N * C) : inp;
    cpu_matmul_backward(dinp, dw, NULL, xd, xi, xw, N, C, OC);
    round_buf(dinp, (size_t)N * C);
}

/* ---- attention: out (B,T,C), dqkv (B,T,3C) rounded; att scratch fp32 ---- */

static void bf_attention_forward(float *out, float *att, const float *qkv, const int *mask,
                                 int B, int T, int C, int NH, float p, uint64_t seed,
                                 uint64_t offset) {
    cpu_attention_forward(out, att, qkv, mask, B, T, C, NH, p, seed, offset);
    round_buf(out, (size_t)B * T * C);
}

static void bf_attention_backward(float *dqkv, const float *dout, const float *qkv,
                                  const float *att, const int *mask, int B, int T, int C,
                                  int NH, float p, uint64_t seed, uint64_t offset) {
    cpu_attention_backward(dqkv, dout, qkv, att, mask, B, T, C, NH, p, seed, offset);
    round_buf(dqkv, (size_t)B * T * 3 * C);
}

/* ---- elementwise: outputs and input gradients rounded ---- */

static void bf_gelu_forward(float *out, const float *inp, size_t n, int kind) {
    cpu_gelu_forward(out, inp, n, kind);
    round_buf(out, n);
}

static void bf_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n,
                             int kind) {
    cpu_gelu_backward(dinp, inp, dout, n, kind);
    round_buf(dinp, n);
}

/* the fused FFN ops composed of this table's own ops (the same bits as
 * the unfused calls): pre and out rounded; dinp rounded, dbias fp32 from
 * the rounded dinp (what matmul_backward got as its dout before) */
static void bf_matmul_gelu_forward(float *pre, float *out, const float *inp, const float *w,
                                   const float *bias, int N, int C, int OC, int kind) {
    if (N <= 0 || OC <= 0) return;
    bf_matmul_forward(pre, inp, w, bias, N, C, OC);
    bf_gelu_forward(out, pre, (size_t)N * OC, kind);
}

static void bf_gelu_bias_backward(float *dinp, float *dbias, const float *inp, const float *dout,
                                  int N, int OC, int kind) {
    if (N <= 0 || OC <= 0) return;
    cpu_zero(dinp, sizeof(float) * (size_t)N * OC);
    bf_gelu_backward(dinp, inp, dout, (size_t)N * OC, kind);
    if (dbias) cpu_matmul_backward(NULL, NULL, dbias, dinp, NULL, NULL, N, 1, OC);
}

static void bf_tanh_forward(float *out, const float *inp, size_t n) {
    cpu_tanh_forward(out, inp, n);
    round_buf(out, n);
}

static void bf_tanh_backward(float *dinp, const float *out, const float *dout, size_t n) {
    cpu_tanh_backward(dinp, out, dout, n);
    round_buf(dinp, n);
}

/* the residual adds; accumulate and scale (used on parameter gradients:
 * clipping) are the fp32 functions themselves */
static void bf_add(float *out, const float *a, const float *b, size_t n) {
    cpu_add(out, a, b, n);
    round_buf(out, n);
}

static void bf_dropout_forward(float *out, const float *inp, size_t n, float p, uint64_t seed,
                               uint64_t offset) {
    cpu_dropout_forward(out, inp, n, p, seed, offset);
    round_buf(out, n);
}

static void bf_dropout_backward(float *dinp, const float *dout, size_t n, float p,
                                uint64_t seed, uint64_t offset) {
    cpu_dropout_backward(dinp, dout, n, p, seed, offset);
    round_buf(dinp, n);
}

/* ---- pooling, normalisation, similarity ---- */

static void bf_pool_forward(float *out, int *argmax, const float *hidden, const int *mask,
                            int B, int T, int C, int mode) {
    cpu_pool_forward(out, argmax, hidden, mask, B, T, C, mode);
    round_buf(out, (size_t)B * C);
}

static void bf_pool_backward(float *dhidden, const float *dout, const int *argmax,
                             const int *mask, int B, int T, int C, int mode) {
    cpu_pool_backward(dhidden, dout, argmax, mask, B, T, C, mode);
    round_buf(dhidden, (size_t)B * T * C);
}

static void bf_l2norm_forward(float *out, float *norm, const float *inp, int N, int D) {
    cpu_l2norm_forward(out, norm, inp, N, D);
    round_buf(out, (size_t)N * D);
}

static void bf_l2norm_backward(float *dinp, const float *dout, const float *out,
                               const float *norm, int N, int D) {
    cpu_l2norm_backward(dinp, dout, out, norm, N, D);
    round_buf(dinp, (size_t)N * D);
}

/* cos (N) is a score (fp32, cpu_cosine_forward itself); da, db rounded */
static void bf_cosine_backward(float *da, float *db, const float *dcos, const float *a,
                               const float *b, const float *cos, int N, int D) {
    cpu_cosine_backward(da, db, dcos, a, b, cos, N, D);
    round_buf(da, (size_t)N * D);
    round_buf(db, (size_t)N * D);
}

/* ---- loss: losses and probabilities fp32, dlogits rounded ---- */

static void bf_crossentropy_backward(float *dlogits, const float *probs, const int *targets,
                                     int N, int V, float scale) {
    cpu_crossentropy_backward(dlogits, probs, targets, N, V, scale);
    round_buf(dlogits, (size_t)N * V);
}

static void bf_synchronize(void) {}

/* the threads of the fp32 table (one OpenMP pool, single-threaded BLAS) */
static void bf_set_threads(int n) { ops_cpu()->set_threads(n); }

static const Ops cpu_bf16_table = {
    .name = "cpu-bf16",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_memcpy,
    .to_host = cpu_memcpy,
    .copy = cpu_memcpy,
    .zero = cpu_zero,
    .embedding_forward = bf_embedding_forward,
    .embedding_backward = cpu_embedding_backward,
    .layernorm_forward = bf_layernorm_forward,
    .layernorm_backward = bf_layernorm_backward,
    .matmul_forward = bf_matmul_forward,
    .matmul_backward = bf_matmul_backward,
    .attention_forward = bf_attention_forward,
    .attention_backward = bf_attention_backward,
    .attention_scratch_floats = cpu_attention_scratch_floats,
    .gelu_forward = bf_gelu_forward,
    .gelu_backward = bf_gelu_backward,
    .matmul_gelu_forward = bf_matmul_gelu_forward,
    .gelu_bias_backward = bf_gelu_bias_backward,
    .tanh_forward = bf_tanh_forward,
    .tanh_backward = bf_tanh_backward,
    .add = bf_add,
    .accumulate = cpu_accumulate,
    .scale = cpu_scale,
    .dropout_forward = bf_dropout_forward,
    .dropout_backward = bf_dropout_backward,
    .pool_forward = bf_pool_forward,
    .pool_backward = bf_pool_backward,
    .l2norm_forward = bf_l2norm_forward,
    .l2norm_backward = bf_l2norm_backward,
    .crossentropy_forward = cpu_crossentropy_forward,
    .crossentropy_backward = bf_crossentropy_backward,
    .cosine_forward = cpu_cosine_forward,
    .cosine_backward = bf_cosine_backward,
    .adamw_update = cpu_adamw_update,
    .sumsq = cpu_sumsq,
    .synchronize = bf_synchronize,
    .set_threads = bf_set_threads,
};

const Ops *ops_cpu_bf16(void) {
    ops_cpu(); /* the fp32 table's one-time set-up (single-threaded BLAS) */
    return &cpu_bf16_table;
}
