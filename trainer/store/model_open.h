/* model_open.h — a model folder opened ready to run: folder read, backend
 * chosen, tokenizer loaded and checked against the model, weights loaded.
 * The one inference path of encode, predict and export. */
#ifndef MTBERT_MODEL_OPEN_H
#define MTBERT_MODEL_OPEN_H

#include <stddef.h>

#include "data/tokenizer_json.h"
#include "kernels/ops.h"
#include "trainer/model/model.h"
#include "trainer/store/model_dir.h"

typedef struct {
    const char *backend;   /* "auto" (default, NULL), "cpu", "cuda" */
    const char *precision; /* "fp32" (default, NULL), "bf16" */
    int threads;           /* CPU threads; 0 = all cores */
    int max_batch;         /* rows per forward pass (>= 1) */
    long max_tokens;       /* rows x length per forward pass (token_batches.h); 0: max_batch x max_len */
    int max_len;           /* tokens incl. the special ones; 0 = the folder's; at most
                              family_max_tokens (RoBERTa/XLM-R: max_position_embeddings - pad - 1) */
    int pooling;           /* POOL_*, or -1 for the folder's */
    int normalize;         /* 0/1, or -1 for the folder's */
    int need_heads;        /* the folder must carry its task heads (predict) */
    int no_tokenizer;      /* export: weights only */
} OpenOptions;

typedef struct {
    ModelDir dir;
    Tok *tok;              /* the folder's tokenizer (ModelDir.vocab); NULL with no_tokenizer */
    const Ops *ops;
    Model model;           /* eval mode */
    int max_len;           /* resolved */
} OpenModel;

/* 0, or -1 with a message naming the file/option; *status is the exit code
 * to use (2 bad input, 1 failure). */
int model_open(OpenModel *om, const char *path, const OpenOptions *o, int *status, char *err, size_t errlen);
void model_close(OpenModel *om);

#endif
