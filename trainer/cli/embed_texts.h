/* embed_texts.h — embeddings of a list of texts with an opened model, as
 * `mtbert encode` computes them: each text framed by input_encode_sentence
 * (cut to the model's max_len), the texts run longest first in batches of
 * `batch` rows (little padding), rows returned in input order. Used by
 * `mtbert retrieve`; encode keeps its own loop (cmd_encode.c). */
#ifndef MTBERT_EMBED_TEXTS_H
#define MTBERT_EMBED_TEXTS_H

#include <stddef.h>

#include "trainer/store/model_open.h"

typedef struct {
    size_t bad_item;   /* EMBED_BAD_UTF8: the text; EMBED_NONFINITE: the row */
    size_t bad_byte;   /* EMBED_BAD_UTF8: the byte offset in the text */
    size_t truncated;  /* texts cut to max_len */
} EmbedInfo;

enum { EMBED_OK = 0, EMBED_BAD_UTF8 = -1, EMBED_NONFINITE = -2 };

/* emb (n, model_embedding_dim) receives the embeddings; batch <= the
 * model's max_batch (OpenOptions). */
int embed_texts(OpenModel *om, char *const *texts, size_t n, int batch, float *emb, EmbedInfo *info);

/* The core of embed_texts on texts already framed: ids[i] (lens[i] <= maxT
 * ids each), longest first in batches of `batch` rows (<= the model's
 * maxB; maxT <= its maxT), padding with `pad`; the model's mode (eval or
 * training) is the caller's. emb (n, model_embedding_dim). */
void embed_ids(Model *m, int *const *ids, const int *lens, size_t n, int batch, int maxT, int pad, float *emb);

#endif
