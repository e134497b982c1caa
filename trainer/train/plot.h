/* plot.h — the curves of a run. */
#ifndef MTBERT_PLOT_H
#define MTBERT_PLOT_H

#include <stddef.h>

/* Reads the JSON Lines metrics file `path` and writes an SVG to `out`: the
 * training losses (total and per task) and every numeric eval metric
 * against step. 0 written, 2 bad input (missing file, a line that is not
 * JSON, no records; message on stderr), 1 when `out` cannot be written.
 * `summary` (may be NULL) gets "wrote OUT: ... records, ... curves". */
int plot_run(const char *path, const char *out, const char *title, double width, char *summary, size_t n);

#endif
