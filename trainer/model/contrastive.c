/* contrastive.c — embedding losses on host arrays (contrastive.h; formulas
 * and conventions in docs/embeddings.md). Double precision throughout;
 * fp32 only at the edges. */
#include "trainer/model/contrastive.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NORM_EPS 1e-12 /* torch.nn.functional.normalize's default eps */

static int fail(char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void ctr_options_default(CtrOptions *o, CtrLoss loss) {
    memset(o, 0, sizeof *o);
    o->loss = loss;
    o->scale = CTR_DEFAULT_SCALE;
    o->similarity = CTR_SIM_COS;
    o->symmetric = 0;
    o->distance = CTR_DIST_EUCLIDEAN;
    o->margin = CTR_DEFAULT_MARGIN;
    o->grad_scale = 1.0f;
}

static const char *const loss_names[] = {"mnrl", "cosent", "angle", "triplet"};

int ctr_loss_parse(const char *name, CtrLoss *out) {
    if (!name) return -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, loss_names[i])) {
            *out = (CtrLoss)i;
            return 0;
        }
    if (!strcmp(name, "multiple_negatives_ranking")) {
        *out = CTR_MNRL;
        return 0;
    }
    return -1;
}

const char *ctr_loss_name(CtrLoss loss) {
    return (int)loss >= 0 && (int)loss < 4 ? loss_names[loss] : "?";
}

/* C (m, n) = op(A) op(B) with the m rows split over the OpenMP threads
 * (OpenBLAS runs single-threaded inside our threads, as in kernels/cpu).
 * Row r of op(A) starts at A + r * (ta ? 1 : lda). */
static void gemm_rows(int ta, int tb, int m, int n, int k, const double *A, int lda, const double *B, int ldb,
                      double *C, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        for (int r = 0; r < m; r++) memset(C + (size_t)r * ldc, 0, sizeof(double) * n);
        return;
    }
    double work = (double)m * n * k;
#pragma omp parallel if (work > 4e6)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int lo = (int)((long long)m * id / nt), hi = (int)((long long)m * (id + 1) / nt);
        if (hi > lo)
            cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, hi - lo, n, k,
                        1.0, A + (size_t)lo * (ta ? 1 : (size_t)lda), lda, B, ldb, 0.0, C + (size_t)lo * ldc, ldc);
    }
}

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* Rows of x into double u; normalise: u = x / max(||x||, eps) and nrm the
 * raw norm, else u = x and nrm = 1. */
static void rows_in(const float *x, int n, int d, int normalize, double *u, double *nrm) {
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        double *ui = u + (size_t)i * d;
        double s = 0;
        for (int c = 0; c < d; c++) {
            ui[c] = xi[c];
            s += ui[c] * ui[c];
        }
        if (normalize) {
            double r = sqrt(s);
            double den = r > NORM_EPS ? r : NORM_EPS;
            for (int c = 0; c < d; c++) ui[c] /= den;
            nrm[i] = r;
        } else {
            nrm[i] = 1.0;
        }
    }
}

/* dx = g * d(normalised row)/dx applied to du: (du - u (u.du)) / ||x||, or
 * du / eps where normalize clamped the norm; du itself without normalize. */
static void row_back(const double *u, double nrm, const double *du, int d, int normalize, double g, float *dx) {
    if (!normalize) {
        for (int c = 0; c < d; c++) dx[c] = (float)(g * du[c]);
        return;
    }
    if (!(nrm > NORM_EPS)) {
        for (int c = 0; c < d; c++) dx[c] = (float)(g * du[c] / NORM_EPS);
        return;
    }
    double dot = 0;
    for (int c = 0; c < d; c++) dot += u[c] * du[c];
    for (int c = 0; c < d; c++) dx[c] = (float)(g * (du[c] - u[c] * dot) / nrm);
}

static int check_batch(const CtrBatch *b, int row0, int nrows, char *err, size_t errlen) {
    if (!b) return fail(err, errlen, "contrastive: no batch");
    if (b->n < 1 || b->d < 1 || b->k < 0) return fail(err, errlen, "contrastive: bad shape n=%d d=%d k=%d", b->n, b->d, b->k);
    if (row0 < 0 || nrows < 0 || row0 > b->n - nrows)
        return fail(err, errlen, "contrastive: owned rows [%d, %d) outside the batch of %d", row0, row0 + nrows, b->n);
    if (!b->anchors || !b->positives) return fail(err, errlen, "contrastive: anchors and positives are required");
    if (b->k > 0 && !b->negatives) return fail(err, errlen, "contrastive: k=%d negatives but no array", b->k);
    size_t nd = (size_t)b->n * b->d;
    if (!all_finite(b->anchors, nd) || !all_finite(b->positives, nd) ||
        (b->k > 0 && !all_finite(b->negatives, nd * b->k)))
        return fail(err, errlen, "contrastive: non-finite embedding");
    return 0;
}

/* ------------------------------------------------------------------ MNRL */

static inline int same_id(const int64_t *ids, int i, int j) {
    return ids && ids[i] >= 0 && ids[i] == ids[j];
}

/* Is positive j (or, in the symmetric term, anchor j) a second correct
 * answer for example i? */
static inline int dup_pair(const CtrBatch *b, int i, int j) {
    return i != j && (same_id(b->positive_ids, i, j) || same_id(b->anchor_ids, i, j));
}

static inline int masked_col(const CtrBatch *b, int i, int c) {
    if (c < b->n) return dup_pair(b, i, c);
    if (!b->negative_ids || !b->positive_ids) return 0;
    int64_t id = b->negative_ids[c - b->n];
    return id >= 0 && id == b->positive_ids[i];
}

static int mnrl(const CtrBatch *b, const CtrOptions *o, int row0, int nrows, CtrResult *res,
                float *dA, float *dP, float *dN, char *err, size_t errlen) {
    const int n = b->n, d = b->d, k = b->k;
    const size_t nc = (size_t)n * (size_t)(1 + k);
    const int norm = o->similarity == CTR_SIM_COS;
    const double sc = o->scale, w = o->symmetric ? 0.5 : 1.0;
    double *u = malloc(sizeof(double) * (size_t)n * d);
    double *v = malloc(sizeof(double) * nc * d);
    double *nu = malloc(sizeof(double) * n), *nv = malloc(sizeof(double) * nc);
    double *S = malloc(sizeof(double) * (size_t)n * nc); /* similarities */
    double *G = malloc(sizeof(double) * (size_t)n * nc); /* dL/dS */
    double *du = malloc(sizeof(double) * (size_t)(nrows > 0 ? nrows : 1) * (size_t)(1 + k) * d);
    if (!u || !v || !nu || !nv || !S || !G || !du) {
        free(u); free(v); free(nu); free(nv); free(S); free(G); free(du);
        return fail(err, errlen, "contrastive: out of memory for a %d x %zu similarity matrix", n, nc);
    }
    rows_in(b->anchors, n, d, norm, u, nu);
    rows_in(b->positives, n, d, norm, v, nv);
    if (k > 0) rows_in(b->negatives, n * k, d, norm, v + (size_t)n * d, nv + n);
    gemm_rows(0, 1, n, (int)nc, d, u, d, v, d, S, (int)nc);

    /* per-row terms, summed serially at the end: the loss does not depend
     * on the number of threads */
    double *rl = calloc((size_t)n, sizeof(double)), *lse_b = o->symmetric ? malloc(sizeof(double) * n) : NULL;
    int *top = malloc(sizeof(int) * n);
    int64_t *nmask = calloc((size_t)n, sizeof(int64_t));
    if (!rl || !top || !nmask || (o->symmetric && !lse_b)) {
        free(rl); free(lse_b); free(top); free(nmask);
        free(u); free(v); free(nu); free(nv); free(S); free(G); free(du);
        return fail(err, errlen, "contrastive: out of memory");
    }
    const double f = w * sc / n;
    /* anchors -> candidates (all columns) */
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; i++) {
        const double *s = S + (size_t)i * nc;
        double *g = G + (size_t)i * nc;
        double own = sc * s[i], mx = own;
        int hit = 1;
        int64_t nm = 0;
        for (size_t c = 0; c < nc; c++) {
            if ((int)c == i) continue;
            if (masked_col(b, i, (int)c)) { nm++; g[c] = -1; continue; } /* -1 marks masked for the next pass */
            g[c] = 0;
            double z = sc * s[c];
            if (z > mx) mx = z;
            if (z >= own) hit = 0;
        }
        g[i] = 0;
        double sum = 0;
        for (size_t c = 0; c < nc; c++) {
            if (g[c] < 0) { g[c] = 0; continue; }
            g[c] = exp(sc * s[c] - mx);
            sum += g[c];
        }
        rl[i] = w * (mx + log(sum) - own);
        top[i] = hit;
        nmask[i] = nm;
        for (size_t c = 0; c < nc; c++) g[c] = f * (g[c] / sum - ((int)c == i ? 1.0 : 0.0));
    }
    /* positives -> anchors: row i = positive i, column j = anchor j, logit
     * sc * S[j][i]; first every row's log-sum-exp, then the gradient rows */
    if (o->symmetric) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < n; i++) {
            double own = sc * S[(size_t)i * nc + i], mx = own;
            int64_t nm = 0;
            for (int j = 0; j < n; j++) {
                if (j == i) continue;
                if (dup_pair(b, i, j)) { nm++; continue; }
                double z = sc * S[(size_t)j * nc + i];
                if (z > mx) mx = z;
            }
            double sum = 0;
            for (int j = 0; j < n; j++)
                if (!dup_pair(b, i, j)) sum += exp(sc * S[(size_t)j * nc + i] - mx);
            lse_b[i] = mx + log(sum);
            rl[i] += w * (lse_b[i] - own);
            nmask[i] += nm;
        }
#pragma omp parallel for schedule(static)
        for (int j = 0; j < n; j++)
            for (int i = 0; i < n; i++) {
                if (dup_pair(b, i, j)) continue;
                G[(size_t)j * nc + i] += f * (exp(sc * S[(size_t)j * nc + i] - lse_b[i]) - (j == i ? 1.0 : 0.0));
            }
    }
    double loss = 0;
    int64_t hits = 0, masked = 0;
    for (int i = 0; i < n; i++) {
        loss += rl[i];
        hits += top[i];
        masked += nmask[i];
    }
    free(rl); free(lse_b); free(top); free(nmask);
    loss /= n;

    const double gs = o->grad_scale;
    if (nrows > 0 && dA) {
        /* dU(rows) = G(rows, :) V */
        gemm_rows(0, 0, nrows, d, (int)nc, G + (size_t)row0 * nc, (int)nc, v, d, du, d);
        for (int r = 0; r < nrows; r++)
            row_back(u + (size_t)(row0 + r) * d, nu[row0 + r], du + (size_t)r * d, d, norm, gs, dA + (size_t)r * d);
    }
    if (nrows > 0 && dP) {
        /* dV(cols) = G(:, cols)^T U for the owned positive columns */
        gemm_rows(1, 0, nrows, d, n, G + row0, (int)nc, u, d, du, d);
        for (int r = 0; r < nrows; r++)
            row_back(v + (size_t)(row0 + r) * d, nv[row0 + r], du + (size_t)r * d, d, norm, gs, dP + (size_t)r * d);
    }
    if (nrows > 0 && k > 0 && dN) {
        size_t c0 = (size_t)n + (size_t)row0 * k;
        int m = nrows * k;
        gemm_rows(1, 0, m, d, n, G + c0, (int)nc, u, d, du, d);
        for (int r = 0; r < m; r++)
            row_back(v + (c0 + r) * d, nv[c0 + r], du + (size_t)r * d, d, norm, gs, dN + (size_t)r * d);
    }
    if (res) {
        res->loss = loss;
        res->top1 = (double)hits / n;
        res->masked = masked;
        res->active = (int64_t)nc;
    }
    free(u); free(v); free(nu); free(nv); free(S); free(G); free(du);
    return 0;
}

/* -------------------------------------------------------- CoSENT / AnglE */

/* Pair similarity of normalised rows u, v and its gradients (dsim/du,
 * dsim/dv, into gu, gv). Cosine, or AnglE's |cos + sin| with dimensions c
 * and c + h paired (h = ceil(d/2); an odd d pads one zero, as
 * sentence-transformers' pairwise_angle_sim). */
static double pair_sim(const double *u, const double *v, int d, int angle, double *gu, double *gv) {
    double c = 0;
    for (int i = 0; i < d; i++) c += u[i] * v[i];
    if (!angle) {
        if (gu) memcpy(gu, v, sizeof(double) * d);
        if (gv) memcpy(gv, u, sizeof(double) * d);
        return c;
    }
    int h = (d + 1) / 2;
    double s = 0;
    for (int m = 0; m < h && m + h < d; m++) s += u[m + h] * v[m] - u[m] * v[m + h];
    double t = c + s;
    double sg = t > 0 ? 1.0 : t < 0 ? -1.0 : 0.0; /* torch.abs' gradient: sign, 0 at 0 */
    if (gu)
        for (int i = 0; i < d; i++) {
            double x = v[i];
            if (i >= h) x += v[i - h];
            else if (i + h < d) x -= v[i + h];
            gu[i] = sg * x;
        }
    if (gv)
        for (int i = 0; i < d; i++) {
            double x = u[i];
            if (i < h) { if (i + h < d) x += u[i + h]; }
            else x -= u[i - h];
            gv[i] = sg * x;
        }
    return fabs(t);
}

static int cosent(const CtrBatch *b, const CtrOptions *o, int row0, int nrows, CtrResult *res,
                  float *dA, float *dP, char *err, size_t errlen) {
    const int n = b->n, d = b->d, angle = o->loss == CTR_ANGLE;
    if (!b->scores) return fail(err, errlen, "contrastive: %s needs pair scores", ctr_loss_name(o->loss));
    for (int i = 0; i < n; i++)
        if (!isfinite(b->scores[i])) return fail(err, errlen, "contrastive: non-finite score at pair %d", i);
    double *u = malloc(sizeof(double) * (size_t)n * d), *v = malloc(sizeof(double) * (size_t)n * d);
    double *nu = malloc(sizeof(double) * n), *nv = malloc(sizeof(double) * n);
    double *sim = malloc(sizeof(double) * n), *gsim = calloc((size_t)n, sizeof(double));
    double *gu = malloc(sizeof(double) * d), *gv = malloc(sizeof(double) * d);
    if (!u || !v || !nu || !nv || !sim || !gsim || !gu || !gv) {
        free(u); free(v); free(nu); free(nv); free(sim); free(gsim); free(gu); free(gv);
        return fail(err, errlen, "contrastive: out of memory");
    }
    rows_in(b->anchors, n, d, 1, u, nu);
    rows_in(b->positives, n, d, 1, v, nv);
    for (int i = 0; i < n; i++) sim[i] = pair_sim(u + (size_t)i * d, v + (size_t)i * d, d, angle, NULL, NULL);
    const double sc = o->scale;
    const float *y = b->scores;
    /* L = log(1 + sum_{y_i < y_j} exp(sc (sim_i - sim_j))), with the max taken out */
    double mx = 0;
    int64_t pairs = 0, right = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (y[i] < y[j]) {
                double z = sc * (sim[i] - sim[j]);
                if (z > mx) mx = z;
                pairs++;
                right += sim[i] < sim[j];
            }
    double sum = exp(-mx);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (y[i] < y[j]) sum += exp(sc * (sim[i] - sim[j]) - mx);
    double L = mx + log(sum);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (y[i] < y[j]) {
                double wij = exp(sc * (sim[i] - sim[j]) - L);
                gsim[i] += sc * wij;
                gsim[j] -= sc * wij;
            }
    const double gs = o->grad_scale;
    for (int r = 0; r < nrows; r++) {
        int i = row0 + r;
        const double *ui = u + (size_t)i * d, *vi = v + (size_t)i * d;
        pair_sim(ui, vi, d, angle, gu, gv);
        for (int c = 0; c < d; c++) {
            gu[c] *= gsim[i];
            gv[c] *= gsim[i];
        }
        if (dA) row_back(ui, nu[i], gu, d, 1, gs, dA + (size_t)r * d);
        if (dP) row_back(vi, nv[i], gv, d, 1, gs, dP + (size_t)r * d);
    }
    if (res) {
        res->loss = L;
        res->top1 = pairs ? (double)right / (double)pairs : 1.0;
        res->masked = 0;
        res->active = pairs;
    }
    free(u); free(v); free(nu); free(nv); free(sim); free(gsim); free(gu); free(gv);
    return 0;
}

/* --------------------------------------------------------------- triplet */

/* Distance of rows x, y and its gradient with respect to x (the gradient
 * with respect to y is its negative for Euclidean; computed separately for
 * cosine), into gx, gy. */
static double dist_grad(const float *x, const float *y, int d, CtrDistance dist, double *gx, double *gy) {
    if (dist == CTR_DIST_EUCLIDEAN) {
        double s = 0;
        for (int c = 0; c < d; c++) {
            double t = (double)x[c] - y[c];
            s += t * t;
        }
        double r = sqrt(s);
        for (int c = 0; c < d; c++) {
            double t = r > 0 ? ((double)x[c] - y[c]) / r : 0.0; /* torch: 0 at a zero distance */
            gx[c] = t;
            gy[c] = -t;
        }
        return r;
    }
    /* 1 - cos(x, y) with normalize(eps 1e-12) */
    double nx2 = 0, ny2 = 0;
    for (int c = 0; c < d; c++) {
        nx2 += (double)x[c] * x[c];
        ny2 += (double)y[c] * y[c];
    }
    double nx = sqrt(nx2), ny = sqrt(ny2);
    double dx = nx > NORM_EPS ? nx : NORM_EPS, dy = ny > NORM_EPS ? ny : NORM_EPS;
    double cs = 0;
    for (int c = 0; c < d; c++) cs += ((double)x[c] / dx) * ((double)y[c] / dy);
    /* d(1 - cos)/dx = -(d cos/du) normalised-back; du = v, dv = u */
    for (int c = 0; c < d; c++) {
        double ux = x[c] / dx, vy = y[c] / dy;
        gx[c] = nx > NORM_EPS ? -(vy - ux * cs) / nx : -vy / NORM_EPS;
        gy[c] = ny > NORM_EPS ? -(ux - vy * cs) / ny : -ux / NORM_EPS;
    }
    return 1.0 - cs;
}

static int triplet(const CtrBatch *b, const CtrOptions *o, int row0, int nrows, CtrResult *res,
                   float *dA, float *dP, float *dN, char *err, size_t errlen) {
    const int n = b->n, d = b->d;
    if (b->k != 1) return fail(err, errlen, "contrastive: triplet needs exactly one negative per example (k=%d)", b->k);
    double *gap = malloc(sizeof(double) * d), *gp = malloc(sizeof(double) * d);
    double *gan = malloc(sizeof(double) * d), *gn = malloc(sizeof(double) * d);
    if (!gap || !gp || !gan || !gn) {
        free(gap); free(gp); free(gan); free(gn);
        return fail(err, errlen, "contrastive: out of memory");
    }
    double loss = 0;
    int64_t active = 0, right = 0;
    const double g = o->grad_scale / n;
    for (int i = 0; i < n; i++) {
        const float *a = b->anchors + (size_t)i * d, *p = b->positives + (size_t)i * d, *q = b->negatives + (size_t)i * d;
        double dp = dist_grad(a, p, d, o->distance, gap, gp);
        double dn = dist_grad(a, q, d, o->distance, gan, gn);
        double h = dp - dn + o->margin;
        right += dp < dn;
        int on = h > 0; /* relu's gradient is 0 at 0 */
        if (on) {
            loss += h;
            active++;
        }
        if (i < row0 || i >= row0 + nrows) continue;
        size_t r = (size_t)(i - row0) * d;
        for (int c = 0; c < d; c++) {
            if (dA) dA[r + c] = on ? (float)(g * (gap[c] - gan[c])) : 0.0f;
            if (dP) dP[r + c] = on ? (float)(g * gp[c]) : 0.0f;
            if (dN) dN[r + c] = on ? (float)(-g * gn[c]) : 0.0f;
        }
    }
    if (res) {
        res->loss = loss / n;
        res->top1 = (double)right / n;
        res->masked = 0;
        res->active = active;
    }
    free(gap); free(gp); free(gan); free(gn);
    return 0;
}

int ctr_loss(const CtrBatch *b, const CtrOptions *o, int row0, int nrows, CtrResult *res,
             float *dA, float *dP, float *dN, char *err, size_t errlen) {
    if (!o) return fail(err, errlen, "contrastive: no options");
    if (check_batch(b, row0, nrows, err, errlen)) return -1;
    switch (o->loss) {
    case CTR_MNRL:
        if (!(o->scale > 0) || !isfinite(o->scale)) return fail(err, errlen, "contrastive: scale must be > 0");
        return mnrl(b, o, row0, nrows, res, dA, dP, dN, err, errlen);
    case CTR_COSENT:
    case CTR_ANGLE:
        if (!(o->scale > 0) || !isfinite(o->scale)) return fail(err, errlen, "contrastive: scale must be > 0");
        return cosent(b, o, row0, nrows, res, dA, dP, err, errlen);
    case CTR_TRIPLET:
        if (!isfinite(o->margin)) return fail(err, errlen, "contrastive: margin must be finite");
        return triplet(b, o, row0, nrows, res, dA, dP, dN, err, errlen);
    }
    return fail(err, errlen, "contrastive: unknown loss %d", (int)o->loss);
}

/* ---------------------------------------------------------- block layout */

static size_t neg_row_in_block(int i, int j, int count, int k, CtrNegOrder order) {
    return order == CTR_NEG_COLUMN_MAJOR ? (size_t)j * count + i : (size_t)i * k + j;
}

void ctr_block_split(const void *block, int count, int k, size_t row_bytes, CtrNegOrder order,
                     int ex0, void *A, void *P, void *N) {
    const char *src = block;
    memcpy((char *)A + (size_t)ex0 * row_bytes, src, (size_t)count * row_bytes);
    memcpy((char *)P + (size_t)ex0 * row_bytes, src + (size_t)count * row_bytes, (size_t)count * row_bytes);
    if (k <= 0 || !N) return;
    const char *neg = src + (size_t)2 * count * row_bytes;
    for (int i = 0; i < count; i++)
        for (int j = 0; j < k; j++)
            memcpy((char *)N + ((size_t)(ex0 + i) * k + j) * row_bytes,
                   neg + neg_row_in_block(i, j, count, k, order) * row_bytes, row_bytes);
}

void ctr_block_join(const void *A, const void *P, const void *N, int ex0, int count, int k,
                    size_t row_bytes, CtrNegOrder order, void *block) {
    char *dst = block;
    size_t span = (size_t)count * row_bytes;
    if (A) memcpy(dst, (const char *)A + (size_t)ex0 * row_bytes, span);
    else memset(dst, 0, span);
    if (P) memcpy(dst + span, (const char *)P + (size_t)ex0 * row_bytes, span);
    else memset(dst + span, 0, span);
    if (k <= 0) return;
    char *neg = dst + 2 * span;
    for (int i = 0; i < count; i++)
        for (int j = 0; j < k; j++) {
            char *to = neg + neg_row_in_block(i, j, count, k, order) * row_bytes;
            if (N) memcpy(to, (const char *)N + ((size_t)(ex0 + i) * k + j) * row_bytes, row_bytes);
            else memset(to, 0, row_bytes);
        }
}

void ctr_blocks_split(const void *blocks, const int *counts, int nblocks, int k, size_t row_bytes,
                      CtrNegOrder order, void *A, void *P, void *N) {
    const char *src = blocks;
    int ex0 = 0;
    for (int r = 0; r < nblocks; r++) {
        ctr_block_split(src, counts[r], k, row_bytes, order, ex0, A, P, N);
        src += ctr_block_rows(counts[r], k) * row_bytes;
        ex0 += counts[r];
    }
}

/* ----------------------------------------------------------- GradCache */

int ctr_cache_init(CtrCache *c, int n, int k, int d, int mini) {
    memset(c, 0, sizeof *c);
    if (n < 1 || k < 0 || d < 1) return -1;
    c->n = n;
    c->k = k;
    c->d = d;
    c->mini = mini > 0 && mini < n ? mini : n;
    size_t nd = (size_t)n * d, nkd = (size_t)n * k * d;
    c->A = calloc(nd, sizeof(float));
    c->P = calloc(nd, sizeof(float));
    c->dA = calloc(nd, sizeof(float));
    c->dP = calloc(nd, sizeof(float));
    c->N = calloc(nkd ? nkd : 1, sizeof(float));
    c->dN = calloc(nkd ? nkd : 1, sizeof(float));
    c->ida = malloc(sizeof(int64_t) * n);
    c->idp = malloc(sizeof(int64_t) * n);
    c->idn = malloc(sizeof(int64_t) * (k ? (size_t)n * k : 1));
    if (!c->A || !c->P || !c->dA || !c->dP || !c->N || !c->dN || !c->ida || !c->idp || !c->idn) {
        ctr_cache_free(c);
        return -1;
    }
    for (int i = 0; i < n; i++) c->ida[i] = c->idp[i] = -1;
    for (size_t i = 0; i < (size_t)n * k; i++) c->idn[i] = -1;
    return 0;
}

void ctr_cache_free(CtrCache *c) {
    free(c->A); free(c->P); free(c->N);
    free(c->dA); free(c->dP); free(c->dN);
    free(c->ida); free(c->idp); free(c->idn);
    memset(c, 0, sizeof *c);
}

int ctr_cache_chunks(const CtrCache *c) { return c->mini > 0 ? (c->n + c->mini - 1) / c->mini : 0; }

void ctr_cache_chunk(const CtrCache *c, int i, int *ex0, int *count) {
    int s = i * c->mini, e = s + c->mini;
    if (e > c->n) e = c->n;
    if (s > c->n) s = c->n;
    *ex0 = s;
    *count = e - s;
}

void ctr_cache_put(CtrCache *c, int i, const float *block, const int64_t *ids, CtrNegOrder order) {
    int ex0, count;
    ctr_cache_chunk(c, i, &ex0, &count);
    ctr_block_split(block, count, c->k, sizeof(float) * c->d, order, ex0, c->A, c->P, c->N);
    if (ids) ctr_block_split(ids, count, c->k, sizeof(int64_t), order, ex0, c->ida, c->idp, c->idn);
}

CtrBatch ctr_cache_batch(const CtrCache *c, const float *scores) {
    CtrBatch b = {c->n, c->k, c->d, c->A, c->P, c->k ? c->N : NULL, scores, c->ida, c->idp, c->k ? c->idn : NULL};
    return b;
}

void ctr_cache_grad(const CtrCache *c, int i, CtrNegOrder order, float *block) {
    int ex0, count;
    ctr_cache_chunk(c, i, &ex0, &count);
    ctr_block_join(c->dA, c->dP, c->dN, ex0, count, c->k, sizeof(float) * c->d, order, block);
}
