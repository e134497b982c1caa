/* tokenizer.h — BERT BasicTokenizer + WordPiece (see docs/data-format.md).
 *
 * Exactly the original BERT tokenizer: clean text, split CJK ideographs,
 * optional lowercasing + accent stripping, punctuation splitting, then
 * greedy longest-match WordPiece with "##" continuations. No [CLS]/[SEP]
 * are added here. */
#ifndef MTBERT_TOKENIZER_H
#define MTBERT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct Tokenizer Tokenizer;

/* Growable array of ints (token ids). */
typedef struct {
    int *data;
    size_t len, cap;
} IntVec;
void intvec_push(IntVec *v, int x);
void intvec_free(IntVec *v);

/* Load a vocab.txt (one token a line, id = line number). On failure
 * returns NULL and writes a message naming the file (and line) into err. */
Tokenizer *tokenizer_load(const char *vocab_path, int do_lower_case, char *err, size_t errlen);
void tokenizer_free(Tokenizer *tok);

int tokenizer_vocab_size(const Tokenizer *tok);
int tokenizer_do_lower_case(const Tokenizer *tok);
/* id of a token string, or -1 */
int tokenizer_token_id(const Tokenizer *tok, const char *token);
/* token string of an id, or NULL */
const char *tokenizer_id_token(const Tokenizer *tok, int id);
/* ids of [CLS], [SEP], [PAD], [UNK], [MASK] (-1 where the vocab lacks it) */
int tokenizer_cls_id(const Tokenizer *tok);
int tokenizer_sep_id(const Tokenizer *tok);
int tokenizer_pad_id(const Tokenizer *tok);
int tokenizer_unk_id(const Tokenizer *tok);
int tokenizer_mask_id(const Tokenizer *tok);

/* A word (after punctuation splitting) of more than this many code points
 * becomes one [UNK]. Default 100, as Hugging Face's BertTokenizer; the
 * original google-research BERT code uses 200 (and so do the parity cases
 * in ../shared/tokenizer-cases). Setting: 0, or -1 outside
 * 1..TOKENIZER_MAX_WORD_CHARS_LIMIT. */
#define TOKENIZER_MAX_WORD_CHARS_LIMIT 1024
int tokenizer_max_word_chars(const Tokenizer *tok);
int tokenizer_set_max_word_chars(Tokenizer *tok, int n);
/* FNV-1a 64 hash of the vocabulary (tokens in order), stored in shards and
 * checkpoints to detect a vocabulary mismatch. */
uint64_t tokenizer_vocab_hash(const Tokenizer *tok);

/* Tokenize `len` bytes of UTF-8 text, APPENDING wordpiece ids to `ids`.
 * Returns 0, or -1 for invalid UTF-8 with *bad_offset set to the byte
 * offset of the first invalid sequence (ids then unchanged). */
int tokenizer_encode(const Tokenizer *tok, const char *text, size_t len, IntVec *ids,
                     size_t *bad_offset);

/* The one framing of a sentence for the model: out = [CLS] pieces[0..keep)
 * [SEP] with keep = min(n, max_len - 2); *dropped (may be NULL) = pieces
 * cut. Returns the framed length. Used by prepare, encode and predict. */
int tokenizer_frame(const Tokenizer *tok, const int *pieces, int n, int max_len, IntVec *out, int *dropped);
/* tokenizer_encode + tokenizer_frame: 0, or -1 for invalid UTF-8 at
 * *bad_offset. */
int tokenizer_encode_sentence(const Tokenizer *tok, const char *text, size_t len, int max_len, IntVec *out,
                              int *dropped, size_t *bad_offset);

#endif
