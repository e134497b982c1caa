#include "trainer/store/model_dir.h"
#include "trainer/model/task_kind.h"

#include <errno.h>
#include <math.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/labels.h"
#include "data/tokenizer_json.h"
#include "util/fsutil.h"
#include "trainer/model/family.h"
#include "trainer/store/hf_config.h"
#include "trainer/store/safetensors.h"

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* Parse a JSON file; NULL with a message naming it (and line:column). */
static json_t *load_json(const char *path, char *err, size_t errlen) {
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j) snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
    else if (!json_is_object(j) && !json_is_array(j)) {
        snprintf(err, errlen, "%s: expected a JSON object", path);
        json_decref(j);
        j = NULL;
    }
    return j;
}

/* The sentence-transformers modules: pooling mode, Dense, Normalize. */
static int read_st_modules(ModelDir *d, char *err, size_t errlen) {
    char path[1200];
    snprintf(path, sizeof path, "%s/modules.json", d->dir);
    if (!exists(path)) return 0;
    json_t *mods = load_json(path, err, errlen);
    if (!mods) return -1;
    int rc = -1;
    if (!json_is_array(mods)) {
        snprintf(err, errlen, "%s: expected a list of modules", path);
        goto out;
    }
    d->is_sentence_transformer = 1;
    size_t i;
    json_t *mod;
    json_array_foreach(mods, i, mod) {
        const char *type = json_string_value(json_object_get(mod, "type"));
        const char *sub = json_string_value(json_object_get(mod, "path"));
        if (!type || !sub) {
            snprintf(err, errlen, "%s: module %zu lacks \"type\" or \"path\"", path, i);
            goto out;
        }
        char mp[1400];
        snprintf(mp, sizeof mp, "%s/%s/config.json", d->dir, sub);
        if (strstr(type, "Transformer")) continue;
        if (strstr(type, "Normalize")) { d->mc.normalize = 1; continue; }
        if (strstr(type, "Pooling")) {
            json_t *pc = load_json(mp, err, errlen);
            if (!pc) goto out;
            /* sentence-transformers 6: "pooling_mode": "mean" | "cls" | "max" | ... */
            const char *mode = json_string_value(json_object_get(pc, "pooling_mode"));
            if (mode) {
                int p = !strcmp(mode, "mean") ? POOL_MEAN : !strcmp(mode, "cls") ? POOL_CLS
                        : !strcmp(mode, "max") ? POOL_MAX : -1;
                if (p < 0) snprintf(err, errlen, "%s: pooling_mode \"%s\" is not supported (mean, cls or max)", mp, mode);
                json_decref(pc);
                if (p < 0) goto out;
                d->mc.pooling = p;
                continue;
            }
            /* older releases: one boolean flag per mode */
            int mean = json_is_true(json_object_get(pc, "pooling_mode_mean_tokens"));
            int cls = json_is_true(json_object_get(pc, "pooling_mode_cls_token"));
            int max = json_is_true(json_object_get(pc, "pooling_mode_max_tokens"));
            int other = json_is_true(json_object_get(pc, "pooling_mode_mean_sqrt_len_tokens")) ||
                        json_is_true(json_object_get(pc, "pooling_mode_weightedmean_tokens")) ||
                        json_is_true(json_object_get(pc, "pooling_mode_lasttoken"));
            json_decref(pc);
            if (mean + cls + max != 1 || other) {
                snprintf(err, errlen, "%s: exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token, "
                         "pooling_mode_max_tokens must be true (other modes are not supported)", mp);
                goto out;
            }
            d->mc.pooling = mean ? POOL_MEAN : cls ? POOL_CLS : POOL_MAX;
            continue;
        }
        if (strstr(type, "Dense")) {
            json_t *dc = load_json(mp, err, errlen);
            if (!dc) goto out;
            const char *act = json_string_value(json_object_get(dc, "activation_function"));
            int in = (int)json_integer_value(json_object_get(dc, "in_features"));
            int outf = (int)json_integer_value(json_object_get(dc, "out_features"));
            int identity = act && strstr(act, "Identity");
            json_decref(dc);
            if (!identity) {
                snprintf(err, errlen, "%s: only a Dense module with activation_function Identity is supported (got %s)",
                         mp, act ? act : "none");
                goto out;
            }
            if (in != d->mc.bert.hidden_size || outf <= 0) {
                snprintf(err, errlen, "%s: in_features %d must equal hidden_size %d and out_features must be positive",
                         mp, in, d->mc.bert.hidden_size);
                goto out;
            }
            d->mc.embedding_dim = outf;
            snprintf(d->dense_weights, sizeof d->dense_weights, "%s/%s/model.safetensors", d->dir, sub);
            continue;
        }
        snprintf(err, errlen, "%s: module type %s is not supported", path, type);
        goto out;
    }
    rc = 0;
out:
    json_decref(mods);
    return rc;
}

/* A task's "tag_scheme": only on a token task; absent reads as conlleval
 * (folders written before it was recorded). */
static int read_tag_scheme(ModelDir *d, int t, json_t *o, const char *path, char *err, size_t errlen) {
    const TaskConfig *tc = &d->mc.tasks[t];
    json_t *ts = json_object_get(o, "tag_scheme");
    d->tag_scheme[t] = NER_SCHEME_DEFAULT;
    if (!ts) return 0;
    if (task_kind(tc->type)->head != HEAD_TOKEN) {
        snprintf(err, errlen, "%s: task %s: \"tag_scheme\" belongs to token_classification tasks only", path, tc->name);
        return -1;
    }
    d->tag_scheme[t] = ner_scheme_parse(json_string_value(ts));
    if (d->tag_scheme[t] < 0) {
        snprintf(err, errlen, "%s: task %s: \"tag_scheme\" must be conlleval, iob2 or iob1", path, tc->name);
        return -1;
    }
    return 0;
}

/* mtbert_tasks.json: our own sentence settings and the task heads. */
static int read_tasks_file(ModelDir *d, char *err, size_t errlen) {
    char path[1200];
    snprintf(path, sizeof path, "%s/mtbert_tasks.json", d->dir);
    if (!exists(path)) return 0;
    json_t *root = load_json(path, err, errlen);
    if (!root) return -1;
    int rc = -1;
    const char *pool = json_string_value(json_object_get(root, "pooling"));
    if (pool) {
        if (!strcmp(pool, "mean")) d->mc.pooling = POOL_MEAN;
        else if (!strcmp(pool, "cls")) d->mc.pooling = POOL_CLS;
        else if (!strcmp(pool, "max")) d->mc.pooling = POOL_MAX;
        else if (!strcmp(pool, "pooler")) d->mc.pooling = POOL_POOLER;
        else { snprintf(err, errlen, "%s: \"pooling\" must be mean, cls, max or pooler", path); goto out; }
    }
    json_t *tasks = json_object_get(root, "tasks");
    if (tasks && !json_is_array(tasks)) { snprintf(err, errlen, "%s: \"tasks\" must be a list", path); goto out; }
    if (json_array_size(tasks) > MAX_TASKS) { snprintf(err, errlen, "%s: more than %d tasks", path, MAX_TASKS); goto out; }
    size_t i;
    json_t *o;
    json_array_foreach(tasks, i, o) {
        TaskConfig *tc = &d->mc.tasks[i];
        const char *name = json_string_value(json_object_get(o, "name"));
        const char *type = json_string_value(json_object_get(o, "type"));
        json_t *nl = json_object_get(o, "num_labels");
        if (!name || !type || !json_is_integer(nl) || strlen(name) >= MAX_NAME) {
            snprintf(err, errlen, "%s: task %zu needs \"name\" (< %d characters), \"type\" and \"num_labels\"",
                     path, i, MAX_NAME);
            goto out;
        }
        snprintf(tc->name, sizeof tc->name, "%s", name);
        if (task_kind_parse(type, &tc->type)) { snprintf(err, errlen, "%s: task %s: unknown type \"%s\"", path, name, type); goto out; }
        tc->num_labels = (int)json_integer_value(nl);
        if (tc->num_labels < 1 || tc->num_labels > MAX_LABELS) {
            snprintf(err, errlen, "%s: task %s: num_labels must be in [1, %d]", path, name, MAX_LABELS);
            goto out;
        }
        json_t *names = json_object_get(o, "labels");
        if (json_is_array(names)) {
            if ((int)json_array_size(names) != tc->num_labels) {
                snprintf(err, errlen, "%s: task %s: %zu label names for num_labels %d", path, name,
                         json_array_size(names), tc->num_labels);
                goto out;
            }
            d->labels[i] = calloc(json_array_size(names), sizeof(char *));
            d->nlabels[i] = (int)json_array_size(names);
            for (size_t k = 0; k < json_array_size(names); k++) {
                const char *ln = json_string_value(json_array_get(names, k));
                d->labels[i][k] = strdup(ln ? ln : "?");
            }
        }
        json_t *w = json_object_get(o, "loss_weight"), *dr = json_object_get(o, "dropout");
        tc->loss_weight = json_is_number(w) ? (float)json_number_value(w) : 1.0f;
        tc->dropout = json_is_number(dr) ? (float)json_number_value(dr) : 0.1f;
        d->mc.ntasks = (int)i + 1;
        if (read_tag_scheme(d, (int)i, o, path, err, errlen)) goto out;
    }
    snprintf(d->heads, sizeof d->heads, "%s/mtbert_heads.safetensors", d->dir);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

void model_dir_free(ModelDir *d) {
    for (int t = 0; t < MAX_TASKS; t++) {
        for (int k = 0; k < d->nlabels[t]; k++) free(d->labels[t][k]);
        free(d->labels[t]);
        d->labels[t] = NULL;
        d->nlabels[t] = 0;
    }
}

/* A pointer file (`latest`, `best`: one line "step-NNNNNNN") names a folder
 * beside it. */
static int follow_pointer(const char *file, char *out, size_t n, char *err, size_t errlen) {
    char *text = fs_read_file(file, NULL, err, errlen);
    if (!text) return -1;
    text[strcspn(text, "\r\n")] = 0;
    int ok = text[0] && !strchr(text, '/') && strcmp(text, ".") && strcmp(text, "..");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    struct stat st;
    if (ok) {
        snprintf(out, n, "%s/%s", dir, text);
        ok = stat(out, &st) == 0 && S_ISDIR(st.st_mode);
    }
    if (!ok) snprintf(err, errlen, "%s: names '%s', which is not a model folder beside it", file, text);
    free(text);
    return ok ? 0 : -1;
}

int model_dir_resolve(const char *path, char *out, size_t n, char *err, size_t errlen) {
    struct stat st;
    if (stat(path, &st)) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (S_ISREG(st.st_mode)) return follow_pointer(path, out, n, err, errlen);
    char p[1100];
    snprintf(p, sizeof p, "%s/config.json", path);
    if (!exists(p)) {
        snprintf(p, sizeof p, "%s/latest", path);
        if (exists(p)) return follow_pointer(p, out, n, err, errlen); /* a run directory */
    }
    snprintf(out, n, "%s", path);
    return 0;
}

int model_dir_read(ModelDir *d, const char *where, char *err, size_t errlen) {
    memset(d, 0, sizeof *d);
    char dir[1024];
    if (model_dir_resolve(where, dir, sizeof dir, err, errlen)) return -1;
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    bert_config_defaults(&d->mc.bert);
    d->mc.pooling = POOL_MEAN;
    d->do_lower_case = 1;
    for (int t = 0; t < MAX_TASKS; t++) d->tag_scheme[t] = NER_SCHEME_DEFAULT;
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = fs_read_file(path, NULL, err, errlen);
    if (!text) return -1;
    int rc = bert_config_from_json(&d->mc.bert, text, path, err, errlen);
    free(text);
    if (rc) return -1;
    snprintf(d->weights, sizeof d->weights, "%s/model.safetensors", dir);
    if (!exists(d->weights)) {
        snprintf(path, sizeof path, "%s/pytorch_model.bin", dir);
        snprintf(err, errlen, "%s: missing%s", d->weights,
                 exists(path) ? " (pytorch_model.bin is there: convert it to safetensors first)" : "");
        return -1;
    }
    /* the tokenizer: tokenizer.json wins over vocab.txt */
    char vt[1100];
    snprintf(vt, sizeof vt, "%s/vocab.txt", dir);
    snprintf(d->vocab, sizeof d->vocab, "%s/tokenizer.json", dir);
    if (exists(d->vocab)) {
        d->tokenizer_json = 1;
        d->vocab_txt_unused = exists(vt);
    } else if (exists(vt)) {
        snprintf(d->vocab, sizeof d->vocab, "%s", vt);
    } else {
        snprintf(err, errlen, "%s: missing (the WordPiece vocabulary; or a tokenizer.json)", vt);
        return -1;
    }
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    if (exists(path)) {
        json_t *tc = load_json(path, err, errlen);
        if (!tc) return -1;
        json_t *lc = json_object_get(tc, "do_lower_case");
        if (json_is_boolean(lc)) d->do_lower_case = json_is_true(lc);
        json_decref(tc);
    }
    int max_tokens = family_max_tokens(d->mc.bert.family, d->mc.bert.pad_token_id,
                                       d->mc.bert.max_position_embeddings);
    d->max_seq_length = max_tokens;
    snprintf(path, sizeof path, "%s/sentence_bert_config.json", dir);
    if (exists(path)) {
        json_t *sc = load_json(path, err, errlen);
        if (!sc) return -1;
        json_t *ml = json_object_get(sc, "max_seq_length");
        if (json_is_integer(ml) && json_integer_value(ml) > 0 && json_integer_value(ml) <= max_tokens)
            d->max_seq_length = (int)json_integer_value(ml);
        json_t *lc = json_object_get(sc, "do_lower_case");
        /* sentence-transformers' own flag lowercases before the tokenizer */
        if (json_is_true(lc)) d->do_lower_case = 1;
        json_decref(sc);
    }
    if (read_st_modules(d, err, errlen)) return -1;
    if (read_tasks_file(d, err, errlen)) {
        model_dir_free(d); /* label names of the tasks read before the bad one */
        return -1;
    }
    return 0;
}

/* NaN or Inf in loaded weights is a damaged model: name the tensor rather
 * than print confident labels or NaN embeddings later. */
int model_check_finite(Model *m, const ModelDir *d, char *err, size_t errlen) {
    size_t total = m->table.total;
    float *h = malloc((total ? total : 1) * sizeof(float));
    if (!h) { snprintf(err, errlen, "out of memory checking the weights of %s", d->dir); return -1; }
    m->ops->to_host(h, m->params, total * sizeof(float));
    int rc = 0;
    for (int i = 0; i < m->table.n && !rc; i++) {
        const ParamTensor *t = &m->table.t[i];
        for (size_t k = 0; k < t->numel; k++)
            if (!isfinite(h[t->offset + k])) {
                snprintf(err, errlen, "%s: tensor %s holds a non-finite value (%g at element %zu): the model "
                         "is damaged", d->dir, t->name, (double)h[t->offset + k], k);
                rc = -1;
                break;
            }
    }
    free(h);
    return rc;
}

int model_dir_load(Model *m, const ModelDir *d, char *report, size_t reportlen, char *err, size_t errlen) {
    char local[64];
    if (!report || !reportlen) { report = local; reportlen = sizeof local; }
    report[0] = 0;
    unsigned char *loaded = calloc(m->table.n ? m->table.n : 1, 1);
    int rc = model_load_file(m, d->weights, NULL, NULL, loaded, report, reportlen, err, errlen);
    if (!rc && d->heads[0] && m->cfg.ntasks > 0)
        rc = model_load_file(m, d->heads, NULL, NULL, loaded, report, reportlen, err, errlen);
    /* the sentence-transformers Dense module stores linear.weight / linear.bias */
    if (!rc && d->dense_weights[0])
        rc = model_load_file(m, d->dense_weights, "linear.", "projection.", loaded, report, reportlen, err, errlen);
    if (!rc) rc = model_check_loaded(m, loaded, 0, d->weights, report, reportlen, err, errlen);
    if (!rc && m->cfg.pooling == POOL_POOLER) {
        const ParamTensor *pw = params_find(&m->table, "bert.pooler.dense.weight");
        if (pw && !loaded[pw - m->table.t]) {
            snprintf(err, errlen, "%s: pooling 'pooler' needs bert.pooler.dense.*, which this model lacks", d->weights);
            rc = -1;
        }
    }
    if (!rc && d->dense_weights[0]) {
        const ParamTensor *pw = params_find(&m->table, "projection.weight");
        if (pw && !loaded[pw - m->table.t]) {
            snprintf(err, errlen, "%s: linear.weight missing", d->dense_weights);
            rc = -1;
        }
    }
    free(loaded);
    return rc;
}

/* ---- writing ---- */

static int write_json(const char *path, json_t *j, char *err, size_t errlen) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(j);
    if (!s) { snprintf(err, errlen, "%s: out of memory", path); return -1; }
    size_t n = strlen(s);
    char *t = malloc(n + 2);
    memcpy(t, s, n);
    t[n] = '\n';
    free(s);
    int rc = fs_write_atomic(path, t, n + 1, err, errlen);
    free(t);
    return rc;
}

static int copy_file(const char *from, const char *to, char *err, size_t errlen) {
    size_t len;
    char *data = fs_read_file(from, &len, err, errlen);
    if (!data) return -1;
    int rc = fs_write_atomic(to, data, len, err, errlen);
    free(data);
    return rc;
}

static const char *pooling_name(int p) {
    return p == POOL_CLS ? "cls" : p == POOL_MAX ? "max" : p == POOL_POOLER ? "pooler" : "mean";
}

int model_dir_write_tensors(Model *m, const char *path, ModelTensorName name, void *ctx, char *err, size_t errlen) {
    int n = 0;
    StWriteTensor *w = calloc(m->table.n ? m->table.n : 1, sizeof *w);
    char (*names)[256] = calloc(m->table.n ? m->table.n : 1, sizeof *names);
    float *host = malloc(sizeof(float) * m->table.total);
    int rc = -1;
    if (!w || !names || !host) { snprintf(err, errlen, "%s: out of memory", path); goto out; }
    m->ops->to_host(host, m->params, sizeof(float) * m->table.total);
    for (int i = 0; i < m->table.n; i++) {
        const ParamTensor *t = &m->table.t[i];
        if (!name(m, t, ctx, names[n], sizeof names[n])) continue;
        w[n].name = names[n];
        w[n].dtype = ST_F32;
        w[n].ndim = t->ndim;
        w[n].shape[0] = t->shape[0];
        w[n].shape[1] = t->shape[1];
        w[n].data = host + t->offset;
        n++;
    }
    const char *meta[] = {"format", "pt", NULL};
    rc = st_write(path, w, n, meta, err, errlen);
out:
    free(w);
    free(names);
    free(host);
    return rc;
}

/* the family's bare base-model names (trainer/model/family.c), as its
 * AutoModel class saves them: "embeddings.*", "encoder.layer.N.*", ... */
static int encoder_name(const Model *m, const ParamTensor *t, void *ctx, char *out, size_t n) {
    (void)ctx;
    if (t->group != GROUP_EMBEDDINGS && t->group != GROUP_LAYER && t->group != GROUP_POOLER) return 0;
    int family = m->cfg.bert.family;
    char hf[256];
    family_hf_name(family, t->name, hf, sizeof hf);
    const char *prefix = family_get(family)->prefix;
    const char *src = strncmp(hf, prefix, strlen(prefix)) ? hf : hf + strlen(prefix);
    snprintf(out, n, "%s", src);
    return 1;
}
/* sentence-transformers' Dense module: linear.weight / linear.bias */
static int dense_name(const Model *m, const ParamTensor *t, void *ctx, char *out, size_t n) {
    (void)m, (void)ctx;
    if (t->group != GROUP_PROJECTION) return 0;
    snprintf(out, n, "linear.%s", strrchr(t->name, '.') + 1);
    return 1;
}
/* heads and learned loss weights under their own names */
static int head_name(const Model *m, const ParamTensor *t, void *ctx, char *out, size_t n) {
    (void)m, (void)ctx;
    if (t->group != GROUP_HEAD && t->group != GROUP_LOSS_WEIGHTS) return 0;
    snprintf(out, n, "%s", t->name);
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* The special tokens of a tokenizer.json as the Hugging Face files name
 * them (those it has). */
static json_t *json_special_tokens(const Tok *tok) {
    json_t *o = json_object();
    const char *keys[] = {"unk_token", "sep_token", "pad_token", "cls_token", "mask_token"};
    int ids[] = {tok_unk_id(tok), tok_sep_id(tok), tok_pad_id(tok), tok_cls_id(tok), tok_mask_id(tok)};
    for (int k = 0; k < 5; k++) {
        const char *s = ids[k] >= 0 ? tok_id_token(tok, ids[k]) : NULL;
        if (s) json_object_set_new(o, keys[k], json_string(s));
    }
    return o;
}

/* The tokenizer files: vocab.txt (BertTokenizer) or tokenizer.json
 * (PreTrainedTokenizerFast; a vocab.txt beside the source comes too). */
static int save_tokenizer(const char *dir, const char *vocab_path, int do_lower_case, int max_seq_length,
                          char *err, size_t errlen) {
    char p[1400];
    if (vocab_path && ends_with(vocab_path, ".json")) {
        Tok *tok = tok_open(vocab_path, 0, err, errlen);
        if (!tok) return -1;
        json_t *sp = json_special_tokens(tok);
        tok_free(tok);
        snprintf(p, sizeof p, "%s/tokenizer.json", dir);
        if (copy_file(vocab_path, p, err, errlen)) { json_decref(sp); return -1; }
        char beside[1400];
        snprintf(beside, sizeof beside, "%s", vocab_path);
        char *slash = strrchr(beside, '/');
        snprintf(slash ? slash + 1 : beside, sizeof beside - (size_t)(slash ? slash + 1 - beside : 0), "vocab.txt");
        snprintf(p, sizeof p, "%s/vocab.txt", dir);
        if (exists(beside) && copy_file(beside, p, err, errlen)) { json_decref(sp); return -1; }
        json_t *tc = json_pack("{s:s, s:i}", "tokenizer_class", "PreTrainedTokenizerFast", "model_max_length",
                               max_seq_length);
        json_object_update(tc, sp);
        snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
        if (write_json(p, tc, err, errlen)) { json_decref(sp); return -1; }
        snprintf(p, sizeof p, "%s/special_tokens_map.json", dir);
        return write_json(p, sp, err, errlen);
    }
    if (vocab_path) {
        snprintf(p, sizeof p, "%s/vocab.txt", dir);
        if (copy_file(vocab_path, p, err, errlen)) return -1;
    }
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    if (write_json(p, json_pack("{s:s, s:b, s:i, s:s, s:s, s:s, s:s, s:s}", "tokenizer_class", "BertTokenizer",
                                "do_lower_case", do_lower_case, "model_max_length", max_seq_length,
                                "unk_token", "[UNK]", "sep_token", "[SEP]", "pad_token", "[PAD]",
                                "cls_token", "[CLS]", "mask_token", "[MASK]"), err, errlen))
        return -1;
    snprintf(p, sizeof p, "%s/special_tokens_map.json", dir);
    return write_json(p, json_pack("{s:s, s:s, s:s, s:s, s:s}", "unk_token", "[UNK]", "sep_token", "[SEP]",
                                   "pad_token", "[PAD]", "cls_token", "[CLS]", "mask_token", "[MASK]"), err, errlen);
}

int model_dir_save(Model *m, const char *dir, const char *vocab_path, int do_lower_case,
                   int max_seq_length, const LabelNames *labels, char *err, size_t errlen) {
    char p[1400];
    const ModelConfig *mc = &m->cfg;
    if (fs_mkdir_p(dir, err, errlen)) return -1;

    char *cfg = bert_config_to_json(&mc->bert);
    snprintf(p, sizeof p, "%s/config.json", dir);
    if (write_json(p, json_loads(cfg, 0, NULL), err, errlen)) { free(cfg); return -1; }
    free(cfg);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    if (model_dir_write_tensors(m, p, encoder_name, NULL, err, errlen)) return -1;
    if (save_tokenizer(dir, vocab_path, do_lower_case, max_seq_length, err, errlen)) return -1;

    /* sentence-transformers: Transformer at the root, then Pooling, Dense, Normalize */
    json_t *mods = json_array();
    int idx = 0;
    json_array_append_new(mods, json_pack("{s:i, s:s, s:s, s:s}", "idx", idx++, "name", "0", "path", "",
                                          "type", "sentence_transformers.models.Transformer"));
    if (mc->pooling == POOL_POOLER) {
        /* sentence-transformers has no BERT-pooler module: say so in the folder */
        fprintf(stderr, "note: pooling 'pooler' has no sentence-transformers module; "
                        "the exported layout uses CLS pooling for sentence-transformers\n");
    }
    json_array_append_new(mods, json_pack("{s:i, s:s, s:s, s:s}", "idx", idx++, "name", "1", "path", "1_Pooling",
                                          "type", "sentence_transformers.models.Pooling"));
    snprintf(p, sizeof p, "%s/1_Pooling", dir);
    if (fs_mkdir_p(p, err, errlen)) { json_decref(mods); return -1; }
    snprintf(p, sizeof p, "%s/1_Pooling/config.json", dir);
    int pool = mc->pooling;
    if (write_json(p, json_pack("{s:i, s:b, s:b, s:b, s:b, s:b, s:b, s:b}",
                                "word_embedding_dimension", mc->bert.hidden_size,
                                "pooling_mode_cls_token", pool == POOL_CLS || pool == POOL_POOLER,
                                "pooling_mode_mean_tokens", pool == POOL_MEAN,
                                "pooling_mode_max_tokens", pool == POOL_MAX,
                                "pooling_mode_mean_sqrt_len_tokens", 0, "pooling_mode_weightedmean_tokens", 0,
                                "pooling_mode_lasttoken", 0, "include_prompt", 1), err, errlen)) {
        json_decref(mods);
        return -1;
    }
    if (mc->embedding_dim > 0) {
        json_array_append_new(mods, json_pack("{s:i, s:s, s:s, s:s}", "idx", idx++, "name", "2", "path", "2_Dense",
                                              "type", "sentence_transformers.models.Dense"));
        snprintf(p, sizeof p, "%s/2_Dense", dir);
        if (fs_mkdir_p(p, err, errlen)) { json_decref(mods); return -1; }
        snprintf(p, sizeof p, "%s/2_Dense/config.json", dir);
        if (write_json(p, json_pack("{s:i, s:i, s:b, s:s}", "in_features", mc->bert.hidden_size,
                                    "out_features", mc->embedding_dim, "bias", 1, "activation_function",
                                    "torch.nn.modules.linear.Identity"), err, errlen)) {
            json_decref(mods);
            return -1;
        }
        snprintf(p, sizeof p, "%s/2_Dense/model.safetensors", dir);
        if (model_dir_write_tensors(m, p, dense_name, NULL, err, errlen)) { json_decref(mods); return -1; }
    }
    if (mc->normalize) {
        json_array_append_new(mods, json_pack("{s:i, s:s, s:s, s:s}", "idx", idx++, "name", "3", "path", "3_Normalize",
                                              "type", "sentence_transformers.models.Normalize"));
        snprintf(p, sizeof p, "%s/3_Normalize", dir);
        if (fs_mkdir_p(p, err, errlen)) { json_decref(mods); return -1; }
    }
    snprintf(p, sizeof p, "%s/modules.json", dir);
    if (write_json(p, mods, err, errlen)) return -1;
    snprintf(p, sizeof p, "%s/sentence_bert_config.json", dir);
    if (write_json(p, json_pack("{s:i, s:b}", "max_seq_length", max_seq_length, "do_lower_case", 0), err, errlen))
        return -1;

    /* the task heads, beside the encoder */
    json_t *tasks = json_array();
    for (int t = 0; t < mc->ntasks; t++) {
        const TaskConfig *tc = &mc->tasks[t];
        const char *type = task_kind(tc->type)->name;
        json_t *o = json_pack("{s:s, s:s, s:i, s:f, s:f}", "name", tc->name, "type", type, "num_labels",
                              tc->num_labels, "loss_weight", (double)tc->loss_weight, "dropout", (double)tc->dropout);
        if (labels && labels[t].n > 0) {
            json_t *names = json_array();
            for (int k = 0; k < labels[t].n; k++) json_array_append_new(names, json_string(labels[t].names[k]));
            json_object_set_new(o, "labels", names);
        }
        if (task_kind(tc->type)->head == HEAD_TOKEN) {
            const char *ts = labels && labels[t].tag_scheme ? labels[t].tag_scheme
                                                            : ner_scheme_name(NER_SCHEME_DEFAULT);
            if (ner_scheme_parse(ts) < 0) {
                snprintf(err, errlen, "%s: task %s: tag_scheme '%s' is not conlleval, iob2 or iob1", dir, tc->name, ts);
                json_decref(tasks);
                json_decref(o);
                return -1;
            }
            json_object_set_new(o, "tag_scheme", json_string(ts));
        }
        json_array_append_new(tasks, o);
    }
    snprintf(p, sizeof p, "%s/mtbert_tasks.json", dir);
    if (write_json(p, json_pack("{s:s, s:i, s:o}", "pooling", pooling_name(mc->pooling), "embedding_dim",
                                mc->embedding_dim, "tasks", tasks), err, errlen))
        return -1;
    snprintf(p, sizeof p, "%s/mtbert_heads.safetensors", dir);
    return model_dir_write_tensors(m, p, head_name, NULL, err, errlen);
}
