/* args.h — one command-line parser for every subcommand, on getopt_long:
 * typed options with range checks, so that `--max-len abc`, `--threads -3`
 * or a missing value is an error naming the option, never a silent 0. */
#ifndef MTBERT_ARGS_H
#define MTBERT_ARGS_H

#include <stdio.h>

typedef enum {
    OPT_FLAG,   /* no value: *(int *)dst = value */
    OPT_STRING, /* *(const char **)dst = the value */
    OPT_INT,    /* *(int *)dst = the value, an integer in [lo, hi] */
    OPT_LIST,   /* repeatable: appended to the StrList at dst */
    OPT_DOUBLE, /* *(double *)dst = the value, a finite number */
} OptKind;

typedef struct {
    const char **v; /* argc + 1 slots, owned by the caller after cli_parse: free(v) */
    int n;
} StrList;

typedef struct {
    const char *name; /* long name without "--" */
    OptKind kind;
    void *dst;
    long lo, hi;      /* OPT_INT */
    int value;        /* OPT_FLAG */
} OptSpec;

enum { CLI_OK = 0, CLI_HELP = 1, CLI_BAD = 2 };

/* Parse argv[1..] (argv[0] is the subcommand's name). Positional arguments
 * go to pos[0..maxpos) and *npos (more than maxpos is an error). -h/--help
 * prints usage to stdout and returns CLI_HELP (exit 0); a bad option prints
 * "mtbert CMD: ..." and the usage to stderr and returns CLI_BAD (exit 2). */
int cli_parse(const char *cmd, int argc, char **argv, const OptSpec *opts, int nopts, const char **pos,
              int maxpos, int *npos, void (*usage)(FILE *));

/* The exit status for a cli_parse result that is not CLI_OK. */
static inline int cli_exit(int parsed) { return parsed == CLI_HELP ? 0 : 2; }

/* Backend and precision options shared by the commands that run a model:
 * --backend auto|cpu|cuda, --precision fp32|bf16. */
#define CLI_BACKEND_OPTS(backend_str, precision_str)                       \
    {"backend", OPT_STRING, &(backend_str), 0, 0, 0},                      \
    {"precision", OPT_STRING, &(precision_str), 0, 0, 0}

#endif
