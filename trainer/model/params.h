/* params.h — the table of named tensors over one flat parameter buffer.
 *
 * Parameters, gradients and both AdamW moments are each one contiguous
 * buffer of `total` floats; a tensor is an (offset, shape) in all four.
 * Names are Hugging Face's ("bert.encoder.layer.0.attention.self.query.weight")
 * plus "projection.*" and "heads.TASK.*" for what sits on top of BERT.
 *
 * Within a layer the query, key and value weights are adjacent, and so are
 * their biases, so that the three projections run as one (3C, C) matmul. */
#ifndef MTBERT_PARAMS_H
#define MTBERT_PARAMS_H

#include <stddef.h>

#include "trainer/model/bert_config.h"

/* Which part of the model a tensor belongs to: the unit of freezing and of
 * layer-wise learning rates. */
typedef enum {
    GROUP_EMBEDDINGS = 0,
    GROUP_LAYER,      /* index = layer number */
    GROUP_POOLER,
    GROUP_PROJECTION,
    GROUP_HEAD,       /* index = task number */
    GROUP_LOSS_WEIGHTS /* learned log-variances s_t, one per task */
} ParamGroup;

typedef enum { INIT_NORMAL = 0, INIT_ZEROS, INIT_ONES } ParamInit;

typedef struct {
    char name[128];
    size_t offset, numel;
    int ndim;
    int shape[2];
    ParamGroup group;
    int index;        /* layer or task number */
    int no_decay;     /* biases and LayerNorm weights: no weight decay */
    ParamInit init;
} ParamTensor;

typedef struct {
    ParamTensor *t;
    int n;
    size_t total;     /* floats in the flat buffer */
} ParamTable;

/* Lay out every tensor of a model of this shape. 0, or -1 on bad shapes. */
int params_build(ParamTable *pt, const ModelConfig *cfg);
void params_free(ParamTable *pt);
/* Tensor by canonical name, or NULL. */
const ParamTensor *params_find(const ParamTable *pt, const char *name);

/* Deterministic initialisation of host buffer `p` as Hugging Face does:
 * normal(0, std) weights, zero biases, LayerNorm 1/0, padding row zero. */
void params_init(const ParamTable *pt, float *p, const ModelConfig *cfg, unsigned long long seed);

#endif
