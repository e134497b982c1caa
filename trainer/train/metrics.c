/* metrics.c — classification, NER (seqeval semantics) and correlation
 * metrics. See metrics.h for the API and docs/metrics.md for the rules. */
#include "trainer/train/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double ratio(int64_t num, int64_t den) {
    return den > 0 ? (double)num / (double)den : 0.0;
}

double metric_f1(double precision, double recall) {
    double s = precision + recall;
    return s > 0 ? 2.0 * precision * recall / s : 0.0;
}

/* ---------------- classification ---------------- */

int cls_init(ClsMetrics *m, int nclasses) {
    memset(m, 0, sizeof *m);
    if (nclasses < 1) return -1;
    m->confusion = calloc((size_t)nclasses * (size_t)nclasses, sizeof *m->confusion);
    if (!m->confusion) return -1;
    m->nclasses = nclasses;
    return 0;
}

void cls_free(ClsMetrics *m) {
    free(m->confusion);
    memset(m, 0, sizeof *m);
}

void cls_reset(ClsMetrics *m) {
    if (m->confusion)
        memset(m->confusion, 0, (size_t)m->nclasses * (size_t)m->nclasses * sizeof *m->confusion);
    m->n_ignored = 0;
}

int cls_add(ClsMetrics *m, int gold, int pred) {
    if (gold == LABEL_IGNORE) {
        m->n_ignored++;
        return 0;
    }
    if (gold < 0 || gold >= m->nclasses || pred < 0 || pred >= m->nclasses) return -1;
    m->confusion[(size_t)gold * (size_t)m->nclasses + (size_t)pred]++;
    return 0;
}

size_t cls_add_batch(ClsMetrics *m, const int *gold, const int *pred, size_t n) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        if (cls_add(m, gold[i], pred[i]) != 0) bad++;
    return bad;
}

/* true positives, gold count (row sum) and predicted count (column sum) of k */
static void cls_counts(const ClsMetrics *m, int k, int64_t *tp, int64_t *gold, int64_t *pred) {
    size_t K = (size_t)m->nclasses;
    int64_t g = 0, p = 0;
    for (size_t j = 0; j < K; j++) {
        g += m->confusion[(size_t)k * K + j];
        p += m->confusion[j * K + (size_t)k];
    }
    *tp = m->confusion[(size_t)k * K + (size_t)k];
    *gold = g;
    *pred = p;
}

void cls_class(const ClsMetrics *m, int k, double *precision, double *recall,
               double *f1, int64_t *support) {
    int64_t tp = 0, g = 0, p = 0;
    if (k >= 0 && k < m->nclasses) cls_counts(m, k, &tp, &g, &p);
    double pr = ratio(tp, p), rc = ratio(tp, g);
    if (precision) *precision = pr;
    if (recall) *recall = rc;
    if (f1) *f1 = metric_f1(pr, rc);
    if (support) *support = g;
}

void cls_compute(const ClsMetrics *m, ClsSummary *out) {
    memset(out, 0, sizeof *out);
    int64_t total = 0, correct = 0;
    double sp = 0, sr = 0, sf = 0, wf = 0;
    for (int k = 0; k < m->nclasses; k++) {
        int64_t tp, g, p;
        cls_counts(m, k, &tp, &g, &p);
        total += g;
        correct += tp;
        if (g == 0 && p == 0) continue; /* absent from gold and pred */
        double pr = ratio(tp, p), rc = ratio(tp, g), f = metric_f1(pr, rc);
        sp += pr;
        sr += rc;
        sf += f;
        wf += f * (double)g;
        out->nclasses_present++;
    }
    out->n = total;
    out->accuracy = ratio(correct, total);
    if (out->nclasses_present > 0) {
        out->macro_precision = sp / out->nclasses_present;
        out->macro_recall = sr / out->nclasses_present;
        out->macro_f1 = sf / out->nclasses_present;
    }
    out->weighted_f1 = total > 0 ? wf / (double)total : 0.0;
}

/* ---------------- token classification (NER) ---------------- */

NerTag ner_parse_label(const char *label, const char **type_start, size_t *type_len) {
    *type_start = label;
    *type_len = 0;
    if (!label) return NER_O;
    NerTag t;
    switch (label[0]) {
    case 'B': t = NER_B; break;
    case 'I': t = NER_I; break;
    case 'E': t = NER_E; break;
    case 'S': t = NER_S; break;
    default: return NER_O;
    }
    if (label[1] != '-' || label[2] == '\0') return NER_O;
    *type_start = label + 2;
    *type_len = strlen(label + 2);
    return t;
}

int ner_scheme_check(const char *const *labels, int nlabels, NerScheme scheme) {
    if (scheme == NER_SCHEME_DEFAULT || !labels) return -1;
    for (int i = 0; i < nlabels; i++) {
        const char *ts;
        size_t tl;
        NerTag t = ner_parse_label(labels[i], &ts, &tl);
        if (t == NER_E || t == NER_S) return i;
    }
    return -1;
}

int ner_init(NerMetrics *m, const char *const *labels, int nlabels) {
    return ner_init_scheme(m, labels, nlabels, NER_SCHEME_DEFAULT);
}

int ner_init_scheme(NerMetrics *m, const char *const *labels, int nlabels, NerScheme scheme) {
    memset(m, 0, sizeof *m);
    if (nlabels < 1 || !labels || (int)scheme < 0 || scheme > NER_SCHEME_DEFAULT) return -1;
    m->nlabels = nlabels;
    m->scheme = scheme;
    m->tag = calloc((size_t)nlabels, sizeof *m->tag);
    m->type_of = calloc((size_t)nlabels, sizeof *m->type_of);
    m->types = calloc((size_t)nlabels, sizeof *m->types);
    m->n_gold = calloc((size_t)nlabels, sizeof *m->n_gold);
    m->n_pred = calloc((size_t)nlabels, sizeof *m->n_pred);
    m->n_correct = calloc((size_t)nlabels, sizeof *m->n_correct);
    if (!m->tag || !m->type_of || !m->types || !m->n_gold || !m->n_pred || !m->n_correct) goto fail;
    for (int i = 0; i < nlabels; i++) {
        const char *ts;
        size_t tl;
        NerTag tag = ner_parse_label(labels[i], &ts, &tl);
        m->tag[i] = tag;
        m->type_of[i] = -1;
        if (tag == NER_O) continue;
        int t = 0;
        while (t < m->ntypes && !(strlen(m->types[t]) == tl && !memcmp(m->types[t], ts, tl))) t++;
        if (t == m->ntypes) {
            m->types[t] = strndup(ts, tl);
            if (!m->types[t]) goto fail;
            m->ntypes++;
        }
        m->type_of[i] = t;
    }
    return 0;
fail:
    ner_free(m);
    return -1;
}

void ner_free(NerMetrics *m) {
    if (m->types)
        for (int t = 0; t < m->ntypes; t++) free(m->types[t]);
    free(m->types);
    free(m->tag);
    free(m->type_of);
    free(m->n_gold);
    free(m->n_pred);
    free(m->n_correct);
    free(m->sg);
    free(m->sp);
    free(m->cg);
    free(m->cp);
    memset(m, 0, sizeof *m);
}

void ner_reset(NerMetrics *m) {
    for (int t = 0; t < m->ntypes; t++) m->n_gold[t] = m->n_pred[t] = m->n_correct[t] = 0;
    m->tokens_total = m->tokens_correct = m->sentences = 0;
}

/* seqeval end_of_chunk: does the chunk that was open at the previous word
 * end before this word? (prev_type / type are -1 for O) */
static int chunk_ends(NerTag prev, NerTag tag, int prev_type, int type) {
    if (prev == NER_E || prev == NER_S) return 1;
    if ((prev == NER_B || prev == NER_I) && (tag == NER_B || tag == NER_S || tag == NER_O)) return 1;
    return prev != NER_O && prev_type != type;
}

/* seqeval start_of_chunk: does a chunk begin at this word? */
static int chunk_starts(NerTag prev, NerTag tag, int prev_type, int type) {
    if (tag == NER_B || tag == NER_S) return 1;
    if ((prev == NER_E || prev == NER_S || prev == NER_O) && (tag == NER_E || tag == NER_I)) return 1;
    return tag != NER_O && prev_type != type;
}

/* Strict modes (seqeval's Tokens with scheme IOB2 / IOB1): three pattern
 * tests on (previous tag, tag) with "same" = same entity type. */
typedef struct {
    NerTag tag;
    int type;
} NerTok;

static NerTok ner_tok(const NerMetrics *m, const int *ids, int n, int i) {
    NerTok t = {NER_O, -1};
    if (i < n && ids[i] >= 0 && ids[i] < m->nlabels) {
        t.tag = m->tag[ids[i]];
        t.type = m->type_of[ids[i]];
    }
    /* E-/S- are refused by ner_scheme_check before; read as O here */
    if (t.tag == NER_E || t.tag == NER_S) t.tag = NER_O, t.type = -1;
    return t;
}

static int strict_start(NerScheme s, NerTok p, NerTok c) {
    int same = p.type == c.type;
    if (s == NER_SCHEME_IOB2) return c.tag == NER_B;
    if (c.tag == NER_I) return p.tag == NER_O || p.tag == NER_B || (p.tag == NER_I && !same);
    if (c.tag == NER_B) return (p.tag == NER_I || p.tag == NER_B) && same;
    return 0;
}

static int strict_inside(NerTok p, NerTok c) {
    return c.tag == NER_I && (p.tag == NER_B || p.tag == NER_I) && p.type == c.type;
}

/* does the entity whose last word is p end before c? */
static int strict_end(NerScheme s, NerTok p, NerTok c) {
    int same = p.type == c.type;
    if (p.tag != NER_B && p.tag != NER_I) return 0;
    if (c.tag == NER_O) return 1;
    if (c.tag == NER_I) return !same;
    /* c is B-: after I- always; after B- IOB2 always, IOB1 only the same type */
    return p.tag == NER_I || s == NER_SCHEME_IOB2 || same;
}

static int ner_chunks_strict(const NerMetrics *m, const int *ids, int n, NerChunk *out) {
    int count = 0, i = 0;
    NerTok prev = {NER_O, -1};
    /* word n is a virtual "O" that closes an entity still open */
    while (i <= n) {
        NerTok cur = ner_tok(m, ids, n, i);
        if (strict_start(m->scheme, prev, cur)) {
            int e = i + 1;
            NerTok last = cur;
            while (e <= n && strict_inside(last, ner_tok(m, ids, n, e))) last = ner_tok(m, ids, n, e++);
            if (e <= n && strict_end(m->scheme, last, ner_tok(m, ids, n, e))) {
                out[count].type = cur.type;
                out[count].start = i;
                out[count].end = e - 1;
                count++;
            }
            i = e;
        } else {
            i++;
        }
        prev = ner_tok(m, ids, n, i - 1);
    }
    return count;
}

int ner_chunks(const NerMetrics *m, const int *ids, int n, NerChunk *out) {
    if (m->scheme != NER_SCHEME_DEFAULT) return ner_chunks_strict(m, ids, n, out);
    NerTag prev = NER_O;
    int prev_type = -1, begin = 0, count = 0;
    /* one step past the end with a virtual "O" closes a chunk still open */
    for (int i = 0; i <= n; i++) {
        NerTag tag = NER_O;
        int type = -1;
        if (i < n && ids[i] >= 0 && ids[i] < m->nlabels) {
            tag = m->tag[ids[i]];
            type = m->type_of[ids[i]];
        }
        if (chunk_ends(prev, tag, prev_type, type)) {
            out[count].type = prev_type;
            out[count].start = begin;
            out[count].end = i - 1;
            count++;
        }
        if (chunk_starts(prev, tag, prev_type, type)) begin = i;
        prev = tag;
        prev_type = type;
    }
    return count;
}

static int ner_grow(NerMetrics *m, size_t n) {
    if (n <= m->scratch_cap) return 0;
    size_t cap = m->scratch_cap ? m->scratch_cap : 64;
    while (cap < n) cap *= 2;
    int *sg = realloc(m->sg, cap * sizeof *sg);
    if (!sg) return -1;
    m->sg = sg;
    int *sp = realloc(m->sp, cap * sizeof *sp);
    if (!sp) return -1;
    m->sp = sp;
    NerChunk *cg = realloc(m->cg, cap * sizeof *cg);
    if (!cg) return -1;
    m->cg = cg;
    NerChunk *cp = realloc(m->cp, cap * sizeof *cp);
    if (!cp) return -1;
    m->cp = cp;
    m->scratch_cap = cap;
    return 0;
}

int ner_add_sentence(NerMetrics *m, const int *gold, const int *pred, int n) {
    if (n < 0) return -1;
    for (int i = 0; i < n; i++)
        if (gold[i] != LABEL_IGNORE && (gold[i] < 0 || gold[i] >= m->nlabels)) return -1;
    if (ner_grow(m, (size_t)n + 1) != 0) return -1;
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (gold[i] == LABEL_IGNORE) continue;
        int p = pred[i] >= 0 && pred[i] < m->nlabels ? pred[i] : -1;
        m->sg[k] = gold[i];
        m->sp[k] = p;
        m->tokens_correct += p == gold[i];
        k++;
    }
    m->tokens_total += k;
    m->sentences++;
    int ng = ner_chunks(m, m->sg, k, m->cg);
    int np = ner_chunks(m, m->sp, k, m->cp);
    for (int i = 0; i < ng; i++) m->n_gold[m->cg[i].type]++;
    for (int i = 0; i < np; i++) m->n_pred[m->cp[i].type]++;
    /* both lists are ordered by start and do not overlap: one merge pass */
    for (int i = 0, j = 0; i < ng && j < np;) {
        if (m->cg[i].start < m->cp[j].start) i++;
        else if (m->cg[i].start > m->cp[j].start) j++;
        else {
            if (m->cg[i].end == m->cp[j].end && m->cg[i].type == m->cp[j].type) m->n_correct[m->cg[i].type]++;
            i++;
            j++;
        }
    }
    return 0;
}

void ner_type(const NerMetrics *m, int t, double *precision, double *recall,
              double *f1, int64_t *support) {
    int64_t c = 0, g = 0, p = 0;
    if (t >= 0 && t < m->ntypes) {
        c = m->n_correct[t];
        g = m->n_gold[t];
        p = m->n_pred[t];
    }
    double pr = ratio(c, p), rc = ratio(c, g);
    if (precision) *precision = pr;
    if (recall) *recall = rc;
    if (f1) *f1 = metric_f1(pr, rc);
    if (support) *support = g;
}

void ner_compute(const NerMetrics *m, NerSummary *out) {
    memset(out, 0, sizeof *out);
    double sf = 0;
    int present = 0;
    for (int t = 0; t < m->ntypes; t++) {
        out->n_gold += m->n_gold[t];
        out->n_pred += m->n_pred[t];
        out->n_correct += m->n_correct[t];
        if (m->n_gold[t] == 0 && m->n_pred[t] == 0) continue;
        double f;
        ner_type(m, t, NULL, NULL, &f, NULL);
        sf += f;
        present++;
    }
    out->precision = ratio(out->n_correct, out->n_pred);
    out->recall = ratio(out->n_correct, out->n_gold);
    out->f1 = metric_f1(out->precision, out->recall);
    out->macro_f1 = present ? sf / present : 0.0;
    out->tokens = m->tokens_total;
    out->token_accuracy = ratio(m->tokens_correct, m->tokens_total);
}

/* ---------------- similarity ---------------- */

static int all_finite(const double *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

double metric_pearson(const double *x, const double *y, size_t n) {
    if (!all_finite(x, n) || !all_finite(y, n)) return NAN;
    if (n < 2) return 0.0;
    double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    /* centred sums (two passes) keep large offsets from cancelling */
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (!(sxx > 0) || !(syy > 0)) return 0.0;
    double r = sxy / (sqrt(sxx) * sqrt(syy));
    /* rounding can push |r| a hair past 1 */
    if (r > 1) r = 1;
    if (r < -1) r = -1;
    return r;
}

typedef struct {
    double v;
    size_t i;
} RankItem;

static int rank_cmp(const void *a, const void *b) {
    const RankItem *p = a, *q = b;
    if (p->v < q->v) return -1;
    if (p->v > q->v) return 1;
    return p->i < q->i ? -1 : p->i > q->i;
}

int metric_rank(const double *x, size_t n, double *rank) {
    if (n == 0) return 0;
    RankItem *it = malloc(n * sizeof *it);
    if (!it) return -1;
    for (size_t i = 0; i < n; i++) {
        it[i].v = x[i];
        it[i].i = i;
    }
    qsort(it, n, sizeof *it, rank_cmp);
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && it[b].v == it[a].v) b++;
        /* positions a..b-1 hold ranks a+1..b: their mean */
        double r = 0.5 * (double)(a + 1 + b);
        for (size_t k = a; k < b; k++) rank[it[k].i] = r;
        a = b;
    }
    free(it);
    return 0;
}

double metric_spearman(const double *x, const double *y, size_t n) {
    if (!all_finite(x, n) || !all_finite(y, n)) return NAN;
    if (n < 2) return 0.0;
    double *rx = malloc(n * sizeof *rx), *ry = malloc(n * sizeof *ry);
    double r = NAN;
    if (rx && ry && metric_rank(x, n, rx) == 0 && metric_rank(y, n, ry) == 0)
        r = metric_pearson(rx, ry, n);
    free(rx);
    free(ry);
    return r;
}
