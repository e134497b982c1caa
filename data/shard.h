/* shard.h — the HDF5 shard layout (docs/data-format.md): write one shard,
 * read its attributes, read a contiguous range of its examples.
 *
 * Ragged layout: token ids of all examples concatenated in one 1-D int32
 * dataset `input_ids`, with `offsets` (int64, start of each example in
 * input_ids) and `lengths` (int32). Token labels are a 1-D int32 dataset
 * aligned element by element with input_ids. Similarity tasks add the second
 * sentence as input_ids_b / offsets_b / lengths_b. Sets of (anchor, positive,
 * hard negatives) add a third ragged column input_ids_n / offsets_n /
 * lengths_n of num_neg sentences per example, example-major (sentence
 * i*num_neg + j = negative j of example i), attribute num_negatives, and
 * format_version 2 (sets without negatives stay version 1, byte for byte).
 * Joined pairs (prepare --join-pairs: [CLS] a [SEP] b [SEP] in input_ids)
 * add token_type_ids, a 1-D int32 dataset aligned element by element with
 * input_ids. */
#ifndef MTBERT_SHARD_H
#define MTBERT_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "data/labels.h"

#define SHARD_FORMAT_VERSION 1
#define SHARD_FORMAT_VERSION_NEG 2 /* with hard negatives (num_negatives >= 1) */
#define SHARD_MAX_NEGATIVES 256
#define SHARD_MAX_TASKS 8
#define SHARD_NAME_LEN 64

typedef struct {
    char name[SHARD_NAME_LEN];
    LabelKind type;
    int num_labels;     /* sentence/token: number of classes; similarity: 0 */
    char **label_names; /* num_labels strings */
    int32_t *labels;    /* sentence: (n); token: (n_tokens), LABEL_IGNORE where unlabelled */
    float *scores;      /* similarity, regression: (n) */
} ShardTask;

/* Attributes shared by every shard of a set. */
typedef struct {
    uint64_t vocab_hash; /* tokenizer_vocab_hash of the vocabulary used */
    int vocab_size;
    int do_lower_case;
    int max_len;
    int64_t total_examples; /* over the whole shard set */
    int num_shards;
    char source[256]; /* input file(s), informational */
} ShardSetInfo;

typedef struct {
    ShardSetInfo info;
    int shard_index;
    int64_t first_example; /* global index of this shard's first example */
    int64_t n;             /* examples in this shard (or in a range read) */
    int64_t n_tokens, n_tokens_b;
    int32_t *input_ids; /* (n_tokens) */
    int64_t *offsets;   /* (n), local to this array: offsets[0] == 0 */
    int32_t *lengths;   /* (n) */
    int32_t *input_ids_b; /* second sentences, when a similarity task is present */
    int64_t *offsets_b;
    int32_t *lengths_b;
    int num_neg;          /* hard negatives per example (0: none) */
    int64_t n_tokens_n;
    int32_t *input_ids_n; /* (n_tokens_n) negative sentences, example-major */
    int64_t *offsets_n;   /* (n * num_neg) */
    int32_t *lengths_n;   /* (n * num_neg) */
    int has_type_ids;   /* the set stores token_type_ids (joined pairs) */
    int32_t *type_ids;  /* (n_tokens), aligned with input_ids, when has_type_ids */
    int n_tasks;
    ShardTask tasks[SHARD_MAX_TASKS];
} ShardData;

void shard_data_free(ShardData *d);

/* Canonical file name: DIR/NAME-00003-of-00008.h5 */
void shard_file_name(char *buf, size_t n, const char *dir, const char *name, int index, int count);

/* Writes examples [lo, hi) of `d` (whose arrays cover all of d->n examples)
 * as shard `index` (d->info.num_shards in all) to `path`: first to a
 * temporary name in the same folder, fsync, then rename. 0 or -1 + err. */
int shard_write(const char *path, const ShardData *d, int64_t lo, int64_t hi, int index, char *err,
                size_t errlen);

/* Opens a shard and reads its attributes and task descriptions (no data)
 * into `d`, checking that every dataset is present with the expected rank,
 * type and size. Errors name the file and dataset. */
int shard_read_header(const char *path, ShardData *d, char *err, size_t errlen);

/* Reads examples [lo, hi) (local to the shard) into `d` with hyperslab
 * selections: only that range of every dataset is read. `d` must come from
 * shard_read_header of the same file; arrays are (re)allocated and offsets
 * rebased to 0. */
int shard_read_range(const char *path, ShardData *d, int64_t lo, int64_t hi, char *err, size_t errlen);

/* The same over one open file, for many ranges of one shard (the loader's
 * per-rank blocks): datasets stay open and keep their decompressed chunks. */
typedef struct ShardFile ShardFile;
ShardFile *shard_open(const char *path, char *err, size_t errlen); /* NULL + err on failure */
int shard_read(ShardFile *f, ShardData *d, int64_t lo, int64_t hi, char *err, size_t errlen);
void shard_close(ShardFile *f);

#endif
