/* mtbert train / mtbert eval — the CLIs over trainer/train/ (train.h: trainer_setup, trainer_run). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/train/checkpoint.h"
#include "trainer/cli/args.h"
#include "trainer/cli/cli.h"
#include "trainer/train/plot.h"
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
    StrList sets;
    int quiet;
} Args;

/* CLI_OK, CLI_HELP or CLI_BAD (message printed). */
static int parse(int argc, char **argv, Args *a, int is_eval) {
    memset(a, 0, sizeof *a);
    OptSpec train_opts[] = {
        {"set", OPT_LIST, &a->sets, 0, 0, 0},
        {"quiet", OPT_FLAG, &a->quiet, 0, 0, 1},
        {"init-from", OPT_STRING, &a->init_from, 0, 0, 0},
    };
    OptSpec eval_opts[] = {
        {"set", OPT_LIST, &a->sets, 0, 0, 0},
        {"quiet", OPT_FLAG, &a->quiet, 0, 0, 1},
        {"checkpoint", OPT_STRING, &a->checkpoint, 0, 0, 0},
    };
    const char *cmd = is_eval ? "eval" : "train";
    void (*usage)(FILE *) = is_eval ? usage_eval : usage_train;
    int npos, pr = cli_parse(cmd, argc, argv, is_eval ? eval_opts : train_opts, 3, &a->config, 1, &npos, usage);
    if (pr) return pr;
    if (!a->config || (is_eval && !a->checkpoint)) {
        fprintf(stderr, "mtbert %s: %s\n", cmd, !a->config ? "CONFIG.yaml is required" : "--checkpoint DIR is required");
        usage(stderr);
        return CLI_BAD;
    }
    return CLI_OK;
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

/* The start both commands share: arguments, ranks, the validated config.
 * 0, or the exit code (communicator finalised, nothing left to free). */
static int start(int argc, char **argv, int is_eval, Args *a, Comm *comm, Config *cfg) {
    int pr = parse(argc, argv, a, is_eval);
    if (pr) {
        free(a->sets.v);
        return cli_exit(pr);
    }
    if (comm_init(comm, &argc, &argv)) { free(a->sets.v); return 1; }
    if (!is_eval) stop_signal_install(); /* a signal during set-up stops after the first step */
    /* every rank validates; only rank 0 prints the problems */
    int rc = config_load(cfg, a->config, a->sets.v, a->sets.n, comm->rank == 0 ? stderr : NULL);
    free(a->sets.v);
    if (rc) {
        comm_finalize(comm);
        return 2;
    }
    return 0;
}

int cmd_train(int argc, char **argv) {
    Args a;
    Comm comm;
    Config cfg;
    int rc = start(argc, argv, 0, &a, &comm, &cfg);
    if (rc) return rc;
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
        char metrics[4200], svg[4200], summary[512];
        snprintf(metrics, sizeof metrics, "%s/metrics.jsonl", cfg.train.run_dir);
        snprintf(svg, sizeof svg, "%s/curves.svg", cfg.train.run_dir);
        if (plot_run(metrics, svg, cfg.train.run_dir, 960, summary, sizeof summary) == 0)
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
    Comm comm;
    Config cfg;
    int rc = start(argc, argv, 1, &a, &comm, &cfg);
    if (rc) return rc;
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
