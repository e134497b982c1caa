/* shard.c — HDF5 shard writer and range reader (layout in shard.h and
 * docs/data-format.md). Every HDF5 call is checked; messages name the file
 * and the dataset or attribute. */
#include "data/shard.h"
#include "util/errmsg.h"
#include "util/fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* HDF5 prints its own error stack by default; our messages say more.
 * No atexit clean-up by HDF5 either: after a failed H5Fclose (a full disk,
 * "File too large") HDF5 1.10's exit handler closes the half-closed file
 * again and crashes (SIGSEGV in H5F__close_cb), turning a named write error
 * into a segfault. Every file is closed explicitly here. */
static void h5_quiet(void) {
    static int once;
    if (!once) {
        once = 1;
        H5dont_atexit(); /* effective only before the library's first use */
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* The message of the innermost HDF5 error, for "... (HDF5: ...)". */
static herr_t h5_walk(unsigned n, const H5E_error2_t *e, void *data) {
    if (n == 0) snprintf((char *)data, 160, "%s", e->desc ? e->desc : "");
    return 0;
}
static const char *h5_msg(char *buf) {
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, h5_walk, buf);
    if (!buf[0]) snprintf(buf, 160, "unknown error");
    return buf;
}

const char *const ner_scheme_names[] = {"iob2", "iob1", "conlleval", NULL};

const char *ner_scheme_name(int scheme) {
    return scheme >= NER_SCHEME_IOB2 && scheme <= NER_SCHEME_DEFAULT ? ner_scheme_names[scheme] : NULL;
}

int ner_scheme_parse(const char *name) {
    for (int k = 0; name && ner_scheme_names[k]; k++)
        if (!strcmp(name, ner_scheme_names[k])) return k;
    return -1;
}

const char *label_kind_name(LabelKind t) {
    return t == LABELS_CLASS ? "sentence" : t == LABELS_TOKEN ? "token" : t == LABELS_SCORE ? "similarity"
           : t == LABELS_REGRESSION ? "regression" : "?";
}

int label_kind_parse(const char *s, LabelKind *t) {
    if (!strcmp(s, "sentence") || !strcmp(s, "classification")) *t = LABELS_CLASS;
    else if (!strcmp(s, "token") || !strcmp(s, "tagging")) *t = LABELS_TOKEN;
    else if (!strcmp(s, "similarity")) *t = LABELS_SCORE;
    else if (!strcmp(s, "regression")) *t = LABELS_REGRESSION;
    else return -1;
    return 0;
}

void shard_data_free(ShardData *d) {
    free(d->input_ids);
    free(d->offsets);
    free(d->lengths);
    free(d->input_ids_b);
    free(d->offsets_b);
    free(d->lengths_b);
    free(d->input_ids_n);
    free(d->offsets_n);
    free(d->lengths_n);
    free(d->type_ids);
    for (int t = 0; t < d->n_tasks; t++) {
        ShardTask *k = &d->tasks[t];
        for (int i = 0; i < k->num_labels; i++) free(k->label_names[i]);
        free(k->label_names);
        free(k->labels);
        free(k->scores);
    }
    memset(d, 0, sizeof *d);
}

void shard_file_name(char *buf, size_t n, const char *dir, const char *name, int index, int count) {
    snprintf(buf, n, "%s%s%s-%05d-of-%05d.h5", dir && *dir ? dir : "", dir && *dir ? "/" : "", name, index,
             count);
}

static int has_similarity(const ShardData *d) {
    for (int t = 0; t < d->n_tasks; t++)
        if (d->tasks[t].type == LABELS_SCORE) return 1;
    return 0;
}

/* ------------------------------------------------------------------ write */

static int write_attr(hid_t obj, const char *name, hid_t type, const void *v) {
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = sp < 0 ? -1 : H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, type, v);
    if (a >= 0) H5Aclose(a);
    if (sp >= 0) H5Sclose(sp);
    return r < 0 ? -1 : 0;
}

static hid_t vlen_str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int write_str_attr(hid_t obj, const char *name, const char *s) {
    hid_t t = vlen_str_type();
    int r = write_attr(obj, name, t, &s);
    H5Tclose(t);
    return r;
}

static int write_str_array_attr(hid_t obj, const char *name, char *const *s, int n) {
    hid_t t = vlen_str_type();
    hsize_t dim = (hsize_t)n;
    hid_t sp = n ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_NULL);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : (n ? H5Awrite(a, t, s) : 0);
    if (a >= 0) H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return r < 0 ? -1 : 0;
}

/* A chunked, deflate-compressed 1-D dataset holding n values of `memtype`
 * stored as `filetype`. */
static hid_t write_1d(hid_t loc, const char *name, hid_t filetype, hid_t memtype, const void *data, hsize_t n) {
    hsize_t maxd = H5S_UNLIMITED, chunk = n < 65536 ? (n ? n : 1) : 65536;
    hid_t sp = H5Screate_simple(1, &n, &maxd);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, 1, &chunk);
    H5Pset_obj_track_times(pl, 0); /* no timestamps: the same data gives the same bytes (and checksum) */
    H5Pset_shuffle(pl);
    H5Pset_deflate(pl, 4);
    hid_t ds = H5Dcreate2(loc, name, filetype, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    if (ds >= 0 && n && H5Dwrite(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
        H5Dclose(ds);
        ds = -1;
    }
    H5Pclose(pl);
    H5Sclose(sp);
    return ds;
}

static int write_body(hid_t f, const ShardData *d, int64_t lo, int64_t hi, int index, const char **what) {
    int64_t n = hi - lo;
    int64_t tok_lo = n ? d->offsets[lo] : 0;
    int64_t tok_n = n ? d->offsets[hi - 1] + d->lengths[hi - 1] - tok_lo : 0;
    int64_t *offs = malloc((size_t)(n ? n : 1) * sizeof *offs);
    int rc = -1;
    hid_t ds;
    for (int64_t i = 0; i < n; i++) offs[i] = d->offsets[lo + i] - tok_lo;
#define DS(name_, ft_, mt_, ptr_, cnt_)                                 \
    do {                                                               \
        *what = "dataset " name_;                                      \
        if ((ds = write_1d(f, name_, ft_, mt_, ptr_, (hsize_t)(cnt_))) < 0) goto out; \
        H5Dclose(ds);                                                  \
    } while (0)
    DS("input_ids", H5T_STD_I32LE, H5T_NATIVE_INT32, d->input_ids + tok_lo, tok_n);
    DS("offsets", H5T_STD_I64LE, H5T_NATIVE_INT64, offs, n);
    DS("lengths", H5T_STD_I32LE, H5T_NATIVE_INT32, d->lengths + lo, n);
    if (d->type_ids) DS("token_type_ids", H5T_STD_I32LE, H5T_NATIVE_INT32, d->type_ids + tok_lo, tok_n);
    if (has_similarity(d)) {
        int64_t blo = n ? d->offsets_b[lo] : 0;
        int64_t bn = n ? d->offsets_b[hi - 1] + d->lengths_b[hi - 1] - blo : 0;
        for (int64_t i = 0; i < n; i++) offs[i] = d->offsets_b[lo + i] - blo;
        DS("input_ids_b", H5T_STD_I32LE, H5T_NATIVE_INT32, d->input_ids_b + blo, bn);
        DS("offsets_b", H5T_STD_I64LE, H5T_NATIVE_INT64, offs, n);
        DS("lengths_b", H5T_STD_I32LE, H5T_NATIVE_INT32, d->lengths_b + lo, n);
    }
    if (d->num_neg > 0) { /* sentences [lo*K, hi*K) of the negatives column */
        int64_t K = d->num_neg, s0 = lo * K, ns = n * K;
        int64_t nlo = ns ? d->offsets_n[s0] : 0;
        int64_t nn = ns ? d->offsets_n[s0 + ns - 1] + d->lengths_n[s0 + ns - 1] - nlo : 0;
        int64_t *noffs = malloc((size_t)(ns ? ns : 1) * sizeof *noffs);
        if (!noffs) goto out;
        for (int64_t i = 0; i < ns; i++) noffs[i] = d->offsets_n[s0 + i] - nlo;
        *what = "dataset offsets_n";
        ds = write_1d(f, "offsets_n", H5T_STD_I64LE, H5T_NATIVE_INT64, noffs, (hsize_t)ns);
        free(noffs);
        if (ds < 0) goto out;
        H5Dclose(ds);
        DS("input_ids_n", H5T_STD_I32LE, H5T_NATIVE_INT32, d->input_ids_n + nlo, nn);
        DS("lengths_n", H5T_STD_I32LE, H5T_NATIVE_INT32, d->lengths_n + s0, ns);
    }
    *what = "group labels";
    hid_t gpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gpl >= 0) H5Pset_obj_track_times(gpl, 0);
    hid_t g = H5Gcreate2(f, "labels", H5P_DEFAULT, gpl >= 0 ? gpl : H5P_DEFAULT, H5P_DEFAULT);
    if (gpl >= 0) H5Pclose(gpl);
    if (g < 0) goto out;
    for (int t = 0; t < d->n_tasks; t++) {
        const ShardTask *k = &d->tasks[t];
        *what = k->name;
        if (k->type == LABELS_CLASS) ds = write_1d(g, k->name, H5T_STD_I32LE, H5T_NATIVE_INT32, k->labels + lo, (hsize_t)n);
        else if (k->type == LABELS_TOKEN)
            ds = write_1d(g, k->name, H5T_STD_I32LE, H5T_NATIVE_INT32, k->labels + tok_lo, (hsize_t)tok_n);
        else ds = write_1d(g, k->name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, k->scores + lo, (hsize_t)n);
        if (ds < 0) {
            H5Gclose(g);
            goto out;
        }
        int r = write_str_attr(ds, "task_type", label_kind_name(k->type));
        r |= write_attr(ds, "num_labels", H5T_NATIVE_INT, &k->num_labels);
        r |= write_str_array_attr(ds, "label_names", k->label_names, k->num_labels);
        H5Dclose(ds);
        if (r) {
            H5Gclose(g);
            goto out;
        }
    }
    H5Gclose(g);
    *what = "attributes";
    int version = d->num_neg > 0 ? SHARD_FORMAT_VERSION_NEG : SHARD_FORMAT_VERSION;
    char hex[32];
    snprintf(hex, sizeof hex, "%016" PRIx64, d->info.vocab_hash);
    char *names[SHARD_MAX_TASKS];
    for (int t = 0; t < d->n_tasks; t++) names[t] = (char *)d->tasks[t].name;
    int64_t first = d->first_example + lo;
    int r = write_attr(f, "format_version", H5T_NATIVE_INT, &version);
    r |= write_str_attr(f, "layout", "ragged");
    r |= write_attr(f, "tokenizer_vocab_hash", H5T_NATIVE_UINT64, &d->info.vocab_hash);
    r |= write_str_attr(f, "tokenizer_vocab_hash_hex", hex);
    r |= write_attr(f, "vocab_size", H5T_NATIVE_INT, &d->info.vocab_size);
    r |= write_attr(f, "do_lower_case", H5T_NATIVE_INT, &d->info.do_lower_case);
    r |= write_attr(f, "max_len", H5T_NATIVE_INT, &d->info.max_len);
    r |= write_attr(f, "num_examples", H5T_NATIVE_INT64, &n);
    r |= write_attr(f, "num_tokens", H5T_NATIVE_INT64, &tok_n);
    r |= write_attr(f, "total_examples", H5T_NATIVE_INT64, &d->info.total_examples);
    r |= write_attr(f, "first_example", H5T_NATIVE_INT64, &first);
    r |= write_attr(f, "shard_index", H5T_NATIVE_INT, &index);
    r |= write_attr(f, "num_shards", H5T_NATIVE_INT, &d->info.num_shards);
    r |= write_str_array_attr(f, "tasks", names, d->n_tasks);
    r |= write_str_attr(f, "source", d->info.source);
    if (d->num_neg > 0) r |= write_attr(f, "num_negatives", H5T_NATIVE_INT, &d->num_neg);
    if (r) goto out;
    rc = 0;
out:
#undef DS
    free(offs);
    return rc;
}

/* HDF5 creates the file by name: it is written under fs_temp_path's name,
 * closed, then fs_commit_rename makes it durable and renames it over path
 * (a failure leaves the old file, and no temporary). */
int shard_write(const char *path, const ShardData *d, int64_t lo, int64_t hi, int index, char *err,
                size_t errlen) {
    h5_quiet();
    char tmp[4096], hmsg[160];
    if (fs_temp_path(path, tmp, sizeof tmp, err, errlen)) return -1;
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        seterr(err, errlen, "%s: cannot create %s (HDF5: %s)", path, tmp, h5_msg(hmsg));
        fs_temp_discard(tmp);
        return -1;
    }
    const char *what = "";
    int rc = write_body(f, d, lo, hi, index, &what);
    if (rc) seterr(err, errlen, "%s: writing %s to %s failed (HDF5: %s)", path, what, tmp, h5_msg(hmsg));
    if (H5Fclose(f) < 0 && !rc) {
        seterr(err, errlen, "%s: closing %s failed (HDF5: %s)", path, tmp, h5_msg(hmsg));
        rc = -1;
    }
    if (rc) {
        fs_temp_discard(tmp);
        return -1;
    }
    return fs_commit_rename(tmp, path, err, errlen);
}

/* ------------------------------------------------------------------- read */

static int read_int_attr(hid_t obj, const char *name, hid_t memtype, void *v) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a);
    hid_t ft = H5Aget_type(a);
    int ok = H5Sget_simple_extent_npoints(sp) == 1 &&
             (H5Tget_class(ft) == H5T_INTEGER || H5Tget_class(ft) == H5T_FLOAT);
    herr_t r = ok ? H5Aread(a, memtype, v) : -1;
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    return r < 0 ? -1 : 0;
}

/* Reads a string or string-array attribute: *out gets n malloc'd strings. */
static int read_str_attr(hid_t obj, const char *name, char ***out, int *n) {
    *out = NULL;
    *n = 0;
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a), ft = H5Aget_type(a);
    int rc = -1;
    if (H5Tget_class(ft) == H5T_STRING) {
        hssize_t cnt = H5Sget_simple_extent_type(sp) == H5S_NULL ? 0 : H5Sget_simple_extent_npoints(sp);
        if (cnt == 0) rc = 0;
        else if (cnt > 0) {
            hid_t mt = vlen_str_type();
            char **tmp = calloc((size_t)cnt, sizeof *tmp);
            if (H5Tis_variable_str(ft) > 0 && H5Aread(a, mt, tmp) >= 0) {
                *out = calloc((size_t)cnt, sizeof **out);
                for (hssize_t i = 0; i < cnt; i++) {
                    (*out)[i] = strdup(tmp[i] ? tmp[i] : "");
                    H5free_memory(tmp[i]);
                }
                *n = (int)cnt;
                rc = 0;
            }
            free(tmp);
            H5Tclose(mt);
        }
    }
    H5Tclose(ft);
    H5Sclose(sp);
    H5Aclose(a);
    return rc;
}

static void free_strs(char **s, int n) {
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

/* Checks a 1-D dataset of the given class and length. */
static int check_ds(hid_t f, const char *path, const char *name, H5T_class_t cls, int64_t expect_n,
                    const char *expect, int64_t *got_n, char *err, size_t errlen) {
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
        seterr(err, errlen, "%s: dataset '%s' is missing (expected %s)", path, name, expect);
        return -1;
    }
    hid_t ds = H5Dopen2(f, name, H5P_DEFAULT);
    if (ds < 0) {
        seterr(err, errlen, "%s: '%s' is not a dataset (expected %s)", path, name, expect);
        return -1;
    }
    hid_t sp = H5Dget_space(ds), ft = H5Dget_type(ds);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[8] = {0};
    if (rank > 0 && rank <= 8) H5Sget_simple_extent_dims(sp, dims, NULL);
    H5T_class_t c = H5Tget_class(ft);
    size_t sz = H5Tget_size(ft);
    H5Tclose(ft);
    H5Sclose(sp);
    H5Dclose(ds);
    if (rank != 1 || (expect_n >= 0 && (int64_t)dims[0] != expect_n)) {
        char shape[128] = "(";
        for (int i = 0; i < rank && i < 8; i++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%llu", i ? "," : "",
                     (unsigned long long)dims[i]);
        strcat(shape, ")");
        seterr(err, errlen, "%s: dataset '%s' has shape %s, expected %s", path, name, shape, expect);
        return -1;
    }
    if (c != cls || (cls == H5T_FLOAT && sz != 4) || (cls == H5T_INTEGER && sz != 4 && sz != 8)) {
        seterr(err, errlen, "%s: dataset '%s' has the wrong element type (expected %s)", path, name, expect);
        return -1;
    }
    if (got_n) *got_n = (int64_t)dims[0];
    return 0;
}

int shard_read_header(const char *path, ShardData *d, char *err, size_t errlen) {
    h5_quiet();
    memset(d, 0, sizeof *d);
    char hmsg[160];
    if (access(path, R_OK) != 0) {
        seterr(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        seterr(err, errlen, "%s: not a readable HDF5 file (HDF5: %s)", path, h5_msg(hmsg));
        return -1;
    }
    int rc = -1, version = 0;
    char **strs = NULL;
    int nstr = 0;
    static const struct { const char *name; int is64; size_t off; } ints[] = {
        {"tokenizer_vocab_hash", 2, offsetof(ShardData, info.vocab_hash)},
        {"vocab_size", 0, offsetof(ShardData, info.vocab_size)},
        {"do_lower_case", 0, offsetof(ShardData, info.do_lower_case)},
        {"max_len", 0, offsetof(ShardData, info.max_len)},
        {"num_examples", 1, offsetof(ShardData, n)},
        {"total_examples", 1, offsetof(ShardData, info.total_examples)},
        {"first_example", 1, offsetof(ShardData, first_example)},
        {"shard_index", 0, offsetof(ShardData, shard_index)},
        {"num_shards", 0, offsetof(ShardData, info.num_shards)},
    };
    if (read_int_attr(f, "format_version", H5T_NATIVE_INT, &version) ||
        (version != SHARD_FORMAT_VERSION && version != SHARD_FORMAT_VERSION_NEG)) {
        seterr(err, errlen, "%s: attribute 'format_version' is missing or not %d or %d (not an mtbert shard, or one "
               "from a newer mtbert?)", path, SHARD_FORMAT_VERSION, SHARD_FORMAT_VERSION_NEG);
        goto out;
    }
    if (version == SHARD_FORMAT_VERSION_NEG &&
        (read_int_attr(f, "num_negatives", H5T_NATIVE_INT, &d->num_neg) || d->num_neg < 1 ||
         d->num_neg > SHARD_MAX_NEGATIVES)) {
        seterr(err, errlen, "%s: format_version %d needs attribute 'num_negatives' 1..%d (hard negatives per example)",
               path, SHARD_FORMAT_VERSION_NEG, SHARD_MAX_NEGATIVES);
        goto out;
    }
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        hid_t mt = ints[i].is64 == 2 ? H5T_NATIVE_UINT64 : ints[i].is64 ? H5T_NATIVE_INT64 : H5T_NATIVE_INT;
        if (read_int_attr(f, ints[i].name, mt, (char *)d + ints[i].off)) {
            seterr(err, errlen, "%s: attribute '%s' is missing or not a number", path, ints[i].name);
            goto out;
        }
    }
    if (!read_str_attr(f, "source", &strs, &nstr) && nstr == 1)
        snprintf(d->info.source, sizeof d->info.source, "%s", strs[0]);
    free_strs(strs, nstr);
    strs = NULL; /* a later failure path frees strs again */
    nstr = 0;
    if (d->info.vocab_size < 1) {
        seterr(err, errlen, "%s: attribute 'vocab_size' is %d, expected at least 1", path, d->info.vocab_size);
        goto out;
    }
    if (d->n < 0 || d->first_example < 0 || d->first_example + d->n > d->info.total_examples ||
        d->info.num_shards < 1 || d->shard_index < 0 || d->shard_index >= d->info.num_shards) {
        seterr(err, errlen, "%s: inconsistent attributes (num_examples %lld, first_example %lld, total_examples %lld, shard %d of %d)",
               path, (long long)d->n, (long long)d->first_example, (long long)d->info.total_examples, d->shard_index,
               d->info.num_shards);
        goto out;
    }
    char expect[128];
    snprintf(expect, sizeof expect, "int64 (%lld) = num_examples", (long long)d->n);
    if (check_ds(f, path, "offsets", H5T_INTEGER, d->n, expect, NULL, err, errlen)) goto out;
    snprintf(expect, sizeof expect, "int32 (%lld) = num_examples", (long long)d->n);
    if (check_ds(f, path, "lengths", H5T_INTEGER, d->n, expect, NULL, err, errlen)) goto out;
    if (check_ds(f, path, "input_ids", H5T_INTEGER, -1, "int32 (num_tokens), 1-D", &d->n_tokens, err, errlen)) goto out;
    if (read_str_attr(f, "tasks", &strs, &nstr) || nstr < 1 || nstr > SHARD_MAX_TASKS) {
        seterr(err, errlen, "%s: attribute 'tasks' is missing or not 1..%d strings", path, SHARD_MAX_TASKS);
        free_strs(strs, nstr);
        goto out;
    }
    d->n_tasks = nstr;
    for (int t = 0; t < nstr; t++) snprintf(d->tasks[t].name, SHARD_NAME_LEN, "%s", strs[t]);
    free_strs(strs, nstr);
    strs = NULL; /* a later failure path frees strs again */
    nstr = 0;
    int sim = 0;
    for (int t = 0; t < d->n_tasks; t++) {
        ShardTask *k = &d->tasks[t];
        char dname[SHARD_NAME_LEN + 16];
        snprintf(dname, sizeof dname, "labels/%s", k->name);
        if (H5Lexists(f, "labels", H5P_DEFAULT) <= 0 || H5Lexists(f, dname, H5P_DEFAULT) <= 0) {
            seterr(err, errlen, "%s: dataset '%s' is missing (attribute 'tasks' names task '%s')", path, dname, k->name);
            goto out;
        }
        hid_t ds = H5Dopen2(f, dname, H5P_DEFAULT);
        if (ds < 0 || read_str_attr(ds, "task_type", &strs, &nstr) || nstr != 1 || label_kind_parse(strs[0], &k->type)) {
            free_strs(strs, nstr);
            if (ds >= 0) H5Dclose(ds);
            seterr(err, errlen, "%s: dataset '%s': attribute 'task_type' missing or not sentence|token|similarity|regression", path,
                   dname);
            goto out;
        }
        free_strs(strs, nstr);
        strs = NULL; /* a later failure path frees strs again */
        nstr = 0;
        if (k->type != LABELS_SCORE && k->type != LABELS_REGRESSION &&
            (read_str_attr(ds, "label_names", &k->label_names, &k->num_labels) || k->num_labels < 1)) {
            H5Dclose(ds);
            seterr(err, errlen, "%s: dataset '%s': attribute 'label_names' missing or empty", path, dname);
            goto out;
        }
        H5Dclose(ds);
        if (k->type == LABELS_SCORE) {
            sim = 1;
            snprintf(expect, sizeof expect, "float32 (%lld) = num_examples (similarity scores)", (long long)d->n);
            if (check_ds(f, path, dname, H5T_FLOAT, d->n, expect, NULL, err, errlen)) goto out;
        } else if (k->type == LABELS_REGRESSION) {
            snprintf(expect, sizeof expect, "float32 (%lld) = num_examples (regression scores)", (long long)d->n);
            if (check_ds(f, path, dname, H5T_FLOAT, d->n, expect, NULL, err, errlen)) goto out;
        } else if (k->type == LABELS_CLASS) {
            snprintf(expect, sizeof expect, "int32 (%lld) = num_examples (sentence labels)", (long long)d->n);
            if (check_ds(f, path, dname, H5T_INTEGER, d->n, expect, NULL, err, errlen)) goto out;
        } else {
            snprintf(expect, sizeof expect, "int32 (%lld) aligned with input_ids (token labels)", (long long)d->n_tokens);
            if (check_ds(f, path, dname, H5T_INTEGER, d->n_tokens, expect, NULL, err, errlen)) goto out;
        }
    }
    if (H5Lexists(f, "token_type_ids", H5P_DEFAULT) > 0) {
        snprintf(expect, sizeof expect, "int32 (%lld) aligned with input_ids (token type ids)", (long long)d->n_tokens);
        if (check_ds(f, path, "token_type_ids", H5T_INTEGER, d->n_tokens, expect, NULL, err, errlen)) goto out;
        d->has_type_ids = 1;
    }
    if (sim) {
        snprintf(expect, sizeof expect, "int64 (%lld) = num_examples", (long long)d->n);
        if (check_ds(f, path, "offsets_b", H5T_INTEGER, d->n, expect, NULL, err, errlen)) goto out;
        snprintf(expect, sizeof expect, "int32 (%lld) = num_examples", (long long)d->n);
        if (check_ds(f, path, "lengths_b", H5T_INTEGER, d->n, expect, NULL, err, errlen)) goto out;
        if (check_ds(f, path, "input_ids_b", H5T_INTEGER, -1, "int32 (num_tokens_b), 1-D", &d->n_tokens_b, err, errlen))
            goto out;
    }
    if (d->num_neg > 0) {
        if (!sim) {
            seterr(err, errlen, "%s: attribute 'num_negatives' is %d but no task has pairs (similarity)", path, d->num_neg);
            goto out;
        }
        int64_t ns = d->n * d->num_neg;
        snprintf(expect, sizeof expect, "int64 (%lld) = num_examples x num_negatives", (long long)ns);
        if (check_ds(f, path, "offsets_n", H5T_INTEGER, ns, expect, NULL, err, errlen)) goto out;
        snprintf(expect, sizeof expect, "int32 (%lld) = num_examples x num_negatives", (long long)ns);
        if (check_ds(f, path, "lengths_n", H5T_INTEGER, ns, expect, NULL, err, errlen)) goto out;
        if (check_ds(f, path, "input_ids_n", H5T_INTEGER, -1, "int32 (num_tokens_n), 1-D", &d->n_tokens_n, err, errlen))
            goto out;
    }
    rc = 0;
out:
    H5Fclose(f);
    if (rc) shard_data_free(d);
    return rc;
}

/* Reads count elements from start of a 1-D dataset by hyperslab. */
/* An open shard for a series of range reads: the file and every dataset
 * stay open, so HDF5's per-dataset chunk cache keeps decompressed chunks
 * between reads (a rank's many small blocks of one chunk decompress it once,
 * not once per block). */
#define SHARD_FILE_MAX_DS (12 + 2 * SHARD_MAX_TASKS)
struct ShardFile {
    hid_t f, dapl;
    int nds;
    struct {
        char name[SHARD_NAME_LEN + 16];
        hid_t id;
    } ds[SHARD_FILE_MAX_DS];
    char path[];
};

ShardFile *shard_open(const char *path, char *err, size_t errlen) {
    h5_quiet();
    char hmsg[160];
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        seterr(err, errlen, "%s: cannot open (HDF5: %s)", path, h5_msg(hmsg));
        return NULL;
    }
    ShardFile *sf = calloc(1, sizeof *sf + strlen(path) + 1);
    if (!sf) {
        H5Fclose(f);
        seterr(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    sf->f = f;
    strcpy(sf->path, path);
    /* 8 MiB of decompressed chunks per dataset (written chunks hold 65,536 values) */
    sf->dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (sf->dapl >= 0) H5Pset_chunk_cache(sf->dapl, 1021, (size_t)8 << 20, 1.0);
    return sf;
}

void shard_close(ShardFile *sf) {
    if (!sf) return;
    for (int i = 0; i < sf->nds; i++) H5Dclose(sf->ds[i].id);
    if (sf->dapl >= 0) H5Pclose(sf->dapl);
    H5Fclose(sf->f);
    free(sf);
}

static hid_t dataset(ShardFile *sf, const char *name) {
    for (int i = 0; i < sf->nds; i++)
        if (!strcmp(sf->ds[i].name, name)) return sf->ds[i].id;
    if (sf->nds == SHARD_FILE_MAX_DS) return -1; /* more datasets than a shard has */
    hid_t ds = H5Dopen2(sf->f, name, sf->dapl >= 0 ? sf->dapl : H5P_DEFAULT);
    if (ds < 0) return ds;
    snprintf(sf->ds[sf->nds].name, sizeof sf->ds[sf->nds].name, "%s", name);
    sf->ds[sf->nds++].id = ds;
    return ds;
}

static int read_slab(ShardFile *sf, const char *name, hid_t memtype, int64_t start, int64_t count, void *buf) {
    if (count == 0) return 0;
    hid_t ds = dataset(sf, name); /* stays open until shard_close */
    if (ds < 0) return -1;
    hid_t fs = H5Dget_space(ds);
    hsize_t st = (hsize_t)start, cn = (hsize_t)count;
    hid_t ms = H5Screate_simple(1, &cn, NULL);
    herr_t r = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &st, NULL, &cn, NULL);
    if (r >= 0) r = H5Dread(ds, memtype, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return r < 0 ? -1 : 0;
}

/* Reads one ragged id array (ids/offsets/lengths) for [lo,hi); rebases offsets. */
static int read_ragged(ShardFile *f, const char *path, const char *sfx, int64_t lo, int64_t hi, int64_t total_tokens,
                       int32_t **ids, int64_t **offs, int32_t **lens, int64_t *tok_lo, int64_t *tok_n, char *err,
                       size_t errlen) {
    int64_t n = hi - lo;
    char nid[32], noff[32], nlen[32];
    snprintf(nid, sizeof nid, "input_ids%s", sfx);
    snprintf(noff, sizeof noff, "offsets%s", sfx);
    snprintf(nlen, sizeof nlen, "lengths%s", sfx);
    *offs = malloc((size_t)(n ? n : 1) * sizeof **offs);
    *lens = malloc((size_t)(n ? n : 1) * sizeof **lens);
    if (read_slab(f, noff, H5T_NATIVE_INT64, lo, n, *offs) || read_slab(f, nlen, H5T_NATIVE_INT32, lo, n, *lens)) {
        seterr(err, errlen, "%s: reading '%s'/'%s' [%lld, %lld) failed", path, noff, nlen, (long long)lo, (long long)hi);
        return -1;
    }
    int64_t base = n ? (*offs)[0] : 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t o = (*offs)[i];
        int64_t expect_rel = i ? (*offs)[i - 1] + (*lens)[i - 1] : 0;
        if ((*lens)[i] < 0 || o < 0 || o - base != expect_rel || o + (*lens)[i] > total_tokens) {
            seterr(err, errlen,
                   "%s: dataset '%s' entry %lld (offset %lld, length %d) is inconsistent (expected offsets[i] = "
                   "offsets[i-1] + lengths[i-1], within %s of %lld tokens)",
                   path, noff, (long long)(lo + i), (long long)o, (*lens)[i], nid, (long long)total_tokens);
            return -1;
        }
        (*offs)[i] = o - base;
    }
    *tok_lo = base;
    *tok_n = n ? (*offs)[n - 1] + (*lens)[n - 1] : 0;
    *ids = malloc((size_t)(*tok_n ? *tok_n : 1) * sizeof **ids);
    if (read_slab(f, nid, H5T_NATIVE_INT32, base, *tok_n, *ids)) {
        seterr(err, errlen, "%s: reading '%s' [%lld, %lld) failed", path, nid, (long long)base,
               (long long)(base + *tok_n));
        return -1;
    }
    return 0;
}

/* Token ids of examples [0,n) of a range read (global index first + i) are
 * checked like labels: outside 0..vocab_size-1 is an error naming the file,
 * the example and the position (an embedding lookup would read past the
 * table; training would see non-finite losses, evaluation garbage). */
static int check_ids(const char *path, const char *dname, const int32_t *ids, const int64_t *offs,
                     const int32_t *lens, int64_t n, int64_t first, int vocab_size, char *err, size_t errlen) {
    for (int64_t i = 0; i < n; i++)
        for (int32_t j = 0; j < lens[i]; j++) {
            int32_t v = ids[offs[i] + j];
            if (v < 0 || v >= vocab_size) {
                seterr(err, errlen,
                       "%s: example %lld, position %d: token id %d in '%s' is outside the vocabulary (0..%d, "
                       "attribute 'vocab_size' %d); re-run mtbert prepare",
                       path, (long long)(first + i), j, v, dname, vocab_size - 1, vocab_size);
                return -1;
            }
        }
    return 0;
}

int shard_read(ShardFile *f, ShardData *d, int64_t lo, int64_t hi, char *err, size_t errlen) {
    const char *path = f->path;
    char hmsg[160];
    if (lo < 0 || hi < lo || hi > d->n) {
        seterr(err, errlen, "%s: range [%lld, %lld) outside the shard's %lld examples", path, (long long)lo,
               (long long)hi, (long long)d->n);
        return -1;
    }
    free(d->input_ids);
    free(d->offsets);
    free(d->lengths);
    free(d->input_ids_b);
    free(d->offsets_b);
    free(d->lengths_b);
    free(d->type_ids);
    d->input_ids_b = NULL;
    d->offsets_b = NULL;
    d->lengths_b = NULL;
    free(d->input_ids_n);
    free(d->offsets_n);
    free(d->lengths_n);
    d->input_ids_n = NULL;
    d->offsets_n = NULL;
    d->lengths_n = NULL;
    d->type_ids = NULL;
    int rc = -1;
    int64_t tok_lo, tok_n, blo, bn;
    int64_t file_tokens = d->n_tokens, file_tokens_b = d->n_tokens_b;
    if (read_ragged(f, path, "", lo, hi, file_tokens, &d->input_ids, &d->offsets, &d->lengths, &tok_lo, &tok_n, err,
                    errlen))
        goto out;
    int64_t n = hi - lo;
    if (check_ids(path, "input_ids", d->input_ids, d->offsets, d->lengths, n, d->first_example + lo,
                  d->info.vocab_size, err, errlen))
        goto out;
    if (d->num_neg > 0) { /* sentences [lo*K, hi*K): example-major */
        int64_t K = d->num_neg, nlo, nn;
        if (read_ragged(f, path, "_n", lo * K, hi * K, d->n_tokens_n, &d->input_ids_n, &d->offsets_n, &d->lengths_n,
                        &nlo, &nn, err, errlen) ||
            check_ids(path, "input_ids_n (negative sentence = example x num_negatives + j)", d->input_ids_n,
                      d->offsets_n, d->lengths_n, n * K, (d->first_example + lo) * K, d->info.vocab_size, err, errlen))
            goto out;
        d->n_tokens_n = nn;
    }
    if (d->has_type_ids) {
        d->type_ids = malloc((size_t)(tok_n ? tok_n : 1) * sizeof(int32_t));
        if (read_slab(f, "token_type_ids", H5T_NATIVE_INT32, tok_lo, tok_n, d->type_ids)) {
            seterr(err, errlen, "%s: reading dataset 'token_type_ids' failed (HDF5: %s)", path, h5_msg(hmsg));
            goto out;
        }
        for (int64_t i = 0; i < tok_n; i++)
            if (d->type_ids[i] < 0 || d->type_ids[i] > 255) {
                seterr(err, errlen, "%s: dataset 'token_type_ids' element %lld is %d, expected 0..255", path,
                       (long long)(tok_lo + i), d->type_ids[i]);
                goto out;
            }
    }
    for (int t = 0; t < d->n_tasks; t++) {
        ShardTask *k = &d->tasks[t];
        char dname[SHARD_NAME_LEN + 16];
        snprintf(dname, sizeof dname, "labels/%s", k->name);
        free(k->labels);
        free(k->scores);
        k->labels = NULL;
        k->scores = NULL;
        int r;
        if (k->type == LABELS_REGRESSION) {
            k->scores = malloc((size_t)(n ? n : 1) * sizeof(float));
            r = read_slab(f, dname, H5T_NATIVE_FLOAT, lo, n, k->scores);
        } else if (k->type == LABELS_SCORE) {
            if (!d->input_ids_b) { /* once, however many similarity tasks */
                if (read_ragged(f, path, "_b", lo, hi, file_tokens_b, &d->input_ids_b, &d->offsets_b, &d->lengths_b,
                                &blo, &bn, err, errlen) ||
                    check_ids(path, "input_ids_b", d->input_ids_b, d->offsets_b, d->lengths_b, n,
                              d->first_example + lo, d->info.vocab_size, err, errlen))
                    goto out;
                d->n_tokens_b = bn;
            }
            k->scores = malloc((size_t)(n ? n : 1) * sizeof(float));
            r = read_slab(f, dname, H5T_NATIVE_FLOAT, lo, n, k->scores);
        } else if (k->type == LABELS_CLASS) {
            k->labels = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
            r = read_slab(f, dname, H5T_NATIVE_INT32, lo, n, k->labels);
        } else {
            k->labels = malloc((size_t)(tok_n ? tok_n : 1) * sizeof(int32_t));
            r = read_slab(f, dname, H5T_NATIVE_INT32, tok_lo, tok_n, k->labels);
        }
        if (r) {
            seterr(err, errlen, "%s: reading dataset '%s' failed (HDF5: %s)", path, dname, h5_msg(hmsg));
            goto out;
        }
        if (k->type != LABELS_SCORE && k->type != LABELS_REGRESSION) {
            int64_t m = k->type == LABELS_CLASS ? n : tok_n;
            for (int64_t i = 0; i < m; i++)
                if (k->labels[i] != LABEL_IGNORE && (k->labels[i] < 0 || k->labels[i] >= k->num_labels)) {
                    seterr(err, errlen, "%s: dataset '%s' element %lld is %d, expected 0..%d or %d", path, dname,
                           (long long)(k->type == LABELS_CLASS ? lo + i : tok_lo + i), k->labels[i],
                           k->num_labels - 1, LABEL_IGNORE);
                    goto out;
                }
        }
    }
    d->first_example += lo;
    d->n = n;
    d->n_tokens = tok_n;
    rc = 0;
out:
    return rc;
}

int shard_read_range(const char *path, ShardData *d, int64_t lo, int64_t hi, char *err, size_t errlen) {
    ShardFile *f = shard_open(path, err, errlen);
    if (!f) return -1;
    int rc = shard_read(f, d, lo, hi, err, errlen);
    shard_close(f);
    return rc;
}
