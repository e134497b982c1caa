/* bench.h — training-step throughput on random data of a configured shape. */
#ifndef MTBERT_BENCH_H
#define MTBERT_BENCH_H

#include <stdio.h>

#include "kernels/ops.h"
#include "trainer/model/bert_config.h"

typedef struct {
    int batch, seq, steps, warmup, threads;
    int frozen_backbone;   /* encoder and embeddings frozen: heads only */
    unsigned long long seed;
} BenchOptions;

typedef struct {
    double step_ms, tokens_per_s, gflops_per_s, flops_per_token;
    double forward_ms, backward_ms, optimizer_ms;  /* per step */
    long long linear_params;
} BenchResult;

/* FLOPs of one training step per token: 6 x (parameters of every matrix
 * product that runs) + 12 x layers x seq x hidden for attention scores and
 * context (forward + backward). A frozen backbone counts forward only
 * (2 x) for the encoder. */
double bench_flops_per_token(const ModelConfig *mc, int seq, int frozen_backbone, long long *linear_params);

/* Runs warm-up + timed steps; progress on `log` (may be NULL). 0 or -1. */
int bench_run(const ModelConfig *mc, const Ops *ops, const BenchOptions *o, BenchResult *r, FILE *log);

#endif
