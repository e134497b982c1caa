/* cmd_sweep.c — hyper-parameter sweeps.
 *
 *   mtbert sweep expand SWEEP.yaml --out DIR
 *       DIR/000.yaml, 001.yaml, ...: each a complete, resolved config (the
 *       base config loaded with the run's --set overrides, validated, written
 *       by config_write_resolved), its train.run_dir DIR/runs/NNN; and
 *       DIR/index.tsv: run, then one column per swept key.
 *   mtbert sweep report DIR
 *       one line per run: settings, steps done, best selection metric and
 *       step (trainer_state.json of the newest checkpoint), last train loss
 *       (metrics.jsonl); best first.
 *
 * The sweep file:
 *   base: configs/demo.yaml        # relative to the sweep file's directory
 *   method: grid                   # grid (every combination) or random
 *   trials: 8                      # random: how many configs
 *   seed: 1                        # random: the draw
 *   set: {train.steps: 200}        # fixed overrides for every run (optional)
 *   parameters:                    # any dotted keys, as for --set
 *     optimizer.lr: [1.0e-4, 3.0e-4, 1.0e-3]           # grid or random: a list of values
 *     optimizer.weight_decay: {min: 0, max: 0.1}        # random: uniform
 *     optimizer.lr: {min: 1.0e-5, max: 1.0e-3, log: true}  # random: log-uniform
 *     data.batch_size: {min: 8, max: 64, log: true, int: true}
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/cli/args.h"
#include "trainer/cli/cli.h"
#include "trainer/config/config.h"
#include "util/fsutil.h"
#include "trainer/config/yaml_tree.h"

#define MAX_PARAMS 32
#define MAX_RUNS 10000

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert sweep expand SWEEP.yaml --out DIR\n"
            "       mtbert sweep report DIR\n\n"
            "expand: DIR/000.yaml, 001.yaml, ... (full configs, run_dir DIR/runs/NNN) and DIR/index.tsv\n"
            "        from a base config and a grid or random search space over dotted keys;\n"
            "        run them with launch/sweep-local.sh DIR or launch/slurm/sweep.sbatch.\n"
            "report: each run's settings and best metric, best first.\n\n"
            "sweep file:\n"
            "  base: configs/demo.yaml      # relative to the sweep file\n"
            "  method: grid | random        # random: trials: N, seed: S\n"
            "  set: {train.steps: 200}      # fixed overrides (optional)\n"
            "  parameters:\n"
            "    optimizer.lr: [1.0e-4, 3.0e-4]                     # a list of values\n"
            "    optimizer.weight_decay: {min: 0, max: 0.1, log: false, int: false}  # random only\n");
}

/* ---- a node back to one-line YAML (for --set KEY=VALUE) ---- */

static void flow(const YNode *n, char *buf, size_t cap, size_t *len) {
#define PUT(s_)                                                              \
    do {                                                                     \
        const char *s__ = (s_);                                              \
        size_t l__ = strlen(s__);                                            \
        if (*len + l__ < cap) memcpy(buf + *len, s__, l__ + 1), *len += l__; \
    } while (0)
    if (!n) return;
    if (n->kind == YNODE_SCALAR) {
        if (n->quoted || strpbrk(n->str, ",:[]{}#\"'") || !*n->str) {
            PUT("\"");
            for (const char *p = n->str; *p; p++) {
                char c[3] = {*p, 0, 0};
                if (*p == '"' || *p == '\\') c[0] = '\\', c[1] = *p;
                PUT(c);
            }
            PUT("\"");
        } else {
            PUT(n->str);
        }
    } else if (n->kind == YNODE_SEQ) {
        PUT("[");
        for (int i = 0; i < n->n; i++) {
            if (i) PUT(", ");
            flow(n->items[i], buf, cap, len);
        }
        PUT("]");
    } else {
        PUT("{");
        for (int i = 0; i < YNODE_PAIRS(n); i++) {
            if (i) PUT(", ");
            flow(n->items[2 * i], buf, cap, len);
            PUT(": ");
            flow(n->items[2 * i + 1], buf, cap, len);
        }
        PUT("}");
    }
#undef PUT
}

static char *node_text(const YNode *n) {
    char buf[4096];
    size_t len = 0;
    buf[0] = 0;
    flow(n, buf, sizeof buf, &len);
    return strdup(buf);
}

/* ---- the search space ---- */

typedef struct {
    char key[256];
    int nvalues;
    char **values; /* a list */
    int range;     /* {min, max}: random only */
    double lo, hi;
    int log, integer;
} Param;

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
static double uniform01(uint64_t *s) { return (double)(splitmix(s) >> 11) / 9007199254740992.0; }

static int bool_of(const YNode *n, int *out) {
    if (!n) return 0;
    if (n->kind != YNODE_SCALAR) return -1;
    if (!strcmp(n->str, "true")) *out = 1;
    else if (!strcmp(n->str, "false")) *out = 0;
    else return -1;
    return 0;
}

static int number_of(const YNode *n, double *out) {
    if (!n || n->kind != YNODE_SCALAR) return -1;
    char *end;
    *out = strtod(n->str, &end);
    return *n->str && !*end ? 0 : -1;
}

static int cmd_expand(int argc, char **argv) {
    const char *sweep = NULL, *out = NULL;
    const OptSpec opts[] = {{"out", OPT_STRING, &out, 0, 0, 0}};
    int npos, pr = cli_parse("sweep expand", argc, argv, opts, 1, &sweep, 1, &npos, usage);
    if (pr) return cli_exit(pr);
    if (!sweep || !out) { usage(stderr); return 2; }
    size_t len;
    char ferr[1200];
    char *text = fs_read_file(sweep, &len, ferr, sizeof ferr);
    if (!text) { fprintf(stderr, "mtbert sweep: %s\n", ferr); return 2; }
    YNode *root = NULL;
    YError ye;
    int rc = 2;
    Param P[MAX_PARAMS];
    int np = 0;
    char **fixed = NULL;
    int nfixed = 0;
    memset(P, 0, sizeof P);
    if (ynode_parse(text, len, &root, &ye) || !root || root->kind != YNODE_MAP) {
        fprintf(stderr, "mtbert sweep: %s:%d:%d: %s\n", sweep, root ? ye.line : 1, root ? ye.col : 1,
                root ? ye.msg : "expected a mapping with base: and parameters:");
        goto done;
    }
#define BAD(node_, ...)                                                                   \
    do {                                                                                  \
        fprintf(stderr, "mtbert sweep: %s:%d: ", sweep, (node_) ? (node_)->line : 1);      \
        fprintf(stderr, __VA_ARGS__);                                                     \
        fprintf(stderr, "\n");                                                            \
        goto done;                                                                        \
    } while (0)
    for (int i = 0; i < YNODE_PAIRS(root); i++) {
        const char *k = root->items[2 * i]->str;
        if (strcmp(k, "base") && strcmp(k, "method") && strcmp(k, "trials") && strcmp(k, "seed") && strcmp(k, "set") &&
            strcmp(k, "parameters"))
            BAD(root->items[2 * i], "unknown key '%s' (expected base, method, trials, seed, set, parameters)", k);
    }
    const YNode *nb = ynode_map_get(root, "base"), *nm = ynode_map_get(root, "method"),
                *nt = ynode_map_get(root, "trials"), *ns = ynode_map_get(root, "seed"),
                *nset = ynode_map_get(root, "set"), *npar = ynode_map_get(root, "parameters");
    if (!nb || nb->kind != YNODE_SCALAR || !*nb->str) BAD(root, "base: the base config's path is required");
    char base[4096];
    if (nb->str[0] == '/') snprintf(base, sizeof base, "%s", nb->str);
    else {
        const char *slash = strrchr(sweep, '/');
        snprintf(base, sizeof base, "%.*s%s", slash ? (int)(slash - sweep + 1) : 0, sweep, nb->str);
    }
    int random = 0;
    if (nm && (nm->kind != YNODE_SCALAR || (strcmp(nm->str, "grid") && strcmp(nm->str, "random"))))
        BAD(nm, "method: expected grid or random");
    if (nm) random = !strcmp(nm->str, "random");
    double trials = 0, seed = 0;
    if (random && (number_of(nt, &trials) || trials < 1 || trials > MAX_RUNS || trials != floor(trials)))
        BAD(nt ? nt : root, "trials: a positive integer (up to %d) is required for method: random", MAX_RUNS);
    if (ns && (number_of(ns, &seed) || seed < 0)) BAD(ns, "seed: expected an integer >= 0");
    if (nset) {
        if (nset->kind != YNODE_MAP) BAD(nset, "set: expected a mapping of dotted keys to values");
        for (int i = 0; i < YNODE_PAIRS(nset); i++) {
            char *v = node_text(nset->items[2 * i + 1]);
            fixed = realloc(fixed, (size_t)(nfixed + 1) * sizeof *fixed);
            size_t l = strlen(nset->items[2 * i]->str) + strlen(v) + 2;
            fixed[nfixed] = malloc(l);
            snprintf(fixed[nfixed++], l, "%s=%s", nset->items[2 * i]->str, v);
            free(v);
        }
    }
    if (!npar || npar->kind != YNODE_MAP || YNODE_PAIRS(npar) == 0)
        BAD(npar ? npar : root, "parameters: expected a mapping of dotted keys to value lists");
    if (YNODE_PAIRS(npar) > MAX_PARAMS) BAD(npar, "parameters: at most %d keys", MAX_PARAMS);
    long combos = 1;
    for (int i = 0; i < YNODE_PAIRS(npar); i++) {
        const YNode *k = npar->items[2 * i], *v = npar->items[2 * i + 1];
        Param *p = &P[np++];
        snprintf(p->key, sizeof p->key, "%s", k->str);
        if (v->kind == YNODE_SEQ) {
            if (v->n == 0) BAD(v, "%s: the list of values is empty", p->key);
            p->nvalues = v->n;
            p->values = calloc((size_t)v->n, sizeof *p->values);
            for (int j = 0; j < v->n; j++) p->values[j] = node_text(v->items[j]);
            combos *= v->n;
            if (combos > MAX_RUNS) BAD(v, "the grid has more than %d points", MAX_RUNS);
        } else if (v->kind == YNODE_MAP) {
            if (!random) BAD(v, "%s: a {min, max} range needs method: random (a grid needs a list)", p->key);
            p->range = 1;
            if (number_of(ynode_map_get(v, "min"), &p->lo) || number_of(ynode_map_get(v, "max"), &p->hi) || p->hi < p->lo)
                BAD(v, "%s: expected {min: A, max: B} with numbers A <= B", p->key);
            if (bool_of(ynode_map_get(v, "log"), &p->log) || bool_of(ynode_map_get(v, "int"), &p->integer))
                BAD(v, "%s: log and int are true or false", p->key);
            if (p->log && p->lo <= 0) BAD(v, "%s: log: true needs min > 0", p->key);
        } else {
            BAD(v, "%s: expected a list of values or {min, max}", p->key);
        }
    }
    long nruns = random ? (long)trials : combos;
    char err[1024];
    char path[4096];
    uint64_t state = (uint64_t)seed;
    int nover = nfixed + np + 1;
    char **ov = calloc((size_t)nover, sizeof *ov);
    /* every point's values first (random draws in run order), then every
     * point checked, and only when all are valid anything written: a bad
     * point leaves no partial sweep (no header-only index.tsv) behind */
    char **val = calloc((size_t)nruns * (size_t)(np ? np : 1), sizeof *val);
    if (!ov || !val) { fprintf(stderr, "mtbert sweep: out of memory\n"); free(ov); free(val); goto done; }
    for (long r = 0; r < nruns; r++) {
        long rest = r;
        for (int j = np - 1; j >= 0; j--) { /* grid: the last key varies fastest */
            Param *p = &P[j];
            char num[64];
            char **v = &val[(size_t)r * np + j];
            if (p->range) {
                double u = uniform01(&state);
                double x = p->log ? exp(log(p->lo) + u * (log(p->hi) - log(p->lo))) : p->lo + u * (p->hi - p->lo);
                if (p->integer) snprintf(num, sizeof num, "%.0f", round(x));
                else snprintf(num, sizeof num, "%.4g", x);
                *v = strdup(num);
            } else if (random) {
                *v = strdup(p->values[splitmix(&state) % (uint64_t)p->nvalues]);
            } else {
                *v = strdup(p->values[rest % p->nvalues]);
                rest /= p->nvalues;
            }
        }
    }
    rc = 0;
    long nbad = 0;
    for (int pass = 0; pass < 2 && rc == 0; pass++) {
        if (pass == 1) {
            if (nbad) {
                fprintf(stderr, "mtbert sweep: %ld of %ld points are invalid; nothing written\n", nbad, nruns);
                rc = 2;
                break;
            }
            if (fs_mkdir_p(out, err, sizeof err)) { fprintf(stderr, "mtbert sweep: %s\n", err); rc = 1; break; }
        }
        for (long r = 0; r < nruns && rc == 0; r++) {
            int k = 0;
            for (int j = 0; j < nfixed; j++) ov[k++] = strdup(fixed[j]);
            for (int j = 0; j < np; j++) {
                const char *v = val[(size_t)r * np + j];
                size_t l = strlen(P[j].key) + strlen(v) + 2;
                ov[k] = malloc(l);
                snprintf(ov[k++], l, "%s=%s", P[j].key, v);
            }
            char rd[4096 + 32];
            snprintf(rd, sizeof rd, "train.run_dir=%s/runs/%03ld", out, r);
            ov[k++] = strdup(rd);
            Config cfg;
            if (config_load(&cfg, base, (const char *const *)ov, k, pass == 0 ? stderr : NULL)) {
                fprintf(stderr, "mtbert sweep: run %03ld:", r);
                for (int j = 0; j < np; j++) fprintf(stderr, " %s", ov[nfixed + j]);
                fprintf(stderr, ": the base config %s with these settings is invalid\n", base);
                nbad++;
                if (pass == 1) rc = 2;
            } else {
                if (pass == 1) {
                    snprintf(path, sizeof path, "%s/%03ld.yaml", out, r);
                    if (config_write_resolved(&cfg, path, err, sizeof err)) {
                        fprintf(stderr, "mtbert sweep: %s\n", err);
                        rc = 1;
                    }
                }
                config_free(&cfg);
            }
            for (int j = 0; j < k; j++) free(ov[j]);
        }
    }
    if (rc == 0) {
        /* the index last, whole, under a temporary name and renamed */
        size_t cap = 64, len = 0;
        for (int j = 0; j < np; j++) cap += strlen(P[j].key) + 1;
        for (long i = 0; i < nruns * np; i++) cap += strlen(val[i]) + 1;
        cap += (size_t)nruns * 8;
        char *tsv = malloc(cap);
        len += (size_t)snprintf(tsv + len, cap - len, "run");
        for (int j = 0; j < np; j++) len += (size_t)snprintf(tsv + len, cap - len, "\t%s", P[j].key);
        len += (size_t)snprintf(tsv + len, cap - len, "\n");
        for (long r = 0; r < nruns; r++) {
            len += (size_t)snprintf(tsv + len, cap - len, "%03ld", r);
            for (int j = 0; j < np; j++) len += (size_t)snprintf(tsv + len, cap - len, "\t%s", val[(size_t)r * np + j]);
            len += (size_t)snprintf(tsv + len, cap - len, "\n");
        }
        snprintf(path, sizeof path, "%s/index.tsv", out);
        if (fs_write_atomic(path, tsv, len, err, sizeof err)) {
            fprintf(stderr, "mtbert sweep: %s\n", err);
            rc = 1;
        }
        free(tsv);
    }
    for (long i = 0; i < nruns * np; i++) free(val[i]);
    free(ov);
    free(val);
    if (!rc) printf("mtbert sweep: %ld configs in %s (%s): %s/000.yaml .. %s/%03ld.yaml, %s/index.tsv\n", nruns, out,
                    random ? "random" : "grid", out, out, nruns - 1, out);
#undef BAD
done:
    for (int j = 0; j < np; j++) {
        for (int v = 0; v < P[j].nvalues; v++) free(P[j].values[v]);
        free(P[j].values);
    }
    for (int j = 0; j < nfixed; j++) free(fixed[j]);
    free(fixed);
    ynode_free(root);
    free(text);
    return rc;
}

/* ---- report ---- */

typedef struct {
    char *line;  /* the index.tsv row */
    double best; /* NAN: none */
    long best_step, step;
    double loss; /* last train loss; NAN: none */
    int has_run;
} Row;

static int cmp_rows(const void *a, const void *b) {
    const Row *x = a, *y = b;
    int xn = isnan(x->best), yn = isnan(y->best);
    if (xn != yn) return xn - yn; /* runs with a metric first */
    if (!xn && x->best != y->best) return x->best > y->best ? -1 : 1;
    int xl = isnan(x->loss), yl = isnan(y->loss);
    if (xl != yl) return xl - yl;
    if (!xl && x->loss != y->loss) return x->loss < y->loss ? -1 : 1;
    return strcmp(x->line, y->line);
}

static void read_run(const char *dir, const char *run, Row *r) {
    char path[4096], latest[256] = "";
    r->best = NAN, r->loss = NAN, r->best_step = -1, r->step = 0;
    snprintf(path, sizeof path, "%s/runs/%s/latest", dir, run);
    FILE *f = fopen(path, "r");
    if (f) {
        r->has_run = 1;
        if (fgets(latest, sizeof latest, f)) latest[strcspn(latest, "\r\n")] = 0;
        fclose(f);
    }
    if (*latest) {
        snprintf(path, sizeof path, "%s/runs/%s/%s/trainer_state.json", dir, run, latest);
        json_error_t je;
        json_t *j = json_load_file(path, 0, &je);
        if (j) {
            json_t *b = json_object_get(j, "best_metric");
            if (json_is_number(b)) r->best = json_number_value(b);
            r->best_step = (long)json_integer_value(json_object_get(j, "best_step"));
            r->step = (long)json_integer_value(json_object_get(j, "step"));
            json_decref(j);
        }
    }
    snprintf(path, sizeof path, "%s/runs/%s/metrics.jsonl", dir, run);
    f = fopen(path, "r");
    if (f) {
        r->has_run = 1;
        char line[8192];
        while (fgets(line, sizeof line, f)) {
            json_error_t je;
            json_t *j = json_loads(line, 0, &je);
            if (!j) continue;
            const char *ev = json_string_value(json_object_get(j, "event"));
            json_t *l = json_object_get(j, "loss");
            if (ev && !strcmp(ev, "train") && json_is_number(l)) {
                r->loss = json_number_value(l);
                long s = (long)json_integer_value(json_object_get(j, "step"));
                if (s > r->step) r->step = s;
            }
            json_decref(j);
        }
        fclose(f);
    }
}

static int cmd_report(int argc, char **argv) {
    const char *dir = NULL;
    int npos, pr = cli_parse("sweep report", argc, argv, NULL, 0, &dir, 1, &npos, usage);
    if (pr) return cli_exit(pr);
    if (!dir) { usage(stderr); return 2; }
    char path[4096];
    snprintf(path, sizeof path, "%s/index.tsv", dir);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mtbert sweep report: %s: %s (made by mtbert sweep expand)\n", path, strerror(errno));
        return 2;
    }
    char line[8192], header[8192] = "";
    Row *rows = NULL;
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!*header) { snprintf(header, sizeof header, "%s", line); continue; }
        if (!*line) continue;
        rows = realloc(rows, (size_t)(n + 1) * sizeof *rows);
        Row *r = &rows[n++];
        memset(r, 0, sizeof *r);
        r->line = strdup(line);
        char run[64];
        snprintf(run, sizeof run, "%.*s", (int)strcspn(line, "\t"), line);
        read_run(dir, run, r);
    }
    fclose(f);
    qsort(rows, (size_t)n, sizeof *rows, cmp_rows);
    printf("%s\tsteps\tbest_metric\tbest_step\tlast_loss\n", header);
    for (int i = 0; i < n; i++) {
        Row *r = &rows[i];
        char b[32] = "-", l[32] = "-", bs[32] = "-";
        if (!isnan(r->best)) snprintf(b, sizeof b, "%.4f", r->best);
        if (r->best_step >= 0) snprintf(bs, sizeof bs, "%ld", r->best_step);
        if (!isnan(r->loss)) snprintf(l, sizeof l, "%.4f", r->loss);
        char st[32] = "not run";
        if (r->has_run) snprintf(st, sizeof st, "%ld", r->step);
        printf("%s\t%s\t%s\t%s\t%s\n", r->line, st, b, bs, l);
        free(r->line);
    }
    free(rows);
    return 0;
}

int cmd_sweep(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    /* argv[1] is the action: cli_parse reads argv[1..] of what it is given */
    if (!strcmp(argv[1], "expand")) return cmd_expand(argc - 1, argv + 1);
    if (!strcmp(argv[1], "report")) return cmd_report(argc - 1, argv + 1);
    fprintf(stderr, "mtbert sweep: unknown action '%s' (expand or report)\n", argv[1]);
    usage(stderr);
    return 2;
}
