/* model_dir.h — a model folder on disk: a Hugging Face BERT folder
 * (config.json, model.safetensors, the tokenizer: tokenizer.json and/or
 * vocab.txt, tokenizer_config.json), with
 * or without the sentence-transformers layout (modules.json,
 * sentence_bert_config.json, 1_Pooling/config.json, a Dense folder,
 * Normalize). Reading it gives the model shape, the sentence-embedding
 * settings and the tokenizer settings; loading puts the weights in. */
#ifndef MTBERT_MODEL_DIR_H
#define MTBERT_MODEL_DIR_H

#include <stddef.h>

#include "data/labels.h"
#include "trainer/model/model.h"

typedef struct {
    char dir[1024];
    ModelConfig mc;            /* bert shape, pooling, embedding_dim, normalize; no tasks */
    char weights[1100];        /* model.safetensors */
    char vocab[1100];          /* the tokenizer file: tokenizer.json when the folder has one
                                  (it wins over a vocab.txt beside it), else vocab.txt */
    int tokenizer_json;        /* vocab is a tokenizer.json */
    int vocab_txt_unused;      /* a vocab.txt is there too and is not read */
    char dense_weights[1200];  /* sentence-transformers Dense module weights, or "" */
    char heads[1200];          /* mtbert_heads.safetensors, or "" */
    int do_lower_case;
    int max_seq_length;        /* from sentence_bert_config.json, else the positions the model
                                  holds (family_max_tokens: RoBERTa/XLM-R lose pad_id + 1) */
    int is_sentence_transformer;
    char **labels[MAX_TASKS];  /* label names per task from mtbert_tasks.json, or NULL */
    int nlabels[MAX_TASKS];
    int tag_scheme[MAX_TASKS]; /* token tasks: how tags read as entities, a NerScheme
                                  (data/labels.h); NER_SCHEME_DEFAULT (conlleval)
                                  when the folder records none */
} ModelDir;


void model_dir_free(ModelDir *d);

/* Where a model path points: a model folder as it is; a pointer file
 * (`RUN/latest`, `RUN/best`) the checkpoint it names; a run directory (no
 * config.json, a `latest` file) its latest checkpoint. */
int model_dir_resolve(const char *path, char *out, size_t n, char *err, size_t errlen);

/* Read the folder's configuration files (path resolved as above). Errors
 * name the file and field. */
int model_dir_read(ModelDir *d, const char *path, char *err, size_t errlen);

/* Load encoder weights (and the Dense projection) into a model created with
 * d->mc (plus any tasks). `report` lists new and ignored tensors. */
/* NaN or Inf in the weights: -1 with the tensor named (inference refuses
 * such a model; training has train.nonfinite for it). */
int model_check_finite(Model *m, const ModelDir *d, char *err, size_t errlen);
int model_dir_load(Model *m, const ModelDir *d, char *report, size_t reportlen, char *err, size_t errlen);

/* Label names of a task, for the tasks file (may be absent), and for a
 * token task the tag scheme its entities are read with
 * (ner_scheme_name; NULL writes "conlleval", training's default). */
typedef struct {
    int n;
    char **names;
    const char *tag_scheme;
} LabelNames;

/* Write the model's parameters as a safetensors file (F32, host copies,
 * atomically): `name` picks each tensor, writing the name to store it under
 * into out (1) or skipping it (0). 0, or -1 with a message in err. */
typedef int (*ModelTensorName)(const Model *m, const ParamTensor *t, void *ctx, char *out, size_t n);
int model_dir_write_tensors(Model *m, const char *path, ModelTensorName name, void *ctx, char *err, size_t errlen);

/* Write `m` as a model folder: config.json, model.safetensors (Hugging
 * Face BertModel names), the tokenizer copied from `vocab_path` (a name
 * ending in .json: as tokenizer.json, with a vocab.txt beside it copied
 * too; else as vocab.txt; NULL: none), tokenizer_config.json,
 * special_tokens_map.json (the tokenizer's own special tokens); the sentence-transformers
 * layout (modules.json, sentence_bert_config.json, 1_Pooling/, 2_Dense/ when
 * projecting, Normalize when normalising); and the heads in
 * mtbert_heads.safetensors with their tasks in mtbert_tasks.json. Every
 * file is written atomically. `labels` may be NULL. */
int model_dir_save(Model *m, const char *dir, const char *vocab_path, int do_lower_case,
                   int max_seq_length, const LabelNames *labels, char *err, size_t errlen);

#endif
