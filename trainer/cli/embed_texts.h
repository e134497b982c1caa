/* embed_texts.h — embeddings of a list of texts with an opened model, as
 * `mtbert encode` computes them: each text framed by input_encode_sentence
 * (cut to the model's max_len), then embed_rows (trainer/model/embed_rows.h:
 * token-budget batches of at most `batch` rows and the model's maxN tokens),
 * rows returned in input order. Used by `mtbert retrieve`. */
#ifndef MTBERT_EMBED_TEXTS_H
#define MTBERT_EMBED_TEXTS_H

#include <stddef.h>

#include "trainer/store/model_open.h"

typedef struct {
    size_t bad_item;   /* EMBED_BAD_UTF8: the text; EMBED_NONFINITE: the row */
    size_t bad_byte;   /* EMBED_BAD_UTF8: the byte offset in the text */
    size_t truncated;  /* texts cut to max_len */
} EmbedInfo;

enum { EMBED_OK = 0, EMBED_BAD_UTF8 = -1, EMBED_NONFINITE = -2, EMBED_NOMEM = -3 };

/* emb (n, model_embedding_dim) receives the embeddings; batch <= the
 * model's max_batch (OpenOptions). */
int embed_texts(OpenModel *om, char *const *texts, size_t n, int batch, float *emb, EmbedInfo *info);

#endif
