#include "trainer/store/hf_config.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"
#include "trainer/model/family.h"
#include "trainer/store/safetensors.h"

void bert_config_defaults(BertConfig *c) {
    c->vocab_size = 30522;
    c->hidden_size = 768;
    c->num_hidden_layers = 12;
    c->num_attention_heads = 12;
    c->intermediate_size = 3072;
    c->max_position_embeddings = 512;
    c->type_vocab_size = 2;
    c->pad_token_id = 0;
    c->layer_norm_eps = 1e-12f;
    c->initializer_range = 0.02f;
    c->hidden_act = GELU_ERF;
    c->hidden_dropout_prob = 0.1f;
    c->attention_probs_dropout_prob = 0.1f;
}

static int get_int(json_t *root, const char *key, int *out, int lo, int hi, const char *src,
                   char *err, size_t errlen) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        snprintf(err, errlen, "%s: \"%s\" must be an integer in [%d, %d]", src, key, lo, hi);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static int get_float(json_t *root, const char *key, float *out, double lo, double hi,
                     const char *src, char *err, size_t errlen) {
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi) {
        snprintf(err, errlen, "%s: \"%s\" must be a number in [%g, %g]", src, key, lo, hi);
        return -1;
    }
    *out = (float)json_number_value(v);
    return 0;
}

int bert_config_from_json(BertConfig *c, const char *text, const char *src, char *err,
                          size_t errlen) {
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: not valid JSON: %s", src, je.line, je.column, je.text);
        return -1;
    }
    int rc = -1;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: expected a JSON object", src);
        goto out;
    }
    json_t *mt = json_object_get(root, "model_type");
    const ModelFamily *fam = family_get(c->family);
    if (mt) {
        fam = json_is_string(mt) ? family_by_model_type(json_string_value(mt)) : NULL;
        if (!fam) {
            snprintf(err, errlen, "%s: \"model_type\" is %s%s%s; supported: %s", src,
                     json_is_string(mt) ? "\"" : "", json_is_string(mt) ? json_string_value(mt) : "not a string",
                     json_is_string(mt) ? "\"" : "", family_supported_list());
            goto out;
        }
        if (fam->id != c->family) { /* the class defaults of keys a file may leave out */
            c->pad_token_id = fam->default_pad;
            c->type_vocab_size = fam->default_type_vocab;
            c->max_position_embeddings = fam->default_max_pos;
            c->layer_norm_eps = fam->default_layer_norm_eps;
            c->embedding_size = 0;
            c->sinusoidal_pos = 0;
        }
        c->family = fam->id;
    }
    if (get_int(root, "vocab_size", &c->vocab_size, 1, 10000000, src, err, errlen) ||
        get_int(root, fam->k_hidden, &c->hidden_size, 1, 65536, src, err, errlen) ||
        get_int(root, fam->k_layers, &c->num_hidden_layers, 0, 64, src, err, errlen) ||
        get_int(root, fam->k_heads, &c->num_attention_heads, 1, 1024, src, err, errlen) ||
        get_int(root, fam->k_intermediate, &c->intermediate_size, 1, 1 << 20, src, err, errlen) ||
        get_int(root, "max_position_embeddings", &c->max_position_embeddings, 1, 1 << 16, src, err, errlen) ||
        (fam->k_type_vocab && get_int(root, fam->k_type_vocab, &c->type_vocab_size, 1, 1024, src, err, errlen)) ||
        get_int(root, "pad_token_id", &c->pad_token_id, 0, 10000000, src, err, errlen) ||
        (fam->k_layer_norm_eps && get_float(root, fam->k_layer_norm_eps, &c->layer_norm_eps, 0, 1, src, err, errlen)) ||
        get_float(root, "initializer_range", &c->initializer_range, 0, 10, src, err, errlen) ||
        get_float(root, fam->k_hidden_dropout, &c->hidden_dropout_prob, 0, 0.999, src, err, errlen) ||
        get_float(root, fam->k_attn_dropout, &c->attention_probs_dropout_prob, 0, 0.999, src, err, errlen) ||
        (fam->k_embedding_size && get_int(root, fam->k_embedding_size, &c->embedding_size, 1, 65536, src, err, errlen)))
        goto out;
    if (!fam->token_types) c->type_vocab_size = 0; /* DistilBERT: no token types */
    if (fam->k_sinusoidal) {
        json_t *sp = json_object_get(root, fam->k_sinusoidal);
        if (sp && !json_is_boolean(sp)) {
            snprintf(err, errlen, "%s: \"%s\" must be true or false", src, fam->k_sinusoidal);
            goto out;
        }
        if (sp) c->sinusoidal_pos = json_is_true(sp);
    }
    if (c->embedding_size == c->hidden_size) c->embedding_size = 0;
    json_t *pet = json_object_get(root, "position_embedding_type");
    if (pet && !json_is_null(pet) && (!json_is_string(pet) || strcmp(json_string_value(pet), "absolute"))) {
        snprintf(err, errlen, "%s: \"position_embedding_type\" must be \"absolute\"", src);
        goto out;
    }
    if (family_position_offset(c->family, c->pad_token_id) >= c->max_position_embeddings) {
        snprintf(err, errlen, "%s: max_position_embeddings %d leaves no position after the padding offset %d", src,
                 c->max_position_embeddings, family_position_offset(c->family, c->pad_token_id));
        goto out;
    }
    json_t *act = json_object_get(root, fam->k_act);
    if (act) {
        const char *a = json_is_string(act) ? json_string_value(act) : "";
        if (!strcmp(a, "gelu")) c->hidden_act = GELU_ERF;
        else if (!strcmp(a, "gelu_new") || !strcmp(a, "gelu_pytorch_tanh")) c->hidden_act = GELU_TANH;
        else {
            snprintf(err, errlen, "%s: \"%s\" must be \"gelu\" or \"gelu_new\", got %s", src, fam->k_act,
                     json_is_string(act) ? a : "a non-string");
            goto out;
        }
    }
    if (c->hidden_size % c->num_attention_heads) {
        snprintf(err, errlen, "%s: %s %d is not divisible by %s %d", src, fam->k_hidden,
                 c->hidden_size, fam->k_heads, c->num_attention_heads);
        goto out;
    }
    if (c->pad_token_id >= c->vocab_size) {
        snprintf(err, errlen, "%s: pad_token_id %d is outside the vocabulary of %d", src,
                 c->pad_token_id, c->vocab_size);
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

char *bert_config_to_json(const BertConfig *c) {
    const ModelFamily *f = family_get(c->family);
    json_t *o = json_object();
    json_object_set_new(o, "architectures", json_pack("[s]", f->architecture));
    json_object_set_new(o, "model_type", json_string(f->model_type));
    json_object_set_new(o, "vocab_size", json_integer(c->vocab_size));
    json_object_set_new(o, f->k_hidden, json_integer(c->hidden_size));
    if (f->k_embedding_size)
        json_object_set_new(o, f->k_embedding_size, json_integer(c->embedding_size > 0 ? c->embedding_size : c->hidden_size));
    json_object_set_new(o, f->k_layers, json_integer(c->num_hidden_layers));
    json_object_set_new(o, f->k_heads, json_integer(c->num_attention_heads));
    json_object_set_new(o, f->k_intermediate, json_integer(c->intermediate_size));
    json_object_set_new(o, "max_position_embeddings", json_integer(c->max_position_embeddings));
    if (f->k_type_vocab) json_object_set_new(o, f->k_type_vocab, json_integer(c->type_vocab_size));
    json_object_set_new(o, "pad_token_id", json_integer(c->pad_token_id));
    if (f->k_layer_norm_eps) json_object_set_new(o, f->k_layer_norm_eps, json_real(c->layer_norm_eps));
    json_object_set_new(o, "initializer_range", json_real(c->initializer_range));
    json_object_set_new(o, f->k_act, json_string(c->hidden_act == GELU_TANH ? "gelu_new" : "gelu"));
    json_object_set_new(o, f->k_hidden_dropout, json_real(c->hidden_dropout_prob));
    json_object_set_new(o, f->k_attn_dropout, json_real(c->attention_probs_dropout_prob));
    if (f->k_sinusoidal) json_object_set_new(o, f->k_sinusoidal, json_boolean(c->sinusoidal_pos));
    if (f->k_type_vocab) json_object_set_new(o, "position_embedding_type", json_string("absolute"));
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(o);
    return s;
}


static void appendf(char *buf, size_t len, const char *fmt, const char *arg) {
    if (!buf || !len) return;
    size_t used = strlen(buf);
    if (used + 1 < len) snprintf(buf + used, len - used, fmt, arg);
}

int model_load_file(Model *m, const char *path, const char *from, const char *to, unsigned char *loaded,
                    char *report, size_t reportlen, char *err, size_t errlen) {
    StFile f;
    if (st_open(&f, path, err, errlen)) return -1;
    int rc = -1;
    float *host = NULL;
    size_t hostcap = 0;
    for (int i = 0; i < f.ntensors; i++) {
        const StTensor *st = &f.tensors[i];
        char name[256];
        if (from && !strncmp(st->name, from, strlen(from)))
            snprintf(name, sizeof name, "%s%s", to, st->name + strlen(from));
        else
            family_canonical_name(m->cfg.bert.family, st->name, name, sizeof name); /* trainer/model/family.c */
        const ParamTensor *t = params_find(&m->table, name);
        if (!t) {
            /* buffers saved by some exporters, and the MLM/NSP heads of pre-training */
            if (!strstr(name, "position_ids")) appendf(report, reportlen, "unexpected tensor %s (ignored)\n", st->name);
            continue;
        }
        int64_t rows = t->shape[0], cols = t->ndim == 2 ? t->shape[1] : 0;
        int ok = st->ndim == t->ndim && st->shape[0] == rows && (t->ndim == 1 || st->shape[1] == cols);
        if (!ok) {
            char got[96] = "", want[64];
            for (int d = 0; d < st->ndim && strlen(got) < 80; d++)
                snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", d ? ", " : "", (long long)st->shape[d]);
            if (t->ndim == 2) snprintf(want, sizeof want, "%lld, %lld", (long long)rows, (long long)cols);
            else snprintf(want, sizeof want, "%lld", (long long)rows);
            snprintf(err, errlen, "%s: tensor %s has shape [%s], the model expects [%s]", path, st->name, got, want);
            goto out;
        }
        if (t->numel > hostcap) {
            free(host);
            hostcap = t->numel;
            host = malloc(sizeof(float) * hostcap);
            if (!host) { snprintf(err, errlen, "%s: out of memory", path); goto out; }
        }
        if (st_read_f32(&f, st, host, err, errlen)) goto out;
        m->ops->to_device(m->params + t->offset, host, sizeof(float) * t->numel);
        if (loaded) loaded[t - m->table.t] = 1;
    }
    rc = 0;
out:
    free(host);
    st_close(&f);
    return rc;
}

int model_check_loaded(const Model *m, const unsigned char *loaded, int allow_missing, const char *path,
                       char *report, size_t reportlen, char *err, size_t errlen) {
    int missing_core = 0;
    for (int i = 0; i < m->table.n; i++) {
        if (loaded[i]) continue;
        const ParamTensor *t = &m->table.t[i];
        int core = t->group == GROUP_EMBEDDINGS || t->group == GROUP_LAYER;
        if (core && !allow_missing) {
            if (!missing_core) snprintf(err, errlen, "%s: missing tensor(s):", path);
            size_t used = strlen(err);
            if (used + 1 < errlen) snprintf(err + used, errlen - used, " %s", t->name);
            missing_core++;
        } else {
            appendf(report, reportlen, "new tensor %s (initialised)\n", t->name);
        }
    }
    return missing_core ? -1 : 0;
}

int model_load_safetensors(Model *m, const char *path, int allow_missing, char *report,
                           size_t reportlen, char *err, size_t errlen) {
    if (report && reportlen) report[0] = 0;
    unsigned char *loaded = calloc(m->table.n ? m->table.n : 1, 1);
    int rc = model_load_file(m, path, NULL, NULL, loaded, report, reportlen, err, errlen);
    if (!rc) rc = model_check_loaded(m, loaded, allow_missing, path, report, reportlen, err, errlen);
    free(loaded);
    return rc;
}
