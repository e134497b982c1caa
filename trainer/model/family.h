/* family.h — the BERT-architecture model families mtbert runs, as one table.
 *
 * Every family is the same post-LN encoder (trainer/model/model.c); what
 * differs is written here once: the config.json "model_type" and field
 * names, the Hugging Face tensor names, whether there are token types and a
 * pooler, how position ids are formed, and ELECTRA's embedding projection.
 *
 * Inside mtbert every tensor keeps its BERT ("canonical") name,
 * bert.embeddings.* / bert.encoder.layer.N.* / bert.pooler.*, plus
 * bert.embeddings_project.* (ELECTRA); family_hf_name() and
 * family_canonical_name() translate at the edges (loading, export). */
#ifndef MTBERT_FAMILY_H
#define MTBERT_FAMILY_H

#include <stddef.h>

typedef enum {
    FAMILY_BERT = 0, /* the zero value: configs built without a family are BERT */
    FAMILY_DISTILBERT,
    FAMILY_ROBERTA,
    FAMILY_XLM_ROBERTA,
    FAMILY_ELECTRA,
    FAMILY_COUNT
} ModelFamilyId;

/* One name pattern pair, without the model prefix; "%d" stands for the
 * layer number. */
typedef struct {
    const char *canonical; /* after "bert." */
    const char *hf;        /* after the family prefix */
} FamilyNamePair;

typedef struct {
    int id;
    const char *model_type;    /* config.json "model_type" */
    const char *architecture;  /* config.json "architectures" of the exported base model */
    const char *prefix;        /* base_model_prefix + ".": "bert.", "distilbert.", "roberta.", ... */
    /* config.json keys of the shape (NULL: the family has no such key) */
    const char *k_hidden, *k_layers, *k_heads, *k_intermediate, *k_act;
    const char *k_hidden_dropout, *k_attn_dropout, *k_type_vocab, *k_layer_norm_eps;
    const char *k_embedding_size; /* ELECTRA: "embedding_size" */
    const char *k_sinusoidal;     /* DistilBERT: "sinusoidal_pos_embds" */
    /* class defaults for keys a config.json may leave out */
    int default_pad, default_type_vocab, default_max_pos;
    float default_layer_norm_eps;
    int token_types;           /* token_type_embeddings exist (DistilBERT: none) */
    int pooler;                /* pooler.dense exists (DistilBERT, ELECTRA: none) */
    int position_offset_pad;   /* position ids start at pad_token_id + 1 (RoBERTa, XLM-R) */
    int attn_output_dropout;   /* hidden dropout after the attention output dense (DistilBERT: none) */
    const FamilyNamePair *names; /* canonical -> HF where they differ; NULL: identical */
} ModelFamily;

/* The family of `id` (FAMILY_BERT for anything out of range). */
const ModelFamily *family_get(int id);
/* The family whose model_type is `model_type`, or NULL. */
const ModelFamily *family_by_model_type(const char *model_type);
/* "bert", "distilbert", "roberta", "xlm-roberta", "electra" */
const char *family_supported_list(void);
/* The model_types in ModelFamilyId order, NULL-terminated (the values of
 * the config key model.type). */
extern const char *const family_model_types[];

/* A model folder of family `folder` (its config.json model_type) used where
 * the config's model.type `want` is expected: 0 when they agree, else -1
 * with a message naming `dir`, both model_types and what to change. `what`
 * names the folder's role ("the checkpoint", "model.path"); can_omit: say
 * that leaving model.type out takes the folder's family. */
int family_check_same(int folder, int want, const char *dir, const char *what, int can_omit, char *err,
                      size_t errlen);

/* The first position row real tokens use: pad_token_id + 1 for RoBERTa and
 * XLM-R (Hugging Face create_position_ids_from_input_ids), else 0. Real
 * tokens of a right-padded row at position t use row offset + t; padded
 * positions use row pad_token_id in Hugging Face, which changes nothing we
 * compute (their outputs are masked, and that row gets no gradient there). */
int family_position_offset(int id, int pad_token_id);
/* The longest sequence the position table holds: max_position_embeddings
 * less that offset (RoBERTa's 514 rows: 512 tokens). */
int family_max_tokens(int id, int pad_token_id, int max_position_embeddings);

/* Canonical name -> the family's Hugging Face name with its prefix
 * ("bert.encoder.layer.0.attention.self.query.weight" ->
 * "distilbert.transformer.layer.0.attention.q_lin.weight"). Names outside
 * bert.* (projection, heads) are returned unchanged. */
void family_hf_name(int id, const char *canonical, char *out, size_t n);
/* A checkpoint's tensor name (with or without the family prefix; old
 * LayerNorm gamma/beta accepted) -> canonical name. 1 when the name is one
 * of the family's encoder names, 0 otherwise (out then holds the name as
 * given, for projection/heads/unknown tensors). */
int family_canonical_name(int id, const char *name, char *out, size_t n);

/* Fill a (rows, dim) table with DistilBERT's fixed sinusoidal positions
 * (create_sinusoidal_embeddings: sin on even columns, cos on odd). */
void family_sinusoidal_positions(float *out, int rows, int dim);

#endif
