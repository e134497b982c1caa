/* config.c — YAML configuration: load, --set overrides, validation with
 * marks, defaults, and the resolved dump.
 *
 * Loading is: file -> YNode tree (yaml_tree.c) -> overrides spliced into
 * the tree (their nodes remember which --set they came from) -> every key
 * checked against the table of config_schema.c and stored -> cross-key
 * checks. Problems are collected, sorted by place and printed together. */
#include "trainer/config/config.h"
#include "trainer/model/family.h"
#include "trainer/model/contrastive.h"
#include "trainer/model/task_kind.h"
#include "kernels/ops.h"

/* the config's enums are the chooser's (ops_select) */
_Static_assert((int)CFG_BACKEND_AUTO == (int)BACKEND_AUTO && (int)CFG_BACKEND_CPU == (int)BACKEND_CPU &&
                   (int)CFG_BACKEND_CUDA == (int)BACKEND_CUDA, "ConfigBackend != BackendChoice");
_Static_assert((int)CFG_PRECISION_FP32 == (int)PRECISION_FP32 && (int)CFG_PRECISION_BF16 == (int)PRECISION_BF16,
               "ConfigPrecision != PrecisionChoice");

#include <ctype.h>
#include <sched.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "trainer/config/config_schema.h"
#include "trainer/config/yaml_tree.h"
#include "util/fsutil.h"

/* ---------------------------------------------------------------- diagnostics */

typedef struct {
    int origin, line, col, seq;
    char *text;
} Diag;

typedef struct {
    char path[160];
    const YNode *node;
    int bad;                     /* the value was rejected: the key keeps its default */
} Mark;

typedef struct {
    const char *file;
    const char *const *ovr;
    Config *cfg;
    Diag *d;
    int nd, capd;
    Mark *marks;
    int nmarks, capm;
    const YNode *task_item[MAX_TASKS];
    const YNode *root;
} Ctx;

static void diag(Ctx *c, const YNode *at, const char *fmt, ...) {
    char msg[1024], line[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int origin = at ? at->origin : -1;
    if (origin >= 0) snprintf(line, sizeof line, "--set %s: %s", c->ovr[origin], msg);
    else if (at) snprintf(line, sizeof line, "%s:%d:%d: %s", c->file, at->line, at->col, msg);
    else snprintf(line, sizeof line, "%s: %s", c->file, msg);
    if (c->nd == c->capd) {
        int cap = c->capd ? 2 * c->capd : 16;
        Diag *p = realloc(c->d, (size_t)cap * sizeof *p);
        if (!p) return;
        c->d = p;
        c->capd = cap;
    }
    Diag *dg = &c->d[c->nd];
    dg->origin = origin;
    dg->line = at && origin < 0 ? at->line : 0;
    dg->col = at && origin < 0 ? at->col : 0;
    dg->seq = c->nd;
    dg->text = strdup(line);
    if (dg->text) c->nd++;
}

static int diag_cmp(const void *pa, const void *pb) {
    const Diag *a = pa, *b = pb;
    /* the file's problems in reading order, then the overrides' in given order */
    int ka = a->origin < 0 ? -1 : a->origin, kb = b->origin < 0 ? -1 : b->origin;
    if (ka != kb) return ka < kb ? -1 : 1;
    if (a->line != b->line) return a->line < b->line ? -1 : 1;
    if (a->col != b->col) return a->col < b->col ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

static void add_mark(Ctx *c, const char *path, const YNode *node) {
    if (c->nmarks == c->capm) {
        int cap = c->capm ? 2 * c->capm : 64;
        Mark *p = realloc(c->marks, (size_t)cap * sizeof *p);
        if (!p) return;
        c->marks = p;
        c->capm = cap;
    }
    snprintf(c->marks[c->nmarks].path, sizeof c->marks[0].path, "%.159s", path);
    c->marks[c->nmarks].bad = 0;
    c->marks[c->nmarks++].node = node;
}

/* `path` was given a value that was reported as wrong. */
static void add_bad(Ctx *c, const char *path, const YNode *node) {
    add_mark(c, path, node);
    if (c->nmarks && !strcmp(c->marks[c->nmarks - 1].path, path)) c->marks[c->nmarks - 1].bad = 1;
}

/* The node where `path` was set, or NULL when it kept its default. */
static const YNode *mark(const Ctx *c, const char *path) {
    for (int i = c->nmarks - 1; i >= 0; i--)
        if (!strcmp(c->marks[i].path, path)) return c->marks[i].bad ? NULL : c->marks[i].node;
    return NULL;
}

/* Was a value of `path` rejected? Checks between keys then stay quiet: the
 * key holds its default, a value the user wrote nowhere. */
static int rejected(const Ctx *c, const char *path) {
    for (int i = c->nmarks - 1; i >= 0; i--)
        if (!strcmp(c->marks[i].path, path)) return c->marks[i].bad;
    return 0;
}

static int both_valid(const Ctx *c, const char *a, const char *b) { return !rejected(c, a) && !rejected(c, b); }

/* The first of two keys that was set (for a contradiction between them). */
static const YNode *mark2(const Ctx *c, const char *a, const char *b) {
    const YNode *n = mark(c, a);
    return n ? n : mark(c, b);
}

/* --------------------------------------------------------- names, distances */

/* Optimal string alignment distance (Levenshtein plus transpositions). */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 100 || lb > 100) return 1000;
    int d[101][101];
    for (int i = 0; i <= la; i++) d[i][0] = i;
    for (int j = 0; j <= lb; j++) d[0][j] = j;
    for (int i = 1; i <= la; i++)
        for (int j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    return d[la][lb];
}

/* Near enough to suggest: about one edit per three characters. */
static int close_enough(const char *typed, int dist) { return 3 * dist <= (int)strlen(typed) + 1; }

typedef struct {
    const char *best;
    int dist;
} Nearest;

static void nearest_add(Nearest *n, const char *typed, const char *cand) {
    int d = edit_distance(typed, cand);
    if (!n->best || d < n->dist) {
        n->best = cand;
        n->dist = d;
    }
}

static const KeyDef *find_key(const char *section, const char *name) {
    for (int i = 0; i < config_nkeys; i++)
        if (!strcmp(config_keys[i].section, section) && !strcmp(config_keys[i].name, name))
            return &config_keys[i];
    return NULL;
}

/* Full dotted name of a key, with the task index written as `task_seg`. */
static void key_path(const KeyDef *k, const char *task_seg, char *out, size_t len) {
    const char *s = k->section;
    if (!*s) snprintf(out, len, "%s", k->name);
    else if (!strcmp(s, "task")) snprintf(out, len, "tasks.%s.%s", task_seg, k->name);
    else if (!strcmp(s, "task.data")) snprintf(out, len, "tasks.%s.data.%s", task_seg, k->name);
    else snprintf(out, len, "%s.%s", s, k->name);
}

static void unknown_key(Ctx *c, const YNode *key, const char *section, const char *path) {
    if (key->origin >= 0) {
        /* an override: compare its whole dotted key with every valid one.
         * The key the override names, as typed (tasks.ner.x); a key inside
         * a mapping it gave as the value (--set 'model={hiden_size: 3}'):
         * the path of that key */
        char typed[256], cand[256], best[256] = "", seg[64] = "0";
        const char *o = c->ovr[key->origin];
        size_t kl = strcspn(o, "=");
        snprintf(typed, sizeof typed, "%.*s", (int)(kl < 255 ? kl : 255), o);
        /* apply_override makes the nodes of its dotted key at line 0; the
         * keys of a YAML value it parsed have lines from 1 */
        if (key->line > 0) snprintf(typed, sizeof typed, "%.120s%s%.120s", path, *path ? "." : "", key->str);
        if (!strncmp(typed, "tasks.", 6)) snprintf(seg, sizeof seg, "%.*s", (int)strcspn(typed + 6, "."), typed + 6);
        int bestd = 1000;
        for (int i = 0; i < config_nkeys; i++) {
            key_path(&config_keys[i], seg, cand, sizeof cand);
            int d = edit_distance(typed, cand);
            if (d < bestd) {
                bestd = d;
                snprintf(best, sizeof best, "%s", cand);
            }
        }
        if (*best && close_enough(typed, bestd) && strcmp(best, typed))
            diag(c, key, "unknown key '%s' (did you mean '%s'?)", typed, best);
        else
            diag(c, key, "unknown key '%s'", typed);
        return;
    }
    Nearest n = {0};
    char list[1024] = "";
    for (int i = 0; i < config_nkeys; i++) {
        if (strcmp(config_keys[i].section, section)) continue;
        nearest_add(&n, key->str, config_keys[i].name);
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", l ? ", " : "", config_keys[i].name);
    }
    char where[200] = "";
    if (*path) snprintf(where, sizeof where, " in %s", path);
    if (n.best && close_enough(key->str, n.dist))
        diag(c, key, "unknown key '%s'%s (did you mean '%s'?)", key->str, where, n.best);
    else
        diag(c, key, "unknown key '%s'%s (valid keys: %s)", key->str, where, list);
}

/* ------------------------------------------------------------ scalar parsing */

static int parse_ll(const char *s, long long *out) {
    if (!*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (!*end && !errno) {
        *out = v;
        return 0;
    }
    /* 1e5 or 2000.0 for an integer is fine when it is one exactly */
    errno = 0;
    double d = strtod(s, &end);
    if (*end || errno || !isfinite(d) || d != floor(d) || fabs(d) > 9e18) return -1;
    *out = (long long)d;
    return 0;
}

static int parse_num(const char *s, double *out) {
    if (!*s || isspace((unsigned char)*s)) return -1;
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (*end || !isfinite(d)) return -1;
    *out = d;
    return 0;
}

static int parse_bool(const char *s, int *out) {
    static const char *const t[] = {"true", "yes", "on"}, *const f[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (!strcasecmp(s, t[i])) return *out = 1, 0;
        if (!strcasecmp(s, f[i])) return *out = 0, 0;
    }
    return -1;
}

static void fmt_bound(char *out, size_t len, double v) {
    if (v == floor(v) && fabs(v) < 1e15) snprintf(out, len, "%.0f", v);
    else snprintf(out, len, "%g", v);
}

/* "must be in [1, 4096]", "must be > 0", ... */
static void range_text(const KeyDef *k, char *out, size_t len) {
    char lo[32], hi[32];
    fmt_bound(lo, sizeof lo, k->min);
    fmt_bound(hi, sizeof hi, k->max);
    if (k->max >= 1e15)
        snprintf(out, len, "must be %s %s", k->open & OPEN_MIN ? ">" : ">=", lo);
    else
        snprintf(out, len, "must be in %c%s, %s%c", k->open & OPEN_MIN ? '(' : '[', lo, hi,
                 k->open & OPEN_MAX ? ')' : ']');
}

static int in_range(const KeyDef *k, double v) {
    if (k->open & OPEN_MIN ? v <= k->min : v < k->min) return 0;
    if (k->open & OPEN_MAX ? v >= k->max : v > k->max) return 0;
    return 1;
}

static int valid_name(const char *s) {
    if (!*s) return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-') return 0;
    return 1;
}

/* ------------------------------------------------------------ storing values */

static void *field(const KeyDef *k, Config *cfg, int task) {
    switch (k->base) {
    case BASE_TASK: return (char *)&cfg->model.tasks[task] + k->off;
    case BASE_SETUP: return (char *)&cfg->task[task] + k->off;
    default: return (char *)cfg + k->off;
    }
}

static int set_layers(Ctx *c, const YNode *v, const char *path, unsigned long long *mask);
static int set_unfreeze(Ctx *c, const YNode *v, const char *path);
static int set_string_list(Ctx *c, const YNode *v, const char *path, const char *what, char ***out,
                           int *n, int max);

/* Store one value. `c` NULL: a built-in default (text known good). */
static int set_value(Ctx *c, const KeyDef *k, Config *cfg, int task, const YNode *v, const char *path) {
    void *p = field(k, cfg, task);
    const char *s = v->str;
    char range[128];
    if (k->kind <= K_STR && k->kind >= K_INT && v->kind != YNODE_SCALAR) {
        static const char *const want[] = {[K_INT] = "an integer", [K_LONG] = "an integer",
                                           [K_U64] = "an integer", [K_FLOAT] = "a number",
                                           [K_DOUBLE] = "a number", [K_BOOL] = "true or false",
                                           [K_ENUM] = "a name", [K_STR] = "a string"};
        diag(c, v, "%s: expected %s, got %s", path, want[k->kind], ynode_kind_name(v));
        return -1;
    }
    switch (k->kind) {
    case K_INT:
    case K_LONG:
    case K_U64: {
        long long x = 0;
        if (k->kind == K_U64 && *s && strspn(s, "0123456789") == strlen(s)) {
            errno = 0;
            unsigned long long u = strtoull(s, NULL, 10);
            if (!errno) {
                *(unsigned long long *)p = u;
                return 0;
            }
        }
        if ((k->kind == K_U64 && *s == '-') || parse_ll(s, &x)) {
            diag(c, v, "%s: expected %s, got '%s'", path,
                 k->kind == K_U64 ? "a non-negative integer" : "an integer", s);
            return -1;
        }
        if (k->kind != K_U64 && !in_range(k, (double)x)) {
            range_text(k, range, sizeof range);
            diag(c, v, "%s: %s, got %s", path, range, s);
            return -1;
        }
        if (k->kind == K_INT) *(int *)p = (int)x;
        else if (k->kind == K_LONG) *(long *)p = (long)x;
        else *(unsigned long long *)p = (unsigned long long)x;
        return 0;
    }
    case K_FLOAT:
    case K_DOUBLE: {
        double x;
        if (parse_num(s, &x)) {
            diag(c, v, "%s: expected a number, got '%s'", path, s);
            return -1;
        }
        if (!in_range(k, x)) {
            range_text(k, range, sizeof range);
            diag(c, v, "%s: %s, got %s", path, range, s);
            return -1;
        }
        if (k->kind == K_FLOAT) *(float *)p = (float)x;
        else *(double *)p = x;
        return 0;
    }
    case K_BOOL:
        if (parse_bool(s, (int *)p)) {
            diag(c, v, "%s: expected true or false, got '%s'", path, s);
            return -1;
        }
        return 0;
    case K_ENUM: {
        Nearest n = {0};
        char list[256] = "";
        for (int i = 0; k->enums[i]; i++) {
            if (!strcasecmp(s, k->enums[i])) {
                *(int *)p = i;
                return 0;
            }
            nearest_add(&n, s, k->enums[i]);
            size_t l = strlen(list);
            snprintf(list + l, sizeof list - l, "%s%s", i ? ", " : "", k->enums[i]);
        }
        if (n.best && close_enough(s, n.dist))
            diag(c, v, "%s: must be one of %s; got '%s' (did you mean '%s'?)", path, list, s, n.best);
        else
            diag(c, v, "%s: must be one of %s; got '%s'", path, list, s);
        return -1;
    }
    case K_STR: {
        char **dst = p;
        free(*dst);
        *dst = *s ? strdup(s) : NULL;
        return 0;
    }
    case K_NAME:
        if (v->kind != YNODE_SCALAR) {
            diag(c, v, "%s: expected a name, got %s", path, ynode_kind_name(v));
            return -1;
        }
        if (strlen(s) >= MAX_NAME || !valid_name(s)) {
            diag(c, v, "%s: a name of 1 to %d letters, digits, '_' or '-' is expected, got '%s'", path,
                 MAX_NAME - 1, s);
            return -1;
        }
        snprintf((char *)p, MAX_NAME, "%s", s);
        return 0;
    case K_LABELS:
        return set_string_list(c, v, path, "label", &cfg->task[task].labels, &cfg->task[task].nlabels,
                               MAX_LABELS);
    case K_LAYERS:
        return set_layers(c, v, path, &cfg->freeze.layers);
    case K_HEADS: {
        char **names = NULL;
        int n = 0;
        if (set_string_list(c, v, path, "task name", &names, &n, MAX_TASKS)) return -1;
        cfg->freeze.nheads = 0;
        for (int i = 0; i < n; i++) {
            snprintf(cfg->freeze.heads[cfg->freeze.nheads++], MAX_NAME, "%s", names[i]);
            free(names[i]);
        }
        free(names);
        return 0;
    }
    case K_UNFREEZE:
        return set_unfreeze(c, v, path);
    default:
        return 0;
    }
}

static int set_string_list(Ctx *c, const YNode *v, const char *path, const char *what, char ***out,
                           int *nout, int max) {
    if (v->kind == YNODE_SCALAR) {
        diag(c, v, "%s: expected a list of %ss, got '%s'", path, what, v->str);
        return -1;
    }
    if (v->kind != YNODE_SEQ) {
        diag(c, v, "%s: expected a list of %ss, got %s", path, what, ynode_kind_name(v));
        return -1;
    }
    if (v->n > max) {
        diag(c, v, "%s: at most %d %ss, got %d", path, max, what, v->n);
        return -1;
    }
    int bad = 0;
    for (int i = 0; i < v->n; i++) {
        const YNode *it = v->items[i];
        if (it->kind != YNODE_SCALAR || !*it->str || strlen(it->str) >= MAX_NAME) {
            diag(c, it, "%s: item %d: expected a %s of 1 to %d characters", path, i, what, MAX_NAME - 1);
            bad = 1;
            continue;
        }
        for (int j = 0; j < i; j++)
            if (v->items[j]->kind == YNODE_SCALAR && !strcmp(v->items[j]->str, it->str)) {
                diag(c, it, "%s: '%s' is listed twice", path, it->str);
                bad = 1;
                break;
            }
    }
    if (bad) return -1;
    for (int i = 0; i < *nout; i++) free((*out)[i]);
    free(*out);
    *out = NULL;
    *nout = 0;
    if (!v->n) return 0;
    *out = calloc((size_t)v->n, sizeof **out);
    if (!*out) return -1;
    for (int i = 0; i < v->n; i++) (*out)[i] = strdup(v->items[i]->str);
    *nout = v->n;
    return 0;
}

/* One item of freeze.layers: 5 or "2-7" (inclusive). */
static int layer_item(Ctx *c, const YNode *it, const char *path, unsigned long long *mask) {
    long long lo, hi;
    const char *s = it->kind == YNODE_SCALAR ? it->str : "";
    const char *dash = strchr(s, '-');
    int ok;
    if (dash && dash != s) {
        char a[32];
        snprintf(a, sizeof a, "%.*s", (int)(dash - s < 31 ? dash - s : 31), s);
        ok = !parse_ll(a, &lo) && !parse_ll(dash + 1, &hi);
    } else {
        ok = !parse_ll(s, &lo);
        hi = lo;
    }
    if (it->kind != YNODE_SCALAR || !ok) {
        diag(c, it, "%s: expected a layer number, a range LO-HI or a list of them, got %s%s%s", path,
             it->kind == YNODE_SCALAR ? "'" : "", it->kind == YNODE_SCALAR ? s : ynode_kind_name(it),
             it->kind == YNODE_SCALAR ? "'" : "");
        return -1;
    }
    if (lo < 0 || hi < lo || hi >= CONFIG_MAX_LAYERS) {
        diag(c, it, "%s: '%s' is not a layer range within 0-%d (LO <= HI)", path, s, CONFIG_MAX_LAYERS - 1);
        return -1;
    }
    for (long long l = lo; l <= hi; l++) *mask |= 1ULL << l;
    return 0;
}

static int set_layers(Ctx *c, const YNode *v, const char *path, unsigned long long *mask) {
    unsigned long long m = 0;
    int bad = 0;
    if (v->kind == YNODE_SEQ) {
        for (int i = 0; i < v->n; i++) bad |= layer_item(c, v->items[i], path, &m);
    } else {
        bad = layer_item(c, v, path, &m);
    }
    if (!bad) *mask = m;
    return bad ? -1 : 0;
}

static int set_unfreeze(Ctx *c, const YNode *v, const char *path) {
    Config *cfg = c->cfg;
    if (v->kind != YNODE_MAP) {
        diag(c, v, "%s: expected a mapping of group: step, got %s", path, ynode_kind_name(v));
        return -1;
    }
    int bad = 0;
    cfg->freeze.nunfreeze = 0;
    for (int i = 0; i < YNODE_PAIRS(v); i++) {
        const YNode *k = v->items[2 * i], *val = v->items[2 * i + 1];
        char full[256];
        snprintf(full, sizeof full, "%s.%s", path, k->str);
        int dup = 0;
        for (int j = 0; j < i; j++)
            if (!strcmp(v->items[2 * j]->str, k->str)) dup = 1;
        long long step;
        if (dup) {
            diag(c, k, "duplicate key '%s' in %s", k->str, path);
            bad = 1;
        } else if (strlen(k->str) >= sizeof cfg->freeze.unfreeze[0].group) {
            diag(c, k, "%s: group name too long", full);
            bad = 1;
        } else if (val->kind != YNODE_SCALAR || parse_ll(val->str, &step) || step < 0) {
            diag(c, val, "%s: expected a step (an integer >= 0), got %s%s%s", full,
                 val->kind == YNODE_SCALAR ? "'" : "", val->kind == YNODE_SCALAR ? val->str : ynode_kind_name(val),
                 val->kind == YNODE_SCALAR ? "'" : "");
            bad = 1;
        } else if (cfg->freeze.nunfreeze >= CONFIG_MAX_UNFREEZE) {
            diag(c, k, "%s: at most %d groups", path, CONFIG_MAX_UNFREEZE);
            bad = 1;
        } else {
            UnfreezeAt *u = &cfg->freeze.unfreeze[cfg->freeze.nunfreeze++];
            snprintf(u->group, sizeof u->group, "%s", k->str);
            u->step = (long)step;
            add_mark(c, full, k);
        }
    }
    return bad ? -1 : 0;
}

/* Built-in defaults of every key of `section`s (for the top level: every
 * non-task key; for a task: the task's keys). */
static void apply_defaults(Config *cfg, int task) {
    for (int i = 0; i < config_nkeys; i++) {
        const KeyDef *k = &config_keys[i];
        int is_task = !strncmp(k->section, "task", 4);
        if (is_task != (task >= 0) || !k->def) continue;
        YNode v = {.kind = YNODE_SCALAR, .origin = -1, .str = (char *)k->def};
        set_value(NULL, k, cfg, task, &v, k->name);
    }
}

/* ------------------------------------------------------------------ walking */

static void walk_map(Ctx *c, const YNode *map, const char *section, const char *path, int task);

static void walk_tasks(Ctx *c, const YNode *v) {
    Config *cfg = c->cfg;
    if (v->kind != YNODE_SEQ) {
        diag(c, v, "tasks: expected a list of tasks (each a mapping with name, type, ...), got %s",
             ynode_kind_name(v));
        return;
    }
    if (v->n > MAX_TASKS) diag(c, v->items[MAX_TASKS], "tasks: at most %d tasks, got %d", MAX_TASKS, v->n);
    int n = v->n < MAX_TASKS ? v->n : MAX_TASKS;
    cfg->model.ntasks = n;
    for (int t = 0; t < n; t++) {
        const YNode *it = v->items[t];
        char path[32];
        snprintf(path, sizeof path, "tasks.%d", t);
        c->task_item[t] = it;
        cfg->model.tasks[t].type = TASK_SENTENCE_CLS;
        apply_defaults(cfg, t);
        if (it->kind != YNODE_MAP) {
            diag(c, it, "%s: expected a mapping (name, type, labels, ...), got %s%s%s", path,
                 it->kind == YNODE_SCALAR ? "'" : "", it->kind == YNODE_SCALAR ? it->str : ynode_kind_name(it),
                 it->kind == YNODE_SCALAR ? "'" : "");
            continue;
        }
        walk_map(c, it, "task", path, t);
    }
}

static void walk_map(Ctx *c, const YNode *map, const char *section, const char *path, int task) {
    for (int i = 0; i < YNODE_PAIRS(map); i++) {
        const YNode *k = map->items[2 * i], *v = map->items[2 * i + 1];
        int dup = -1;
        for (int j = 0; j < i && dup < 0; j++)
            if (!strcmp(map->items[2 * j]->str, k->str)) dup = j;
        if (dup >= 0) {
            const YNode *first = map->items[2 * dup];
            if (*path) diag(c, k, "duplicate key '%s' in %s (first at line %d)", k->str, path, first->line);
            else diag(c, k, "duplicate key '%s' (first at line %d)", k->str, first->line);
            continue;
        }
        const KeyDef *kd = find_key(section, k->str);
        if (!kd) {
            unknown_key(c, k, section, path);
            continue;
        }
        char full[256];
        snprintf(full, sizeof full, "%s%s%s", path, *path ? "." : "", k->str);
        if (ynode_is_null(v)) continue;   /* key: (nothing) keeps the default */
        if (kd->kind == K_SECTION) {
            if (v->kind != YNODE_MAP) {
                diag(c, v, "%s: expected a mapping of keys, got %s%s%s", full,
                     v->kind == YNODE_SCALAR ? "'" : "", v->kind == YNODE_SCALAR ? v->str : ynode_kind_name(v),
                     v->kind == YNODE_SCALAR ? "'" : "");
                continue;
            }
            char sub[160];
            snprintf(sub, sizeof sub, "%.60s%s%.60s", section, *section ? "." : "", k->str);
            walk_map(c, v, sub, full, task);
            continue;
        }
        if (kd->kind == K_TASKS) {
            walk_tasks(c, v);
            continue;
        }
        if (set_value(c, kd, c->cfg, task, v, full) == 0) add_mark(c, full, v);
        else add_bad(c, full, v);
    }
}

/* ---------------------------------------------------------------- overrides */

static int is_index(const char *s, long *out) {
    if (!*s) return 0;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p)) return 0;
    *out = strtol(s, NULL, 10);
    return 1;
}

/* Splice `--set KEY=VALUE` number `idx` into the tree. Unknown keys are
 * created and later reported by the walk, with a suggestion. */
static void apply_override(Ctx *c, YNode *root, int idx) {
    const char *o = c->ovr[idx];
    YNode here = {.origin = idx};   /* for messages that have no node yet */
    const char *eq = strchr(o, '=');
    if (!eq || eq == o) {
        diag(c, &here, "expected KEY=VALUE (e.g. optimizer.lr=3e-5)");
        return;
    }
    char key[256];
    if ((size_t)(eq - o) >= sizeof key) {
        diag(c, &here, "key too long");
        return;
    }
    snprintf(key, sizeof key, "%.*s", (int)(eq - o), o);
    YNode *val = NULL;
    YError ye;
    if (ynode_parse(eq + 1, strlen(eq + 1), &val, &ye)) {
        diag(c, &here, "cannot read the value as YAML: %s (column %d)", ye.msg, ye.col);
        return;
    }
    if (!val) val = ynode_new(YNODE_SCALAR, 0, 0, "");
    if (!val) return;
    ynode_set_origin(val, idx);

    YNode *cur = root;
    char walked[256] = "";
    char *save = NULL;
    int empty_seg = strstr(key, "..") || key[0] == '.' || eq[-1] == '.';
    char *seg = strtok_r(key, ".", &save);
    if (empty_seg) seg = NULL;
    if (!seg) {
        diag(c, &here, "'%.*s' is not a dotted key", (int)(eq - o), o);
        ynode_free(val);
        return;
    }
    while (seg) {
        char *next = strtok_r(NULL, ".", &save);
        size_t wl = strlen(walked);
        snprintf(walked + wl, sizeof walked - wl, "%s%s", wl ? "." : "", seg);
        YNode **slot = NULL;
        if (cur->kind == YNODE_MAP) {
            int i = ynode_map_index(cur, seg);
            if (i < 0) {
                YNode *k = ynode_new(YNODE_SCALAR, 0, 0, seg);
                YNode *nv = next ? ynode_new(YNODE_MAP, 0, 0, NULL) : NULL;
                if (!k || (next && !nv)) {
                    ynode_free(k);
                    ynode_free(nv);
                    ynode_free(val);
                    return;
                }
                k->origin = idx;
                if (nv) nv->origin = idx;
                ynode_append(cur, k);
                ynode_append(cur, nv ? nv : val);
                if (!next) return;
                cur = nv;
                seg = next;
                continue;
            }
            slot = &cur->items[2 * i + 1];
        } else if (cur->kind == YNODE_SEQ) {
            long n = -1;
            if (is_index(seg, &n)) {
                if (n >= cur->n) {
                    diag(c, &here, "index %ld is out of range: '%.*s' has %d item%s", n,
                         (int)(strlen(walked) - strlen(seg) - 1), walked, cur->n, cur->n == 1 ? "" : "s");
                    ynode_free(val);
                    return;
                }
            } else {
                /* tasks.ner.loss_weight: an item by its name */
                for (int i = 0; i < cur->n && n < 0; i++) {
                    const YNode *nm = ynode_map_get(cur->items[i], "name");
                    if (nm && nm->kind == YNODE_SCALAR && !strcmp(nm->str, seg)) n = i;
                }
                if (n < 0) {
                    diag(c, &here, "'%.*s' has no item named '%s' (use an index or a name)",
                         (int)(strlen(walked) - strlen(seg) - 1), walked, seg);
                    ynode_free(val);
                    return;
                }
            }
            slot = &cur->items[n];
        }
        if (!next) {
            ynode_free(*slot);
            *slot = val;
            return;
        }
        if (ynode_is_null(*slot)) {
            YNode *nv = ynode_new(YNODE_MAP, (*slot)->line, (*slot)->col, NULL);
            if (!nv) break;
            nv->origin = idx;
            ynode_free(*slot);
            *slot = nv;
        }
        if ((*slot)->kind == YNODE_SCALAR) {
            diag(c, &here, "'%s' holds a value, not keys", walked);
            ynode_free(val);
            return;
        }
        cur = *slot;
        seg = next;
    }
    ynode_free(val);
}

/* ------------------------------------------------------------ cross checks */

const char *const *config_task_metrics(TaskType type) { return task_kind(type)->metrics; }

int config_task_index(const Config *cfg, const char *name) {
    for (int t = 0; t < cfg->model.ntasks; t++)
        if (!strcmp(cfg->model.tasks[t].name, name)) return t;
    return -1;
}

static const char *type_name(TaskType t) { return task_kind(t)->name; }

static int metric_known(TaskType type, const char *m) {
    for (const char *const *p = config_task_metrics(type); *p; p++)
        if (!strcmp(*p, m)) return 1;
    return 0;
}

static void metric_list(TaskType type, char *out, size_t len) {
    out[0] = 0;
    for (const char *const *p = config_task_metrics(type); *p; p++) {
        size_t l = strlen(out);
        snprintf(out + l, len - l, "%s%s", l ? ", " : "", *p);
    }
}

/* The task named `name` or a diagnostic with the nearest task name. */
static int task_or_report(Ctx *c, const YNode *at, const char *path, const char *name) {
    int t = config_task_index(c->cfg, name);
    if (t >= 0) return t;
    Nearest n = {0};
    for (int i = 0; i < c->cfg->model.ntasks; i++) nearest_add(&n, name, c->cfg->model.tasks[i].name);
    if (n.best && close_enough(name, n.dist))
        diag(c, at, "%s: no task named '%s' (did you mean '%s'?)", path, name, n.best);
    else
        diag(c, at, "%s: no task named '%s'", path, name);
    return -1;
}

/* tasks[].loss / scale / symmetric / margin: a contrastive task's loss (contrastive.h);
 * refused on other kinds, symmetric on a loss other than mnrl, margin on one other than triplet. */
static void check_contrastive_keys(Ctx *c, int t, const char *p) {
    const TaskConfig *tc = &c->cfg->model.tasks[t];
    const TaskSetup *ts = &c->cfg->task[t];
    static const char *const keys[] = {"loss", "scale", "symmetric", "mini_batch", "margin"};
    /* the resolved dump writes the defaults for every task: only other values are refused */
    int set[5] = {ts->ctr_loss != CTR_MNRL, ts->ctr_scale != CTR_DEFAULT_SCALE, ts->ctr_symmetric != 0,
                  ts->ctr_mini_batch != 0, ts->ctr_margin != CTR_DEFAULT_MARGIN};
    char q[96];
    for (int i = 0; i < 5; i++) {
        snprintf(q, sizeof q, "%s.%s", p, keys[i]);
        const YNode *at = mark(c, q);
        if (at && set[i] && !task_external_loss(tc->type))
            diag(c, at, "%s: only a contrastive task has a contrastive loss; this is a %s task", q, type_name(tc->type));
    }
    /* eval_retrieval: a contrastive task's retrieval set, all three files */
    int nir = !!ts->ir_queries + !!ts->ir_corpus + !!ts->ir_qrels;
    const YNode *ir = NULL;
    for (int i = 0; i < 3 && !ir; i++) {
        static const char *const irk[] = {"queries", "corpus", "qrels"};
        snprintf(q, sizeof q, "%s.eval_retrieval.%s", p, irk[i]);
        ir = mark(c, q);
    }
    snprintf(q, sizeof q, "%s.eval_retrieval", p);
    if (nir && ir) {
        if (!task_external_loss(tc->type))
            diag(c, ir, "%s: only a contrastive task is evaluated on a retrieval set; this is a %s task", q,
                 type_name(tc->type));
        else if (nir < 3)
            diag(c, ir, "%s: needs queries, corpus and qrels (missing %s)", q,
                 !ts->ir_queries ? "queries" : !ts->ir_corpus ? "corpus" : "qrels");
    }
    snprintf(q, sizeof q, "%s.symmetric", p);
    if (task_external_loss(tc->type) && ts->ctr_symmetric && ts->ctr_loss != CTR_MNRL && mark(c, q))
        diag(c, mark(c, q), "%s: the symmetric term belongs to loss mnrl (multiple negatives ranking)", q);
    snprintf(q, sizeof q, "%s.margin", p);
    if (task_external_loss(tc->type) && ts->ctr_margin != CTR_DEFAULT_MARGIN && ts->ctr_loss != CTR_TRIPLET && mark(c, q))
        diag(c, mark(c, q), "%s: the margin belongs to loss triplet", q);
    /* mini_batch: the cached step runs this task's batches alone, once per backward */
    snprintf(q, sizeof q, "%s.mini_batch", p);
    const YNode *mb = mark(c, q);
    if (!mb || !ts->ctr_mini_batch || !task_external_loss(tc->type)) return;
    if (c->cfg->loss_weighting == LOSS_WEIGHTING_UNCERTAINTY)
        diag(c, mb, "%s: a cached (mini_batch) task cannot use loss_weighting: uncertainty", q);
    for (int u = 0; u < c->cfg->model.ntasks; u++) {
        const TaskSetup *us = &c->cfg->task[u];
        if (u == t) continue;
        if ((ts->train && us->train && !strcmp(ts->train, us->train)) || (ts->eval && us->eval && !strcmp(ts->eval, us->eval))) {
            diag(c, mb, "%s: a cached (mini_batch) task needs data of its own; tasks.%d (%s) reads the same shards",
                 q, u, c->cfg->model.tasks[u].name);
            break;
        }
    }
}

static void check_tasks(Ctx *c) {
    Config *cfg = c->cfg;
    for (int t = 0; t < cfg->model.ntasks; t++) {
        TaskConfig *tc = &cfg->model.tasks[t];
        TaskSetup *ts = &cfg->task[t];
        const YNode *item = c->task_item[t];
        char p[64], q[96];
        snprintf(p, sizeof p, "tasks.%d", t);
        if (item->kind != YNODE_MAP) continue;
        snprintf(q, sizeof q, "%s.name", p);
        if (ynode_is_null(ynode_map_get(item, "name"))) diag(c, item, "%s: missing 'name'", p);
        for (int u = 0; u < t && tc->name[0]; u++)
            if (!strcmp(cfg->model.tasks[u].name, tc->name)) {
                diag(c, mark(c, q), "%s.name: two tasks are named '%s' (tasks.%d and tasks.%d)", p, tc->name, u, t);
                break;
            }
        if (!strcmp(tc->name, "mean") || !strcmp(tc->name, "loss"))
            diag(c, mark(c, q), "%s.name: '%s' is reserved (eval.best_metric uses it)", p, tc->name);
        snprintf(q, sizeof q, "%s.type", p);
        if (!mark(c, q)) {
            if (!ynode_is_null(ynode_map_get(item, "type"))) continue;   /* bad type: reported */
            char kinds[256];
            task_kind_list(kinds, sizeof kinds);
            diag(c, item, "%s: missing 'type' (%s)", p, kinds);
            continue;
        }
        char qn[96], ql[96];
        snprintf(qn, sizeof qn, "%s.num_labels", p);
        snprintf(ql, sizeof ql, "%s.labels", p);
        const YNode *mn = mark(c, qn), *ml = mark(c, ql);
        if (!task_has_head(tc->type) || task_score_head(tc->type)) {
            if ((mn && tc->num_labels != 1) || (ml && ts->nlabels))
                diag(c, mn ? mn : ml, "%s: a %s task %s: num_labels is 1 and it has no labels", p,
                     type_name(tc->type), task_external_loss(tc->type) ? "trains embeddings, it has no classes"
                                                                        : "predicts one score");
            tc->num_labels = 1;
        } else {
            if (ts->nlabels && mn && tc->num_labels != ts->nlabels)
                diag(c, mn, "%s.num_labels: %d, but %d labels are listed", p, tc->num_labels, ts->nlabels);
            else if (ts->nlabels)
                tc->num_labels = ts->nlabels;
            else if (!mn)
                diag(c, item, "%s: give 'labels' (a list of names) or 'num_labels'", p);
            if (tc->num_labels == 1 && (mn || ts->nlabels))
                diag(c, mn ? mn : ml, "%s: a classification task needs at least 2 labels", p);
        }
        snprintf(q, sizeof q, "%s.tag_scheme", p);
        if (task_kind(tc->type)->head != HEAD_TOKEN && ts->tag_scheme != NER_SCHEME_DEFAULT && mark(c, q))
            diag(c, mark(c, q), "%s: only a token_classification task reads entities from tags; "
                                "this is a %s task", q, type_name(tc->type));
        check_contrastive_keys(c, t, p);
        snprintf(q, sizeof q, "%s.metric", p);
        if (!ts->metric[0]) {
            snprintf(ts->metric, sizeof ts->metric, "%s", config_task_metrics(tc->type)[0]);
        } else if (!metric_known(tc->type, ts->metric)) {
            char list[200];
            metric_list(tc->type, list, sizeof list);
            diag(c, mark(c, q), "%s: '%s' is not a metric of a %s task (one of %s)", q, ts->metric,
                 type_name(tc->type), list);
        }
    }
}

/* tasks[].batch_size / max_len: default data.*; a task's batches come from
 * its data.train source, so tasks sharing one agree, and mixed batches
 * (rows from every source in one batch of data.batch_size) take none. */
static void check_task_batches(Ctx *c) {
    Config *cfg = c->cfg;
    for (int t = 0; t < cfg->model.ntasks; t++) {
        TaskSetup *ts = &cfg->task[t];
        char qb[96], ql[96];
        snprintf(qb, sizeof qb, "tasks.%d.batch_size", t);
        snprintf(ql, sizeof ql, "tasks.%d.max_len", t);
        const YNode *mb = mark(c, qb), *ml = mark(c, ql);
        if (!mb) ts->batch_size = cfg->data.batch_size;
        if (!ml) ts->max_len = cfg->data.max_len;
        if (cfg->data.mixed_batches && mb && ts->batch_size != cfg->data.batch_size)
            diag(c, mb, "%s: per-task batch sizes need data.mixed_batches: false (a mixed batch is "
                        "data.batch_size rows drawn from every task)", qb);
        if (ml && ts->max_len > cfg->data.max_len)
            diag(c, ml, "%s: %d is longer than data.max_len %d (the longest sequence the model is built for)",
                 ql, ts->max_len, cfg->data.max_len);
        for (int u = 0; u < t; u++) {
            const TaskSetup *us = &cfg->task[u];
            int same_train = ts->train && us->train && !strcmp(ts->train, us->train);
            int same_eval = ts->eval && us->eval && !strcmp(ts->eval, us->eval);
            /* an eval source is read in its first task's batches: only the length changes results */
            int bad_train = same_train && (us->batch_size != ts->batch_size || us->max_len != ts->max_len);
            if (!bad_train && !(same_eval && us->max_len != ts->max_len)) continue;
            {
                char ub[96], ul[96];
                snprintf(ub, sizeof ub, "tasks.%d.batch_size", u);
                snprintf(ul, sizeof ul, "tasks.%d.max_len", u);
                const YNode *at = mb ? mb : ml ? ml : mark(c, ub) ? mark(c, ub) : mark(c, ul);
                diag(c, at,
                     "tasks.%d (%s) and tasks.%d (%s) read the same data.%s, so they share batches: "
                     "give them the same %s (now %d x %d and %d x %d)", u,
                     cfg->model.tasks[u].name, t, cfg->model.tasks[t].name, bad_train ? "train" : "eval",
                     bad_train ? "batch_size and max_len" : "max_len", us->batch_size, us->max_len,
                     ts->batch_size, ts->max_len);
                break;
            }
        }
    }
}

static void check_freeze(Ctx *c) {
    Config *cfg = c->cfg;
    int L = cfg->model.bert.num_hidden_layers;
    if (L < CONFIG_MAX_LAYERS && (cfg->freeze.layers >> L)) {
        int hi = 63;
        while (!(cfg->freeze.layers >> hi & 1)) hi--;
        diag(c, mark2(c, "freeze.layers", "model.num_layers"),
             "freeze.layers: layer %d is beyond the model's %d layers (0-%d)", hi, L, L - 1);
    }
    cfg->freeze.head_mask = 0;
    for (int i = 0; i < cfg->freeze.nheads; i++) {
        int t = task_or_report(c, mark(c, "freeze.heads"), "freeze.heads", cfg->freeze.heads[i]);
        if (t >= 0) cfg->freeze.head_mask |= 1u << t;
    }
    int bb = cfg->freeze.backbone || cfg->freeze.all;
    for (int i = 0; i < cfg->freeze.nunfreeze; i++) {
        const UnfreezeAt *u = &cfg->freeze.unfreeze[i];
        char full[160];
        snprintf(full, sizeof full, "freeze.unfreeze_at_step.%s", u->group);
        const YNode *at = mark(c, full);
        const char *g = u->group;
        long n;
        if (!strcmp(g, "embeddings")) {
            if (!cfg->freeze.embeddings && !bb) diag(c, at, "%s: the embeddings are not frozen", full);
        } else if (!strcmp(g, "backbone")) {
            if (!bb) diag(c, at, "%s: the backbone is not frozen (freeze.backbone is false)", full);
        } else if (!strcmp(g, "all")) {
            if (!cfg->freeze.all) diag(c, at, "%s: freeze.all is false", full);
        } else if (!strcmp(g, "layers")) {
            if (!cfg->freeze.layers && !bb) diag(c, at, "%s: no encoder layer is frozen", full);
        } else if (!strcmp(g, "heads")) {
            if (!cfg->freeze.nheads && !cfg->freeze.all) diag(c, at, "%s: no head is frozen", full);
        } else if (!strncmp(g, "layer_", 6) && is_index(g + 6, &n)) {
            if (n >= L) diag(c, at, "%s: layer %ld is beyond the model's %d layers (0-%d)", full, n, L, L - 1);
            else if (!bb && !(cfg->freeze.layers >> n & 1)) diag(c, at, "%s: layer %ld is not frozen", full, n);
        } else if (!strncmp(g, "head_", 5)) {
            int t = task_or_report(c, at, full, g + 5);
            if (t >= 0 && !cfg->freeze.all && !(cfg->freeze.head_mask >> t & 1))
                diag(c, at, "%s: the head of '%s' is not frozen", full, g + 5);
        } else {
            diag(c, at, "%s: unknown group '%s' (embeddings, backbone, layers, layer_N, heads, head_TASK, all)",
                 full, g);
        }
    }
}

/* ------------------------------------------------------ set-up resolution */

/* Cores this process may run on (its affinity mask: taskset, Slurm's cpuset). */
static int cores_available(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* A positive integer from the environment (OMP_NUM_THREADS may be a list
 * "8,2": its first entry counts), or 0. */
static int env_count(const char *name) {
    const char *e = getenv(name);
    if (!e || !*e) return 0;
    char *end;
    long v = strtol(e, &end, 10);
    return v > 0 && v < 1000000 && (*end == 0 || *end == ',') && end != e ? (int)v : 0;
}

int config_resolve_threads(const Config *cfg, int world, FILE *log) {
    int cores = cores_available(), threads = cfg->train.threads;
    const char *why = "train.threads";
    if (threads <= 0 && (threads = env_count("OMP_NUM_THREADS")) > 0) {
        why = "OMP_NUM_THREADS";
    } else if (threads <= 0) {
        int local = env_count("OMPI_COMM_WORLD_LOCAL_SIZE");
        if (!local) local = env_count("MPI_LOCALNRANKS");
        if (!local) local = env_count("LOCAL_WORLD_SIZE");
        if (!local) local = env_count("SLURM_NTASKS_PER_NODE");
        if (!local || local > world) local = world;
        threads = cores / (local > 0 ? local : 1);
        if (threads < 1) threads = 1;
        why = local > 1 ? "train.threads 0: the cores over the ranks of this node" : "train.threads 0: every core";
    }
    if (threads > cores) {
        if (log)
            fprintf(log, "mtbert: warning: %s asks for %d threads, more than the %d core%s this process may use: "
                    "using %d\n", why, threads, cores, cores == 1 ? "" : "s", cores);
        threads = cores;
    }
    if (log) fprintf(log, "mtbert: %d CPU thread%s per rank (%s)\n", threads, threads == 1 ? "" : "s", why);
    return threads;
}

int config_check_depth(const Config *cfg, int layers, const char *model, char *err, size_t errlen) {
    int hi = -1;
    for (int l = CONFIG_MAX_LAYERS - 1; l >= layers && l >= 0 && hi < 0; l--)
        if (cfg->freeze.layers >> l & 1ull) hi = l;
    if (hi >= 0) {
        snprintf(err, errlen, "freeze.layers: layer %d is beyond the %d layers (0-%d) of %s", hi, layers, layers - 1,
                 model);
        return -1;
    }
    for (int i = 0; i < cfg->freeze.nunfreeze; i++) {
        const char *g = cfg->freeze.unfreeze[i].group;
        long n;
        if (!strncmp(g, "layer_", 6) && is_index(g + 6, &n) && n >= layers) {
            snprintf(err, errlen, "freeze.unfreeze_at_step.%s: layer %ld is beyond the %d layers (0-%d) of %s", g, n,
                     layers, layers - 1, model);
            return -1;
        }
    }
    return 0;
}

static char *str_printf(const char *fmt, ...) {
    char buf[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return strdup(buf);
}

/* model.type: the family's class defaults (RoBERTa/XLM-R: pad_token_id 1,
 * one token type, 514 positions, eps 1e-5; DistilBERT: no token types) for
 * the shape keys the config does not write. */
static void apply_family_defaults(Ctx *c) {
    BertConfig *b = &c->cfg->model.bert;
    const ModelFamily *f = family_get(b->family);
    c->cfg->model_type_given = mark(c, "model.type") != NULL;
    if (!mark(c, "model.pad_token_id") && !rejected(c, "model.pad_token_id")) b->pad_token_id = f->default_pad;
    if (!mark(c, "model.type_vocab_size") && !rejected(c, "model.type_vocab_size"))
        b->type_vocab_size = f->token_types ? f->default_type_vocab : 0;
    if (!mark(c, "model.max_position_embeddings") && !rejected(c, "model.max_position_embeddings"))
        b->max_position_embeddings = f->default_max_pos;
    if (!mark(c, "model.layer_norm_eps") && !rejected(c, "model.layer_norm_eps"))
        b->layer_norm_eps = f->default_layer_norm_eps;
    if (rejected(c, "model.type_vocab_size")) return;
    if (!f->token_types && b->type_vocab_size != 0)
        diag(c, mark2(c, "model.type_vocab_size", "model.type"),
             "model.type_vocab_size: a %s model has no token type embeddings (leave the key out, or 0)",
             f->model_type);
    else if (f->token_types && b->type_vocab_size == 0)
        diag(c, mark2(c, "model.type_vocab_size", "model.type"),
             "model.type_vocab_size: 0 is for a model without token types (distilbert); a %s model needs >= 1",
             f->model_type);
}

static void check_all(Ctx *c) {
    Config *cfg = c->cfg;
    BertConfig *b = &cfg->model.bert;
    apply_family_defaults(c);
    if (both_valid(c, "model.hidden_size", "model.num_heads") && b->hidden_size % b->num_attention_heads)
        diag(c, mark2(c, "model.hidden_size", "model.num_heads"),
             "model.hidden_size: %d is not divisible by model.num_heads (%d)", b->hidden_size,
             b->num_attention_heads);
    if (both_valid(c, "model.pad_token_id", "model.vocab_size") && b->pad_token_id >= b->vocab_size)
        diag(c, mark2(c, "model.pad_token_id", "model.vocab_size"),
             "model.pad_token_id: %d is outside the vocabulary (vocab_size %d)", b->pad_token_id, b->vocab_size);
    /* the max_len default (128) follows a smaller model, as bench.seq_len's */
    if (cfg->data.max_len > b->max_position_embeddings && !mark(c, "data.max_len") && !rejected(c, "data.max_len"))
        cfg->data.max_len = b->max_position_embeddings < 2 ? 2 : b->max_position_embeddings;
    if (cfg->data.max_len > b->max_position_embeddings &&
        both_valid(c, "data.max_len", "model.max_position_embeddings"))
        diag(c, mark2(c, "data.max_len", "model.max_position_embeddings"),
             "data.max_len: %d is more than model.max_position_embeddings (%d)", cfg->data.max_len,
             b->max_position_embeddings);
    /* the bench default (128) follows a smaller model; only a value the
     * user wrote is an error */
    if (cfg->bench.seq_len > b->max_position_embeddings && !mark(c, "bench.seq_len"))
        cfg->bench.seq_len = b->max_position_embeddings;
    if (cfg->bench.seq_len > b->max_position_embeddings && both_valid(c, "bench.seq_len", "model.max_position_embeddings"))
        diag(c, mark2(c, "bench.seq_len", "model.max_position_embeddings"),
             "bench.seq_len: %d is more than model.max_position_embeddings (%d)", cfg->bench.seq_len,
             b->max_position_embeddings);
    check_tasks(c);
    check_freeze(c);
    if (cfg->model.ntasks == 0) {
        /* the tasks node (--set tasks=[] names its override), else the file's top */
        const YNode *tn = c->root ? ynode_map_get(c->root, "tasks") : NULL;
        diag(c, tn && !ynode_is_null(tn) ? tn : c->root,
             "tasks: no task is configured: give at least one (a list of mappings with name, type, "
             "labels or num_labels, data.train; docs/config.md)");
    } else {
        int any = 0;
        for (int t = 0; t < cfg->model.ntasks; t++) any |= cfg->model.tasks[t].loss_weight > 0;
        if (!any) {
            char q[64];
            snprintf(q, sizeof q, "tasks.%d.loss_weight", cfg->model.ntasks - 1);
            diag(c, mark(c, q) ? mark(c, q) : mark(c, "tasks.0.loss_weight"),
                 "tasks: every task's loss_weight is 0: the loss would be 0 and nothing would train "
                 "(give some task a weight > 0; freeze.all evaluates a model without training)");
        }
    }

    if (cfg->schedule.warmup_steps > 0 && cfg->schedule.warmup_ratio > 0)
        diag(c, mark(c, "schedule.warmup_ratio"),
             "schedule: give warmup_steps or warmup_ratio, not both (warmup_steps %ld, warmup_ratio %g)",
             cfg->schedule.warmup_steps, cfg->schedule.warmup_ratio);
    if (cfg->train.steps > 0 && cfg->train.epochs > 0)
        diag(c, mark2(c, "train.epochs", "train.steps"), "train: give steps or epochs, not both");
    if (cfg->train.steps == 0 && cfg->train.epochs == 0) cfg->train.epochs = 1;
    if (cfg->train.steps > 0 && cfg->schedule.warmup_steps > cfg->train.steps)
        diag(c, mark2(c, "schedule.warmup_steps", "train.steps"),
             "schedule.warmup_steps: %ld warm-up steps are longer than training (train.steps %ld)",
             cfg->schedule.warmup_steps, cfg->train.steps);
    /* train.precision bf16 with backend cpu is the cpu-bf16 table (fp32
     * compute, activations rounded to bf16: the numerics reference) */

    /* eval.best_metric: mean | loss | TASK.METRIC */
    const char *bm = cfg->eval.best_metric;
    if (bm && strcmp(bm, "mean") && strcmp(bm, "loss")) {
        const YNode *at = mark(c, "eval.best_metric");
        const char *dot = strchr(bm, '.');
        if (!dot) {
            diag(c, at, "eval.best_metric: expected mean, loss or TASK.METRIC (e.g. ner.entity_f1), got '%s'", bm);
        } else {
            char name[MAX_NAME + 1];
            snprintf(name, sizeof name, "%.*s", (int)(dot - bm < MAX_NAME ? dot - bm : MAX_NAME), bm);
            int t = task_or_report(c, at, "eval.best_metric", name);
            if (t >= 0 && !metric_known(cfg->model.tasks[t].type, dot + 1)) {
                char list[200];
                metric_list(cfg->model.tasks[t].type, list, sizeof list);
                diag(c, at, "eval.best_metric: '%s' is not a metric of task '%s' (one of %s)", dot + 1, name, list);
            }
        }
    }

    /* early stopping needs periodic evaluations and the best checkpoint */
    if (cfg->eval.patience > 0 && cfg->eval.every <= 0)
        diag(c, mark2(c, "eval.patience", "eval.every"),
             "eval.patience: early stopping needs periodic evaluations (set eval.every > 0)");
    if (cfg->eval.patience > 0 && !cfg->checkpoint.keep_best)
        diag(c, mark2(c, "eval.patience", "checkpoint.keep_best"),
             "eval.patience: early stopping keeps the best checkpoint as RUN/best; checkpoint.keep_best must be true");

    check_task_batches(c);

    /* values that default to another key's */
    if (!mark(c, "optimizer.head_lr")) cfg->optimizer.head_lr = cfg->optimizer.lr;
    if (!mark(c, "optimizer.head_weight_decay")) cfg->optimizer.head_weight_decay = cfg->optimizer.weight_decay;
    if (!cfg->vocab && cfg->model_path) cfg->vocab = str_printf("%s/vocab.txt", cfg->model_path);
    if (!cfg->train.run_name) {
        const char *base = strrchr(c->file, '/');
        base = base ? base + 1 : c->file;
        size_t n = strlen(base);
        if (n > 5 && !strcmp(base + n - 5, ".yaml")) n -= 5;
        else if (n > 4 && !strcmp(base + n - 4, ".yml")) n -= 4;
        cfg->train.run_name = str_printf("%.*s", (int)n, base);
    }
    if (strchr(cfg->train.run_name, '/'))
        diag(c, mark(c, "train.run_name"), "train.run_name: '%s' must not contain '/'", cfg->train.run_name);
    if (!cfg->train.run_dir) cfg->train.run_dir = str_printf("checkpoints/%s", cfg->train.run_name);
}

/* --------------------------------------------------------------------- load */

static char *read_file(const char *path, size_t *len, int *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = errno;
        return NULL;
    }
    errno = 0;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *p = realloc(buf, cap *= 2);
        if (!p) {
            free(buf);
            buf = NULL;
        } else {
            buf = p;
        }
    }
    *err = ENOMEM;
    if (ferror(f)) {
        *err = errno ? errno : EIO;
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = n;
    return buf;
}

void config_free(Config *cfg) {
    if (!cfg) return;
    free(cfg->source);
    free(cfg->model_path);
    free(cfg->vocab);
    for (int t = 0; t < MAX_TASKS; t++) {
        TaskSetup *ts = &cfg->task[t];
        for (int i = 0; i < ts->nlabels; i++) free(ts->labels[i]);
        free(ts->labels);
        free(ts->train);
        free(ts->eval);
        free(ts->ir_queries);
        free(ts->ir_corpus);
        free(ts->ir_qrels);
    }
    free(cfg->train.run_name);
    free(cfg->train.run_dir);
    free(cfg->eval.best_metric);
    free(cfg->checkpoint.resume);
    memset(cfg, 0, sizeof *cfg);
}

int config_load(Config *cfg, const char *path, const char *const *overrides, int noverrides, FILE *errors) {
    memset(cfg, 0, sizeof *cfg);
    Ctx c = {.file = path, .ovr = overrides, .cfg = cfg};
    size_t len = 0;
    int err = 0;
    char *text = read_file(path, &len, &err);
    if (!text) {
        if (errors) fprintf(errors, "%s: cannot open: %s\n", path, strerror(err));
        return 2;
    }
    YNode *root = NULL;
    YError ye;
    int rc = ynode_parse(text, len, &root, &ye);
    free(text);
    if (rc) {
        if (errors) fprintf(errors, "%s:%d:%d: %s\n", path, ye.line, ye.col, ye.msg);
        return 2;
    }
    if (!root) root = ynode_new(YNODE_MAP, 1, 1, NULL);
    if (!root) return 2;

    cfg->source = strdup(path);
    apply_defaults(cfg, -1);
    if (root->kind != YNODE_MAP) {
        diag(&c, root, "expected a mapping of sections (model, tasks, data, ...), got %s",
             ynode_kind_name(root));
    } else {
        for (int i = 0; i < noverrides; i++) apply_override(&c, root, i);
        c.root = root;
        walk_map(&c, root, "", "", -1);
        check_all(&c);
    }

    if (c.nd) qsort(c.d, (size_t)c.nd, sizeof *c.d, diag_cmp);
    for (int i = 0; i < c.nd; i++) {
        if (errors) fprintf(errors, "%s\n", c.d[i].text);
        free(c.d[i].text);
    }
    int nd = c.nd;
    free(c.d);
    free(c.marks);
    ynode_free(root);
    if (nd) {
        config_free(cfg);
        return 2;
    }
    return 0;
}

/* ------------------------------------------------------------ resolved dump */

/* Plain when it cannot be mistaken for anything but a string. */
static void put_str(FILE *f, const char *s) {
    if (!s) {
        fputs("null", f);
        return;
    }
    int plain = *s && (isalpha((unsigned char)*s) || *s == '_' || *s == '/' || *s == '.');
    for (const char *p = s; *p && plain; p++)
        plain = isalnum((unsigned char)*p) || strchr("_-./*?+", *p);
    int b;
    double d;
    if (plain && (!parse_bool(s, &b) || !parse_num(s, &d) || !strcasecmp(s, "null") ||
                  !strcasecmp(s, ".inf") || !strcasecmp(s, ".nan")))
        plain = 0;
    if (plain) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p == '\n') fputs("\\n", f);
        else if (*p == '\t') fputs("\\t", f);
        else if (*p < 0x20 || *p == 0x7f) fprintf(f, "\\x%02x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

/* Shortest decimal that reads back to the same value. */
static void put_real(FILE *f, double v, int is_float) {
    char buf[64];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        double back = strtod(buf, NULL);
        if (is_float ? (float)back == (float)v : back == v) break;
    }
    /* keep it a number to the eye: 1 -> 1.0 */
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");
    fputs(buf, f);
}

static void put_layers(FILE *f, unsigned long long m) {
    fputc('[', f);
    int first = 1;
    for (int i = 0; i < CONFIG_MAX_LAYERS;) {
        if (!(m >> i & 1)) {
            i++;
            continue;
        }
        int j = i;
        while (j + 1 < CONFIG_MAX_LAYERS && (m >> (j + 1) & 1)) j++;
        if (i == j) fprintf(f, "%s%d", first ? "" : ", ", i);
        else fprintf(f, "%s%d-%d", first ? "" : ", ", i, j);
        first = 0;
        i = j + 1;
    }
    fputc(']', f);
}

static void put_value(FILE *f, const KeyDef *k, const Config *cfg, int task, int indent) {
    const void *p = field(k, (Config *)cfg, task);
    switch (k->kind) {
    case K_INT: fprintf(f, "%d", *(const int *)p); break;
    case K_LONG: fprintf(f, "%ld", *(const long *)p); break;
    case K_U64: fprintf(f, "%llu", *(const unsigned long long *)p); break;
    case K_FLOAT: put_real(f, *(const float *)p, 1); break;
    case K_DOUBLE: put_real(f, *(const double *)p, 0); break;
    case K_BOOL: fputs(*(const int *)p ? "true" : "false", f); break;
    case K_ENUM: fputs(k->enums[*(const int *)p], f); break;
    case K_STR: put_str(f, *(char *const *)p); break;
    case K_NAME: put_str(f, (const char *)p); break;
    case K_LABELS: {
        const TaskSetup *ts = &cfg->task[task];
        fputc('[', f);
        for (int i = 0; i < ts->nlabels; i++) {
            if (i) fputs(", ", f);
            put_str(f, ts->labels[i]);
        }
        fputc(']', f);
        break;
    }
    case K_LAYERS: put_layers(f, cfg->freeze.layers); break;
    case K_HEADS:
        fputc('[', f);
        for (int i = 0; i < cfg->freeze.nheads; i++) {
            if (i) fputs(", ", f);
            put_str(f, cfg->freeze.heads[i]);
        }
        fputc(']', f);
        break;
    case K_UNFREEZE:
        if (!cfg->freeze.nunfreeze) fputs("{}", f);
        for (int i = 0; i < cfg->freeze.nunfreeze; i++) {
            fprintf(f, "\n%*s", indent + 2, "");
            put_str(f, cfg->freeze.unfreeze[i].group);
            fprintf(f, ": %ld", cfg->freeze.unfreeze[i].step);
        }
        break;
    default: break;
    }
}

static void put_section(FILE *f, const Config *cfg, const char *section, int task, int indent, int first_dash) {
    for (int i = 0; i < config_nkeys; i++) {
        const KeyDef *k = &config_keys[i];
        if (strcmp(k->section, section)) continue;
        if (first_dash) {
            fprintf(f, "%*s- ", indent - 2, "");
            first_dash = 0;
        } else {
            fprintf(f, "%*s", indent, "");
        }
        fprintf(f, "%s:", k->name);
        if (k->kind == K_SECTION) {
            char sub[160];
            snprintf(sub, sizeof sub, "%.60s%s%.60s", section, *section ? "." : "", k->name);
            fputc('\n', f);
            put_section(f, cfg, sub, task, indent + 2, 0);
            if (!indent) fputc('\n', f);
        } else if (k->kind == K_TASKS) {
            if (!cfg->model.ntasks) fputs(" []\n", f);
            else fputc('\n', f);
            for (int t = 0; t < cfg->model.ntasks; t++) put_section(f, cfg, "task", t, indent + 4, 1);
            fputc('\n', f);
        } else {
            if (k->kind != K_UNFREEZE || !cfg->freeze.nunfreeze) fputc(' ', f);
            put_value(f, k, cfg, task, indent);
            fputc('\n', f);
            if (!indent) fputc('\n', f);
        }
    }
}

int config_write_resolved(const Config *cfg, const char *path, char *err, size_t errlen) {
    /* built in memory, then replaced atomically (fsutil: temp, fsync, rename, folder fsync) */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "# mtbert: the resolved configuration (every key, defaults included)%s%s\n",
            cfg->source ? " of " : "", cfg->source ? cfg->source : "");
    put_section(f, cfg, "", -1, 0, 0);
    int bad = fclose(f) != 0;
    if (bad) snprintf(err, errlen, "%s: cannot write: out of memory", path);
    int rc = bad ? -1 : fs_write_atomic(path, text, len, err, errlen);
    free(text);
    return rc;
}
