/* safetensors.c — reader (mmap + full validation) and atomic writer for the
 * safetensors format: u64 little-endian header length N, N bytes of JSON
 * header, then the data section that the header's data_offsets point into.
 * The header JSON is parsed and produced with jansson. */
#include "trainer/store/safetensors.h"
#include "util/errmsg.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "st_write stores host memory as is; safetensors data is little-endian"
#endif

/* A header beyond this is not a real checkpoint but a corrupt length field. */
#define ST_MAX_HEADER ((uint64_t)100 * 1000 * 1000)


/* ---- dtypes ---- */

typedef struct {
    const char *name;
    StDtype dtype;
    int bits;   /* per element; F4 / F6 types are sub-byte */
} DtypeInfo;

static const DtypeInfo k_dtypes[] = {
    {"F32", ST_F32, 32},   {"F16", ST_F16, 16},     {"BF16", ST_BF16, 16},
    {"I32", ST_I32, 32},   {"I64", ST_I64, 64},
    /* known to the format but not converted here: opened as ST_OTHER */
    {"F64", ST_OTHER, 64}, {"U64", ST_OTHER, 64},   {"C64", ST_OTHER, 64},
    {"U32", ST_OTHER, 32}, {"I16", ST_OTHER, 16},   {"U16", ST_OTHER, 16},
    {"I8", ST_OTHER, 8},   {"U8", ST_OTHER, 8},     {"BOOL", ST_OTHER, 8},
    {"F8_E4M3", ST_OTHER, 8}, {"F8_E5M2", ST_OTHER, 8}, {"F8_E8M0", ST_OTHER, 8},
    {"F6_E2M3", ST_OTHER, 6}, {"F6_E3M2", ST_OTHER, 6}, {"F4", ST_OTHER, 4},
};

/* bits per element, 0 for a dtype this code has never heard of */
static int dtype_lookup(const char *name, StDtype *dt) {
    for (size_t i = 0; i < sizeof k_dtypes / sizeof k_dtypes[0]; i++)
        if (strcmp(k_dtypes[i].name, name) == 0) {
            *dt = k_dtypes[i].dtype;
            return k_dtypes[i].bits;
        }
    *dt = ST_OTHER;
    return 0;
}

static int dtype_bytes(StDtype dt) {
    switch (dt) {
    case ST_F32: case ST_I32: return 4;
    case ST_F16: case ST_BF16: return 2;
    case ST_I64: return 8;
    default: return 0;
    }
}

/* ---- little-endian loads that are safe at any alignment ---- */

static inline uint16_t ld16(const unsigned char *p) {
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t ld32(const unsigned char *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t ld64(const unsigned char *p) {
    return (uint64_t)ld32(p) | ((uint64_t)ld32(p + 4) << 32);
}
static inline float f32_from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

/* IEEE binary16 -> binary32, exact for every input (every half is a float). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {                       /* inf, or nan keeping its payload */
        bits = sign | 0x7f800000u | (mant << 13);
    } else if (exp != 0) {                   /* normal: rebias 15 -> 127 */
        bits = sign | ((exp + 112u) << 23) | (mant << 13);
    } else if (mant == 0) {                  /* signed zero */
        bits = sign;
    } else {                                 /* subnormal mant * 2^-24: normalize */
        uint32_t e = 113;                    /* float exponent field of 2^-14 */
        while (!(mant & 0x400u)) {
            mant <<= 1;
            e--;
        }
        bits = sign | (e << 23) | ((mant & 0x3ffu) << 13);
    }
    return f32_from_bits(bits);
}

/* ---- open / validate ---- */

static void st_zero(StFile *f) {
    memset(f, 0, sizeof *f);
}

void st_close(StFile *f) {
    if (!f) return;
    if (f->tensors)
        for (int i = 0; i < f->ntensors; i++) free(f->tensors[i].name);
    free(f->tensors);
    free(f->metadata_json);
    free(f->path);
    if (f->map_base) {
        if (f->map_len) munmap(f->map_base, f->map_len);
        else free(f->map_base);   /* read into memory (not a regular file) */
    }
    st_zero(f);
}

/* Map (or, for pipes and the like, read) the whole file. */
static int load_bytes(StFile *f, const char *path, const unsigned char **bytes, size_t *size,
                      char *err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        seterr(err, errlen, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        seterr(err, errlen, "%s: is a folder, not a safetensors file", path);
        close(fd);
        return -1;
    }
    if (S_ISREG(st.st_mode)) {
        if (st.st_size < 8) {
            seterr(err, errlen, "%s: file too short (%lld bytes; a safetensors file starts with "
                   "an 8-byte header length)", path, (long long)st.st_size);
            close(fd);
            return -1;
        }
        if ((unsigned long long)st.st_size > (unsigned long long)SIZE_MAX) {
            seterr(err, errlen, "%s: file too large to map", path);
            close(fd);
            return -1;
        }
        size_t n = (size_t)st.st_size;
        void *m = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m == MAP_FAILED) {
            seterr(err, errlen, "%s: mmap failed: %s", path, strerror(errno));
            close(fd);
            return -1;
        }
        close(fd);
        f->map_base = m;
        f->map_len = n;
        *bytes = m;
        *size = n;
        return 0;
    }
    close(fd);
    size_t n = 0;
    char *buf = fs_read_file(path, &n, err, errlen);
    if (!buf) return -1;
    f->map_base = buf;
    f->map_len = 0;
    *bytes = (const unsigned char *)buf;
    *size = n;
    if (n < 8) {
        seterr(err, errlen, "%s: file too short (%zu bytes; a safetensors file starts with "
               "an 8-byte header length)", path, n);
        return -1;
    }
    return 0;
}

static int parse_metadata(StFile *f, json_t *meta, char *err, size_t errlen) {
    if (!json_is_object(meta)) {
        seterr(err, errlen, "%s: __metadata__ is not a JSON object", f->path);
        return -1;
    }
    const char *k;
    json_t *v;
    json_object_foreach(meta, k, v) {
        if (!json_is_string(v)) {
            seterr(err, errlen, "%s: __metadata__ entry '%s' is not a string", f->path, k);
            return -1;
        }
    }
    f->metadata_json = json_dumps(meta, JSON_COMPACT);
    if (!f->metadata_json) {
        seterr(err, errlen, "%s: out of memory", f->path);
        return -1;
    }
    return 0;
}

/* Fill t from one header entry; name is already set. */
static int parse_tensor(const StFile *f, StTensor *t, json_t *v, char *err, size_t errlen) {
    const char *path = f->path, *name = t->name;
    if (!json_is_object(v)) {
        seterr(err, errlen, "%s: tensor '%s': entry is not a JSON object", path, name);
        return -1;
    }
    json_t *jd = json_object_get(v, "dtype");
    json_t *js = json_object_get(v, "shape");
    json_t *jo = json_object_get(v, "data_offsets");
    if (!jd) { seterr(err, errlen, "%s: tensor '%s': missing \"dtype\"", path, name); return -1; }
    if (!js) { seterr(err, errlen, "%s: tensor '%s': missing \"shape\"", path, name); return -1; }
    if (!jo) { seterr(err, errlen, "%s: tensor '%s': missing \"data_offsets\"", path, name); return -1; }

    /* dtype */
    if (!json_is_string(jd)) {
        seterr(err, errlen, "%s: tensor '%s': \"dtype\" is not a string", path, name);
        return -1;
    }
    const char *ds = json_string_value(jd);
    int bits = dtype_lookup(ds, &t->dtype);
    snprintf(t->dtype_name, sizeof t->dtype_name, "%s", ds);

    /* shape */
    if (!json_is_array(js)) {
        seterr(err, errlen, "%s: tensor '%s': \"shape\" is not an array", path, name);
        return -1;
    }
    size_t nd = json_array_size(js);
    if (nd > 8) {
        seterr(err, errlen, "%s: tensor '%s': \"shape\" has %zu dimensions (at most 8 supported)",
               path, name, nd);
        return -1;
    }
    t->ndim = (int)nd;
    int64_t numel = 1;
    for (size_t i = 0; i < nd; i++) {
        json_t *d = json_array_get(js, i);
        if (!json_is_integer(d)) {
            seterr(err, errlen, "%s: tensor '%s': \"shape\"[%zu] is not an integer", path, name, i);
            return -1;
        }
        json_int_t dv = json_integer_value(d);
        if (dv < 0) {
            seterr(err, errlen, "%s: tensor '%s': \"shape\"[%zu] is negative (%lld)",
                   path, name, i, (long long)dv);
            return -1;
        }
        t->shape[i] = (int64_t)dv;
        if (dv != 0 && numel > INT64_MAX / (int64_t)dv) {
            seterr(err, errlen, "%s: tensor '%s': \"shape\" element count overflows 64 bits",
                   path, name);
            return -1;
        }
        numel *= (int64_t)dv;
    }
    t->numel = numel;

    /* data_offsets */
    if (!json_is_array(jo) || json_array_size(jo) != 2) {
        seterr(err, errlen, "%s: tensor '%s': \"data_offsets\" is not an array [begin, end]",
               path, name);
        return -1;
    }
    json_t *jb = json_array_get(jo, 0), *je = json_array_get(jo, 1);
    if (!json_is_integer(jb) || !json_is_integer(je)) {
        seterr(err, errlen, "%s: tensor '%s': \"data_offsets\" are not integers", path, name);
        return -1;
    }
    json_int_t b = json_integer_value(jb), e = json_integer_value(je);
    if (b < 0 || e < 0) {
        seterr(err, errlen, "%s: tensor '%s': \"data_offsets\" [%lld, %lld] are negative",
               path, name, (long long)b, (long long)e);
        return -1;
    }
    if (b > e) {
        seterr(err, errlen, "%s: tensor '%s': \"data_offsets\" begin %lld > end %lld",
               path, name, (long long)b, (long long)e);
        return -1;
    }
    if ((unsigned long long)e > (unsigned long long)f->data_len) {
        seterr(err, errlen, "%s: tensor '%s': \"data_offsets\" end %lld is beyond the data "
               "section (%zu bytes)", path, name, (long long)e, f->data_len);
        return -1;
    }
    t->begin = (size_t)b;
    t->end = (size_t)e;

    /* size agreement (unknown dtypes have no known element size) */
    if (bits > 0) {
        uint64_t un = (uint64_t)numel;
        if (un > UINT64_MAX / (uint64_t)bits) {
            seterr(err, errlen, "%s: tensor '%s': byte size of shape overflows 64 bits", path, name);
            return -1;
        }
        uint64_t tbits = un * (uint64_t)bits;
        uint64_t have = (uint64_t)(t->end - t->begin);
        if (tbits % 8 != 0 || tbits / 8 != have) {
            seterr(err, errlen, "%s: tensor '%s': dtype %s with %lld elements needs %llu %s "
                   "but \"data_offsets\" [%zu, %zu] span %llu bytes", path, name, t->dtype_name,
                   (long long)numel, (unsigned long long)(tbits % 8 ? tbits : tbits / 8),
                   tbits % 8 ? "bits" : "bytes", t->begin, t->end, (unsigned long long)have);
            return -1;
        }
    }
    return 0;
}

static int cmp_begin(const void *a, const void *b) {
    const StTensor *x = *(const StTensor *const *)a, *y = *(const StTensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int check_overlaps(const StFile *f, char *err, size_t errlen) {
    if (f->ntensors < 2) return 0;
    const StTensor **order = malloc((size_t)f->ntensors * sizeof *order);
    if (!order) {
        seterr(err, errlen, "%s: out of memory", f->path);
        return -1;
    }
    for (int i = 0; i < f->ntensors; i++) order[i] = &f->tensors[i];
    qsort(order, (size_t)f->ntensors, sizeof *order, cmp_begin);
    const StTensor *last = NULL;   /* the non-empty range reaching furthest so far */
    int rc = 0;
    for (int i = 0; i < f->ntensors; i++) {
        const StTensor *t = order[i];
        if (t->begin == t->end) continue;   /* empty ranges hold no bytes */
        if (last && t->begin < last->end) {
            seterr(err, errlen, "%s: tensors '%s' and '%s' overlap: \"data_offsets\" [%zu, %zu] "
                   "and [%zu, %zu]", f->path, last->name, t->name,
                   last->begin, last->end, t->begin, t->end);
            rc = -1;
            break;
        }
        if (!last || t->end > last->end) last = t;
    }
    free(order);
    return rc;
}

int st_open(StFile *f, const char *path, char *err, size_t errlen) {
    st_zero(f);
    if (!path) {
        seterr(err, errlen, "(null path): no safetensors file given");
        return -1;
    }
    f->path = strdup(path);
    if (!f->path) {
        seterr(err, errlen, "%s: out of memory", path);
        return -1;
    }
    const unsigned char *bytes = NULL;
    size_t size = 0;
    json_t *root = NULL;
    if (load_bytes(f, path, &bytes, &size, err, errlen)) goto fail;

    uint64_t hlen = ld64(bytes);
    if (hlen > ST_MAX_HEADER) {
        seterr(err, errlen, "%s: header length %llu is absurd (limit %llu bytes): not a "
               "safetensors file, or corrupt", path, (unsigned long long)hlen,
               (unsigned long long)ST_MAX_HEADER);
        goto fail;
    }
    if (hlen > (uint64_t)(size - 8)) {
        seterr(err, errlen, "%s: header length %llu is larger than the file (%zu bytes after "
               "the length field): truncated or not a safetensors file", path,
               (unsigned long long)hlen, size - 8);
        goto fail;
    }
    f->data = (unsigned char *)bytes + 8 + hlen;
    f->data_len = size - 8 - (size_t)hlen;

    json_error_t jerr;
    root = json_loadb((const char *)bytes + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        const char *what = "is not valid JSON";
#if JANSSON_VERSION_HEX >= 0x020b00
        if (json_error_code(&jerr) == json_error_duplicate_key) what = "has a duplicate key";
#endif
        seterr(err, errlen, "%s: header %s (line %d, column %d): %s",
               path, what, jerr.line, jerr.column, jerr.text);
        goto fail;
    }
    if (!json_is_object(root)) {
        seterr(err, errlen, "%s: header is not a JSON object", path);
        goto fail;
    }

    size_t nkeys = json_object_size(root);
    json_t *meta = json_object_get(root, "__metadata__");
    size_t nt = nkeys - (meta ? 1 : 0);
    if (nt > (size_t)INT_MAX) {
        seterr(err, errlen, "%s: too many tensors (%zu)", path, nt);
        goto fail;
    }
    if (meta && parse_metadata(f, meta, err, errlen)) goto fail;
    f->tensors = calloc(nt ? nt : 1, sizeof *f->tensors);
    if (!f->tensors) {
        seterr(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) continue;
        StTensor *t = &f->tensors[f->ntensors];
        t->name = strdup(key);
        if (!t->name) {
            seterr(err, errlen, "%s: out of memory", path);
            goto fail;
        }
        f->ntensors++;
        if (parse_tensor(f, t, val, err, errlen)) goto fail;
    }
    if (check_overlaps(f, err, errlen)) goto fail;
    json_decref(root);
    return 0;

fail:
    json_decref(root);
    st_close(f);
    return -1;
}

const StTensor *st_find(const StFile *f, const char *name) {
    if (!f || !name) return NULL;
    for (int i = 0; i < f->ntensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

/* Guard against a tensor that did not come from this file's validation. */
static int check_range(const StFile *f, const StTensor *t, char *err, size_t errlen) {
    int isz = dtype_bytes(t->dtype);
    if (t->numel < 0 || t->begin > t->end || t->end > f->data_len ||
        (uint64_t)t->numel > (uint64_t)SIZE_MAX / (uint64_t)isz ||
        (size_t)t->numel * (size_t)isz != t->end - t->begin) {
        seterr(err, errlen, "%s: tensor '%s': byte range [%zu, %zu] does not match %lld %s "
               "elements within the data section", f->path ? f->path : "(null)",
               t->name ? t->name : "(null)", t->begin, t->end, (long long)t->numel, t->dtype_name);
        return -1;
    }
    return 0;
}

int st_read_f32(const StFile *f, const StTensor *t, float *out, char *err, size_t errlen) {
    if (!f || !t) {
        seterr(err, errlen, "st_read_f32: no file or tensor");
        return -1;
    }
    if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
        seterr(err, errlen, "%s: tensor '%s' has dtype %s; expected a float type (F32, F16 "
               "or BF16)", f->path, t->name, t->dtype_name);
        return -1;
    }
    if (check_range(f, t, err, errlen)) return -1;
    const unsigned char *p = f->data + t->begin;
    size_t n = (size_t)t->numel;
    switch (t->dtype) {
    case ST_F32:
        memcpy(out, p, n * sizeof(float));   /* little-endian host, see the #error above */
        break;
    case ST_F16:
        for (size_t i = 0; i < n; i++) out[i] = half_to_float(ld16(p + 2 * i));
        break;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) out[i] = f32_from_bits((uint32_t)ld16(p + 2 * i) << 16);
        break;
    default:
        break;
    }
    return 0;
}

int st_read_i32(const StFile *f, const StTensor *t, int *out, char *err, size_t errlen) {
    if (!f || !t) {
        seterr(err, errlen, "st_read_i32: no file or tensor");
        return -1;
    }
    if (t->dtype != ST_I32 && t->dtype != ST_I64) {
        seterr(err, errlen, "%s: tensor '%s' has dtype %s; expected an integer type (I32 or I64)",
               f->path, t->name, t->dtype_name);
        return -1;
    }
    if (check_range(f, t, err, errlen)) return -1;
    const unsigned char *p = f->data + t->begin;
    size_t n = (size_t)t->numel;
    if (t->dtype == ST_I32) {
        for (size_t i = 0; i < n; i++) out[i] = (int)(int32_t)ld32(p + 4 * i);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t v = (int64_t)ld64(p + 8 * i);
        if (v < INT_MIN || v > INT_MAX) {
            seterr(err, errlen, "%s: tensor '%s': I64 value %lld at index %zu does not fit in int",
                   f->path, t->name, (long long)v, i);
            return -1;
        }
        out[i] = (int)v;
    }
    return 0;
}

char *st_metadata_get(const StFile *f, const char *key) {
    if (!f || !key || !f->metadata_json) return NULL;
    json_t *m = json_loads(f->metadata_json, 0, NULL);
    if (!m) return NULL;
    json_t *v = json_object_get(m, key);
    char *s = json_is_string(v) ? strdup(json_string_value(v)) : NULL;
    json_decref(m);
    return s;
}

/* ---- writing ---- */

int st_write(const char *path, const StWriteTensor *tensors, int ntensors,
             const char *const *metadata, char *err, size_t errlen) {
    if (!path || !*path) {
        seterr(err, errlen, "(empty path): st_write needs a file name");
        return -1;
    }
    if (ntensors < 0 || (ntensors > 0 && !tensors)) {
        seterr(err, errlen, "%s: st_write given %d tensors", path, ntensors);
        return -1;
    }
    json_t *root = json_object();
    char *hdr = NULL;
    size_t *nbytes = calloc((size_t)ntensors + 1, sizeof *nbytes);
    if (!root || !nbytes) {
        seterr(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    if (metadata) {
        json_t *m = json_object();
        if (!m || json_object_set_new(root, "__metadata__", m)) {
            seterr(err, errlen, "%s: out of memory", path);
            goto fail;
        }
        for (size_t i = 0; metadata[i]; i += 2) {
            if (!metadata[i + 1]) {
                seterr(err, errlen, "%s: metadata key '%s' has no value", path, metadata[i]);
                goto fail;
            }
            json_t *s = json_string(metadata[i + 1]);
            if (!s) {
                seterr(err, errlen, "%s: metadata '%s': value is not valid UTF-8", path, metadata[i]);
                goto fail;
            }
            if (json_object_set_new(m, metadata[i], s)) {
                seterr(err, errlen, "%s: metadata key '%s' is not valid UTF-8", path, metadata[i]);
                goto fail;
            }
        }
    }
    uint64_t off = 0;
    for (int i = 0; i < ntensors; i++) {
        const StWriteTensor *t = &tensors[i];
        const char *name = t->name ? t->name : "(null)";
        if (!t->name || !*t->name || strcmp(t->name, "__metadata__") == 0) {
            seterr(err, errlen, "%s: tensor %d: invalid name '%s'", path, i, name);
            goto fail;
        }
        if (json_object_get(root, t->name)) {
            seterr(err, errlen, "%s: tensor '%s' given twice", path, name);
            goto fail;
        }
        if (t->dtype != ST_F32 && t->dtype != ST_I32) {
            seterr(err, errlen, "%s: tensor '%s': st_write writes only F32 and I32", path, name);
            goto fail;
        }
        if (t->ndim < 0 || t->ndim > 8) {
            seterr(err, errlen, "%s: tensor '%s': ndim %d (0 to 8 supported)", path, name, t->ndim);
            goto fail;
        }
        json_t *shape = json_array();
        json_t *ent = json_object();
        json_t *offs = json_array();
        if (!shape || !ent || !offs) {
            json_decref(shape); json_decref(ent); json_decref(offs);
            seterr(err, errlen, "%s: out of memory", path);
            goto fail;
        }
        uint64_t numel = 1;
        int bad = 0;
        for (int d = 0; d < t->ndim && !bad; d++) {
            int64_t dv = t->shape[d];
            if (dv < 0) bad = 1;
            else if (dv != 0 && numel > ((uint64_t)1 << 60) / (uint64_t)dv) bad = 2;
            else {
                numel *= (uint64_t)dv;
                json_array_append_new(shape, json_integer((json_int_t)dv));
            }
        }
        uint64_t nb = numel * 4;
        if (!bad && (nb > SIZE_MAX || off + nb > ((uint64_t)1 << 62))) bad = 2;
        if (bad) {
            json_decref(shape); json_decref(ent); json_decref(offs);
            seterr(err, errlen, "%s: tensor '%s': %s", path, name,
                   bad == 1 ? "negative dimension in shape" : "shape too large");
            goto fail;
        }
        if (nb > 0 && !t->data) {
            json_decref(shape); json_decref(ent); json_decref(offs);
            seterr(err, errlen, "%s: tensor '%s': no data", path, name);
            goto fail;
        }
        json_array_append_new(offs, json_integer((json_int_t)off));
        json_array_append_new(offs, json_integer((json_int_t)(off + nb)));
        json_object_set_new(ent, "dtype", json_string(t->dtype == ST_F32 ? "F32" : "I32"));
        json_object_set_new(ent, "shape", shape);
        json_object_set_new(ent, "data_offsets", offs);
        if (json_object_set_new(root, t->name, ent)) {
            seterr(err, errlen, "%s: tensor '%s': name is not valid UTF-8", path, name);
            goto fail;
        }
        nbytes[i] = (size_t)nb;
        off += nb;
    }

    hdr = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!hdr) {
        seterr(err, errlen, "%s: out of memory (header JSON)", path);
        goto fail;
    }
    size_t hl = strlen(hdr);
    size_t padded = (hl + 7) & ~(size_t)7;
    char *h2 = realloc(hdr, padded + 8);
    if (!h2) {
        seterr(err, errlen, "%s: out of memory (header JSON)", path);
        goto fail;
    }
    hdr = h2;
    /* prefix + header + padding in one buffer: one write */
    memmove(hdr + 8, hdr, hl);
    memset(hdr + 8 + hl, ' ', padded - hl);
    for (int k = 0; k < 8; k++) hdr[k] = (char)(((uint64_t)padded >> (8 * k)) & 0xffu);

    FsAtomicFile af;
    if (fs_atomic_begin(&af, path, err, errlen)) goto fail;
    if (fs_atomic_write(&af, hdr, padded + 8, err, errlen)) goto fail;
    for (int i = 0; i < ntensors; i++)
        if (nbytes[i] && fs_atomic_write(&af, tensors[i].data, nbytes[i], err, errlen)) goto fail;
    if (fs_atomic_commit(&af, err, errlen)) goto fail;

    free(hdr);
    free(nbytes);
    json_decref(root);
    return 0;

fail:   /* the atomic writer has already removed its temporary file */
    free(hdr);
    free(nbytes);
    json_decref(root);
    return -1;
}
