/* test_contrastive.c — the embedding losses of trainer/model/contrastive.c:
 *   1. every case of the PyTorch / sentence-transformers fixture
 *      (tests/fixtures/contrastive/losses.safetensors, made by
 *      tests/reference/make_contrastive_fixtures.py): loss and every
 *      gradient to 1e-5 (norm-wise relative), plus a perturbed run that
 *      must fail;
 *   2. central finite differences of the loss against every gradient, for
 *      each loss and option;
 *   3. the global batch split over 2 simulated ranks: local gradients from
 *      the same global arrays, backpropagated through a shared linear
 *      encoder and summed, equal the 1-process parameter gradient (with and
 *      without hard negatives); the all-gathered block layout is split into
 *      the right arrays, and the wrong (interleaved) reading is detected;
 *   4. GradCache bookkeeping: chunked embedding + per-chunk gradient blocks
 *      give the uncached parameter gradient;
 *   5. argument errors. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "trainer/model/contrastive.h"
#include "trainer/store/safetensors.h"

#define TOL_FIXTURE 1e-5
#define TOL_FD 2e-4

/* max |got - want| / max |want| */
static double normrel(const float *got, const float *want, size_t n) {
    double amax = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        amax = fmax(amax, fabs(want[i]));
        e = fmax(e, fabs((double)got[i] - want[i]));
    }
    return amax > 0 ? e / amax : e;
}

static float *read_f(StFile *f, const char *case_name, const char *what, size_t *n) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", case_name, what);
    const StTensor *t = st_find(f, name);
    if (!t) return NULL;
    float *x = malloc(sizeof(float) * (t->numel ? t->numel : 1));
    char err[256];
    if (st_read_f32(f, t, x, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        free(x);
        return NULL;
    }
    if (n) *n = (size_t)t->numel;
    return x;
}

static int64_t *read_ids(StFile *f, const char *case_name, const char *what, size_t want) {
    char name[128];
    snprintf(name, sizeof name, "%s.%s", case_name, what);
    const StTensor *t = st_find(f, name);
    if (!t || (size_t)t->numel != want) return NULL;
    int *x = malloc(sizeof(int) * want);
    int64_t *y = malloc(sizeof(int64_t) * want);
    char err[256];
    if (st_read_i32(f, t, x, err, sizeof err)) {
        free(x);
        free(y);
        return NULL;
    }
    for (size_t i = 0; i < want; i++) y[i] = x[i];
    free(x);
    return y;
}

static int opts_from_json(json_t *c, CtrOptions *o) {
    CtrLoss loss;
    if (ctr_loss_parse(json_string_value(json_object_get(c, "loss")), &loss)) return -1;
    ctr_options_default(o, loss);
    o->scale = (float)json_number_value(json_object_get(c, "scale"));
    o->symmetric = json_is_true(json_object_get(c, "symmetric"));
    o->similarity = !strcmp(json_string_value(json_object_get(c, "similarity")), "dot") ? CTR_SIM_DOT : CTR_SIM_COS;
    o->distance = !strcmp(json_string_value(json_object_get(c, "distance")), "cosine") ? CTR_DIST_COSINE
                                                                                      : CTR_DIST_EUCLIDEAN;
    o->margin = (float)json_number_value(json_object_get(c, "margin"));
    return 0;
}

/* One fixture case; perturb != 0 shifts one anchor value (the run must then fail). */
static int fixture_case(StFile *f, json_t *c, int perturb, double *worst) {
    const char *name = json_string_value(json_object_get(c, "name"));
    int n = (int)json_integer_value(json_object_get(c, "n"));
    int d = (int)json_integer_value(json_object_get(c, "d"));
    int k = (int)json_integer_value(json_object_get(c, "k"));
    CtrOptions o;
    if (!name || opts_from_json(c, &o)) return -1;
    size_t na = 0, np = 0, nn = 0;
    float *A = read_f(f, name, "anchors", &na), *P = read_f(f, name, "positives", &np);
    float *N = k ? read_f(f, name, "negatives", &nn) : NULL;
    float *gA = read_f(f, name, "grad_anchors", NULL), *gP = read_f(f, name, "grad_positives", NULL);
    float *gN = k ? read_f(f, name, "grad_negatives", NULL) : NULL;
    float *L = read_f(f, name, "loss", NULL), *S = read_f(f, name, "scores", NULL);
    int bad = 0;
    CHECKF(A && P && gA && gP && L && na == (size_t)n * d && np == na && (!k || (N && gN && nn == na * k)),
           "%s: fixture tensors missing or mis-shaped", name);
    if (!(A && P && gA && gP && L && (!k || (N && gN)))) {
        bad = 1;
        goto out;
    }
    if (perturb) /* not a scaling: cosines would not see it */
        for (size_t i = 0; i < na; i++) A[i] += 0.01f * (float)((int)(i % 3) - 1);
    CtrBatch b = {n, k, d, A, P, N, S, NULL, NULL, NULL};
    int64_t *ia = NULL, *ip = NULL, *in = NULL;
    if (json_is_true(json_object_get(c, "ids"))) {
        ia = read_ids(f, name, "ids_a", (size_t)n);
        ip = read_ids(f, name, "ids_p", (size_t)n);
        in = k ? read_ids(f, name, "ids_n", (size_t)n * k) : NULL;
        CHECKF(ia && ip && (!k || in), "%s: ids missing", name);
        b.anchor_ids = ia;
        b.positive_ids = ip;
        b.negative_ids = in;
    }
    float *dA = malloc(sizeof(float) * n * d), *dP = malloc(sizeof(float) * n * d);
    float *dN = malloc(sizeof(float) * n * d * (k ? k : 1));
    CtrResult r;
    char err[256] = "";
    int rc = ctr_loss(&b, &o, 0, n, &r, dA, dP, k ? dN : NULL, err, sizeof err);
    CHECKF(rc == 0, "%s: %s", name, err);
    if (rc == 0) {
        double el = fabs(r.loss - L[0]) / fmax(fabs(L[0]), 1e-30);
        double e1 = normrel(dA, gA, (size_t)n * d), e2 = normrel(dP, gP, (size_t)n * d);
        double e3 = k ? normrel(dN, gN, (size_t)n * d * k) : 0;
        double e = fmax(fmax(el, e1), fmax(e2, e3));
        if (!perturb) {
            printf("  %-20s loss %.6f (want %.6f)  rel err loss %.2g dA %.2g dP %.2g dN %.2g\n", name, r.loss, L[0],
                   el, e1, e2, e3);
            if (e > *worst) *worst = e;
        }
        bad = !(e <= TOL_FIXTURE);
    } else {
        bad = 1;
    }
    free(dA); free(dP); free(dN); free(ia); free(ip); free(in);
out:
    free(A); free(P); free(N); free(gA); free(gP); free(gN); free(L); free(S);
    return bad;
}

static void test_fixture(void) {
    char path[1024];
    test_source_path("tests/fixtures/contrastive/losses.safetensors", path, sizeof path);
    StFile f;
    char err[512];
    int rc = st_open(&f, path, err, sizeof err);
    CHECKF(rc == 0, "%s", err);
    if (rc) return;
    char *meta = st_metadata_get(&f, "cases");
    json_error_t je;
    json_t *cases = meta ? json_loads(meta, 0, &je) : NULL;
    CHECKF(json_is_array(cases) && json_array_size(cases) >= 16, "fixture metadata 'cases'");
    double worst = 0;
    size_t i;
    json_t *c;
    int ncases = 0, nperturbed_fail = 0, nperturbable = 0;
    json_array_foreach(cases, i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        int bad = fixture_case(&f, c, 0, &worst);
        CHECKF(!bad, "fixture case %s over tolerance %.0e", name, TOL_FIXTURE);
        ncases++;
        /* the comparison can fail: a 0.01 shift of one input must be caught */
        nperturbable++;
        int caught = fixture_case(&f, c, 1, &worst);
        CHECKF(caught, "perturbed fixture case %s not detected", name);
        nperturbed_fail += caught;
    }
    printf("fixture: %d cases, worst relative error %.3g; perturbed runs failing: %d/%d\n", ncases, worst,
           nperturbed_fail, nperturbable);
    CHECK(nperturbed_fail == nperturbable);
    json_decref(cases);
    free(meta);
    st_close(&f);
}

/* ---------------------------------------------------------------- FD */

static double loss_of(const CtrBatch *b, const CtrOptions *o) {
    CtrResult r;
    char err[256];
    if (ctr_loss(b, o, 0, 0, &r, NULL, NULL, NULL, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return NAN;
    }
    return r.loss;
}

/* Central differences on every input value, with the step actually taken
 * in fp32; error = max |fd - analytic| / max |analytic|. */
static double fd_check(const char *what, CtrBatch *b, const CtrOptions *o) {
    int n = b->n, d = b->d, k = b->k;
    size_t nd = (size_t)n * d;
    float *g[3] = {malloc(sizeof(float) * nd), malloc(sizeof(float) * nd), malloc(sizeof(float) * nd * (k ? k : 1))};
    char err[256];
    CtrResult r;
    int rc = ctr_loss(b, o, 0, n, &r, g[0], g[1], k ? g[2] : NULL, err, sizeof err);
    CHECKF(rc == 0, "%s: %s", what, err);
    float *arr[3] = {(float *)b->anchors, (float *)b->positives, (float *)b->negatives};
    size_t len[3] = {nd, nd, nd * k};
    double worst = 0;
    for (int t = 0; t < 3; t++) {
        if (!len[t] || !arr[t]) continue;
        double amax = 0, e = 0;
        for (size_t i = 0; i < len[t]; i++) amax = fmax(amax, fabs(g[t][i]));
        for (size_t i = 0; i < len[t]; i++) {
            float x0 = arr[t][i];
            float xp = x0 + 1e-3f, xm = x0 - 1e-3f;
            arr[t][i] = xp;
            double lp = loss_of(b, o);
            arr[t][i] = xm;
            double lm = loss_of(b, o);
            arr[t][i] = x0;
            double fd = (lp - lm) / ((double)xp - (double)xm);
            e = fmax(e, fabs(fd - g[t][i]));
        }
        double rel = amax > 0 ? e / amax : e;
        worst = fmax(worst, rel);
        CHECKF(amax > 1e-4, "%s: gradient %d is all ~0 (max %.3g): the check would be empty", what, t, amax);
    }
    printf("  fd %-32s loss %.5f  max rel err %.2e\n", what, r.loss, worst);
    CHECKF(worst < TOL_FD, "%s: finite differences off by %.3g", what, worst);
    for (int t = 0; t < 3; t++) free(g[t]);
    return worst;
}

static void fill(float *x, size_t n, uint64_t *st, float s) {
    for (size_t i = 0; i < n; i++) x[i] = s * test_rand_normal(st);
}

static void test_finite_differences(void) {
    uint64_t st = 42;
    enum { n = 6, d = 7, k = 2 };
    float A[n * d], P[n * d], N[n * k * d], S[n], N1[n * d];
    fill(A, n * d, &st, 1.0f);
    for (int i = 0; i < n * d; i++) P[i] = A[i] + 1.2f * test_rand_normal(&st);
    fill(N, n * k * d, &st, 1.0f);
    fill(N1, n * d, &st, 1.0f);
    for (int i = 0; i < n; i++) S[i] = (float)(i % 4); /* ties on purpose */
    int64_t ia[n] = {1, 2, 3, 4, 5, 3}, ip[n] = {10, 11, 12, 11, 14, -1};
    int64_t in[n * k] = {20, 21, 10, 23, -1, -1, 26, 27, 28, 29, 14, 31};
    CtrOptions o;
    CtrBatch b = {n, 0, d, A, P, NULL, S, NULL, NULL, NULL};

    ctr_options_default(&o, CTR_MNRL);
    o.scale = 5.0f; /* scale 20 is checked too, below, with a smaller step's worth of curvature */
    fd_check("mnrl pairs scale 5", &b, &o);
    b.k = k;
    b.negatives = N;
    fd_check("mnrl hard k=2 scale 5", &b, &o);
    o.symmetric = 1;
    fd_check("mnrl hard k=2 symmetric", &b, &o);
    b.anchor_ids = ia;
    b.positive_ids = ip;
    b.negative_ids = in;
    fd_check("mnrl masked symmetric", &b, &o);
    o.symmetric = 0;
    o.scale = 20.0f;
    fd_check("mnrl masked scale 20", &b, &o);
    b.anchor_ids = b.positive_ids = b.negative_ids = NULL;
    o.similarity = CTR_SIM_DOT;
    o.scale = 0.5f;
    fd_check("mnrl dot scale 0.5", &b, &o);
    o.grad_scale = 3.0f; /* grad_scale multiplies the gradient only */
    {
        float g1[n * d], g3[n * d];
        CtrOptions o1 = o;
        o1.grad_scale = 1.0f;
        char err[128];
        ctr_loss(&b, &o1, 0, n, NULL, g1, NULL, NULL, err, sizeof err);
        ctr_loss(&b, &o, 0, n, NULL, g3, NULL, NULL, err, sizeof err);
        double e = 0;
        for (int i = 0; i < n * d; i++) e = fmax(e, fabs(g3[i] - 3.0 * g1[i]));
        CHECKF(e < 1e-5, "grad_scale: %.3g", e);
    }

    CtrBatch p = {n, 0, d, A, P, NULL, S, NULL, NULL, NULL};
    ctr_options_default(&o, CTR_COSENT);
    o.scale = 5.0f;
    fd_check("cosent scale 5", &p, &o);
    ctr_options_default(&o, CTR_ANGLE);
    o.scale = 5.0f;
    fd_check("angle odd d scale 5", &p, &o);

    CtrBatch t = {n, 1, d, A, P, N1, NULL, NULL, NULL, NULL};
    ctr_options_default(&o, CTR_TRIPLET);
    fd_check("triplet euclidean margin 5", &t, &o);
    o.distance = CTR_DIST_COSINE;
    o.margin = 0.7f;
    {
        CtrResult r;
        char err[128];
        ctr_loss(&t, &o, 0, 0, &r, NULL, NULL, NULL, err, sizeof err);
        printf("  triplet cosine margin 0.7: %lld of %d hinges active\n", (long long)r.active, n);
        CHECK(r.active > 0 && r.active < n); /* both sides of the hinge are exercised */
    }
    fd_check("triplet cosine margin 0.7", &t, &o);
}

/* --------------------------------------------- ranks and GradCache */

/* Linear "encoder": E = X W, X (rows, m), W (m, d). dW += X^T dE. */
static void encode(const float *X, const float *W, int rows, int m, int d, float *E) {
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < d; c++) {
            double s = 0;
            for (int i = 0; i < m; i++) s += (double)X[(size_t)r * m + i] * W[(size_t)i * d + c];
            E[(size_t)r * d + c] = (float)s;
        }
}

static void encode_back(const float *X, const float *dE, int rows, int m, int d, double *dW) {
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < m; i++)
            for (int c = 0; c < d; c++) dW[(size_t)i * d + c] += (double)X[(size_t)r * m + i] * dE[(size_t)r * d + c];
}

static double dmaxrel(const double *a, const double *b, size_t n) {
    double amax = 0, e = 0;
    for (size_t i = 0; i < n; i++) {
        amax = fmax(amax, fabs(b[i]));
        e = fmax(e, fabs(a[i] - b[i]));
    }
    return amax > 0 ? e / amax : e;
}

/* Global batch of 16 examples; inputs of rank r are the block rows of
 * examples [8r, 8r+8) laid out [anchors; positives; negatives]
 * (example-major negatives). */
static void test_two_ranks(int k, CtrLoss loss, int symmetric) {
    enum { NG = 16, R = 2, B = 8, M = 10, D = 6 };
    uint64_t st = 7 + (uint64_t)k * 3 + (uint64_t)loss * 11 + (uint64_t)symmetric;
    float W[M * D];
    fill(W, M * D, &st, 0.5f);
    const int rows_per_rank = (int)ctr_block_rows(B, k);
    float *Xr[R];
    for (int r = 0; r < R; r++) {
        Xr[r] = malloc(sizeof(float) * rows_per_rank * M);
        fill(Xr[r], (size_t)rows_per_rank * M, &st, 1.0f);
    }
    float scores[NG];
    for (int i = 0; i < NG; i++) scores[i] = (float)((i * 7) % 5);
    /* ids: rank 0's positive 2 and rank 1's positive 5 are the same text */
    int64_t ids[R][B * (2 + 4)];
    for (int r = 0; r < R; r++)
        for (int i = 0; i < rows_per_rank; i++) ids[r][i] = 1000 * r + i;
    ids[1][B + 5] = ids[0][B + 2];

    CtrOptions o;
    ctr_options_default(&o, loss);
    o.symmetric = symmetric;
    char err[256];

    /* ---- 1 process: all 16 examples in one block, encoded at once */
    int rows1 = (int)ctr_block_rows(NG, k);
    float *X1 = malloc(sizeof(float) * rows1 * M), *E1 = malloc(sizeof(float) * rows1 * D);
    int64_t *id1 = malloc(sizeof(int64_t) * rows1);
    /* the single-process block of 16 holds the same examples: anchors of
     * both ranks, then positives of both, then negatives of both */
    for (int r = 0; r < R; r++) {
        memcpy(X1 + (size_t)(r * B) * M, Xr[r], sizeof(float) * B * M);
        memcpy(X1 + (size_t)(NG + r * B) * M, Xr[r] + (size_t)B * M, sizeof(float) * B * M);
        memcpy(X1 + (size_t)(2 * NG + r * B * k) * M, Xr[r] + (size_t)2 * B * M, sizeof(float) * B * k * M);
        memcpy(id1 + r * B, ids[r], sizeof(int64_t) * B);
        memcpy(id1 + NG + r * B, ids[r] + B, sizeof(int64_t) * B);
        memcpy(id1 + 2 * NG + r * B * k, ids[r] + 2 * B, sizeof(int64_t) * B * k);
    }
    encode(X1, W, rows1, M, D, E1);
    float *A1 = E1, *P1 = E1 + (size_t)NG * D, *N1 = E1 + (size_t)2 * NG * D;
    CtrBatch b1 = {NG, k, D, A1, P1, k ? N1 : NULL, scores, id1, id1 + NG, k ? id1 + 2 * NG : NULL};
    float *dE1 = calloc((size_t)rows1 * D, sizeof(float));
    CtrResult r1;
    int rc = ctr_loss(&b1, &o, 0, NG, &r1, dE1, dE1 + (size_t)NG * D, k ? dE1 + (size_t)2 * NG * D : NULL, err,
                      sizeof err);
    CHECKF(rc == 0, "%s", err);
    double dW1[M * D] = {0};
    encode_back(X1, dE1, rows1, M, D, dW1);

    /* ---- 2 ranks: each encodes its block; all-gather = concatenation of
     * the blocks in rank order; split; local loss + gradient; local
     * backward; sum of dW over ranks */
    float *gathered = malloc(sizeof(float) * R * rows_per_rank * D);
    int64_t gids[R * B * 6];
    for (int r = 0; r < R; r++) {
        encode(Xr[r], W, rows_per_rank, M, D, gathered + (size_t)r * rows_per_rank * D);
        memcpy(gids + r * rows_per_rank, ids[r], sizeof(int64_t) * rows_per_rank);
    }
    int counts[R] = {B, B};
    float *GA = malloc(sizeof(float) * NG * D), *GP = malloc(sizeof(float) * NG * D);
    float *GN = malloc(sizeof(float) * NG * D * (k ? k : 1));
    int64_t gia[NG], gip[NG], gin[NG * 4];
    ctr_blocks_split(gathered, counts, R, k, sizeof(float) * D, CTR_NEG_EXAMPLE_MAJOR, GA, GP, k ? GN : NULL);
    ctr_blocks_split(gids, counts, R, k, sizeof(int64_t), CTR_NEG_EXAMPLE_MAJOR, gia, gip, k ? gin : NULL);
    /* the split arrays are exactly the single-process arrays */
    CHECK(memcmp(GA, A1, sizeof(float) * NG * D) == 0 && memcmp(GP, P1, sizeof(float) * NG * D) == 0);
    if (k) CHECK(memcmp(GN, N1, sizeof(float) * NG * D * k) == 0);
    CtrBatch bg = {NG, k, D, GA, GP, k ? GN : NULL, scores, gia, gip, k ? gin : NULL};
    double dWsum[M * D] = {0};
    double losses[R];
    for (int r = 0; r < R; r++) {
        float *dblock = malloc(sizeof(float) * rows_per_rank * D);
        float *lA = malloc(sizeof(float) * B * D), *lP = malloc(sizeof(float) * B * D);
        float *lN = malloc(sizeof(float) * B * D * (k ? k : 1));
        CtrResult rr;
        CtrOptions ow = o;
        ow.grad_scale = (float)R; /* the loop averages gradients over ranks */
        rc = ctr_loss(&bg, &ow, r * B, B, &rr, lA, lP, k ? lN : NULL, err, sizeof err);
        CHECKF(rc == 0, "%s", err);
        losses[r] = rr.loss;
        ctr_block_join(lA, lP, k ? lN : NULL, 0, B, k, sizeof(float) * D, CTR_NEG_EXAMPLE_MAJOR, dblock);
        double dWr[M * D] = {0};
        encode_back(Xr[r], dblock, rows_per_rank, M, D, dWr);
        for (int i = 0; i < M * D; i++) dWsum[i] += dWr[i] / R; /* comm_allreduce_mean */
        free(dblock); free(lA); free(lP); free(lN);
    }
    double el = fmax(fabs(losses[0] - r1.loss), fabs(losses[1] - r1.loss)) / fabs(r1.loss);
    double eg = dmaxrel(dWsum, dW1, M * D);
    printf("  2 ranks x 8 vs 1 x 16, %-7s k=%d%s: loss %.6f, rel err loss %.2g, dW %.2g\n", ctr_loss_name(loss), k,
           symmetric ? " symmetric" : "", r1.loss, el, eg);
    CHECKF(el < 1e-12 && eg < 1e-6, "ranks: loss %.3g dW %.3g", el, eg);

    /* the mistake to avoid: reading the gathered blocks as [A (16); P (16); N] */
    if (loss == CTR_MNRL) {
        CtrBatch wrong = {NG, k, D, gathered, gathered + (size_t)NG * D, k ? gathered + (size_t)2 * NG * D : NULL,
                          scores, NULL, NULL, NULL};
        CtrBatch right = bg;
        right.anchor_ids = right.positive_ids = right.negative_ids = NULL;
        CtrResult rw, rg;
        ctr_loss(&wrong, &o, 0, 0, &rw, NULL, NULL, NULL, err, sizeof err);
        ctr_loss(&right, &o, 0, 0, &rg, NULL, NULL, NULL, err, sizeof err);
        CHECKF(fabs(rw.loss - rg.loss) > 1e-3, "interleaved reading not distinguishable (%.6f vs %.6f)", rw.loss,
               rg.loss);
    }
    for (int r = 0; r < R; r++) free(Xr[r]);
    free(X1); free(E1); free(id1); free(dE1); free(gathered); free(GA); free(GP); free(GN);
}

/* Unequal rank sizes (5 + 11) and a 3-way split: local gradients are slices
 * of the full gradient. */
static void test_uneven_split(void) {
    enum { NG = 16, D = 5, K = 3 };
    uint64_t st = 99;
    float A[NG * D], P[NG * D], N[NG * K * D];
    fill(A, NG * D, &st, 1.0f);
    fill(P, NG * D, &st, 1.0f);
    fill(N, NG * K * D, &st, 1.0f);
    CtrBatch b = {NG, K, D, A, P, N, NULL, NULL, NULL, NULL};
    CtrOptions o;
    ctr_options_default(&o, CTR_MNRL);
    o.symmetric = 1;
    float fA[NG * D], fP[NG * D], fN[NG * K * D], lA[NG * D], lP[NG * D], lN[NG * K * D];
    char err[128];
    CHECK(ctr_loss(&b, &o, 0, NG, NULL, fA, fP, fN, err, sizeof err) == 0);
    int cuts[][4] = {{0, 5, 16, -1}, {0, 3, 9, 16}};
    for (int c = 0; c < 2; c++) {
        double e = 0;
        for (int s = 0; s < 3 && cuts[c][s + 1] >= 0; s++) {
            int r0 = cuts[c][s], nr = cuts[c][s + 1] - r0;
            CHECK(ctr_loss(&b, &o, r0, nr, NULL, lA, lP, lN, err, sizeof err) == 0);
            e = fmax(e, normrel(lA, fA + r0 * D, (size_t)nr * D));
            e = fmax(e, normrel(lP, fP + r0 * D, (size_t)nr * D));
            e = fmax(e, normrel(lN, fN + r0 * K * D, (size_t)nr * K * D));
        }
        CHECKF(e < 1e-6, "uneven split %d: %.3g", c, e);
    }
}

/* A batch big enough for the threaded GEMM paths (contrastive.c splits rows
 * over OpenMP threads above 4e6 multiply-adds): the loss against a naive
 * loop written here, the full gradient against 10 slices of 30 rows (whose
 * gradient GEMMs stay below the threshold). */
static double naive_cos(const float *A, const float *const cand[2], const double *na, const double *nc, int ng,
                        int d, int i, int j) {
    const float *x = cand[j / ng] + (size_t)(j % ng) * d;
    double s = 0;
    for (int c = 0; c < d; c++) s += (double)A[(size_t)i * d + c] * x[c];
    return s / (na[i] * nc[j]);
}

static void test_large_batch(void) {
    enum { NG = 300, K = 1, D = 64 };
    uint64_t st = 2024;
    float *A = malloc(sizeof(float) * NG * D), *P = malloc(sizeof(float) * NG * D), *N = malloc(sizeof(float) * NG * K * D);
    fill(A, NG * D, &st, 1.0f);
    for (int i = 0; i < NG * D; i++) P[i] = A[i] + 2.0f * test_rand_normal(&st);
    fill(N, NG * K * D, &st, 1.0f);
    CtrBatch b = {NG, K, D, A, P, N, NULL, NULL, NULL, NULL};
    CtrOptions o;
    ctr_options_default(&o, CTR_MNRL);
    o.symmetric = 1;
    size_t nd = (size_t)NG * D;
    float *fA = malloc(sizeof(float) * nd), *fP = malloc(sizeof(float) * nd), *fN = malloc(sizeof(float) * nd * K);
    float *sA = malloc(sizeof(float) * nd), *sP = malloc(sizeof(float) * nd), *sN = malloc(sizeof(float) * nd * K);
    char err[128];
    CtrResult r;
    CHECK(ctr_loss(&b, &o, 0, NG, &r, fA, fP, fN, err, sizeof err) == 0);
    for (int r0 = 0; r0 < NG; r0 += 30)
        CHECK(ctr_loss(&b, &o, r0, 30, NULL, sA + (size_t)r0 * D, sP + (size_t)r0 * D, sN + (size_t)r0 * K * D, err,
                       sizeof err) == 0);
    double eg = fmax(fmax(normrel(fA, sA, nd), normrel(fP, sP, nd)), normrel(fN, sN, nd * K));
    /* naive symmetric InfoNCE, cosine, scale 20 */
    double *na = malloc(sizeof(double) * NG), *nc = malloc(sizeof(double) * NG * (1 + K));
    const float *cand[2] = {P, N};
    for (int i = 0; i < NG; i++) {
        double s = 0;
        for (int c = 0; c < D; c++) s += (double)A[i * D + c] * A[i * D + c];
        na[i] = sqrt(s);
    }
    for (int j = 0; j < NG * (1 + K); j++) {
        const float *x = cand[j / NG] + (size_t)(j % NG) * D;
        double s = 0;
        for (int c = 0; c < D; c++) s += (double)x[c] * x[c];
        nc[j] = sqrt(s);
    }
    double loss = 0;
    for (int i = 0; i < NG; i++) {
        double f = 0, bsum = 0;
        for (int j = 0; j < NG * (1 + K); j++) f += exp(20.0 * naive_cos(A, cand, na, nc, NG, D, i, j));
        for (int j = 0; j < NG; j++) bsum += exp(20.0 * naive_cos(A, cand, na, nc, NG, D, j, i));
        double own = 20.0 * naive_cos(A, cand, na, nc, NG, D, i, i);
        loss += 0.5 * ((log(f) - own) + (log(bsum) - own));
    }
    loss /= NG;
    double el = fabs(r.loss - loss) / loss;
    printf("  large batch n=%d k=%d d=%d symmetric: loss %.6f (naive %.6f, rel %.2g), full vs sliced gradient %.2g\n", NG,
           K, D, r.loss, loss, el, eg);
    CHECKF(el < 1e-10 && eg < 1e-6, "large batch: loss %.3g gradient %.3g", el, eg);
    free(A); free(P); free(N); free(fA); free(fP); free(fN); free(sA); free(sP); free(sN); free(na); free(nc);
}

static void test_gradcache(int k, CtrNegOrder order) {
    enum { NG = 16, MINI = 5, M = 9, D = 6 };
    uint64_t st = 5 + (uint64_t)k + 10 * (uint64_t)order;
    float W[M * D];
    fill(W, M * D, &st, 0.5f);
    /* the uncached batch: one block of 16 examples, negatives in `order` */
    int rows = (int)ctr_block_rows(NG, k);
    float *X = malloc(sizeof(float) * rows * M), *E = malloc(sizeof(float) * rows * D);
    fill(X, (size_t)rows * M, &st, 1.0f);
    encode(X, W, rows, M, D, E);
    float *A = malloc(sizeof(float) * NG * D), *P = malloc(sizeof(float) * NG * D);
    float *N = malloc(sizeof(float) * NG * D * (k ? k : 1));
    ctr_block_split(E, NG, k, sizeof(float) * D, order, 0, A, P, N);
    CtrOptions o;
    ctr_options_default(&o, CTR_MNRL);
    CtrBatch b = {NG, k, D, A, P, k ? N : NULL, NULL, NULL, NULL, NULL};
    float *dA = malloc(sizeof(float) * NG * D), *dP = malloc(sizeof(float) * NG * D);
    float *dN = malloc(sizeof(float) * NG * D * (k ? k : 1));
    char err[128];
    CtrResult r0, r1;
    CHECK(ctr_loss(&b, &o, 0, NG, &r0, dA, dP, k ? dN : NULL, err, sizeof err) == 0);
    float *dE = malloc(sizeof(float) * rows * D);
    ctr_block_join(dA, dP, k ? dN : NULL, 0, NG, k, sizeof(float) * D, order, dE);
    double dW0[M * D] = {0};
    encode_back(X, dE, rows, M, D, dW0);

    /* cached: chunks of 5 examples (5, 5, 5, 1); each chunk's block is the
     * rows of its examples in the same layout */
    CtrCache c;
    CHECK(ctr_cache_init(&c, NG, k, D, MINI) == 0);
    int nch = ctr_cache_chunks(&c);
    CHECK(nch == 4);
    float *Xc = malloc(sizeof(float) * rows * M), *Ec = malloc(sizeof(float) * rows * D);
    float *Xsplit[3] = {malloc(sizeof(float) * NG * M), malloc(sizeof(float) * NG * M),
                        malloc(sizeof(float) * NG * M * (k ? k : 1))};
    ctr_block_split(X, NG, k, sizeof(float) * M, order, 0, Xsplit[0], Xsplit[1], Xsplit[2]);
    for (int i = 0; i < nch; i++) { /* pass 1: embed, no activations kept */
        int ex0, cnt;
        ctr_cache_chunk(&c, i, &ex0, &cnt);
        ctr_block_join(Xsplit[0], Xsplit[1], k ? Xsplit[2] : NULL, ex0, cnt, k, sizeof(float) * M, order, Xc);
        encode(Xc, W, (int)ctr_block_rows(cnt, k), M, D, Ec);
        ctr_cache_put(&c, i, Ec, NULL, order);
    }
    CtrBatch cb = ctr_cache_batch(&c, NULL);
    CHECK(ctr_loss(&cb, &o, 0, NG, &r1, c.dA, c.dP, k ? c.dN : NULL, err, sizeof err) == 0);
    double dW1[M * D] = {0};
    for (int i = 0; i < nch; i++) { /* pass 2: re-embed with activations, backward the chunk's block */
        int ex0, cnt;
        ctr_cache_chunk(&c, i, &ex0, &cnt);
        ctr_block_join(Xsplit[0], Xsplit[1], k ? Xsplit[2] : NULL, ex0, cnt, k, sizeof(float) * M, order, Xc);
        ctr_cache_grad(&c, i, order, Ec);
        encode_back(Xc, Ec, (int)ctr_block_rows(cnt, k), M, D, dW1);
    }
    double el = fabs(r1.loss - r0.loss) / r0.loss, eg = dmaxrel(dW1, dW0, M * D);
    printf("  gradcache 16 in chunks of 5, k=%d %s: loss %.6f, rel err loss %.2g dW %.2g\n", k,
           order == CTR_NEG_COLUMN_MAJOR ? "column-major" : "example-major", r0.loss, el, eg);
    CHECKF(el < 1e-6 && eg < 1e-6, "gradcache: loss %.3g dW %.3g", el, eg);
    ctr_cache_free(&c);
    free(X); free(E); free(A); free(P); free(N); free(dA); free(dP); free(dN); free(dE); free(Xc); free(Ec);
    for (int i = 0; i < 3; i++) free(Xsplit[i]);
}

/* Both at once, as the loop will run it: 2 ranks, each caching its 8
 * examples in chunks of 3; the caches' arrays are all-gathered (each array
 * separately, rank order); each rank takes the gradient of its rows into its
 * cache and backpropagates chunk by chunk. The mean of the ranks' parameter
 * gradients (grad_scale = 2) equals the 1-process uncached gradient. */
static void test_ranks_with_cache(void) {
    enum { R = 2, B = 8, NG = 16, K = 2, M = 7, D = 5, MINI = 3 };
    uint64_t st = 31337;
    float W[M * D];
    fill(W, M * D, &st, 0.5f);
    float X[NG * (2 + K) * M]; /* split layout: anchors (16), positives (16), negatives (32), example-major */
    fill(X, sizeof X / sizeof X[0], &st, 1.0f);
    const float *XA = X, *XP = X + NG * M, *XN = X + 2 * NG * M;
    CtrOptions o;
    ctr_options_default(&o, CTR_MNRL);
    o.symmetric = 1;
    char err[128];
    /* 1 process, uncached */
    float E[NG * (2 + K) * D];
    encode(X, W, NG * (2 + K), M, D, E);
    CtrBatch b1 = {NG, K, D, E, E + NG * D, E + 2 * NG * D, NULL, NULL, NULL, NULL};
    float dE[NG * (2 + K) * D];
    CtrResult r1;
    CHECK(ctr_loss(&b1, &o, 0, NG, &r1, dE, dE + NG * D, dE + 2 * NG * D, err, sizeof err) == 0);
    double dW1[M * D] = {0};
    encode_back(X, dE, NG * (2 + K), M, D, dW1);
    /* 2 ranks with caches */
    CtrCache c[R];
    for (int r = 0; r < R; r++) {
        CHECK(ctr_cache_init(&c[r], B, K, D, MINI) == 0);
        for (int i = 0; i < ctr_cache_chunks(&c[r]); i++) {
            int ex0, cnt;
            ctr_cache_chunk(&c[r], i, &ex0, &cnt);
            float xb[MINI * (2 + K) * M], eb[MINI * (2 + K) * D];
            ctr_block_join(XA, XP, XN, r * B + ex0, cnt, K, sizeof(float) * M, CTR_NEG_EXAMPLE_MAJOR, xb);
            encode(xb, W, (int)ctr_block_rows(cnt, K), M, D, eb);
            ctr_cache_put(&c[r], i, eb, NULL, CTR_NEG_EXAMPLE_MAJOR);
        }
    }
    float GA[NG * D], GP[NG * D], GN[NG * K * D];
    for (int r = 0; r < R; r++) { /* three all-gathers */
        memcpy(GA + r * B * D, c[r].A, sizeof(float) * B * D);
        memcpy(GP + r * B * D, c[r].P, sizeof(float) * B * D);
        memcpy(GN + r * B * K * D, c[r].N, sizeof(float) * B * K * D);
    }
    CtrBatch g = {NG, K, D, GA, GP, GN, NULL, NULL, NULL, NULL};
    double dW[M * D] = {0};
    double worst_loss = 0;
    for (int r = 0; r < R; r++) {
        CtrOptions ow = o;
        ow.grad_scale = R;
        CtrResult rr;
        CHECK(ctr_loss(&g, &ow, r * B, B, &rr, c[r].dA, c[r].dP, c[r].dN, err, sizeof err) == 0);
        worst_loss = fmax(worst_loss, fabs(rr.loss - r1.loss) / r1.loss);
        double dWr[M * D] = {0};
        for (int i = 0; i < ctr_cache_chunks(&c[r]); i++) {
            int ex0, cnt;
            ctr_cache_chunk(&c[r], i, &ex0, &cnt);
            float xb[MINI * (2 + K) * M], gb[MINI * (2 + K) * D];
            ctr_block_join(XA, XP, XN, r * B + ex0, cnt, K, sizeof(float) * M, CTR_NEG_EXAMPLE_MAJOR, xb);
            ctr_cache_grad(&c[r], i, CTR_NEG_EXAMPLE_MAJOR, gb);
            encode_back(xb, gb, (int)ctr_block_rows(cnt, K), M, D, dWr);
        }
        for (int i = 0; i < M * D; i++) dW[i] += dWr[i] / R;
        ctr_cache_free(&c[r]);
    }
    double eg = dmaxrel(dW, dW1, M * D);
    printf("  2 ranks x 8 cached in chunks of 3 vs 1 x 16 uncached (k=2, symmetric): rel err loss %.2g dW %.2g\n",
           worst_loss, eg);
    CHECKF(worst_loss < 1e-12 && eg < 1e-6, "ranks + cache: loss %.3g dW %.3g", worst_loss, eg);
}

static void test_block_layout(void) {
    /* 2 examples, k = 2: block rows a0 a1 p0 p1 then negatives */
    int64_t blk_em[8] = {1, 2, 11, 12, 100, 101, 200, 201}; /* n(0,0) n(0,1) n(1,0) n(1,1) */
    int64_t blk_cm[8] = {1, 2, 11, 12, 100, 200, 101, 201}; /* n(0,0) n(1,0) n(0,1) n(1,1) */
    int64_t A[2], P[2], N[4], back[8];
    ctr_block_split(blk_em, 2, 2, sizeof(int64_t), CTR_NEG_EXAMPLE_MAJOR, 0, A, P, N);
    CHECK(A[0] == 1 && A[1] == 2 && P[0] == 11 && P[1] == 12 && N[0] == 100 && N[1] == 101 && N[2] == 200 &&
          N[3] == 201);
    ctr_block_split(blk_cm, 2, 2, sizeof(int64_t), CTR_NEG_COLUMN_MAJOR, 0, A, P, N);
    CHECK(N[0] == 100 && N[1] == 101 && N[2] == 200 && N[3] == 201);
    ctr_block_join(A, P, N, 0, 2, 2, sizeof(int64_t), CTR_NEG_COLUMN_MAJOR, back);
    CHECK(memcmp(back, blk_cm, sizeof back) == 0);
    /* two gathered rank blocks of one example each, k = 1: a p n | a p n */
    int64_t g[6] = {1, 11, 100, 2, 12, 200}, GA[2], GP[2], GN[2];
    int counts[2] = {1, 1};
    ctr_blocks_split(g, counts, 2, 1, sizeof(int64_t), CTR_NEG_EXAMPLE_MAJOR, GA, GP, GN);
    CHECK(GA[0] == 1 && GA[1] == 2 && GP[0] == 11 && GP[1] == 12 && GN[0] == 100 && GN[1] == 200);
}

static void test_errors_and_semantics(void) {
    float A[12] = {1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0}, P[12], N[24];
    memcpy(P, A, sizeof A);
    for (int i = 0; i < 24; i++) N[i] = (float)(i % 5) - 2.0f;
    CtrOptions o;
    ctr_options_default(&o, CTR_MNRL);
    CHECK(o.scale == 20.0f && o.margin == 5.0f && o.similarity == CTR_SIM_COS && !o.symmetric &&
          o.distance == CTR_DIST_EUCLIDEAN && o.grad_scale == 1.0f);
    CtrBatch b = {4, 0, 3, A, P, NULL, NULL, NULL, NULL, NULL};
    char err[256];
    float g[12];
    CHECK(ctr_loss(&b, &o, 2, 3, NULL, g, NULL, NULL, err, sizeof err) == -1 && strstr(err, "outside"));
    CHECK(ctr_loss(&b, &o, -1, 1, NULL, g, NULL, NULL, err, sizeof err) == -1);
    b.k = 1;
    CHECK(ctr_loss(&b, &o, 0, 4, NULL, g, NULL, NULL, err, sizeof err) == -1); /* k without negatives */
    b.k = 0;
    A[4] = NAN;
    CHECK(ctr_loss(&b, &o, 0, 4, NULL, g, NULL, NULL, err, sizeof err) == -1 && strstr(err, "non-finite"));
    A[4] = 1;
    o.scale = 0;
    CHECK(ctr_loss(&b, &o, 0, 4, NULL, g, NULL, NULL, err, sizeof err) == -1);
    ctr_options_default(&o, CTR_COSENT);
    CHECK(ctr_loss(&b, &o, 0, 4, NULL, g, NULL, NULL, err, sizeof err) == -1 && strstr(err, "scores"));
    ctr_options_default(&o, CTR_TRIPLET);
    b.k = 2;
    b.negatives = N;
    CHECK(ctr_loss(&b, &o, 0, 4, NULL, g, NULL, NULL, err, sizeof err) == -1 && strstr(err, "exactly one"));

    CtrLoss l;
    CHECK(ctr_loss_parse("mnrl", &l) == 0 && l == CTR_MNRL);
    CHECK(ctr_loss_parse("multiple_negatives_ranking", &l) == 0 && l == CTR_MNRL);
    CHECK(ctr_loss_parse("cosent", &l) == 0 && l == CTR_COSENT);
    CHECK(ctr_loss_parse("angle", &l) == 0 && l == CTR_ANGLE);
    CHECK(ctr_loss_parse("triplet", &l) == 0 && l == CTR_TRIPLET);
    CHECK(ctr_loss_parse("contrastive", &l) == -1 && ctr_loss_parse(NULL, &l) == -1);

    /* semantics by hand: 2 examples, identical anchors/positives e0, e1
     * orthogonal; MNRL loss = log(1 + exp(20 (0 - 1))) per row */
    float a2[4] = {1, 0, 0, 1};
    CtrBatch b2 = {2, 0, 2, a2, a2, NULL, NULL, NULL, NULL, NULL};
    ctr_options_default(&o, CTR_MNRL);
    CtrResult r;
    CHECK(ctr_loss(&b2, &o, 0, 0, &r, NULL, NULL, NULL, err, sizeof err) == 0);
    CHECKF(fabs(r.loss - log1p(exp(-20.0))) < 1e-15, "hand MNRL %.17g", r.loss);
    CHECK(r.top1 == 1.0 && r.masked == 0);
    /* the two positives are the same text: column masked, the loss is exactly 0 */
    int64_t ip[2] = {7, 7};
    b2.positive_ids = ip;
    CHECK(ctr_loss(&b2, &o, 0, 0, &r, NULL, NULL, NULL, err, sizeof err) == 0);
    CHECK(r.loss == 0.0 && r.masked == 2);
    /* CoSENT by hand: sims 1 and 0 with scores 0 < 1: log(1 + exp(20 (1 - 0))) */
    float a3[4] = {1, 0, 1, 0}, p3[4] = {1, 0, 0, 1}, s3[2] = {0.0f, 1.0f}; /* sim_0 = 1, sim_1 = 0 */
    CtrBatch c3 = {2, 0, 2, a3, p3, NULL, s3, NULL, NULL, NULL};
    ctr_options_default(&o, CTR_COSENT);
    CHECK(ctr_loss(&c3, &o, 0, 0, &r, NULL, NULL, NULL, err, sizeof err) == 0);
    CHECKF(fabs(r.loss - log1p(exp(20.0))) < 1e-12, "hand CoSENT %.17g", r.loss);
    CHECK(r.active == 1 && r.top1 == 0.0);
    /* triplet by hand: |a-p| = 1, |a-n| = 2, margin 5 -> 4 */
    float ta[2] = {0, 0}, tp[2] = {1, 0}, tn[2] = {0, 2};
    CtrBatch t = {1, 1, 2, ta, tp, tn, NULL, NULL, NULL, NULL};
    ctr_options_default(&o, CTR_TRIPLET);
    CHECK(ctr_loss(&t, &o, 0, 0, &r, NULL, NULL, NULL, err, sizeof err) == 0);
    CHECKF(fabs(r.loss - 4.0) < 1e-12, "hand triplet %.17g", r.loss);
}

int main(void) {
    printf("fixture (sentence-transformers / torch, float64 reference):\n");
    test_fixture();
    printf("finite differences:\n");
    test_finite_differences();
    printf("ranks:\n");
    test_two_ranks(0, CTR_MNRL, 0);
    test_two_ranks(2, CTR_MNRL, 0);
    test_two_ranks(2, CTR_MNRL, 1);
    test_two_ranks(0, CTR_COSENT, 0);
    test_two_ranks(1, CTR_TRIPLET, 0);
    test_uneven_split();
    test_large_batch();
    printf("gradcache:\n");
    test_gradcache(0, CTR_NEG_EXAMPLE_MAJOR);
    test_gradcache(3, CTR_NEG_EXAMPLE_MAJOR);
    test_gradcache(2, CTR_NEG_COLUMN_MAJOR);
    test_ranks_with_cache();
    test_block_layout();
    test_errors_and_semantics();
    return test_finish("test_contrastive");
}
