/* prepare.h — raw examples -> tokenized examples (ShardData) -> shard files.
 *
 * Sequences are [CLS] tokens [SEP], truncated to max_len (counted, never
 * silent). Token tasks put each word's label on its first wordpiece and
 * LABEL_IGNORE (-100) on the other pieces, [CLS] and [SEP] (or, with
 * label_all_wordpieces, on every piece, B-X becoming I-X after the first).
 * Similarity tasks keep the two sentences apart, each [CLS] s [SEP]. */
#ifndef MTBERT_PREPARE_H
#define MTBERT_PREPARE_H

#include <stdint.h>

#include "data/formats.h"
#include "data/shard.h"
#include "data/tokenizer.h"

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
    int max_len;              /* including [CLS] and [SEP] */
    int label_all_wordpieces; /* token tasks */
    float score_scale;        /* similarity scores are multiplied by this */
    int skip_bad;             /* skip examples with invalid UTF-8 instead of failing */
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
int prepare_encode(const PrepareOptions *o, const Tokenizer *tok, const RawSet *raw, ShardData *out,
                   PrepareStats *st, char *err, size_t errlen);

/* Writes d as num_shards files DIR/NAME-0000i-of-0000N.h5 (contiguous,
 * near-equal ranges of examples). progress: print a line per shard. */
int prepare_write_shards(ShardData *d, const char *dir, const char *name, int num_shards, int progress,
                         char *err, size_t errlen);

#endif
