/* mtbert bench — training-step throughput on random data of the shape a
 * config gives. The last line printed is one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/model/model.h"
#include "trainer/train/bench.h"
#include "trainer/cli/args.h"
#include "trainer/cli/cli.h"
#include "trainer/config/config.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert bench CONFIG.yaml [--set key=value ...] [--frozen-backbone] [--quiet]\n"
            "\n"
            "Times warm-up plus N training steps (forward, backward, AdamW) of the configured\n"
            "model on random data of shape bench.batch_size x bench.seq_len, and prints as its\n"
            "last line one JSON object: tokens_per_s, step_ms, gflops_per_s, the FLOP formula\n"
            "and the shape, and model_mib: the parameters, gradients and activations the model\n"
            "allocates (model_alloc_bytes; the optimizer state is not counted). Keys used:\n"
            "model.*, tasks, bench.*, train.gradient_checkpointing, train.threads (resolved as training\n"
            "resolves it: 0 means OMP_NUM_THREADS, else the usable cores), train.backend.\n"
            "\n"
            "  --set KEY=VALUE     override a config key (repeatable)\n"
            "  --frozen-backbone   freeze embeddings and encoder (same as bench.frozen_backbone=true)\n"
            "  --quiet             no per-step lines\n");
}

int cmd_bench(int argc, char **argv) {
    const char *path = NULL;
    StrList sets = {0};
    int frozen = 0, quiet = 0;
    const OptSpec opts[] = {
        {"set", OPT_LIST, &sets, 0, 0, 0},
        {"frozen-backbone", OPT_FLAG, &frozen, 0, 0, 1},
        {"quiet", OPT_FLAG, &quiet, 0, 0, 1},
    };
    int npos, pr = cli_parse("bench", argc, argv, opts, sizeof opts / sizeof opts[0], &path, 1, &npos, usage);
    if (pr || !path) {
        free(sets.v);
        if (!pr) { fprintf(stderr, "mtbert bench: CONFIG.yaml is required\n"); usage(stderr); }
        return pr ? cli_exit(pr) : 2;
    }
    Config cfg;
    int rc = config_load(&cfg, path, sets.v, sets.n, stderr);
    free(sets.v);
    if (rc) return 2;
    char err[256];
    const Ops *ops = ops_select((BackendChoice)cfg.train.backend, (PrecisionChoice)cfg.train.precision, err, sizeof err);
    if (!ops) {
        fprintf(stderr, "mtbert bench: %s: train.backend / train.precision: %s\n", cfg.source, err);
        config_free(&cfg);
        return 2;
    }
    BenchOptions o = {.batch = cfg.bench.batch_size, .seq = cfg.bench.seq_len, .steps = cfg.bench.steps,
                      .warmup = cfg.bench.warmup,
                      .frozen_backbone = frozen || cfg.bench.frozen_backbone, .seed = cfg.train.seed};
    /* as training chooses them (one rank): train.threads, OMP_NUM_THREADS, the cores */
    o.threads = config_resolve_threads(&cfg, 1, stderr);
    const BertConfig *b = &cfg.model.bert;
    fprintf(stderr, "mtbert bench: %s backend, %d layers, hidden %d, %d heads, batch %d x seq %d, %d threads%s\n",
            ops->name, b->num_hidden_layers, b->hidden_size, b->num_attention_heads, o.batch, o.seq, o.threads,
            o.frozen_backbone ? ", backbone frozen" : "");
    BenchResult r;
    if (bench_run(&cfg.model, ops, &o, &r, quiet ? NULL : stderr)) {
        config_free(&cfg);
        return 1;
    }
    printf("{\"impl\": \"mtbert\", \"backend\": \"%s\", \"layers\": %d, \"hidden\": %d, \"heads\": %d, "
           "\"intermediate\": %d, \"vocab\": %d, \"seq\": %d, \"batch\": %d, \"threads\": %d, \"steps\": %d, "
           "\"warmup\": %d, \"dropout\": %g, \"frozen_backbone\": %s, \"step_ms\": %.3f, \"forward_ms\": %.3f, "
           "\"backward_ms\": %.3f, \"optimizer_ms\": %.3f, \"tokens_per_s\": %.1f, \"gflops_per_s\": %.2f, "
           "\"flops_per_token\": %.0f, \"linear_params\": %lld, \"gradient_checkpointing\": %s, "
           "\"model_mib\": %.2f, "
           "\"flop_formula\": \"6*P_linear + 12*layers*seq*hidden per token (forward+backward); "
           "P_linear = parameters of every matrix product that runs, embedding lookups excluded\"}\n",
           ops->name, b->num_hidden_layers, b->hidden_size, b->num_attention_heads, b->intermediate_size,
           b->vocab_size, o.seq, o.batch, o.threads, o.steps, o.warmup, b->hidden_dropout_prob,
           o.frozen_backbone ? "true" : "false", r.step_ms, r.forward_ms, r.backward_ms, r.optimizer_ms,
           r.tokens_per_s, r.gflops_per_s, r.flops_per_token, r.linear_params,
           cfg.model.grad_checkpoint ? "true" : "false",
           model_alloc_bytes(&cfg.model, ops, o.batch, o.seq, 1) / 1048576.0);
    config_free(&cfg);
    return 0;
}
