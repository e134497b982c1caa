/* labels.h — the kinds of labels a shard (and a loader batch) carries.
 * The data layer knows labels, not tasks: the model's task kinds
 * (trainer/model/task_kind.h) say which label kind each one trains on. */
#ifndef MTBERT_LABELS_H
#define MTBERT_LABELS_H

typedef enum {
    LABELS_CLASS = 0, /* one class id per example (B) */
    LABELS_TOKEN = 1, /* one class id per token (B,T), LABEL_IGNORE where unlabelled */
    LABELS_SCORE = 2, /* a sentence pair with one float score */
} LabelKind;

/* The ignore index of every cross-entropy and metric (PyTorch's -100). */
#define LABEL_IGNORE (-100)

/* Shard attribute names: "sentence", "token", "similarity". */
const char *label_kind_name(LabelKind k);
int label_kind_parse(const char *s, LabelKind *k); /* 0 ok, -1 unknown */

#endif
