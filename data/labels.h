/* labels.h — the kinds of labels a shard (and a loader batch) carries.
 * The data layer knows labels, not tasks: the model's task kinds
 * (trainer/model/task_kind.h) say which label kind each one trains on. */
#ifndef MTBERT_LABELS_H
#define MTBERT_LABELS_H

typedef enum {
    LABELS_CLASS = 0, /* one class id per example (B) */
    LABELS_TOKEN = 1, /* one class id per token (B,T), LABEL_IGNORE where unlabelled */
    LABELS_SCORE = 2, /* a sentence pair with one float score */
    LABELS_REGRESSION = 3, /* one float score per example on its one sequence (joined pairs) */
} LabelKind;

/* The ignore index of every cross-entropy and metric (PyTorch's -100). */
#define LABEL_IGNORE (-100)

/* How token labels read as entities (tasks[].tag_scheme in the config, the
 * "tag_scheme" of mtbert_tasks.json, the entity decoder's mode in
 * trainer/train/metrics.h): seqeval's default mode (conlleval rules) or its
 * strict IOB2 / IOB1 modes. The one enum; the values are the names' order. */
typedef enum { NER_SCHEME_IOB2 = 0, NER_SCHEME_IOB1 = 1, NER_SCHEME_DEFAULT = 2 } NerScheme;
/* "iob2", "iob1", "conlleval", NULL */
extern const char *const ner_scheme_names[];
/* The name of a scheme (NULL outside the enum); the scheme of a name (-1 for
 * an unknown or NULL name). */
const char *ner_scheme_name(int scheme);
int ner_scheme_parse(const char *name);

/* Shard attribute names: "sentence", "token", "similarity", "regression". */
const char *label_kind_name(LabelKind k);
int label_kind_parse(const char *s, LabelKind *k); /* 0 ok, -1 unknown */

#endif
