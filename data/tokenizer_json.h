/* tokenizer_json.h — one tokenizer type over both kinds of model folder:
 * a BERT vocab.txt (data/tokenizer.h, wrapped) or a Hugging Face
 * tokenizer.json (WordPiece, byte-level BPE or Unigram, with the
 * normalizer, pre-tokenizer, added tokens and post-processor it names).
 * See docs/tokenizer.md for what is supported and where it differs from
 * the `tokenizers` library.
 *
 * Typical use (encode one example for a model):
 *
 *   char err[512];
 *   Tok *tok = tok_open("models/roberta", 1, err, sizeof err);
 *   if (!tok) { fprintf(stderr, "%s\n", err); ... }
 *   TokEnc enc = {0};
 *   if (tok_encode_pair(tok, a, strlen(a), b, strlen(b), 128, &enc, err, sizeof err)) ...
 *   // enc.ids[i], enc.type_ids[i], enc.words[i], enc.flags[i], i < enc.len
 *   tok_enc_free(&enc);
 *   tok_free(tok);
 *
 * Word alignment (token classification): the input's words are its
 * whitespace-separated runs (Unicode White_Space), numbered from 0 in each
 * sequence. enc.words[i] is the word piece i came from, or -1 (special
 * tokens, pieces made only of whitespace). TOK_FIRST marks the first piece
 * of each word; for BPE and Unigram that is the piece carrying the space
 * mark (Ġ, ▁) when the model keeps it. */
#ifndef MTBERT_TOKENIZER_JSON_H
#define MTBERT_TOKENIZER_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "data/tokenizer.h"

typedef struct Tok Tok;

typedef enum {
    TOK_KIND_VOCAB_TXT = 0,  /* data/tokenizer.c: BERT BasicTokenizer + WordPiece */
    TOK_KIND_WORDPIECE = 1,  /* tokenizer.json, model.type WordPiece */
    TOK_KIND_BPE = 2,        /* tokenizer.json, model.type BPE */
    TOK_KIND_UNIGRAM = 3,    /* tokenizer.json, model.type Unigram */
} TokKind;

/* flags[i] bits */
#define TOK_FIRST 1u    /* first piece of its word */
#define TOK_SPECIAL 2u  /* added by the post-processor, or a special added token */

/* One encoded sequence (or pair): parallel arrays of len entries. */
typedef struct {
    int *ids;
    int *type_ids;       /* token type (segment) ids: from the template; 0/1 for vocab.txt pairs */
    int *words;          /* word index within its sequence, -1: none */
    int *seq;            /* 0: first sequence, 1: second, -1: added by the post-processor */
    unsigned char *flags;
    size_t len, cap;
} TokEnc;
void tok_enc_clear(TokEnc *e);  /* len = 0, keeps the memory */
void tok_enc_free(TokEnc *e);
/* Appends one entry (flags: TOK_FIRST, TOK_SPECIAL). */
void tok_enc_push(TokEnc *e, int id, int type_id, int word, int seq, unsigned flags);

/* Open a tokenizer:
 *  - a folder: its tokenizer.json if present, else its vocab.txt;
 *  - a file whose name ends in .json: a tokenizer.json;
 *  - any other file: a vocab.txt.
 * do_lower_case applies to vocab.txt only (a tokenizer.json says itself).
 * NULL on failure, with a message naming the file in err. */
Tok *tok_open(const char *path, int do_lower_case, char *err, size_t errlen);
/* The file tok_open reads for `path` (rules above) into file[n]; *json = 1
 * for a tokenizer.json; *unused_vocab = 1 when `path` is a folder holding
 * both files (its vocab.txt is then not read). 0, or -1 with a message. */
int tok_resolve(const char *path, char *file, size_t n, int *json, int *unused_vocab, char *err, size_t errlen);
/* Parse tokenizer.json text (len bytes, NUL not needed); `name` is used in
 * messages. */
Tok *tok_from_json(const char *json, size_t len, const char *name, char *err, size_t errlen);
/* Wrap an already loaded vocab.txt tokenizer; the Tok owns it when own != 0. */
Tok *tok_from_vocab(Tokenizer *wp, int own);
void tok_free(Tok *tok);

TokKind tok_kind(const Tok *tok);
const char *tok_kind_name(TokKind k);
/* The wrapped vocab.txt tokenizer (TOK_KIND_VOCAB_TXT), else NULL. */
Tokenizer *tok_vocab_tokenizer(const Tok *tok);

/* Number of ids: 1 + the largest id of the model vocabulary and the added
 * tokens (as tokenizers' get_vocab_size(with_added_tokens=True)). */
int tok_vocab_size(const Tok *tok);
int tok_token_id(const Tok *tok, const char *token);   /* -1 if absent */
const char *tok_id_token(const Tok *tok, int id);      /* NULL if absent */
/* Roles: cls/sep are the post-processor's first and last special tokens
 * ([CLS]/[SEP], <s>/</s>), pad from the padding settings or [PAD]/<pad>,
 * unk from the model, mask [MASK]/<mask>. -1 where there is none. */
int tok_cls_id(const Tok *tok);
int tok_sep_id(const Tok *tok);
int tok_pad_id(const Tok *tok);
int tok_unk_id(const Tok *tok);
int tok_mask_id(const Tok *tok);
/* FNV-1a 64 over every token (id order) followed by '\n'; equal to
 * tokenizer_vocab_hash for a vocab.txt. */
uint64_t tok_vocab_hash(const Tok *tok);
/* How many ids the post-processor adds to one sequence (pair = 0) or a pair. */
int tok_num_special(const Tok *tok, int pair);

/* Byte offset of the first invalid UTF-8 sequence of s[0..n), or
 * (size_t)-1 when it is valid (the check tok_encode_text makes). */
size_t tok_utf8_invalid_at(const char *s, size_t n);

/* Model tokens of `len` bytes of UTF-8, without the post-processor's
 * special tokens, APPENDED to out (seq = 0). Returns 0, or -1 with a
 * message (invalid UTF-8: the byte offset) and out unchanged. */
int tok_encode_text(const Tok *tok, const char *text, size_t len, TokEnc *out, char *err, size_t errlen);

/* A whole model input: out is overwritten with the post-processor's
 * template around one sequence (b == NULL) or a pair, truncated first
 * (longest first for pairs, from the right) so that the result holds at
 * most max_len ids (max_len <= 0: no limit). Returns 0 or -1 (message). */
int tok_encode(const Tok *tok, const char *text, size_t len, int max_len, TokEnc *out,
               char *err, size_t errlen);
int tok_encode_pair(const Tok *tok, const char *a, size_t alen, const char *b, size_t blen,
                    int max_len, TokEnc *out, char *err, size_t errlen);
/* The same from already encoded sequences (from tok_encode_text); b may be
 * NULL; a and b are not changed. */
int tok_post_process(const Tok *tok, const TokEnc *a, const TokEnc *b, int max_len, TokEnc *out);

#endif
