/* model.h — BERT encoder + sentence embedding + task heads, forward and
 * backward, written once over the op table (kernels/ops.h).
 *
 *   ids (B,T) -> embeddings -> L post-LN encoder layers -> h (B,T,C)
 *   h -> pooling (mean|cls|max|pooler) -> [projection (D,C)] -> [L2 norm] -> e (B,D)
 *   sentence task t: e -> dropout -> Linear(D, V_t) -> cross-entropy
 *   token task t:    h -> dropout -> Linear(C, V_t) -> cross-entropy per token
 *   similarity task: cos(e[a_i], e[b_i]) vs score_i, mean squared error
 *   score task t:    e -> dropout -> Linear(D, 1) -> BCE-with-logits vs row score (cross-encoder regression)
 *   external-loss task (contrastive): its loss and d(loss)/d(e rows) come
 *                    from the caller (model_set_embedding_loss)
 *   total loss = sum_t weight_t * loss_t
 */
#ifndef MTBERT_MODEL_H
#define MTBERT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/ops.h"
#include "trainer/model/bert_config.h"
#include "trainer/model/params.h"

/* One batch, in host memory. Rows that do not belong to a task carry -100
 * (ignored) in that task's labels. */
typedef struct {
    int B, T;
    const int *input_ids;      /* (B,T) */
    const int *type_ids;       /* (B,T) or NULL = all 0 */
    const int *mask;           /* (B,T) 1 real token, 0 padding */
    const int *labels[MAX_TASKS];  /* sentence: (B); token: (B,T); NULL: task absent */
    /* similarity: pairs (row0 + i, row0 + npairs + i) for i < npairs, scores (npairs) */
    int sim_row0[MAX_TASKS], sim_npairs[MAX_TASKS];
    const float *sim_scores[MAX_TASKS];
    /* contrastive with hard negatives: nneg per pair, rows [row0 + 2*npairs,
     * row0 + 2*npairs + npairs*nneg), example-major (negative j of pair i at
     * row0 + 2*npairs + i*nneg + j); 0 = none */
    int sim_nneg[MAX_TASKS];
    /* score head (cross_encoder_regression): one target per row (B), NaN = unlabelled; NULL: absent */
    const float *row_scores[MAX_TASKS];
} Batch;

/* Per-layer activations (backend memory), sized for maxN (<= maxB x maxT) tokens. */
typedef struct {
    float *qkv;                /* (B,T,3C) */
    float *att;                /* (B,NH,T,T) backend scratch */
    float *atty;               /* (B,T,C) attention context */
    float *ao;                 /* (B,T,C) attention output projection (dropped out) */
    float *res1;               /* (B,T,C) ao + x */
    float *ln1, *ln1_mean, *ln1_rstd; /* (B,T,C), (B,T), (B,T) */
    float *fc;                 /* (B,T,I) before GELU */
    float *fcg;                /* (B,T,I) after GELU */
    float *fo;                 /* (B,T,C) FFN output (dropped out) */
    float *res2;               /* (B,T,C) fo + ln1 */
    float *out, *ln2_mean, *ln2_rstd; /* (B,T,C) layer output */
} LayerActs;

/* Pointers to layer l's parameters in the flat buffer (q, k, v weights are
 * adjacent: qkv_w is the (3C, C) matrix, qkv_b its (3C) bias). */
typedef struct {
    float *qkv_w, *qkv_b, *ao_w, *ao_b, *ln1_w, *ln1_b, *fc_w, *fc_b, *fo_w, *fo_b, *ln2_w, *ln2_b;
} LayerParams;

typedef struct {
    /* which parts get gradients; frozen parts get no backward at all */
    int embeddings, pooler, projection;
    int layer[64];
    int head[MAX_TASKS];
} Trainable;

typedef struct {
    ModelConfig cfg;
    const Ops *ops;
    ParamTable table;
    float *params, *grads;     /* flat, backend memory (grads NULL when inference only) */
    int maxB, maxT;
    size_t maxN;               /* tokens a batch may hold: B x T <= maxN (<= maxB x maxT) */
    int sentence_needed;       /* some task uses the sentence embedding */
    Trainable train;
    LayerParams *lp;           /* (L) resolved once at creation */
    float *hw[MAX_TASKS], *hb[MAX_TASKS]; /* head weight and bias per task (NULL: similarity) */

    /* activations */
    int *d_ids, *d_types, *d_mask;          /* (B,T) */
    float *emb_sum, *emb_out, *emb_mean, *emb_rstd;
    LayerActs *layers;         /* (L); with grad_checkpoint all but `out` point into `work` */
    LayerActs work;            /* grad_checkpoint: the one layer's worth of activations that
                                  forward and backward's recomputation share (out unused) */
    int checkpointing;         /* grad_checkpoint in effect (training model with > 1 layer) */
    int shared_acts;           /* layers share `work` (checkpointing, or inference with > 1 layer) */
    float *pooled;                           /* (B,C) pooling output (CLS row for the pooler) */
    float *pooler_pre, *pooler_out;          /* (B,C) BERT pooler dense, tanh */
    float *proj;                             /* (B,D) projection output */
    float *embed, *embed_norm;               /* (B,D) L2-normalised, (B) norms */
    const float *sent, *pre_norm, *final_embed; /* views: (B,C) pooled sentence, (B,D) before norm, (B,D) final */
    int *pool_argmax;                        /* (B,C) */
    float *head_in[MAX_TASKS];               /* dropout copies of head inputs, or NULL */
    float *logits[MAX_TASKS], *probs[MAX_TASKS], *losses[MAX_TASKS];
    int *d_labels[MAX_TASKS];
    float *sim_cos[MAX_TASKS];               /* (pairs) */
    float *ext_grad[MAX_TASKS];              /* external-loss tasks: (maxB,D) d(loss)/d(final
                                                embedding rows), backend memory (with grads) */
    int ext_row0[MAX_TASKS], ext_rows[MAX_TASKS]; /* rows it covers; 0 rows: none this batch */
    /* gradients of activations (one layer's worth, reused top to bottom) */
    LayerActs dl;
    float *dx[2];                            /* (B,T,C) ping-pong: d(layer io) */
    float *demb, *dsent, *dpooler_pre, *dcls, *dproj, *dembed, *dhead_in, *dcos;
    float *dlogits;                           /* largest head's logits */
    float *host_scratch;                      /* (B*T) losses / cosines */

    /* the last forward */
    int B, T;
    float task_loss[MAX_TASKS];   /* mean over labelled items; 0 if none */
    float task_weight[MAX_TASKS]; /* weight in the total: loss_weight, x exp(-s_t) when learned */
    int task_count[MAX_TASKS];    /* labelled items in the batch */
    /* > 0: model_backward divides task t by this instead of task_count[t].
     * Data parallel: (labelled items over all ranks) / ranks, so that after
     * the gradient mean over ranks it is the global mean over labelled items.
     * The trainer sets it after each forward; 0 (the default) = task_count. */
    float task_norm[MAX_TASKS];
    uint64_t dropout_key;          /* per step: philox_key(seed, step, rank) */
    int training;                  /* dropout on */
} Model;

/* Allocate parameters (and gradients when `with_grads`) and activations for
 * batches up to maxB x maxT. Parameters are initialised from `seed`, or
 * zeroed with MODEL_INIT_NONE (callers that load every tensor next: the
 * random initialisation of a 22M-parameter model costs ~1 s on one core).
 * Returns 0, or -1 with a message in err. */
#define MODEL_INIT_NONE (~0ULL)
int model_create(Model *m, const ModelConfig *cfg, const Ops *ops, int maxB, int maxT,
                 int with_grads, unsigned long long seed, char *err, size_t errlen);
void model_free(Model *m);
/* The bytes model_create allocates for these arguments (parameters,
 * gradients, activations, scratch), without allocating: for refusing a
 * batch that cannot fit before trying. 0 for an invalid shape. */
size_t model_alloc_bytes(const ModelConfig *cfg, const Ops *ops, int maxB, int maxT, int with_grads);
/* The same with a token budget: activations for batches of B <= maxB rows
 * and T <= maxT with B x T <= maxN tokens (the attention scratch for the
 * largest such shape); maxN 0 or >= maxB x maxT is model_create's
 * maxB x maxT. Inference (encode, predict) sorts its sentences by length
 * and cuts batches by tokens, so memory follows the budget, not
 * rows x the longest sentence the model takes. */
int model_create_tokens(Model *m, const ModelConfig *cfg, const Ops *ops, int maxB, int maxT, size_t maxN,
                        int with_grads, unsigned long long seed, char *err, size_t errlen);
size_t model_alloc_bytes_tokens(const ModelConfig *cfg, const Ops *ops, int maxB, int maxT, size_t maxN,
                                int with_grads);

/* Pointer to a named tensor inside the flat parameter buffer. */
float *model_param(Model *m, const char *name);

/* Forward pass; when `labels` are present computes each task's loss.
 * Returns the weighted total loss (host value). */
float model_forward(Model *m, const Batch *b);
/* External loss on the sentence embeddings, for task kinds with
 * external_loss (contrastive): after model_forward, the caller reads the
 * final embeddings (model_get_embeddings), computes task `task`'s loss and
 * its gradient with respect to rows [row0, row0 + rows) of them, and hands
 * both over here: task_loss = loss, task_count = count (the items the loss
 * is a mean over; 1 for a loss of the whole batch). The next model_backward
 * backpropagates scale x task_weight / norm x grad through the sentence
 * path (norm: task_norm when set, else count), as it does for the
 * similarity task's cosine gradient. grad (host, (rows, D)) is copied; NULL
 * records the loss without a gradient (evaluation). Returns 0, or -1 when
 * the task has no external loss or the rows are outside the batch. */
int model_set_embedding_loss(Model *m, int task, float loss, int count, const float *grad, int row0, int rows);
/* Backward of `scale` x total loss (scale = 1/grad_accum). Adds into grads.
 * Uses the activations of the last forward. */
void model_backward(Model *m, const Batch *b, float scale);
/* Zero the parameter gradients. */
void model_zero_grad(Model *m);

/* Copy the sentence embeddings (B,D) / task logits of the last forward to host. */
int model_embedding_dim(const Model *m);
void model_get_embeddings(Model *m, float *host_out);
void model_get_logits(Model *m, int task, float *host_out);
void model_get_hidden(Model *m, float *host_out);  /* (B,T,C) */

#endif
