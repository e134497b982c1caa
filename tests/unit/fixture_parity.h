/* fixture_parity.h — the PyTorch fixture comparison, on any backend. */
#ifndef MTBERT_FIXTURE_PARITY_H
#define MTBERT_FIXTURE_PARITY_H

#include "kernels/ops.h"

/* Every fixture in tests/fixtures/ on `ops` (fp32 tolerances: outputs 1e-5,
 * gradients and parameters 1e-4, norm-wise), and each once more with a
 * perturbed weight, which must fail. Failures are counted by CHECK. */
void parity_run_all(const Ops *ops);

#endif
