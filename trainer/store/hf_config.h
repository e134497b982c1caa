/* hf_config.h — Hugging Face config.json <-> BertConfig, and loading the
 * weights of a Hugging Face BERT folder into a model. */
#ifndef MTBERT_HF_CONFIG_H
#define MTBERT_HF_CONFIG_H

#include <stddef.h>

#include "trainer/model/bert_config.h"
#include "trainer/model/model.h"

/* Defaults of bert-base-uncased. */
void bert_config_defaults(BertConfig *c);

/* Fill `c` from a config.json text (keys absent keep their value). Errors
 * (not JSON, wrong types, unsupported model_type or hidden_act, bad shape)
 * name `source` and the key. 0 or -1. */
int bert_config_from_json(BertConfig *c, const char *json_text, const char *source, char *err,
                          size_t errlen);

/* config.json text for `c` (malloc'd). */
char *bert_config_to_json(const BertConfig *c);

/* Load the tensors of a safetensors file into the model's parameters.
 * Names are matched with or without the "bert." prefix (and LayerNorm
 * gamma/beta as weight/bias). Every wrongly shaped tensor is an error;
 * missing BERT tensors are errors unless `allow_missing`; missing heads,
 * projection and pooler keep their initialisation and are listed in
 * `report` (may be NULL). Unexpected tensors are listed too. 0 or -1. */
int model_load_safetensors(Model *m, const char *path, int allow_missing, char *report,
                           size_t reportlen, char *err, size_t errlen);

/* The steps of the above, for folders whose tensors are spread over files:
 * load every tensor of `path` the model has (names mapped as above, or the
 * prefix `from` replaced by `to`), marking loaded[i]; then check that every
 * BERT tensor was loaded somewhere and list the rest as new. */
int model_load_file(Model *m, const char *path, const char *from, const char *to, unsigned char *loaded,
                    char *report, size_t reportlen, char *err, size_t errlen);
int model_check_loaded(const Model *m, const unsigned char *loaded, int allow_missing, const char *path,
                       char *report, size_t reportlen, char *err, size_t errlen);

#endif
