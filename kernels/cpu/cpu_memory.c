/* cpu_memory.c — host memory for the CPU backend, per-thread scratch, and
 * the BLAS thread switch used around OpenMP regions. */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "cpu_internal.h"

/* 64-byte alignment: a cache line, and the widest AVX-512 load. */
#define CPU_ALIGN 64

void *cpu_alloc(size_t bytes) {
    /* aligned_alloc wants a multiple of the alignment; a zero-byte request
     * still returns a unique, freeable pointer */
    size_t n = (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    if (n < bytes) return NULL; /* overflow */
    if (n == 0) n = CPU_ALIGN;
    void *p = aligned_alloc(CPU_ALIGN, n);
    if (p) memset(p, 0, n);
    return p;
}

void cpu_free(void *p) {
    if (p) cpu_gemm_params_written(p, 1);
    free(p);
}

void cpu_memcpy(void *dst, const void *src, size_t bytes) {
    if (bytes && dst != src) {
        cpu_gemm_params_written(dst, bytes);
        memcpy(dst, src, bytes);
    }
}

/* Large buffers (the gradients zeroed every step) are cleared by the OpenMP
 * team, one contiguous share each: one core does not reach the memory
 * bandwidth on its own. */
void cpu_zero(void *p, size_t bytes) {
    if (!bytes) return;
    cpu_gemm_params_written(p, bytes);
    if (bytes < ((size_t)4 << 20) || omp_in_parallel() || omp_get_max_threads() < 2) {
        memset(p, 0, bytes);
        return;
    }
#pragma omp parallel
    {
        size_t lo, hi;
        cpu_chunk(bytes, omp_get_num_threads(), omp_get_thread_num(), 4096, &lo, &hi);
        if (lo < hi) memset((char *)p + lo, 0, hi - lo);
    }
}

/* One buffer per thread (OpenMP threads live in a pool, so this is a handful
 * of buffers for the whole run). Grow-only: freed at thread exit never, which
 * is fine for a process-lifetime pool. */
static _Thread_local float *scratch_buf;
static _Thread_local size_t scratch_len;

float *cpu_scratch(size_t nfloats) {
    if (nfloats <= scratch_len) return scratch_buf;
    size_t bytes = nfloats * sizeof(float);
    bytes = (bytes + CPU_ALIGN - 1) / CPU_ALIGN * CPU_ALIGN;
    float *p = aligned_alloc(CPU_ALIGN, bytes);
    if (!p) return NULL;
    free(scratch_buf);
    scratch_buf = p;
    scratch_len = bytes / sizeof(float);
    return p;
}

/* OpenBLAS (pthread build) runs its own thread pool; calling it from several
 * OpenMP threads at once with that pool enabled oversubscribes the cores and
 * serialises on its server lock. Our parallel regions that call BLAS per
 * (batch, head) therefore switch it to one thread for their duration. */
int cpu_blas_enter_parallel(void) {
    int prev = openblas_get_num_threads();
    if (prev > 1) openblas_set_num_threads(1);
    return prev;
}

void cpu_blas_leave_parallel(int prev) {
    if (prev > 1) openblas_set_num_threads(prev);
}
