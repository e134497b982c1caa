/* test_parity_gpu.c — the C model on the CUDA backend (fp32, TF32 off)
 * against the same PyTorch fixtures and tolerances as the CPU test
 * (tests/unit/fixture_parity.c). Skipped without a GPU. */
#include <stdlib.h>

#include "fixture_parity.h"
#include "testutil.h"

int main(void) {
    unsetenv("MTBERT_CUDA_TF32"); /* the fp32 tolerances assume TF32 off */
    const Ops *ops = ops_cuda();
    if (!ops) return test_skip("no CUDA GPU present (or built without CUDA)");
    parity_run_all(ops);
    return test_finish("test_parity_gpu");
}
