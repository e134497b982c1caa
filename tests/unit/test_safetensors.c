/* test_safetensors.c — trainer/store/safetensors.c and util/fsutil.c:
 * write/read round trip with metadata; hand-built F16 / BF16 / I64 files
 * with known values; every malformed header rejected with a message naming
 * the file and the tensor or field; truncated and bit-flipped files never
 * read out of bounds; a failed write leaves an existing file byte for byte. */
#include <errno.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/unit/testutil.h"
#include "util/fsutil.h"
#include "trainer/store/safetensors.h"

static char g_dir[256];

static void join(char *buf, size_t len, const char *name) {
    snprintf(buf, len, "%s/%s", g_dir, name);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    remove(p);
    return 0;
}

/* Write [u64 hlen][header][data] exactly, with no padding added. */
static void write_raw_len(const char *path, uint64_t hlen, const char *hdr, size_t hdr_bytes,
                          const void *data, size_t dlen) {
    FILE *fp = fopen(path, "wb");
    if (!fp) { perror(path); exit(1); }
    unsigned char le[8];
    for (int k = 0; k < 8; k++) le[k] = (unsigned char)(hlen >> (8 * k));
    fwrite(le, 1, 8, fp);
    if (hdr_bytes) fwrite(hdr, 1, hdr_bytes, fp);
    if (dlen) fwrite(data, 1, dlen, fp);
    fclose(fp);
}

/* Plain write without fsync: the corruption loops write thousands of files. */
static void write_bytes(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    if (!fp) { perror(path); exit(1); }
    if (len) fwrite(data, 1, len, fp);
    fclose(fp);
}

static void write_raw(const char *path, const char *hdr, const void *data, size_t dlen) {
    write_raw_len(path, strlen(hdr), hdr, strlen(hdr), data, dlen);
}

static int file_equals(const char *path, const char *want, size_t wlen) {
    size_t n = 0;
    char err[512];
    char *got = fs_read_file(path, &n, err, sizeof err);
    if (!got) return 0;
    int eq = n == wlen && memcmp(got, want, n) == 0;
    free(got);
    return eq;
}

static int temp_files_left(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

/* ---- round trip ---- */

static void test_round_trip(void) {
    char path[512];
    join(path, sizeof path, "rt.safetensors");
    float a[6] = {1.5f, -2.25f, 3.0e-38f, 1e30f, -0.0f, 0.1f};
    int32_t ids[4] = {0, -1, 2147483647, -2147483647 - 1};
    float scalar = 42.0f;
    StWriteTensor w[4] = {
        {.name = "encoder.weight", .dtype = ST_F32, .ndim = 2, .shape = {2, 3}, .data = a},
        {.name = "input_ids", .dtype = ST_I32, .ndim = 1, .shape = {4}, .data = ids},
        {.name = "empty", .dtype = ST_F32, .ndim = 2, .shape = {0, 5}, .data = NULL},
        {.name = "scale", .dtype = ST_F32, .ndim = 0, .data = &scalar},
    };
    const char *meta[] = {"format", "pt", "config", "{\"hidden\": 8, \"name\": \"caf\xc3\xa9\"}", NULL};
    char err[512] = "";
    CHECKF(st_write(path, w, 4, meta, err, sizeof err) == 0, "%s", err);
    CHECK(temp_files_left() == 0);

    /* raw layout: header length a multiple of 8, padded with spaces */
    size_t n = 0;
    unsigned char *raw = (unsigned char *)fs_read_file(path, &n, err, sizeof err);
    CHECK(raw != NULL && n > 8);
    if (raw) {
        uint64_t hl = 0;
        for (int k = 0; k < 8; k++) hl |= (uint64_t)raw[k] << (8 * k);
        CHECKF(hl % 8 == 0, "header length %llu", (unsigned long long)hl);
        CHECK(raw[8] == '{');
        CHECK(8 + hl + 6 * 4 + 4 * 4 + 4 == n);
        size_t j = 8 + hl;
        while (j > 8 && raw[j - 1] == ' ') j--;
        CHECK(raw[j - 1] == '}');
        free(raw);
    }

    StFile f;
    CHECKF(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    CHECK(f.ntensors == 4);
    if (f.ntensors == 4) {
        for (int i = 0; i < 4; i++) CHECK(strcmp(f.tensors[i].name, w[i].name) == 0);
        CHECK(f.tensors[0].begin == 0);
        for (int i = 1; i < 4; i++) CHECK(f.tensors[i].begin == f.tensors[i - 1].end);
        CHECK(f.tensors[3].end == f.data_len);
    }
    const StTensor *t = st_find(&f, "encoder.weight");
    CHECK(t && t->dtype == ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 &&
          t->numel == 6 && strcmp(t->dtype_name, "F32") == 0);
    float got[6];
    if (t) {
        CHECKF(st_read_f32(&f, t, got, err, sizeof err) == 0, "%s", err);
        CHECK(memcmp(got, a, sizeof a) == 0);
        int bad[6];
        CHECK(st_read_i32(&f, t, bad, err, sizeof err) == -1);
        CHECKF(strstr(err, "encoder.weight") && strstr(err, "F32") && strstr(err, path), "%s", err);
    }
    t = st_find(&f, "input_ids");
    int gi[4];
    CHECK(t && t->dtype == ST_I32 && t->numel == 4);
    if (t) {
        CHECKF(st_read_i32(&f, t, gi, err, sizeof err) == 0, "%s", err);
        for (int i = 0; i < 4; i++) CHECK(gi[i] == ids[i]);
        CHECK(st_read_f32(&f, t, got, err, sizeof err) == -1);
        CHECKF(strstr(err, "input_ids") && strstr(err, "I32"), "%s", err);
    }
    t = st_find(&f, "empty");
    CHECK(t && t->numel == 0 && t->ndim == 2 && t->begin == t->end);
    if (t) CHECK(st_read_f32(&f, t, got, err, sizeof err) == 0);
    t = st_find(&f, "scale");
    CHECK(t && t->ndim == 0 && t->numel == 1);
    if (t && st_read_f32(&f, t, got, err, sizeof err) == 0) CHECK(got[0] == 42.0f);
    CHECK(st_find(&f, "nope") == NULL);

    char *v = st_metadata_get(&f, "config");
    CHECK(v && strcmp(v, meta[3]) == 0);
    free(v);
    v = st_metadata_get(&f, "format");
    CHECK(v && strcmp(v, "pt") == 0);
    free(v);
    CHECK(st_metadata_get(&f, "missing") == NULL);
    st_close(&f);
    st_close(&f);   /* closing twice is harmless */

    /* no metadata at all, no tensors at all */
    CHECKF(st_write(path, w, 1, NULL, err, sizeof err) == 0, "%s", err);
    CHECKF(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    CHECK(f.ntensors == 1 && f.metadata_json == NULL && st_metadata_get(&f, "format") == NULL);
    st_close(&f);
    CHECKF(st_write(path, NULL, 0, NULL, err, sizeof err) == 0, "%s", err);
    CHECKF(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    CHECK(f.ntensors == 0 && f.data_len == 0);
    st_close(&f);

    /* writer-side argument errors */
    StWriteTensor bad = {.name = "h", .dtype = ST_F16, .ndim = 1, .shape = {2}, .data = a};
    CHECK(st_write(path, &bad, 1, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "'h'"), "%s", err);
    StWriteTensor dup[2] = {w[0], w[0]};
    CHECK(st_write(path, dup, 2, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "encoder.weight") && strstr(err, "twice"), "%s", err);
    StWriteTensor neg = {.name = "neg", .dtype = ST_F32, .ndim = 1, .shape = {-3}, .data = a};
    CHECK(st_write(path, &neg, 1, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, "neg") != NULL, "%s", err);
    CHECK(temp_files_left() == 0);
}

/* ---- hand-built half / bfloat16 / int64 files ---- */

static uint32_t fbits(float x) {
    uint32_t b;
    memcpy(&b, &x, 4);
    return b;
}

static void test_half_types(void) {
    static const uint16_t h[] = {0x3C00, 0xC100, 0x7BFF, 0xFBFF, 0x0001, 0x8001, 0x03FF,
                                 0x0400, 0x7C00, 0xFC00, 0x7E00, 0x8000, 0x3555, 0x0000};
    const float hw[] = {1.0f, -2.5f, 65504.0f, -65504.0f, ldexpf(1, -24), -ldexpf(1, -24),
                        ldexpf(1023, -24), ldexpf(1, -14), INFINITY, -INFINITY, NAN, -0.0f,
                        0.333251953125f, 0.0f};
    enum { NH = sizeof h / sizeof h[0] };
    static const uint16_t b[] = {0x3F80, 0xC020, 0x7F7F, 0x0001, 0x7F80, 0xFF80, 0x7FC0, 0x4049, 0x8000};
    float bw[9];
    for (int i = 0; i < 9; i++) {
        uint32_t bits = (uint32_t)b[i] << 16;
        memcpy(&bw[i], &bits, 4);
    }
    CHECK(bw[0] == 1.0f && bw[1] == -2.5f && bw[7] == 3.140625f && isinf(bw[4]));
    const int64_t i64[] = {1, -5, 2147483647LL, -2147483647LL - 1};
    const int64_t i64bad[] = {3, 2147483648LL};
    const int32_t i32[] = {7, -7};

    unsigned char data[512];
    size_t off = 0;
    /* little-endian serialization regardless of the host */
    for (int i = 0; i < NH; i++) { data[off++] = h[i] & 0xff; data[off++] = h[i] >> 8; }
    size_t boff = off;
    for (int i = 0; i < 9; i++) { data[off++] = b[i] & 0xff; data[off++] = b[i] >> 8; }
    size_t ioff = off;   /* deliberately unaligned for 8-byte values */
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 8; k++) data[off++] = (unsigned char)((uint64_t)i64[i] >> (8 * k));
    size_t ibad = off;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 8; k++) data[off++] = (unsigned char)((uint64_t)i64bad[i] >> (8 * k));
    size_t i32off = off;
    for (int i = 0; i < 2; i++)
        for (int k = 0; k < 4; k++) data[off++] = (unsigned char)((uint32_t)i32[i] >> (8 * k));
    size_t end = off;

    char hdr[1024];
    snprintf(hdr, sizeof hdr,
             "{\"__metadata__\":{\"format\":\"pt\"},"
             "\"half\":{\"dtype\":\"F16\",\"shape\":[2,7],\"data_offsets\":[0,%zu]},"
             "\"bf\":{\"dtype\":\"BF16\",\"shape\":[9],\"data_offsets\":[%zu,%zu]},"
             "\"long\":{\"dtype\":\"I64\",\"shape\":[4],\"data_offsets\":[%zu,%zu]},"
             "\"toolong\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[%zu,%zu]},"
             "\"int\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[%zu,%zu]}}",
             boff, boff, ioff, ioff, ibad, ibad, i32off, i32off, end);
    char path[512], err[512] = "";
    join(path, sizeof path, "half.safetensors");
    write_raw(path, hdr, data, end);   /* header not padded: readers must not care */

    StFile f;
    CHECKF(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    if (f.ntensors != 5) return;
    float got[NH];
    const StTensor *t = st_find(&f, "half");
    CHECK(t && t->dtype == ST_F16 && t->numel == NH);
    CHECKF(t && st_read_f32(&f, t, got, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < NH; i++) {
        if (isnan(hw[i])) CHECKF(isnan(got[i]), "half[%d] = %g", i, got[i]);
        else CHECKF(fbits(got[i]) == fbits(hw[i]), "half[%d] 0x%04x -> %.10g, expected %.10g",
                    i, h[i], got[i], hw[i]);
    }
    t = st_find(&f, "bf");
    CHECK(t && t->dtype == ST_BF16 && t->numel == 9);
    CHECKF(t && st_read_f32(&f, t, got, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 9; i++) {
        if (isnan(bw[i])) CHECKF(isnan(got[i]), "bf[%d]", i);
        else CHECKF(fbits(got[i]) == fbits(bw[i]), "bf[%d] -> %g, expected %g", i, got[i], bw[i]);
    }
    CHECK(fpclassify(got[3]) == FP_SUBNORMAL);
    int gi[4];
    t = st_find(&f, "long");
    CHECKF(t && st_read_i32(&f, t, gi, err, sizeof err) == 0, "%s", err);
    for (int i = 0; i < 4; i++) CHECK(gi[i] == (int)i64[i]);
    CHECK(t && st_read_f32(&f, t, got, err, sizeof err) == -1);
    CHECKF(strstr(err, "'long'") && strstr(err, "I64"), "%s", err);
    t = st_find(&f, "toolong");
    CHECK(t && st_read_i32(&f, t, gi, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "toolong") && strstr(err, "2147483648"), "%s", err);
    t = st_find(&f, "int");
    CHECKF(t && st_read_i32(&f, t, gi, err, sizeof err) == 0, "%s", err);
    CHECK(gi[0] == 7 && gi[1] == -7);
    char *v = st_metadata_get(&f, "format");
    CHECK(v && strcmp(v, "pt") == 0);
    free(v);
    st_close(&f);
}

/* ---- malformed inputs ---- */

static int g_case;

/* Build a file from hdr + dlen zero bytes; st_open must fail and the
 * message must name the file and contain n1 (and n2 when given). */
static void expect_bad(const char *hdr, size_t dlen, const char *n1, const char *n2) {
    char path[512], err[1024] = "";
    char name[64];
    snprintf(name, sizeof name, "bad%02d.safetensors", g_case++);
    join(path, sizeof path, name);
    unsigned char zeros[256] = {0};
    write_raw(path, hdr, zeros, dlen);
    StFile f;
    int rc = st_open(&f, path, err, sizeof err);
    CHECKF(rc == -1, "accepted: %s", hdr);
    if (rc == 0) { st_close(&f); return; }
    CHECKF(strstr(err, path) != NULL, "message lacks the path: %s", err);
    CHECKF(strstr(err, n1) != NULL, "message lacks '%s': %s", n1, err);
    if (n2) CHECKF(strstr(err, n2) != NULL, "message lacks '%s': %s", n2, err);
    CHECK(f.tensors == NULL && f.data == NULL);
    st_close(&f);
}

#define T4(name, extra) "{\"" name "\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]" extra "}}"

static void test_malformed(void) {
    char path[512], err[1024];
    StFile f;

    /* framing */
    join(path, sizeof path, "short.safetensors");
    FILE *fp = fopen(path, "wb");
    fwrite("\x10\0\0\0\0", 1, 5, fp);
    fclose(fp);
    CHECK(st_open(&f, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "too short"), "%s", err);
    join(path, sizeof path, "empty.safetensors");
    fclose(fopen(path, "wb"));
    CHECK(st_open(&f, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "too short"), "%s", err);
    join(path, sizeof path, "nosuch.safetensors");
    CHECK(st_open(&f, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) != NULL, "%s", err);
    CHECK(st_open(&f, g_dir, err, sizeof err) == -1);
    CHECKF(strstr(err, g_dir) != NULL, "%s", err);

    const char *hdr = T4("x", "");
    join(path, sizeof path, "hlen_big.safetensors");
    write_raw_len(path, 1000, hdr, strlen(hdr), "\0\0\0\0", 4);
    CHECK(st_open(&f, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "larger than the file"), "%s", err);
    join(path, sizeof path, "hlen_absurd.safetensors");
    write_raw_len(path, 200u * 1000 * 1000, hdr, strlen(hdr), "\0\0\0\0", 4);
    CHECK(st_open(&f, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "absurd"), "%s", err);
    write_raw_len(path, UINT64_MAX, hdr, strlen(hdr), "\0\0\0\0", 4);
    CHECK(st_open(&f, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "absurd"), "%s", err);
    join(path, sizeof path, "hlen_zero.safetensors");
    write_raw_len(path, 0, "", 0, NULL, 0);
    CHECK(st_open(&f, path, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "JSON"), "%s", err);

    /* JSON level */
    expect_bad("{\"a\": ", 0, "not valid JSON", "line 1");
    expect_bad("{\"a\": 1,\n \"b\" 2}", 0, "line 2", "column");
    expect_bad("[1, 2]", 0, "not a JSON object", NULL);
    expect_bad("\"just a string\"", 0, "JSON", NULL);
    expect_bad("{\"dup_t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"dup_t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "dup_t", "duplicate");
    expect_bad("{\"t\":{\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
               "dtype", "duplicate");

    /* metadata */
    expect_bad("{\"__metadata__\": [1]}", 0, "__metadata__", NULL);
    expect_bad("{\"__metadata__\": {\"epoch\": 3}}", 0, "__metadata__", "epoch");

    /* tensor entries: presence and JSON types */
    expect_bad("{\"t_str\": \"hello\"}", 0, "t_str", "not a JSON object");
    expect_bad("{\"t_nodt\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "t_nodt", "dtype");
    expect_bad("{\"t_nosh\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "t_nosh", "shape");
    expect_bad("{\"t_nooff\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "t_nooff", "data_offsets");
    expect_bad("{\"t_dtnum\":{\"dtype\":5,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "t_dtnum", "dtype");
    expect_bad("{\"t_shstr\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4, "t_shstr", "shape");
    expect_bad("{\"t_shel\":{\"dtype\":\"F32\",\"shape\":[1,\"a\"],\"data_offsets\":[0,4]}}", 4, "t_shel", "shape");
    expect_bad("{\"t_offobj\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{}}}", 4, "t_offobj", "data_offsets");
    expect_bad("{\"t_off3\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "t_off3", "data_offsets");
    expect_bad("{\"t_offstr\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[\"0\",4]}}", 4, "t_offstr", "data_offsets");
    expect_bad("{\"t_offneg\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[-4,-4]}}", 4, "t_offneg", "negative");
    expect_bad("{\"t_offbig\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e30]}}", 4, "t_offbig", "data_offsets");

    /* shapes */
    expect_bad("{\"t_neg\":{\"dtype\":\"F32\",\"shape\":[-1,4],\"data_offsets\":[0,4]}}", 4, "t_neg", "negative");
    expect_bad("{\"t_frac\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,4]}}", 4, "t_frac", "integer");
    expect_bad("{\"t_real\":{\"dtype\":\"F32\",\"shape\":[1.0],\"data_offsets\":[0,4]}}", 4, "t_real", "integer");
    expect_bad("{\"t_9d\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
               "t_9d", "dimensions");
    expect_bad("{\"t_ovf\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
               "\"data_offsets\":[0,4]}}", 4, "t_ovf", "overflow");
    expect_bad("{\"t_ovf2\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904],"
               "\"data_offsets\":[0,4]}}", 4, "t_ovf2", "overflow");
    expect_bad("{\"t_ovf3\":{\"dtype\":\"I64\",\"shape\":[2305843009213693952,8],"
               "\"data_offsets\":[0,0]}}", 4, "t_ovf3", "overflow");

    /* offsets against sizes and the data section */
    expect_bad("{\"t_size\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 16, "t_size", "12 bytes");
    expect_bad("{\"t_u8\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,4]}}", 4, "t_u8", "U8");
    expect_bad("{\"t_rev\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8, "t_rev", "begin");
    expect_bad("{\"t_past\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, "t_past", "beyond");
    expect_bad("{\"ov_a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"ov_b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 16, "ov_a", "ov_b");
    expect_bad("{\"ov_c\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
               "\"ov_z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
               "\"ov_d\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 16, "ov_c", "ov_d");
    expect_bad("{\"ov_e\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"ov_f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8, "overlap", "ov_");

    /* unknown and unsupported dtypes open, but do not convert */
    join(path, sizeof path, "other.safetensors");
    write_raw(path, "{\"fp8\":{\"dtype\":\"F8_E4M3\",\"shape\":[4],\"data_offsets\":[0,4]},"
                    "\"weird\":{\"dtype\":\"COMPLEX_THING\",\"shape\":[3],\"data_offsets\":[4,9]}}",
              "abcdefghi", 9);
    int rc = st_open(&f, path, err, sizeof err);
    CHECKF(rc == 0, "%s", err);
    if (rc == 0) {
        const StTensor *t = st_find(&f, "fp8");
        float out[4];
        int iout[4];
        CHECK(t && t->dtype == ST_OTHER && strcmp(t->dtype_name, "F8_E4M3") == 0);
        CHECK(t && st_read_f32(&f, t, out, err, sizeof err) == -1);
        CHECKF(strstr(err, "fp8") && strstr(err, "F8_E4M3"), "%s", err);
        t = st_find(&f, "weird");
        CHECK(t && t->dtype == ST_OTHER && strlen(t->dtype_name) == 7);
        CHECK(t && st_read_i32(&f, t, iout, err, sizeof err) == -1);
        CHECKF(strstr(err, "weird") && strstr(err, "COMPLEX"), "%s", err);
        st_close(&f);
    }
}

/* Every truncation of a valid file, and many random corruptions of it,
 * must be handled without reading out of bounds (run under ASan to see). */
static void test_corruption(void) {
    char path[512], bad[512], err[1024];
    join(path, sizeof path, "good.safetensors");
    join(bad, sizeof bad, "corrupt.safetensors");
    float a[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    int32_t b[3] = {1, 2, 3};
    StWriteTensor w[2] = {
        {.name = "a", .dtype = ST_F32, .ndim = 2, .shape = {2, 4}, .data = a},
        {.name = "b", .dtype = ST_I32, .ndim = 1, .shape = {3}, .data = b},
    };
    const char *meta[] = {"k", "v", NULL};
    CHECKF(st_write(path, w, 2, meta, err, sizeof err) == 0, "%s", err);
    size_t n = 0;
    char *good = fs_read_file(path, &n, err, sizeof err);
    if (!good) { CHECK(0); return; }
    StFile f;
    int accepted = 0;
    for (size_t len = 0; len < n; len++) {
        write_bytes(bad, good, len);
        if (st_open(&f, bad, err, sizeof err) == 0) { accepted++; st_close(&f); }
        else CHECK(strstr(err, bad) != NULL);
    }
    CHECKF(accepted == 0, "%d truncations accepted", accepted);

    uint64_t rng = 12345;
    char *buf = malloc(n);
    float *fo = malloc(1 << 22);
    int *io = malloc(1 << 22);
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(buf, good, n);
        int flips = 1 + (int)(test_rand_u64(&rng) % 4);
        for (int k = 0; k < flips; k++) {
            size_t pos = test_rand_u64(&rng) % n;
            if (test_rand_u64(&rng) % 2) buf[pos] ^= (char)(1u << (test_rand_u64(&rng) % 8));
            else buf[pos] = "0123456789[]{},:\"-.e "[test_rand_u64(&rng) % 21];
        }
        size_t len = n - (size_t)(test_rand_u64(&rng) % 3);
        write_bytes(bad, buf, len);
        if (st_open(&f, bad, err, sizeof err) != 0) continue;
        for (int i = 0; i < f.ntensors; i++) {
            const StTensor *t = &f.tensors[i];
            CHECK(t->begin <= t->end && t->end <= f.data_len);
            if (t->numel > (1 << 20)) continue;
            st_read_f32(&f, t, fo, err, sizeof err);
            st_read_i32(&f, t, io, err, sizeof err);
        }
        free(st_metadata_get(&f, "k"));
        st_close(&f);
    }
    free(buf);
    free(fo);
    free(io);
    free(good);
}

/* ---- failures while writing ---- */

static void test_write_failures(void) {
    char path[1024], err[1024] = "";
    float a[4] = {1, 2, 3, 4};
    StWriteTensor w = {.name = "w", .dtype = ST_F32, .ndim = 1, .shape = {4}, .data = a};

    /* a folder that does not exist */
    join(path, sizeof path, "no/such/dir/model.safetensors");
    CHECK(st_write(path, &w, 1, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "No such file"), "%s", err);

    /* 1: the temporary name is too long for the file system (fails as root too) */
    char name[251];
    memset(name, 'n', 247);
    memcpy(name + 247, ".st", 4);
    join(path, sizeof path, name);
    const char old[] = "old contents, not a safetensors file\n";
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (fp) {
        fwrite(old, 1, sizeof old - 1, fp);
        fclose(fp);
        CHECK(st_write(path, &w, 1, NULL, err, sizeof err) == -1);
        CHECKF(strstr(err, path) && strstr(err, "too long"), "%s", err);
        CHECK(file_equals(path, old, sizeof old - 1));
        CHECK(fs_write_atomic(path, "x", 1, err, sizeof err) == -1);
        CHECK(file_equals(path, old, sizeof old - 1));
        unlink(path);
    }

    /* 2: the data does not fit (file size limit: EFBIG mid-stream, as root too) */
    join(path, sizeof path, "keep.safetensors");
    CHECKF(st_write(path, &w, 1, NULL, err, sizeof err) == 0, "%s", err);
    size_t olen = 0;
    char *before = fs_read_file(path, &olen, err, sizeof err);
    CHECK(before != NULL);
    enum { BIG = 100000 };
    float *big = calloc(BIG, sizeof(float));
    StWriteTensor wb[2] = {w, {.name = "big", .dtype = ST_F32, .ndim = 1, .shape = {BIG}, .data = big}};
    struct rlimit saved, lim;
    void (*oldsig)(int) = signal(SIGXFSZ, SIG_IGN);
    if (before && big && getrlimit(RLIMIT_FSIZE, &saved) == 0) {
        lim = saved;
        lim.rlim_cur = 64 * 1024;
        if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
            int rc = st_write(path, wb, 2, NULL, err, sizeof err);
            setrlimit(RLIMIT_FSIZE, &saved);
            CHECK(rc == -1);
            CHECKF(strstr(err, path) && strstr(err, "too large"), "%s", err);
            CHECK(file_equals(path, before, olen));
            CHECK(temp_files_left() == 0);
        }
    }
    signal(SIGXFSZ, oldsig);
    /* and without the limit the same write succeeds */
    CHECKF(st_write(path, wb, 2, NULL, err, sizeof err) == 0, "%s", err);
    StFile f;
    CHECKF(st_open(&f, path, err, sizeof err) == 0, "%s", err);
    CHECK(f.ntensors == 2 && st_find(&f, "big") && st_find(&f, "big")->numel == BIG);
    st_close(&f);
    free(before);
    free(big);

    /* 3: rename fails (target is a non-empty folder): temporary removed */
    join(path, sizeof path, "adir");
    char inner[1100];
    snprintf(inner, sizeof inner, "%s/x", path);
    CHECK(fs_mkdir_p(path, err, sizeof err) == 0);
    CHECK(fs_write_atomic(inner, "x", 1, err, sizeof err) == 0);
    CHECK(st_write(path, &w, 1, NULL, err, sizeof err) == -1);
    CHECKF(strstr(err, path) && strstr(err, "renam"), "%s", err);
    CHECK(temp_files_left() == 0);
    CHECK(file_equals(inner, "x", 1));
}

/* ---- fsutil ---- */

static void test_fsutil(void) {
    char path[512], p2[600], err[1024] = "";
    join(path, sizeof path, "fs/a/b//c/");
    CHECKF(fs_mkdir_p(path, err, sizeof err) == 0, "%s", err);
    CHECKF(fs_mkdir_p(path, err, sizeof err) == 0, "%s", err);   /* exists: fine */
    struct stat st;
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
    snprintf(p2, sizeof p2, "%sfile.txt", path);
    CHECKF(fs_write_atomic(p2, "hello", 5, err, sizeof err) == 0, "%s", err);
    size_t n = 99;
    char *s = fs_read_file(p2, &n, err, sizeof err);
    CHECK(s && n == 5 && strcmp(s, "hello") == 0);
    free(s);
    CHECKF(fs_write_atomic(p2, "", 0, err, sizeof err) == 0, "%s", err);
    s = fs_read_file(p2, NULL, err, sizeof err);
    CHECK(s && s[0] == '\0');
    free(s);
    CHECK(fs_read_file(path, &n, err, sizeof err) == NULL);   /* a folder */
    CHECKF(strstr(err, path) != NULL, "%s", err);
    char sub[700];
    snprintf(sub, sizeof sub, "%s/deeper", p2);
    CHECK(fs_mkdir_p(sub, err, sizeof err) == -1);   /* through a file */
    CHECKF(strstr(err, sub) && strstr(err, "not a folder"), "%s", err);
    join(path, sizeof path, "missing.txt");
    CHECK(fs_read_file(path, &n, err, sizeof err) == NULL);
    CHECKF(strstr(err, path) && strstr(err, "No such file"), "%s", err);
    s = fs_read_file("/proc/self/status", &n, err, sizeof err);   /* size 0 in stat */
    if (s) CHECK(n > 0 && strlen(s) == n);
    free(s);
    CHECK(fs_fsync_dir(g_dir) == 0);
    join(path, sizeof path, "no/such");
    CHECK(fs_fsync_dir(path) == -1);
    CHECK(temp_files_left() == 0);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/test_safetensors_XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_half_types();
    test_malformed();
    test_corruption();
    test_write_failures();
    test_fsutil();
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return test_finish("test_safetensors");
}
