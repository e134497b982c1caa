/* backend.c — what exists of the CUDA backend in a build without it. */
#include "kernels/ops.h"

#ifndef MTBERT_HAVE_CUDA
const Ops *ops_cuda(void) { return 0; }
#endif
