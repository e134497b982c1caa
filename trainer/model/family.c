#include "trainer/model/family.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* DistilBERT's names for the BERT layer (stems: ".weight"/".bias" follow) */
static const FamilyNamePair distilbert_names[] = {
    {"encoder.layer.%d.attention.self.query.", "transformer.layer.%d.attention.q_lin."},
    {"encoder.layer.%d.attention.self.key.", "transformer.layer.%d.attention.k_lin."},
    {"encoder.layer.%d.attention.self.value.", "transformer.layer.%d.attention.v_lin."},
    {"encoder.layer.%d.attention.output.dense.", "transformer.layer.%d.attention.out_lin."},
    {"encoder.layer.%d.attention.output.LayerNorm.", "transformer.layer.%d.sa_layer_norm."},
    {"encoder.layer.%d.intermediate.dense.", "transformer.layer.%d.ffn.lin1."},
    {"encoder.layer.%d.output.dense.", "transformer.layer.%d.ffn.lin2."},
    {"encoder.layer.%d.output.LayerNorm.", "transformer.layer.%d.output_layer_norm."},
    {NULL, NULL}};

#define BERT_KEYS "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "hidden_act", \
                  "hidden_dropout_prob", "attention_probs_dropout_prob", "type_vocab_size", "layer_norm_eps"

/*   id, model_type, architecture, prefix, keys..., embedding_size key, sinusoidal key,
 *   default pad, type vocab, max positions, eps, token types, pooler, position offset,
 *   attention-output dropout, names */
static const ModelFamily families[FAMILY_COUNT] = {
    {FAMILY_BERT, "bert", "BertModel", "bert.", BERT_KEYS, NULL, NULL,
     0, 2, 512, 1e-12f, 1, 1, 0, 1, NULL},
    {FAMILY_DISTILBERT, "distilbert", "DistilBertModel", "distilbert.",
     "dim", "n_layers", "n_heads", "hidden_dim", "activation", "dropout", "attention_dropout", NULL, NULL,
     NULL, "sinusoidal_pos_embds",
     0, 0, 512, 1e-12f, 0, 0, 0, 0, distilbert_names},
    {FAMILY_ROBERTA, "roberta", "RobertaModel", "roberta.", BERT_KEYS, NULL, NULL,
     1, 1, 514, 1e-5f, 1, 1, 1, 1, NULL},
    {FAMILY_XLM_ROBERTA, "xlm-roberta", "XLMRobertaModel", "roberta.", BERT_KEYS, NULL, NULL,
     1, 1, 514, 1e-5f, 1, 1, 1, 1, NULL},
    {FAMILY_ELECTRA, "electra", "ElectraModel", "electra.", BERT_KEYS, "embedding_size", NULL,
     0, 2, 512, 1e-12f, 1, 0, 0, 1, NULL},
};

const ModelFamily *family_get(int id) {
    return id >= 0 && id < FAMILY_COUNT ? &families[id] : &families[FAMILY_BERT];
}

const ModelFamily *family_by_model_type(const char *model_type) {
    for (int i = 0; i < FAMILY_COUNT; i++)
        if (model_type && !strcmp(families[i].model_type, model_type)) return &families[i];
    return NULL;
}

const char *family_supported_list(void) {
    return "\"bert\", \"distilbert\", \"roberta\", \"xlm-roberta\", \"electra\"";
}

const char *const family_model_types[] = {"bert", "distilbert", "roberta", "xlm-roberta", "electra", NULL};

int family_check_same(int folder, int want, const char *dir, const char *what, int can_omit, char *err,
                      size_t errlen) {
    if (folder == want) return 0;
    const char *f = family_get(folder)->model_type, *w = family_get(want)->model_type;
    snprintf(err, errlen, "%s: model.type: %s is a %s model (config.json model_type \"%s\"), the config's "
             "model.type is %s; one family's weights do not run as another's (set model.type: %s%s)", dir, what, f,
             f, w, f, can_omit ? ", or leave model.type out to take the folder's" : "");
    return -1;
}

int family_position_offset(int id, int pad_token_id) {
    return family_get(id)->position_offset_pad ? pad_token_id + 1 : 0;
}

int family_max_tokens(int id, int pad_token_id, int max_position_embeddings) {
    return max_position_embeddings - family_position_offset(id, pad_token_id);
}

/* Does `name` start with the stem `pat` ("%d" = a layer number)? Returns
 * the length of name it covers and the layer in *layer, or 0. */
static size_t match_stem(const char *pat, const char *name, int *layer) {
    const char *d = strstr(pat, "%d");
    if (!d) {
        size_t n = strlen(pat);
        return strncmp(name, pat, n) ? 0 : n;
    }
    size_t head = (size_t)(d - pat);
    if (strncmp(name, pat, head)) return 0;
    const char *p = name + head;
    if (!isdigit((unsigned char)*p)) return 0;
    char *end;
    long l = strtol(p, &end, 10);
    if (l < 0 || l > 100000) return 0;
    const char *tail = d + 2;
    size_t tn = strlen(tail);
    if (strncmp(end, tail, tn)) return 0;
    *layer = (int)l;
    return (size_t)(end - name) + tn;
}

/* Rewrite `in` through the pairs (from canonical to HF when to_hf). */
static void map_names(const FamilyNamePair *pairs, int to_hf, const char *in, char *out, size_t n) {
    for (const FamilyNamePair *p = pairs; p && p->canonical; p++) {
        const char *from = to_hf ? p->canonical : p->hf, *to = to_hf ? p->hf : p->canonical;
        int layer = 0;
        size_t used = match_stem(from, in, &layer);
        if (!used) continue;
        char stem[160];
        if (strstr(to, "%d")) snprintf(stem, sizeof stem, to, layer);
        else snprintf(stem, sizeof stem, "%s", to);
        snprintf(out, n, "%s%s", stem, in + used);
        return;
    }
    snprintf(out, n, "%s", in);
}

void family_hf_name(int id, const char *canonical, char *out, size_t n) {
    const ModelFamily *f = family_get(id);
    if (strncmp(canonical, "bert.", 5)) {
        snprintf(out, n, "%s", canonical);
        return;
    }
    char mapped[256];
    map_names(f->names, 1, canonical + 5, mapped, sizeof mapped);
    snprintf(out, n, "%s%s", f->prefix, mapped);
}

int family_canonical_name(int id, const char *name, char *out, size_t n) {
    const ModelFamily *f = family_get(id);
    size_t pl = strlen(f->prefix);
    const char *bare = name;
    int prefixed = !strncmp(name, f->prefix, pl);
    if (prefixed) bare = name + pl;
    /* the roots of a bare base model's names */
    static const char *roots[] = {"embeddings.", "embeddings_project.", "encoder.", "pooler.", "transformer.", NULL};
    int root = 0;
    for (int i = 0; roots[i]; i++)
        if (!strncmp(bare, roots[i], strlen(roots[i]))) root = 1;
    if (!root) {
        snprintf(out, n, "%s", name);
        return 0;
    }
    char mapped[256];
    map_names(f->names, 0, bare, mapped, sizeof mapped);
    snprintf(out, n, "bert.%s", mapped);
    size_t len = strlen(out);
    if (len > 6 && !strcmp(out + len - 6, ".gamma")) snprintf(out + len - 6, n - (len - 6), ".weight");
    else if (len > 5 && !strcmp(out + len - 5, ".beta")) snprintf(out + len - 5, n - (len - 5), ".bias");
    return 1;
}

void family_sinusoidal_positions(float *out, int rows, int dim) {
    for (int pos = 0; pos < rows; pos++)
        for (int j = 0; j < dim; j++) {
            double a = pos / pow(10000.0, 2.0 * (j / 2) / dim);
            out[(size_t)pos * dim + j] = (float)(j % 2 == 0 ? sin(a) : cos(a));
        }
}
