/* plot.c — a run's loss and eval curves (metrics.jsonl, docs/metrics.md)
 * as an SVG with two panels: plot_run (plot.h). */
#include "trainer/train/plot.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/train/svgplot.h"
#include "util/fsutil.h"

typedef struct {
    char *key;
    int from_eval;  /* an eval record's loss, drawn in the loss panel */
    double *x, *y;
    size_t n, cap;
} Series;

typedef struct {
    Series *s;
    size_t n, cap;
} SeriesSet;

static void set_free(SeriesSet *set) {
    for (size_t i = 0; i < set->n; i++) {
        free(set->s[i].key);
        free(set->s[i].x);
        free(set->s[i].y);
    }
    free(set->s);
    memset(set, 0, sizeof *set);
}

static Series *set_get(SeriesSet *set, const char *key, int from_eval) {
    for (size_t i = 0; i < set->n; i++)
        if (set->s[i].from_eval == from_eval && !strcmp(set->s[i].key, key)) return &set->s[i];
    if (set->n == set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 16;
        Series *s = realloc(set->s, cap * sizeof *s);
        if (!s) return NULL;
        set->s = s;
        set->cap = cap;
    }
    Series *s = &set->s[set->n];
    memset(s, 0, sizeof *s);
    s->key = strdup(key);
    if (!s->key) return NULL;
    s->from_eval = from_eval;
    set->n++;
    return s;
}

static int series_push(Series *s, double x, double y) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        double *nx = realloc(s->x, cap * sizeof *nx);
        if (!nx) return -1;
        s->x = nx;
        double *ny = realloc(s->y, cap * sizeof *ny);
        if (!ny) return -1;
        s->y = ny;
        s->cap = cap;
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
    return 0;
}

typedef struct {
    double x, y;
    size_t order;
} Point;

static int point_cmp(const void *a, const void *b) {
    const Point *p = a, *q = b;
    if (p->x != q->x) return p->x < q->x ? -1 : 1;
    return p->order < q->order ? -1 : p->order > q->order;
}

/* Orders points by step; of several records for one step (a run resumed
 * from an earlier checkpoint logs those steps again) the last one wins. */
static int series_normalise(Series *s) {
    if (s->n < 2) return 0;
    Point *p = malloc(s->n * sizeof *p);
    if (!p) return -1;
    for (size_t i = 0; i < s->n; i++) p[i] = (Point){s->x[i], s->y[i], i};
    qsort(p, s->n, sizeof *p, point_cmp);
    size_t m = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (i + 1 < s->n && p[i + 1].x == p[i].x) continue;
        s->x[m] = p[i].x;
        s->y[m] = p[i].y;
        m++;
    }
    s->n = m;
    free(p);
    return 0;
}

static int is_loss_key(const char *k) { return !strcmp(k, "loss") || !strncmp(k, "loss.", 5); }

/* numeric fields of an eval record that are not curves */
static int is_bookkeeping_key(const char *k) {
    static const char *const skip[] = {"step", "epoch", "time", "time_s", "elapsed_s", "wall_s", "examples", "tokens"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (!strcmp(k, skip[i])) return 1;
    return 0;
}

typedef struct {
    long train, eval, lines;
} ReadStats;

/* Reads the JSON Lines file into the two sets. 0 ok, 2 bad input, 1 no memory. */
static int read_metrics(const char *path, SeriesSet *loss, SeriesSet *eval, ReadStats *st) {
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "mtbert plot: %s: cannot open: %s\n", path, strerror(errno));
        return 2;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) != -1) {
        lineno++;
        int complete = len > 0 && line[len - 1] == '\n';
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
            line[--len] = '\0';
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) continue;
        st->lines++;
        json_error_t err;
        json_t *rec = json_loads(p, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
        if (!rec) {
            if (!complete && fgetc(f) == EOF) {
                /* the trainer may be in the middle of writing this line */
                fprintf(stderr, "mtbert plot: %s:%ld: warning: incomplete last line ignored\n", path, lineno);
                break;
            }
            fprintf(stderr, "mtbert plot: %s:%ld: invalid JSON: %s (column %d)\n", path, lineno, err.text, err.column);
            rc = 2;
            break;
        }
        if (!json_is_object(rec)) {
            fprintf(stderr, "mtbert plot: %s:%ld: expected a JSON object, one record per line\n", path, lineno);
            json_decref(rec);
            rc = 2;
            break;
        }
        const char *event = json_string_value(json_object_get(rec, "event"));
        if (!event) {
            fprintf(stderr, "mtbert plot: %s:%ld: record has no \"event\" string\n", path, lineno);
            json_decref(rec);
            rc = 2;
            break;
        }
        int is_train = !strcmp(event, "train"), is_eval = !strcmp(event, "eval");
        if (!is_train && !is_eval) { /* other events (start, checkpoint, ...) carry no curves */
            json_decref(rec);
            continue;
        }
        json_t *jstep = json_object_get(rec, "step");
        if (!json_is_number(jstep)) {
            fprintf(stderr, "mtbert plot: %s:%ld: %s record needs a numeric \"step\"\n", path, lineno, event);
            json_decref(rec);
            rc = 2;
            break;
        }
        double step = json_number_value(jstep);
        if (is_train) st->train++;
        else st->eval++;
        const char *key;
        json_t *val;
        json_object_foreach(rec, key, val) {
            /* null (e.g. a NaN loss), strings and booleans are not points */
            if (!json_is_number(val) || is_bookkeeping_key(key)) continue;
            Series *s = NULL;
            if (is_loss_key(key)) s = set_get(loss, key, is_eval);
            else if (is_eval) s = set_get(eval, key, 1);
            else continue; /* lr, tokens_per_s, ... of train records */
            if (!s || series_push(s, step, json_number_value(val)) != 0) {
                fprintf(stderr, "mtbert plot: out of memory\n");
                rc = 1;
                break;
            }
        }
        json_decref(rec);
    }
    free(line);
    fclose(f);
    return rc;
}

/* Colour of a loss series: the total is black, each task keeps its colour
 * across train and eval (eval drawn dashed with markers). */
static void loss_style(const SeriesSet *loss, size_t i, SvgSeries *out) {
    const Series *s = &loss->s[i];
    if (!strcmp(s->key, "loss")) {
        out->color = "#222222";
        out->width = 2.0;
    } else {
        size_t idx = 0;
        /* index among distinct task keys, in order of first appearance */
        for (size_t j = 0; j < loss->n; j++) {
            if (!strcmp(loss->s[j].key, "loss")) continue;
            int seen = 0;
            for (size_t k = 0; k < j; k++)
                if (!strcmp(loss->s[k].key, loss->s[j].key)) seen = 1;
            if (!strcmp(loss->s[j].key, s->key)) break;
            if (!seen) idx++;
        }
        out->color = svg_color(idx);
        out->width = 1.5;
    }
    out->dash = s->from_eval ? "5 3" : "";
    out->markers = s->from_eval;
}

static int write_svg(const char *out, const char *title, double width, const SeriesSet *loss,
                     const SeriesSet *eval) {
    SvgSeries *ls = calloc(loss->n + 1, sizeof *ls), *es = calloc(eval->n + 1, sizeof *es);
    char **names = calloc(loss->n + 1, sizeof *names);
    char *svg = NULL;
    size_t svglen = 0;
    int rc = 1;
    FILE *f = NULL;
    if (!ls || !es || !names) {
        fprintf(stderr, "mtbert plot: out of memory\n");
        goto done;
    }
    /* train total first, then tasks; eval losses after the train ones */
    size_t nl = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < loss->n; i++) {
            const Series *s = &loss->s[i];
            if (s->from_eval != pass) continue;
            SvgSeries *o = &ls[nl];
            loss_style(loss, i, o);
            const char *base = !strcmp(s->key, "loss") ? "loss (total)" : s->key;
            names[nl] = malloc(strlen(base) + 8);
            if (!names[nl]) goto done;
            sprintf(names[nl], "%s%s", s->from_eval ? "eval " : "", base);
            o->name = names[nl];
            o->x = s->x;
            o->y = s->y;
            o->n = s->n;
            nl++;
        }
    for (size_t i = 0; i < eval->n; i++) {
        es[i] = (SvgSeries){.name = eval->s[i].key, .x = eval->s[i].x, .y = eval->s[i].y, .n = eval->s[i].n,
                            .color = svg_color(i), .dash = svg_dash(i), .width = 1.5, .markers = 1};
    }
    int npanels = (nl > 0) + (eval->n > 0);
    double panel_h = 380, height = 36 + panel_h * npanels;

    /* built in memory, written atomically (fs_write_atomic) */
    f = open_memstream(&svg, &svglen);
    if (!f) {
        fprintf(stderr, "mtbert plot: out of memory\n");
        goto done;
    }
    svg_begin(f, width, height, title);
    /* one x range and legend width for both panels, so their steps line up */
    double xlo = INFINITY, xhi = -INFINITY, lw = 0, lo, hi;
    if (nl > 0) {
        svg_x_bounds(ls, nl, &lo, &hi);
        xlo = fmin(xlo, lo);
        xhi = fmax(xhi, hi);
        lw = fmax(lw, svg_legend_width(ls, nl));
    }
    if (eval->n > 0) {
        svg_x_bounds(es, eval->n, &lo, &hi);
        xlo = fmin(xlo, lo);
        xhi = fmax(xhi, hi);
        lw = fmax(lw, svg_legend_width(es, eval->n));
    }
    double top = 36;
    if (nl > 0) {
        SvgPanel p = {.left = 0, .top = top, .width = width, .height = panel_h,
                      .title = "Training loss", .xlabel = "step", .ylabel = "loss",
                      .legend_width = lw, .fixed_x = 1, .xlo = xlo, .xhi = xhi};
        svg_panel(f, 0, &p, ls, nl);
        top += panel_h;
    }
    if (eval->n > 0) {
        SvgPanel p = {.left = 0, .top = top, .width = width, .height = panel_h,
                      .title = "Eval metrics", .xlabel = "step", .ylabel = "value",
                      .legend_width = lw, .fixed_x = 1, .xlo = xlo, .xhi = xhi};
        svg_panel(f, 1, &p, es, eval->n);
    }
    svg_end(f);
    int werr = ferror(f);
    if (fclose(f) != 0 || werr) {
        f = NULL;
        fprintf(stderr, "mtbert plot: out of memory building %s\n", out);
        goto done;
    }
    f = NULL;
    char err[1200];
    if (fs_write_atomic(out, svg, svglen, err, sizeof err)) {
        fprintf(stderr, "mtbert plot: %s\n", err);
        goto done;
    }
    rc = 0;
done:
    if (f) fclose(f);
    free(svg);
    if (names)
        for (size_t i = 0; i < loss->n + 1; i++) free(names[i]);
    free(names);
    free(ls);
    free(es);
    return rc;
}

int plot_run(const char *path, const char *out, const char *title, double width, char *summary, size_t n) {
    if (summary && n) summary[0] = 0;
    SeriesSet loss = {0}, eval = {0};
    ReadStats st = {0};
    int rc = read_metrics(path, &loss, &eval, &st);
    if (rc == 0) {
        for (size_t i = 0; i < loss.n && rc == 0; i++) rc = series_normalise(&loss.s[i]) ? 1 : 0;
        for (size_t i = 0; i < eval.n && rc == 0; i++) rc = series_normalise(&eval.s[i]) ? 1 : 0;
    }
    if (rc == 0 && loss.n == 0 && eval.n == 0) {
        fprintf(stderr, "mtbert plot: %s: no data: %s\n", path,
                st.train + st.eval == 0 ? "no \"train\" or \"eval\" records"
                                        : "train/eval records have no numeric loss or metric values");
        rc = 2;
    }
    if (rc == 0) rc = write_svg(out, title, width, &loss, &eval);
    if (rc == 0) {
        size_t points = 0;
        for (size_t i = 0; i < loss.n; i++) points += loss.s[i].n;
        for (size_t i = 0; i < eval.n; i++) points += eval.s[i].n;
        if (summary && n)
            snprintf(summary, n, "wrote %s: %ld train and %ld eval records, %zu curves, %zu points", out, st.train,
                     st.eval, loss.n + eval.n, points);
    }
    set_free(&loss);
    set_free(&eval);
    return rc;
}
