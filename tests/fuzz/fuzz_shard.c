/* fuzz_shard — the loader's verified path: loader_open on a shard set with
 * a manifest, where the input damages either the shard or the manifest.
 *
 * LLVMFuzzerInitialize prepares one valid shard set (prepare_write_shards:
 * DIR/set-00000-of-00001.h5 and DIR/set.manifest, a sentence, a token and a
 * similarity task). The first input byte picks what the rest does:
 *
 *   even: damage to the shard, as records of 4 bytes (24-bit offset OFF,
 *         byte V): OFF < size flips bits V of byte OFF; size <= OFF < 2*size
 *         truncates the file to OFF - size bytes; beyond, appends V. The
 *         manifest stays the one prepare wrote. Property checked (abort on
 *         violation): an intact file loads, and every damaged one is refused
 *         with a message naming the shard -- before libhdf5 opens it, so
 *         libhdf5 only ever parses the bytes prepare wrote.
 *   odd:  the rest is the manifest text ("@S" and "@H" stand for the shard's
 *         real size and checksum, so mutations explore around a valid
 *         manifest), the shard stays intact: the manifest parser and checks
 *         on arbitrary text. A refusal must say why (a message).
 *
 * Fuzzing libhdf5 on arbitrary bytes is fuzz_shard_raw (not in CI: libhdf5
 * 1.10's own memory errors on corrupt files). */
#include "fuzz_common.h"
#include "data/loader.h"
#include "data/manifest.h"
#include "data/prepare.h"

#include <sys/stat.h>

static char dir[256], shard[512], manifest[512];
static uint8_t *ref;
static size_t ref_len;
static char ref_hex[33];

static void cleanup(void) {
    unlink(shard);
    unlink(manifest);
    rmdir(dir);
}

static void make_set(void) {
    ShardData d;
    memset(&d, 0, sizeof d);
    d.info.vocab_hash = 0x0123456789abcdefull;
    d.info.vocab_size = 50;
    d.info.do_lower_case = 1;
    d.info.max_len = 8;
    snprintf(d.info.source, sizeof d.info.source, "fuzz");
    int64_t n = 6, tot = 0, totb = 0;
    d.n = n;
    d.offsets = calloc((size_t)n, sizeof(int64_t));
    d.lengths = calloc((size_t)n, sizeof(int32_t));
    d.offsets_b = calloc((size_t)n, sizeof(int64_t));
    d.lengths_b = calloc((size_t)n, sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) {
        d.lengths[i] = 3 + (int32_t)(i % 5);
        d.offsets[i] = tot;
        tot += d.lengths[i];
        d.lengths_b[i] = 3 + (int32_t)(i % 3);
        d.offsets_b[i] = totb;
        totb += d.lengths_b[i];
    }
    d.n_tokens = tot, d.n_tokens_b = totb;
    d.input_ids = calloc((size_t)tot, sizeof(int32_t));
    d.input_ids_b = calloc((size_t)totb, sizeof(int32_t));
    for (int64_t i = 0; i < tot; i++) d.input_ids[i] = (int32_t)(i % 50);
    for (int64_t i = 0; i < totb; i++) d.input_ids_b[i] = (int32_t)((i * 7) % 50);
    static char *cls[] = {"a", "b"}, *tags[] = {"O", "B-X", "I-X"};
    d.n_tasks = 3;
    ShardTask *t = d.tasks;
    snprintf(t[0].name, SHARD_NAME_LEN, "topic");
    t[0].type = LABELS_CLASS, t[0].num_labels = 2, t[0].label_names = calloc(2, sizeof(char *));
    for (int k = 0; k < 2; k++) t[0].label_names[k] = strdup(cls[k]);
    t[0].labels = calloc((size_t)n, sizeof(int32_t));
    snprintf(t[1].name, SHARD_NAME_LEN, "ner");
    t[1].type = LABELS_TOKEN, t[1].num_labels = 3, t[1].label_names = calloc(3, sizeof(char *));
    for (int k = 0; k < 3; k++) t[1].label_names[k] = strdup(tags[k]);
    t[1].labels = calloc((size_t)tot, sizeof(int32_t));
    snprintf(t[2].name, SHARD_NAME_LEN, "sts");
    t[2].type = LABELS_SCORE;
    t[2].scores = calloc((size_t)n, sizeof(float));
    for (int64_t i = 0; i < n; i++) t[0].labels[i] = (int32_t)(i % 2), t[2].scores[i] = 0.5f;
    for (int64_t i = 0; i < tot; i++) t[1].labels[i] = (int32_t)(i % 3);
    char err[1024];
    if (prepare_write_shards(&d, dir, "set", 1, 0, err, sizeof err)) {
        fprintf(stderr, "fuzz_shard: %s\n", err);
        abort();
    }
    shard_data_free(&d);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/mtbert-fuzz-shard-%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    mkdir(dir, 0777);
    snprintf(shard, sizeof shard, "%s/set-00000-of-00001.h5", dir);
    snprintf(manifest, sizeof manifest, "%s/set.manifest", dir);
    make_set();
    atexit(cleanup);
    FILE *f = fopen(shard, "rb");
    if (!f) abort();
    fseek(f, 0, SEEK_END);
    ref_len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    ref = malloc(ref_len);
    if (!ref || fread(ref, 1, ref_len, f) != ref_len) abort();
    fclose(f);
    int64_t sz;
    char err[512];
    if (manifest_hash_file(shard, &sz, ref_hex, err, sizeof err) || (size_t)sz != ref_len) abort();
    return 0;
}

static void put(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    if (fclose(f)) abort();
}

static void write_ref_manifest(void) {
    char text[512];
    int n = snprintf(text, sizeof text, "%s\nset-00000-of-00001.h5\t%zu\t%s\n", MANIFEST_MAGIC, ref_len, ref_hex);
    put(manifest, text, (size_t)n);
}

static Loader *load(char *err, size_t errlen) {
    LoaderConfig c;
    loader_config_default(&c);
    const char *p = shard;
    c.paths = &p, c.n_paths = 1, c.batch_size = 4, c.shuffle = 1, c.seed = 3, c.max_len = 6, c.sep_id = 3;
    Loader *L = loader_open(&c, err, errlen);
    if (L)
        for (int k = 0; k < 3; k++) (void)loader_next_batch(L);
    return L;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 1 << 16) return 0;
    char err[2048] = "";
    if (!(data[0] & 1)) {
        size_t cap = ref_len + size, len = ref_len;
        uint8_t *b = malloc(cap);
        memcpy(b, ref, ref_len);
        for (size_t i = 1; i + 4 <= size; i += 4) {
            size_t off = (size_t)data[i] | (size_t)data[i + 1] << 8 | (size_t)data[i + 2] << 16;
            uint8_t v = data[i + 3];
            if (off < len) b[off] ^= v;
            else if (off < 2 * len) len = off - len;
            else if (len < cap) b[len++] = v;
        }
        int intact = len == ref_len && !memcmp(b, ref, len);
        put(shard, b, len);
        free(b);
        write_ref_manifest();
        Loader *L = load(err, sizeof err);
        if (intact && !L) {
            fprintf(stderr, "fuzz_shard: the intact shard was refused: %s\n", err);
            abort();
        }
        if (!intact && (L || !strstr(err, shard))) {
            fprintf(stderr, "fuzz_shard: a damaged shard (%zu bytes) was %s\n", len,
                    L ? "accepted" : "refused without naming it");
            if (!L) fprintf(stderr, "  message: %s\n", err);
            abort();
        }
        loader_close(L);
    } else {
        put(shard, ref, ref_len);
        /* the manifest: the rest, with @S / @H replaced */
        size_t n = size - 1, cap = n * 16 + 64, k = 0;
        char *t = malloc(cap);
        for (size_t i = 0; i < n; i++) {
            if (data[1 + i] == '@' && i + 1 < n && (data[2 + i] == 'S' || data[2 + i] == 'H')) {
                k += (size_t)(data[2 + i] == 'S' ? snprintf(t + k, cap - k, "%zu", ref_len)
                                                 : snprintf(t + k, cap - k, "%s", ref_hex));
                i++;
            } else {
                t[k++] = (char)data[1 + i];
            }
        }
        put(manifest, t, k);
        free(t);
        Loader *L = load(err, sizeof err);
        if (!L && !err[0]) {
            fprintf(stderr, "fuzz_shard: refused without a message\n");
            abort();
        }
        loader_close(L);
    }
    return 0;
}
