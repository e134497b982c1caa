#include "trainer/model/model.h"
#include "trainer/model/task_kind.h"
#include "trainer/model/family.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Dropout sites: each has its own Philox stream under the step's key. */
enum { SITE_EMB = 1 << 20, SITE_HEAD = 1 << 21 };
static uint64_t site_key(const Model *m, uint64_t site) { return philox_key(m->dropout_key, site, 7); }

/* ---- allocation ---- */

typedef struct {
    const Ops *ops;
    int failed;
    size_t bytes;
} Arena;

static void *arena_alloc(Arena *a, size_t bytes) {
    if (a->failed || bytes == 0) return NULL;
    void *p = a->ops->alloc(bytes);
    if (!p) a->failed = 1;
    a->bytes += bytes;
    return p;
}
#define AF(a, n) ((float *)arena_alloc((a), sizeof(float) * (size_t)(n)))
#define AI(a, n) ((int *)arena_alloc((a), sizeof(int) * (size_t)(n)))

static void layer_acts_alloc(Arena *a, LayerActs *la, size_t N, size_t C, size_t I, size_t att) {
    la->qkv = AF(a, N * 3 * C);
    la->att = AF(a, att);
    la->atty = AF(a, N * C);
    la->ao = AF(a, N * C);
    la->res1 = AF(a, N * C);
    la->ln1 = AF(a, N * C);
    la->ln1_mean = AF(a, N);
    la->ln1_rstd = AF(a, N);
    la->fc = AF(a, N * I);
    la->fcg = AF(a, N * I);
    la->fo = AF(a, N * C);
    la->res2 = AF(a, N * C);
    la->out = AF(a, N * C);
    la->ln2_mean = AF(a, N);
    la->ln2_rstd = AF(a, N);
}

static void layer_acts_free(const Ops *ops, LayerActs *la) {
    float *p[] = {la->qkv, la->att, la->atty, la->ao, la->res1, la->ln1, la->ln1_mean,
                  la->ln1_rstd, la->fc, la->fcg, la->fo, la->res2, la->out, la->ln2_mean,
                  la->ln2_rstd};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) ops->free(p[i]);
}

/* Gradient checkpointing: every layer keeps its own output (the next
 * layer's input); the rest of its activations live in one shared set that
 * backward refills by running the layer's forward again. Dropout masks are
 * counter-based (philox on the step's key and the site), so the recomputed
 * activations are bit-identical to the first forward's. */
static void layers_alloc_checkpointed(Arena *a, Model *m, size_t L, size_t N, size_t C, size_t I, size_t att) {
    layer_acts_alloc(a, &m->work, N, C, I, att);
    for (size_t l = 0; l < L; l++) {
        m->layers[l] = m->work;
        m->layers[l].out = AF(a, N * C);
    }
}

static void resolve_params(Model *m);

/* ---- model families (trainer/model/family.h) in the embeddings ----
 * E is the embedding width (ELECTRA's embedding_size, else C). emb_out's
 * allocation holds, after the (N,E) embedding output, ELECTRA's projected
 * (N,C) input of layer 0 and, for families without token types, a zero row
 * of E floats standing in for the token-type table; demb's holds
 * N*max(C,E) and then, when projecting, an (N,E) gradient buffer. */
static size_t emb_width(const BertConfig *bc) {
    return bc->embedding_size > 0 ? (size_t)bc->embedding_size : (size_t)bc->hidden_size;
}
static int emb_projected(const BertConfig *bc) { return emb_width(bc) != (size_t)bc->hidden_size; }
static size_t emb_out_floats(const BertConfig *bc, size_t N) {
    size_t E = emb_width(bc);
    return N * E + (emb_projected(bc) ? N * bc->hidden_size : 0) + (family_get(bc->family)->token_types ? 0 : E);
}
static size_t demb_floats(const BertConfig *bc, size_t N) {
    size_t E = emb_width(bc), C = bc->hidden_size;
    return N * (C > E ? C : E) + (emb_projected(bc) ? N * E : 0);
}
/* the input of layer 0: the embeddings, projected to C for ELECTRA */
static float *emb_top(const Model *m) {
    const BertConfig *bc = &m->cfg.bert;
    return emb_projected(bc) ? m->emb_out + m->maxN * emb_width(bc) : m->emb_out;
}
static float *emb_zero_row(const Model *m) {
    const BertConfig *bc = &m->cfg.bert;
    size_t N = m->maxN;
    return m->emb_out + N * emb_width(bc) + (emb_projected(bc) ? N * bc->hidden_size : 0);
}

static int is_token_task(const TaskConfig *t) { return task_kind(t->type)->head == HEAD_TOKEN; }

/* The tokens a batch of at most maxB rows x maxT may hold under a budget of
 * maxN tokens (0: no budget): maxN, at most maxB x maxT. */
static size_t token_capacity(int maxB, int maxT, size_t maxN) {
    size_t full = (size_t)maxB * (size_t)maxT;
    return maxN > 0 && maxN < full ? maxN : full;
}

/* The attention scratch for every batch shape B x T with B <= maxB,
 * T <= maxT and B x T <= N: the largest the backend asks for over T (for
 * each T the most rows that fit; the op's size grows with B). Without a
 * budget (N = maxB x maxT) this is the op's size at maxB x maxT. */
static size_t att_scratch_floats(const Ops *ops, int maxB, int maxT, size_t N, int NH, int hd) {
    size_t best = 0;
    for (int T = 1; T <= maxT; T++) {
        size_t rows = N / (size_t)T;
        int B = rows < (size_t)maxB ? (int)rows : maxB;
        if (B < 1) break;
        size_t f = ops->attention_scratch_floats(B, T, NH, hd);
        if (f > best) best = f;
    }
    return best;
}

/* Inference (no gradients) keeps one layer's activations, shared by all
 * layers, plus each layer's output: the next layer reads only that. */
static int acts_shared(const ModelConfig *cfg, int with_grads) {
    size_t L = (size_t)cfg->bert.num_hidden_layers;
    return L > 1 && (!with_grads || cfg->grad_checkpoint);
}

int model_create(Model *m, const ModelConfig *cfg, const Ops *ops, int maxB, int maxT,
                 int with_grads, unsigned long long seed, char *err, size_t errlen) {
    return model_create_tokens(m, cfg, ops, maxB, maxT, 0, with_grads, seed, err, errlen);
}

int model_create_tokens(Model *m, const ModelConfig *cfg, const Ops *ops, int maxB, int maxT, size_t maxN,
                        int with_grads, unsigned long long seed, char *err, size_t errlen) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->ops = ops;
    m->maxB = maxB;
    m->maxT = maxT;
    m->maxN = token_capacity(maxB, maxT, maxN);
    const BertConfig *bc = &cfg->bert;
    if (params_build(&m->table, cfg)) {
        snprintf(err, errlen, "invalid model shape (hidden %d, heads %d, layers %d, vocab %d)",
                 bc->hidden_size, bc->num_attention_heads, bc->num_hidden_layers, bc->vocab_size);
        return -1;
    }
    if (bc->num_hidden_layers > 64) {
        snprintf(err, errlen, "at most 64 layers are supported, got %d", bc->num_hidden_layers);
        return -1;
    }
    int pos0 = family_position_offset(bc->family, bc->pad_token_id);
    if (maxT + pos0 > bc->max_position_embeddings) {
        snprintf(err, errlen, "sequence length %d exceeds max_position_embeddings %d%s", maxT,
                 bc->max_position_embeddings - pos0, pos0 ? " (after the padding offset)" : "");
        params_free(&m->table);
        return -1;
    }
    if (cfg->pooling == POOL_POOLER && !family_get(bc->family)->pooler) {
        snprintf(err, errlen, "pooling 'pooler': a %s model has no pooler", family_get(bc->family)->model_type);
        params_free(&m->table);
        return -1;
    }
    size_t C = bc->hidden_size, I = bc->intermediate_size, L = bc->num_hidden_layers;
    size_t N = m->maxN, NH = bc->num_attention_heads;
    size_t att_floats = att_scratch_floats(ops, maxB, maxT, N, (int)NH, (int)(C / NH));
    size_t D = cfg->embedding_dim > 0 ? (size_t)cfg->embedding_dim : C;
    Arena a = {ops, 0, 0};

    m->params = AF(&a, m->table.total);
    if (with_grads) m->grads = AF(&a, m->table.total);
    if (!a.failed && seed != MODEL_INIT_NONE) { /* (ops->alloc zeroes: NONE needs nothing) */
        float *host = malloc(sizeof(float) * m->table.total);
        if (!host) a.failed = 1;
        else {
            params_init(&m->table, host, cfg, seed);
            ops->to_device(m->params, host, sizeof(float) * m->table.total);
            free(host);
        }
    }
    m->d_ids = AI(&a, N);
    m->d_types = AI(&a, N);
    m->d_mask = AI(&a, N);
    m->emb_sum = AF(&a, N * emb_width(bc));
    m->emb_out = AF(&a, emb_out_floats(bc, N)); /* + ELECTRA's projection, the zero type row */
    m->emb_mean = AF(&a, N);
    m->emb_rstd = AF(&a, N);
    m->layers = calloc(L ? L : 1, sizeof(LayerActs));
    m->checkpointing = cfg->grad_checkpoint && with_grads && L > 1;
    m->shared_acts = acts_shared(cfg, with_grads);
    if (!m->layers) a.failed = 1;
    else if (m->shared_acts) layers_alloc_checkpointed(&a, m, L, N, C, I, att_floats);
    else for (size_t l = 0; l < L; l++) layer_acts_alloc(&a, &m->layers[l], N, C, I, att_floats);
    m->pooled = AF(&a, (size_t)maxB * C);
    m->pooler_pre = AF(&a, (size_t)maxB * C);
    m->pooler_out = AF(&a, (size_t)maxB * C);
    m->proj = AF(&a, (size_t)maxB * D);
    m->embed = AF(&a, (size_t)maxB * D);
    m->embed_norm = AF(&a, maxB);
    m->pool_argmax = AI(&a, (size_t)maxB * C);
    size_t max_logits = 1;
    for (int t = 0; t < cfg->ntasks; t++) {
        const TaskConfig *tc = &cfg->tasks[t];
        size_t rows = is_token_task(tc) ? N : (size_t)maxB;
        if (task_uses_embedding(tc->type)) m->sentence_needed = 1;
        if (!task_has_head(tc->type)) {
            m->sim_cos[t] = AF(&a, maxB);
            if (with_grads && task_external_loss(tc->type)) m->ext_grad[t] = AF(&a, (size_t)maxB * D);
            continue;
        }
        size_t in = is_token_task(tc) ? C : D;
        if (tc->dropout > 0) m->head_in[t] = AF(&a, rows * in);
        m->logits[t] = AF(&a, rows * tc->num_labels);
        m->probs[t] = AF(&a, rows * tc->num_labels);
        m->losses[t] = AF(&a, rows);
        m->d_labels[t] = AI(&a, rows);
        if (rows * tc->num_labels > max_logits) max_logits = rows * tc->num_labels;
    }
    if (with_grads) {
        layer_acts_alloc(&a, &m->dl, N, C, I, 0);
        m->dx[0] = AF(&a, N * C);
        m->dx[1] = AF(&a, N * C);
        m->demb = AF(&a, demb_floats(bc, N));
        m->dsent = AF(&a, (size_t)maxB * C);
        m->dpooler_pre = AF(&a, (size_t)maxB * C);
        m->dcls = AF(&a, (size_t)maxB * C);
        m->dproj = AF(&a, (size_t)maxB * D);
        m->dembed = AF(&a, (size_t)maxB * D);
        m->dhead_in = AF(&a, N * (C > D ? C : D));
        m->dlogits = AF(&a, max_logits);
        m->dcos = AF(&a, maxB);
    }
    m->host_scratch = malloc(sizeof(float) * (N > (size_t)maxB * D ? N : (size_t)maxB * D));
    if (a.failed || !m->layers || !m->host_scratch) {
        snprintf(err, errlen, "out of memory on backend %s allocating %.1f MiB for batch %d x %d",
                 ops->name, a.bytes / 1048576.0, maxB, maxT);
        model_free(m);
        return -1;
    }
    m->train.embeddings = m->train.pooler = m->train.projection = 1;
    for (size_t l = 0; l < L; l++) m->train.layer[l] = 1;
    for (int t = 0; t < cfg->ntasks; t++) m->train.head[t] = 1;
    m->training = 1;
    m->lp = calloc(L ? L : 1, sizeof(LayerParams));
    if (!m->lp) {
        snprintf(err, errlen, "out of memory");
        model_free(m);
        return -1;
    }
    resolve_params(m);
    return 0;
}

size_t model_alloc_bytes(const ModelConfig *cfg, const Ops *ops, int maxB, int maxT, int with_grads) {
    return model_alloc_bytes_tokens(cfg, ops, maxB, maxT, 0, with_grads);
}

size_t model_alloc_bytes_tokens(const ModelConfig *cfg, const Ops *ops, int maxB, int maxT, size_t maxN,
                                int with_grads) {
    /* the allocations of model_create, in its order; keep the two in step
     * (tests/unit/test_model_alloc.c counts model_create's against this) */
    ParamTable pt;
    if (params_build(&pt, cfg)) return 0;
    size_t P = pt.total;
    params_free(&pt);
    const BertConfig *bc = &cfg->bert;
    size_t C = bc->hidden_size, I = bc->intermediate_size, L = bc->num_hidden_layers, B = (size_t)maxB;
    size_t N = token_capacity(maxB, maxT, maxN), NH = bc->num_attention_heads;
    size_t D = cfg->embedding_dim > 0 ? (size_t)cfg->embedding_dim : C;
    size_t att = att_scratch_floats(ops, maxB, maxT, N, (int)NH, (int)(C / NH));
    size_t layer = 10 * N * C + 2 * N * I + 4 * N; /* layer_acts_alloc without the attention scratch */
    /* checkpointing: one shared layer's worth plus every layer's own output */
    /* (inference too: one layer's activations shared, acts_shared) */
    size_t layers = acts_shared(cfg, with_grads) ? layer + att + L * N * C : L * (layer + att);
    size_t f = P * (with_grads ? 2 : 1) + 3 * N + N * emb_width(bc) + emb_out_floats(bc, N) + 2 * N + layers + 3 * B * C + 2 * B * D + B + B * C;
    size_t max_logits = 1;
    for (int t = 0; t < cfg->ntasks; t++) {
        const TaskConfig *tc = &cfg->tasks[t];
        size_t rows = is_token_task(tc) ? N : B;
        if (!task_has_head(tc->type)) { f += B + (with_grads && task_external_loss(tc->type) ? B * D : 0); continue; }
        size_t in = is_token_task(tc) ? C : D;
        if (tc->dropout > 0) f += rows * in;
        f += 2 * rows * tc->num_labels + 2 * rows;
        if (rows * tc->num_labels > max_logits) max_logits = rows * tc->num_labels;
    }
    if (with_grads) f += layer + 2 * N * C + demb_floats(bc, N) + 3 * B * C + 2 * B * D + N * (C > D ? C : D) + max_logits + B;
    f += N > B * D ? N : B * D; /* host_scratch (host memory) */
    return f * sizeof(float);   /* int and float are both 4 bytes */
}

void model_free(Model *m) {
    const Ops *ops = m->ops;
    if (!ops) return;
    ops->free(m->params);
    ops->free(m->grads);
    ops->free(m->d_ids);
    ops->free(m->d_types);
    ops->free(m->d_mask);
    float *f[] = {m->emb_sum, m->emb_out, m->emb_mean, m->emb_rstd, m->pooled, m->pooler_pre,
                  m->pooler_out, m->proj, m->embed, m->embed_norm, m->dx[0], m->dx[1], m->demb,
                  m->dsent, m->dpooler_pre, m->dcls, m->dproj, m->dembed, m->dhead_in,
                  m->dlogits, m->dcos};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) ops->free(f[i]);
    ops->free(m->pool_argmax);
    if (m->layers)
        for (int l = 0; l < m->cfg.bert.num_hidden_layers; l++) {
            if (m->shared_acts) ops->free(m->layers[l].out); /* the rest is m->work's */
            else layer_acts_free(ops, &m->layers[l]);
        }
    if (m->shared_acts) layer_acts_free(ops, &m->work);
    free(m->layers);
    free(m->lp);
    layer_acts_free(ops, &m->dl);
    for (int t = 0; t < MAX_TASKS; t++) {
        ops->free(m->head_in[t]);
        ops->free(m->logits[t]);
        ops->free(m->probs[t]);
        ops->free(m->losses[t]);
        ops->free(m->d_labels[t]);
        ops->free(m->sim_cos[t]);
        ops->free(m->ext_grad[t]);
    }
    free(m->host_scratch);
    params_free(&m->table);
    memset(m, 0, sizeof *m);
}

float *model_param(Model *m, const char *name) {
    const ParamTensor *t = params_find(&m->table, name);
    return t ? m->params + t->offset : NULL;
}

/* Gradient of a parameter pointer, or NULL when its part is frozen. */
static float *grad_of(const Model *m, const float *p, int trainable) {
    return trainable && m->grads ? m->grads + (p - m->params) : NULL;
}

/* Looked up by name once, in model_create (resolve_params). */
static LayerParams lookup_layer(Model *m, int l) {
    char n[160];
    LayerParams p;
#define P(field, suffix) \
    (snprintf(n, sizeof n, "bert.encoder.layer.%d.%s", l, suffix), p.field = model_param(m, n))
    P(qkv_w, "attention.self.query.weight");
    P(qkv_b, "attention.self.query.bias");
    P(ao_w, "attention.output.dense.weight");
    P(ao_b, "attention.output.dense.bias");
    P(ln1_w, "attention.output.LayerNorm.weight");
    P(ln1_b, "attention.output.LayerNorm.bias");
    P(fc_w, "intermediate.dense.weight");
    P(fc_b, "intermediate.dense.bias");
    P(fo_w, "output.dense.weight");
    P(fo_b, "output.dense.bias");
    P(ln2_w, "output.LayerNorm.weight");
    P(ln2_b, "output.LayerNorm.bias");
#undef P
    return p;
}

static float *lookup_head(Model *m, int t, const char *what) {
    char n[160];
    snprintf(n, sizeof n, "heads.%s.%s", m->cfg.tasks[t].name, what);
    return model_param(m, n);
}

static void resolve_params(Model *m) {
    for (int l = 0; l < m->cfg.bert.num_hidden_layers; l++) m->lp[l] = lookup_layer(m, l);
    for (int t = 0; t < m->cfg.ntasks; t++) {
        m->hw[t] = lookup_head(m, t, "weight");
        m->hb[t] = lookup_head(m, t, "bias");
    }
}

static LayerParams layer_params(Model *m, int l) { return m->lp[l]; }
static float *head_w(Model *m, int t) { return m->hw[t]; }
static float *head_b(Model *m, int t) { return m->hb[t]; }

/* ---- forward ---- */

static void layer_forward(Model *m, int l, const float *x, int B, int T) {
    const Ops *o = m->ops;
    const BertConfig *bc = &m->cfg.bert;
    int C = bc->hidden_size, I = bc->intermediate_size, NH = bc->num_attention_heads, N = B * T;
    float p = m->training ? bc->hidden_dropout_prob : 0.0f;
    float pa = m->training ? bc->attention_probs_dropout_prob : 0.0f;
    LayerActs *a = &m->layers[l];
    LayerParams w = layer_params(m, l);
    uint64_t site = (uint64_t)l * 8;

    o->matmul_forward(a->qkv, x, w.qkv_w, w.qkv_b, N, C, 3 * C);
    o->attention_forward(a->atty, a->att, a->qkv, m->d_mask, B, T, C, NH, pa, site_key(m, site), 0);
    o->matmul_forward(a->ao, a->atty, w.ao_w, w.ao_b, N, C, C);
    if (p > 0 && family_get(bc->family)->attn_output_dropout) /* DistilBERT: none */
        o->dropout_forward(a->ao, a->ao, (size_t)N * C, p, site_key(m, site + 1), 0);
    o->add(a->res1, a->ao, x, (size_t)N * C);
    o->layernorm_forward(a->ln1, a->ln1_mean, a->ln1_rstd, a->res1, w.ln1_w, w.ln1_b, N, C, bc->layer_norm_eps);
    /* fc = ln1 @ fc_w^T + fc_b, fcg = gelu(fc): one fused op (one pass) */
    o->matmul_gelu_forward(a->fc, a->fcg, a->ln1, w.fc_w, w.fc_b, N, C, I, bc->hidden_act);
    o->matmul_forward(a->fo, a->fcg, w.fo_w, w.fo_b, N, I, C);
    if (p > 0) o->dropout_forward(a->fo, a->fo, (size_t)N * C, p, site_key(m, site + 2), 0);
    o->add(a->res2, a->fo, a->ln1, (size_t)N * C);
    o->layernorm_forward(a->out, a->ln2_mean, a->ln2_rstd, a->res2, w.ln2_w, w.ln2_b, N, C, bc->layer_norm_eps);
}

static const float *hidden_out(const Model *m) {
    int L = m->cfg.bert.num_hidden_layers;
    return L ? m->layers[L - 1].out : emb_top(m);
}

/* e (B,D) from h (B,T,C): pooling, optional projection, optional L2 norm. */
static void sentence_forward(Model *m, int B, int T) {
    const Ops *o = m->ops;
    int C = m->cfg.bert.hidden_size, D = model_embedding_dim(m), mode = m->cfg.pooling;
    const float *h = hidden_out(m);
    o->pool_forward(m->pooled, m->pool_argmax, h, m->d_mask, B, T, C, mode == POOL_POOLER ? POOL_CLS : mode);
    m->sent = m->pooled;
    if (mode == POOL_POOLER) {
        o->matmul_forward(m->pooler_pre, m->pooled, model_param(m, "bert.pooler.dense.weight"),
                          model_param(m, "bert.pooler.dense.bias"), B, C, C);
        o->tanh_forward(m->pooler_out, m->pooler_pre, (size_t)B * C);
        m->sent = m->pooler_out;
    }
    m->pre_norm = m->sent;
    if (m->cfg.embedding_dim > 0) {
        o->matmul_forward(m->proj, m->sent, model_param(m, "projection.weight"),
                          model_param(m, "projection.bias"), B, C, D);
        m->pre_norm = m->proj;
    }
    m->final_embed = m->pre_norm;
    if (m->cfg.normalize) {
        o->l2norm_forward(m->embed, m->embed_norm, m->pre_norm, B, D);
        m->final_embed = m->embed;
    }
}

static int count_labels(const int *labels, size_t n, int V, int *bad) {
    int c = 0;
    for (size_t i = 0; i < n; i++) {
        if (labels[i] == LABEL_IGNORE) continue;
        if (labels[i] < 0 || labels[i] >= V) *bad = 1;
        else c++;
    }
    return c;
}

/* Mean BCE-with-logits of task t's logits (B) against y (NaN: unlabelled),
 * BCEWithLogitsLoss's stable form max(z, 0) - z y + log(1 + exp(-|z|));
 * sets task_count[t]. */
static float score_bce_loss(Model *m, int t, const float *y, int B) {
    m->ops->to_host(m->host_scratch, m->logits[t], sizeof(float) * B);
    double s = 0;
    int n = 0;
    for (int i = 0; i < B; i++) {
        if (!isfinite(y[i])) continue;
        double z = m->host_scratch[i];
        s += fmax(z, 0.0) - z * y[i] + log1p(exp(-fabs(z)));
        n++;
    }
    m->task_count[t] = n;
    return n ? (float)(s / n) : 0.0f;
}

/* d(scale x summed BCE)/d(logits) = scale (sigmoid(z) - y) into m->dlogits (B). */
static void score_bce_backward(Model *m, int t, const float *y, int B, float scale) {
    m->ops->to_host(m->host_scratch, m->logits[t], sizeof(float) * B);
    for (int i = 0; i < B; i++) {
        float z = m->host_scratch[i];
        m->host_scratch[i] = isfinite(y[i]) ? scale * (1.0f / (1.0f + expf(-z)) - y[i]) : 0.0f;
    }
    m->ops->to_device(m->dlogits, m->host_scratch, sizeof(float) * B);
}

float model_forward(Model *m, const Batch *b) {
    const Ops *o = m->ops;
    const BertConfig *bc = &m->cfg.bert;
    int B = b->B, T = b->T, C = bc->hidden_size, N = B * T, D = model_embedding_dim(m);
    m->B = B;
    m->T = T;
    if (B > m->maxB || T > m->maxT || B <= 0 || T <= 0 || (size_t)B * T > m->maxN) {
        fprintf(stderr, "model: batch %d x %d outside the allocated %d x %d (%zu tokens)\n", B, T, m->maxB, m->maxT,
                m->maxN);
        return NAN;
    }
    const ModelFamily *fam = family_get(bc->family);
    const int *types = fam->token_types ? b->type_ids : NULL; /* DistilBERT: no token types */
    int E = (int)emb_width(bc), pos0 = family_position_offset(bc->family, bc->pad_token_id);
    for (int i = 0; i < N; i++)
        if (b->input_ids[i] < 0 || b->input_ids[i] >= bc->vocab_size ||
            (types && (types[i] < 0 || types[i] >= bc->type_vocab_size))) {
            fprintf(stderr, "model: token or type id out of range at row %d position %d\n", i / T, i % T);
            return NAN;
        }
    o->to_device(m->d_ids, b->input_ids, sizeof(int) * N);
    if (types) o->to_device(m->d_types, types, sizeof(int) * N);
    else o->zero(m->d_types, sizeof(int) * N);
    o->to_device(m->d_mask, b->mask, sizeof(int) * N);

    /* RoBERTa / XLM-R: real tokens at position t use row pad_token_id + 1 + t
     * (right-padded rows; see family_position_offset) */
    o->embedding_forward(m->emb_sum, m->d_ids, m->d_types,
                         model_param(m, "bert.embeddings.word_embeddings.weight"),
                         model_param(m, "bert.embeddings.position_embeddings.weight") + (size_t)pos0 * E,
                         fam->token_types ? model_param(m, "bert.embeddings.token_type_embeddings.weight")
                                          : emb_zero_row(m), B, T, E);
    o->layernorm_forward(m->emb_out, m->emb_mean, m->emb_rstd, m->emb_sum,
                         model_param(m, "bert.embeddings.LayerNorm.weight"),
                         model_param(m, "bert.embeddings.LayerNorm.bias"), N, E, bc->layer_norm_eps);
    float p = m->training ? bc->hidden_dropout_prob : 0.0f;
    if (p > 0) o->dropout_forward(m->emb_out, m->emb_out, (size_t)N * E, p, site_key(m, SITE_EMB), 0);
    if (emb_projected(bc)) /* ELECTRA: embeddings_project, Linear(E, C) */
        o->matmul_forward(emb_top(m), m->emb_out, model_param(m, "bert.embeddings_project.weight"),
                          model_param(m, "bert.embeddings_project.bias"), N, E, C);
    const float *x = emb_top(m);
    for (int l = 0; l < bc->num_hidden_layers; l++) {
        layer_forward(m, l, x, B, T);
        x = m->layers[l].out;
    }
    sentence_forward(m, B, T);

    float total = 0.0f;
    float logvar[MAX_TASKS] = {0};
    float *lv = model_param(m, "loss_weights.log_var");
    if (lv) o->to_host(logvar, lv, sizeof(float) * m->cfg.ntasks);
    for (int t = 0; t < m->cfg.ntasks; t++) {
        const TaskConfig *tc = &m->cfg.tasks[t];
        m->task_loss[t] = 0.0f;
        m->task_count[t] = 0;
        m->task_weight[t] = tc->loss_weight * (lv ? expf(-logvar[t]) : 1.0f);
        m->ext_rows[t] = 0;
        if (task_external_loss(tc->type)) continue; /* model_set_embedding_loss brings it */
        if (task_kind(tc->type)->head == HEAD_COSINE) {
            int P = b->sim_npairs[t], r0 = b->sim_row0[t];
            if (P <= 0 || !b->sim_scores[t]) continue;
            if (r0 < 0 || r0 + 2 * P > B) { fprintf(stderr, "model: similarity pairs outside the batch\n"); return NAN; }
            o->cosine_forward(m->sim_cos[t], m->final_embed + (size_t)r0 * D,
                              m->final_embed + (size_t)(r0 + P) * D, P, D);
            o->to_host(m->host_scratch, m->sim_cos[t], sizeof(float) * P);
            double se = 0;
            for (int i = 0; i < P; i++) {
                double d = m->host_scratch[i] - b->sim_scores[t][i];
                se += d * d;
            }
            m->task_loss[t] = (float)(se / P);
            m->task_count[t] = P;
            total += m->task_weight[t] * m->task_loss[t] + (lv ? logvar[t] : 0.0f);
            continue;
        }
        int token = is_token_task(tc), V = tc->num_labels;
        int rows = token ? N : B, in = token ? C : D;
        const float *hin = token ? hidden_out(m) : m->final_embed;
        float pt = m->training ? tc->dropout : 0.0f;
        if (pt > 0) {
            o->dropout_forward(m->head_in[t], hin, (size_t)rows * in, pt, site_key(m, SITE_HEAD + t), 0);
            hin = m->head_in[t];
        }
        o->matmul_forward(m->logits[t], hin, head_w(m, t), head_b(m, t), rows, in, V);
        if (task_score_head(tc->type)) { /* one logit per row vs a score in [0, 1] */
            if (!b->row_scores[t]) continue;
            float l = score_bce_loss(m, t, b->row_scores[t], B);
            if (!m->task_count[t]) continue;
            m->task_loss[t] = l;
            total += m->task_weight[t] * l + (lv ? logvar[t] : 0.0f);
            continue;
        }
        if (!b->labels[t]) continue;
        int bad = 0;
        m->task_count[t] = count_labels(b->labels[t], rows, V, &bad);
        if (bad) {
            fprintf(stderr, "model: task '%s' has a label outside [0, %d) (and not %d)\n", tc->name, V, LABEL_IGNORE);
            return NAN;
        }
        o->to_device(m->d_labels[t], b->labels[t], sizeof(int) * rows);
        o->crossentropy_forward(m->losses[t], m->probs[t], m->logits[t], m->d_labels[t], rows, V);
        if (!m->task_count[t]) continue;
        o->to_host(m->host_scratch, m->losses[t], sizeof(float) * rows);
        double s = 0;
        for (int i = 0; i < rows; i++) s += m->host_scratch[i];
        m->task_loss[t] = (float)(s / m->task_count[t]);
        total += m->task_weight[t] * m->task_loss[t] + (lv ? logvar[t] : 0.0f);
    }
    return total;
}

/* ---- backward ---- */

static int any_trainable_from(const Model *m, int l) {
    if (m->train.embeddings) return 1;
    for (int k = 0; k <= l && k < m->cfg.bert.num_hidden_layers; k++)
        if (m->train.layer[k]) return 1;
    return 0;
}

/* dout (B,T,C) = d(layer l output); writes d(layer input) into dx (+=). */
static void layer_backward(Model *m, int l, const float *x, const float *dout, float *dx, int B, int T) {
    const Ops *o = m->ops;
    const BertConfig *bc = &m->cfg.bert;
    int C = bc->hidden_size, I = bc->intermediate_size, NH = bc->num_attention_heads, N = B * T;
    float p = m->training ? bc->hidden_dropout_prob : 0.0f;
    float pa = m->training ? bc->attention_probs_dropout_prob : 0.0f;
    size_t NC = (size_t)N * C, NI = (size_t)N * I;
    LayerActs *a = &m->layers[l], *d = &m->dl;
    LayerParams w = layer_params(m, l);
    int tr = m->train.layer[l], below = l > 0 ? any_trainable_from(m, l - 1) : m->train.embeddings;
    uint64_t site = (uint64_t)l * 8;
#define G(ptr) grad_of(m, (ptr), tr)

    o->zero(d->res2, NC * sizeof(float));
    o->layernorm_backward(d->res2, G(w.ln2_w), G(w.ln2_b), dout, a->res2, w.ln2_w, a->ln2_mean, a->ln2_rstd, N, C);
    /* res2 = fo + ln1 */
    o->copy(d->ln1, d->res2, NC * sizeof(float));
    float *dfo = d->res2;
    if (p > 0) {
        dfo = d->fo;
        o->zero(dfo, NC * sizeof(float));
        o->dropout_backward(dfo, d->res2, NC, p, site_key(m, site + 2), 0);
    }
    o->zero(d->fcg, NI * sizeof(float));
    o->matmul_backward(d->fcg, G(w.fo_w), G(w.fo_b), dfo, a->fcg, w.fo_w, N, I, C);
    /* d->fc = d->fcg * gelu'(fc) (written: no zeroing) and the fc bias
     * gradient, in one pass; the matmul below then needs no bias sums */
    o->gelu_bias_backward(d->fc, G(w.fc_b), a->fc, d->fcg, N, I, bc->hidden_act);
    o->matmul_backward(d->ln1, G(w.fc_w), NULL, d->fc, a->ln1, w.fc_w, N, C, I);
    o->zero(d->res1, NC * sizeof(float));
    o->layernorm_backward(d->res1, G(w.ln1_w), G(w.ln1_b), d->ln1, a->res1, w.ln1_w, a->ln1_mean, a->ln1_rstd, N, C);
    /* res1 = ao + x */
    if (below) o->copy(dx, d->res1, NC * sizeof(float));
    float *dao = d->res1;
    if (p > 0 && family_get(bc->family)->attn_output_dropout) {
        dao = d->ao;
        o->zero(dao, NC * sizeof(float));
        o->dropout_backward(dao, d->res1, NC, p, site_key(m, site + 1), 0);
    }
    o->zero(d->atty, NC * sizeof(float));
    o->matmul_backward(d->atty, G(w.ao_w), G(w.ao_b), dao, a->atty, w.ao_w, N, C, C);
    o->zero(d->qkv, 3 * NC * sizeof(float));
    o->attention_backward(d->qkv, d->atty, a->qkv, a->att, m->d_mask, B, T, C, NH, pa, site_key(m, site), 0);
    o->matmul_backward(below ? dx : NULL, G(w.qkv_w), G(w.qkv_b), d->qkv, x, w.qkv_w, N, C, 3 * C);
    /* The key bias adds the same amount to every score of a softmax row, so
     * the loss does not depend on it: its gradient is exactly zero, and
     * rounding noise must not drive AdamW updates. */
    if (G(w.qkv_b)) o->zero(G(w.qkv_b) + C, sizeof(float) * C);
#undef G
}

/* d(sentence embedding) (B,D) -> d(hidden) (B,T,C), through norm, projection, pooler. */
static void sentence_backward(Model *m, float *dh, int B, int T) {
    const Ops *o = m->ops;
    int C = m->cfg.bert.hidden_size, D = model_embedding_dim(m), mode = m->cfg.pooling;
    int below = any_trainable_from(m, m->cfg.bert.num_hidden_layers - 1);
    float *d = m->dembed;
    if (m->cfg.normalize) {
        o->zero(m->dproj, sizeof(float) * B * D);
        o->l2norm_backward(m->dproj, d, m->embed, m->embed_norm, B, D);
        d = m->dproj;
    }
    if (m->cfg.embedding_dim > 0) {
        float *w = model_param(m, "projection.weight");
        int need = below || (mode == POOL_POOLER && m->train.pooler);
        if (need) o->zero(m->dsent, sizeof(float) * B * C);
        o->matmul_backward(need ? m->dsent : NULL, grad_of(m, w, m->train.projection),
                           grad_of(m, model_param(m, "projection.bias"), m->train.projection), d,
                           m->sent, w, B, C, D);
        if (!need) return;
        d = m->dsent;
    }
    if (mode == POOL_POOLER) {
        float *w = model_param(m, "bert.pooler.dense.weight");
        o->zero(m->dpooler_pre, sizeof(float) * B * C);
        o->tanh_backward(m->dpooler_pre, m->pooler_out, d, (size_t)B * C);
        if (below) o->zero(m->dcls, sizeof(float) * B * C);
        o->matmul_backward(below ? m->dcls : NULL, grad_of(m, w, m->train.pooler),
                           grad_of(m, model_param(m, "bert.pooler.dense.bias"), m->train.pooler),
                           m->dpooler_pre, m->pooled, w, B, C, C);
        d = m->dcls;
    }
    if (below) o->pool_backward(dh, d, m->pool_argmax, m->d_mask, B, T, C, mode == POOL_POOLER ? POOL_CLS : mode);
}

void model_backward(Model *m, const Batch *b, float scale) {
    const Ops *o = m->ops;
    const BertConfig *bc = &m->cfg.bert;
    int B = m->B, T = m->T, N = B * T, C = bc->hidden_size, D = model_embedding_dim(m);
    int L = bc->num_hidden_layers;
    int below = any_trainable_from(m, L - 1);
    float *dh = m->dx[0];
    int sentence_used = 0;
    /* learned task weights: d/ds_t [w exp(-s_t) L_t + s_t] = 1 - w exp(-s_t) L_t */
    float *lv = model_param(m, "loss_weights.log_var");
    if (lv && m->grads) {
        float g[MAX_TASKS];
        float *dlv = m->grads + (lv - m->params);
        o->to_host(g, dlv, sizeof(float) * m->cfg.ntasks);
        for (int t = 0; t < m->cfg.ntasks; t++)
            if (m->task_count[t] || m->task_norm[t] > 0) { /* some rank has items of task t */
                float share = m->task_norm[t] > 0 ? (float)m->task_count[t] / m->task_norm[t] : 1.0f;
                g[t] += scale * (1.0f - m->task_weight[t] * m->task_loss[t] * share);
            }
        o->to_device(dlv, g, sizeof(float) * m->cfg.ntasks);
    }
    o->zero(dh, sizeof(float) * N * C);
    o->zero(m->dembed, sizeof(float) * B * D);

    for (int t = 0; t < m->cfg.ntasks; t++) {
        const TaskConfig *tc = &m->cfg.tasks[t];
        if (!m->task_count[t]) continue;
        float s = scale * m->task_weight[t] / (m->task_norm[t] > 0 ? m->task_norm[t] : (float)m->task_count[t]);
        if (task_external_loss(tc->type)) {
            int r0 = m->ext_row0[t], n = m->ext_rows[t];
            if (n <= 0 || !m->ext_grad[t]) continue;
            o->scale(m->ext_grad[t], s, (size_t)n * D);
            o->accumulate(m->dembed + (size_t)r0 * D, m->ext_grad[t], (size_t)n * D);
            sentence_used = 1;
            continue;
        }
        if (task_kind(tc->type)->head == HEAD_COSINE) {
            int P = b->sim_npairs[t], r0 = b->sim_row0[t];
            o->to_host(m->host_scratch, m->sim_cos[t], sizeof(float) * P);
            for (int i = 0; i < P; i++) m->host_scratch[i] = 2.0f * s * (m->host_scratch[i] - b->sim_scores[t][i]);
            o->to_device(m->dcos, m->host_scratch, sizeof(float) * P);
            const float *e = m->final_embed;
            o->cosine_backward(m->dembed + (size_t)r0 * D, m->dembed + (size_t)(r0 + P) * D, m->dcos,
                               e + (size_t)r0 * D, e + (size_t)(r0 + P) * D, m->sim_cos[t], P, D);
            sentence_used = 1;
            continue;
        }
        int token = is_token_task(tc), V = tc->num_labels;
        int rows = token ? N : B, in = token ? C : D;
        /* does the gradient need to go below this head? */
        int need = token ? below
                         : (below || (m->train.projection && m->cfg.embedding_dim > 0) ||
                            (m->train.pooler && m->cfg.pooling == POOL_POOLER));
        const float *hin = m->head_in[t] && m->training && tc->dropout > 0 ? m->head_in[t]
                           : token ? hidden_out(m) : m->final_embed;
        float *dtarget = token ? dh : m->dembed;
        if (task_score_head(tc->type)) {
            score_bce_backward(m, t, b->row_scores[t], rows, s);
        } else {
            o->zero(m->dlogits, sizeof(float) * rows * V);
            o->crossentropy_backward(m->dlogits, m->probs[t], m->d_labels[t], rows, V, s);
        }
        float *dhin = NULL;
        if (need) {
            if (hin == m->head_in[t]) {
                dhin = m->dhead_in;
                o->zero(dhin, sizeof(float) * rows * in);
            } else {
                dhin = dtarget;
            }
        }
        o->matmul_backward(dhin, grad_of(m, head_w(m, t), m->train.head[t]),
                           grad_of(m, head_b(m, t), m->train.head[t]), m->dlogits, hin, head_w(m, t),
                           rows, in, V);
        if (dhin && dhin == m->dhead_in)
            o->dropout_backward(dtarget, dhin, (size_t)rows * in, tc->dropout, site_key(m, SITE_HEAD + t), 0);
        if (!token && need) sentence_used = 1;
    }
    if (sentence_used) sentence_backward(m, dh, B, T);
    if (!below) return;

    /* encoder, top to bottom, stopping below the lowest trainable part */
    float *dout = dh;
    for (int l = L - 1; l >= 0; l--) {
        int lower = l > 0 ? any_trainable_from(m, l - 1) : m->train.embeddings;
        if (!m->train.layer[l] && !lower) return;
        const float *x = l > 0 ? m->layers[l - 1].out : emb_top(m);
        float *dx = dout == m->dx[0] ? m->dx[1] : m->dx[0];
        /* checkpointed: the shared activations hold the top layer's (the
         * last forward); every other layer is run again to refill them */
        if (m->checkpointing && l < L - 1) layer_forward(m, l, x, B, T);
        layer_backward(m, l, x, dout, dx, B, T);
        if (!lower) return;
        dout = dx;
    }
    if (!m->train.embeddings) return;
    const ModelFamily *fam = family_get(bc->family);
    int E = (int)emb_width(bc), pos0 = family_position_offset(bc->family, bc->pad_token_id);
    size_t NE = (size_t)N * E;
    float *dproj_in = m->demb + m->maxN * (C > E ? C : E); /* (N,E), when projecting */
    if (emb_projected(bc)) { /* ELECTRA: back through embeddings_project */
        float *w = model_param(m, "bert.embeddings_project.weight");
        o->zero(dproj_in, sizeof(float) * NE);
        o->matmul_backward(dproj_in, grad_of(m, w, 1), grad_of(m, model_param(m, "bert.embeddings_project.bias"), 1),
                           dout, m->emb_out, w, N, E, C);
        dout = dproj_in;
    }
    float p = m->training ? bc->hidden_dropout_prob : 0.0f;
    if (p > 0) {
        o->zero(m->demb, sizeof(float) * NE);
        o->dropout_backward(m->demb, dout, NE, p, site_key(m, SITE_EMB), 0);
        dout = m->demb;
    }
    float *dsum = emb_projected(bc) ? (dout == m->demb ? dproj_in : m->demb)
                                    : dout == m->dx[0] ? m->dx[1] : m->dx[0];
    o->zero(dsum, sizeof(float) * NE);
    o->layernorm_backward(dsum, grad_of(m, model_param(m, "bert.embeddings.LayerNorm.weight"), 1),
                          grad_of(m, model_param(m, "bert.embeddings.LayerNorm.bias"), 1), dout, m->emb_sum,
                          model_param(m, "bert.embeddings.LayerNorm.weight"), m->emb_mean, m->emb_rstd, N, E);
    float *wte = model_param(m, "bert.embeddings.word_embeddings.weight");
    float *dwte = grad_of(m, wte, 1);
    /* DistilBERT's sinusoidal positions are fixed: no gradient */
    float *dwpe = bc->sinusoidal_pos ? NULL
                  : grad_of(m, model_param(m, "bert.embeddings.position_embeddings.weight"), 1) + (size_t)pos0 * E;
    o->embedding_backward(dwte, dwpe,
                          fam->token_types ? grad_of(m, model_param(m, "bert.embeddings.token_type_embeddings.weight"), 1) : NULL,
                          dsum, m->d_ids, m->d_types, B, T, E);
    /* the padding token's row never learns (padding_idx in Hugging Face) */
    int pad = bc->pad_token_id;
    if (pad >= 0 && pad < bc->vocab_size) o->zero(dwte + (size_t)pad * E, sizeof(float) * E);
}

int model_set_embedding_loss(Model *m, int task, float loss, int count, const float *grad, int row0, int rows) {
    if (task < 0 || task >= m->cfg.ntasks || !task_external_loss(m->cfg.tasks[task].type)) return -1;
    if (row0 < 0 || rows < 0 || row0 + rows > m->B) return -1;
    m->task_loss[task] = loss;
    m->task_count[task] = count;
    m->ext_row0[task] = row0;
    m->ext_rows[task] = 0;
    if (grad && m->ext_grad[task] && rows > 0) {
        m->ops->to_device(m->ext_grad[task], grad, sizeof(float) * (size_t)rows * model_embedding_dim(m));
        m->ext_rows[task] = rows;
    }
    return 0;
}

void model_zero_grad(Model *m) {
    if (m->grads) m->ops->zero(m->grads, sizeof(float) * m->table.total);
}

int model_embedding_dim(const Model *m) {
    return m->cfg.embedding_dim > 0 ? m->cfg.embedding_dim : m->cfg.bert.hidden_size;
}

void model_get_embeddings(Model *m, float *host_out) {
    m->ops->to_host(host_out, m->final_embed, sizeof(float) * m->B * model_embedding_dim(m));
}

void model_get_logits(Model *m, int task, float *host_out) {
    const TaskConfig *tc = &m->cfg.tasks[task];
    if (!task_has_head(tc->type)) return;
    size_t rows = is_token_task(tc) ? (size_t)m->B * m->T : (size_t)m->B;
    m->ops->to_host(host_out, m->logits[task], sizeof(float) * rows * tc->num_labels);
}

void model_get_hidden(Model *m, float *host_out) {
    m->ops->to_host(host_out, hidden_out(m), sizeof(float) * m->B * m->T * m->cfg.bert.hidden_size);
}
