/* task_kind.c — the rows of the task-kind table (task_kind.h). */
#include "trainer/model/task_kind.h"

#include <stdio.h>
#include <string.h>

static const char *const metrics_cls[] = {"accuracy", "macro_f1", "loss", NULL};
static const char *const metrics_tok[] = {"entity_f1", "entity_precision", "entity_recall",
                                          "token_accuracy", "loss", NULL};
static const char *const metrics_sim[] = {"spearman", "pearson", "loss", NULL};
/* spearman / pearson: cosine vs the pairs' scores; top1: the positive ranked
 * first among the eval batch's candidates; mrr_10 ... recall_10: retrieval of
 * the second sentences by the first over the whole eval set; loss: the
 * contrastive loss */
static const char *const metrics_ctr[] = {"spearman", "pearson", "top1", "mrr_10", "ndcg_10", "recall_1",
                                          "recall_10", "loss", NULL};

/* Indexed by TaskType. */
static const TaskKind kinds[] = {
    {TASK_SENTENCE_CLS, "sentence_classification", LABELS_CLASS, HEAD_SENTENCE, 1, metrics_cls, 0, 0},
    {TASK_TOKEN_CLS, "token_classification", LABELS_TOKEN, HEAD_TOKEN, 1, metrics_tok, 0, 0},
    {TASK_SIMILARITY, "sentence_similarity", LABELS_SCORE, HEAD_COSINE, 2, metrics_sim, 0, 0},
    {TASK_CONTRASTIVE, "contrastive", LABELS_SCORE, HEAD_COSINE, 2, metrics_ctr, 1, 0},
    /* a joined pair is one row: the classifier's head and metrics */
    {TASK_CROSS_ENCODER, "cross_encoder", LABELS_CLASS, HEAD_SENTENCE, 1, metrics_cls, 0, 1},
    /* spearman / pearson: sigmoid(logit) vs the score; loss: BCE-with-logits */
    {TASK_CROSS_ENCODER_REGRESSION, "cross_encoder_regression", LABELS_REGRESSION, HEAD_SCORE, 1, metrics_sim, 0, 1},
};
#define NKINDS ((int)(sizeof kinds / sizeof kinds[0]))

const char *const task_kind_names[] = {"sentence_classification", "token_classification", "sentence_similarity",
                                       "contrastive", "cross_encoder", "cross_encoder_regression", NULL};

const TaskKind *task_kind(TaskType t) {
    return (int)t >= 0 && (int)t < NKINDS ? &kinds[t] : &kinds[0];
}

int task_kind_parse(const char *name, TaskType *t) {
    for (int i = 0; i < NKINDS; i++)
        if (!strcmp(kinds[i].name, name)) {
            *t = kinds[i].type;
            return 0;
        }
    return -1;
}

void task_kind_list(char *out, size_t len) {
    out[0] = 0;
    for (int i = 0; i < NKINDS; i++) {
        size_t l = strlen(out);
        snprintf(out + l, len > l ? len - l : 0, "%s%s", i == 0 ? "" : i == NKINDS - 1 ? " or " : ", ",
                 kinds[i].name);
    }
}
