/* ops_cuda.h — extra CUDA op tables (C-callable).
 *
 * ops_cuda() itself is declared in kernels/ops.h. ops_cuda_bf16() is the
 * same backend with the linear layers run on bf16 tensor cores (operands
 * rounded to bf16 inside the op, fp32 accumulation, fp32 outputs); every
 * tensor the model sees stays fp32. NULL without a CUDA GPU. */
#ifndef MTBERT_OPS_CUDA_H
#define MTBERT_OPS_CUDA_H

#include "kernels/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

const Ops *ops_cuda_bf16(void);

#ifdef __cplusplus
}
#endif

#endif
