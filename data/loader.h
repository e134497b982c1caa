/* loader.h — batches for training from a set of HDF5 shards.
 *
 * Each rank reads only its own share of the global example index with
 * hyperslab selections: the examples are dealt to the W ranks in blocks of
 * batch_size (block j = [j*B, (j+1)*B) goes to rank j mod W), so that with
 * shuffling off the W per-rank batches of step k are together exactly the
 * 1-rank batch k of size W*B (see docs/data-format.md). It keeps the share in memory,
 * shuffles it per epoch with a Philox permutation keyed by (seed, epoch,
 * rank), and hands out padded batches. The (epoch, batch) state fully
 * determines what comes next, so a run resumes exactly. */
#ifndef MTBERT_LOADER_H
#define MTBERT_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "data/shard.h"

typedef struct {
    const char *const *paths; /* shard files; a single entry may be a glob pattern */
    int n_paths;
    int rank, world;          /* this process's share of the examples */
    uint64_t seed;
    int batch_size;
    int fixed_len;            /* 0: T = longest sequence in the batch; >0: T = fixed_len */
    int shuffle;              /* 0: keep file order (evaluation) */
    int drop_last;            /* 1: every batch has exactly batch_size examples */
    int bucket_batches;       /* >0: sort by length within windows of this many batches */
    int check_vocab;          /* 1: shards must carry vocab_hash */
    uint64_t vocab_hash;      /* the model's tokenizer_vocab_hash */
    int pad_id;               /* id written into padding (0 = [PAD] in BERT vocabularies) */
    int max_len;              /* >0: longer sequences are cut to max_len, the last kept position
                                 becoming sep_id (data.max_len); 0: the shards' lengths */
    int sep_id;               /* [SEP] for cut sequences; <0: cut without replacing */
    int vocab_size;           /* >0: the model's embedding rows; shards with a larger vocab_size are refused */
} LoaderConfig;

void loader_config_default(LoaderConfig *c);

typedef struct {
    const char *name;
    LabelKind type;
    int num_labels;
    int *labels;   /* sentence: (B); token: (B,T), -100 on [CLS]/[SEP]/continuations/padding */
    float *scores; /* similarity: (B) */
} BatchTask;

typedef struct {
    int B, T;                             /* B may be < batch_size for an epoch's last batch */
    int *input_ids, *type_ids, *mask;     /* (B,T) */
    int T_b;                              /* similarity: the second sentences, (B,T_b) */
    int *input_ids_b, *type_ids_b, *mask_b;
    int K;                                /* hard negatives per example (0: none) */
    int T_n;                              /* their rows, (B*K, T_n) example-major: row i*K + j */
    int *input_ids_n, *type_ids_n, *mask_n;
    int n_tasks;
    BatchTask tasks[SHARD_MAX_TASKS];
    int64_t *example;                     /* (B) global example index of each row */
    int64_t epoch, batch;                 /* position of this batch */
    int64_t real_tokens, padded_tokens;   /* non-pad tokens and B*T (first sentences) */
} LoaderBatch;

typedef struct {
    int64_t epoch; /* epoch of the next batch */
    int64_t batch; /* index of the next batch within its epoch */
} LoaderState;

typedef struct Loader Loader;

/* Opens the shard set and reads this rank's share. Errors name the file
 * and the attribute or dataset (vocabulary mismatch: both hashes). */
Loader *loader_open(const LoaderConfig *cfg, char *err, size_t errlen);
void loader_close(Loader *L);

/* Next batch (valid until the next call); after an epoch's last batch the
 * next epoch begins with a new permutation. Never NULL. */
const LoaderBatch *loader_next_batch(Loader *L);

LoaderState loader_get_state(const Loader *L);
/* Positions the loader so that the next batch is the one `s` names. */
int loader_set_state(Loader *L, LoaderState s, char *err, size_t errlen);

int64_t loader_batches_per_epoch(const Loader *L);
int64_t loader_total_examples(const Loader *L); /* over all ranks */
int64_t loader_rank_first(const Loader *L);     /* global index of this rank's first example */
int64_t loader_rank_count(const Loader *L);     /* examples in this rank's share */
int64_t loader_rank_block(const Loader *L);     /* the share's block size (= batch_size) */
/* Global example index of this rank's local example `local` (0..count-1). */
int64_t loader_global_index(const Loader *L, int64_t local);
/* The longest sequence a batch can hold: min(max_len, the shards' max_len)
 * (or fixed_len), and how many of this rank's examples are longer and cut
 * (either sentence of a pair counted once). */
int loader_max_len(const Loader *L);
int64_t loader_truncated(const Loader *L);
/* Hard negatives per example of the set (0: a set without them). */
int loader_num_negatives(const Loader *L);
/* Attributes and task descriptions of the set (label names etc.); no data. */
const ShardData *loader_info(const Loader *L);
/* This rank's examples as read (count = loader_rank_count; arrays uncut by
 * max_len): for checks over the whole share without building batches. */
const ShardData *loader_share(const Loader *L);
/* Fraction of padding in the current epoch's batches (first sentences). */
double loader_padding_fraction(Loader *L);
/* The permutation of this rank's local examples for an epoch (n = count). */
void loader_permutation(uint64_t seed, int64_t epoch, int rank, int64_t *perm, int64_t n);

#endif
