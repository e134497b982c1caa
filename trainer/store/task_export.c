/* task_export.c — task heads as transformers task models (task_export.h). */
#include "trainer/store/task_export.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/model/family.h"
#include "trainer/model/params.h"
#include "trainer/model/task_kind.h"
#include "trainer/store/hf_config.h"
#include "util/fsutil.h"

/* The head in front of which transformers' own sequence class puts nothing
 * but its pooler: BERT with pooling `pooler`, the head on the pooler output. */
static int native_sequence_head(const ModelConfig *mc) {
    return mc->bert.family == FAMILY_BERT && mc->pooling == POOL_POOLER && mc->embedding_dim == 0 && !mc->normalize;
}

/* "BertModel" -> "Bert" + suffix */
static void family_class(const ModelConfig *mc, const char *suffix, char *out, size_t n) {
    const char *base = family_get(mc->bert.family)->architecture;
    size_t len = strlen(base);
    if (len > 5 && !strcmp(base + len - 5, "Model")) len -= 5;
    snprintf(out, n, "%.*s%s", (int)len, base, suffix);
}

const char *task_export_class(const ModelConfig *mc, int task, int *native) {
    static _Thread_local char name[96];
    HeadKind h = task_kind(mc->tasks[task].type)->head;
    if (native) *native = 0;
    if (h == HEAD_TOKEN) {
        family_class(mc, "ForTokenClassification", name, sizeof name);
        if (native) *native = 1;
        return name;
    }
    /* a score head (cross_encoder_regression) is the same class with one
     * output: its logit, as sentence-transformers' CrossEncoder (num_labels
     * 1) reads it, applying the sigmoid itself */
    if (h != HEAD_SENTENCE && h != HEAD_SCORE) return NULL;
    if (native_sequence_head(mc)) {
        if (native) *native = 1;
        return "BertForSequenceClassification";
    }
    return "MtbertForSequenceClassification";
}

/* The remote-code class: the family's base model under its usual
 * attribute, then mtbert's sentence path, then dropout and the head. The
 * maths is model.c's sentence_forward: pooling over real tokens (mean
 * divides by max(count, 1e-9); max starts from the first real token),
 * BERT's tanh pooler on [CLS] for `pooler`, the projection, x / max(|x|,
 * 1e-12). "@PREFIX@" becomes the family's base_model_prefix. */
static const char modeling_py[] =
    "\"\"\"mtbert's sentence head on a transformers base model (written by `mtbert export\n"
    "--task-models`): pooling over the real tokens (mtbert_pooling: mean, cls, max or\n"
    "pooler), an optional projection to mtbert_embedding_dim, optional L2\n"
    "normalisation (mtbert_normalize), then dropout and the classifier. Load with\n"
    "trust_remote_code=True.\"\"\"\n"
    "import inspect\n"
    "\n"
    "import torch\n"
    "from torch import nn\n"
    "from transformers import AutoModel, PreTrainedModel\n"
    "from transformers.modeling_outputs import SequenceClassifierOutput\n"
    "\n"
    "PREFIX = \"@PREFIX@\"\n"
    "\n"
    "\n"
    "class MtbertForSequenceClassification(PreTrainedModel):\n"
    "    base_model_prefix = PREFIX\n"
    "\n"
    "    def __init__(self, config):\n"
    "        super().__init__(config)\n"
    "        setattr(self, PREFIX, AutoModel.from_config(config))\n"
    "        dim = config.mtbert_embedding_dim or config.hidden_size\n"
    "        self.dense = nn.Linear(config.hidden_size, dim) if config.mtbert_embedding_dim else None\n"
    "        self.dropout = nn.Dropout(config.classifier_dropout or 0.0)\n"
    "        self.classifier = nn.Linear(dim, config.num_labels)\n"
    "        self.post_init()\n"
    "\n"
    "    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):\n"
    "        base = getattr(self, PREFIX)\n"
    "        args = {\"input_ids\": input_ids, \"attention_mask\": attention_mask}\n"
    "        if token_type_ids is not None and \"token_type_ids\" in inspect.signature(base.forward).parameters:\n"
    "            args[\"token_type_ids\"] = token_type_ids\n"
    "        out = base(**args)\n"
    "        h = out[0]\n"
    "        if attention_mask is None:\n"
    "            attention_mask = torch.ones(h.shape[:2], dtype=torch.long, device=h.device)\n"
    "        m = attention_mask.unsqueeze(-1).to(h.dtype)\n"
    "        pool = self.config.mtbert_pooling\n"
    "        if pool == \"mean\":\n"
    "            s = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)\n"
    "        elif pool == \"max\":\n"
    "            s = h.masked_fill(m == 0, float(\"-inf\")).max(1).values\n"
    "        elif pool == \"pooler\":\n"
    "            s = out.pooler_output\n"
    "        else:\n"
    "            s = h[:, 0]\n"
    "        if self.dense is not None:\n"
    "            s = self.dense(s)\n"
    "        if self.config.mtbert_normalize:\n"
    "            s = nn.functional.normalize(s, p=2.0, dim=-1, eps=1e-12)\n"
    "        logits = self.classifier(self.dropout(s))\n"
    "        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None\n"
    "        return SequenceClassifierOutput(loss=loss, logits=logits)\n";

static const char *pooling_key(int p) {
    return p == POOL_CLS ? "cls" : p == POOL_MAX ? "max" : p == POOL_POOLER ? "pooler" : "mean";
}

static int write_text(const char *path, const char *text, char *err, size_t errlen) {
    return fs_write_atomic(path, text, strlen(text), err, errlen);
}

static int write_json_file(const char *path, json_t *j, char *err, size_t errlen) {
    char *s = j ? json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(j);
    if (!s) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    size_t n = strlen(s);
    char *t = realloc(s, n + 2);
    if (!t) {
        free(s);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    t[n] = '\n';
    t[n + 1] = 0;
    int rc = fs_write_atomic(path, t, n + 1, err, errlen);
    free(t);
    return rc;
}

/* config.json: the encoder's config, the class, the labels, the head. */
static int write_task_config(const Model *m, int task, const LabelNames *labels, const char *path, char *err,
                             size_t errlen) {
    const ModelConfig *mc = &m->cfg;
    const TaskConfig *tc = &mc->tasks[task];
    int native;
    const char *cls = task_export_class(mc, task, &native);
    char *base = bert_config_to_json(&mc->bert);
    json_t *j = base ? json_loads(base, 0, NULL) : NULL;
    free(base);
    if (!j) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    json_object_set_new(j, "architectures", json_pack("[s]", cls));
    json_t *id2label = json_object(), *label2id = json_object();
    for (int k = 0; k < tc->num_labels; k++) {
        char id[16], fallback[32];
        snprintf(id, sizeof id, "%d", k);
        snprintf(fallback, sizeof fallback, "LABEL_%d", k);
        const char *name = labels && labels[task].n == tc->num_labels ? labels[task].names[k] : fallback;
        json_object_set_new(id2label, id, json_string(name));
        json_object_set_new(label2id, name, json_integer(k));
    }
    json_object_set_new(j, "id2label", id2label);
    json_object_set_new(j, "label2id", label2id);
    json_object_set_new(j, "classifier_dropout", json_real(tc->dropout));
    if (task_kind(tc->type)->head == HEAD_SENTENCE)
        json_object_set_new(j, "problem_type", json_string("single_label_classification"));
    if (!native) {
        json_object_set_new(j, "auto_map", json_pack("{s:s}", "AutoModelForSequenceClassification",
                                                     "modeling_mtbert.MtbertForSequenceClassification"));
        json_object_set_new(j, "mtbert_pooling", json_string(pooling_key(mc->pooling)));
        json_object_set_new(j, "mtbert_embedding_dim", json_integer(mc->embedding_dim));
        json_object_set_new(j, "mtbert_normalize", json_boolean(mc->normalize));
    }
    return write_json_file(path, j, err, errlen);
}

/* model.safetensors under the task class's names: the encoder with the
 * family prefix ("bert.encoder.layer.0..."), the pooler where the class has
 * one, the projection as "dense.*" (remote class), the head as
 * "classifier.*". */
static int task_tensor_name(const Model *m, const ParamTensor *t, void *ctx, char *out, size_t n) {
    int task = *(const int *)ctx, native;
    const ModelConfig *mc = &m->cfg;
    int token = task_kind(mc->tasks[task].type)->head == HEAD_TOKEN;
    task_export_class(mc, task, &native);
    const char *leaf = strrchr(t->name, '.') + 1; /* weight / bias */
    switch (t->group) {
    case GROUP_POOLER:
        if (token) return 0; /* <Family>ForTokenClassification has no pooler */
        /* fall through */
    case GROUP_EMBEDDINGS:
    case GROUP_LAYER: family_hf_name(mc->bert.family, t->name, out, n); return 1;
    case GROUP_PROJECTION:
        if (native || token) return 0;
        snprintf(out, n, "dense.%s", leaf);
        return 1;
    case GROUP_HEAD:
        if (t->index != task) return 0;
        snprintf(out, n, "classifier.%s", leaf);
        return 1;
    default: return 0;
    }
}

static int write_task_weights(Model *m, int task, const char *path, char *err, size_t errlen) {
    return model_dir_write_tensors(m, path, task_tensor_name, &task, err, errlen);
}

/* dir/name into p, or -1 with a message when it does not fit */
static int join(char *p, size_t n, const char *dir, const char *name, char *err, size_t errlen) {
    if ((size_t)snprintf(p, n, "%s/%s", dir, name) < n) return 0;
    snprintf(err, errlen, "%s/%s: path too long", dir, name);
    return -1;
}

static int export_one(Model *m, const ModelDir *d, const LabelNames *labels, int task, const char *dir,
                      char *err, size_t errlen) {
    char p[1400];
    /* tokenizer, sentence-transformers and mtbert files; config.json and
     * model.safetensors are then replaced by the task model's */
    if (model_dir_save(m, dir, d->vocab, d->do_lower_case, d->max_seq_length, labels, err, errlen)) return -1;
    if (join(p, sizeof p, dir, "config.json", err, errlen)) return -1;
    if (write_task_config(m, task, labels, p, err, errlen)) return -1;
    if (join(p, sizeof p, dir, "model.safetensors", err, errlen)) return -1;
    if (write_task_weights(m, task, p, err, errlen)) return -1;
    int native;
    task_export_class(&m->cfg, task, &native);
    if (native) return 0;
    char *py = malloc(sizeof modeling_py + 64);
    if (!py) {
        snprintf(err, errlen, "%s: out of memory", dir);
        return -1;
    }
    const char *at = strstr(modeling_py, "@PREFIX@");
    const char *prefix = family_get(m->cfg.bert.family)->prefix; /* "bert." */
    snprintf(py, sizeof modeling_py + 64, "%.*s%.*s%s", (int)(at - modeling_py), modeling_py,
             (int)strlen(prefix) - 1, prefix, at + strlen("@PREFIX@"));
    int rc = join(p, sizeof p, dir, "modeling_mtbert.py", err, errlen) ? -1 : write_text(p, py, err, errlen);
    free(py);
    return rc;
}

int task_export_all(Model *m, const ModelDir *d, const LabelNames *labels, const char *root, FILE *log,
                    char *err, size_t errlen) {
    const ModelConfig *mc = &m->cfg;
    int written = 0;
    for (int t = 0; t < mc->ntasks; t++) {
        int native;
        const char *cls = task_export_class(mc, t, &native);
        if (!cls) {
            if (log) fprintf(log, "mtbert export: task %s (%s) has no head: no task model (the embedding export is its model)\n",
                             mc->tasks[t].name, task_kind(mc->tasks[t].type)->name);
            continue;
        }
        char dir[1400];
        if (join(dir, sizeof dir, root, mc->tasks[t].name, err, errlen)) return -1;
        if (export_one(m, d, labels, t, dir, err, errlen)) return -1;
        written++;
        if (!log) continue;
        if (native)
            fprintf(log, "mtbert export: wrote %s as %s\n", dir, cls);
        else
            fprintf(log, "mtbert export: wrote %s as %s (modeling_mtbert.py; load with trust_remote_code=True): "
                         "transformers' sequence classes cannot express pooling '%s'%s%s on a %s model\n",
                    dir, cls, pooling_key(mc->pooling), mc->embedding_dim > 0 ? " with a projection" : "",
                    mc->normalize ? " and L2 normalisation" : "", family_get(mc->bert.family)->model_type);
    }
    return written;
}
