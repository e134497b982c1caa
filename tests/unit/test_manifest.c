/* test_manifest.c — shard manifests (issue 15, point 13): the checksum
 * against values xxhsum -H2 (xxHash's own CLI) printed for the same bytes,
 * the file prepare writes, the parser's named errors, and the loader's
 * refusals (damaged, truncated, unlisted, missing shards; a set without a
 * manifest) before libhdf5 opens a shard. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "data/loader.h"
#include "data/manifest.h"
#include "data/prepare.h"
#include "testutil.h"

static char dir[256];
static char err[4096];

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(p, 1, n, f) == n);
    fclose(f);
}

static void test_paths(void) {
    char b[512];
    manifest_path_for("d/x/train-00003-of-00008.h5", b, sizeof b);
    CHECKF(!strcmp(b, "d/x/train.manifest"), "%s", b);
    manifest_path_for("dev-00000-of-00001.h5", b, sizeof b);
    CHECKF(!strcmp(b, "dev.manifest"), "%s", b);
    manifest_path_for("/a/my-set-00000-of-00001.h5", b, sizeof b);
    CHECKF(!strcmp(b, "/a/my-set.manifest"), "%s", b);
    manifest_path_for("/a/custom.h5", b, sizeof b);
    CHECKF(!strcmp(b, "/a/custom.manifest"), "%s", b);
    manifest_path_for("/a/train-0000x-of-00001.h5", b, sizeof b);
    CHECKF(!strcmp(b, "/a/train-0000x-of-00001.manifest"), "%s", b);
}

/* expected values: `xxhsum -H2 FILE` (xxhash 0.8.1) on the same bytes */
static void test_hash(void) {
    char p[512], hex[33];
    int64_t size = -1;
    snprintf(p, sizeof p, "%s/abc.bin", dir);
    write_file(p, "abc", 3);
    CHECKF(manifest_hash_file(p, &size, hex, err, sizeof err) == 0, "%s", err);
    CHECKF(size == 3 && !strcmp(hex, "06b05ab6733a618578af5f94892f3950"), "%lld %s", (long long)size, hex);
    snprintf(p, sizeof p, "%s/empty.bin", dir);
    write_file(p, "", 0);
    CHECK(manifest_hash_file(p, &size, hex, err, sizeof err) == 0 && size == 0 &&
          !strcmp(hex, "99aa06d3014798d86001c324468d497f"));
    /* more than the 4 MiB read buffer: the streaming state across reads */
    size_t n = 5 * 1024 * 1024 + 123;
    unsigned char *big = malloc(n);
    for (size_t i = 0; i < n; i++) big[i] = (unsigned char)((i * 31) % 251);
    snprintf(p, sizeof p, "%s/big.bin", dir);
    write_file(p, big, n);
    free(big);
    CHECK(manifest_hash_file(p, &size, hex, err, sizeof err) == 0 && size == (int64_t)n &&
          !strcmp(hex, "7dcf2019fd6067c55573ad13b2fe0aae"));
    unlink(p);
    snprintf(p, sizeof p, "%s/none.bin", dir);
    CHECK(manifest_hash_file(p, &size, hex, err, sizeof err) == -1 && strstr(err, "none.bin"));
}

static void test_parse(void) {
    Manifest m;
    static const char ok[] = "# mtbert shard manifest 1\n# a comment\nx-00000-of-00002.h5\t12\t"
                             "0123456789ABCDEF0123456789abcdef\r\n\ny-00001-of-00002.h5\t0\t"
                             "ffffffffffffffffffffffffffffffff";
    CHECKF(manifest_parse(&m, "M", ok, sizeof ok - 1, err, sizeof err) == 0, "%s", err);
    CHECK(m.n == 2 && !strcmp(m.e[0].name, "x-00000-of-00002.h5") && m.e[0].size == 12 &&
          !strcmp(m.e[0].hex, "0123456789abcdef0123456789abcdef") && m.e[1].size == 0);
    CHECK(manifest_find(&m, "y-00001-of-00002.h5") == &m.e[1] && manifest_find(&m, "z") == NULL);
    manifest_free(&m);
    static const struct { const char *text; const char *want; } bad[] = {
        {"", "empty"},
        {"# mtbert shard manifest 2\n", "M:1: not a shard manifest"},
        {"# mtbert shard manifest 1\nx.h5 12 0123456789abcdef0123456789abcdef\n", "M:2: expected FILE<TAB>"},
        {"# mtbert shard manifest 1\nx.h5\t-12\t0123456789abcdef0123456789abcdef\n", "M:2: size"},
        {"# mtbert shard manifest 1\nx.h5\t99999999999999999999\t0123456789abcdef0123456789abcdef\n", "M:2: size"},
        {"# mtbert shard manifest 1\n\nx.h5\t12\t0123456789abcdef0123456789abcdeg\n", "M:3: checksum"},
        {"# mtbert shard manifest 1\nx.h5\t12\t0123456789abcdef0123456789abcde\n", "M:2: checksum"},
        {"# mtbert shard manifest 1\nx.h5\t12\t0123456789abcdef0123456789abcdef\n"
         "x.h5\t12\t0123456789abcdef0123456789abcdef\n", "M:3: 'x.h5' is listed twice"},
        {"# mtbert shard manifest 1\n../x.h5\t12\t0123456789abcdef0123456789abcdef\n", "M:2: file name with a '/'"},
        {"# mtbert shard manifest 1\n\tx\t12\n", "M:2: expected"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int r = manifest_parse(&m, "M", bad[i].text, strlen(bad[i].text), err, sizeof err);
        CHECKF(r == -1 && strstr(err, bad[i].want) && m.n == 0, "case %zu: %s", i, err);
    }
    static const char nul[] = "# mtbert shard manifest 1\nx.h5\t1\0";
    CHECK(manifest_parse(&m, "M", nul, sizeof nul - 1, err, sizeof err) == -1 && strstr(err, "M:2: NUL byte"));
}

/* a small valid set: two shards of one sentence task */
static void make_set(const char *name, int shards) {
    ShardData d;
    memset(&d, 0, sizeof d);
    d.info.vocab_hash = 42;
    d.info.vocab_size = 100;
    d.info.max_len = 8;
    int64_t n = 10;
    d.n = n;
    d.offsets = malloc((size_t)n * sizeof(int64_t));
    d.lengths = malloc((size_t)n * sizeof(int32_t));
    d.input_ids = malloc((size_t)n * 4 * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) d.offsets[i] = 4 * i, d.lengths[i] = 4;
    for (int64_t i = 0; i < 4 * n; i++) d.input_ids[i] = (int32_t)(i % 100);
    d.n_tokens = 4 * n;
    d.n_tasks = 1;
    ShardTask *t = &d.tasks[0];
    snprintf(t->name, SHARD_NAME_LEN, "c");
    t->type = LABELS_CLASS;
    t->num_labels = 2;
    t->label_names = malloc(2 * sizeof(char *));
    t->label_names[0] = strdup("no");
    t->label_names[1] = strdup("yes");
    t->labels = malloc((size_t)n * sizeof(int32_t));
    for (int64_t i = 0; i < n; i++) t->labels[i] = (int32_t)(i % 2);
    CHECKF(prepare_write_shards(&d, dir, name, shards, 0, err, sizeof err) == 0, "%s", err);
    shard_data_free(&d);
}

static Loader *open_glob(const char *pattern) {
    LoaderConfig c;
    loader_config_default(&c);
    c.paths = &pattern;
    c.n_paths = 1;
    c.batch_size = 2;
    return loader_open(&c, err, sizeof err);
}

static void copy(const char *src, const char *dst) {
    size_t n;
    FILE *f = fopen(src, "rb");
    CHECK(f != NULL);
    if (!f) return;
    char *buf = malloc(1 << 20);
    n = fread(buf, 1, 1 << 20, f);
    fclose(f);
    write_file(dst, buf, n);
    free(buf);
}

static void test_prepare_and_loader(void) {
    make_set("ms", 2);
    char s0[512], s1[512], mp[512], pat[512];
    snprintf(s0, sizeof s0, "%s/ms-00000-of-00002.h5", dir);
    snprintf(s1, sizeof s1, "%s/ms-00001-of-00002.h5", dir);
    snprintf(mp, sizeof mp, "%s/ms.manifest", dir);
    snprintf(pat, sizeof pat, "%s/ms*", dir); /* matches the manifest too: skipped */
    /* the manifest prepare wrote: both shards, their sizes (stat) and checksums */
    Manifest m;
    CHECKF(manifest_load(&m, mp, err, sizeof err) == 0, "%s", err);
    CHECK(m.n == 2);
    for (int i = 0; i < m.n && i < 2; i++) {
        struct stat st;
        CHECK(stat(i ? s1 : s0, &st) == 0 && m.e[i].size == (int64_t)st.st_size);
        CHECK(!strcmp(m.e[i].name, i ? "ms-00001-of-00002.h5" : "ms-00000-of-00002.h5"));
        int64_t sz;
        char hex[33];
        CHECK(manifest_hash_file(i ? s1 : s0, &sz, hex, err, sizeof err) == 0 && !strcmp(hex, m.e[i].hex));
    }
    manifest_free(&m);
    Loader *L = open_glob(pat);
    CHECKF(L != NULL, "intact set refused: %s", err);
    CHECK(L && loader_total_examples(L) == 10);
    loader_close(L);

    /* the HDF5 signature overwritten (same size): the manifest's checksum
     * error, not libhdf5's "not a readable HDF5 file": checked first */
    char keep[512];
    snprintf(keep, sizeof keep, "%s/keep.bin", dir);
    copy(s1, keep);
    FILE *f = fopen(s1, "r+b");
    CHECK(f != NULL);
    if (f) {
        fputs("NOTHDF5!", f);
        fclose(f);
    }
    CHECK(open_glob(pat) == NULL);
    CHECKF(strstr(err, s1) && strstr(err, "checksum") && strstr(err, mp) && !strstr(err, "HDF5"), "%s", err);
    /* truncated: the size, before any hashing */
    copy(keep, s1);
    CHECK(truncate(s1, 1000) == 0);
    CHECK(open_glob(pat) == NULL);
    CHECKF(strstr(err, s1) && strstr(err, "1000 bytes") && strstr(err, "re-run mtbert prepare"), "%s", err);
    copy(keep, s1);
    L = open_glob(pat);
    CHECKF(L != NULL, "restored set refused: %s", err);
    loader_close(L);

    /* a shard the manifest does not list (left over from another run) */
    char extra[512];
    snprintf(extra, sizeof extra, "%s/ms-00007-of-00009.h5", dir);
    copy(s0, extra);
    CHECK(open_glob(pat) == NULL);
    CHECKF(strstr(err, extra) && strstr(err, "not listed in the manifest"), "%s", err);
    unlink(extra);

    /* a listed shard missing; named even when only the other one is given */
    CHECK(rename(s1, keep) == 0);
    CHECK(open_glob(s0) == NULL);
    CHECKF(strstr(err, s1) && strstr(err, "listed in the manifest") && strstr(err, "missing"), "%s", err);
    CHECK(rename(keep, s1) == 0);

    /* a name that does not exist is just that, whatever the manifests */
    char typo[512];
    snprintf(typo, sizeof typo, "%s/ms-0000-of-00002.h5", dir);
    CHECK(open_glob(typo) == NULL);
    CHECKF(strstr(err, typo) && strstr(err, "cannot open") && !strstr(err, "no manifest"), "%s", err);

    /* no manifest (a set prepared before manifests): refused with the ways out */
    char moved[600];
    snprintf(moved, sizeof moved, "%s/old-manifest.txt", dir);
    CHECK(rename(mp, moved) == 0);
    CHECK(open_glob(pat) == NULL);
    CHECKF(strstr(err, s0) && strstr(err, "no manifest") && strstr(err, mp) && strstr(err, "re-run mtbert prepare") &&
               strstr(err, "--write-manifest"),
           "%s", err);
    /* --write-manifest's way: the same manifest as prepare's */
    const char *both[2] = {s0, s1};
    CHECKF(manifest_write(mp, both, 2, err, sizeof err) == 0, "%s", err);
    size_t la, lb;
    char *a = NULL, *b = NULL;
    f = fopen(mp, "rb");
    if (f) {
        a = calloc(1, 4096);
        la = fread(a, 1, 4095, f);
        fclose(f);
    }
    f = fopen(moved, "rb");
    if (f) {
        b = calloc(1, 4096);
        lb = fread(b, 1, 4095, f);
        fclose(f);
    }
    CHECK(a && b && la == lb && !memcmp(a, b, la));
    free(a);
    free(b);
    L = open_glob(pat);
    CHECKF(L != NULL, "resealed set refused: %s", err);
    loader_close(L);
    /* a manifest that is not one */
    write_file(mp, "garbage\n", 8);
    CHECK(open_glob(pat) == NULL);
    CHECKF(strstr(err, mp) && strstr(err, ":1: not a shard manifest"), "%s", err);
    /* prepare again: a fresh manifest replaces it */
    make_set("ms", 2);
    L = open_glob(pat);
    CHECKF(L != NULL, "re-prepared set refused: %s", err);
    loader_close(L);
    unlink(moved);
    unlink(keep);
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/mtbert_test_manifest_%ld", (long)getpid());
    mkdir(dir, 0777);
    test_paths();
    test_hash();
    test_parse();
    test_prepare_and_loader();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (test_failures == 0 && system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return test_finish("test_manifest");
}
