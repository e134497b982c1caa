/* train.h — the training run: data sources, the step loop, evaluation,
 * checkpoints and logs. `mtbert train` and `mtbert eval` are thin CLIs over
 * this. */
#ifndef MTBERT_TRAIN_H
#define MTBERT_TRAIN_H

#include <stdint.h>

#include "comm/comm.h"
#include "data/loader.h"
#include "trainer/config/config.h"
#include "trainer/model/model.h"
#include "trainer/store/model_dir.h"
#include "trainer/train/logbook.h"
#include "trainer/train/optimizer.h"

/* A set of shards that one loader reads; it may carry labels for several
 * tasks (one sentence labelled for topic and NER). The sampler draws
 * sources; a batch trains every configured task its shards label. */
typedef struct {
    char *path;
    Loader *loader;
    int shard_task[MAX_TASKS];   /* model task t -> task index in the shards, or -1 */
    int has_similarity;
    int num_neg;                 /* hard negatives per example the model batch carries (a contrastive
                                    task on shards with negatives), else 0 */
    int64_t examples;
    int batch_size;              /* examples per loader batch (its tasks' batch_size; 1 for mixed batches) */
} Source;

/* Host buffers that turn a loader batch into a model batch (a similarity
 * pair becomes two rows). */
typedef struct {
    int cap_rows, cap_T;
    int *ids, *types, *mask;
    int *labels[MAX_TASKS];
} BatchBuf;

/* Everything needed to resume exactly. */
typedef struct {
    long step;                     /* optimizer steps done */
    LoaderState loader[MAX_TASKS]; /* per train source */
    double best_metric;
    long best_step;
    long nonfinite_skipped;
    long evals_since_best;         /* early stopping: evaluations without an improvement */
} TrainState;

/* Evaluation results of one pass: name/value pairs like "topic.accuracy". */
#define MAX_METRICS 128
typedef struct {
    int n;
    char name[MAX_METRICS][MAX_NAME + 32];
    double value[MAX_METRICS];
} MetricSet;

double metricset_get(const MetricSet *m, const char *name, int *found);

struct EvalRetrieval;

typedef struct {
    Config *cfg;
    Comm *comm;
    const Ops *ops;
    Model model;
    ModelDir md;               /* model.path's folder during set-up (have_md: still held) */
    int have_md;
    Optimizer opt;
    int nsources;
    Source src[MAX_TASKS];
    int task_source[MAX_TASKS];    /* model task -> train source, or -1 */
    Source eval_src[MAX_TASKS];    /* per task with eval data (rank 0 reads all) */
    int neval;                 /* eval sources open here (rank 0 only) */
    int has_eval;              /* some task has eval data: the same on every rank */
    BatchBuf buf, mix;         /* model batches; staging rows of mixed batches */
    char vocab[1100];
    int do_lower_case;
    uint64_t vocab_hash;       /* read once at set-up (the vocabulary may be a pipe) */
    int vocab_pad_id, vocab_sep_id;
    char **label_names[MAX_TASKS];
    int nlabel_names[MAX_TASKS];
    TrainState st;
    long total_steps, warmup_steps;
    FILE *jsonl;               /* metrics.jsonl (rank 0, logging.jsonl) or NULL */
    TbLog tb;                  /* TensorBoard event file (rank 0, logging.tensorboard) */
    int quiet;
    struct EvalRetrieval *ir[MAX_TASKS]; /* tasks[].eval_retrieval sets (rank 0), or NULL (eval_retrieval.c) */
} Trainer;

/* Set up from a validated config: data, model (random or loaded), freezing,
 * optimizer, run directory, resume. 0, or an exit code (2 bad input, 1 failure)
 * after printing why. */
int trainer_setup(Trainer *t, Config *cfg, Comm *comm, int for_training);
/* The step loop with periodic evaluation and checkpoints. Exit code. */
int trainer_run(Trainer *t);
/* Metrics on every task's eval split (rank 0 computes, all ranks return). */
int trainer_evaluate(Trainer *t, MetricSet *out);
void trainer_free(Trainer *t);

/* Freezing for the current step (unfreeze_at_step applied). */
void trainer_apply_freezing(Trainer *t, long step);

/* Convert a loader batch into a model batch; rows of similarity pairs are
 * laid out a-sentences then b-sentences. */
void batch_convert(const Source *s, const LoaderBatch *lb, const ModelConfig *mc, BatchBuf *buf, Batch *out);

#endif
