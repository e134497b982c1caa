/* mtbert encode — sentence embeddings, one line of floats per input line. */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/tokenizer_json.h"
#include "trainer/cli/cli.h"
#include "trainer/cli/args.h"
#include "trainer/cli/input.h"
#include "trainer/model/embed_rows.h"
#include "trainer/store/model_open.h"
#include "util/fsutil.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert encode --model DIR [options] < sentences.txt > embeddings.txt\n"
            "\n"
            "Reads one sentence a line (UTF-8) and writes one line of space-separated\n"
            "floats (%%.7g) per sentence, in input order.\n"
            "\n"
            "  --model DIR        Hugging Face BERT folder (config.json, model.safetensors,\n"
            "                     tokenizer.json or vocab.txt: tokenizer.json when both),\n"
            "                     optionally in the sentence-transformers layout;\n"
            "                     a checkpoint, RUN/latest, RUN/best, or a run directory\n"
            "  --input FILE       read sentences from FILE instead of stdin\n"
            "  --out FILE         write embeddings to FILE: .npy (float32 NumPy array), .h5\n"
            "                     (HDF5 dataset \"embeddings\", float32 (N, D)), else text\n"
            "  --pooling MODE     mean | cls | max | pooler (default: the folder's, else mean)\n"
            "  --normalize        L2-normalise the embeddings (default: the folder's)\n"
            "  --no-normalize     do not normalise\n"
            "  --max-tokens N     tokens per forward pass: sentences are sorted by length and\n"
            "                     cut into batches of rows x longest <= N (default %d; 0: no\n"
            "                     budget, --batch rows a batch); a longer sentence runs alone\n"
            "  --batch N          at most N sentences per forward pass (default %d);\n"
            "                     also --batch-size\n"
            "  --max-len N        tokens per sentence incl. [CLS]/[SEP] (default: the folder's)\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "  --backend B        auto | cpu | cuda (default auto: a GPU when there is one)\n"
            "  --precision P      fp32 | bf16 (bf16: tensor cores on a GPU; on the CPU the\n"
            "                     slower bf16 numerics reference, docs/precision.md)\n"
            "  --pairs            each line is SENTENCE<TAB>SENTENCE: print their cosine similarity\n"
            "MTBERT_BATCH_STATS=1 prints the batches and the time spent to stderr.\n",
            TOKEN_BATCH_DEFAULT_TOKENS, TOKEN_BATCH_DEFAULT_ROWS);
}

/* .npy version 1.0: magic, header dict padded to 64 bytes, raw float32 rows;
 * written under a temporary name and renamed (a failure leaves the old file). */
static int write_npy(const char *path, const float *x, size_t rows, int cols, char *err, size_t errlen) {
    char hdr[192];
    int n = snprintf(hdr + 10, sizeof hdr - 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }",
                     rows, cols);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    unsigned short hlen = (unsigned short)(n + pad + 1);
    memcpy(hdr, "\x93NUMPY\x01\x00", 8);
    hdr[8] = (char)(hlen & 0xff);
    hdr[9] = (char)(hlen >> 8);
    memset(hdr + 10 + n, ' ', (size_t)pad);
    hdr[10 + n + pad] = '\n';
    FsAtomicFile af;
    if (fs_atomic_begin(&af, path, err, errlen)) return -1;
    if (fs_atomic_write(&af, hdr, (size_t)(total + pad), err, errlen)) return -1;
    if (fs_atomic_write(&af, x, rows * (size_t)cols * sizeof(float), err, errlen)) return -1;
    return fs_atomic_commit(&af, err, errlen);
}

/* Text: one line per row (or per pair: the cosine), to stdout or atomically
 * to a file. */
typedef struct {
    FILE *out;          /* stdout, or NULL for the atomic file */
    FsAtomicFile af;
    char buf[1 << 16];
    size_t n;
    int failed;
} TextOut;

static void text_flush(TextOut *t, char *err, size_t errlen) {
    if (t->failed || !t->n) {
        t->n = 0; /* after a failure: discard */
        return;
    }
    if (t->out) {
        if (fwrite(t->buf, 1, t->n, t->out) != t->n) {
            snprintf(err, errlen, "<stdout>: write failed: %s", strerror(errno));
            t->failed = 1;
        }
    } else if (fs_atomic_write(&t->af, t->buf, t->n, err, errlen)) {
        t->failed = 1;
    }
    t->n = 0;
}

static void text_printf(TextOut *t, char *err, size_t errlen, const char *fmt, double v, char end) {
    if (sizeof t->buf - t->n < 64) text_flush(t, err, errlen);
    t->n += (size_t)snprintf(t->buf + t->n, sizeof t->buf - t->n, fmt, v, end);
}

static int write_text(const char *path, const float *emb, size_t n, int D, int pairs, char *err, size_t errlen) {
    static TextOut t;
    memset(&t, 0, sizeof t);
    if (path) {
        if (fs_atomic_begin(&t.af, path, err, errlen)) return -1;
    } else {
        t.out = stdout;
    }
    if (pairs) {
        for (size_t i = 0; i + 1 < n; i += 2) {
            const float *a = emb + i * D, *c = emb + (i + 1) * D;
            double dot = 0, na = 0, nc = 0;
            for (int k = 0; k < D; k++) { dot += a[k] * c[k]; na += a[k] * a[k]; nc += c[k] * c[k]; }
            text_printf(&t, err, errlen, "%.6f%c", dot / fmax(sqrt(na * nc), 1e-8), '\n');
        }
    } else {
        for (size_t i = 0; i < n; i++)
            for (int k = 0; k < D; k++) text_printf(&t, err, errlen, "%.7g%c", emb[i * D + k], k + 1 < D ? ' ' : '\n');
    }
    text_flush(&t, err, errlen);
    if (t.out) {
        if (!t.failed && fflush(t.out)) {
            snprintf(err, errlen, "<stdout>: write failed: %s", strerror(errno));
            t.failed = 1;
        }
        return t.failed ? -1 : 0;
    }
    if (t.failed) { fs_atomic_abort(&t.af); return -1; }
    return fs_atomic_commit(&t.af, err, errlen);
}

/* HDF5: one float32 dataset "embeddings" (N, D). HDF5 creates the file by
 * name, so it is written under fs_temp_path's name and fs_commit_rename
 * puts it in place: a failure leaves the old file and no temporary. */
static int write_h5(const char *path, const float *x, size_t rows, int cols, char *err, size_t errlen) {
    char tmp[4200];
    if (fs_temp_path(path, tmp, sizeof tmp, err, errlen)) return -1;
    H5dont_atexit(); /* HDF5 1.10 re-closes failed files at exit and crashes */
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        snprintf(err, errlen, "%s: cannot create the HDF5 file (nothing replaced)", path);
        fs_temp_discard(tmp);
        return -1;
    }
    hsize_t dims[2] = {rows, (hsize_t)cols};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t ds = H5Dcreate2(f, "embeddings", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t w = ds >= 0 && rows ? H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) : 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    herr_t c = H5Fclose(f);
    if (ds < 0 || w < 0 || c < 0) {
        snprintf(err, errlen, "%s: cannot write the HDF5 dataset \"embeddings\" (nothing replaced)", path);
        fs_temp_discard(tmp);
        return -1;
    }
    return fs_commit_rename(tmp, path, err, errlen);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* Embeddings of every line, in input order: tokenized and framed, sorted
 * longest first and run in batches of at most `batch` rows and
 * `max_tokens` rows x padded length (token_batches.h), written out. */
static int encode_lines(OpenModel *om, Lines *L, const char *in_name, const char *output, int pairs, int batch,
                        long max_tokens) {
    char err[4096];
    const Tok *tok = om->tok;
    int pad = tok_pad_id(tok) >= 0 ? tok_pad_id(tok) : 0;
    size_t N = L->n;
    int **ids = calloc(N ? N : 1, sizeof(int *));
    int *lens = calloc(N ? N : 1, sizeof(int));
    size_t truncated = 0;
    int rc = 0, stats = token_stats_enabled();
    double t0 = now_s();
    for (size_t i = 0; i < N; i++) {
        IntVec v = {0};
        size_t bad;
        int dropped;
        if (input_encode_sentence(tok, L->lines[i], strlen(L->lines[i]), om->max_len, &v, &dropped, &bad)) {
            size_t line = pairs ? i / 2 + 1 : i + 1;
            fprintf(stderr, "mtbert encode: %s:%zu: invalid UTF-8 at byte %zu\n", in_name, line, bad);
            intvec_free(&v);
            rc = 2;
            goto done;
        }
        truncated += dropped > 0;
        ids[i] = v.data;
        lens[i] = (int)v.len;
    }
    if (truncated)
        fprintf(stderr, "mtbert encode: %zu of %zu sentences truncated to %d wordpieces\n", truncated, N, om->max_len);

    Model *m = &om->model;
    int D = model_embedding_dim(m);
    double t1 = now_s();
    float *emb = malloc(sizeof(float) * (N ? N : 1) * D);
    EmbedRowsOptions eo = {.max_rows = batch, .max_tokens = max_tokens, .pad = pad, .stats = "encode"};
    TokenPlan plan;
    if (!emb || embed_rows(m, ids, lens, N, &eo, emb, &plan)) {
        fprintf(stderr, "mtbert encode: out of memory\n");
        rc = 1;
        goto written;
    }
    if (stats) token_stats_summary("encode", &plan, max_tokens, batch, t1 - t0, now_s() - t1);
    for (size_t i = 0; i < N * (size_t)D; i++)
        if (!isfinite(emb[i])) {
            fprintf(stderr, "mtbert encode: %s:%zu: the embedding is not finite (%g); nothing written\n", in_name,
                    (pairs ? i / D / 2 : i / D) + 1, (double)emb[i]);
            rc = 1;
            goto written;
        }
    size_t olen = output ? strlen(output) : 0;
    int r;
    if (!pairs && olen > 3 && !strcmp(output + olen - 3, ".h5")) {
        r = write_h5(output, emb, N, D, err, sizeof err);
    } else if (!pairs && olen > 4 && !strcmp(output + olen - 4, ".npy")) {
        r = write_npy(output, emb, N, D, err, sizeof err);
    } else {
        r = write_text(output, emb, N, D, pairs, err, sizeof err);
    }
    if (r) {
        fprintf(stderr, "mtbert encode: %s\n", err);
        rc = 1;
    }
written:
    free(emb);
done:
    for (size_t i = 0; i < N; i++) free(ids[i]);
    free(ids); free(lens);
    return rc;
}

int cmd_encode(int argc, char **argv) {
    const char *model_path = NULL, *input = NULL, *output = NULL, *pooling = NULL;
    const char *backend = NULL, *precision = NULL;
    int normalize = -1, batch = TOKEN_BATCH_DEFAULT_ROWS, max_len = 0, threads = 0, pairs = 0;
    int max_tokens = TOKEN_BATCH_DEFAULT_TOKENS;
    const OptSpec opts[] = {
        {"model", OPT_STRING, &model_path, 0, 0, 0},
        {"input", OPT_STRING, &input, 0, 0, 0},
        {"out", OPT_STRING, &output, 0, 0, 0},
        {"output", OPT_STRING, &output, 0, 0, 0},
        {"pooling", OPT_STRING, &pooling, 0, 0, 0},
        {"normalize", OPT_FLAG, &normalize, 0, 0, 1},
        {"no-normalize", OPT_FLAG, &normalize, 0, 0, 0},
        {"batch", OPT_INT, &batch, 1, 4096, 0},
        {"batch-size", OPT_INT, &batch, 1, 4096, 0},
        {"max-tokens", OPT_INT, &max_tokens, 0, 1 << 24, 0},
        {"max-len", OPT_INT, &max_len, 2, 1 << 20, 0},
        {"threads", OPT_INT, &threads, 1, 4096, 0},
        {"pairs", OPT_FLAG, &pairs, 0, 0, 1},
        CLI_BACKEND_OPTS(backend, precision),
    };
    int npos, pr = cli_parse("encode", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, &npos, usage);
    if (pr) return cli_exit(pr);
    if (!model_path) { fprintf(stderr, "mtbert encode: --model DIR is required\n"); usage(stderr); return 2; }
    int pool = -1;
    if (pooling) {
        if (!strcmp(pooling, "mean")) pool = POOL_MEAN;
        else if (!strcmp(pooling, "cls")) pool = POOL_CLS;
        else if (!strcmp(pooling, "max")) pool = POOL_MAX;
        else if (!strcmp(pooling, "pooler")) pool = POOL_POOLER;
        else { fprintf(stderr, "mtbert encode: --pooling must be mean, cls, max or pooler\n"); return 2; }
    }
    Lines L;
    if (lines_read("encode", input, &L)) return 2;
    const char *in_name = input_name(input);
    if (pairs) {
        /* line i -> sentences 2i and 2i+1 */
        Lines two = {.lines = malloc(sizeof(char *) * 2 * (L.n ? L.n : 1)), .cap = 2 * L.n};
        for (size_t i = 0; i < L.n; i++) {
            char *tab = strchr(L.lines[i], '\t');
            if (!tab) {
                fprintf(stderr, "mtbert encode: %s:%zu: --pairs needs SENTENCE<TAB>SENTENCE\n", in_name, i + 1);
                lines_free(&two);
                lines_free(&L);
                return 2;
            }
            *tab = 0;
            two.lines[two.n++] = strdup(L.lines[i]);
            two.lines[two.n++] = strdup(tab + 1);
        }
        lines_free(&L);
        L = two;
    }
    OpenOptions oo = {.backend = backend, .precision = precision, .threads = threads,
                      .max_batch = batch < (int)L.n ? batch : (int)(L.n ? L.n : 1), .max_len = max_len,
                      .pooling = pool, .normalize = normalize, .max_tokens = max_tokens};
    OpenModel om;
    char err[4096];
    int status;
    if (model_open(&om, model_path, &oo, &status, err, sizeof err)) {
        fprintf(stderr, "mtbert encode: %s\n", err);
        lines_free(&L);
        return status;
    }
    input_note_tokenizer("encode", om.dir.vocab, om.dir.vocab_txt_unused);
    int rc = encode_lines(&om, &L, in_name, output, pairs, oo.max_batch, max_tokens);
    model_close(&om);
    lines_free(&L);
    return rc;
}
