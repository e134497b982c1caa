/* args.c — cli_parse (args.h) over getopt_long. */
#include "trainer/cli/args.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTS 48

static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || *end || errno || v < lo || v > hi) return -1;
    *out = (int)v;
    return 0;
}

static int parse_double(const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

static int bad(const char *cmd, void (*usage)(FILE *), const char *fmt, const char *a, const char *b) {
    fprintf(stderr, "mtbert %s: ", cmd);
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    if (usage) usage(stderr);
    return CLI_BAD;
}

int cli_parse(const char *cmd, int argc, char **argv, const OptSpec *opts, int nopts, const char **pos,
              int maxpos, int *npos, void (*usage)(FILE *)) {
    struct option lo[MAX_OPTS + 2];
    int n = nopts < MAX_OPTS ? nopts : MAX_OPTS;
    for (int i = 0; i < n; i++) {
        lo[i] = (struct option){opts[i].name, opts[i].kind == OPT_FLAG ? no_argument : required_argument, NULL, 256 + i};
        if (opts[i].kind == OPT_LIST) {
            StrList *l = opts[i].dst;
            if (!l->v) l->v = calloc((size_t)argc + 1, sizeof(char *));
        }
    }
    lo[n] = (struct option){"help", no_argument, NULL, 'h'};
    lo[n + 1] = (struct option){0, 0, 0, 0};
    *npos = 0;
    optind = 0; /* GNU: full re-initialisation, so several commands may parse in one process */
    opterr = 0;
    int c;
    /* "-" first: positional arguments come back as option 1, in order */
    while ((c = getopt_long(argc, argv, "-:h", lo, NULL)) != -1) {
        const char *arg = argv[optind - 1 < argc ? optind - 1 : argc - 1];
        if (c == 'h') {
            if (usage) usage(stdout);
            return CLI_HELP;
        }
        if (c == 1) {
            if (*npos >= maxpos) return bad(cmd, usage, "unexpected argument '%s'%s", optarg, "");
            pos[(*npos)++] = optarg;
            continue;
        }
        if (c == ':') return bad(cmd, usage, "option '%s' needs a value%s", arg, "");
        if (c == '?' || c < 256 || c >= 256 + n) return bad(cmd, usage, "unknown option '%s'%s", arg, "");
        const OptSpec *o = &opts[c - 256];
        switch (o->kind) {
        case OPT_FLAG: *(int *)o->dst = o->value; break;
        case OPT_STRING: *(const char **)o->dst = optarg; break;
        case OPT_LIST: {
            StrList *l = o->dst;
            l->v[l->n++] = optarg;
            break;
        }
        case OPT_DOUBLE:
            if (parse_double(optarg, o->dst)) {
                fprintf(stderr, "mtbert %s: --%s: '%s' is not a number\n", cmd, o->name, optarg);
                if (usage) usage(stderr);
                return CLI_BAD;
            }
            break;
        case OPT_INT:
            if (parse_int(optarg, o->lo, o->hi, o->dst)) {
                char range[96];
                snprintf(range, sizeof range, "an integer in [%ld, %ld]", o->lo, o->hi);
                fprintf(stderr, "mtbert %s: --%s: '%s' is not %s\n", cmd, o->name, optarg, range);
                if (usage) usage(stderr);
                return CLI_BAD;
            }
            break;
        }
    }
    return CLI_OK;
}
