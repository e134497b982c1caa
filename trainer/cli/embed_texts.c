/* embed_texts.c — embed_texts (embed_texts.h). */
#include "trainer/cli/embed_texts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/cli/input.h"
#include "trainer/model/embed_rows.h"
#include "util/xalloc.h"

int embed_texts(OpenModel *om, char *const *texts, size_t n, int batch, float *emb, EmbedInfo *info) {
    memset(info, 0, sizeof *info);
    const Tok *tok = om->tok;
    int pad = tok_pad_id(tok) >= 0 ? tok_pad_id(tok) : 0;
    size_t N = n ? n : 1;
    int **ids = memset(xmalloc(N * sizeof(int *)), 0, N * sizeof(int *));
    int *lens = xmalloc(N * sizeof(int));
    int rc = EMBED_OK;
    size_t done = 0;
    for (; done < n; done++) {
        IntVec v = {0};
        size_t bad;
        int dropped;
        if (input_encode_sentence(tok, texts[done], strlen(texts[done]), om->max_len, &v, &dropped, &bad)) {
            info->bad_item = done;
            info->bad_byte = bad;
            intvec_free(&v);
            rc = EMBED_BAD_UTF8;
            break;
        }
        info->truncated += dropped > 0;
        ids[done] = v.data;
        lens[done] = (int)v.len;
    }
    Model *m = &om->model;
    int D = model_embedding_dim(m);
    EmbedRowsOptions eo = embed_rows_fill(m, pad);
    if (batch < eo.max_rows) eo.max_rows = batch;
    if (!rc && embed_rows(m, ids, lens, n, &eo, emb, NULL)) rc = EMBED_NOMEM;
    for (size_t i = 0; !rc && i < n * (size_t)D; i++)
        if (!isfinite(emb[i])) {
            info->bad_item = i / D;
            rc = EMBED_NONFINITE;
        }
    for (size_t i = 0; i < done; i++) free(ids[i]);
    free(ids); free(lens);
    return rc;
}
