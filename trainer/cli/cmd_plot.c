/* cmd_plot.c — `mtbert plot RUN_DIR [--out FILE.svg]`: the CLI over
 * plot_run (trainer/train/plot.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "trainer/cli/args.h"
#include "trainer/cli/cli.h"
#include "trainer/train/plot.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert plot RUN_DIR [--out FILE.svg] [--width PX] [--title TEXT]\n"
            "\n"
            "Reads RUN_DIR/metrics.jsonl (RUN_DIR may also be that file itself) and\n"
            "writes an SVG with two panels: training losses (total and per task)\n"
            "against step, and every numeric eval metric against step.\n"
            "\n"
            "  --out FILE.svg   output (default RUN_DIR/curves.svg)\n"
            "  --width PX       image width in pixels (default 960)\n"
            "  --title TEXT     heading (default the run directory)\n"
            "  -h, --help       this text\n"
            "\n"
            "Exit status: 0 written, 2 bad usage or bad input (missing file, a line\n"
            "that is not JSON, no train or eval records), 1 when the output cannot\n"
            "be written. The record format is described in docs/metrics.md.\n");
}

int cmd_plot(int argc, char **argv) {
    const char *run = NULL, *out = NULL, *title = NULL, *width_s = NULL;
    double width = 960;
    const OptSpec opts[] = {
        {"out", OPT_STRING, &out, 0, 0, 0},
        {"width", OPT_STRING, &width_s, 0, 0, 0},
        {"title", OPT_STRING, &title, 0, 0, 0},
    };
    int npos, pr = cli_parse("plot", argc, argv, opts, sizeof opts / sizeof opts[0], &run, 1, &npos, usage);
    if (pr) return cli_exit(pr);
    if (width_s) {
        char *end;
        width = strtod(width_s, &end);
        if (*end || !(width >= 300 && width <= 10000)) {
            fprintf(stderr, "mtbert plot: --width expects pixels in [300, 10000], got '%s'\n", width_s);
            return 2;
        }
    }
    if (!run) {
        fprintf(stderr, "mtbert plot: RUN_DIR is required\n");
        usage(stderr);
        return 2;
    }

    /* RUN_DIR, or the metrics file itself */
    struct stat sb;
    size_t rl = strlen(run);
    char *dir = strdup(run), *path = malloc(rl + 32), *defout = malloc(rl + 32);
    if (!dir || !path || !defout) {
        free(dir);
        free(path);
        free(defout);
        fprintf(stderr, "mtbert plot: out of memory\n");
        return 1;
    }
    while (rl > 1 && dir[rl - 1] == '/') dir[--rl] = '\0';
    if (stat(dir, &sb) == 0 && S_ISREG(sb.st_mode)) {
        strcpy(path, dir);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        else strcpy(dir, ".");
    } else {
        sprintf(path, "%s/metrics.jsonl", dir);
    }
    sprintf(defout, "%s/curves.svg", dir);
    if (!out) out = defout;
    if (!title) title = dir;

    char summary[512];
    int rc = plot_run(path, out, title, width, summary, sizeof summary);
    if (rc == 0) printf("%s\n", summary);
    free(dir);
    free(path);
    free(defout);
    return rc;
}
