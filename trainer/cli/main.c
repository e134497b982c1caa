/* mtbert — multi-task BERT trainer. Dispatches to the subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer/cli/cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"train", cmd_train, "multi-task fine-tuning from a YAML config"},
    {"eval", cmd_eval, "metrics per task on the eval splits"},
    {"encode", cmd_encode, "fixed-length sentence embeddings"},
    {"retrieve", cmd_retrieve, "retrieval metrics (MRR, nDCG, recall@k) on queries/corpus/qrels"},
    {"predict", cmd_predict, "labels per sentence task, tags per token task"},
    {"prepare", cmd_prepare, "raw text (CoNLL, TSV, CSV, JSONL) -> sharded HDF5"},
    {"tokenize", cmd_tokenize, "WordPiece ids for each input line"},
    {"export", cmd_export, "Hugging Face / sentence-transformers folder"},
    {"bench", cmd_bench, "training-step throughput on random data"},
    {"sweep", cmd_sweep, "expand a sweep file into configs; report results"},
    {"plot", cmd_plot, "SVG of a run's loss and metric curves"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: mtbert COMMAND [options]   (mtbert COMMAND --help for details)\n"
               "       mtbert --version\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

#ifndef MTBERT_VERSION
#define MTBERT_VERSION "unknown"
#endif

static void version(void) {
    printf("mtbert %s (backends: cpu%s; MPI %s; NCCL %s)\n", MTBERT_VERSION,
#ifdef MTBERT_HAVE_CUDA
           ", cuda",
#else
           "",
#endif
#ifdef MTBERT_HAVE_MPI
           "yes",
#else
           "no",
#endif
#ifdef MTBERT_HAVE_NCCL
           "yes"
#else
           "no"
#endif
    );
}

int cli_not_available(const char *command) {
    fprintf(stderr, "mtbert %s: this command is not part of this build yet\n", command);
    return 2;
}

int main(int argc, char **argv) {
    /* OpenMP threads spin between parallel regions; on shared cores long
     * spinning collapses throughput (a 5 s demo took minutes under load),
     * while never spinning costs small-op workloads ~45% idle. A short spin
     * (GOMP_SPINCOUNT=10000) measured close to the best of both (demo: 5.2 s
     * idle vs 5.3 active, 7.6 passive; under load 3.2 s vs 4.9 active, 2.5
     * passive). libgomp reads these when it is loaded, before main, so set
     * it and start again once. A user's own OMP_WAIT_POLICY/GOMP_SPINCOUNT
     * is kept. */
    if (!getenv("OMP_WAIT_POLICY") && !getenv("GOMP_SPINCOUNT")) {
        setenv("GOMP_SPINCOUNT", "10000", 1);
        execv("/proc/self/exe", argv);
        /* exec failed (no /proc): carry on with the defaults */
    }
    if (argc >= 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version"))) {
        version();
        return 0;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "mtbert: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
