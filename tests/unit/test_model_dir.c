/* test_model_dir.c — model folders: export (Hugging Face + sentence-
 * transformers layout + heads) and load back bit-identically with identical
 * outputs; loading reports missing, unexpected and wrongly shaped tensors
 * by name; bad config.json and missing files name the file; the tokenizer
 * files (tokenizer.json wins over vocab.txt, saved as it came) and the
 * RoBERTa default length (family_max_tokens, not max_position_embeddings). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/tokenizer_json.h"
#include "testutil.h"
#include "util/fsutil.h"
#include "trainer/store/hf_config.h"
#include "trainer/store/model_dir.h"
#include "trainer/store/safetensors.h"

static ModelConfig tiny(void) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    bert_config_defaults(&mc.bert);
    mc.bert.vocab_size = 12;
    mc.bert.hidden_size = 8;
    mc.bert.num_hidden_layers = 2;
    mc.bert.num_attention_heads = 2;
    mc.bert.intermediate_size = 16;
    mc.bert.max_position_embeddings = 16;
    mc.bert.initializer_range = 0.5f;
    mc.pooling = POOL_MAX;
    mc.embedding_dim = 6;
    mc.normalize = 1;
    mc.ntasks = 2;
    snprintf(mc.tasks[0].name, MAX_NAME, "topic");
    mc.tasks[0].type = TASK_SENTENCE_CLS;
    mc.tasks[0].num_labels = 3;
    mc.tasks[0].loss_weight = 1;
    snprintf(mc.tasks[1].name, MAX_NAME, "ner");
    mc.tasks[1].type = TASK_TOKEN_CLS;
    mc.tasks[1].num_labels = 5;
    mc.tasks[1].loss_weight = 2;
    return mc;
}

static void run(Model *m, float *emb, float *logits) {
    int ids[2 * 5] = {2, 5, 6, 7, 3, 2, 8, 3, 0, 0};
    int mask[2 * 5] = {1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
    Batch b = {.B = 2, .T = 5, .input_ids = ids, .mask = mask};
    m->training = 0;
    model_forward(m, &b);
    model_get_embeddings(m, emb);
    model_get_logits(m, 1, logits);
}

static int has_file(const char *dir, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, R_OK) == 0;
}

/* tokenizer.json and vocab.txt in a folder: which one is read, and which
 * ones a save writes; RoBERTa's default max_seq_length. */
static void test_tokenizer_files(const char *dir, Model *m) {
    char err[2048], f[600], p[1200], fix[1024];
    ModelDir d;
    CHECK(test_source_path("tests/fixtures/tokenizers/bpe.json", fix, sizeof fix) != NULL);
    /* saved from a tokenizer.json: tokenizer.json, no vocab.txt, a fast-tokenizer config */
    snprintf(f, sizeof f, "%s/tj", dir);
    CHECKF(model_dir_save(m, f, fix, 1, 16, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(has_file(f, "tokenizer.json") && !has_file(f, "vocab.txt"));
    snprintf(p, sizeof p, "%s/tokenizer_config.json", f);
    char *tc = fs_read_file(p, NULL, err, sizeof err);
    CHECKF(tc && strstr(tc, "PreTrainedTokenizerFast") && strstr(tc, "\"cls_token\": \"<s>\"") &&
           strstr(tc, "\"pad_token\": \"<pad>\""), "%s", tc ? tc : err);
    free(tc);
    CHECKF(model_dir_read(&d, f, err, sizeof err) == 0, "%s", err);
    snprintf(p, sizeof p, "%s/tokenizer.json", f);
    CHECK(d.tokenizer_json == 1 && d.vocab_txt_unused == 0 && !strcmp(d.vocab, p));
    model_dir_free(&d);
    /* a vocab.txt beside it: still tokenizer.json, the vocab.txt marked unused */
    snprintf(p, sizeof p, "%s/vocab.txt", f);
    const char *v = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n";
    CHECK(fs_write_atomic(p, v, strlen(v), err, sizeof err) == 0);
    CHECKF(model_dir_read(&d, f, err, sizeof err) == 0, "%s", err);
    CHECK(d.tokenizer_json == 1 && d.vocab_txt_unused == 1 && strstr(d.vocab, "/tokenizer.json"));
    model_dir_free(&d);
    /* re-saved from there: both files come along */
    char g[700];
    snprintf(g, sizeof g, "%s/tj2", dir);
    snprintf(p, sizeof p, "%s/tokenizer.json", f);
    CHECKF(model_dir_save(m, g, p, 1, 16, NULL, err, sizeof err) == 0, "%s", err);
    CHECK(has_file(g, "tokenizer.json") && has_file(g, "vocab.txt"));
    /* vocab.txt alone */
    snprintf(p, sizeof p, "%s/tokenizer.json", f);
    unlink(p);
    CHECKF(model_dir_read(&d, f, err, sizeof err) == 0, "%s", err);
    CHECK(d.tokenizer_json == 0 && d.vocab_txt_unused == 0 && strstr(d.vocab, "/vocab.txt"));
    model_dir_free(&d);
    /* neither */
    snprintf(p, sizeof p, "%s/vocab.txt", f);
    unlink(p);
    CHECK(model_dir_read(&d, f, err, sizeof err) != 0);
    CHECKF(strstr(err, "vocab.txt") && strstr(err, "tokenizer.json"), "%s", err);

    /* RoBERTa: 20 position rows, pad 1 -> 18 tokens by default (and a
     * sentence_bert_config max_seq_length of 20 is not taken) */
    char r[700], src[1024];
    snprintf(r, sizeof r, "%s/roberta", dir);
    CHECK(test_source_path("tests/fixtures/families/roberta_pooler", src, sizeof src) != NULL);
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && cp '%s' '%s/tokenizer.json'", src, r, fix, r);
    CHECK(system(cmd) == 0);
    CHECKF(model_dir_read(&d, r, err, sizeof err) == 0, "%s", err);
    CHECKF(d.max_seq_length == 18, "roberta max_seq_length %d, expected 18", d.max_seq_length);
    model_dir_free(&d);
    snprintf(p, sizeof p, "%s/sentence_bert_config.json", r);
    const char *sb = "{\"max_seq_length\": 20}";
    CHECK(fs_write_atomic(p, sb, strlen(sb), err, sizeof err) == 0);
    CHECKF(model_dir_read(&d, r, err, sizeof err) == 0, "%s", err);
    CHECKF(d.max_seq_length == 18, "roberta max_seq_length %d with sentence_bert_config 20", d.max_seq_length);
    model_dir_free(&d);
}

int main(void) {
    char dir[] = "/tmp/mtbert-test-md-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char vocab[512], p[1024], err[2048], report[4096];
    snprintf(vocab, sizeof vocab, "%s/src-vocab.txt", dir);
    const char *v = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\nd\ne\nf\ng\n";
    CHECK(fs_write_atomic(vocab, v, strlen(v), err, sizeof err) == 0);

    ModelConfig mc = tiny();
    Model a, b;
    CHECK(model_create(&a, &mc, ops_cpu(), 2, 5, 0, 11, err, sizeof err) == 0);
    char out[600];
    snprintf(out, sizeof out, "%s/export", dir);
    char *names0[] = {"x", "y", "z"};
    LabelNames labels[2] = {{3, names0, NULL}, {0, NULL, "iob1"}};
    CHECKF(model_dir_save(&a, out, vocab, 1, 16, labels, err, sizeof err) == 0, "%s", err);

    /* the folder has the Hugging Face and sentence-transformers files */
    const char *files[] = {"config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json",
                           "special_tokens_map.json", "modules.json", "sentence_bert_config.json",
                           "1_Pooling/config.json", "2_Dense/config.json", "2_Dense/model.safetensors",
                           "mtbert_tasks.json", "mtbert_heads.safetensors"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", out, files[i]);
        CHECKF(access(p, R_OK) == 0, "%s missing", p);
    }

    /* read back: same shape, same sentence settings, same tasks */
    ModelDir d;
    CHECKF(model_dir_read(&d, out, err, sizeof err) == 0, "%s", err);
    CHECK(d.mc.pooling == POOL_MAX && d.mc.embedding_dim == 6 && d.mc.normalize == 1);
    CHECK(d.mc.ntasks == 2 && !strcmp(d.mc.tasks[1].name, "ner") && d.mc.tasks[1].num_labels == 5);
    CHECK(d.tag_scheme[1] == NER_SCHEME_IOB1); /* the token task's tag_scheme comes back */
    CHECK(d.mc.bert.hidden_size == 8 && d.mc.bert.num_hidden_layers == 2 && d.max_seq_length == 16);
    CHECK(model_create(&b, &d.mc, ops_cpu(), 2, 5, 0, 99, err, sizeof err) == 0);
    CHECK(memcmp(a.params, b.params, sizeof(float) * a.table.total) != 0); /* different seeds */
    CHECKF(model_dir_load(&b, &d, report, sizeof report, err, sizeof err) == 0, "%s", err);
    CHECK(a.table.total == b.table.total);
    CHECKF(memcmp(a.params, b.params, sizeof(float) * a.table.total) == 0, "round trip is not bit-identical");
    float ea[2 * 6], eb[2 * 6], la[2 * 5 * 5], lb[2 * 5 * 5];
    run(&a, ea, la);
    run(&b, eb, lb);
    CHECK(memcmp(ea, eb, sizeof ea) == 0 && memcmp(la, lb, sizeof la) == 0);

    /* a wrongly shaped tensor is named */
    snprintf(p, sizeof p, "%s/model.safetensors", out);
    float junk[9] = {0};
    StWriteTensor bad[] = {{"embeddings.LayerNorm.weight", ST_F32, 1, {9}, junk}};
    CHECK(st_write(p, bad, 1, NULL, err, sizeof err) == 0);
    model_free(&b);
    CHECK(model_create(&b, &d.mc, ops_cpu(), 2, 5, 0, 99, err, sizeof err) == 0);
    CHECK(model_dir_load(&b, &d, report, sizeof report, err, sizeof err) != 0);
    CHECKF(strstr(err, "embeddings.LayerNorm.weight") && strstr(err, "[9]") && strstr(err, "[8]"), "%s", err);

    /* missing tensors are all named; an unexpected one is reported */
    float eight[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    StWriteTensor partial[] = {{"embeddings.LayerNorm.weight", ST_F32, 1, {8}, eight},
                               {"cls.predictions.bias", ST_F32, 1, {8}, eight}};
    CHECK(st_write(p, partial, 2, NULL, err, sizeof err) == 0);
    CHECK(model_dir_load(&b, &d, report, sizeof report, err, sizeof err) != 0);
    CHECKF(strstr(err, "missing") && strstr(err, "bert.encoder.layer.1.output.dense.weight"), "%s", err);
    CHECK(model_load_safetensors(&b, p, 1, report, sizeof report, err, sizeof err) == 0);
    CHECKF(strstr(report, "unexpected tensor cls.predictions.bias"), "%s", report);
    model_dir_free(&d); /* its label names; d is read again below */
    test_tokenizer_files(dir, &a);

    /* config.json problems name the file and key */
    snprintf(p, sizeof p, "%s/config.json", out);
    const char *cj = "{\"model_type\": \"bert\", \"hidden_size\": 8, \"hidden_act\": \"relu\"}";
    CHECK(fs_write_atomic(p, cj, strlen(cj), err, sizeof err) == 0);
    CHECK(model_dir_read(&d, out, err, sizeof err) != 0);
    CHECKF(strstr(err, "config.json") && strstr(err, "hidden_act"), "%s", err);
    const char *cj2 = "{\"hidden_size\": 8, \"num_attention_heads\": 3}";
    CHECK(fs_write_atomic(p, cj2, strlen(cj2), err, sizeof err) == 0);
    CHECK(model_dir_read(&d, out, err, sizeof err) != 0);
    CHECKF(strstr(err, "not divisible"), "%s", err);
    const char *cj3 = "{\"hidden_size\": 8,";
    CHECK(fs_write_atomic(p, cj3, strlen(cj3), err, sizeof err) == 0);
    CHECK(model_dir_read(&d, out, err, sizeof err) != 0);
    CHECKF(strstr(err, "config.json:"), "%s", err);

    /* a folder without weights */
    snprintf(p, sizeof p, "%s/model.safetensors", out);
    unlink(p);
    snprintf(p, sizeof p, "%s/config.json", out);
    const char *ok = "{\"hidden_size\": 8, \"num_attention_heads\": 2}";
    CHECK(fs_write_atomic(p, ok, strlen(ok), err, sizeof err) == 0);
    CHECK(model_dir_read(&d, out, err, sizeof err) != 0);
    CHECKF(strstr(err, "model.safetensors"), "%s", err);

    model_free(&a);
    model_free(&b);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
    return test_finish("test_model_dir");
}
