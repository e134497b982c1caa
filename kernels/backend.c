/* backend.c — the one backend chooser (ops_select), and what exists of the
 * CUDA backend in a build without it. */
#include "kernels/ops.h"

#include <stdio.h>
#include <string.h>

#ifndef MTBERT_HAVE_CUDA
const Ops *ops_cuda(void) { return 0; }
const Ops *ops_cuda_bf16(void) { return 0; }
#endif

int ops_parse_backend(const char *name, BackendChoice *out) {
    if (!strcmp(name, "auto")) *out = BACKEND_AUTO;
    else if (!strcmp(name, "cpu")) *out = BACKEND_CPU;
    else if (!strcmp(name, "cuda")) *out = BACKEND_CUDA;
    else return -1;
    return 0;
}

int ops_parse_precision(const char *name, PrecisionChoice *out) {
    if (!strcmp(name, "fp32")) *out = PRECISION_FP32;
    else if (!strcmp(name, "bf16")) *out = PRECISION_BF16;
    else return -1;
    return 0;
}

int ops_on_host(const Ops *ops) { return ops && (ops == ops_cpu() || ops == ops_cpu_bf16()); }

static int cuda_built(void) {
#ifdef MTBERT_HAVE_CUDA
    return 1;
#else
    return 0;
#endif
}

const Ops *ops_select(BackendChoice backend, PrecisionChoice precision, char *err, size_t errlen) {
    if (err && errlen) err[0] = 0;
    if (backend != BACKEND_CPU) {
        const Ops *cuda = precision == PRECISION_BF16 ? ops_cuda_bf16() : ops_cuda();
        if (cuda) return cuda;
        if (backend == BACKEND_CUDA) {
            snprintf(err, errlen, "backend cuda: %s", cuda_built() ? "no CUDA GPU is available on this machine"
                                                                  : "this build has no CUDA backend (no CUDA toolkit "
                                                                    "was found at build time)");
            return NULL;
        }
    }
    /* bf16 on the CPU: fp32 compute with activations rounded to bf16 (the
     * numerics reference of the bf16 GPU path; slower than fp32) */
    if (precision == PRECISION_BF16) return ops_cpu_bf16();
    return ops_cpu();
}
