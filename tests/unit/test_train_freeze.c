/* test_train_freeze.c — freezing through the config and the real training
 * loop (config_load -> trainer_setup -> trainer_run on synthetic shards):
 * frozen tensors end bit-identical to their initial values (taken from the
 * model right after set-up, before any step) and every trainable tensor
 * moves. Cases: freeze.backbone; freeze.embeddings + freeze.layers;
 * freeze.heads; freeze.all (evaluates only, and says so);
 * unfreeze_at_step for the backbone and for one layer: the group is
 * unchanged after S steps and changes with step S+1. */

#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "comm/comm.h"
#include "data/synthetic.h"
#include "testutil.h"
#include "trainer/config/config.h"
#include "trainer/train/train.h"

static char dir[256], cfg_path[300];
static Comm comm;

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void write_config(void) {
    snprintf(cfg_path, sizeof cfg_path, "%s/freeze.yaml", dir);
    FILE *f = fopen(cfg_path, "w");
    fprintf(f,
            "model:\n"
            "  vocab: %s/data/vocab.txt\n"
            "  vocab_size: 600\n  hidden_size: 16\n  num_layers: 2\n  num_heads: 2\n"
            "  intermediate_size: 32\n  max_position_embeddings: 32\n"
            "  pooling: pooler\n  embedding_dim: 12\n"
            "tasks:\n"
            "  - {name: topic, type: sentence_classification, num_labels: 5, data: {train: \"%s/data/train-*.h5\"}}\n"
            "  - {name: sentiment, type: sentence_classification, num_labels: 3, data: {train: \"%s/data/train-*.h5\"}}\n"
            "  - {name: ner, type: token_classification, num_labels: 9, data: {train: \"%s/data/train-*.h5\"}}\n"
            "data: {max_len: 32, batch_size: 8}\n"
            "optimizer: {lr: 1.0e-2, weight_decay: 0.01}\n"
            "schedule: {decay: constant}\n"
            "train: {steps: 4, seed: 3, threads: 2, backend: cpu, run_dir: \"%s/run\"}\n"
            "logging: {every: 1, jsonl: false}\n"
            "bench: {seq_len: 32}\n",
            dir, dir, dir, dir, dir);
    fclose(f);
}

typedef struct {
    Config cfg;
    Trainer t;
    float *init, *now;
    size_t n;
} Run;

/* Set up a trainer with these overrides and snapshot the initial weights.
 * When log is given, stderr of the set-up goes there. */
static int start(Run *r, const char *const *sets, int nsets, const char *log) {
    memset(r, 0, sizeof *r);
    if (config_load(&r->cfg, cfg_path, sets, nsets, stderr)) return -1;
    int saved = -1;
    if (log) {
        fflush(stderr);
        saved = dup(2);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 2);
        close(fd);
    }
    int rc = trainer_setup(&r->t, &r->cfg, &comm, 1);
    if (log) {
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
    }
    if (rc) { fprintf(stderr, "trainer_setup: %d\n", rc); return -1; }
    r->t.quiet = 1;
    r->n = r->t.model.table.total;
    r->init = malloc(sizeof(float) * r->n);
    r->now = malloc(sizeof(float) * r->n);
    r->t.ops->to_host(r->init, r->t.model.params, sizeof(float) * r->n);
    return 0;
}

/* Train until `steps` optimizer steps are done; refresh r->now. */
static int train_to(Run *r, long steps) {
    r->t.total_steps = steps;
    int rc = trainer_run(&r->t);
    r->t.ops->to_host(r->now, r->t.model.params, sizeof(float) * r->n);
    return rc;
}

static void finish(Run *r) {
    trainer_free(&r->t);
    config_free(&r->cfg);
    free(r->init);
    free(r->now);
    char p[300];
    snprintf(p, sizeof p, "%s/run", dir);
    nftw(p, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int starts(const char *s, const char *prefix) { return !strncmp(s, prefix, strlen(prefix)); }

/* Is tensor i bit-identical to its initial value? */
static int same(const Run *r, int i) {
    const ParamTensor *t = &r->t.model.table.t[i];
    return !memcmp(r->init + t->offset, r->now + t->offset, sizeof(float) * t->numel);
}

/* Check every tensor: those whose name starts with one of `frozen` must be
 * unchanged, all others must have moved. */
static void expect(const Run *r, const char *what, const char *const *frozen, int nfrozen) {
    int nf = 0, nm = 0;
    for (int i = 0; i < r->t.model.table.n; i++) {
        const char *name = r->t.model.table.t[i].name;
        if (starts(name, "loss_weights.")) continue;
        int fz = 0;
        for (int k = 0; k < nfrozen; k++) fz |= starts(name, frozen[k]);
        if (fz) { CHECKF(same(r, i), "%s: frozen tensor %s changed", what, name); nf++; continue; }
        /* the key bias has an exactly zero gradient (softmax ignores a shift
         * shared by all keys of a query): trainable, but it does not move */
        if (strstr(name, "attention.self.key.bias")) continue;
        CHECKF(!same(r, i), "%s: trainable tensor %s did not change", what, name);
        nm++;
    }
    CHECKF(nm > 0, "%s: nothing trainable", what);
    CHECKF(nfrozen == 0 || nf > 0, "%s: no tensor matched the frozen prefixes", what);
}

int main(int argc, char **argv) {
    if (comm_init(&comm, &argc, &argv)) return 1;
    snprintf(dir, sizeof dir, "/tmp/mtbert-freeze-XXXXXX");
    if (!mkdtemp(dir)) { perror("mkdtemp"); return 1; }
    char err[1024], p[300];
    snprintf(p, sizeof p, "%s/data", dir);
    if (synth_make_dataset(p, 4, 96, 16, 32, 1, 0, err, sizeof err)) {
        fprintf(stderr, "synth_make_dataset: %s\n", err);
        return 1;
    }
    write_config();
    Run r;

    /* reference: nothing frozen, everything moves (incl. the pooler) */
    if (start(&r, NULL, 0, NULL) == 0) {
        CHECK(train_to(&r, 4) == 0);
        expect(&r, "nothing frozen", NULL, 0);
        finish(&r);
    } else CHECK(0);

    /* freeze.backbone: embeddings, every layer and the pooler stay put */
    {
        const char *sets[] = {"freeze.backbone=true"};
        const char *fz[] = {"bert."};
        if (start(&r, sets, 1, NULL) == 0) {
            CHECK(train_to(&r, 4) == 0);
            expect(&r, "freeze.backbone", fz, 1);
            finish(&r);
        } else CHECK(0);
    }

    /* freeze.embeddings + freeze.layers=[0] */
    {
        const char *sets[] = {"freeze.embeddings=true", "freeze.layers=[0]"};
        const char *fz[] = {"bert.embeddings.", "bert.encoder.layer.0."};
        if (start(&r, sets, 2, NULL) == 0) {
            CHECK(train_to(&r, 4) == 0);
            expect(&r, "freeze.embeddings + layers [0]", fz, 2);
            finish(&r);
        } else CHECK(0);
    }

    /* freeze.heads=[sentiment] */
    {
        const char *sets[] = {"freeze.heads=[sentiment]"};
        const char *fz[] = {"heads.sentiment."};
        if (start(&r, sets, 1, NULL) == 0) {
            CHECK(train_to(&r, 4) == 0);
            expect(&r, "freeze.heads", fz, 1);
            finish(&r);
        } else CHECK(0);
    }

    /* freeze.all: no steps at all, says it only evaluates, nothing moves */
    {
        const char *sets[] = {"freeze.all=true"};
        char log[300];
        snprintf(log, sizeof log, "%s/all.log", dir);
        if (start(&r, sets, 1, log) == 0) {
            CHECKF(r.t.total_steps == 0, "freeze.all: total_steps %ld", r.t.total_steps);
            char *text = NULL;
            FILE *f = fopen(log, "r");
            size_t cap = 0;
            if (f) { if (getdelim(&text, &cap, 0, f) < 0) { free(text); text = NULL; } fclose(f); }
            CHECKF(text && strstr(text, "nothing trains; evaluating only"), "freeze.all: message missing: %s",
                   text ? text : "(no output)");
            free(text);
            CHECK(trainer_run(&r.t) == 0);
            r.t.ops->to_host(r.now, r.t.model.params, sizeof(float) * r.n);
            CHECK(r.t.st.step == 0);
            CHECK(!memcmp(r.init, r.now, sizeof(float) * r.n));
            finish(&r);
        } else CHECK(0);
    }

    /* unfreeze_at_step: the backbone from step 3 (0-based optimizer step) */
    {
        const char *sets[] = {"freeze.backbone=true", "freeze.unfreeze_at_step={backbone: 3}"};
        const char *fz[] = {"bert."};
        if (start(&r, sets, 2, NULL) == 0) {
            CHECK(train_to(&r, 3) == 0);
            expect(&r, "backbone frozen until step 3, after 3 steps", fz, 1);
            CHECK(train_to(&r, 4) == 0);
            expect(&r, "backbone frozen until step 3, after 4 steps", NULL, 0);
            finish(&r);
        } else CHECK(0);
    }

    /* unfreeze_at_step for one layer of two frozen ones */
    {
        const char *sets[] = {"freeze.layers=[0-1]", "freeze.unfreeze_at_step={layer_1: 2}"};
        const char *fz2[] = {"bert.encoder.layer.0.", "bert.encoder.layer.1."};
        const char *fz1[] = {"bert.encoder.layer.0."};
        if (start(&r, sets, 2, NULL) == 0) {
            CHECK(train_to(&r, 2) == 0);
            expect(&r, "layer_1 frozen until step 2, after 2 steps", fz2, 2);
            CHECK(train_to(&r, 3) == 0);
            expect(&r, "layer_1 frozen until step 2, after 3 steps", fz1, 1);
            finish(&r);
        } else CHECK(0);
    }

    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    comm_finalize(&comm);
    return test_finish("test_train_freeze");
}
