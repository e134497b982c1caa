/* op_timer.h — a timing copy of an op table, for `mtbert bench`'s per-op
 * breakdown. Every compute op of the copy calls the real one, synchronises
 * the backend and adds the wall time to that op kind; matrix products are
 * also kept per shape (N x C x OC) with their GFLOP/s. Not thread-safe
 * (ops are called from one thread). */
#ifndef MTBERT_OP_TIMER_H
#define MTBERT_OP_TIMER_H

#include <stdio.h>

#include "kernels/ops.h"

/* The timing table around `real` (one at a time: a later call replaces the
 * wrapped table) with its counters reset. */
const Ops *op_timer_wrap(const Ops *real);
void op_timer_reset(void);
/* Writes `"ops": {...}, "matmul_shapes": [...]` (no braces around them)
 * with milliseconds per step (totals divided by `steps`). Returns the sum of
 * the per-step times over all kinds. */
double op_timer_json(FILE *f, int steps);

#endif
