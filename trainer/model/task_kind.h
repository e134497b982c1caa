/* task_kind.h — the one table of task kinds. Everything that differs
 * between a sentence classifier, a token tagger and a similarity task is a
 * field here, so adding a kind is a row in task_kind.c plus its loss, not a
 * branch in every file.
 *
 *   kind                     head input          labels        main metric
 *   sentence_classification  embedding e (B,D)   class (B)     accuracy
 *   token_classification     hidden h (B*T,C)    token (B,T)   entity_f1
 *   sentence_similarity      cos(e_a, e_b)       score (P)     spearman
 *   contrastive              e_a, e_b (2P,D)     score (P)     spearman
 *   cross_encoder            embedding e (B,D)   class (B)     accuracy
 *   cross_encoder_regression embedding e (B,D)   score (B)     spearman
 *
 * The cross-encoder kinds read joined pairs ([CLS] a [SEP] b [SEP] with
 * token type ids, `mtbert prepare --join-pairs`): one row per pair, the
 * head on that row's sentence embedding. The regression head is one
 * output trained with BCE-with-logits against a score in [0, 1]
 * (sentence-transformers' CrossEncoder with num_labels 1); predict prints
 * sigmoid(logit).
 *
 * A kind with external_loss has its loss computed outside the model from
 * the final embeddings of its rows (trainer/train/embed_loss.c: the
 * contrastive losses of contrastive.h, on the batch all-gathered over
 * ranks); the model takes the gradient back through
 * model_set_embedding_loss (model.h).
 */
#ifndef MTBERT_TASK_KIND_H
#define MTBERT_TASK_KIND_H

#include <stddef.h>

#include "data/labels.h"
#include "trainer/model/bert_config.h"

typedef enum {
    HEAD_SENTENCE = 0, /* Linear(D, V) on the sentence embedding, one row per example */
    HEAD_TOKEN = 1,    /* Linear(C, V) on the last hidden states, one row per token */
    HEAD_COSINE = 2,   /* no parameters: works on the embeddings of a pair's two rows
                          (their cosine; for an external loss, the embeddings themselves) */
    HEAD_SCORE = 3,    /* Linear(D, 1) on the sentence embedding, one row per example,
                          BCE-with-logits against a score (Batch.row_scores) */
} HeadKind;

typedef struct {
    TaskType type;
    const char *name;              /* the YAML / model-folder name */
    LabelKind labels;              /* what the shards carry for it */
    HeadKind head;
    int sentences_per_example;     /* model batch rows per example: 2 for a pair */
    const char *const *metrics;    /* NULL-terminated; the first is the default main metric */
    int external_loss;             /* 1: the loss is computed outside the model on the embeddings */
    int joined_pairs;              /* 1: trains on joined pairs only (shards with token_type_ids) */
} TaskKind;

/* The kinds' names in TaskType order, NULL-terminated (the schema's enum). */
extern const char *const task_kind_names[];
/* The row of `t`; never NULL for a valid TaskType. */
const TaskKind *task_kind(TaskType t);
/* 0 and *t on a known name, -1 otherwise. */
int task_kind_parse(const char *name, TaskType *t);
/* "sentence_classification, token_classification, ..., cross_encoder or cross_encoder_regression" */
void task_kind_list(char *out, size_t len);
/* Does the task have a Linear head (weights heads.NAME.*)? */
static inline int task_has_head(TaskType t) { return task_kind(t)->head != HEAD_COSINE; }
/* Does it need the pooled sentence embedding? */
static inline int task_uses_embedding(TaskType t) { return task_kind(t)->head != HEAD_TOKEN; }
/* Does its head predict one score (no classes, num_labels 1)? */
static inline int task_score_head(TaskType t) { return task_kind(t)->head == HEAD_SCORE; }
/* Does it need joined pairs (prepare --join-pairs)? */
static inline int task_joined_pairs(TaskType t) { return task_kind(t)->joined_pairs; }
/* Is its loss computed outside the model (model_set_embedding_loss)? */
static inline int task_external_loss(TaskType t) { return task_kind(t)->external_loss; }

#endif
