/* retrieval.c — retrieval metrics and STS correlation (retrieval.h; the
 * rules are in the header and docs/embeddings.md). */
#include "trainer/train/retrieval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/train/metrics.h"

int retr_init(RetrMetrics *m, const int *cuts, int ncuts, int mrr_k, int ndcg_k, int map_k, RetrGain gain) {
    memset(m, 0, sizeof *m);
    if (!cuts || ncuts < 1 || ncuts > RETR_MAX_CUTS || mrr_k < 1 || ndcg_k < 1 || map_k < 1) return -1;
    if (gain != RETR_GAIN_LINEAR && gain != RETR_GAIN_EXP) return -1;
    int kmax = mrr_k;
    if (ndcg_k > kmax) kmax = ndcg_k;
    if (map_k > kmax) kmax = map_k;
    for (int c = 0; c < ncuts; c++) {
        if (cuts[c] < 1) return -1;
        m->cuts[c] = cuts[c];
        if (cuts[c] > kmax) kmax = cuts[c];
    }
    m->ncuts = ncuts;
    m->mrr_k = mrr_k;
    m->ndcg_k = ndcg_k;
    m->map_k = map_k;
    m->gain = gain;
    m->kmax = kmax;
    m->nsums = 5 + 3 * ncuts;
    return 0;
}

int retr_init_default(RetrMetrics *m) {
    static const int cuts[] = {1, 3, 5, 10, 100};
    return retr_init(m, cuts, 5, 10, 10, 100, RETR_GAIN_LINEAR);
}

void retr_free(RetrMetrics *m) {
    free(m->top);
    free(m->rel_sorted);
    free(m->grade_sorted);
    m->top = m->grade_sorted = NULL;
    m->rel_sorted = NULL;
    m->top_cap = m->rel_cap = 0;
}

void retr_reset(RetrMetrics *m) { memset(m->sums, 0, sizeof m->sums); }

/* Does document a rank before document b? Higher score first, then the
 * lower index. */
static inline int before(const float *s, int a, int b) { return s[a] > s[b] || (s[a] == s[b] && a < b); }

int retr_topk(const float *scores, int ndocs, int k, int *out) {
    if (k > ndocs) k = ndocs;
    if (k <= 0) return 0;
    int len = 0;
    for (int i = 0; i < ndocs; i++) {
        if (!isfinite(scores[i])) return -1;
        /* out[0..len) is sorted; i can only enter if it ranks before the last */
        if (len == k && !before(scores, i, out[k - 1])) continue;
        int pos = len < k ? len : k - 1;
        while (pos > 0 && before(scores, i, out[pos - 1])) {
            out[pos] = out[pos - 1];
            pos--;
        }
        out[pos] = i;
        if (len < k) len++;
    }
    return len;
}

typedef struct {
    int doc, grade;
} Qrel;

static int cmp_qrel(const void *a, const void *b) {
    const Qrel *x = a, *y = b;
    return (x->doc > y->doc) - (x->doc < y->doc);
}

static int cmp_int_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

static double gain_of(RetrGain g, int grade) {
    if (grade <= 0) return 0.0;
    return g == RETR_GAIN_EXP ? exp2((double)grade) - 1.0 : (double)grade;
}

int retr_add_query(RetrMetrics *m, const float *scores, int ndocs, const int *rel_docs, const int *grades, int nrel) {
    if (ndocs < 0 || nrel < 0 || (nrel > 0 && !rel_docs) || (ndocs > 0 && !scores)) return -1;
    if ((size_t)nrel > m->rel_cap) {
        size_t cap = (size_t)nrel;
        void *r = realloc(m->rel_sorted, sizeof(Qrel) * cap);
        if (!r) return -1;
        m->rel_sorted = r;
        int *g = realloc(m->grade_sorted, sizeof(int) * cap);
        if (!g) return -1;
        m->grade_sorted = g;
        m->rel_cap = cap;
    }
    if ((size_t)m->kmax > m->top_cap) {
        int *t = realloc(m->top, sizeof(int) * (size_t)m->kmax);
        if (!t) return -1;
        m->top = t;
        m->top_cap = (size_t)m->kmax;
    }
    Qrel *q = (Qrel *)m->rel_sorted;
    int nrelevant = 0;
    for (int i = 0; i < nrel; i++) {
        if (rel_docs[i] < 0 || rel_docs[i] >= ndocs) return -1;
        q[i].doc = rel_docs[i];
        q[i].grade = grades ? grades[i] : 1;
    }
    if (nrel > 1) qsort(q, (size_t)nrel, sizeof *q, cmp_qrel);
    for (int i = 0; i < nrel; i++) {
        if (i > 0 && q[i].doc == q[i - 1].doc) return -1;
        if (q[i].grade > 0) m->grade_sorted[nrelevant++] = q[i].grade;
    }
    int ntop = retr_topk(scores, ndocs, m->kmax, m->top);
    if (ntop < 0) return -1;
    double *S = m->sums;
    const int nc = m->ncuts;
    if (nrelevant == 0) {
        S[4 + 3 * nc] += 1;
        return 0;
    }
    /* grade of each ranked document (binary search in the sorted qrels) */
    double mrr = 0, dcg = 0, ap = 0;
    int found = 0, hits_at[RETR_MAX_CUTS] = {0};
    for (int r = 0; r < ntop; r++) {
        Qrel key = {m->top[r], 0};
        const Qrel *hit = bsearch(&key, q, (size_t)nrel, sizeof *q, cmp_qrel);
        int grade = hit ? hit->grade : 0;
        if (grade <= 0) continue;
        int rank = r + 1;
        if (rank <= m->mrr_k && mrr == 0) mrr = 1.0 / rank;
        if (rank <= m->ndcg_k) dcg += gain_of(m->gain, grade) / log2(rank + 1.0);
        found++;
        if (rank <= m->map_k) ap += (double)found / rank;
        for (int c = 0; c < nc; c++)
            if (rank <= m->cuts[c]) hits_at[c]++;
    }
    qsort(m->grade_sorted, (size_t)nrelevant, sizeof(int), cmp_int_desc);
    double idcg = 0;
    for (int r = 0; r < nrelevant && r < m->ndcg_k; r++) idcg += gain_of(m->gain, m->grade_sorted[r]) / log2(r + 2.0);
    S[0] += mrr;
    S[1] += idcg > 0 ? dcg / idcg : 0.0;
    S[2] += ap / (double)(nrelevant < m->map_k ? nrelevant : m->map_k);
    for (int c = 0; c < nc; c++) {
        S[3 + 3 * c] += (double)hits_at[c] / nrelevant;
        S[4 + 3 * c] += (double)hits_at[c] / m->cuts[c];
        S[5 + 3 * c] += hits_at[c] > 0;
    }
    S[3 + 3 * nc] += 1;
    return 0;
}

int retr_add_matrix(RetrMetrics *m, const float *scores, int nq, int ndocs, const int *rel_off, const int *rel_docs,
                    const int *grades, int *bad_query) {
    for (int i = 0; i < nq; i++) {
        int o = rel_off[i], n = rel_off[i + 1] - rel_off[i];
        if (n < 0 || retr_add_query(m, scores + (size_t)i * ndocs, ndocs, rel_docs + o, grades ? grades + o : NULL, n)) {
            if (bad_query) *bad_query = i;
            return -1;
        }
    }
    return 0;
}

void retr_compute(const RetrMetrics *m, RetrSummary *out) {
    memset(out, 0, sizeof *out);
    const int nc = m->ncuts;
    double nq = m->sums[3 + 3 * nc];
    double inv = nq > 0 ? 1.0 / nq : 0.0;
    out->mrr = m->sums[0] * inv;
    out->ndcg = m->sums[1] * inv;
    out->map = m->sums[2] * inv;
    for (int c = 0; c < nc; c++) {
        out->recall[c] = m->sums[3 + 3 * c] * inv;
        out->precision[c] = m->sums[4 + 3 * c] * inv;
        out->accuracy[c] = m->sums[5 + 3 * c] * inv;
        out->cuts[c] = m->cuts[c];
    }
    out->ncuts = nc;
    out->mrr_k = m->mrr_k;
    out->ndcg_k = m->ndcg_k;
    out->map_k = m->map_k;
    out->n_queries = (int64_t)nq;
    out->n_skipped = (int64_t)m->sums[4 + 3 * nc];
}

int retr_sts(const float *a, const float *b, const float *gold, int n, int d, double *pearson, double *spearman,
             double *cos) {
    if (n < 1 || d < 1) return -1;
    double *c = malloc(sizeof(double) * n), *g = malloc(sizeof(double) * n);
    if (!c || !g) {
        free(c);
        free(g);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const float *x = a + (size_t)i * d, *y = b + (size_t)i * d;
        double xy = 0, xx = 0, yy = 0;
        for (int j = 0; j < d; j++) {
            xy += (double)x[j] * y[j];
            xx += (double)x[j] * x[j];
            yy += (double)y[j] * y[j];
        }
        double den = sqrt(xx) * sqrt(yy);
        c[i] = den > 0 ? xy / den : (isfinite(xy) ? 0.0 : NAN);
        g[i] = gold[i];
    }
    if (pearson) *pearson = metric_pearson(c, g, (size_t)n);
    if (spearman) *spearman = metric_spearman(c, g, (size_t)n);
    if (cos) memcpy(cos, c, sizeof(double) * n);
    free(c);
    free(g);
    return 0;
}
