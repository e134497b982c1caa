/* test_config.c — YAML configuration: defaults, every key type, errors
 * (all reported at once, with line:column), suggestions, --set overrides,
 * the resolved dump's round trip, and the shipped configs. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "trainer/config/config.h"

static char tmpdir[] = "/tmp/mtbert_cfg_XXXXXX";

/* Write `text` to a fresh temporary .yaml file; returns its path (static). */
static const char *write_yaml(const char *text) {
    static char path[256];
    snprintf(path, sizeof path, "%s/cfgXXXXXX", tmpdir);
    int fd = mkstemp(path);
    if (fd < 0) return "/nonexistent";
    size_t n = strlen(text);
    if (write(fd, text, n) != (ssize_t)n) perror("write");
    close(fd);
    return path;
}

/* Load with overrides; the error text lands in `errs` (static buffer). */
static char errs[16384];
static int load(Config *c, const char *path, const char *const *ovr, int n) {
    FILE *f = fmemopen(errs, sizeof errs - 1, "w");
    memset(errs, 0, sizeof errs);
    int rc = config_load(c, path, ovr, n, f);
    fclose(f);
    return rc;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* the least a config needs: one task */
#define ONE_TASK "tasks: [{name: t, type: sentence_classification, num_labels: 2}]\n"

static void test_defaults(void) {
    Config c;
    const char *p = write_yaml("# nothing but a task\n" ONE_TASK);
    int rc = load(&c, p, NULL, 0);
    CHECKF(rc == 0, "%s", errs);
    if (rc) return;
    const BertConfig *b = &c.model.bert;
    CHECK(b->vocab_size == 30522 && b->hidden_size == 768 && b->num_hidden_layers == 12);
    CHECK(b->num_attention_heads == 12 && b->intermediate_size == 3072);
    CHECK(b->max_position_embeddings == 512 && b->type_vocab_size == 2 && b->hidden_act == GELU_ERF);
    CHECK(b->layer_norm_eps == 1e-12f && b->initializer_range == 0.02f);
    CHECK(b->hidden_dropout_prob == 0.1f && b->attention_probs_dropout_prob == 0.1f);
    CHECK(c.model.pooling == POOL_MEAN && c.model.embedding_dim == 0 && !c.model.normalize);
    CHECK(c.model.ntasks == 1 && c.task[0].tag_scheme == NER_SCHEME_DEFAULT && c.model_path == NULL && c.vocab == NULL && c.do_lower_case);
    CHECK(c.data.max_len == 128 && c.data.batch_size == 32 && !c.data.mixed_batches && c.data.shuffle);
    CHECK(c.sampling.strategy == SAMPLE_PROPORTIONAL && c.sampling.temperature == 2.0);
    CHECK(c.sampling.alternate_every == 1 && c.loss_weighting == LOSS_WEIGHTING_STATIC);
    CHECK(!c.freeze.embeddings && !c.freeze.backbone && !c.freeze.all && c.freeze.layers == 0);
    CHECK(c.optimizer.lr == 5e-5f && c.optimizer.weight_decay == 0.01f && c.optimizer.eps == 1e-8f);
    CHECK(c.optimizer.head_lr == c.optimizer.lr && c.optimizer.head_weight_decay == 0.01f);
    CHECK(c.optimizer.layer_decay == 1.0f && c.optimizer.max_grad_norm == 1.0f);
    CHECK(c.schedule.warmup_steps == 0 && c.schedule.decay == DECAY_LINEAR);
    CHECK(c.train.steps == 0 && c.train.epochs == 1.0 && c.train.grad_accum == 1 && c.train.seed == 42);
    CHECK(c.train.threads == 0 && c.train.backend == CFG_BACKEND_AUTO && c.train.nonfinite == NONFINITE_SKIP);
    CHECK(c.train.run_name && !strncmp(c.train.run_name, "cfg", 3));
    CHECK(c.train.run_dir && !strncmp(c.train.run_dir, "checkpoints/cfg", 15));
    CHECK(c.eval.every == 0 && !strcmp(c.eval.best_metric, "mean"));
    CHECK(c.logging.every == 10 && c.logging.jsonl);
    CHECK(c.checkpoint.keep_last == 3 && c.checkpoint.keep_best && !strcmp(c.checkpoint.resume, "none"));
    CHECK(c.bench.seq_len == 128 && c.bench.batch_size == 32 && c.bench.steps == 10 && c.bench.warmup == 2);
    config_free(&c);
}

static const char *full_yaml =
    "model:\n"
    "  path: models/tiny\n"
    "  do_lower_case: no\n"
    "  hidden_size: 64\n"
    "  num_layers: 3\n"
    "  num_heads: 4\n"
    "  intermediate_size: 128\n"
    "  hidden_act: gelu_new\n"
    "  layer_norm_eps: 1e-5\n"
    "  pooling: cls\n"
    "  embedding_dim: 32\n"
    "  normalize: true\n"
    "tasks:\n"
    "  - name: ner\n"
    "    type: token_classification\n"
    "    labels: [O, B-PER, I-PER, \"B,X\"]\n"
    "    tag_scheme: iob1\n"
    "    loss_weight: 2\n"
    "    data: {train: \"shards/ner-*.h5\", eval: shards/ner-dev.h5}\n"
    "  - name: topic\n"
    "    type: sentence_classification\n"
    "    num_labels: 4\n"
    "    oversample: 2.5\n"
    "    metric: macro_f1\n"
    "  - name: sts\n"
    "    type: sentence_similarity\n"
    "data: {max_len: 64, batch_size: 8, mixed_batches: true}\n"
    "sampling: {strategy: alternating, alternate_every: 5, anneal_steps: 100}\n"
    "loss_weighting: uncertainty\n"
    "freeze:\n"
    "  embeddings: true\n"
    "  layers: [0, 1-1]\n"
    "  heads: [topic]\n"
    "  unfreeze_at_step: {layer_1: 50, head_topic: 70, embeddings: 90}\n"
    "optimizer: {lr: 1e-4, layer_decay: 0.8, head_lr: 1e-3}\n"
    "schedule: {warmup_steps: 10, decay: cosine}\n"
    "train: {steps: 1e3, seed: 18446744073709551615, backend: cuda, precision: bf16, nonfinite: stop,\n"
    "        run_name: \"my run\"}\n"
    "eval: {every: 100, best_metric: ner.entity_f1}\n"
    "logging: {every: 5, jsonl: off}\n"
    "checkpoint: {every: 200, keep_last: 0, keep_best: false, resume: auto}\n"
    "bench: {seq_len: 32, frozen_backbone: true}\n";

static void test_all_types(void) {
    Config c;
    const char *p = write_yaml(full_yaml);
    int rc = load(&c, p, NULL, 0);
    CHECKF(rc == 0, "%s", errs);
    if (rc) return;
    CHECK(!strcmp(c.model_path, "models/tiny") && !strcmp(c.vocab, "models/tiny/vocab.txt"));
    CHECK(!c.do_lower_case && c.model.bert.hidden_size == 64 && c.model.bert.hidden_act == GELU_TANH);
    CHECK(c.model.bert.layer_norm_eps == 1e-5f && c.model.pooling == POOL_CLS);
    CHECK(c.model.embedding_dim == 32 && c.model.normalize);
    CHECK(c.model.ntasks == 3);
    const TaskConfig *t = c.model.tasks;
    CHECK(!strcmp(t[0].name, "ner") && t[0].type == TASK_TOKEN_CLS && t[0].num_labels == 4);
    CHECK(c.task[0].nlabels == 4 && !strcmp(c.task[0].labels[3], "B,X") && c.task[0].tag_scheme == NER_SCHEME_IOB1);
    CHECK(t[0].loss_weight == 2.0f && !strcmp(c.task[0].train, "shards/ner-*.h5"));
    CHECK(!strcmp(c.task[0].metric, "entity_f1"));
    CHECK(t[1].type == TASK_SENTENCE_CLS && t[1].num_labels == 4 && c.task[1].nlabels == 0);
    CHECK(c.task[1].oversample == 2.5f && !strcmp(c.task[1].metric, "macro_f1") && !c.task[1].train);
    CHECK(t[2].type == TASK_SIMILARITY && t[2].num_labels == 1 && !strcmp(c.task[2].metric, "spearman"));
    CHECK(c.data.max_len == 64 && c.data.batch_size == 8 && c.data.mixed_batches);
    CHECK(c.sampling.strategy == SAMPLE_ALTERNATING && c.sampling.alternate_every == 5);
    CHECK(c.loss_weighting == LOSS_WEIGHTING_UNCERTAINTY);
    CHECK(c.freeze.embeddings && c.freeze.layers == 3 && c.freeze.nheads == 1 && c.freeze.head_mask == 2);
    CHECK(c.freeze.nunfreeze == 3 && !strcmp(c.freeze.unfreeze[1].group, "head_topic") &&
          c.freeze.unfreeze[1].step == 70);
    CHECK(c.optimizer.lr == 1e-4f && c.optimizer.head_lr == 1e-3f && c.optimizer.layer_decay == 0.8f);
    CHECK(c.schedule.warmup_steps == 10 && c.schedule.decay == DECAY_COSINE);
    CHECK(c.train.steps == 1000 && c.train.epochs == 0 && c.train.seed == 18446744073709551615ULL);
    CHECK(c.train.backend == CFG_BACKEND_CUDA && c.train.precision == CFG_PRECISION_BF16);
    CHECK(c.train.nonfinite == NONFINITE_STOP && !strcmp(c.train.run_dir, "checkpoints/my run"));
    CHECK(c.eval.every == 100 && !strcmp(c.eval.best_metric, "ner.entity_f1"));
    CHECK(c.logging.every == 5 && !c.logging.jsonl);
    CHECK(c.checkpoint.every == 200 && c.checkpoint.keep_last == 0 && !c.checkpoint.keep_best);
    CHECK(!strcmp(c.checkpoint.resume, "auto") && c.bench.seq_len == 32 && c.bench.frozen_backbone);
    config_free(&c);
}

/* Several problems in one file: all reported, in order, with line:column. */
static void test_many_errors(void) {
    Config c;
    const char *p = write_yaml(
        "model:\n"                              /* 1 */
        "  hidden_size: abc\n"                  /* 2: type, col 16 */
        "  num_layers: 0\n"                     /* 3: range, col 15 */
        "  pooling: avg\n"                      /* 4: enum, col 12 */
        "  hiden_act: gelu\n"                   /* 5: unknown, col 3 */
        "  embedding_dim: -4\n"                 /* 6: range, col 18 */
        "tasks:\n"                              /* 7 */
        "  - name: a\n"                         /* 8 */
        "    type: sentence_classification\n"   /* 9 */
        "    num_labels: 3\n"                   /* 10 */
        "  - name: a\n"                         /* 11: same name, col 11 */
        "    type: token_classification\n"      /* 12 */
        "optimizer:\n"                          /* 13 */
        "  lr: 1e-5\n"                          /* 14 */
        "  lr: 2e-5\n"                          /* 15: duplicate, col 3 */
        "optimiser: {}\n");                     /* 16: unknown, col 1 */
    CHECK(load(&c, p, NULL, 0) == 2);
    char want[8][160];
    snprintf(want[0], 160, "%s:2:16: model.hidden_size: expected an integer, got 'abc'", p);
    snprintf(want[1], 160, "%s:3:15: model.num_layers: must be in [1, 64], got 0", p);
    snprintf(want[2], 160, "%s:4:12: model.pooling: must be one of mean, cls, max, pooler; got 'avg'", p);
    snprintf(want[3], 160, "%s:5:3: unknown key 'hiden_act' in model (did you mean 'hidden_act'?)", p);
    snprintf(want[4], 160, "%s:6:18: model.embedding_dim: must be in [0, 65536], got -4", p);
    snprintf(want[5], 160, "%s:11:11: tasks.1.name: two tasks are named 'a'", p);
    snprintf(want[6], 160, "%s:15:3: duplicate key 'lr' in optimizer (first at line 14)", p);
    snprintf(want[7], 160, "%s:16:1: unknown key 'optimiser' (did you mean 'optimizer'?)", p);
    const char *at = errs;
    for (int i = 0; i < 8; i++) {
        const char *hit = strstr(at, want[i]);
        CHECKF(hit != NULL, "missing or out of order: %s\nin:\n%s", want[i], errs);
        if (hit) at = hit + 1;
    }
    /* the token task without labels is one more problem */
    CHECKF(strstr(errs, "tasks.1: give 'labels'") != NULL, "%s", errs);
    CHECKF(count_lines(errs) == 9, "%d lines:\n%s", count_lines(errs), errs);
}

static void expect_error(const char *yaml, const char *const *ovr, int n, const char *want) {
    Config c;
    const char *p = write_yaml(yaml);
    int rc = load(&c, p, ovr, n);
    CHECKF(rc == 2 && strstr(errs, want), "rc %d; expected '%s' in:\n%s", rc, want, errs);
}

static void test_contradictions(void) {
    expect_error("model: {hidden_size: 100, num_heads: 12}\n", NULL, 0,
                 ":1:22: model.hidden_size: 100 is not divisible by model.num_heads (12)");
    expect_error("schedule: {warmup_steps: 500}\ntrain: {steps: 100}\n", NULL, 0,
                 ":1:26: schedule.warmup_steps: 500 warm-up steps are longer than training");
    expect_error("train: {steps: 100, epochs: 2}\n", NULL, 0, "give steps or epochs, not both");
    expect_error("schedule: {warmup_steps: 5, warmup_ratio: 0.1}\n", NULL, 0, "not both");
    expect_error("model: {num_layers: 4}\nfreeze: {layers: 2-5}\n", NULL, 0,
                 ":2:18: freeze.layers: layer 5 is beyond the model's 4 layers (0-3)");
    expect_error("freeze: {unfreeze_at_step: {layer_3: 10}}\n", NULL, 0,
                 "freeze.unfreeze_at_step.layer_3: layer 3 is not frozen");
    expect_error("tasks:\n  - {name: ner, type: token_classification, num_labels: 3}\nfreeze: {heads: [nr]}\n", NULL,
                 0, "freeze.heads: no task named 'nr' (did you mean 'ner'?)");
    expect_error("tasks:\n  - {name: ner, type: token_classification, num_labels: 3}\n"
                 "eval: {best_metric: ner.accuracy}\n", NULL, 0,
                 "eval.best_metric: 'accuracy' is not a metric of task 'ner'");
    expect_error("tasks:\n  - {name: s, type: sentence_classification, labels: [a, b], num_labels: 3}\n", NULL,
                 0, "tasks.0.num_labels: 3, but 2 labels are listed");
    expect_error("tasks:\n  - {name: s}\n", NULL, 0, ":2:5: tasks.0: missing 'type'");
    expect_error("tasks:\n  - {name: s, type: sentence_similarity, num_labels: 3}\n", NULL, 0,
                 "predicts one score");
    expect_error("data: {max_len: 1024}\n", NULL, 0, "data.max_len: 1024 is more than model.max_position_embeddings");
    expect_error("model: {pooling: [cls]}\n", NULL, 0, "model.pooling: expected a name, got a list");
    expect_error("model: {normalize: maybe}\n", NULL, 0, "model.normalize: expected true or false, got 'maybe'");
    expect_error("optimizer: {beta2: 1.0}\n", NULL, 0, "optimizer.beta2: must be in [0, 1), got 1.0");
    expect_error("model:\n  hidden_size: [1\n", NULL, 0, ":3:1: YAML syntax error:");
    expect_error("model: &a {hidden_size: 8}\n", NULL, 0, "anchors");
    /* a token task with any pooling is fine */
    Config c;
    const char *p = write_yaml("model: {pooling: max}\ntasks:\n  - {name: ner, type: token_classification, num_labels: 5}\n");
    CHECKF(load(&c, p, NULL, 0) == 0, "%s", errs);
    config_free(&c);
    /* bf16 on the cpu backend is accepted: the cpu-bf16 numerics reference */
    p = write_yaml("train: {backend: cpu, precision: bf16}\n"
                   "tasks:\n  - {name: ner, type: token_classification, num_labels: 5}\n");
    CHECKF(load(&c, p, NULL, 0) == 0, "%s", errs);
    CHECK(c.train.backend == CFG_BACKEND_CPU && c.train.precision == CFG_PRECISION_BF16);
    config_free(&c);
    CHECK(load(&c, "/nonexistent/dir/x.yaml", NULL, 0) == 2);
    CHECKF(strstr(errs, "/nonexistent/dir/x.yaml: cannot open: No such file or directory") != NULL, "%s", errs);
}

static void test_overrides(void) {
    const char *yaml = "model: {num_layers: 2, hidden_size: 64, num_heads: 4}\n"
                       "tasks:\n"
                       "  - {name: topic, type: sentence_classification, num_labels: 3}\n"
                       "  - {name: ner, type: token_classification, num_labels: 5}\n";
    const char *ok[] = {"optimizer.lr=3e-5", "tasks.0.loss_weight=2", "model.pooling=cls",
                        "tasks.ner.dropout=0.3", "freeze.layers=[0, 1]", "tasks.1.labels=[O, B-X, I-X, B-Y, I-Y]",
                        "train.run_name=sweep-1", "model.path="};
    Config c;
    const char *p = write_yaml(yaml);
    int rc = load(&c, p, ok, 8);
    CHECKF(rc == 0, "%s", errs);
    if (rc) return;
    CHECK(c.optimizer.lr == 3e-5f && c.optimizer.head_lr == 3e-5f);
    CHECK(c.model.tasks[0].loss_weight == 2.0f && c.model.pooling == POOL_CLS);
    CHECK(c.model.tasks[1].dropout == 0.3f && c.freeze.layers == 3 && c.task[1].nlabels == 5);
    CHECK(!strcmp(c.train.run_name, "sweep-1") && !c.model_path);
    config_free(&c);

    const char *unknown[] = {"optimizer.lrr=1"};
    expect_error(yaml, unknown, 1, "--set optimizer.lrr=1: unknown key 'optimizer.lrr' (did you mean 'optimizer.lr'?)");
    const char *unknown2[] = {"tasks.0.los_weight=1"};
    expect_error(yaml, unknown2, 1,
                 "--set tasks.0.los_weight=1: unknown key 'tasks.0.los_weight' (did you mean 'tasks.0.loss_weight'?)");
    const char *section[] = {"modle.hidden_size=8"};
    expect_error(yaml, section, 1, "(did you mean 'model.hidden_size'?)");
    const char *bad[] = {"model.hidden_size=big"};
    expect_error(yaml, bad, 1, "--set model.hidden_size=big: model.hidden_size: expected an integer, got 'big'");
    const char *index[] = {"tasks.2.loss_weight=1"};
    expect_error(yaml, index, 1, "--set tasks.2.loss_weight=1: index 2 is out of range: 'tasks' has 2 items");
    const char *name[] = {"tasks.pos.loss_weight=1"};
    expect_error(yaml, name, 1, "'tasks' has no item named 'pos'");
    const char *noeq[] = {"optimizer.lr"};
    expect_error(yaml, noeq, 1, "--set optimizer.lr: expected KEY=VALUE");
    const char *through[] = {"model.hidden_size.x=1"};
    expect_error(yaml, through, 1, "'model.hidden_size' holds a value");
    const char *syntax[] = {"tasks.0.labels=[a, b"};
    expect_error(yaml, syntax, 1, "--set tasks.0.labels=[a, b: cannot read the value as YAML");
    /* file errors and override errors together */
    const char *two[] = {"optimizer.lr=-1", "bench.steps=0"};
    expect_error("optimizer: {eps: 0}\n" ONE_TASK, two, 2, "optimizer.eps: must be in (0, 1]");
    CHECKF(strstr(errs, "--set optimizer.lr=-1: optimizer.lr: must be in (0, 10]") &&
               strstr(errs, "--set bench.steps=0: bench.steps: must be in [1, 1000000]") && count_lines(errs) == 3,
           "%s", errs);
}

static int read_all(const char *path, char *buf, size_t len) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = 0;
    fclose(f);
    return 0;
}

static void roundtrip(const char *path) {
    Config a, b;
    char out1[512], out2[512], err[256];
    static char t1[65536], t2[65536];
    int rc = load(&a, path, NULL, 0);
    CHECKF(rc == 0, "%s: %s", path, errs);
    if (rc) return;
    snprintf(out1, sizeof out1, "%s/resolved1.yaml", tmpdir);
    snprintf(out2, sizeof out2, "%s/resolved2.yaml", tmpdir);
    CHECKF(config_write_resolved(&a, out1, err, sizeof err) == 0, "%s", err);
    rc = load(&b, out1, NULL, 0);
    CHECKF(rc == 0, "%s reloaded: %s", path, errs);
    if (rc) {
        config_free(&a);
        return;
    }
    CHECKF(config_write_resolved(&b, out2, err, sizeof err) == 0, "%s", err);
    CHECK(read_all(out1, t1, sizeof t1) == 0 && read_all(out2, t2, sizeof t2) == 0);
    /* identical but for the header comment naming the source */
    const char *s1 = strchr(t1, '\n'), *s2 = strchr(t2, '\n');
    CHECKF(s1 && s2 && !strcmp(s1, s2), "round trip of %s differs:\n%s\n---\n%s", path, t1, t2);
    CHECK(a.model.ntasks == b.model.ntasks && a.freeze.layers == b.freeze.layers);
    CHECK(a.train.seed == b.train.seed && a.optimizer.lr == b.optimizer.lr);
    config_free(&a);
    config_free(&b);
}

static void test_roundtrip(void) {
    roundtrip(write_yaml(full_yaml));
    roundtrip(write_yaml(ONE_TASK));
}

static void test_shipped(void) {
    const char *files[] = {"configs/example-multitask.yaml", "configs/bench/bert-mini.yaml",
                           "configs/bench/bert-base.yaml"};
    char path[1024];
    for (int i = 0; i < 3; i++) {
        Config c;
        test_source_path(files[i], path, sizeof path);
        int rc = load(&c, path, NULL, 0);
        CHECKF(rc == 0, "%s: %s", path, errs);
        if (!rc && i > 0) {
            CHECK(c.model.ntasks == 2 && c.model.tasks[1].type == TASK_TOKEN_CLS && c.bench.seq_len == 128);
            CHECK(c.model.bert.num_hidden_layers == (i == 1 ? 4 : 12));
        }
        config_free(&c);
        roundtrip(path);
    }
    /* and every other .yaml under configs/ and configs/bench/ */
    const char *dirs[] = {"configs", "configs/bench"};
    for (int d = 0; d < 2; d++) {
        char cmd[1200], line[1024];
        test_source_path(dirs[d], path, sizeof path);
        snprintf(cmd, sizeof cmd, "ls %s/*.yaml 2>/dev/null", path);
        FILE *ls = popen(cmd, "r");
        if (!ls) continue;
        while (fgets(line, sizeof line, ls)) {
            line[strcspn(line, "\n")] = 0;
            Config c;
            CHECKF(load(&c, line, NULL, 0) == 0, "%s: %s", line, errs);
            config_free(&c);
        }
        pclose(ls);
    }
}

/* issue 15 (2, 20, 23) and issue 14 (no key without an effect) */
static void test_reliability(void) {
    Config c;
    /* 2: no task at all is an error with FILE:LINE, however it comes about */
    expect_error("data: {batch_size: 4}\n", NULL, 0, ":1:1: tasks: no task is configured");
    const char *none[] = {"tasks=[]"};
    expect_error(ONE_TASK, none, 1, "--set tasks=[]: tasks: no task is configured");
    expect_error("tasks: []\n", NULL, 0, ":1:8: tasks: no task is configured");
    /* 20: all loss weights zero */
    expect_error("tasks:\n  - {name: a, type: sentence_classification, num_labels: 2, loss_weight: 0}\n"
                 "  - {name: b, type: sentence_classification, num_labels: 2, loss_weight: 0.0}\n", NULL, 0,
                 "tasks: every task's loss_weight is 0");
    const char *zero[] = {"tasks.0.loss_weight=0"};
    expect_error(ONE_TASK, zero, 1, "--set tasks.0.loss_weight=0: tasks: every task's loss_weight is 0");
    const char *one_zero[] = {"tasks.a.loss_weight=0"};
    const char *two = "tasks:\n  - {name: a, type: sentence_classification, num_labels: 2}\n"
                      "  - {name: b, type: sentence_classification, num_labels: 2}\n";
    CHECKF(load(&c, write_yaml(two), one_zero, 1) == 0, "one weight 0 is fine: %s", errs);
    config_free(&c);
    /* 23: a rejected max_len is reported once, not again as the default 128 */
    const char *big[] = {"data.max_len=100000"};
    expect_error("model: {max_position_embeddings: 64}\n" ONE_TASK, big, 1,
                 "--set data.max_len=100000: data.max_len: must be in [2, 65536], got 100000");
    CHECKF(count_lines(errs) == 1 && !strstr(errs, "128"), "%s", errs);
    /* ... and the default follows a smaller model, as bench.seq_len's */
    CHECKF(load(&c, write_yaml("model: {max_position_embeddings: 64}\n" ONE_TASK), NULL, 0) == 0, "%s", errs);
    CHECK(c.data.max_len == 64 && c.bench.seq_len == 64);
    config_free(&c);
    expect_error("model: {max_position_embeddings: 64}\ndata: {max_len: 100}\n" ONE_TASK, NULL, 0,
                 ":2:17: data.max_len: 100 is more than model.max_position_embeddings (64)");
    /* 23: a key inside a mapping given as an override's value */
    const char *nested[] = {"tasks.0.data={trian: x}"};
    expect_error(ONE_TASK, nested, 1, "unknown key 'tasks.0.data.trian' (did you mean 'tasks.0.data.train'?)");
    CHECKF(!strstr(errs, "'tasks.0.data' (did you mean 'tasks.0.data'"), "%s", errs);
    const char *model_map[] = {"model={hiden_size: 3}"};
    expect_error(ONE_TASK, model_map, 1, "unknown key 'model.hiden_size' (did you mean 'model.hidden_size'?)");
    const char *plain[] = {"tasks.0.dta=1"};
    expect_error(ONE_TASK, plain, 1, "unknown key 'tasks.0.dta' (did you mean 'tasks.0.data'?)");
    /* issue 14: train.deterministic is gone (it changed nothing) */
    const char *det[] = {"train.deterministic=true"};
    expect_error(ONE_TASK, det, 1, "unknown key 'train.deterministic'");
    /* tag_scheme: iob2 / iob1 / conlleval, and only where entities are read */
    const char *iob1[] = {"tasks.0.tag_scheme=iob1"};
    expect_error(ONE_TASK, iob1, 1, "tasks.0.tag_scheme: only a token_classification task reads entities");
    CHECKF(load(&c, write_yaml("tasks: [{name: n, type: token_classification, num_labels: 3, tag_scheme: iob1}]\n"),
                NULL, 0) == 0, "%s", errs);
    CHECK(c.task[0].tag_scheme == NER_SCHEME_IOB1);
    /* 18: layer indices against the depth of the model really loaded */
    char err[512];
    config_free(&c);
    CHECKF(load(&c, write_yaml("freeze: {layers: [0-2, 11], unfreeze_at_step: {layer_11: 5}}\n" ONE_TASK), NULL, 0) == 0,
           "%s", errs);
    CHECK(config_check_depth(&c, 12, "m", err, sizeof err) == 0);
    CHECK(config_check_depth(&c, 6, "models/minilm", err, sizeof err) == -1);
    CHECKF(!strcmp(err, "freeze.layers: layer 11 is beyond the 6 layers (0-5) of models/minilm"), "%s", err);
    c.freeze.layers = 7;
    CHECK(config_check_depth(&c, 6, "models/minilm", err, sizeof err) == -1);
    CHECKF(strstr(err, "freeze.unfreeze_at_step.layer_11: layer 11 is beyond the 6 layers"), "%s", err);
    config_free(&c);

    /* 5: threads capped at the cores, OMP_NUM_THREADS for threads 0, else
     * the cores over the ranks of the node */
    CHECKF(load(&c, write_yaml(ONE_TASK), NULL, 0) == 0, "%s", errs);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
    char logbuf[1024];
    FILE *log = fmemopen(logbuf, sizeof logbuf, "w");
    unsetenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    unsetenv("MPI_LOCALNRANKS");
    unsetenv("LOCAL_WORLD_SIZE");
    unsetenv("SLURM_NTASKS_PER_NODE");
    c.train.threads = 4096;
    CHECK(config_resolve_threads(&c, 1, log) == cores);
    fflush(log);
    CHECKF(strstr(logbuf, "warning: train.threads asks for 4096 threads, more than the"), "%s", logbuf);
    fclose(log);
    c.train.threads = 1;
    CHECK(config_resolve_threads(&c, 1, NULL) == 1);
    c.train.threads = 0;
    setenv("OMP_NUM_THREADS", "1,1", 1);
    CHECK(config_resolve_threads(&c, 4, NULL) == 1);
    setenv("OMP_NUM_THREADS", "100000", 1);
    CHECK(config_resolve_threads(&c, 1, NULL) == cores);
    unsetenv("OMP_NUM_THREADS");
    CHECK(config_resolve_threads(&c, 1, NULL) == cores);
    setenv("OMPI_COMM_WORLD_LOCAL_SIZE", "2", 1);
    CHECK(config_resolve_threads(&c, 8, NULL) == (cores / 2 > 0 ? cores / 2 : 1));
    unsetenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    config_free(&c);
}

int main(void) {
    if (!mkdtemp(tmpdir)) return test_skip("cannot create a temporary directory");
    test_defaults();
    test_all_types();
    test_many_errors();
    test_contradictions();
    test_overrides();
    test_roundtrip();
    test_shipped();
    test_reliability();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish("test_config");
}
