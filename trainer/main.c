/* mtbert — multi-task BERT trainer. Dispatches to the subcommands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer/cli.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"train", cmd_train, "multi-task fine-tuning from a YAML config"},
    {"eval", cmd_eval, "metrics per task on the eval splits"},
    {"encode", cmd_encode, "fixed-length sentence embeddings"},
    {"predict", cmd_predict, "labels per sentence task, tags per token task"},
    {"prepare", cmd_prepare, "raw text (CoNLL, TSV, CSV, JSONL) -> sharded HDF5"},
    {"tokenize", cmd_tokenize, "WordPiece ids for each input line"},
    {"export", cmd_export, "Hugging Face / sentence-transformers folder"},
    {"bench", cmd_bench, "training-step throughput on random data"},
    {"sweep", cmd_sweep, "expand a sweep file into configs; report results"},
    {"plot", cmd_plot, "SVG of a run's loss and metric curves"},
};

static void usage(FILE *f) {
    fprintf(f, "usage: mtbert COMMAND [options]   (mtbert COMMAND --help for details)\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int cli_not_available(const char *command) {
    fprintf(stderr, "mtbert %s: this command is not part of this build yet\n", command);
    return 2;
}

int main(int argc, char **argv) {
    /* OpenMP threads that spin-wait between parallel regions lose badly when
     * the cores are shared (a 5 s demo took minutes under load), and cost
     * nothing measurable when idle. libgomp reads OMP_WAIT_POLICY when it is
     * loaded, before main, so set it and start again once. A user's own
     * setting is kept. */
    if (!getenv("OMP_WAIT_POLICY")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
        execv("/proc/self/exe", argv);
        /* exec failed (no /proc): carry on with the default policy */
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
