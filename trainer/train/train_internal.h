/* train_internal.h — what the files of trainer/train/ share among
 * themselves (batching.c, setup.c, evaluate.c, loop.c); not for callers. */
#ifndef MTBERT_TRAIN_INTERNAL_H
#define MTBERT_TRAIN_INTERNAL_H

#include <stdio.h>

#include "trainer/train/retrieval.h"
#include "trainer/train/sampler.h"
#include "trainer/train/train.h"

/* batching.c */
void batchbuf_reserve(BatchBuf *b, int rows, int T);
void batchbuf_free(BatchBuf *b);
/* A mixed batch: row r from the source the sampler draws for (draw, r). */
void batch_mixed(Trainer *t, const Sampler *smp, long draw, Batch *b, int64_t *real_tokens);

/* embed_loss.c: after model_forward, the losses of the tasks with an
 * external loss (contrastive) that have pairs in b, handed to the model
 * for its backward. gather: all-gather the batch over the ranks (training;
 * evaluation runs on rank 0 alone). top1 (MAX_TASKS, may be NULL) receives
 * each such task's in-batch top-1 accuracy. 0, or -1 with err (a collective
 * failed, no memory): the caller ends the job. */
int embed_losses(Trainer *t, const Batch *b, int gather, double *top1, char *err, size_t errlen);

/* Cached (GradCache) contrastive steps, tasks[].mini_batch (embed_loss.c).
 * embed_cached_task: the task of b that trains so (its source holds only
 * it), or -1. embed_cached_step: forward and backward of b (scale as
 * model_backward's) in chunks of mini_batch pairs, the loss on the batch
 * all-gathered over ranks; returns the loss (NaN: not finite, nothing
 * backpropagated; NaN with err set: a collective failed, end the job).
 * embed_cached_eval: the chunked embeddings of b's 2P pair rows into emb
 * (2P, D) and the task's loss (rank-local) recorded in the model; 0 or -1. */
int embed_cached_task(const Trainer *t, const Batch *b);
float embed_cached_step(Trainer *t, const Batch *b, int k, float scale, char *err, size_t errlen);
int embed_cached_eval(Trainer *t, const Batch *b, int k, float *emb, double *top1);

/* A text id of model batch row r (a hash of its real token ids): equal
 * texts, equal ids (embed_loss.c; duplicate masking, retrieval qrels). */
int64_t embed_row_text_id(const Batch *b, int r);
/* Retrieval over n eval pairs: queries A (n, d), corpus P (n, d), query i
 * relevant to every j with pid[j] == pid[i]; cosine scores; retr_init_default
 * cutoffs (MRR@10, nDCG@10, recall@{1,3,5,10,100}). 0 or -1. */
int embed_retrieval(const float *A, const float *P, const int64_t *pid, int n, int d, RetrSummary *out);

/* evaluate.c */
void metricset_put(MetricSet *m, const char *task, const char *what, double v);
/* The number that decides the best checkpoint (higher is better); *ok = 0
 * when the metric is absent. */
double trainer_selection_metric(const Trainer *t, const MetricSet *ms, int *ok);
void trainer_log_eval(Trainer *t, const MetricSet *ms, long step);

/* tasks[].eval_retrieval (eval_retrieval.c): open reads and frames every
 * set on rank 0 after the model exists (0, or exit code 2 on every rank);
 * run adds each task's ir_* metrics (rank 0); free releases them. */
int eval_retrieval_open(Trainer *t);
void eval_retrieval_run(Trainer *t, MetricSet *out);
void eval_retrieval_free(Trainer *t);

#endif
