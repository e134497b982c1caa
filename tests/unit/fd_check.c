/* fd_check.c — see fd_check.h */
#include "fd_check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* the index of the largest |g| in one tensor, or -1 when all are below 1e-3 */
static long largest(const float *g, const ParamTensor *pt) {
    size_t best = pt->offset;
    float bg = -1;
    for (size_t k = pt->offset; k < pt->offset + pt->numel; k++)
        if (fabsf(g[k]) > bg) { bg = fabsf(g[k]); best = k; }
    return bg < 1e-3f ? -1 : (long)best;
}

int fd_check(Model *m, float *g, FdLoss loss, const void *ctx, const FdCheck *c, int *checked) {
    int bad = 0;
    *checked = 0;
    size_t skip = c->skip_prefix ? strlen(c->skip_prefix) : 0;
    for (int i = 0; i < m->table.n; i++) {
        const ParamTensor *pt = &m->table.t[i];
        if (skip && !strncmp(pt->name, c->skip_prefix, skip)) continue;
        for (int r = 0; r < 3; r++) {
            long best = largest(g, pt);
            if (best < 0) break;
            float keep = m->params[best], h = 1e-2f;
            m->params[best] = keep + h;
            double lp = loss(m, ctx);
            m->params[best] = keep - h;
            double lm = loss(m, ctx);
            m->params[best] = keep;
            double num = c->scale * (lp - lm) / (2 * h);
            (*checked)++;
            if (fabs(num - g[best]) > 2e-3 + 3e-2 * fabs(num)) {
                bad++;
                fprintf(stderr, "  %s: %s[%zu]: analytic %.6g numeric %.6g\n", c->what, pt->name,
                        (size_t)best - pt->offset, g[best], num);
            }
            g[best] = 0; /* next largest */
        }
    }
    return bad;
}
