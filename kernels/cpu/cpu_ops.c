/* cpu_ops.c — the CPU backend's op table (fp32, OpenMP, OpenBLAS).
 *
 * Threading: one pool. Every op runs its own OpenMP loops, and the matrix
 * products are split into row blocks across those threads, each calling a
 * single-threaded OpenBLAS: two pools (OpenMP and OpenBLAS's pthreads)
 * spinning on the same cores cost 25% of a BERT-mini step in scheduler
 * time when measured with perf. Ops are not meant to be called from several
 * threads at once. */
#include <omp.h>

#include <cblas.h>

#include "cpu_internal.h"

static void cpu_synchronize(void) {}

static void cpu_set_threads(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    /* one thread pool: our OpenMP regions split the BLAS calls */
    openblas_set_num_threads(1);
}

static const Ops cpu_table = {
    .name = "cpu",
    .alloc = cpu_alloc,
    .free = cpu_free,
    .to_device = cpu_memcpy,
    .to_host = cpu_memcpy,
    .copy = cpu_memcpy,
    .zero = cpu_zero,
    .embedding_forward = cpu_embedding_forward,
    .embedding_backward = cpu_embedding_backward,
    .layernorm_forward = cpu_layernorm_forward,
    .layernorm_backward = cpu_layernorm_backward,
    .matmul_forward = cpu_matmul_forward,
    .matmul_backward = cpu_matmul_backward,
    .attention_forward = cpu_attention_forward,
    .attention_backward = cpu_attention_backward,
    .attention_scratch_floats = cpu_attention_scratch_floats,
    .gelu_forward = cpu_gelu_forward,
    .gelu_backward = cpu_gelu_backward,
    .matmul_gelu_forward = cpu_matmul_gelu_forward,
    .gelu_bias_backward = cpu_gelu_bias_backward,
    .tanh_forward = cpu_tanh_forward,
    .tanh_backward = cpu_tanh_backward,
    .add = cpu_add,
    .accumulate = cpu_accumulate,
    .scale = cpu_scale,
    .dropout_forward = cpu_dropout_forward,
    .dropout_backward = cpu_dropout_backward,
    .pool_forward = cpu_pool_forward,
    .pool_backward = cpu_pool_backward,
    .l2norm_forward = cpu_l2norm_forward,
    .l2norm_backward = cpu_l2norm_backward,
    .crossentropy_forward = cpu_crossentropy_forward,
    .crossentropy_backward = cpu_crossentropy_backward,
    .cosine_forward = cpu_cosine_forward,
    .cosine_backward = cpu_cosine_backward,
    .adamw_update = cpu_adamw_update,
    .sumsq = cpu_sumsq,
    .synchronize = cpu_synchronize,
    .set_threads = cpu_set_threads,
    .params_constant = cpu_gemm_params_constant,
};

const Ops *ops_cpu(void) {
    static int once = 0;
    if (!once) {
        openblas_set_num_threads(1);
        once = 1;
    }
    return &cpu_table;
}
