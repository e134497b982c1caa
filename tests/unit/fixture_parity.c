/* fixture_parity.c — the model on one backend against the PyTorch fixtures
 * (tests/fixtures/, made by tests/reference/make_fixtures.py): sentence
 * embeddings, logits, losses, every gradient, and the parameters after 3
 * AdamW steps with clipping, in fp32, as norm-wise relative errors (see
 * compare()). A second run with one weight perturbed must fail the same
 * comparisons, so the check itself is shown to be able to fail. Used by
 * tests/unit/test_parity.c (CPU) and tests/gpu/test_parity_gpu.c (CUDA). */
#include "fixture_parity.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "trainer/store/hf_config.h"
#include "trainer/model/model.h"
#include "trainer/train/optimizer.h"
#include "trainer/store/safetensors.h"

#define TOL_OUT 1e-5   /* logits, losses, embeddings: relative */
#define TOL_GRAD 1e-4  /* gradients, parameters after the steps */

typedef struct {
    int mismatches;   /* comparisons over tolerance in this run */
    int verbose;
    double worst[2];  /* largest error: outputs, gradients/parameters */
} Run;

static float *read_tensor(StFile *f, const char *name, size_t *n) {
    const StTensor *t = st_find(f, name);
    if (!t) return NULL;
    float *x = malloc(sizeof(float) * (t->numel ? t->numel : 1));
    char err[256];
    if (st_read_f32(f, t, x, err, sizeof err)) { fprintf(stderr, "%s\n", err); free(x); return NULL; }
    if (n) *n = t->numel;
    return x;
}

static int *read_ints(StFile *f, const char *name) {
    const StTensor *t = st_find(f, name);
    if (!t) return NULL;
    int *x = malloc(sizeof(int) * t->numel);
    char err[256];
    if (st_read_i32(f, t, x, err, sizeof err)) { free(x); return NULL; }
    return x;
}

/* Relative error of a tensor: max |got - want| / max |want| (norm-wise).
 * Element-wise ratios are not meaningful in fp32 for entries far below the
 * tensor's scale: summation order alone moves them by ~1e-7 of the largest
 * entry (measured here: 2e-7 to 6e-7 against PyTorch). */
static void compare(Run *r, const char *what, const float *got, const float *want, size_t n, double tol) {
    double amax = 0;
    for (size_t i = 0; i < n; i++) amax = fmax(amax, fabs(want[i]));
    double err = test_max_abs_err(got, want, n) / fmax(amax, 1e-30);
    if (!(err <= tol)) {
        r->mismatches++;
        if (r->verbose) fprintf(stderr, "  %s: relative error %.3g > %.1g\n", what, err, tol);
    }
    if (err > r->worst[tol == TOL_OUT ? 0 : 1]) r->worst[tol == TOL_OUT ? 0 : 1] = err;
}

static int parse_config(const char *json, ModelConfig *mc) {
    char err[512];
    memset(mc, 0, sizeof *mc);
    bert_config_defaults(&mc->bert);
    if (bert_config_from_json(&mc->bert, json, "fixture config", err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    json_t *root = json_loads(json, 0, NULL);
    const char *pool = json_string_value(json_object_get(root, "pooling"));
    mc->pooling = !strcmp(pool, "mean") ? POOL_MEAN : !strcmp(pool, "cls") ? POOL_CLS
                : !strcmp(pool, "max") ? POOL_MAX : POOL_POOLER;
    mc->embedding_dim = (int)json_integer_value(json_object_get(root, "embedding_dim"));
    mc->normalize = json_is_true(json_object_get(root, "normalize"));
    json_t *tasks = json_object_get(root, "tasks");
    mc->ntasks = (int)json_array_size(tasks);
    for (int t = 0; t < mc->ntasks; t++) {
        json_t *o = json_array_get(tasks, t);
        TaskConfig *tc = &mc->tasks[t];
        snprintf(tc->name, sizeof tc->name, "%s", json_string_value(json_object_get(o, "name")));
        const char *type = json_string_value(json_object_get(o, "type"));
        tc->type = !strcmp(type, "token_classification") ? TASK_TOKEN_CLS : TASK_SENTENCE_CLS;
        tc->num_labels = (int)json_integer_value(json_object_get(o, "num_labels"));
        tc->loss_weight = (float)json_number_value(json_object_get(o, "weight"));
        tc->dropout = 0;
    }
    json_decref(root);
    return 0;
}

/* One fixture end to end; returns the number of mismatches. */
static int run_fixture(const Ops *ops, const char *path, int perturb, int verbose) {
    char err[512];
    StFile f;
    Run r = {0, verbose, {0, 0}};
    if (st_open(&f, path, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    char *json = st_metadata_get(&f, "config");
    ModelConfig mc;
    if (!json || parse_config(json, &mc)) { st_close(&f); free(json); return -1; }
    json_t *root = json_loads(json, 0, NULL);
    json_t *oj = json_object_get(root, "optimizer");
    OptimConfig oc;
    optim_defaults(&oc);
    oc.lr = (float)json_number_value(json_object_get(oj, "lr"));
    oc.beta1 = (float)json_number_value(json_object_get(oj, "beta1"));
    oc.beta2 = (float)json_number_value(json_object_get(oj, "beta2"));
    oc.eps = (float)json_number_value(json_object_get(oj, "eps"));
    oc.weight_decay = (float)json_number_value(json_object_get(oj, "weight_decay"));
    oc.max_grad_norm = (float)json_number_value(json_object_get(oj, "max_grad_norm"));
    int steps = (int)json_integer_value(json_object_get(oj, "steps"));
    json_decref(root);
    free(json);

    const StTensor *ids_t = st_find(&f, "input_ids");
    int B = (int)ids_t->shape[0], T = (int)ids_t->shape[1];
    Model m;
    if (model_create(&m, &mc, ops, B, T, 1, 1, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        st_close(&f);
        return -1;
    }
    m.training = 0; /* dropout is 0 in the fixtures anyway */
    /* parameters, gradients: host copies of the backend's flat buffers */
    size_t nbytes = sizeof(float) * m.table.total;
    float *host = calloc(m.table.total, sizeof(float));
    for (int i = 0; i < m.table.n; i++) {
        char name[160];
        snprintf(name, sizeof name, "param.%s", m.table.t[i].name);
        size_t n = 0;
        float *x = read_tensor(&f, name, &n);
        CHECKF(x && n == m.table.t[i].numel, "%s: %s missing or mis-sized", path, name);
        if (x && n == m.table.t[i].numel) memcpy(host + m.table.t[i].offset, x, sizeof(float) * n);
        free(x);
    }
    if (perturb) host[params_find(&m.table, "bert.encoder.layer.0.attention.self.key.weight")->offset + 5] += 0.05f;
    ops->to_device(m.params, host, nbytes);

    int *ids = read_ints(&f, "input_ids"), *types = read_ints(&f, "token_type_ids"),
        *mask = read_ints(&f, "attention_mask");
    int *labels[MAX_TASKS] = {0};
    Batch b = {.B = B, .T = T, .input_ids = ids, .type_ids = types, .mask = mask};
    for (int t = 0; t < mc.ntasks; t++) {
        char name[96];
        snprintf(name, sizeof name, "labels.%s", mc.tasks[t].name);
        labels[t] = read_ints(&f, name);
        b.labels[t] = labels[t];
    }

    float total = model_forward(&m, &b);
    int D = model_embedding_dim(&m);
    float *buf = malloc(sizeof(float) * B * T * 64 * 4);
    model_get_embeddings(&m, buf);
    float *want = read_tensor(&f, "embedding", NULL);
    compare(&r, "embedding", buf, want, (size_t)B * D, TOL_OUT);
    free(want);
    for (int t = 0; t < mc.ntasks; t++) {
        char name[96];
        int V = mc.tasks[t].num_labels, token = mc.tasks[t].type == TASK_TOKEN_CLS;
        snprintf(name, sizeof name, "logits.%s", mc.tasks[t].name);
        want = read_tensor(&f, name, NULL);
        model_get_logits(&m, t, buf);
        if (token) {
            /* padded positions are not compared: their values do not reach
             * any loss (our attention zeroes padded query rows) */
            for (int i = 0; i < B * T; i++)
                if (!mask[i]) for (int k = 0; k < V; k++) buf[i * V + k] = want[i * V + k];
        }
        compare(&r, name, buf, want, (size_t)(token ? B * T : B) * V, TOL_OUT);
        free(want);
        snprintf(name, sizeof name, "loss.%s", mc.tasks[t].name);
        want = read_tensor(&f, name, NULL);
        compare(&r, name, &m.task_loss[t], want, 1, TOL_OUT);
        free(want);
    }
    want = read_tensor(&f, "loss.total", NULL);
    compare(&r, "loss.total", &total, want, 1, TOL_OUT);
    free(want);

    model_zero_grad(&m);
    model_backward(&m, &b, 1.0f);
    ops->to_host(host, m.grads, nbytes);
    int ngrads = 0;
    for (int i = 0; i < m.table.n; i++) {
        const ParamTensor *pt = &m.table.t[i];
        char name[160];
        snprintf(name, sizeof name, "grad.%s", pt->name);
        want = read_tensor(&f, name, NULL);
        if (want) {
            compare(&r, name, host + pt->offset, want, pt->numel, TOL_GRAD);
            ngrads++;
        } else {
            /* no gradient in PyTorch: ours must be exactly zero */
            int nonzero = 0;
            for (size_t k = 0; k < pt->numel; k++) nonzero |= host[pt->offset + k] != 0.0f;
            if (nonzero) {
                r.mismatches++;
                if (verbose) fprintf(stderr, "  %s: PyTorch has no gradient, ours is nonzero\n", pt->name);
            }
        }
        free(want);
    }
    CHECKF(ngrads >= 30, "%s: only %d gradients in the fixture", path, ngrads);

    Optimizer opt;
    CHECK(optimizer_create(&opt, &m, &oc) == 0);
    for (int s = 1; s <= steps; s++) {
        char name[64];
        if (s > 1) {
            total = model_forward(&m, &b);
            model_zero_grad(&m);
            model_backward(&m, &b, 1.0f);
        }
        snprintf(name, sizeof name, "loss_total.step%d", s);
        want = read_tensor(&f, name, NULL);
        compare(&r, name, &total, want, 1, TOL_OUT);
        free(want);
        float norm = optimizer_step(&opt, &m, oc.lr, NULL);
        snprintf(name, sizeof name, "grad_norm.step%d", s);
        want = read_tensor(&f, name, NULL);
        compare(&r, name, &norm, want, 1, TOL_GRAD);
        free(want);
    }
    ops->to_host(host, m.params, nbytes);
    for (int i = 0; i < m.table.n; i++) {
        const ParamTensor *pt = &m.table.t[i];
        char name[160];
        snprintf(name, sizeof name, "step%d.%s", steps, pt->name);
        want = read_tensor(&f, name, NULL);
        if (!want) { r.mismatches++; continue; }
        compare(&r, name, host + pt->offset, want, pt->numel, TOL_GRAD);
        free(want);
    }
    optimizer_free(&opt, &m);
    free(host);
    free(buf);
    free(ids); free(types); free(mask);
    for (int t = 0; t < mc.ntasks; t++) free(labels[t]);
    model_free(&m);
    st_close(&f);
    if (verbose)
        printf("%s [%s]: worst relative error: outputs %.2g, gradients and parameters %.2g\n", path, ops->name, r.worst[0], r.worst[1]);
    return r.mismatches;
}

/* Fixtures given by source-relative path (tests/unit/test_parity_families.c
 * passes the model families' ones, tests/fixtures/families/). */
void parity_run_files(const Ops *ops, const char *const *fixtures, int nfixtures);

void parity_run_all(const Ops *ops) {
    const char *fixtures[] = {"tests/fixtures/tiny_mean_proj_norm.safetensors",
                              "tests/fixtures/tiny_pooler.safetensors",
                              "tests/fixtures/tiny_max.safetensors",
                              "tests/fixtures/tiny_cls_proj.safetensors"};
    parity_run_files(ops, fixtures, (int)(sizeof fixtures / sizeof fixtures[0]));
}

void parity_run_files(const Ops *ops, const char *const *fixtures, int nfixtures) {
    for (int i = 0; i < nfixtures; i++) {
        char path[1024];
        test_source_path(fixtures[i], path, sizeof path);
        int bad = run_fixture(ops, path, 0, 1);
        CHECKF(bad == 0, "%s [%s]: %d comparisons over tolerance", fixtures[i], ops->name, bad);
        if (bad == 0) printf("%s [%s]: matches PyTorch\n", fixtures[i], ops->name);
        /* the same comparisons must catch a wrong weight */
        int bad2 = run_fixture(ops, path, 1, 0);
        CHECKF(bad2 > 0, "%s [%s]: a perturbed weight went unnoticed", fixtures[i], ops->name);
    }
}
