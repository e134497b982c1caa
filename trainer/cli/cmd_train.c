/* mtbert train / mtbert eval — the CLIs over trainer/train/train.c. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/train/checkpoint.h"
#include "trainer/cli/cli.h"
#include "trainer/train/stop_signal.h"
#include "trainer/train/train.h"

static void usage_train(FILE *f) {
    fprintf(f,
            "usage: mtbert train CONFIG.yaml [--set key=value ...] [--init-from DIR] [--quiet]\n"
            "\n"
            "Multi-task fine-tuning as CONFIG.yaml describes (docs/config.md). Runs as one\n"
            "process, or as N data-parallel ranks under mpirun / srun.\n"
            "\n"
            "  --set KEY=VALUE   override any config key, e.g. optimizer.lr=3e-5 (repeatable)\n"
            "  --init-from DIR   start from the weights of a checkpoint or model folder (a new\n"
            "                    task set may differ: heads absent there are initialised)\n"
            "  --quiet           no per-step progress lines\n"
            "\n"
            "The run directory (train.run_dir) receives config.yaml (fully resolved),\n"
            "metrics.jsonl, curves.svg and step-NNNNNNN/ checkpoints with a `latest` pointer.\n"
            "\n"
            "SIGTERM, SIGUSR1 or SIGINT (Ctrl-C) stops the run after the current step with a\n"
            "checkpoint (a second one stops it at once); checkpoint.resume=auto continues it.\n"
            "\n"
            "Exit status: 0 done, 1 failed during training, 2 bad command line or config,\n"
            "3 stopped on a signal after saving a checkpoint.\n");
}

static void usage_eval(FILE *f) {
    fprintf(f,
            "usage: mtbert eval CONFIG.yaml --checkpoint DIR [--set key=value ...]\n"
            "\n"
            "Metrics per task on the eval splits of CONFIG.yaml, for the weights in DIR\n"
            "(a checkpoint or an exported model folder). Prints one JSON object.\n");
}

typedef struct {
    const char *config, *init_from, *checkpoint;
    const char **sets;
    int nsets, quiet;
} Args;

static int parse(int argc, char **argv, Args *a, int is_eval) {
    memset(a, 0, sizeof *a);
    a->sets = calloc((size_t)argc + 1, sizeof(char *));
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(s, "--help") || !strcmp(s, "-h")) return 1;
        else if (!strcmp(s, "--set") && more) a->sets[a->nsets++] = argv[++i];
        else if (!strncmp(s, "--set=", 6)) a->sets[a->nsets++] = s + 6;
        else if (!is_eval && !strcmp(s, "--init-from") && more) a->init_from = argv[++i];
        else if (is_eval && !strcmp(s, "--checkpoint") && more) a->checkpoint = argv[++i];
        else if (!strcmp(s, "--quiet")) a->quiet = 1;
        else if (s[0] != '-' && !a->config) a->config = s;
        else {
            fprintf(stderr, "mtbert %s: unknown or incomplete option '%s'\n", is_eval ? "eval" : "train", s);
            return 2;
        }
    }
    if (!a->config || (is_eval && !a->checkpoint)) return 2;
    return 0;
}

static void print_metrics_json(const MetricSet *ms) {
    printf("{");
    /* JSON has no NaN: a non-finite value (a loss of nan, a correlation of
     * constant predictions) is written as a string, as metrics.jsonl does */
    for (int i = 0; i < ms->n; i++)
        printf(isfinite(ms->value[i]) ? "%s\"%s\": %.6g" : "%s\"%s\": \"%.6g\"", i ? ", " : "", ms->name[i],
               ms->value[i]);
    printf("}\n");
}

int cmd_train(int argc, char **argv) {
    Args a;
    int pr = parse(argc, argv, &a, 0);
    if (pr) {
        usage_train(pr == 1 ? stdout : stderr);
        free(a.sets);
        return pr == 1 ? 0 : 2;
    }
    Comm comm;
    if (comm_init(&comm, &argc, &argv)) { free(a.sets); return 1; }
    stop_signal_install(); /* a signal during set-up stops after the first step */
    Config cfg;
    /* every rank validates; only rank 0 prints the problems */
    int rc = config_load(&cfg, a.config, a.sets, a.nsets, comm.rank == 0 ? stderr : NULL);
    free(a.sets);
    if (rc) {
        comm_finalize(&comm);
        return 2;
    }
    if (a.init_from) {
        free(cfg.model_path);
        cfg.model_path = strdup(a.init_from);
    }
    Trainer t;
    rc = trainer_setup(&t, &cfg, &comm, 1);
    t.quiet = a.quiet;
    if (rc == 0) rc = trainer_run(&t);
    if (rc == 0 && comm.rank == 0 && cfg.logging.jsonl) {
        if (t.jsonl) { fclose(t.jsonl); t.jsonl = NULL; }
        char *pargv[] = {"plot", cfg.train.run_dir, NULL};
        if (cmd_plot(2, pargv) == 0)
            fprintf(stderr, "mtbert: metrics %s/metrics.jsonl, plot %s/curves.svg, checkpoints %s/latest\n",
                    cfg.train.run_dir, cfg.train.run_dir, cfg.train.run_dir);
    }
    trainer_free(&t);
    config_free(&cfg);
    if (rc && rc != TRAIN_STOPPED && comm.world > 1) comm_abort(&comm, rc);
    comm_finalize(&comm);
    return rc;
}

int cmd_eval(int argc, char **argv) {
    Args a;
    int pr = parse(argc, argv, &a, 1);
    if (pr) {
        usage_eval(pr == 1 ? stdout : stderr);
        free(a.sets);
        return pr == 1 ? 0 : 2;
    }
    Comm comm;
    if (comm_init(&comm, &argc, &argv)) { free(a.sets); return 1; }
    Config cfg;
    int rc = config_load(&cfg, a.config, a.sets, a.nsets, comm.rank == 0 ? stderr : NULL);
    free(a.sets);
    if (rc) {
        comm_finalize(&comm);
        return 2;
    }
    Trainer t;
    rc = trainer_setup(&t, &cfg, &comm, 0);
    char err[2048];
    if (rc == 0 && checkpoint_load(&t, a.checkpoint, 0, err, sizeof err)) {
        fprintf(stderr, "mtbert eval: %s\n", err);
        rc = 2;
    }
    if (rc == 0) {
        if (!t.has_eval) {
            fprintf(stderr, "mtbert eval: %s: no task has data.eval\n", a.config);
            rc = 2;
        } else {
            MetricSet ms;
            trainer_evaluate(&t, &ms);
            if (comm.rank == 0) print_metrics_json(&ms);
        }
    }
    trainer_free(&t);
    config_free(&cfg);
    comm_finalize(&comm);
    return rc;
}
