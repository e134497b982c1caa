/* test_parity_families.c — DistilBERT (learned and sinusoidal positions),
 * RoBERTa, XLM-RoBERTa and ELECTRA against transformers on the CPU
 * backend: the fixtures of tests/reference/make_family_fixtures.py in
 * tests/fixtures/families/.
 *
 * 1. outputs, losses, every gradient and the parameters after 3 AdamW steps
 *    (tests/unit/fixture_parity.c, same tolerances as BERT), with a
 *    perturbed-weight run that must fail;
 * 2. the folder transformers' save_pretrained wrote for the same encoder:
 *    its config.json parses to the fixture's shape and family, and its
 *    model.safetensors (the family's own tensor names) loads every encoder
 *    tensor, bit-equal to the fixture's initial parameters;
 * 3. model_dir_save writes the family's config.json and exactly the tensor
 *    names transformers wrote, and the export loads back bit-equal;
 * 4. DistilBERT's sinusoidal table from params_init equals transformers';
 * 5. the name table on prefixed names (as in *ForMaskedLM checkpoints). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture_parity.h"
#include "testutil.h"
#include "trainer/model/family.h"
#include "trainer/model/model.h"
#include "trainer/store/hf_config.h"
#include "trainer/store/model_dir.h"
#include "trainer/store/safetensors.h"
#include "util/fsutil.h"

void parity_run_files(const Ops *ops, const char *const *fixtures, int nfixtures); /* fixture_parity.c */

static const char *const NAMES[] = {"distilbert_mean_proj_norm", "distilbert_sinusoidal_cls", "roberta_pooler",
                                    "xlm_roberta_max_proj", "electra_mean"};
static const int FAMILIES[] = {FAMILY_DISTILBERT, FAMILY_DISTILBERT, FAMILY_ROBERTA, FAMILY_XLM_ROBERTA,
                               FAMILY_ELECTRA};
#define NFIX ((int)(sizeof NAMES / sizeof NAMES[0]))

/* names of a safetensors file, sorted, one string "a\nb\n..." */
static char *sorted_names(const char *path) {
    StFile f;
    char err[512];
    if (st_open(&f, path, err, sizeof err)) { fprintf(stderr, "%s\n", err); return NULL; }
    char **v = calloc(f.ntensors ? f.ntensors : 1, sizeof *v);
    size_t total = 1;
    for (int i = 0; i < f.ntensors; i++) { v[i] = f.tensors[i].name; total += strlen(v[i]) + 1; }
    for (int i = 1; i < f.ntensors; i++)
        for (int j = i; j > 0 && strcmp(v[j - 1], v[j]) > 0; j--) { char *t = v[j]; v[j] = v[j - 1]; v[j - 1] = t; }
    char *s = calloc(total, 1);
    for (int i = 0; i < f.ntensors; i++) { strcat(s, v[i]); strcat(s, "\n"); }
    free(v);
    st_close(&f);
    return s;
}

/* The fixture's initial value of every tensor of m (host), by canonical name. */
static int fixture_params(const char *fixture, const Model *m, float *host) {
    StFile f;
    char err[512];
    if (st_open(&f, fixture, err, sizeof err)) return -1;
    int missing = 0;
    for (int i = 0; i < m->table.n; i++) {
        char name[200];
        snprintf(name, sizeof name, "param.%s", m->table.t[i].name);
        const StTensor *t = st_find(&f, name);
        if (!t || (size_t)t->numel != m->table.t[i].numel || st_read_f32(&f, t, host + m->table.t[i].offset, err, sizeof err))
            missing++;
    }
    st_close(&f);
    return missing;
}

static void check_folder(int k) {
    char rel[256], dir[1024], path[1200], fixture[1024], err[1024];
    snprintf(rel, sizeof rel, "tests/fixtures/families/%s", NAMES[k]);
    test_source_path(rel, dir, sizeof dir);
    snprintf(rel, sizeof rel, "tests/fixtures/families/%s.safetensors", NAMES[k]);
    test_source_path(rel, fixture, sizeof fixture);

    /* config.json as transformers wrote it */
    snprintf(path, sizeof path, "%s/config.json", dir);
    char *text = fs_read_file(path, NULL, err, sizeof err);
    CHECKF(text, "%s", err);
    if (!text) return;
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    bert_config_defaults(&mc.bert);
    int rc = bert_config_from_json(&mc.bert, text, path, err, sizeof err);
    free(text);
    CHECKF(rc == 0, "%s", err);
    if (rc) return;
    const BertConfig *b = &mc.bert;
    CHECKF(b->family == FAMILIES[k], "%s: family %d, want %d", NAMES[k], b->family, FAMILIES[k]);
    CHECK(b->hidden_size == 16 && b->num_hidden_layers == 2 && b->num_attention_heads == 2 &&
          b->intermediate_size == 32 && b->vocab_size == 40 && b->max_position_embeddings == 20);
    CHECK(b->embedding_size == (FAMILIES[k] == FAMILY_ELECTRA ? 8 : 0));
    CHECK(b->pad_token_id == (FAMILIES[k] == FAMILY_ROBERTA || FAMILIES[k] == FAMILY_XLM_ROBERTA ? 1 : 0));
    CHECK(b->sinusoidal_pos == (k == 1));
    CHECK(b->type_vocab_size == (FAMILIES[k] == FAMILY_DISTILBERT ? 0 : FAMILIES[k] == FAMILY_ELECTRA ? 2 : 1));
    CHECK(b->hidden_act == (k == 1 ? GELU_TANH : GELU_ERF));

    /* the family's own names load every encoder tensor, bit-equal */
    mc.pooling = POOL_MEAN;
    Model m;
    rc = model_create(&m, &mc, ops_cpu(), 2, 8, 0, MODEL_INIT_NONE, err, sizeof err);
    CHECKF(rc == 0, "%s: %s", NAMES[k], err);
    if (rc) return;
    char report[4096];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    rc = model_load_safetensors(&m, path, 0, report, sizeof report, err, sizeof err);
    CHECKF(rc == 0, "%s: %s", NAMES[k], err);
    CHECKF(!strstr(report, "unexpected") && !strstr(report, "new tensor"), "%s: load report:\n%s", NAMES[k], report);
    float *want = calloc(m.table.total, sizeof(float)), *got = calloc(m.table.total, sizeof(float));
    CHECKF(fixture_params(fixture, &m, want) == 0, "%s: fixture lacks tensors of the model", NAMES[k]);
    m.ops->to_host(got, m.params, sizeof(float) * m.table.total);
    CHECKF(!memcmp(got, want, sizeof(float) * m.table.total), "%s: loaded weights differ from the fixture", NAMES[k]);

    /* params_init's fixed sinusoidal table = transformers' */
    if (b->sinusoidal_pos) {
        params_init(&m.table, got, &mc, 7);
        const ParamTensor *t = params_find(&m.table, "bert.embeddings.position_embeddings.weight");
        double worst = 0;
        for (size_t i = 0; i < t->numel; i++) {
            double d = got[t->offset + i] - want[t->offset + i];
            if (d < 0) d = -d;
            if (d > worst) worst = d;
        }
        CHECKF(worst < 1e-6, "%s: sinusoidal table differs from transformers' by %g", NAMES[k], worst);
        printf("%s: sinusoidal table max |diff| vs transformers %.3g\n", NAMES[k], worst);
    }

    /* export: the family's names, exactly the set transformers wrote; loads back */
    char tmpl[] = "/tmp/mtbert_fam_XXXXXX";
    char *out = mkdtemp(tmpl);
    CHECK(out != NULL);
    if (out) {
        char outdir[1100];
        snprintf(outdir, sizeof outdir, "%s/export", out);
        rc = model_dir_save(&m, outdir, NULL, 1, 16, NULL, err, sizeof err);
        CHECKF(rc == 0, "%s: export: %s", NAMES[k], err);
        char exp[1200];
        snprintf(exp, sizeof exp, "%s/model.safetensors", outdir);
        char *a = sorted_names(path), *e = sorted_names(exp);
        CHECKF(a && e && !strcmp(a, e), "%s: exported names differ from transformers':\n%s---\n%s", NAMES[k],
               a ? a : "?", e ? e : "?");
        free(a);
        free(e);
        snprintf(exp, sizeof exp, "%s/config.json", outdir);
        text = fs_read_file(exp, NULL, err, sizeof err);
        ModelConfig back;
        memset(&back, 0, sizeof back);
        bert_config_defaults(&back.bert);
        CHECKF(text && bert_config_from_json(&back.bert, text, exp, err, sizeof err) == 0, "%s", err);
        json_t *j = text ? json_loads(text, 0, NULL) : NULL;
        CHECKF(j && !strcmp(json_string_value(json_object_get(j, "model_type")), family_get(FAMILIES[k])->model_type),
               "%s: exported model_type", NAMES[k]);
        json_decref(j);
        free(text);
        CHECK(!memcmp(&back.bert, &mc.bert, sizeof mc.bert));
        Model m2;
        back.pooling = POOL_MEAN;
        if (model_create(&m2, &back, ops_cpu(), 2, 8, 0, MODEL_INIT_NONE, err, sizeof err) == 0) {
            snprintf(exp, sizeof exp, "%s/model.safetensors", outdir);
            CHECKF(model_load_safetensors(&m2, exp, 0, NULL, 0, err, sizeof err) == 0, "%s", err);
            m2.ops->to_host(got, m2.params, sizeof(float) * m2.table.total);
            CHECKF(m2.table.total == m.table.total && !memcmp(got, want, sizeof(float) * m.table.total),
                   "%s: export does not load back bit-equal", NAMES[k]);
            model_free(&m2);
        } else {
            CHECKF(0, "%s", err);
        }
        char cmd[1300];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
        CHECK(system(cmd) == 0);
    }
    free(want);
    free(got);
    model_free(&m);
}

static void check_names(void) {
    char out[256];
    struct { int fam; const char *hf, *canon; } cases[] = {
        {FAMILY_DISTILBERT, "distilbert.transformer.layer.1.ffn.lin2.weight", "bert.encoder.layer.1.output.dense.weight"},
        {FAMILY_DISTILBERT, "transformer.layer.0.sa_layer_norm.bias", "bert.encoder.layer.0.attention.output.LayerNorm.bias"},
        {FAMILY_DISTILBERT, "distilbert.embeddings.position_embeddings.weight", "bert.embeddings.position_embeddings.weight"},
        {FAMILY_DISTILBERT, "transformer.layer.11.attention.out_lin.weight", "bert.encoder.layer.11.attention.output.dense.weight"},
        {FAMILY_ROBERTA, "roberta.encoder.layer.3.attention.self.value.bias", "bert.encoder.layer.3.attention.self.value.bias"},
        {FAMILY_XLM_ROBERTA, "roberta.pooler.dense.weight", "bert.pooler.dense.weight"},
        {FAMILY_ELECTRA, "electra.embeddings_project.weight", "bert.embeddings_project.weight"},
        {FAMILY_ELECTRA, "embeddings.LayerNorm.gamma", "bert.embeddings.LayerNorm.weight"},
        {FAMILY_BERT, "encoder.layer.0.output.dense.bias", "bert.encoder.layer.0.output.dense.bias"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int enc = family_canonical_name(cases[i].fam, cases[i].hf, out, sizeof out);
        CHECKF(enc == 1 && !strcmp(out, cases[i].canon), "%s -> %s, want %s", cases[i].hf, out, cases[i].canon);
    }
    /* heads, MLM heads and other models' names are not encoder names */
    CHECK(family_canonical_name(FAMILY_ROBERTA, "lm_head.dense.weight", out, sizeof out) == 0);
    CHECK(family_canonical_name(FAMILY_ROBERTA, "bert.encoder.layer.0.output.dense.bias", out, sizeof out) == 0);
    CHECK(family_canonical_name(FAMILY_ELECTRA, "discriminator_predictions.dense.weight", out, sizeof out) == 0);
    family_hf_name(FAMILY_DISTILBERT, "bert.encoder.layer.2.attention.self.key.weight", out, sizeof out);
    CHECKF(!strcmp(out, "distilbert.transformer.layer.2.attention.k_lin.weight"), "%s", out);
    family_hf_name(FAMILY_XLM_ROBERTA, "heads.ner.weight", out, sizeof out);
    CHECK(!strcmp(out, "heads.ner.weight"));
    CHECK(family_position_offset(FAMILY_ROBERTA, 1) == 2 && family_position_offset(FAMILY_BERT, 0) == 0);
    /* an unknown model_type names what is supported */
    BertConfig c;
    char err[512];
    bert_config_defaults(&c);
    CHECK(bert_config_from_json(&c, "{\"model_type\": \"gpt2\"}", "cfg", err, sizeof err) == -1 &&
          strstr(err, "distilbert"));
    /* pooling 'pooler' needs a pooler */
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    bert_config_defaults(&mc.bert);
    CHECK(bert_config_from_json(&mc.bert, "{\"model_type\": \"electra\", \"hidden_size\": 8, \"num_attention_heads\": 2, "
                                "\"intermediate_size\": 8, \"num_hidden_layers\": 1, \"vocab_size\": 10}", "cfg", err,
                                sizeof err) == 0);
    mc.pooling = POOL_POOLER;
    Model m;
    CHECK(model_create(&m, &mc, ops_cpu(), 1, 4, 0, 1, err, sizeof err) == -1 && strstr(err, "no pooler"));
    /* RoBERTa's positions start at pad + 1: 514 rows hold 512 tokens */
    memset(&mc, 0, sizeof mc);
    bert_config_defaults(&mc.bert);
    CHECK(bert_config_from_json(&mc.bert, "{\"model_type\": \"roberta\", \"hidden_size\": 8, \"num_attention_heads\": 2, "
                                "\"intermediate_size\": 8, \"num_hidden_layers\": 1, \"vocab_size\": 10, "
                                "\"max_position_embeddings\": 10}", "cfg", err, sizeof err) == 0);
    CHECK(model_create(&m, &mc, ops_cpu(), 1, 9, 0, 1, err, sizeof err) == -1);
    CHECKF(model_create(&m, &mc, ops_cpu(), 1, 8, 0, 1, err, sizeof err) == 0, "%s", err);
    model_free(&m);
}

int main(void) {
    check_names();
    const char *fixtures[NFIX];
    char paths[NFIX][256];
    for (int k = 0; k < NFIX; k++) {
        snprintf(paths[k], sizeof paths[k], "tests/fixtures/families/%s.safetensors", NAMES[k]);
        fixtures[k] = paths[k];
    }
    parity_run_files(ops_cpu(), fixtures, NFIX);
    for (int k = 0; k < NFIX; k++) check_folder(k);
    return test_finish("test_parity_families");
}
