/* retrieval_files.c — queries / corpus / qrels readers (retrieval_files.h). */
#include "trainer/cli/retrieval_files.h"

#include <errno.h>
#include <math.h>
#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/cli/input.h"
#include "util/xalloc.h"

static void *zalloc(size_t n, size_t size) {
    void *p = xmalloc(n * size);
    memset(p, 0, n * size);
    return p;
}

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

long rf_find(const IdTexts *t, const char *id) {
    if (!t->nslots) return -1;
    for (size_t i = fnv1a(id) & (t->nslots - 1);; i = (i + 1) & (t->nslots - 1)) {
        size_t e = t->slots[i];
        if (!e) return -1;
        if (!strcmp(t->ids[e - 1], id)) return (long)(e - 1);
    }
}

/* Adds entry n-1's id to the table; the index of an equal earlier id, or -1. */
static long table_add(IdTexts *t) {
    if (2 * t->n > t->nslots) {
        size_t ns = t->nslots ? 2 * t->nslots : 1024;
        while (2 * t->n > ns) ns *= 2;
        free(t->slots);
        t->slots = zalloc(ns, sizeof(size_t));
        t->nslots = ns;
        for (size_t k = 0; k + 1 < t->n; k++) {
            size_t i = fnv1a(t->ids[k]) & (ns - 1);
            while (t->slots[i]) i = (i + 1) & (ns - 1);
            t->slots[i] = k + 1;
        }
    }
    const char *id = t->ids[t->n - 1];
    size_t i = fnv1a(id) & (t->nslots - 1);
    for (; t->slots[i]; i = (i + 1) & (t->nslots - 1))
        if (!strcmp(t->ids[t->slots[i] - 1], id)) return (long)(t->slots[i] - 1);
    t->slots[i] = t->n;
    return -1;
}

static int is_jsonl(const char *path) {
    size_t n = strlen(path);
    return (n > 6 && !strcmp(path + n - 6, ".jsonl")) || (n > 5 && !strcmp(path + n - 5, ".json"));
}

static int blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n' && *s != '\f' && *s != '\v') return 0;
    return 1;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

/* title + " " + text, leading and trailing whitespace removed */
static char *join_title(const char *title, const char *text) {
    size_t a = strlen(title), b = strlen(text);
    char *s = xmalloc(a + b + 2), *p = s;
    memcpy(p, title, a);
    p[a] = ' ';
    memcpy(p + a + 1, text, b + 1);
    char *start = s;
    while (*start && is_space(*start)) start++;
    size_t len = strlen(start);
    while (len > 0 && is_space(start[len - 1])) len--;
    memmove(s, start, len);
    s[len] = 0;
    return s;
}

/* One JSONL entry: 0, or -1 with why in err. */
static int parse_json_entry(const char *line, int corpus, char **id, char **text, char *err, size_t errlen) {
    json_error_t je;
    json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &je);
    int rc = -1;
    if (!o) {
        snprintf(err, errlen, "not JSON: %s (column %d)", je.text, je.column);
        return -1;
    }
    json_t *jid = json_object_get(o, "_id"), *jt = json_object_get(o, "text"), *jti = json_object_get(o, "title");
    char num[32];
    if (!json_is_object(o)) snprintf(err, errlen, "not a JSON object");
    else if (!jid) snprintf(err, errlen, "no \"_id\"");
    else if (!json_is_string(jid) && !json_is_integer(jid)) snprintf(err, errlen, "\"_id\" is not a string or an integer");
    else if (!jt || !json_is_string(jt)) snprintf(err, errlen, "no string \"text\"");
    else if (corpus && jti && !json_is_null(jti) && !json_is_string(jti)) snprintf(err, errlen, "\"title\" is not a string");
    else {
        if (json_is_integer(jid)) snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(jid));
        *id = xstrdup(json_is_string(jid) ? json_string_value(jid) : num);
        const char *title = corpus && json_is_string(jti) ? json_string_value(jti) : "";
        *text = corpus ? join_title(title, json_string_value(jt)) : xstrdup(json_string_value(jt));
        rc = 0;
    }
    json_decref(o);
    return rc;
}

int rf_read_texts(const char *cmd, const char *path, int corpus, IdTexts *out) {
    memset(out, 0, sizeof *out);
    Lines L;
    if (lines_read(cmd, path, &L)) return 2;
    int json = is_jsonl(path);
    size_t cap = L.n ? L.n : 1;
    out->ids = xmalloc(cap * sizeof(char *));
    out->texts = xmalloc(cap * sizeof(char *));
    out->lines = xmalloc(cap * sizeof(int));
    int rc = 0;
    char err[512];
    for (size_t i = 0; i < L.n && !rc; i++) {
        const char *line = L.lines[i];
        if (blank(line)) continue;
        char *id = NULL, *text = NULL;
        if (json) {
            if (parse_json_entry(line, corpus, &id, &text, err, sizeof err)) {
                fprintf(stderr, "mtbert %s: %s:%zu: %s\n", cmd, path, i + 1, err);
                rc = 2;
                break;
            }
        } else {
            const char *tab = strchr(line, '\t');
            if (!tab) {
                fprintf(stderr, "mtbert %s: %s:%zu: expected ID<TAB>TEXT (no tab)\n", cmd, path, i + 1);
                rc = 2;
                break;
            }
            id = xmalloc((size_t)(tab - line) + 1);
            memcpy(id, line, (size_t)(tab - line));
            id[tab - line] = 0;
            text = xstrdup(tab + 1);
        }
        out->ids[out->n] = id;
        out->texts[out->n] = text;
        out->lines[out->n] = (int)(i + 1);
        out->n++;
        if (!*id) {
            fprintf(stderr, "mtbert %s: %s:%zu: empty id\n", cmd, path, i + 1);
            rc = 2;
            break;
        }
        long prev = table_add(out);
        if (prev >= 0) {
            fprintf(stderr, "mtbert %s: %s:%zu: duplicate id '%s' (first on line %d)\n", cmd, path, i + 1, id,
                    out->lines[prev]);
            rc = 2;
        }
    }
    if (!rc && !out->n) {
        fprintf(stderr, "mtbert %s: %s: no %s in the file\n", cmd, path, corpus ? "documents" : "queries");
        rc = 2;
    }
    lines_free(&L);
    if (rc) rf_free_texts(out);
    return rc;
}

static int parse_grade(const char *s, int *g) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    while (*end == ' ' || *end == '\r') end++;
    if (!*s || *end || errno || v < INT_MIN || v > INT_MAX) return -1;
    *g = (int)v;
    return 0;
}

typedef struct {
    int q, d, grade, line;
} Judgement;

static int cmp_judgement(const void *a, const void *b) {
    const Judgement *x = a, *y = b;
    if (x->q != y->q) return x->q < y->q ? -1 : 1;
    if (x->d != y->d) return x->d < y->d ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

static int cmp_line(const void *a, const void *b) {
    const Judgement *x = a, *y = b;
    if (x->q != y->q) return x->q < y->q ? -1 : 1;
    return (x->line > y->line) - (x->line < y->line);
}

int rf_read_qrels(const char *cmd, const char *path, const IdTexts *queries, const char *qname,
                  const IdTexts *corpus, const char *cname, Qrels *out) {
    memset(out, 0, sizeof *out);
    Lines L;
    if (lines_read(cmd, path, &L)) return 2;
    Judgement *J = xmalloc((L.n ? L.n : 1) * sizeof *J);
    size_t n = 0;
    int rc = 0;
    for (size_t i = 0; i < L.n && !rc; i++) {
        char *line = L.lines[i];
        if (blank(line)) continue;
        char *f[4] = {line, NULL, NULL, NULL};
        int nf = 1;
        for (char *p = line; *p && nf < 4; p++)
            if (*p == '\t') {
                *p = 0;
                f[nf++] = p + 1;
            }
        if (nf != 3 || strchr(f[2], '\t')) {
            fprintf(stderr, "mtbert %s: %s:%zu: expected QUERY-ID<TAB>DOC-ID<TAB>RELEVANCE (%s fields)\n", cmd, path,
                    i + 1, nf > 3 ? "more than 3" : nf == 2 ? "2" : "1");
            rc = 2;
            break;
        }
        int g;
        if (parse_grade(f[2], &g)) {
            if (i == 0) continue; /* a header line, as BEIR's "query-id corpus-id score" */
            fprintf(stderr, "mtbert %s: %s:%zu: relevance '%s' is not an integer\n", cmd, path, i + 1, f[2]);
            rc = 2;
            break;
        }
        long q = rf_find(queries, f[0]), d = rf_find(corpus, f[1]);
        if (q < 0 || d < 0) {
            fprintf(stderr, "mtbert %s: %s:%zu: %s id '%s' is not in %s\n", cmd, path, i + 1,
                    q < 0 ? "query" : "document", q < 0 ? f[0] : f[1], q < 0 ? qname : cname);
            rc = 2;
            break;
        }
        J[n++] = (Judgement){(int)q, (int)d, g, (int)(i + 1)};
    }
    if (!rc && !n) {
        fprintf(stderr, "mtbert %s: %s: no judgements in the file\n", cmd, path);
        rc = 2;
    }
    if (!rc) {
        qsort(J, n, sizeof *J, cmp_judgement);
        for (size_t i = 1; i < n && !rc; i++)
            if (J[i].q == J[i - 1].q && J[i].d == J[i - 1].d) {
                fprintf(stderr, "mtbert %s: %s:%d: query '%s' and document '%s' judged twice (first on line %d)\n",
                        cmd, path, J[i].line, queries->ids[J[i].q], corpus->ids[J[i].d], J[i - 1].line);
                rc = 2;
            }
    }
    if (!rc) {
        qsort(J, n, sizeof *J, cmp_line); /* per query, file order */
        out->nq = (int)queries->n;
        out->off = zalloc((size_t)out->nq + 1, sizeof(int));
        out->docs = xmalloc(n * sizeof(int));
        out->grades = xmalloc(n * sizeof(int));
        out->n = n;
        for (size_t i = 0; i < n; i++) {
            out->off[J[i].q + 1]++;
            out->docs[i] = J[i].d;
            out->grades[i] = J[i].grade;
        }
        for (int q = 0; q < out->nq; q++) out->off[q + 1] += out->off[q];
    }
    free(J);
    lines_free(&L);
    return rc;
}

void rf_free_texts(IdTexts *t) {
    for (size_t i = 0; i < t->n; i++) {
        free(t->ids[i]);
        free(t->texts[i]);
    }
    free(t->ids);
    free(t->texts);
    free(t->lines);
    free(t->slots);
    memset(t, 0, sizeof *t);
}

void rf_free_qrels(Qrels *q) {
    free(q->off);
    free(q->docs);
    free(q->grades);
    memset(q, 0, sizeof *q);
}

double *rf_norms(const float *x, size_t n, int d) {
    double *r = xmalloc(sizeof(double) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int c = 0; c < d; c++) s += (double)x[i * d + c] * x[i * d + c];
        r[i] = sqrt(s);
    }
    return r;
}

void rf_scores(const float *qe, const double *qn, size_t q0, size_t nq, const float *ce, const double *cn, size_t nd,
               int d, float *out) {
#pragma omp parallel for schedule(static)
    for (long long qi = 0; qi < (long long)nq; qi++) {
        const float *q = qe + (q0 + (size_t)qi) * d;
        for (size_t j = 0; j < nd; j++) {
            const float *x = ce + j * d;
            double s = 0;
            for (int c = 0; c < d; c++) s += (double)q[c] * x[c];
            if (qn) {
                double den = qn[q0 + (size_t)qi] * cn[j];
                s = den > 0 ? s / den : 0.0;
            }
            out[(size_t)qi * nd + j] = (float)s;
        }
    }
}

int rf_evaluate(const float *qe, size_t nq, const float *ce, size_t nd, int d, int dot, const Qrels *R,
                RetrMetrics *m) {
    double *qn = dot ? NULL : rf_norms(qe, nq, d), *cn = dot ? NULL : rf_norms(ce, nd, d);
    size_t blk = 64;
    float *sc = xmalloc(sizeof(float) * blk * (nd ? nd : 1));
    int rc = 0;
    for (size_t q0 = 0; !rc && q0 < nq; q0 += blk) {
        size_t nb = nq - q0 < blk ? nq - q0 : blk;
        rf_scores(qe, qn, q0, nb, ce, cn, nd, d, sc);
        for (size_t i = 0; !rc && i < nb; i++) {
            int o = R->off[q0 + i], nr = R->off[q0 + i + 1] - o;
            if (retr_add_query(m, sc + i * nd, (int)nd, R->docs + o, R->grades + o, nr)) rc = -1;
        }
    }
    free(sc);
    free(qn);
    free(cn);
    return rc;
}
