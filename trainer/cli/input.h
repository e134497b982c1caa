/* input.h — reading the sentences of encode and predict: one UTF-8 line a
 * sentence (\n or \r\n), from a file or stdin. A NUL byte inside a line is
 * an error "FILE:LINE: NUL byte at byte N" (text never contains NUL; a cut
 * line would be a silent wrong answer). */
#ifndef MTBERT_INPUT_H
#define MTBERT_INPUT_H

#include <stddef.h>

#include "data/tokenizer_json.h"

typedef struct {
    char **lines;
    size_t n, cap;
} Lines;

/* Reads every line of `path` (NULL or "-": stdin). 0, or -1 after printing
 * "mtbert CMD: ..." to stderr. */
int lines_read(const char *cmd, const char *path, Lines *L);
void lines_free(Lines *L);
/* One sentence as the model reads it (encode): the tokenizer's
 * single-sequence template around its pieces ([CLS] s [SEP] for vocab.txt,
 * through tokenizer_encode_sentence as always; <s> s </s> for RoBERTa),
 * cut to max_len ids. out is overwritten; *dropped = pieces cut. An empty
 * result (a tokenizer.json without post-processor, an empty line) is one
 * unknown token, never a sequence of length 0. 0, or -1 for invalid UTF-8
 * at byte *bad. */
int input_encode_sentence(const Tok *tok, const char *s, size_t n, int max_len, IntVec *out, int *dropped,
                          size_t *bad);
/* The stderr note of encode/predict on the tokenizer a folder gave when
 * it holds both tokenizer.json and vocab.txt (nothing otherwise). */
void input_note_tokenizer(const char *cmd, const char *file, int vocab_txt_unused);
/* The name to print for an input path. */
static inline const char *input_name(const char *path) { return path && *path ? path : "<stdin>"; }

#endif
