/* test_shards.c — shard write -> read round trip (attributes and data
 * exact), rank slicing, per-epoch deterministic shuffle, resume state,
 * bucketing, corrupted shards and vocabulary mismatch (named errors), the
 * synthetic corpus, and joined pairs (token_type_ids, regression scores). */
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/loader.h"
#include "data/prepare.h"
#include "data/shard.h"
#include "data/synthetic.h"
#include "testutil.h"

static char err[2048];
static char dir[256];

/* N examples with lengths 3..(3+N%13), one sentence, one token and one
 * similarity task; ids encode (example, position) so any mix-up shows. */
static void make_data(ShardData *d, int64_t n) {
    memset(d, 0, sizeof *d);
    d->info.vocab_hash = 0x0123456789abcdefull;
    d->info.vocab_size = 1 << 20; /* ids below encode (example, position) */
    d->info.do_lower_case = 1;
    d->info.max_len = 20;
    snprintf(d->info.source, sizeof d->info.source, "unit test");
    d->n = n;
    d->offsets = malloc((size_t)n * sizeof(int64_t));
    d->lengths = malloc((size_t)n * sizeof(int32_t));
    d->offsets_b = malloc((size_t)n * sizeof(int64_t));
    d->lengths_b = malloc((size_t)n * sizeof(int32_t));
    int64_t tot = 0, totb = 0;
    for (int64_t i = 0; i < n; i++) {
        d->lengths[i] = 3 + (int32_t)((i * 7) % 13);
        d->offsets[i] = tot;
        tot += d->lengths[i];
        d->lengths_b[i] = 3 + (int32_t)(i % 5);
        d->offsets_b[i] = totb;
        totb += d->lengths_b[i];
    }
    d->n_tokens = tot;
    d->n_tokens_b = totb;
    d->input_ids = malloc((size_t)tot * sizeof(int32_t));
    d->input_ids_b = malloc((size_t)totb * sizeof(int32_t));
    d->n_tasks = 3;
    static const char *topics[] = {"a", "b", "c"}, *tags[] = {"O", "B-X", "I-X"};
    ShardTask *t0 = &d->tasks[0], *t1 = &d->tasks[1], *t2 = &d->tasks[2];
    snprintf(t0->name, SHARD_NAME_LEN, "topic");
    t0->type = LABELS_CLASS;
    t0->num_labels = 3;
    t0->label_names = malloc(3 * sizeof(char *));
    for (int i = 0; i < 3; i++) t0->label_names[i] = strdup(topics[i]);
    t0->labels = malloc((size_t)n * sizeof(int32_t));
    snprintf(t1->name, SHARD_NAME_LEN, "ner");
    t1->type = LABELS_TOKEN;
    t1->num_labels = 3;
    t1->label_names = malloc(3 * sizeof(char *));
    for (int i = 0; i < 3; i++) t1->label_names[i] = strdup(tags[i]);
    t1->labels = malloc((size_t)tot * sizeof(int32_t));
    snprintf(t2->name, SHARD_NAME_LEN, "sts");
    t2->type = LABELS_SCORE;
    t2->scores = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) {
        t0->labels[i] = (int32_t)(i % 3);
        t2->scores[i] = (float)i * 0.25f;
        for (int j = 0; j < d->lengths[i]; j++) {
            d->input_ids[d->offsets[i] + j] = (int32_t)(i * 100 + j);
            t1->labels[d->offsets[i] + j] = (j == 0 || j == d->lengths[i] - 1) ? LABEL_IGNORE : (int32_t)((i + j) % 3);
        }
        for (int j = 0; j < d->lengths_b[i]; j++) d->input_ids_b[d->offsets_b[i] + j] = (int32_t)(500000 + i * 100 + j);
    }
}

static int write_set(ShardData *d, const char *name, int shards) {
    int rc = prepare_write_shards(d, dir, name, shards, 0, err, sizeof err);
    CHECKF(rc == 0, "write: %s", err);
    return rc;
}

static void test_round_trip(void) {
    ShardData d;
    make_data(&d, 41);
    if (write_set(&d, "rt", 3)) return;
    char path[512];
    int64_t seen = 0;
    for (int s = 0; s < 3; s++) {
        shard_file_name(path, sizeof path, dir, "rt", s, 3);
        char want[64];
        snprintf(want, sizeof want, "rt-%05d-of-00003.h5", s);
        CHECK(strstr(path, want) != NULL);
        ShardData r;
        CHECKF(shard_read_header(path, &r, err, sizeof err) == 0, "%s", err);
        int64_t lo = 41 * s / 3, hi = 41 * (s + 1) / 3;
        CHECK(r.n == hi - lo && r.first_example == lo && r.shard_index == s && r.info.num_shards == 3);
        CHECK(r.info.vocab_hash == d.info.vocab_hash && r.info.vocab_size == 1 << 20 && r.info.do_lower_case == 1 &&
              r.info.max_len == 20 && r.info.total_examples == 41 && !strcmp(r.info.source, "unit test"));
        CHECK(r.n_tasks == 3 && !strcmp(r.tasks[0].name, "topic") && r.tasks[1].type == LABELS_TOKEN &&
              r.tasks[2].type == LABELS_SCORE && r.tasks[1].num_labels == 3 &&
              !strcmp(r.tasks[1].label_names[2], "I-X") && r.tasks[2].num_labels == 0);
        CHECKF(shard_read_range(path, &r, 0, r.n, err, sizeof err) == 0, "%s", err);
        for (int64_t i = 0; i < r.n; i++) {
            int64_t g = lo + i;
            CHECK(r.lengths[i] == d.lengths[g] && r.lengths_b[i] == d.lengths_b[g]);
            CHECK(memcmp(r.input_ids + r.offsets[i], d.input_ids + d.offsets[g], (size_t)d.lengths[g] * 4) == 0);
            CHECK(memcmp(r.input_ids_b + r.offsets_b[i], d.input_ids_b + d.offsets_b[g], (size_t)d.lengths_b[g] * 4) == 0);
            CHECK(memcmp(r.tasks[1].labels + r.offsets[i], d.tasks[1].labels + d.offsets[g], (size_t)d.lengths[g] * 4) == 0);
            CHECK(r.tasks[0].labels[i] == d.tasks[0].labels[g] && r.tasks[2].scores[i] == d.tasks[2].scores[g]);
            seen++;
        }
        /* a sub-range reads only that range, rebased */
        ShardData q;
        shard_read_header(path, &q, err, sizeof err);
        CHECK(shard_read_range(path, &q, 2, 5, err, sizeof err) == 0 && q.n == 3 && q.offsets[0] == 0 &&
              q.first_example == lo + 2 && q.input_ids[0] == (int32_t)((lo + 2) * 100));
        shard_data_free(&q);
        /* several ranges over one open file (the loader's way): each as if alone */
        ShardFile *sf = shard_open(path, err, sizeof err);
        CHECKF(sf != NULL, "%s", err);
        for (int64_t a = 0; sf && a < r.n; a += 4) {
            int64_t b = a + 3 < r.n ? a + 3 : r.n;
            ShardData p2;
            shard_read_header(path, &p2, err, sizeof err);
            CHECKF(shard_read(sf, &p2, a, b, err, sizeof err) == 0, "%s", err);
            CHECK(p2.n == b - a && p2.first_example == lo + a && p2.offsets[0] == 0);
            for (int64_t i = 0; i < p2.n; i++) {
                int64_t g = lo + a + i;
                CHECK(p2.lengths[i] == d.lengths[g] &&
                      memcmp(p2.input_ids + p2.offsets[i], d.input_ids + d.offsets[g], (size_t)d.lengths[g] * 4) == 0);
                CHECK(memcmp(p2.tasks[1].labels + p2.offsets[i], d.tasks[1].labels + d.offsets[g],
                             (size_t)d.lengths[g] * 4) == 0);
                CHECK(p2.tasks[0].labels[i] == d.tasks[0].labels[g] && p2.tasks[2].scores[i] == d.tasks[2].scores[g]);
            }
            shard_data_free(&p2);
        }
        shard_close(sf);
        CHECK(shard_open("/nonexistent/x.h5", err, sizeof err) == NULL && strstr(err, "/nonexistent/x.h5"));
        shard_data_free(&r);
    }
    CHECK(seen == 41);
    /* no temporary files left behind */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -q '\\.tmp\\.'", dir);
    CHECK(system(cmd) != 0);
    shard_data_free(&d);
}

/* Hard negatives: K per example, ids 900000 + (i*K + j)*100 + position. */
static void add_negatives(ShardData *d, int K) {
    int64_t ns = d->n * K, tot = 0;
    d->num_neg = K;
    d->offsets_n = malloc((size_t)ns * sizeof(int64_t));
    d->lengths_n = malloc((size_t)ns * sizeof(int32_t));
    for (int64_t s = 0; s < ns; s++) {
        d->lengths_n[s] = 2 + (int32_t)((s * 3) % 5);
        d->offsets_n[s] = tot;
        tot += d->lengths_n[s];
    }
    d->n_tokens_n = tot;
    d->input_ids_n = malloc((size_t)tot * sizeof(int32_t));
    for (int64_t s = 0; s < ns; s++)
        for (int j = 0; j < d->lengths_n[s]; j++) d->input_ids_n[d->offsets_n[s] + j] = (int32_t)(900000 + s * 100 + j);
}

static Loader *open_set(const char *pattern, int rank, int world, int bs, int shuffle, uint64_t seed);

/* The negatives column: written and read back exactly (per shard, by
 * range), format_version 2 / num_negatives; the loader's batches carry
 * each row's negatives in example-major order under 2 ranks; sets without
 * negatives read as num_neg 0. */
static void test_negatives(void) {
    enum { N = 23, K = 3 };
    ShardData d;
    make_data(&d, N);
    add_negatives(&d, K);
    if (write_set(&d, "neg", 3)) return;
    char path[512];
    for (int s = 0; s < 3; s++) {
        shard_file_name(path, sizeof path, dir, "neg", s, 3);
        ShardData r;
        CHECKF(shard_read_header(path, &r, err, sizeof err) == 0, "%s", err);
        CHECK(r.num_neg == K);
        int64_t lo = N * s / 3, hi = N * (s + 1) / 3;
        CHECKF(shard_read_range(path, &r, 1, r.n, err, sizeof err) == 0, "%s", err);
        CHECK(r.n == hi - lo - 1 && r.offsets_n[0] == 0);
        for (int64_t i = 0; i < r.n; i++)
            for (int j = 0; j < K; j++) {
                int64_t g = (lo + 1 + i) * K + j, l = (i * K + j);
                CHECK(r.lengths_n[l] == d.lengths_n[g]);
                CHECK(memcmp(r.input_ids_n + r.offsets_n[l], d.input_ids_n + d.offsets_n[g],
                             (size_t)d.lengths_n[g] * 4) == 0);
            }
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
        int version = 0;
        hid_t a = f >= 0 ? H5Aopen(f, "format_version", H5P_DEFAULT) : -1;
        if (a >= 0) H5Aread(a, H5T_NATIVE_INT, &version), H5Aclose(a);
        if (f >= 0) H5Fclose(f);
        CHECKF(version == SHARD_FORMAT_VERSION_NEG, "format_version %d", version);
        shard_data_free(&r);
    }
    /* 2 ranks x batch 4, no shuffle: row i's negatives j at rows i*K + j, the example's own */
    for (int rank = 0; rank < 2; rank++) {
        char pat[400];
        snprintf(pat, sizeof pat, "%s/neg-*.h5", dir);
        Loader *L = open_set(pat, rank, 2, 4, 0, 1);
        if (!L) continue;
        CHECK(loader_num_negatives(L) == K);
        for (int64_t bi = 0; bi < loader_batches_per_epoch(L); bi++) {
            const LoaderBatch *b = loader_next_batch(L);
            CHECK(b->K == K && b->T_n >= 2);
            for (int i = 0; i < b->B; i++)
                for (int j = 0; j < K; j++) {
                    int64_t g = b->example[i] * K + j;
                    const int *row = b->input_ids_n + ((size_t)i * K + j) * b->T_n;
                    const int *mrow = b->mask_n + ((size_t)i * K + j) * b->T_n;
                    int len = 0;
                    for (int c = 0; c < b->T_n; c++) len += mrow[c];
                    CHECKF(len == d.lengths_n[g] && row[0] == 900000 + g * 100 && row[len - 1] == 900000 + g * 100 + len - 1,
                           "rank %d batch %lld row %d negative %d: length %d, first id %d", rank, (long long)bi, i, j,
                           len, row[0]);
                }
        }
        loader_close(L);
    }
    /* a set without negatives: num_neg 0, no negative rows */
    shard_file_name(path, sizeof path, dir, "rt", 0, 3);
    ShardData o;
    CHECKF(shard_read_header(path, &o, err, sizeof err) == 0, "%s", err);
    CHECK(o.num_neg == 0 && o.input_ids_n == NULL);
    shard_data_free(&o);
    shard_data_free(&d);
}

static Loader *open_set(const char *pattern, int rank, int world, int bs, int shuffle, uint64_t seed) {
    LoaderConfig c;
    loader_config_default(&c);
    c.paths = &pattern;
    c.n_paths = 1;
    c.rank = rank, c.world = world, c.batch_size = bs, c.shuffle = shuffle, c.seed = seed;
    Loader *L = loader_open(&c, err, sizeof err);
    CHECKF(L != NULL, "loader_open: %s", err);
    return L;
}

static void test_ranks_and_batches(void) {
    ShardData d;
    make_data(&d, 42);
    if (write_set(&d, "rk", 3)) return;
    char pat[512];
    snprintf(pat, sizeof pat, "%s/rk-*-of-00003.h5", dir);
    int covered[42] = {0};
    for (int r = 0; r < 4; r++) {
        Loader *L = open_set(pat, r, 4, 1, 0, 0);
        if (!L) return;
        /* batch size 1: blocks of one example dealt round-robin, rank r owns r, r+4, ... */
        int64_t first = loader_rank_first(L), cnt = loader_rank_count(L);
        CHECK(first == r && cnt == (42 - r + 3) / 4 && loader_rank_block(L) == 1);
        for (int64_t i = 0; i < cnt; i++) {
            int64_t g = loader_global_index(L, i);
            CHECK(g == r + 4 * i);
            if (g >= 0 && g < 42) covered[g]++;
        }
        /* unshuffled batches of 1 walk this rank's examples in order, with their data;
         * every rank takes the smallest share's 10 steps */
        CHECK(loader_batches_per_epoch(L) == 10);
        for (int64_t k = 0; k < loader_batches_per_epoch(L); k++) {
            const LoaderBatch *b = loader_next_batch(L);
            int64_t g = b->example[0];
            CHECK(g == r + 4 * k);
            CHECK(b->B == 1 && b->T == d.lengths[g] && b->input_ids[0] == (int)(g * 100) && b->tasks[0].labels[0] == g % 3);
            CHECK(b->T_b == d.lengths_b[g] && b->input_ids_b[1] == (int)(500000 + g * 100 + 1) && b->tasks[2].scores[0] == g * 0.25f);
        }
        loader_close(L);
    }
    for (int i = 0; i < 42; i++) CHECKF(covered[i] == 1, "example %d covered %d times", i, covered[i]);

    /* data parallelism: unshuffled, the 4 per-rank batches of 2 at step k are
     * exactly the 1-rank batch k of 8 (blocks of 2 cross shard boundaries) */
    {
        Loader *one = open_set(pat, 0, 1, 8, 0, 0), *R[4];
        if (!one) return;
        for (int r = 0; r < 4; r++) {
            R[r] = open_set(pat, r, 4, 2, 0, 0);
            if (!R[r]) return;
            CHECK(loader_rank_block(R[r]) == 2 && loader_rank_first(R[r]) == 2 * r);
        }
        /* shares of 42 in blocks of 2: 12, 10, 10, 10; every rank takes 5 steps */
        CHECK(loader_rank_count(R[0]) == 12 && loader_rank_count(R[3]) == 10);
        CHECK(loader_batches_per_epoch(R[0]) == 5 && loader_batches_per_epoch(R[3]) == 5);
        for (int k = 0; k < 5; k++) {
            const LoaderBatch *b1 = loader_next_batch(one);
            int got[8], n = 0;
            for (int r = 0; r < 4; r++) {
                const LoaderBatch *br = loader_next_batch(R[r]);
                CHECK(br->B == 2);
                for (int i = 0; i < br->B && n < 8; i++) {
                    got[n++] = (int)br->example[i];
                    CHECK(br->input_ids[i * br->T] == (int)(br->example[i] * 100));
                }
            }
            CHECK(b1->B == 8 && n == 8);
            for (int i = 0; i < 8 && i < n; i++) CHECKF(got[i] == b1->example[i] && got[i] == 8 * k + i,
                                                        "step %d row %d: ranks give %d, 1 rank %lld", k, i, got[i],
                                                        (long long)b1->example[i]);
        }
        loader_close(one);
        for (int r = 0; r < 4; r++) loader_close(R[r]);
    }

    /* padded batches: (B,T) with T = longest, mask, -100 on padding */
    Loader *L = open_set(pat, 0, 1, 8, 1, 5);
    if (!L) return;
    const LoaderBatch *b = loader_next_batch(L);
    int maxlen = 0;
    for (int i = 0; i < b->B; i++)
        if (d.lengths[b->example[i]] > maxlen) maxlen = d.lengths[b->example[i]];
    CHECK(b->B == 8 && b->T == maxlen);
    for (int i = 0; i < b->B; i++) {
        int64_t g = b->example[i];
        for (int j = 0; j < b->T; j++) {
            int in = j < d.lengths[g];
            CHECK(b->mask[i * b->T + j] == in && b->type_ids[i * b->T + j] == 0);
            CHECK(b->input_ids[i * b->T + j] == (in ? (int)(g * 100 + j) : 0));
            CHECK(b->tasks[1].labels[i * b->T + j] == (in ? d.tasks[1].labels[d.offsets[g] + j] : LABEL_IGNORE));
        }
    }
    /* the epoch covers every example once; the last batch is partial */
    int64_t steps = loader_batches_per_epoch(L);
    CHECK(steps == 6);
    int seen[42] = {0};
    for (int i = 0; i < b->B; i++) seen[b->example[i]]++;
    for (int64_t k = 1; k < steps; k++) {
        b = loader_next_batch(L);
        CHECK(b->epoch == 0 && b->batch == k && b->B == (k == 5 ? 2 : 8));
        for (int i = 0; i < b->B; i++) seen[b->example[i]]++;
    }
    for (int i = 0; i < 42; i++) CHECK(seen[i] == 1);
    b = loader_next_batch(L);
    CHECK(b->epoch == 1 && b->batch == 0);
    loader_close(L);
    shard_data_free(&d);
}

static void test_shuffle_and_resume(void) {
    int64_t a[100], b[100], c[100];
    loader_permutation(7, 3, 1, a, 100);
    loader_permutation(7, 3, 1, b, 100);
    loader_permutation(7, 4, 1, c, 100);
    int same = 1, differs = 0, hit[100] = {0};
    for (int i = 0; i < 100; i++) {
        same &= a[i] == b[i];
        differs += a[i] != c[i];
        if (a[i] >= 0 && a[i] < 100) hit[a[i]]++;
    }
    CHECK(same);
    CHECK(differs > 50);
    for (int i = 0; i < 100; i++) CHECK(hit[i] == 1);
    loader_permutation(8, 3, 1, c, 100);
    differs = 0;
    for (int i = 0; i < 100; i++) differs += a[i] != c[i];
    CHECK(differs > 50);

    char pat[512];
    snprintf(pat, sizeof pat, "%s/rk-*.h5", dir);
    /* resume: state after 9 batches, then the next 8 batches agree exactly */
    Loader *L1 = open_set(pat, 1, 2, 4, 1, 11), *L2 = open_set(pat, 1, 2, 4, 1, 11);
    if (!L1 || !L2) return;
    for (int k = 0; k < 9; k++) loader_next_batch(L1);
    LoaderState s = loader_get_state(L1);
    CHECK(s.epoch == 1 && s.batch == 4); /* shares of 42 in blocks of 4: 22 and 20; 5 batches per epoch */
    CHECK(loader_set_state(L2, s, err, sizeof err) == 0);
    for (int k = 0; k < 8; k++) {
        const LoaderBatch *x = loader_next_batch(L1);
        int64_t ex[8], ep = x->epoch, bt = x->batch;
        int B = x->B;
        memcpy(ex, x->example, (size_t)B * sizeof(int64_t));
        const LoaderBatch *y = loader_next_batch(L2);
        CHECK(y->B == B && y->epoch == ep && y->batch == bt && !memcmp(ex, y->example, (size_t)B * sizeof(int64_t)));
    }
    s.batch = 99;
    CHECK(loader_set_state(L2, s, err, sizeof err) == -1);
    loader_close(L1);
    loader_close(L2);
    /* two epochs of one rank come in different orders */
    Loader *L = open_set(pat, 0, 1, 42, 1, 3);
    if (!L) return;
    int64_t e0[42];
    const LoaderBatch *x = loader_next_batch(L);
    memcpy(e0, x->example, sizeof e0);
    x = loader_next_batch(L);
    CHECK(x->epoch == 1 && memcmp(e0, x->example, sizeof e0) != 0);
    loader_close(L);
}

static void test_bucketing(void) {
    ShardData d;
    make_data(&d, 400);
    if (write_set(&d, "bk", 2)) return;
    char pat[512];
    snprintf(pat, sizeof pat, "%s/bk-*.h5", dir);
    const char *p = pat;
    LoaderConfig c;
    loader_config_default(&c);
    c.paths = &p, c.n_paths = 1, c.batch_size = 16, c.seed = 1;
    Loader *plain = loader_open(&c, err, sizeof err);
    c.bucket_batches = 10;
    Loader *buck = loader_open(&c, err, sizeof err);
    CHECK(plain && buck);
    if (plain && buck) {
        double f0 = loader_padding_fraction(plain), f1 = loader_padding_fraction(buck);
        printf("padding fraction: %.3f unbucketed, %.3f bucketed\n", f0, f1);
        CHECK(f1 < f0 * 0.5);
        int seen[400] = {0};
        int64_t real = 0, slots = 0;
        for (int64_t k = 0; k < loader_batches_per_epoch(buck); k++) {
            const LoaderBatch *b = loader_next_batch(buck);
            real += b->real_tokens, slots += b->padded_tokens;
            for (int i = 0; i < b->B; i++) seen[b->example[i]]++;
        }
        for (int i = 0; i < 400; i++) CHECK(seen[i] == 1);
        CHECK(slots > 0 && (1.0 - (double)real / slots) - f1 < 1e-9 && (1.0 - (double)real / slots) - f1 > -1e-9);
    }
    loader_close(plain);
    loader_close(buck);
    /* fixed length */
    c.bucket_batches = 0, c.fixed_len = 32;
    Loader *fx = loader_open(&c, err, sizeof err);
    CHECK(fx && loader_next_batch(fx)->T == 32);
    loader_close(fx);
    c.fixed_len = 8;
    CHECK(loader_open(&c, err, sizeof err) == NULL && strstr(err, "max_len 20"));
    shard_data_free(&d);
}

/* copies a shard file and damages the copy with the HDF5 API */
static void corrupt(const char *src, const char *dst, int how) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "cp %s %s", src, dst);
    if (system(cmd) != 0) return;
    hid_t f = H5Fopen(dst, H5F_ACC_RDWR, H5P_DEFAULT);
    if (how == 0) H5Ldelete(f, "labels/ner", H5P_DEFAULT);
    if (how == 1 || how == 2) {
        H5Ldelete(f, "lengths", H5P_DEFAULT);
        hsize_t dims[2] = {how == 1 ? 3 : 14, 2};
        hid_t sp = H5Screate_simple(how == 1 ? 1 : 2, dims, NULL);
        hid_t ds = H5Dcreate2(f, "lengths", H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5Dclose(ds);
        H5Sclose(sp);
    }
    if (how == 3) H5Adelete(f, "tokenizer_vocab_hash");
    H5Fclose(f);
}

static void test_corrupt_and_mismatch(void) {
    char src[512], dst[512];
    shard_file_name(src, sizeof src, dir, "rk", 0, 3);
    snprintf(dst, sizeof dst, "%s/bad.h5", dir);
    ShardData r;
    corrupt(src, dst, 0);
    CHECKF(shard_read_header(dst, &r, err, sizeof err) == -1 && strstr(err, "bad.h5") && strstr(err, "'labels/ner'") &&
               strstr(err, "missing"),
           "%s", err);
    corrupt(src, dst, 1);
    CHECKF(shard_read_header(dst, &r, err, sizeof err) == -1 && strstr(err, "bad.h5") && strstr(err, "'lengths'") &&
               strstr(err, "shape (3)") && strstr(err, "expected int32 (14)"),
           "%s", err);
    corrupt(src, dst, 2);
    CHECKF(shard_read_header(dst, &r, err, sizeof err) == -1 && strstr(err, "'lengths'") && strstr(err, "shape (14,2)"),
           "%s", err);
    corrupt(src, dst, 3);
    CHECKF(shard_read_header(dst, &r, err, sizeof err) == -1 && strstr(err, "tokenizer_vocab_hash"), "%s", err);
    FILE *f = fopen(dst, "w");
    fputs("not hdf5", f);
    fclose(f);
    CHECKF(shard_read_header(dst, &r, err, sizeof err) == -1 && strstr(err, "bad.h5") && strstr(err, "HDF5"), "%s", err);
    snprintf(dst, sizeof dst, "%s/missing.h5", dir);
    CHECK(shard_read_header(dst, &r, err, sizeof err) == -1 && strstr(err, "missing.h5"));

    /* the loader names the bad file too, and a missing shard of the set */
    char pat[512];
    snprintf(pat, sizeof pat, "%s/rk-0000[01]-of-00003.h5", dir);
    const char *p = pat;
    LoaderConfig c;
    loader_config_default(&c);
    c.paths = &p, c.n_paths = 1;
    CHECKF(loader_open(&c, err, sizeof err) == NULL && strstr(err, "shard 2 is missing"), "%s", err);
    /* vocabulary mismatch: both hashes and the file */
    snprintf(pat, sizeof pat, "%s/rk-*.h5", dir);
    c.check_vocab = 1;
    c.vocab_hash = 0xfeedfacecafebeefull;
    CHECKF(loader_open(&c, err, sizeof err) == NULL && strstr(err, "rk-00000-of-00003.h5") &&
               strstr(err, "0123456789abcdef") && strstr(err, "feedfacecafebeef"),
           "%s", err);
    c.vocab_hash = 0x0123456789abcdefull;
    Loader *L = loader_open(&c, err, sizeof err);
    CHECKF(L != NULL, "%s", err);
    loader_close(L);
    snprintf(pat, sizeof pat, "%s/nothing-*.h5", dir);
    CHECK(loader_open(&c, err, sizeof err) == NULL && strstr(err, "no shard files match"));
}

/* issue 15, point 14: token ids outside the vocabulary are refused at load
 * like labels, naming the file, the example and the position */
static void test_token_ids(void) {
    ShardData d;
    make_data(&d, 20);
    d.info.vocab_size = 2000; /* ids are example * 100 + position: examples 0..19 fit */
    for (int64_t i = 0; i < d.n_tokens_b; i++) d.input_ids_b[i] = 7;
    d.input_ids[d.offsets[13] + 2] = 2000;
    if (write_set(&d, "badid", 2)) return;
    char pat[512];
    snprintf(pat, sizeof pat, "%s/badid-*.h5", dir);
    const char *p = pat;
    LoaderConfig c;
    loader_config_default(&c);
    c.paths = &p, c.n_paths = 1, c.batch_size = 4;
    for (int r = 0; r < 2; r++) { /* the shard's own rank finds it; other ranks do not read it */
        c.rank = r, c.world = 2;
        Loader *L = loader_open(&c, err, sizeof err);
        if (r == 1) { /* blocks of 4 dealt round-robin: example 13 is rank 1's */
            CHECK(L == NULL);
            CHECKF(L == NULL && strstr(err, "badid-00001-of-00002.h5") && strstr(err, "example 13, position 2") &&
                       strstr(err, "token id 2000") && strstr(err, "'input_ids'") && strstr(err, "0..1999"),
                   "%s", err);
        } else {
            CHECKF(L != NULL, "rank 0 does not read example 13: %s", err);
        }
        loader_close(L);
    }
    /* negative, in the second sentences */
    d.input_ids[d.offsets[13] + 2] = 13 * 100 + 2;
    d.input_ids_b[d.offsets_b[4] + 1] = -5;
    d.info.vocab_size = 1 << 20;
    if (write_set(&d, "badid", 2)) return;
    c.rank = 0, c.world = 1;
    CHECK(loader_open(&c, err, sizeof err) == NULL);
    CHECKF(strstr(err, "badid-00000-of-00002.h5") && strstr(err, "example 4, position 1") && strstr(err, "token id -5") &&
               strstr(err, "'input_ids_b'"),
           "%s", err);
    /* the model's embedding table smaller than the shards' vocabulary */
    d.input_ids_b[d.offsets_b[4] + 1] = 0;
    if (write_set(&d, "badid", 2)) return;
    c.vocab_size = 1000;
    CHECK(loader_open(&c, err, sizeof err) == NULL);
    CHECKF(strstr(err, "badid-00000-of-00002.h5") && strstr(err, "vocab_size") && strstr(err, "1000"), "%s", err);
    c.vocab_size = 1 << 20;
    Loader *L = loader_open(&c, err, sizeof err);
    CHECKF(L != NULL, "%s", err);
    loader_close(L);
    shard_data_free(&d);
}

/* issue 15, point 16: max_len (data.max_len) cuts longer sequences, the
 * last kept position [SEP] without a token label */
static void test_max_len(void) {
    char pat[512];
    snprintf(pat, sizeof pat, "%s/rk-*.h5", dir); /* 42 examples, lengths 3..15, b 3..7, shards' max_len 20 */
    const char *p = pat;
    ShardData d;
    make_data(&d, 42);
    LoaderConfig c;
    loader_config_default(&c);
    c.paths = &p, c.n_paths = 1, c.batch_size = 42, c.shuffle = 0, c.max_len = 6, c.sep_id = 777;
    Loader *L = loader_open(&c, err, sizeof err);
    CHECKF(L != NULL, "%s", err);
    if (!L) return;
    int64_t cut = 0;
    for (int i = 0; i < 42; i++) cut += d.lengths[i] > 6 || d.lengths_b[i] > 6;
    CHECK(cut > 10 && loader_truncated(L) == cut && loader_max_len(L) == 6);
    const LoaderBatch *b = loader_next_batch(L);
    CHECK(b->B == 42 && b->T == 6 && b->T_b == 6);
    int64_t real = 0;
    for (int i = 0; i < b->B; i++) {
        int64_t g = b->example[i];
        int len = d.lengths[g] < 6 ? d.lengths[g] : 6, lb = d.lengths_b[g] < 6 ? d.lengths_b[g] : 6;
        real += len;
        for (int j = 0; j < 6; j++) {
            int want = j >= len ? 0 : d.lengths[g] > 6 && j == 5 ? 777 : (int)(g * 100 + j);
            CHECKF(b->input_ids[i * 6 + j] == want && b->mask[i * 6 + j] == (j < len), "example %lld pos %d: %d",
                   (long long)g, j, b->input_ids[i * 6 + j]);
            int wl = j >= len || (d.lengths[g] > 6 && j == 5) ? LABEL_IGNORE : d.tasks[1].labels[d.offsets[g] + j];
            CHECK(b->tasks[1].labels[i * 6 + j] == wl);
            int wb = j >= lb ? 0 : d.lengths_b[g] > 6 && j == 5 ? 777 : (int)(500000 + g * 100 + j);
            CHECK(b->input_ids_b[i * 6 + j] == wb && b->mask_b[i * 6 + j] == (j < lb));
        }
    }
    CHECK(b->real_tokens == real);
    loader_close(L);
    /* a max_len at or above the shards': nothing cut, the shards' max_len */
    c.max_len = 128;
    L = loader_open(&c, err, sizeof err);
    CHECK(L && loader_truncated(L) == 0 && loader_max_len(L) == 20 && loader_next_batch(L)->T == 15);
    loader_close(L);
    /* a fixed length that holds max_len fits although the shards' max_len does not */
    c.max_len = 8, c.fixed_len = 8;
    L = loader_open(&c, err, sizeof err);
    CHECKF(L && loader_next_batch(L)->T == 8, "%s", err);
    loader_close(L);
    shard_data_free(&d);
}

static void test_synthetic(void) {
    RawSet a, b;
    rawset_init(&a);
    rawset_init(&b);
    synth_generate(3, 0, 200, &a);
    synth_generate(3, 0, 200, &b);
    int same = 1, ents[4] = {0}, first_pos_entity = 0;
    int topics[SYNTH_N_TOPICS] = {0}, sents[SYNTH_N_SENTIMENTS] = {0};
    for (size_t i = 0; i < a.n; i++) {
        same &= a.ex[i].n_words == b.ex[i].n_words && !strcmp(a.ex[i].labels[0], b.ex[i].labels[0]);
        for (int w = 0; w < a.ex[i].n_words && w < b.ex[i].n_words; w++) {
            same &= !strcmp(a.ex[i].words[w], b.ex[i].words[w]) && !strcmp(a.ex[i].tags[w], b.ex[i].tags[w]);
            const char *t = a.ex[i].tags[w];
            /* IOB2: I-X only after B-X or I-X */
            if (t[0] == 'I') CHECK(w > 0 && strcmp(a.ex[i].tags[w - 1], "O") && !strcmp(a.ex[i].tags[w - 1] + 2, t + 2));
            if (t[0] == 'B') {
                ents[!strcmp(t + 2, "PER") ? 0 : !strcmp(t + 2, "LOC") ? 1 : !strcmp(t + 2, "ORG") ? 2 : 3]++;
                if (w == 0) first_pos_entity++;
            }
        }
        for (int k = 0; k < SYNTH_N_TOPICS; k++) topics[k] += !strcmp(a.ex[i].labels[0], synth_topics[k]);
        for (int k = 0; k < SYNTH_N_SENTIMENTS; k++) sents[k] += !strcmp(a.ex[i].labels[1], synth_sentiments[k]);
    }
    CHECK(same);
    for (int k = 0; k < 4; k++) CHECKF(ents[k] > 20, "entity type %d: %d", k, ents[k]);
    CHECK(first_pos_entity > 10);
    for (int k = 0; k < SYNTH_N_TOPICS; k++) CHECK(topics[k] > 20);
    for (int k = 0; k < SYNTH_N_SENTIMENTS; k++) CHECK(sents[k] > 30);
    rawset_free(&b);
    synth_generate(4, 0, 200, &b);
    int differ = 0;
    for (size_t i = 0; i < a.n; i++) differ += a.ex[i].n_words != b.ex[i].n_words || strcmp(a.ex[i].words[0], b.ex[i].words[0]);
    CHECK(differ > 50);
    rawset_free(&a);
    rawset_free(&b);
    /* the vocabulary covers every word: no [UNK] in the shards */
    char sd[512];
    snprintf(sd, sizeof sd, "%s/synth", dir);
    CHECKF(synth_make_dataset(sd, 1, 300, 50, 64, 2, 0, err, sizeof err) == 0, "%s", err);
    char pat[600];
    snprintf(pat, sizeof pat, "%s/train-*.h5", sd);
    Loader *L = open_set(pat, 0, 1, 300, 0, 0);
    if (!L) return;
    const LoaderBatch *bt = loader_next_batch(L);
    const ShardData *info = loader_info(L);
    CHECK(bt->B == 300 && info->n_tasks == 3 && !strcmp(info->tasks[2].name, "ner") && info->tasks[2].num_labels == 9);
    int unk = 0, labelled = 0;
    for (int i = 0; i < bt->B * bt->T; i++) {
        unk += bt->input_ids[i] == 1;
        labelled += bt->tasks[2].labels[i] != LABEL_IGNORE;
    }
    CHECK(unk == 0 && labelled > 300 * 5);
    loader_close(L);
}

/* Joined pairs (prepare --join-pairs): token_type_ids aligned with
 * input_ids and a regression task round-trip, reach the loader's batches
 * (padding 0) and survive a max_len cut; a type id outside 0..255 is a
 * named error. */
static void test_joined_pairs(void) {
    enum { N = 13 };
    ShardData d;
    memset(&d, 0, sizeof d);
    d.info.vocab_hash = 7;
    d.info.vocab_size = 1 << 20;
    d.info.max_len = 16;
    d.n = N;
    d.offsets = malloc(N * sizeof(int64_t));
    d.lengths = malloc(N * sizeof(int32_t));
    int64_t tot = 0;
    for (int i = 0; i < N; i++) {
        d.lengths[i] = 4 + i % 9;
        d.offsets[i] = tot;
        tot += d.lengths[i];
    }
    d.n_tokens = tot;
    d.input_ids = malloc((size_t)tot * sizeof(int32_t));
    d.type_ids = malloc((size_t)tot * sizeof(int32_t));
    d.has_type_ids = 1;
    for (int i = 0; i < N; i++)
        for (int j = 0; j < d.lengths[i]; j++) {
            d.input_ids[d.offsets[i] + j] = i * 100 + j;
            d.type_ids[d.offsets[i] + j] = j >= d.lengths[i] / 2 ? 1 + i % 2 : 0; /* 0 then 1 or 2 */
        }
    d.n_tasks = 2;
    ShardTask *c = &d.tasks[0], *r = &d.tasks[1];
    snprintf(c->name, SHARD_NAME_LEN, "nli");
    c->type = LABELS_CLASS;
    c->num_labels = 2;
    c->label_names = malloc(2 * sizeof(char *));
    c->label_names[0] = strdup("no");
    c->label_names[1] = strdup("yes");
    c->labels = malloc(N * sizeof(int32_t));
    snprintf(r->name, SHARD_NAME_LEN, "rank");
    r->type = LABELS_REGRESSION;
    r->scores = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) c->labels[i] = i % 2, r->scores[i] = (float)i / N;
    if (write_set(&d, "jp", 2)) return;
    char path[512];
    shard_file_name(path, sizeof path, dir, "jp", 1, 2);
    ShardData h;
    CHECKF(shard_read_header(path, &h, err, sizeof err) == 0, "%s", err);
    CHECK(h.has_type_ids == 1 && h.tasks[1].type == LABELS_REGRESSION && h.tasks[1].num_labels == 0 &&
          h.input_ids_b == NULL && h.n_tokens_b == 0);
    shard_data_free(&h);
    for (int cut = 0; cut <= 6; cut += 6) {
        LoaderConfig lc;
        loader_config_default(&lc);
        char pat[300];
        snprintf(pat, sizeof pat, "%s/jp-*.h5", dir);
        const char *pp = pat;
        lc.paths = &pp;
        lc.n_paths = 1;
        lc.batch_size = 4;
        lc.shuffle = 0;
        lc.max_len = cut;
        lc.sep_id = cut ? 99999 : -1;
        Loader *L = loader_open(&lc, err, sizeof err);
        CHECKF(L != NULL, "loader_open: %s", err);
        if (!L) break;
        CHECK(loader_info(L)->has_type_ids == 1);
        int seen = 0;
        for (int64_t bi = 0; bi < loader_batches_per_epoch(L); bi++) {
            const LoaderBatch *b = loader_next_batch(L);
            for (int i = 0; i < b->B; i++, seen++) {
                int g = (int)b->example[i], len = d.lengths[g] < (cut ? cut : 99) ? d.lengths[g] : cut;
                for (int j = 0; j < b->T; j++) {
                    int want = j < len ? d.type_ids[d.offsets[g] + j] : 0;
                    CHECKF(b->type_ids[i * b->T + j] == want, "example %d position %d (cut %d): type id %d, want %d", g,
                           j, cut, b->type_ids[i * b->T + j], want);
                }
                CHECK(b->tasks[1].scores[i] == r->scores[g] && b->tasks[0].labels[i] == c->labels[g]);
            }
        }
        CHECK(seen == N);
        loader_close(L);
    }
    /* a type id outside 0..255 */
    d.type_ids[d.offsets[9] + 2] = 300;
    if (write_set(&d, "jpbad", 1) == 0) {
        shard_file_name(path, sizeof path, dir, "jpbad", 0, 1);
        ShardData q;
        shard_read_header(path, &q, err, sizeof err);
        CHECK(shard_read_range(path, &q, 0, q.n, err, sizeof err) != 0 && strstr(err, "token_type_ids") &&
              strstr(err, "300") && strstr(err, path));
        shard_data_free(&q);
    }
    shard_data_free(&d);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/mtbert_test_shards_%ld", (long)getpid());
    mkdir(dir, 0777);
    test_round_trip();
    test_negatives();
    test_ranks_and_batches();
    test_shuffle_and_resume();
    test_bucketing();
    test_corrupt_and_mismatch();
    test_token_ids();
    test_max_len();
    test_synthetic();
    test_joined_pairs();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (test_failures == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_shards");
}
