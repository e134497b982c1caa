/* config.h — the YAML configuration of a run: model, tasks, data, task
 * sampling, freezing, optimizer, schedule, training length, evaluation,
 * logging, checkpoints and the bench shape. Every key, its type, default and
 * meaning is documented in docs/config.md.
 *
 * config_load checks everything before any work starts and reports every
 * problem at once, each as FILE:LINE:COLUMN: message (or, for a --set
 * override, "--set KEY=VALUE: message"). */
#ifndef MTBERT_CONFIG_H
#define MTBERT_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#include "kernels/ops.h"          /* POOL_*, GELU_* */
#include "trainer/model/bert_config.h"  /* ModelConfig, TaskConfig, MAX_TASKS */
#include "trainer/train/metrics.h"      /* NerScheme (tag_scheme) */
#include "trainer/train/sampler.h"      /* SampleStrategy */
#include "trainer/train/schedule.h"     /* DecayKind */

#define CONFIG_MAX_LAYERS 64      /* freeze.layers is a 64-bit mask */
#define CONFIG_MAX_UNFREEZE 96    /* entries of freeze.unfreeze_at_step */

typedef enum { LOSS_WEIGHTING_STATIC = 0, LOSS_WEIGHTING_UNCERTAINTY } LossWeighting;
typedef enum { CFG_BACKEND_AUTO = 0, CFG_BACKEND_CPU, CFG_BACKEND_CUDA } ConfigBackend;
typedef enum { CFG_PRECISION_FP32 = 0, CFG_PRECISION_BF16 } ConfigPrecision;
typedef enum { NONFINITE_SKIP = 0, NONFINITE_STOP } NonfinitePolicy;
/* tasks[].tag_scheme: how entities are read from tags (trainer/train/metrics.h):
 * iob2 / iob1 are seqeval's strict modes, conlleval its default mode */

/* What a task needs beyond its head (model.tasks[i] holds name, type,
 * num_labels, loss_weight and dropout; task[i] here is the same task). */
typedef struct {
    char **labels;               /* label names in class order, or NULL */
    int nlabels;                 /* 0 when only num_labels was given */
    float oversample;            /* multiplies the task's size for sampling; 1 */
    int tag_scheme;              /* NerScheme (trainer/train/metrics.h); token tasks only */
    char *train, *eval;          /* HDF5 shard path or glob; NULL: none */
    char metric[MAX_NAME];       /* the task's main metric (resolved per type) */
    int batch_size, max_len;     /* this task's batches: examples and tokens (resolved:
                                    data.batch_size / data.max_len when not given) */
    float lr_multiplier;         /* this task's head learns at head_lr x this; 1 */
    int ctr_loss;                /* contrastive tasks: CtrLoss (mnrl, cosent, angle) */
    float ctr_scale;             /* contrastive: logits = scale x similarity; 20 */
    int ctr_symmetric;           /* contrastive mnrl: add the positive -> anchors term */
    float ctr_margin;            /* contrastive triplet: relu(d(a,p) - d(a,n) + margin), Euclidean; 5 */
    int ctr_mini_batch;          /* contrastive: embed in chunks of this many pairs (GradCache); 0 off */
    char *ir_queries, *ir_corpus, *ir_qrels; /* contrastive: eval_retrieval files (retrieval_files.h); NULL: none */
} TaskSetup;

typedef struct {
    char group[MAX_NAME + 8];    /* embeddings|backbone|layers|layer_N|heads|head_TASK|all */
    long step;
} UnfreezeAt;

typedef struct {
    char *source;                /* the file loaded */

    /* model */
    ModelConfig model;           /* shape, pooling, embedding, tasks */
    char *model_path;            /* Hugging Face folder to start from; NULL: random init */
    char *vocab;                 /* vocab.txt; NULL: model_path/vocab.txt if any */
    int do_lower_case;
    int model_type_given;        /* model.type was written: a model.path / --init-from folder
                                    of another family is refused (else the folder's wins) */

    TaskSetup task[MAX_TASKS];   /* parallel to model.tasks[0..model.ntasks) */

    struct {
        int max_len, batch_size; /* tokens per example; examples per rank per micro-batch */
        int mixed_batches;       /* rows of a batch from different tasks */
        int length_bucketing, shuffle;
    } data;

    struct {
        SampleStrategy strategy;
        double temperature;      /* > 0 */
        long alternate_every;    /* >= 1 */
        long anneal_steps;       /* 0: the whole run */
    } sampling;

    LossWeighting loss_weighting;

    struct {
        int embeddings, backbone, all;
        unsigned long long layers;       /* bit i: encoder layer i frozen */
        int nheads;
        char heads[MAX_TASKS][MAX_NAME]; /* task names whose heads are frozen */
        unsigned head_mask;              /* bit t: model.tasks[t] in heads */
        int nunfreeze;
        UnfreezeAt unfreeze[CONFIG_MAX_UNFREEZE];
    } freeze;

    struct {
        float lr, weight_decay, beta1, beta2, eps;
        float max_grad_norm;     /* 0: no clipping */
        float layer_decay;       /* 1: off */
        float head_lr, head_weight_decay;   /* resolved: lr / weight_decay when absent */
    } optimizer;

    struct {
        long warmup_steps;
        double warmup_ratio;     /* of the total steps; used when warmup_steps is 0 */
        DecayKind decay;
    } schedule;

    struct {
        long steps;              /* optimizer steps; 0: from epochs */
        double epochs;           /* 0: from steps */
        int grad_accum;
        unsigned long long seed;
        int threads;             /* 0: all cores */
        ConfigBackend backend;
        ConfigPrecision precision;
        NonfinitePolicy nonfinite;
        char *run_name;          /* resolved: the config file's name without .yaml */
        char *run_dir;           /* resolved: checkpoints/RUN_NAME */
    } train;

    struct {
        long every;              /* steps; 0: only at the end */
        char *best_metric;       /* "mean", "loss" or "TASK.METRIC" */
        long patience;           /* early stopping: evaluations without improvement; 0 off */
        double min_delta;        /* an improvement must exceed the best by more than this */
    } eval;

    struct {
        long every;
        int jsonl;
        int tensorboard;         /* rank 0 writes RUN_DIR/events.out.tfevents.* */
    } logging;

    struct {
        long every;              /* steps; 0: only at the end */
        int keep_last;           /* 0: keep all */
        int keep_best;
        char *resume;            /* "none", "auto" or a checkpoint path */
        int overwrite;           /* a fresh run may clear a non-empty run_dir */
    } checkpoint;

    struct {
        int seq_len, batch_size, steps, warmup, frozen_backbone;
    } bench;
} Config;

/* Load `path`, apply `overrides` ("a.b.c=value", the value read as YAML),
 * validate, and fill `cfg` (defaults for every absent key). Every problem
 * goes to `errors` (may be NULL). 0 on success; 2 on any error, with cfg
 * freed. */
int config_load(Config *cfg, const char *path, const char *const *overrides, int noverrides,
                FILE *errors);

/* Write the fully resolved configuration (every key, defaults included) as
 * YAML that config_load reads back to the same Config. Written to a
 * temporary name and renamed. 0, or -1 with a message in err. */
int config_write_resolved(const Config *cfg, const char *path, char *err, size_t errlen);

void config_free(Config *cfg);

/* The CPU threads of a rank: train.threads; 0: OMP_NUM_THREADS when set,
 * else the cores over the ranks of this node (OMPI_COMM_WORLD_LOCAL_SIZE,
 * MPI_LOCALNRANKS, LOCAL_WORLD_SIZE, SLURM_NTASKS_PER_NODE, else `world`);
 * never more than the cores this process may run on (its affinity mask),
 * which is warned about. With `log`, one line says the count and why. */
int config_resolve_threads(const Config *cfg, int world, FILE *log);

/* Layer indices of the config (freeze.layers, freeze.unfreeze_at_step.layer_N)
 * against the depth of the model really loaded (model.path / a checkpoint
 * gives the shape, not model.num_layers). 0, or -1 with a message naming the
 * key and `model` in err. */
int config_check_depth(const Config *cfg, int layers, const char *model, char *err, size_t errlen);

/* Index of the task named `name`, or -1. */
int config_task_index(const Config *cfg, const char *name);

/* Metric names accepted for a task type (NULL-terminated); the first is the default. */
const char *const *config_task_metrics(TaskType type);

#endif
