/* embed_texts.c — embed_texts (embed_texts.h). */
#include "trainer/cli/embed_texts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/cli/input.h"
#include "util/xalloc.h"

static int by_length_desc(const void *a, const void *b, void *lens) {
    const int *l = lens;
    int x = *(const int *)a, y = *(const int *)b;
    return l[y] != l[x] ? l[y] - l[x] : x - y;
}

void embed_ids(Model *m, int *const *ids, const int *lens, size_t n, int batch, int maxT, int pad, float *emb) {
    int B = batch, D = model_embedding_dim(m);
    float *out = xmalloc(sizeof(float) * (size_t)B * D);
    int *bid = xmalloc(sizeof(int) * (size_t)B * maxT), *bmask = xmalloc(sizeof(int) * (size_t)B * maxT);
    int *order = xmalloc(sizeof(int) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) order[i] = (int)i;
    qsort_r(order, n, sizeof(int), by_length_desc, (void *)lens);
    for (size_t s = 0; s < n; s += (size_t)B) {
        int nb = (int)(n - s < (size_t)B ? n - s : (size_t)B);
        int T = lens[order[s]];
        for (int r = 0; r < nb; r++) {
            int k = order[s + r];
            for (int j = 0; j < T; j++) {
                bid[r * T + j] = j < lens[k] ? ids[k][j] : pad;
                bmask[r * T + j] = j < lens[k];
            }
        }
        Batch b = {.B = nb, .T = T, .input_ids = bid, .mask = bmask};
        model_forward(m, &b);
        model_get_embeddings(m, out);
        for (int r = 0; r < nb; r++) memcpy(emb + (size_t)order[s + r] * D, out + (size_t)r * D, sizeof(float) * D);
    }
    free(order); free(bid); free(bmask); free(out);
}

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
    if (!rc) embed_ids(m, ids, lens, n, batch, om->max_len, pad, emb);
    for (size_t i = 0; !rc && i < n * (size_t)D; i++)
        if (!isfinite(emb[i])) {
            info->bad_item = i / D;
            rc = EMBED_NONFINITE;
        }
    for (size_t i = 0; i < done; i++) free(ids[i]);
    free(ids); free(lens);
    return rc;
}
