/* prepare.h — raw examples -> tokenized examples (ShardData) -> shard files.
 *
 * The tokenizer is a Tok (data/tokenizer_json.h): a vocab.txt or a
 * tokenizer.json. Sequences are the tokenizer's single-sequence template
 * around the pieces ([CLS] tokens [SEP] for vocab.txt and BERT,
 * <s> tokens </s> for RoBERTa/XLM-R), truncated to max_len (counted, never
 * silent). Token tasks put each word's label on its first piece and
 * LABEL_IGNORE (-100) on the other pieces and the special tokens (or, with
 * label_all_wordpieces, on every piece, B-X becoming I-X after the first).
 * Similarity tasks keep the two sentences apart, each framed on its own;
 * with join_pairs the two sentences are one sequence with token type ids
 * (ShardData.type_ids) for cross-encoder tasks. */
#ifndef MTBERT_PREPARE_H
#define MTBERT_PREPARE_H

#include <stdint.h>

#include "data/formats.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "data/tokenizer_json.h"

typedef struct {
    char name[SHARD_NAME_LEN];
    LabelKind type;
    /* label set: NULL = collect from the data (sorted; token tasks: "O"
     * first and both B-X and I-X for every type), else the given names */
    char **labels;
    int num_labels;
} PrepareTask;

typedef struct {
    int n_tasks;
    PrepareTask tasks[SHARD_MAX_TASKS]; /* sentence task k uses RawExample.labels[k-th sentence task] */
    int max_len;              /* including the special tokens ([CLS] and [SEP]) */
    int label_all_wordpieces; /* token tasks */
    float score_scale;        /* similarity scores are multiplied by this */
    int skip_bad;             /* skip examples with invalid UTF-8 instead of failing */
    int join_pairs;           /* 1: each example's two texts become ONE sequence, the tokenizer's pair
                                 template ([CLS] a [SEP] b [SEP]), truncated longest first, with
                                 token type ids (cross-encoder tasks); tasks: sentence or regression */
} PrepareOptions;

typedef struct {
    int64_t examples;
    int64_t tokens;           /* wordpieces kept, [CLS]/[SEP] included, both sentences */
    int64_t truncated;        /* sequences cut to max_len */
    int64_t tokens_dropped;   /* wordpieces cut off by truncation */
    int64_t words_dropped;    /* labelled words cut off (token tasks) */
    int64_t empty_words;      /* words with no wordpiece, encoded as [UNK] */
    int64_t skipped;          /* examples skipped (invalid UTF-8, under skip_bad) */
    int longest;              /* longest sequence before truncation */
} PrepareStats;

void prepare_options_default(PrepareOptions *o);

/* "A,B,C" or the path of a file with one label a line -> names. */
int prepare_parse_labels(const char *spec, char ***names, int *n, char *err, size_t errlen);
void prepare_free_labels(char **names, int n);

/* Tokenizes every example of raw into out (all examples; out->info filled
 * except total_examples/num_shards, which prepare_write_shards sets).
 * Errors (unknown label, missing label, invalid UTF-8) name file and line. */
int prepare_encode_tok(const PrepareOptions *o, const Tok *tok, const RawSet *raw, ShardData *out,
                       PrepareStats *st, char *err, size_t errlen);
/* The same with a vocab.txt tokenizer. */
int prepare_encode(const PrepareOptions *o, const Tokenizer *tok, const RawSet *raw, ShardData *out,
                   PrepareStats *st, char *err, size_t errlen);

/* The pieces of a sentence given as words (token classification; prepare
 * and predict both use this): each word is tokenized on its own, and for a
 * tokenizer.json every word after the first with one space before it, as it
 * stands in the words joined by spaces, so byte-level BPE (Ġ) and
 * Metaspace (▁) see each word as they see it in running text.
 * Appends to out (seq 0); wstart[w] = index in out of word w's first piece.
 * A word that gives no piece gets the unk id (*empty counts them), or, with
 * no unk token, is an error; with empty == NULL it keeps no piece
 * (wstart[w] == wstart[w + 1]). Returns 0; -1 for invalid UTF-8 (*bad_word,
 * *bad_off: the word and the byte in it; err says so) or a word without a
 * piece and no unk (*bad_word, *bad_off = (size_t)-1, err). */
int prepare_encode_words(const Tok *tok, const char *const *words, int n, TokEnc *out, int *wstart,
                         int64_t *empty, int *bad_word, size_t *bad_off, char *err, size_t errlen);

/* The pieces of one text as prepare tokenizes a sentence (no special
 * tokens), appended to out (seq 0). With those of a pair's two texts,
 * tok_post_process(tok, &a, &b, max_len, &framed) gives the joined sequence
 * prepare --join-pairs stores (predict --pairs builds its input so). 0, or
 * -1: invalid UTF-8 at byte *bad (out unchanged). */
int prepare_encode_text(const Tok *tok, const char *s, size_t n, TokEnc *out, size_t *bad);

/* Writes d as num_shards files DIR/NAME-0000i-of-0000N.h5 (contiguous,
 * near-equal ranges of examples). progress: print a line per shard. */
int prepare_write_shards(ShardData *d, const char *dir, const char *name, int num_shards, int progress,
                         char *err, size_t errlen);

#endif
