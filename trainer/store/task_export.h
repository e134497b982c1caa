/* task_export.h — each task head with the shared encoder as a transformers
 * task model, one folder per task, for `transformers.pipeline`.
 *
 *   token_classification      -> <Family>ForTokenClassification (exact: the
 *                                head is a linear layer on every token's
 *                                hidden state, as in transformers)
 *   sentence_classification   -> BertForSequenceClassification when the
 *     with pooling `pooler`,     head reads BERT's pooler output directly
 *     no projection/normalise    (exact)
 *   any other sentence head   -> MtbertForSequenceClassification, a small
 *                                modeling_mtbert.py written into the folder
 *                                and named in config.json "auto_map": the
 *                                family's base model, then mtbert's pooling
 *                                (mean / cls / max / pooler), projection and
 *                                L2 normalisation, then the head; load with
 *                                trust_remote_code=True. transformers' own
 *                                sequence classes cannot express these (BERT
 *                                always pools through the tanh pooler;
 *                                DistilBERT, RoBERTa and ELECTRA put a dense
 *                                layer before the classifier).
 *   sentence_similarity       -> no folder (no head: the embedding export
 *                                is its model)
 *
 * Every folder holds config.json (the encoder's config plus architectures,
 * id2label/label2id from the task's labels, classifier_dropout),
 * model.safetensors (the class's own tensor names: "bert.encoder...",
 * "classifier.weight", ...), and the tokenizer and mtbert files of
 * model_dir_save, so `mtbert encode/predict` read it too. */
#ifndef MTBERT_TASK_EXPORT_H
#define MTBERT_TASK_EXPORT_H

#include <stdio.h>

#include "trainer/store/model_dir.h"

/* The transformers class a task exports as ("BertForTokenClassification",
 * "MtbertForSequenceClassification", ...), or NULL for a task without a
 * head. `native` (may be NULL) is set to 1 for a class transformers ships. */
const char *task_export_class(const ModelConfig *mc, int task, int *native);

/* Writes root/TASK/ for every task with a head; one line per folder on
 * `log` (may be NULL) naming the class, and for a remote-code class why.
 * Returns the number of folders written, or -1 with a message in err. */
int task_export_all(Model *m, const ModelDir *d, const LabelNames *labels, const char *root, FILE *log,
                    char *err, size_t errlen);

#endif
