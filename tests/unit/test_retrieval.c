/* test_retrieval.c — trainer/train/retrieval.c against the numbers of an
 * independent Python reference (tests/reference/retrieval_reference.py,
 * committed as tests/fixtures/contrastive/retrieval.json; its binary cases
 * also agree with sentence-transformers' InformationRetrievalEvaluator, and
 * its STS numbers are scipy's), plus the tie rule, the per-rank sums,
 * argument errors and a hand-computed case. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "trainer/train/retrieval.h"

#define TOL 1e-12

static int ints(json_t *a, int *out, int max) {
    size_t i;
    json_t *v;
    int n = 0;
    json_array_foreach(a, i, v) {
        if (n < max) out[n] = (int)json_integer_value(v);
        n++;
    }
    return n;
}

static double num(json_t *o, const char *key) { return json_number_value(json_object_get(o, key)); }

static void check_summary(const char *name, const RetrSummary *s, json_t *e, int ncuts) {
    double worst = 0;
    worst = fmax(worst, fabs(s->mrr - num(e, "mrr")));
    worst = fmax(worst, fabs(s->ndcg - num(e, "ndcg")));
    worst = fmax(worst, fabs(s->map - num(e, "map")));
    for (int c = 0; c < ncuts; c++) {
        worst = fmax(worst, fabs(s->recall[c] - json_number_value(json_array_get(json_object_get(e, "recall"), c))));
        worst = fmax(worst, fabs(s->precision[c] - json_number_value(json_array_get(json_object_get(e, "precision"), c))));
        worst = fmax(worst, fabs(s->accuracy[c] - json_number_value(json_array_get(json_object_get(e, "accuracy"), c))));
    }
    CHECKF(worst <= TOL, "%s: max |C - reference| %.3g", name, worst);
    CHECKF(s->n_queries == json_integer_value(json_object_get(e, "n_queries")) &&
               s->n_skipped == json_integer_value(json_object_get(e, "n_skipped")),
           "%s: counted %lld skipped %lld", name, (long long)s->n_queries, (long long)s->n_skipped);
    printf("  %-14s queries %lld (skipped %lld)  MRR@%d %.6f  nDCG@%d %.6f  MAP@%d %.6f  max |diff| %.2g\n", name,
           (long long)s->n_queries, (long long)s->n_skipped, s->mrr_k, s->mrr, s->ndcg_k, s->ndcg, s->map_k, s->map,
           worst);
}

/* One reference case; splits its queries over two accumulators ("ranks")
 * and sums their sums, which must give the same result. */
static void retrieval_case(json_t *c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    json_t *scores = json_object_get(c, "scores"), *rd = json_object_get(c, "rel_docs"), *gr = json_object_get(c, "grades");
    int nq = (int)json_array_size(scores), nd = (int)json_array_size(json_array_get(scores, 0));
    int cuts[RETR_MAX_CUTS];
    int ncuts = ints(json_object_get(c, "cuts"), cuts, RETR_MAX_CUTS);
    RetrGain gain = !strcmp(json_string_value(json_object_get(c, "gain")), "exp") ? RETR_GAIN_EXP : RETR_GAIN_LINEAR;
    float *S = malloc(sizeof(float) * nq * nd);
    int *off = malloc(sizeof(int) * (nq + 1)), *docs = malloc(sizeof(int) * nq * nd), *grades = malloc(sizeof(int) * nq * nd);
    off[0] = 0;
    for (int q = 0; q < nq; q++) {
        for (int d = 0; d < nd; d++) S[(size_t)q * nd + d] = (float)json_number_value(json_array_get(json_array_get(scores, q), d));
        int n = ints(json_array_get(rd, q), docs + off[q], nd);
        ints(json_array_get(gr, q), grades + off[q], nd);
        off[q + 1] = off[q] + n;
    }
    RetrMetrics m, r0, r1;
    int mrr_k = (int)json_integer_value(json_object_get(c, "mrr_k"));
    int ndcg_k = (int)json_integer_value(json_object_get(c, "ndcg_k"));
    int map_k = (int)json_integer_value(json_object_get(c, "map_k"));
    CHECK(retr_init(&m, cuts, ncuts, mrr_k, ndcg_k, map_k, gain) == 0);
    CHECK(retr_init(&r0, cuts, ncuts, mrr_k, ndcg_k, map_k, gain) == 0);
    CHECK(retr_init(&r1, cuts, ncuts, mrr_k, ndcg_k, map_k, gain) == 0);
    int bad = -1;
    CHECKF(retr_add_matrix(&m, S, nq, nd, off, docs, grades, &bad) == 0, "%s: query %d refused", name, bad);
    RetrSummary s;
    retr_compute(&m, &s);
    check_summary(name, &s, json_object_get(c, "expected"), ncuts);
    /* two ranks: alternate queries, then sum the sums (the all-reduce) */
    for (int q = 0; q < nq; q++)
        retr_add_query(q % 2 ? &r1 : &r0, S + (size_t)q * nd, nd, docs + off[q], grades + off[q], off[q + 1] - off[q]);
    for (int i = 0; i < r0.nsums; i++) r0.sums[i] += r1.sums[i];
    RetrSummary s2;
    retr_compute(&r0, &s2);
    CHECKF(fabs(s2.ndcg - s.ndcg) < 1e-14 && fabs(s2.mrr - s.mrr) < 1e-14 && s2.n_queries == s.n_queries &&
               fabs(s2.recall[ncuts - 1] - s.recall[ncuts - 1]) < 1e-14,
           "%s: per-rank sums differ", name);
    retr_free(&m);
    retr_free(&r0);
    retr_free(&r1);
    free(S); free(off); free(docs); free(grades);
}

static void sts_case(json_t *c) {
    const char *name = json_string_value(json_object_get(c, "name"));
    int n = (int)json_integer_value(json_object_get(c, "n")), d = (int)json_integer_value(json_object_get(c, "d"));
    float *a = malloc(sizeof(float) * n * d), *b = malloc(sizeof(float) * n * d), *g = malloc(sizeof(float) * n);
    double *cos = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) {
            a[i * d + j] = (float)json_number_value(json_array_get(json_array_get(json_object_get(c, "a"), i), j));
            b[i * d + j] = (float)json_number_value(json_array_get(json_array_get(json_object_get(c, "b"), i), j));
        }
        g[i] = (float)json_number_value(json_array_get(json_object_get(c, "gold"), i));
    }
    double p, s;
    CHECK(retr_sts(a, b, g, n, d, &p, &s, cos) == 0);
    double ec = 0;
    for (int i = 0; i < n; i++) ec = fmax(ec, fabs(cos[i] - json_number_value(json_array_get(json_object_get(c, "cos"), i))));
    double ep = fabs(p - num(c, "pearson")), es = fabs(s - num(c, "spearman"));
    printf("  %-6s pearson %.9f spearman %.9f  |diff| cos %.2g pearson %.2g spearman %.2g (scipy)\n", name, p, s, ec, ep,
           es);
    CHECKF(ec < 1e-12 && ep < 1e-12 && es < 1e-12, "%s: cos %.3g pearson %.3g spearman %.3g", name, ec, ep, es);
    free(a); free(b); free(g); free(cos);
}

static void test_reference(void) {
    char path[1024];
    test_source_path("tests/fixtures/contrastive/retrieval.json", path, sizeof path);
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    CHECKF(root, "%s: %s", path, je.text);
    if (!root) return;
    json_t *cases = json_object_get(root, "retrieval"), *sts = json_object_get(root, "sts");
    CHECK(json_array_size(cases) >= 6 && json_array_size(sts) >= 2);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) retrieval_case(c);
    json_array_foreach(sts, i, c) sts_case(c);
    json_decref(root);
}

static void test_hand_and_rules(void) {
    /* scores 0.9 0.5 0.5 0.1 0.7: ranking d0 d4 d1 d2 d3 (d1 before d2: the tie
     * goes to the lower index) */
    float s[5] = {0.9f, 0.5f, 0.5f, 0.1f, 0.7f};
    int top[5];
    CHECK(retr_topk(s, 5, 5, top) == 5);
    CHECK(top[0] == 0 && top[1] == 4 && top[2] == 1 && top[3] == 2 && top[4] == 3);
    CHECK(retr_topk(s, 5, 2, top) == 2 && top[0] == 0 && top[1] == 4);
    CHECK(retr_topk(s, 5, 9, top) == 5);
    float flat[4] = {1, 1, 1, 1};
    CHECK(retr_topk(flat, 4, 3, top) == 3 && top[0] == 0 && top[1] == 1 && top[2] == 2);
    float rising[6] = {1, 2, 3, 4, 5, 6};
    CHECK(retr_topk(rising, 6, 3, top) == 3 && top[0] == 5 && top[1] == 4 && top[2] == 3);

    /* relevant {2}: rank 4. MRR@10 1/4, MRR@3 0, nDCG@10 = (1/log2 5) / 1,
     * recall@3 0, recall@5 1, precision@5 1/5, MAP@100 1/4 */
    int cuts[2] = {3, 5};
    RetrMetrics m;
    CHECK(retr_init(&m, cuts, 2, 10, 10, 100, RETR_GAIN_LINEAR) == 0);
    int rel[1] = {2};
    CHECK(retr_add_query(&m, s, 5, rel, NULL, 1) == 0);
    RetrSummary r;
    retr_compute(&m, &r);
    CHECK(fabs(r.mrr - 0.25) < 1e-15 && fabs(r.ndcg - 1.0 / log2(5.0)) < 1e-15 && fabs(r.map - 0.25) < 1e-15);
    CHECK(r.recall[0] == 0 && r.recall[1] == 1 && fabs(r.precision[1] - 0.2) < 1e-15 && r.accuracy[1] == 1);
    retr_free(&m);
    CHECK(retr_init(&m, cuts, 2, 3, 10, 100, RETR_GAIN_LINEAR) == 0);
    CHECK(retr_add_query(&m, s, 5, rel, NULL, 1) == 0);
    retr_compute(&m, &r);
    CHECK(r.mrr == 0);
    /* graded: d4 grade 2, d3 grade 1, d1 grade 0 (judged, not relevant):
     * DCG@10 = 2/log2 3 + 1/log2 6, IDCG = 2/1 + 1/log2 3 */
    retr_reset(&m);
    int rel2[3] = {4, 3, 1}, gr2[3] = {2, 1, 0};
    CHECK(retr_add_query(&m, s, 5, rel2, gr2, 3) == 0);
    retr_compute(&m, &r);
    double want = (2 / log2(3.0) + 1 / log2(6.0)) / (2 + 1 / log2(3.0));
    CHECKF(fabs(r.ndcg - want) < 1e-15, "graded nDCG %.17g want %.17g", r.ndcg, want);
    CHECK(fabs(r.recall[1] - 1.0) < 1e-15 && fabs(r.mrr - 0.5) < 1e-15);
    /* no relevant document: skipped, means unchanged */
    int rel0[1] = {0}, gr0[1] = {0};
    CHECK(retr_add_query(&m, s, 5, rel0, gr0, 1) == 0);
    CHECK(retr_add_query(&m, s, 5, NULL, NULL, 0) == 0);
    RetrSummary r2;
    retr_compute(&m, &r2);
    CHECK(r2.n_queries == 1 && r2.n_skipped == 2 && r2.ndcg == r.ndcg);
    /* errors add nothing */
    int dup[2] = {1, 1}, out[1] = {5}, neg[1] = {-1};
    CHECK(retr_add_query(&m, s, 5, dup, NULL, 2) == -1);
    CHECK(retr_add_query(&m, s, 5, out, NULL, 1) == -1);
    CHECK(retr_add_query(&m, s, 5, neg, NULL, 1) == -1);
    float nan5[5] = {0, NAN, 0, 0, 0};
    CHECK(retr_add_query(&m, nan5, 5, rel, NULL, 1) == -1);
    retr_compute(&m, &r2);
    CHECK(r2.n_queries == 1 && r2.n_skipped == 2);
    retr_free(&m);
    /* bad init */
    int zero[1] = {0};
    CHECK(retr_init(&m, zero, 1, 10, 10, 10, RETR_GAIN_LINEAR) == -1);
    CHECK(retr_init(&m, cuts, 0, 10, 10, 10, RETR_GAIN_LINEAR) == -1);
    CHECK(retr_init(&m, cuts, 2, 0, 10, 10, RETR_GAIN_LINEAR) == -1);
    CHECK(retr_init_default(&m) == 0 && m.ncuts == 5 && m.kmax == 100 && m.mrr_k == 10 && m.ndcg_k == 10);
    retr_free(&m);
    /* STS degenerate cases: a zero vector's cosine is 0; n = 1 gives 0 */
    float a[4] = {0, 0, 1, 0}, b[4] = {1, 0, 1, 0}, g[2] = {0, 1};
    double p, sp, cs[2];
    CHECK(retr_sts(a, b, g, 2, 2, &p, &sp, cs) == 0 && cs[0] == 0 && cs[1] == 1 && fabs(p - 1) < 1e-15);
    CHECK(retr_sts(a, b, g, 1, 2, &p, &sp, NULL) == 0 && p == 0 && sp == 0);
}

int main(void) {
    printf("reference (tests/reference/retrieval_reference.py):\n");
    test_reference();
    test_hand_and_rules();
    return test_finish("test_retrieval");
}
