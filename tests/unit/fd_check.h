/* fd_check.h — the model gradient checks' one finite-difference loop:
 * central differences of a loss function for a sample of parameters
 * (up to 3 entries of every tensor, largest analytic gradients first),
 * compared with the analytic gradient the caller computed. */
#ifndef MTBERT_FD_CHECK_H
#define MTBERT_FD_CHECK_H

#include "trainer/model/model.h"

typedef double (*FdLoss)(Model *m, const void *ctx);

typedef struct {
    double scale;             /* the analytic gradient is scale * d loss / d param */
    const char *skip_prefix;  /* tensors whose name starts so are not checked (NULL: none) */
    const char *what;         /* printed with each disagreement */
} FdCheck;

/* g: (m->table.total) analytic gradient, overwritten (entries already used
 * are zeroed). Returns the number of entries that disagree by more than
 * 2e-3 + 3e-2 |numeric|; *checked gets how many were compared. */
int fd_check(Model *m, float *g, FdLoss loss, const void *ctx, const FdCheck *c, int *checked);

#endif
