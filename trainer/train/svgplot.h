/* svgplot.h — minimal line charts as SVG text: panels with linear axes,
 * "nice" ticks (1, 2, 5 x 10^k), grid lines, axis labels and a legend.
 * Used by `mtbert plot`; no dependencies beyond stdio. */
#ifndef MTBERT_SVGPLOT_H
#define MTBERT_SVGPLOT_H

#include <stddef.h>
#include <stdio.h>

typedef struct {
    const char *name;    /* legend text */
    const double *x, *y; /* n points, x ascending; non-finite points break the line */
    size_t n;
    const char *color;   /* SVG colour, e.g. "#4e79a7" */
    const char *dash;    /* stroke-dasharray, NULL or "" for solid */
    double width;        /* stroke width; <= 0 means 1.5 */
    int markers;         /* draw a dot at each point (sparse series) */
} SvgSeries;

typedef struct {
    double left, top, width, height; /* the whole panel, axes and legend included */
    const char *title, *xlabel, *ylabel;
    double legend_width;  /* 0: from this panel's names (svg_legend_width) */
    int fixed_x;          /* 1: x axis spans [xlo, xhi] (to align stacked panels) */
    double xlo, xhi;
} SvgPanel;

/* A categorical palette of 10 distinct colours; i wraps around. */
const char *svg_color(size_t i);
/* A dash pattern for the i-th wrap of the palette ("" first, then dashed). */
const char *svg_dash(size_t i);

/* Legend width that fits the longest series name. */
double svg_legend_width(const SvgSeries *s, size_t ns);
/* Range of the finite x values (0, 0 when there are none). */
void svg_x_bounds(const SvgSeries *s, size_t ns, double *lo, double *hi);

void svg_begin(FILE *f, double width, double height, const char *title);
void svg_panel(FILE *f, int id, const SvgPanel *p, const SvgSeries *s, size_t ns);
void svg_end(FILE *f);

/* Writes s with &, <, >, " and ' escaped for SVG text and attributes. */
void svg_escape(FILE *f, const char *s);

/* Axis range [*lo, *hi] widened to multiples of a nice step close to
 * (hi-lo)/target; a zero-width range is opened around its value.
 * Returns the step; ticks are lo, lo+step, ..., hi. */
double svg_nice_range(double *lo, double *hi, int target);
/* Tick label of v for a given step, without float noise (0.30000000000000004). */
void svg_format_tick(char *buf, size_t len, double v, double step);

#endif
