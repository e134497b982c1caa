#include "trainer/model/params.h"
#include "trainer/model/family.h"
#include "trainer/model/task_kind.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

static void add_tensor(ParamTable *pt, int *cap, ParamGroup group, int index, ParamInit init,
                       int rows, int cols, const char *fmt, ...) {
    if (pt->n == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        pt->t = realloc(pt->t, (size_t)*cap * sizeof *pt->t);
        if (!pt->t) { perror("params"); exit(1); }
    }
    ParamTensor *t = &pt->t[pt->n++];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->ndim = cols ? 2 : 1;
    t->shape[0] = rows;
    t->shape[1] = cols;
    t->numel = (size_t)rows * (size_t)(cols ? cols : 1);
    t->offset = pt->total;
    t->group = group;
    t->index = index;
    t->init = init;
    size_t len = strlen(t->name);
    t->no_decay = (len >= 4 && !strcmp(t->name + len - 4, "bias")) ||
                  strstr(t->name, "LayerNorm.weight") != NULL;
    /* no padding between tensors: q, k and v weights (and biases) must be
     * adjacent to form one (3C, C) matrix */
    pt->total += t->numel;
}

int params_build(ParamTable *pt, const ModelConfig *cfg) {
    const BertConfig *b = &cfg->bert;
    const ModelFamily *fam = family_get(b->family);
    memset(pt, 0, sizeof *pt);
    if (b->hidden_size <= 0 || b->num_attention_heads <= 0 ||
        b->hidden_size % b->num_attention_heads || b->vocab_size <= 0 ||
        b->num_hidden_layers < 0 || b->intermediate_size <= 0 ||
        b->max_position_embeddings <= 0 || (fam->token_types && b->type_vocab_size <= 0) ||
        b->family < 0 || b->family >= FAMILY_COUNT || b->embedding_size < 0 ||
        (b->embedding_size > 0 && b->embedding_size != b->hidden_size && b->family != FAMILY_ELECTRA) ||
        family_position_offset(b->family, b->pad_token_id) >= b->max_position_embeddings)
        return -1;
    int cap = 0, C = b->hidden_size, I = b->intermediate_size;
    int Em = b->embedding_size > 0 ? b->embedding_size : C; /* embedding width (ELECTRA: E) */
    const char *E = "bert.embeddings";
    add_tensor(pt, &cap, GROUP_EMBEDDINGS, 0, INIT_NORMAL, b->vocab_size, Em, "%s.word_embeddings.weight", E);
    add_tensor(pt, &cap, GROUP_EMBEDDINGS, 0, INIT_NORMAL, b->max_position_embeddings, Em, "%s.position_embeddings.weight", E);
    /* DistilBERT's sinusoidal table is fixed: filled by params_init, no
     * gradient (model.c), and no weight decay, so AdamW leaves it as it is */
    if (b->sinusoidal_pos) pt->t[pt->n - 1].no_decay = 1;
    if (fam->token_types)
        add_tensor(pt, &cap, GROUP_EMBEDDINGS, 0, INIT_NORMAL, b->type_vocab_size, Em, "%s.token_type_embeddings.weight", E);
    add_tensor(pt, &cap, GROUP_EMBEDDINGS, 0, INIT_ONES, Em, 0, "%s.LayerNorm.weight", E);
    add_tensor(pt, &cap, GROUP_EMBEDDINGS, 0, INIT_ZEROS, Em, 0, "%s.LayerNorm.bias", E);
    if (Em != C) { /* ELECTRA: embeddings_project, Linear(E, C) */
        add_tensor(pt, &cap, GROUP_EMBEDDINGS, 0, INIT_NORMAL, C, Em, "bert.embeddings_project.weight");
        add_tensor(pt, &cap, GROUP_EMBEDDINGS, 0, INIT_ZEROS, C, 0, "bert.embeddings_project.bias");
    }
    for (int l = 0; l < b->num_hidden_layers; l++) {
        char p[64];
        snprintf(p, sizeof p, "bert.encoder.layer.%d", l);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_NORMAL, C, C, "%s.attention.self.query.weight", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_NORMAL, C, C, "%s.attention.self.key.weight", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_NORMAL, C, C, "%s.attention.self.value.weight", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ZEROS, C, 0, "%s.attention.self.query.bias", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ZEROS, C, 0, "%s.attention.self.key.bias", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ZEROS, C, 0, "%s.attention.self.value.bias", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_NORMAL, C, C, "%s.attention.output.dense.weight", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ZEROS, C, 0, "%s.attention.output.dense.bias", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ONES, C, 0, "%s.attention.output.LayerNorm.weight", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ZEROS, C, 0, "%s.attention.output.LayerNorm.bias", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_NORMAL, I, C, "%s.intermediate.dense.weight", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ZEROS, I, 0, "%s.intermediate.dense.bias", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_NORMAL, C, I, "%s.output.dense.weight", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ZEROS, C, 0, "%s.output.dense.bias", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ONES, C, 0, "%s.output.LayerNorm.weight", p);
        add_tensor(pt, &cap, GROUP_LAYER, l, INIT_ZEROS, C, 0, "%s.output.LayerNorm.bias", p);
    }
    if (fam->pooler) {
        add_tensor(pt, &cap, GROUP_POOLER, 0, INIT_NORMAL, C, C, "bert.pooler.dense.weight");
        add_tensor(pt, &cap, GROUP_POOLER, 0, INIT_ZEROS, C, 0, "bert.pooler.dense.bias");
    }
    int D = C;
    if (cfg->embedding_dim > 0) {
        D = cfg->embedding_dim;
        add_tensor(pt, &cap, GROUP_PROJECTION, 0, INIT_NORMAL, D, C, "projection.weight");
        add_tensor(pt, &cap, GROUP_PROJECTION, 0, INIT_ZEROS, D, 0, "projection.bias");
    }
    for (int t = 0; t < cfg->ntasks; t++) {
        const TaskConfig *tc = &cfg->tasks[t];
        if (!task_has_head(tc->type)) continue; /* cosine of embeddings: no head */
        if (tc->num_labels <= 0) { params_free(pt); return -1; }
        int in = task_kind(tc->type)->head == HEAD_TOKEN ? C : D;
        add_tensor(pt, &cap, GROUP_HEAD, t, INIT_NORMAL, tc->num_labels, in, "heads.%s.weight", tc->name);
        add_tensor(pt, &cap, GROUP_HEAD, t, INIT_ZEROS, tc->num_labels, 0, "heads.%s.bias", tc->name);
    }
    if (cfg->uncertainty_weighting && cfg->ntasks > 0)
        add_tensor(pt, &cap, GROUP_LOSS_WEIGHTS, 0, INIT_ZEROS, cfg->ntasks, 0, "loss_weights.log_var");
    return 0;
}

void params_free(ParamTable *pt) {
    free(pt->t);
    memset(pt, 0, sizeof *pt);
}

const ParamTensor *params_find(const ParamTable *pt, const char *name) {
    for (int i = 0; i < pt->n; i++)
        if (!strcmp(pt->t[i].name, name)) return &pt->t[i];
    return NULL;
}

void params_init(const ParamTable *pt, float *p, const ModelConfig *cfg, unsigned long long seed) {
    float std = cfg->bert.initializer_range;
    for (int i = 0; i < pt->n; i++) {
        const ParamTensor *t = &pt->t[i];
        float *x = p + t->offset;
        uint64_t key = philox_key(seed, 0x706172616dull /* "param" */, (uint64_t)i);
        /* element j depends on (seed, i, j) only: any thread count, same values */
#pragma omp parallel for schedule(static) if (t->numel > 65536)
        for (size_t j = 0; j < t->numel; j++) {
            if (t->init == INIT_ZEROS) x[j] = 0.0f;
            else if (t->init == INIT_ONES) x[j] = 1.0f;
            else {
                /* Box-Muller on two Philox uniforms */
                double u1 = philox_uniform(key, 2 * j) + 0.5 / 16777216.0;
                double u2 = philox_uniform(key, 2 * j + 1);
                x[j] = (float)(std * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
            }
        }
    }
    /* the padding token's embedding starts at zero, as in Hugging Face */
    const BertConfig *b = &cfg->bert;
    const ParamTensor *wte = params_find(pt, "bert.embeddings.word_embeddings.weight");
    const ParamTensor *wpe = params_find(pt, "bert.embeddings.position_embeddings.weight");
    int pad = b->pad_token_id, Em = b->embedding_size > 0 ? b->embedding_size : b->hidden_size;
    if (wte && pad >= 0 && pad < b->vocab_size)
        memset(p + wte->offset + (size_t)pad * Em, 0, sizeof(float) * Em);
    /* RoBERTa / XLM-R: the position table's padding_idx row starts at zero too */
    if (wpe && family_get(b->family)->position_offset_pad && pad >= 0 && pad < b->max_position_embeddings)
        memset(p + wpe->offset + (size_t)pad * Em, 0, sizeof(float) * Em);
    if (wpe && b->sinusoidal_pos) family_sinusoidal_positions(p + wpe->offset, b->max_position_embeddings, Em);
}
