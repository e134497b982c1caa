/* loader.c — shard set -> this rank's examples -> shuffled padded batches
 * (see loader.h). */
#include "data/loader.h"
#include "data/manifest.h"
#include "util/errmsg.h"
#include "util/xalloc.h"

#include <glob.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/philox.h"

struct Loader {
    LoaderConfig cfg;
    ShardData info; /* header of the first shard: attributes and tasks */
    ShardData mine; /* this rank's examples, concatenated over shards */
    int64_t total, first, count; /* first: global index of the rank's first example */
    int64_t block;               /* share: blocks of this many examples dealt round-robin */
    int64_t per_epoch; /* examples used per epoch (the same on every rank) */
    int64_t steps;     /* batches per epoch */
    int64_t epoch, next_batch;
    int64_t order_epoch; /* epoch whose order is built (-1 none) */
    int64_t *order;      /* local example indices in epoch order */
    int64_t *bstart;     /* batch b = order[bstart[b] .. bstart[b]+bsize[b]) */
    int *bsize;
    int maxT, maxTb, maxTn;
    int cut;           /* sequences are cut to this many positions (0: never) */
    int64_t truncated; /* examples of the share that are cut */
    LoaderBatch b;
};



void loader_config_default(LoaderConfig *c) {
    memset(c, 0, sizeof *c);
    c->world = 1;
    c->batch_size = 32;
    c->shuffle = 1;
    c->sep_id = -1;
}

/* ----------------------------------------------------------- permutation */

/* Fisher-Yates driven by Philox keyed by (seed, epoch, rank): a pure
 * function of those three, whatever happened before. */
void loader_permutation(uint64_t seed, int64_t epoch, int rank, int64_t *perm, int64_t n) {
    uint64_t key = philox_key(seed, (uint64_t)epoch, (uint64_t)rank);
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        uint32_t r[4];
        philox4x32(key, (uint64_t)i, r);
        uint64_t x = ((uint64_t)r[0] << 32) | r[1];
        int64_t j = (int64_t)(x % (uint64_t)(i + 1)); /* bias < 2^-40 for any realistic n */
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

/* --------------------------------------------------------------- opening */

static int compare_sets(const char *path, const ShardData *a, const ShardData *b, const char *path0, char *err,
                        size_t errlen) {
#define MISMATCH(what_, fmt_, va_, vb_)                                                                     \
    do {                                                                                                    \
        seterr(err, errlen, "%s: attribute '%s' is " fmt_ " but " fmt_ " in %s (shards of one set must agree)", \
               path, what_, va_, vb_, path0);                                                                \
        return -1;                                                                                          \
    } while (0)
    if (a->info.vocab_hash != b->info.vocab_hash)
        MISMATCH("tokenizer_vocab_hash", "%016" PRIx64, b->info.vocab_hash, a->info.vocab_hash);
    if (a->info.do_lower_case != b->info.do_lower_case)
        MISMATCH("do_lower_case", "%d", b->info.do_lower_case, a->info.do_lower_case);
    if (a->info.max_len != b->info.max_len) MISMATCH("max_len", "%d", b->info.max_len, a->info.max_len);
    if (a->info.num_shards != b->info.num_shards) MISMATCH("num_shards", "%d", b->info.num_shards, a->info.num_shards);
    if (a->info.total_examples != b->info.total_examples)
        MISMATCH("total_examples", "%lld", (long long)b->info.total_examples, (long long)a->info.total_examples);
    if (a->num_neg != b->num_neg) MISMATCH("num_negatives", "%d", b->num_neg, a->num_neg);
    if (a->n_tasks != b->n_tasks) MISMATCH("tasks (count)", "%d", b->n_tasks, a->n_tasks);
    if (a->has_type_ids != b->has_type_ids)
        MISMATCH("token_type_ids (dataset present)", "%d", b->has_type_ids, a->has_type_ids);
    for (int t = 0; t < a->n_tasks; t++) {
        const ShardTask *x = &a->tasks[t], *y = &b->tasks[t];
        if (strcmp(x->name, y->name) || x->type != y->type || x->num_labels != y->num_labels)
            MISMATCH("tasks", "'%s'", y->name, x->name);
        for (int i = 0; i < x->num_labels; i++)
            if (strcmp(x->label_names[i], y->label_names[i])) MISMATCH("label_names", "'%s'", y->label_names[i], x->label_names[i]);
    }
#undef MISMATCH
    return 0;
}

/* Appends src (a range read from one shard) to dst. */
static void append_range(ShardData *dst, const ShardData *src) {
    int64_t n0 = dst->n, t0 = dst->n_tokens, b0 = dst->n_tokens_b, n = src->n;
    dst->offsets = xrealloc(dst->offsets, (size_t)(n0 + n) * sizeof(int64_t));
    dst->lengths = xrealloc(dst->lengths, (size_t)(n0 + n) * sizeof(int32_t));
    dst->input_ids = xrealloc(dst->input_ids, (size_t)(t0 + src->n_tokens) * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) dst->offsets[n0 + i] = src->offsets[i] + t0;
    memcpy(dst->lengths + n0, src->lengths, (size_t)n * sizeof(int32_t));
    memcpy(dst->input_ids + t0, src->input_ids, (size_t)src->n_tokens * sizeof(int32_t));
    if (src->type_ids) { /* joined pairs: the segment of every token */
        dst->type_ids = xrealloc(dst->type_ids, (size_t)(t0 + src->n_tokens) * sizeof(int32_t));
        memcpy(dst->type_ids + t0, src->type_ids, (size_t)src->n_tokens * sizeof(int32_t));
    }
    if (src->input_ids_b) {
        dst->offsets_b = xrealloc(dst->offsets_b, (size_t)(n0 + n) * sizeof(int64_t));
        dst->lengths_b = xrealloc(dst->lengths_b, (size_t)(n0 + n) * sizeof(int32_t));
        dst->input_ids_b = xrealloc(dst->input_ids_b, (size_t)(b0 + src->n_tokens_b) * sizeof(int32_t));
        for (int64_t i = 0; i < n; i++) dst->offsets_b[n0 + i] = src->offsets_b[i] + b0;
        memcpy(dst->lengths_b + n0, src->lengths_b, (size_t)n * sizeof(int32_t));
        memcpy(dst->input_ids_b + b0, src->input_ids_b, (size_t)src->n_tokens_b * sizeof(int32_t));
        dst->n_tokens_b += src->n_tokens_b;
    }
    if (src->input_ids_n) { /* n*K negative sentences */
        int64_t K = src->num_neg, s0 = n0 * K, sn = n * K, nt0 = dst->n_tokens_n;
        dst->num_neg = src->num_neg;
        dst->offsets_n = xrealloc(dst->offsets_n, (size_t)(s0 + sn) * sizeof(int64_t));
        dst->lengths_n = xrealloc(dst->lengths_n, (size_t)(s0 + sn) * sizeof(int32_t));
        dst->input_ids_n = xrealloc(dst->input_ids_n, (size_t)(nt0 + src->n_tokens_n) * sizeof(int32_t));
        for (int64_t i = 0; i < sn; i++) dst->offsets_n[s0 + i] = src->offsets_n[i] + nt0;
        memcpy(dst->lengths_n + s0, src->lengths_n, (size_t)sn * sizeof(int32_t));
        memcpy(dst->input_ids_n + nt0, src->input_ids_n, (size_t)src->n_tokens_n * sizeof(int32_t));
        dst->n_tokens_n += src->n_tokens_n;
    }
    for (int t = 0; t < src->n_tasks; t++) {
        ShardTask *d = &dst->tasks[t];
        const ShardTask *s = &src->tasks[t];
        if (s->type == LABELS_SCORE || s->type == LABELS_REGRESSION) {
            d->scores = xrealloc(d->scores, (size_t)(n0 + n) * sizeof(float));
            memcpy(d->scores + n0, s->scores, (size_t)n * sizeof(float));
        } else if (s->type == LABELS_CLASS) {
            d->labels = xrealloc(d->labels, (size_t)(n0 + n) * sizeof(int32_t));
            memcpy(d->labels + n0, s->labels, (size_t)n * sizeof(int32_t));
        } else {
            d->labels = xrealloc(d->labels, (size_t)(t0 + src->n_tokens) * sizeof(int32_t));
            memcpy(d->labels + t0, s->labels, (size_t)src->n_tokens * sizeof(int32_t));
        }
    }
    dst->n += n;
    dst->n_tokens += src->n_tokens;
}

/* The share: the global examples are dealt to the ranks in blocks of
 * `block` (the per-rank batch size): block j = [j*block, (j+1)*block) goes
 * to rank j mod W. Unshuffled, rank r's k-th batch is global block k*W + r,
 * so the W batches of step k together are exactly global examples
 * [k*W*block, (k+1)*W*block): the 1-rank batch k at W times the batch size. */
static int64_t share_count(int64_t n, int64_t block, int world, int rank) {
    int64_t round = block * world, full = n / round, rem = n - full * round;
    int64_t extra = rem - (int64_t)rank * block;
    return full * block + (extra < 0 ? 0 : extra > block ? block : extra);
}

static int64_t global_index(int64_t n, int64_t block, int world, int rank, int64_t local) {
    (void)n;
    int64_t j = local / block;
    return (j * world + rank) * block + local % block;
}

static int has_glob(const char *s) { return strpbrk(s, "*?[") != NULL; }

/* A glob like DIR/train* also matches the set's manifest: not a shard. */
static int is_manifest(const char *s) {
    size_t n = strlen(s), k = strlen(MANIFEST_SUFFIX);
    return n >= k && !strcmp(s + n - k, MANIFEST_SUFFIX);
}

Loader *loader_open(const LoaderConfig *cfg, char *err, size_t errlen) {
    if (cfg->n_paths < 1) {
        seterr(err, errlen, "no shard files given");
        return NULL;
    }
    if (cfg->world < 1 || cfg->rank < 0 || cfg->rank >= cfg->world || cfg->batch_size < 1) {
        seterr(err, errlen, "bad loader settings: rank %d of %d, batch size %d", cfg->rank, cfg->world, cfg->batch_size);
        return NULL;
    }
    /* expand the list: globs sorted (glob's order), plain names as given */
    char **paths = NULL;
    int np = 0;
    for (int i = 0; i < cfg->n_paths; i++) {
        if (has_glob(cfg->paths[i])) {
            glob_t g;
            int r = glob(cfg->paths[i], 0, NULL, &g);
            if (r != 0 || g.gl_pathc == 0) {
                if (r == 0) globfree(&g);
                seterr(err, errlen, "%s: no shard files match", cfg->paths[i]);
                goto fail_paths;
            }
            for (size_t k = 0; k < g.gl_pathc; k++) {
                if (is_manifest(g.gl_pathv[k])) continue;
                paths = xrealloc(paths, (size_t)(np + 1) * sizeof *paths);
                paths[np++] = strdup(g.gl_pathv[k]);
            }
            globfree(&g);
        } else {
            paths = xrealloc(paths, (size_t)(np + 1) * sizeof *paths);
            paths[np++] = strdup(cfg->paths[i]);
        }
    }
    ShardData *hdr = NULL;
    Loader *L = NULL;
    int nh = 0;
    if (np == 0) {
        seterr(err, errlen, "%s: no shard files match (only a manifest)", cfg->paths[0]);
        goto fail_paths;
    }
    /* sizes and checksums against the manifest before libhdf5 sees a byte:
     * its own handling of corrupt files can crash (docs/data-format.md) */
    if (manifest_verify_files((const char *const *)paths, np, err, errlen)) goto fail_paths;
    hdr = calloc((size_t)np, sizeof *hdr);
    for (; nh < np; nh++) {
        if (shard_read_header(paths[nh], &hdr[nh], err, errlen)) goto fail_hdr;
        if (cfg->vocab_size > 0 && hdr[nh].info.vocab_size > cfg->vocab_size) {
            seterr(err, errlen, "%s: attribute 'vocab_size' is %d, more than the model's %d embedding rows", paths[nh],
                   hdr[nh].info.vocab_size, cfg->vocab_size);
            nh++;
            goto fail_hdr;
        }
        if (cfg->check_vocab && hdr[nh].info.vocab_hash != cfg->vocab_hash) {
            seterr(err, errlen,
                   "%s: tokenizer_vocab_hash %016" PRIx64 " does not match the model's vocabulary (%016" PRIx64
                   "): the shard was prepared with another vocab.txt; re-run mtbert prepare with the model's vocabulary",
                   paths[nh], hdr[nh].info.vocab_hash, cfg->vocab_hash);
            nh++;
            goto fail_hdr;
        }
        if (nh && compare_sets(paths[nh], &hdr[0], &hdr[nh], paths[0], err, errlen)) {
            nh++;
            goto fail_hdr;
        }
    }
    /* every shard index exactly once, ranges contiguous */
    int S = hdr[0].info.num_shards;
    int *by_index = xmalloc((size_t)S * sizeof(int));
    for (int s = 0; s < S; s++) by_index[s] = -1;
    for (int i = 0; i < np; i++) {
        int s = hdr[i].shard_index;
        if (by_index[s] >= 0) {
            seterr(err, errlen, "%s: shard_index %d also in %s (a shard given twice?)", paths[i], s, paths[by_index[s]]);
            free(by_index);
            goto fail_hdr;
        }
        by_index[s] = i;
    }
    int64_t expect_first = 0;
    for (int s = 0; s < S; s++) {
        if (by_index[s] < 0) {
            seterr(err, errlen, "%s: the set has %d shards but shard %d is missing (expected a file like ...-%05d-of-%05d.h5)",
                   paths[0], S, s, s, S);
            free(by_index);
            goto fail_hdr;
        }
        const ShardData *h = &hdr[by_index[s]];
        if (h->first_example != expect_first) {
            seterr(err, errlen, "%s: attribute 'first_example' is %lld, expected %lld (end of shard %d)", paths[by_index[s]],
                   (long long)h->first_example, (long long)expect_first, s - 1);
            free(by_index);
            goto fail_hdr;
        }
        expect_first += h->n;
    }
    if (expect_first != hdr[0].info.total_examples) {
        seterr(err, errlen, "%s: attribute 'total_examples' is %lld but the shards hold %lld", paths[0],
               (long long)hdr[0].info.total_examples, (long long)expect_first);
        free(by_index);
        goto fail_hdr;
    }
    int set_len = cfg->max_len > 0 && cfg->max_len < hdr[0].info.max_len ? cfg->max_len : hdr[0].info.max_len;
    if (cfg->max_len == 1) {
        seterr(err, errlen, "max_len 1 cannot hold [CLS] and [SEP]");
        free(by_index);
        goto fail_hdr;
    }
    if (cfg->fixed_len > 0 && cfg->fixed_len < set_len) {
        seterr(err, errlen, "%s: sequences up to max_len %d do not fit the fixed length %d (prepare with --max-len %d)",
               paths[0], set_len, cfg->fixed_len, cfg->fixed_len);
        free(by_index);
        goto fail_hdr;
    }
    L = calloc(1, sizeof *L);
    L->cfg = *cfg;
    L->cfg.paths = NULL;
    L->total = expect_first;
    L->block = cfg->batch_size;
    L->count = share_count(L->total, L->block, cfg->world, cfg->rank);
    L->first = L->count ? (int64_t)cfg->rank * L->block : 0;
    L->per_epoch = share_count(L->total, L->block, cfg->world, cfg->world - 1); /* the smallest share: equal steps */
    L->steps = cfg->drop_last ? L->per_epoch / cfg->batch_size : (L->per_epoch + cfg->batch_size - 1) / cfg->batch_size;
    if (L->steps < 1) {
        seterr(err, errlen, "%s: %lld examples are too few for %d ranks with batch size %d", paths[0], (long long)L->total,
               cfg->world, cfg->batch_size);
        free(by_index);
        free(L);
        L = NULL;
        goto fail_hdr;
    }
    /* the rank's share: its blocks only, each block read as a hyperslab range
     * of the shard(s) it overlaps; adjacent blocks (one rank) are merged */
    L->mine.info = hdr[0].info;
    L->mine.n_tasks = hdr[0].n_tasks;
    L->mine.has_type_ids = hdr[0].has_type_ids;
    for (int t = 0; t < hdr[0].n_tasks; t++) {
        L->mine.tasks[t].type = hdr[0].tasks[t].type;
        snprintf(L->mine.tasks[t].name, SHARD_NAME_LEN, "%s", hdr[0].tasks[t].name);
    }
    L->mine.first_example = L->first;
    L->mine.num_neg = hdr[0].num_neg;
    int s = 0, open_s = -1;
    ShardFile *sf = NULL; /* the shard being read: runs come in shard order */
    for (int64_t i = 0; i < L->count;) {
        int64_t g0 = global_index(L->total, L->block, cfg->world, cfg->rank, i), g1 = g0, j = i;
        while (j < L->count && global_index(L->total, L->block, cfg->world, cfg->rank, j) == g1) j++, g1++;
        i = j;
        /* [g0, g1): a run of this rank's examples, split at shard boundaries */
        for (int64_t lo = g0; lo < g1;) {
            while (s < S && hdr[by_index[s]].first_example + hdr[by_index[s]].n <= lo) s++;
            ShardData *h = &hdr[by_index[s]];
            int64_t hi = g1 < h->first_example + h->n ? g1 : h->first_example + h->n;
            ShardData part = *h; /* header copy: label names stay owned by hdr */
            for (int t = 0; t < part.n_tasks; t++) part.tasks[t].labels = NULL, part.tasks[t].scores = NULL;
            part.input_ids = NULL, part.offsets = NULL, part.lengths = NULL;
            part.input_ids_b = NULL, part.offsets_b = NULL, part.lengths_b = NULL;
            part.input_ids_n = NULL, part.offsets_n = NULL, part.lengths_n = NULL;
            part.type_ids = NULL;
            if (open_s != s) {
                shard_close(sf);
                sf = shard_open(paths[by_index[s]], err, errlen);
                open_s = s;
            }
            int r = sf ? shard_read(sf, &part, lo - h->first_example, hi - h->first_example, err, errlen) : -1;
            if (!r) append_range(&L->mine, &part);
            free(part.input_ids), free(part.offsets), free(part.lengths);
            free(part.input_ids_b), free(part.offsets_b), free(part.lengths_b);
            free(part.input_ids_n), free(part.offsets_n), free(part.lengths_n);
            free(part.type_ids);
            for (int t = 0; t < part.n_tasks; t++) free(part.tasks[t].labels), free(part.tasks[t].scores);
            if (r) {
                shard_close(sf);
                free(by_index);
                shard_data_free(&L->mine);
                free(L);
                L = NULL;
                goto fail_hdr;
            }
            lo = hi;
        }
    }
    shard_close(sf);
    free(by_index);
    L->info = hdr[0];
    memset(&hdr[0], 0, sizeof hdr[0]);
    for (int i = 1; i < np; i++) shard_data_free(&hdr[i]);
    free(hdr);
    for (int i = 0; i < np; i++) free(paths[i]);
    free(paths);

    /* batch buffers sized once: no allocation while training */
    int B = cfg->batch_size;
    L->cut = cfg->max_len > 0 ? cfg->max_len : 0;
    L->maxT = cfg->fixed_len > 0 ? cfg->fixed_len : set_len;
    for (int64_t i = 0; i < L->mine.n; i++) {
        int l = L->mine.lengths[i], lb = L->mine.lengths_b ? L->mine.lengths_b[i] : 0;
        if (L->cut && (l > L->cut || lb > L->cut)) L->truncated++;
        if (L->cut && l > L->cut) l = L->cut;
        if (l > L->maxT) L->maxT = l;
    }
    L->maxTb = L->maxT;
    for (int64_t i = 0; L->mine.lengths_b && i < L->mine.n; i++) {
        int l = L->mine.lengths_b[i];
        if (L->cut && l > L->cut) l = L->cut;
        if (l > L->maxTb) L->maxTb = l;
    }
    int K = L->mine.num_neg;
    L->maxTn = L->maxT;
    for (int64_t i = 0; K && i < L->mine.n * K; i++) {
        int l = L->mine.lengths_n[i];
        if (L->cut && l > L->cut) l = L->cut;
        if (l > L->maxTn) L->maxTn = l;
    }
    for (int64_t i = 0; K && L->cut && i < L->mine.n; i++) { /* an example with a cut negative, not counted yet */
        int l = L->mine.lengths[i], lb = L->mine.lengths_b ? L->mine.lengths_b[i] : 0, ln = 0;
        for (int j = 0; j < K; j++)
            if (L->mine.lengths_n[i * K + j] > ln) ln = L->mine.lengths_n[i * K + j];
        if (l <= L->cut && lb <= L->cut && ln > L->cut) L->truncated++;
    }
    size_t bt = (size_t)B * (size_t)(L->maxT > L->maxTb ? L->maxT : L->maxTb);
    LoaderBatch *b = &L->b;
    b->input_ids = xmalloc(bt * sizeof(int));
    b->type_ids = xmalloc(bt * sizeof(int));
    b->mask = xmalloc(bt * sizeof(int));
    if (L->mine.input_ids_b) {
        b->input_ids_b = xmalloc(bt * sizeof(int));
        b->type_ids_b = xmalloc(bt * sizeof(int));
        b->mask_b = xmalloc(bt * sizeof(int));
    }
    b->K = K;
    if (K) {
        size_t bn = (size_t)B * K * (size_t)L->maxTn;
        b->input_ids_n = xmalloc(bn * sizeof(int));
        b->type_ids_n = xmalloc(bn * sizeof(int));
        b->mask_n = xmalloc(bn * sizeof(int));
    }
    b->example = xmalloc((size_t)B * sizeof(int64_t));
    b->n_tasks = L->info.n_tasks;
    for (int t = 0; t < b->n_tasks; t++) {
        BatchTask *k = &b->tasks[t];
        k->name = L->info.tasks[t].name;
        k->type = L->info.tasks[t].type;
        k->num_labels = L->info.tasks[t].num_labels;
        if (k->type == LABELS_SCORE || k->type == LABELS_REGRESSION) k->scores = xmalloc((size_t)B * sizeof(float));
        else k->labels = xmalloc((k->type == LABELS_TOKEN ? bt : (size_t)B) * sizeof(int));
    }
    L->order = xmalloc((size_t)(L->count ? L->count : 1) * sizeof(int64_t));
    L->bstart = xmalloc((size_t)L->steps * sizeof(int64_t));
    L->bsize = xmalloc((size_t)L->steps * sizeof(int));
    L->order_epoch = -1;
    return L;

fail_hdr:
    for (int i = 0; i < nh && i < np; i++) shard_data_free(&hdr[i]);
    free(hdr);
fail_paths:
    for (int i = 0; i < np; i++) free(paths[i]);
    free(paths);
    return NULL;
}

void loader_close(Loader *L) {
    if (!L) return;
    LoaderBatch *b = &L->b;
    free(b->input_ids), free(b->type_ids), free(b->mask);
    free(b->input_ids_b), free(b->type_ids_b), free(b->mask_b);
    free(b->input_ids_n), free(b->type_ids_n), free(b->mask_n);
    free(b->example);
    for (int t = 0; t < b->n_tasks; t++) free(b->tasks[t].labels), free(b->tasks[t].scores);
    free(L->order), free(L->bstart), free(L->bsize);
    shard_data_free(&L->mine);
    shard_data_free(&L->info);
    free(L);
}

/* ------------------------------------------------------------ epoch order */

/* qsort_r (glibc) comparator: the context is the lengths array */
static int by_length(const void *a, const void *b, void *ctx) {
    const int32_t *lens = ctx;
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    int32_t lx = lens[x], ly = lens[y];
    if (lx != ly) return lx < ly ? -1 : 1;
    return x < y ? -1 : x > y; /* ties by index: deterministic */
}

static void build_epoch(Loader *L, int64_t epoch) {
    if (L->order_epoch == epoch) return;
    int64_t n = L->count, B = L->cfg.batch_size;
    if (L->cfg.shuffle) loader_permutation(L->cfg.seed, epoch, L->cfg.rank, L->order, n);
    else
        for (int64_t i = 0; i < n; i++) L->order[i] = i;
    int64_t used = L->steps * B < L->per_epoch ? L->steps * B : L->per_epoch;
    for (int64_t s = 0; s < L->steps; s++) {
        L->bstart[s] = s * B;
        L->bsize[s] = (int)(used - s * B < B ? used - s * B : B);
    }
    if (L->cfg.bucket_batches > 0) {
        int64_t win = (int64_t)L->cfg.bucket_batches * B;
        for (int64_t w = 0; w < used; w += win)
            qsort_r(L->order + w, (size_t)(w + win < used ? win : used - w), sizeof(int64_t), by_length,
                    L->mine.lengths);
        if (L->cfg.shuffle && L->steps > 1) {
            /* shuffle the batch order so lengths do not rise through the window */
            int64_t *perm = xmalloc((size_t)L->steps * sizeof(int64_t));
            loader_permutation(L->cfg.seed ^ 0x9E3779B97F4A7C15ull, epoch, L->cfg.rank, perm, L->steps);
            int64_t *st = xmalloc((size_t)L->steps * sizeof(int64_t));
            int *sz = xmalloc((size_t)L->steps * sizeof(int));
            for (int64_t s = 0; s < L->steps; s++) st[s] = L->bstart[perm[s]], sz[s] = L->bsize[perm[s]];
            memcpy(L->bstart, st, (size_t)L->steps * sizeof(int64_t));
            memcpy(L->bsize, sz, (size_t)L->steps * sizeof(int));
            free(st), free(sz), free(perm);
        }
    }
    L->order_epoch = epoch;
}

const LoaderBatch *loader_next_batch(Loader *L) {
    if (L->next_batch >= L->steps) {
        L->epoch++;
        L->next_batch = 0;
    }
    build_epoch(L, L->epoch);
    LoaderBatch *b = &L->b;
    const ShardData *m = &L->mine;
    int64_t s = L->next_batch;
    int B = L->bsize[s];
    const int64_t *rows = L->order + L->bstart[s];
    int T = 0, Tb = 0, cut = L->cut, sep = L->cfg.sep_id;
    for (int i = 0; i < B; i++) {
        int l = m->lengths[rows[i]], lb = m->lengths_b ? m->lengths_b[rows[i]] : 0;
        if (cut && l > cut) l = cut;
        if (cut && lb > cut) lb = cut;
        if (l > T) T = l;
        if (lb > Tb) Tb = lb;
    }
    int K = m->num_neg, Tn = 0;
    for (int i = 0; i < B; i++)
        for (int j = 0; j < K; j++) {
            int l = m->lengths_n[rows[i] * K + j];
            if (cut && l > cut) l = cut;
            if (l > Tn) Tn = l;
        }
    if (L->cfg.fixed_len > 0) T = Tb = L->cfg.fixed_len, Tn = K ? L->cfg.fixed_len : 0;
    b->T_n = Tn;
    b->B = B;
    b->T = T;
    b->T_b = m->lengths_b ? Tb : 0;
    b->epoch = L->epoch;
    b->batch = s;
    b->real_tokens = 0;
    b->padded_tokens = (int64_t)B * T;
    for (int i = 0; i < B; i++) {
        int64_t r = rows[i];
        int len = m->lengths[r];
        /* cut to max_len: the last kept position becomes [SEP] (and loses
         * its token label), as prepare's own truncation would have made it */
        int at_sep = cut && len > cut ? cut - 1 : -1;
        if (at_sep >= 0) len = cut;
        const int32_t *ids = m->input_ids + m->offsets[r];
        const int32_t *tys = m->type_ids ? m->type_ids + m->offsets[r] : NULL; /* joined pairs */
        b->example[i] = global_index(L->total, L->block, L->cfg.world, L->cfg.rank, r);
        b->real_tokens += len;
        for (int j = 0; j < T; j++) {
            b->input_ids[i * T + j] = j < len ? (j == at_sep && sep >= 0 ? sep : ids[j]) : L->cfg.pad_id;
            b->type_ids[i * T + j] = tys && j < len ? tys[j] : 0;
            b->mask[i * T + j] = j < len;
        }
        if (m->lengths_b) {
            int lb = m->lengths_b[r];
            int at_sep_b = cut && lb > cut ? cut - 1 : -1;
            if (at_sep_b >= 0) lb = cut;
            const int32_t *idb = m->input_ids_b + m->offsets_b[r];
            for (int j = 0; j < Tb; j++) {
                b->input_ids_b[i * Tb + j] = j < lb ? (j == at_sep_b && sep >= 0 ? sep : idb[j]) : L->cfg.pad_id;
                b->type_ids_b[i * Tb + j] = 0;
                b->mask_b[i * Tb + j] = j < lb;
            }
        }
        for (int j = 0; j < K; j++) { /* negative j of example i: row i*K + j */
            int64_t sn = r * K + j;
            int ln = m->lengths_n[sn];
            int at_sep_n = cut && ln > cut ? cut - 1 : -1;
            if (at_sep_n >= 0) ln = cut;
            const int32_t *idn = m->input_ids_n + m->offsets_n[sn];
            size_t row = ((size_t)i * K + j) * Tn;
            for (int c = 0; c < Tn; c++) {
                b->input_ids_n[row + c] = c < ln ? (c == at_sep_n && sep >= 0 ? sep : idn[c]) : L->cfg.pad_id;
                b->type_ids_n[row + c] = 0;
                b->mask_n[row + c] = c < ln;
            }
        }
        for (int t = 0; t < b->n_tasks; t++) {
            BatchTask *k = &b->tasks[t];
            const ShardTask *src = &m->tasks[t];
            if (k->type == LABELS_CLASS) k->labels[i] = src->labels[r];
            else if (k->type == LABELS_SCORE || k->type == LABELS_REGRESSION) k->scores[i] = src->scores[r];
            else {
                const int32_t *tl = src->labels + m->offsets[r];
                for (int j = 0; j < T; j++) k->labels[i * T + j] = j < len && j != at_sep ? tl[j] : LABEL_IGNORE;
            }
        }
    }
    L->next_batch++;
    return b;
}

LoaderState loader_get_state(const Loader *L) {
    LoaderState s = {L->epoch, L->next_batch};
    if (s.batch >= L->steps) s.epoch++, s.batch = 0;
    return s;
}

int loader_set_state(Loader *L, LoaderState s, char *err, size_t errlen) {
    if (s.epoch < 0 || s.batch < 0 || s.batch >= L->steps) {
        seterr(err, errlen, "loader state (epoch %lld, batch %lld) is outside 0..%lld batches per epoch", (long long)s.epoch,
               (long long)s.batch, (long long)L->steps - 1);
        return -1;
    }
    L->epoch = s.epoch;
    L->next_batch = s.batch;
    return 0;
}

int64_t loader_batches_per_epoch(const Loader *L) { return L->steps; }
int64_t loader_total_examples(const Loader *L) { return L->total; }
int64_t loader_rank_first(const Loader *L) { return L->first; }
int64_t loader_rank_count(const Loader *L) { return L->count; }
int64_t loader_rank_block(const Loader *L) { return L->block; }
int64_t loader_global_index(const Loader *L, int64_t local) {
    return global_index(L->total, L->block, L->cfg.world, L->cfg.rank, local);
}
const ShardData *loader_info(const Loader *L) { return &L->info; }
const ShardData *loader_share(const Loader *L) { return &L->mine; }
int loader_num_negatives(const Loader *L) { return L->mine.num_neg; }
int loader_max_len(const Loader *L) {
    if (L->cfg.fixed_len > 0) return L->cfg.fixed_len;
    return L->cut && L->cut < L->info.info.max_len ? L->cut : L->info.info.max_len;
}
int64_t loader_truncated(const Loader *L) { return L->truncated; }

double loader_padding_fraction(Loader *L) {
    build_epoch(L, L->epoch < 0 ? 0 : (L->next_batch >= L->steps ? L->epoch + 1 : L->epoch));
    int64_t real = 0, slots = 0;
    for (int64_t s = 0; s < L->steps; s++) {
        int T = 0;
        const int64_t *rows = L->order + L->bstart[s];
        for (int i = 0; i < L->bsize[s]; i++) {
            int l = L->mine.lengths[rows[i]];
            if (L->cut && l > L->cut) l = L->cut;
            real += l;
            if (l > T) T = l;
        }
        if (L->cfg.fixed_len > 0) T = L->cfg.fixed_len;
        slots += (int64_t)T * L->bsize[s];
    }
    return slots ? 1.0 - (double)real / (double)slots : 0.0;
}
