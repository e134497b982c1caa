/* svgplot.c — line-chart panels as hand-written SVG text. */
#include "trainer/train/svgplot.h"

#include <math.h>
#include <string.h>

/* Tableau 10: distinct and readable for common colour-vision deficiencies */
static const char *const PALETTE[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
#define NPALETTE (sizeof PALETTE / sizeof PALETTE[0])
static const char *const DASHES[] = {"", "6 3", "2 2", "8 3 2 3"};
#define NDASHES (sizeof DASHES / sizeof DASHES[0])

/* more points than this per series are thinned: a plot 600 px wide shows no more */
#define MAX_DRAWN_POINTS 4000

const char *svg_color(size_t i) { return PALETTE[i % NPALETTE]; }
const char *svg_dash(size_t i) { return DASHES[(i / NPALETTE) % NDASHES]; }

void svg_escape(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*s, f);
        }
    }
}

double svg_nice_range(double *lo, double *hi, int target) {
    if (target < 1) target = 1;
    if (!(*hi > *lo)) {
        double d = fabs(*lo) * 0.1;
        if (d == 0) d = 1;
        *lo -= d;
        *hi += d;
    }
    double raw = (*hi - *lo) / target;
    double mag = pow(10.0, floor(log10(raw)));
    double r = raw / mag;
    double nice = r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10;
    double step = nice * mag;
    /* the epsilon keeps 0.3/0.1 = 2.9999999999999996 from adding a tick */
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
    return step;
}

void svg_format_tick(char *buf, size_t len, double v, double step) {
    if (fabs(v) < step * 1e-9) v = 0;
    double a = fabs(v);
    if (a >= 1e6 || (a > 0 && a < 1e-4)) {
        snprintf(buf, len, "%.3g", v);
        return;
    }
    int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (decimals > 10) decimals = 10;
    snprintf(buf, len, "%.*f", decimals, v);
}

void svg_begin(FILE *f, double width, double height, const char *title) {
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            width, height, width, height);
    if (title && *title) {
        fprintf(f, "<text x=\"%.1f\" y=\"22\" font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\">",
                width / 2);
        svg_escape(f, title);
        fputs("</text>\n", f);
    }
}

void svg_end(FILE *f) { fputs("</svg>\n", f); }

static void series_bounds(const SvgSeries *s, size_t ns, double *xlo, double *xhi,
                          double *ylo, double *yhi) {
    *xlo = *ylo = INFINITY;
    *xhi = *yhi = -INFINITY;
    for (size_t k = 0; k < ns; k++)
        for (size_t i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            if (x < *xlo) *xlo = x;
            if (x > *xhi) *xhi = x;
            if (y < *ylo) *ylo = y;
            if (y > *yhi) *yhi = y;
        }
    if (*xlo > *xhi) *xlo = *xhi = 0; /* no finite point at all */
    if (*ylo > *yhi) *ylo = *yhi = 0;
}

static void draw_series(FILE *f, const SvgSeries *s, double px, double py, double pw, double ph,
                        double xlo, double xhi, double ylo, double yhi) {
    const char *color = s->color ? s->color : PALETTE[0];
    double w = s->width > 0 ? s->width : 1.5;
    size_t stride = s->n > MAX_DRAWN_POINTS ? (s->n + MAX_DRAWN_POINTS - 1) / MAX_DRAWN_POINTS : 1;
    int open = 0;
    for (size_t i = 0; i < s->n; i++) {
        /* thin to every stride-th point, keeping the last */
        if (i % stride != 0 && i != s->n - 1) continue;
        double x = s->x[i], y = s->y[i];
        if (!isfinite(x) || !isfinite(y)) {
            if (open) fputs("\"/>\n", f);
            open = 0;
            continue;
        }
        double sx = px + (x - xlo) / (xhi - xlo) * pw;
        double sy = py + ph - (y - ylo) / (yhi - ylo) * ph;
        if (!open) {
            fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.2g\" "
                       "stroke-linejoin=\"round\"%s%s%s points=\"",
                    color, w, s->dash && *s->dash ? " stroke-dasharray=\"" : "",
                    s->dash && *s->dash ? s->dash : "", s->dash && *s->dash ? "\"" : "");
            open = 1;
        }
        fprintf(f, "%.1f,%.1f ", sx, sy);
    }
    if (open) fputs("\"/>\n", f);
    if (s->markers && s->n <= 500) {
        for (size_t i = 0; i < s->n; i++) {
            double x = s->x[i], y = s->y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.8\" fill=\"%s\"/>\n",
                    px + (x - xlo) / (xhi - xlo) * pw, py + ph - (y - ylo) / (yhi - ylo) * ph, color);
        }
    }
}

double svg_legend_width(const SvgSeries *s, size_t ns) {
    /* about 6.6 px per character at font-size 11 */
    size_t maxlen = 0;
    for (size_t k = 0; k < ns; k++) {
        size_t l = s[k].name ? strlen(s[k].name) : 0;
        if (l > maxlen) maxlen = l;
    }
    double lw = 44 + 6.6 * (double)maxlen;
    return lw < 90 ? 90 : lw > 300 ? 300 : lw;
}

void svg_x_bounds(const SvgSeries *s, size_t ns, double *lo, double *hi) {
    double ylo, yhi;
    series_bounds(s, ns, lo, hi, &ylo, &yhi);
}

void svg_panel(FILE *f, int id, const SvgPanel *p, const SvgSeries *s, size_t ns) {
    double lw = p->legend_width > 0 ? p->legend_width : svg_legend_width(s, ns);
    double px = p->left + 72, py = p->top + 32;
    double pw = p->width - 72 - lw - 16, ph = p->height - 32 - 48;
    if (pw < 50) pw = 50;
    if (ph < 50) ph = 50;

    double xlo, xhi, ylo, yhi;
    series_bounds(s, ns, &xlo, &xhi, &ylo, &yhi);
    if (p->fixed_x) {
        xlo = p->xlo;
        xhi = p->xhi;
    }
    double xstep = svg_nice_range(&xlo, &xhi, 8);
    double ystep = svg_nice_range(&ylo, &yhi, 6);

    fprintf(f, "<g id=\"panel%d\">\n", id);
    if (p->title) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" font-weight=\"bold\">", px, p->top + 20);
        svg_escape(f, p->title);
        fputs("</text>\n", f);
    }
    fprintf(f, "<clipPath id=\"clip%d\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath>\n",
            id, px - 4, py - 4, pw + 8, ph + 8);

    /* grid and ticks */
    char buf[64];
    fputs("<g font-size=\"11\" fill=\"#333\">\n", f);
    long k0 = lround(xlo / xstep), k1 = lround(xhi / xstep);
    for (long k = k0; k <= k1; k++) {
        double v = (double)k * xstep, sx = px + (v - xlo) / (xhi - xlo) * pw;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n", sx, py, sx, py + ph);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", sx, py + ph, sx, py + ph + 5);
        svg_format_tick(buf, sizeof buf, v, xstep);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", sx, py + ph + 18, buf);
    }
    k0 = lround(ylo / ystep);
    k1 = lround(yhi / ystep);
    for (long k = k0; k <= k1; k++) {
        double v = (double)k * ystep, sy = py + ph - (v - ylo) / (yhi - ylo) * ph;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e6e6\"/>\n", px, sy, px + pw, sy);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>\n", px - 5, sy, px, sy);
        svg_format_tick(buf, sizeof buf, v, ystep);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", px - 8, sy + 4, buf);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>\n",
            px, py, pw, ph);
    if (p->xlabel) {
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\">", px + pw / 2, py + ph + 38);
        svg_escape(f, p->xlabel);
        fputs("</text>\n", f);
    }
    if (p->ylabel) {
        double cx = p->left + 16, cy = py + ph / 2;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" text-anchor=\"middle\" "
                   "transform=\"rotate(-90 %.1f %.1f)\">", cx, cy, cx, cy);
        svg_escape(f, p->ylabel);
        fputs("</text>\n", f);
    }

    fprintf(f, "<g clip-path=\"url(#clip%d)\">\n", id);
    for (size_t k = 0; k < ns; k++) draw_series(f, &s[k], px, py, pw, ph, xlo, xhi, ylo, yhi);
    fputs("</g>\n", f);

    /* legend */
    double lx = px + pw + 16, ly = py + 8;
    fputs("<g font-size=\"11\">\n", f);
    for (size_t k = 0; k < ns; k++) {
        double y = ly + 18 * (double)k;
        const char *color = s[k].color ? s[k].color : PALETTE[0];
        const char *dash = s[k].dash && *s[k].dash ? s[k].dash : NULL;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"%.2g\"%s%s%s/>\n",
                lx, y, lx + 24, y, color, s[k].width > 0 ? s[k].width : 1.5,
                dash ? " stroke-dasharray=\"" : "", dash ? dash : "", dash ? "\"" : "");
        if (s[k].markers)
            fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2.8\" fill=\"%s\"/>\n", lx + 12, y, color);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">", lx + 30, y + 4);
        svg_escape(f, s[k].name ? s[k].name : "");
        fputs("</text>\n", f);
    }
    fputs("</g>\n</g>\n", f);
}
