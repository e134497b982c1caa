/* train_internal.h — what the files of trainer/train/ share among
 * themselves (batching.c, setup.c, evaluate.c, loop.c); not for callers. */
#ifndef MTBERT_TRAIN_INTERNAL_H
#define MTBERT_TRAIN_INTERNAL_H

#include <stdio.h>

#include "trainer/train/sampler.h"
#include "trainer/train/train.h"

/* batching.c */
void batchbuf_reserve(BatchBuf *b, int rows, int T);
void batchbuf_free(BatchBuf *b);
/* A mixed batch: row r from the source the sampler draws for (draw, r). */
void batch_mixed(Trainer *t, const Sampler *smp, long draw, Batch *b, int64_t *real_tokens);

/* evaluate.c */
void metricset_put(MetricSet *m, const char *task, const char *what, double v);
/* The number that decides the best checkpoint (higher is better); *ok = 0
 * when the metric is absent. */
double trainer_selection_metric(const Trainer *t, const MetricSet *ms, int *ok);
void trainer_log_eval(Trainer *t, const MetricSet *ms, long step);

#endif
