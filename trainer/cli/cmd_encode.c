/* mtbert encode — sentence embeddings, one line of floats per input line. */
#include <errno.h>
#include <hdf5.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/tokenizer.h"
#include "trainer/cli/cli.h"
#include "trainer/store/model_dir.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert encode --model DIR [options] < sentences.txt > embeddings.txt\n"
            "\n"
            "Reads one sentence a line (UTF-8) and writes one line of space-separated\n"
            "floats (%%.7g) per sentence, in input order.\n"
            "\n"
            "  --model DIR        Hugging Face BERT folder (config.json, model.safetensors,\n"
            "                     vocab.txt), optionally in the sentence-transformers layout\n"
            "  --input FILE       read sentences from FILE instead of stdin\n"
            "  --out FILE         write embeddings to FILE: .npy (float32 NumPy array), .h5\n"
            "                     (HDF5 dataset \"embeddings\", float32 (N, D)), else text\n"
            "  --pooling MODE     mean | cls | max | pooler (default: the folder's, else mean)\n"
            "  --normalize        L2-normalise the embeddings (default: the folder's)\n"
            "  --no-normalize     do not normalise\n"
            "  --batch N          sentences per forward pass (default 32)\n"
            "  --max-len N        wordpieces per sentence incl. [CLS]/[SEP] (default: the folder's)\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "  --pairs            each line is SENTENCE<TAB>SENTENCE: print their cosine similarity\n");
}

typedef struct {
    char **lines;
    size_t n, cap;
} Lines;

static int read_lines(FILE *in, const char *name, Lines *L) {
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&buf, &cap, in)) >= 0) {
        while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = 0;
        if (L->n == L->cap) {
            L->cap = L->cap ? 2 * L->cap : 1024;
            L->lines = realloc(L->lines, L->cap * sizeof(char *));
        }
        L->lines[L->n++] = strdup(buf);
    }
    free(buf);
    if (ferror(in)) {
        fprintf(stderr, "mtbert encode: %s: read error: %s\n", name, strerror(errno));
        return -1;
    }
    return 0;
}

/* .npy version 1.0: magic, header dict padded to 64 bytes, raw float32 rows */
static int write_npy(FILE *f, const float *x, size_t rows, int cols) {
    char hdr[128];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, %d), }", rows, cols);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    unsigned short hlen = (unsigned short)(n + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hlen & 0xff, f);
    fputc(hlen >> 8, f);
    fwrite(hdr, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(x, sizeof(float), rows * (size_t)cols, f);
    return ferror(f) ? -1 : 0;
}

/* HDF5: one float32 dataset "embeddings" (N, D), written to a temporary
 * name and renamed so that a failure leaves no half file. */
static int write_h5(const char *path, const float *x, size_t rows, int cols) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    H5dont_atexit(); /* HDF5 1.10 re-closes failed files at exit and crashes */
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) return -1;
    hsize_t dims[2] = {rows, (hsize_t)cols};
    hid_t sp = H5Screate_simple(2, dims, NULL);
    hid_t ds = H5Dcreate2(f, "embeddings", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t w = ds >= 0 && rows ? H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, x) : 0;
    if (ds >= 0) H5Dclose(ds);
    H5Sclose(sp);
    herr_t c = H5Fclose(f);
    if (ds < 0 || w < 0 || c < 0 || rename(tmp, path)) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int by_length_desc(const void *a, const void *b, void *lens) {
    const int *l = lens;
    int x = *(const int *)a, y = *(const int *)b;
    return l[y] != l[x] ? l[y] - l[x] : x - y;
}

int cmd_encode(int argc, char **argv) {
    const char *model_dir = NULL, *input = NULL, *output = NULL, *pooling = NULL;
    int normalize = -1, batch = 32, max_len = 0, threads = 0, pairs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--model") && more) model_dir = argv[++i];
        else if (!strcmp(a, "--input") && more) input = argv[++i];
        else if ((!strcmp(a, "--out") || !strcmp(a, "--output")) && more) output = argv[++i];
        else if (!strcmp(a, "--pooling") && more) pooling = argv[++i];
        else if (!strcmp(a, "--normalize")) normalize = 1;
        else if (!strcmp(a, "--no-normalize")) normalize = 0;
        else if (!strcmp(a, "--batch") && more) batch = atoi(argv[++i]);
        else if (!strcmp(a, "--max-len") && more) max_len = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else if (!strcmp(a, "--pairs")) pairs = 1;
        else {
            fprintf(stderr, "mtbert encode: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!model_dir) { fprintf(stderr, "mtbert encode: --model DIR is required\n"); usage(stderr); return 2; }
    if (batch < 1 || batch > 4096) { fprintf(stderr, "mtbert encode: --batch must be in [1, 4096]\n"); return 2; }
    char err[2048];
    ModelDir d;
    if (model_dir_read(&d, model_dir, err, sizeof err)) {
        fprintf(stderr, "mtbert encode: %s\n", err);
        return 2;
    }
    if (pooling) {
        if (!strcmp(pooling, "mean")) d.mc.pooling = POOL_MEAN;
        else if (!strcmp(pooling, "cls")) d.mc.pooling = POOL_CLS;
        else if (!strcmp(pooling, "max")) d.mc.pooling = POOL_MAX;
        else if (!strcmp(pooling, "pooler")) d.mc.pooling = POOL_POOLER;
        else { fprintf(stderr, "mtbert encode: --pooling must be mean, cls, max or pooler\n"); return 2; }
    }
    if (normalize >= 0) d.mc.normalize = normalize;
    if (max_len <= 0) max_len = d.max_seq_length;
    if (max_len < 2 || max_len > d.mc.bert.max_position_embeddings) {
        fprintf(stderr, "mtbert encode: --max-len must be in [2, %d]\n", d.mc.bert.max_position_embeddings);
        return 2;
    }
    model_dir_free(&d); /* label names are not needed here */
    Tokenizer *tok = tokenizer_load(d.vocab, d.do_lower_case, err, sizeof err);
    if (!tok) { fprintf(stderr, "mtbert encode: %s\n", err); return 2; }
    if (tokenizer_vocab_size(tok) > d.mc.bert.vocab_size || tokenizer_cls_id(tok) < 0 || tokenizer_sep_id(tok) < 0) {
        fprintf(stderr, "mtbert encode: %s: %d entries (model vocab_size %d) or no [CLS]/[SEP]\n", d.vocab,
                tokenizer_vocab_size(tok), d.mc.bert.vocab_size);
        tokenizer_free(tok);
        return 2;
    }

    FILE *in = input ? fopen(input, "rb") : stdin;
    if (!in) { fprintf(stderr, "mtbert encode: %s: %s\n", input, strerror(errno)); tokenizer_free(tok); return 2; }
    Lines L = {0};
    int rc = read_lines(in, input ? input : "<stdin>", &L);
    if (input) fclose(in);
    if (rc) { tokenizer_free(tok); return 1; }
    if (pairs) {
        /* line i -> sentences 2i and 2i+1 */
        char **two = malloc(sizeof(char *) * 2 * (L.n ? L.n : 1));
        for (size_t i = 0; i < L.n; i++) {
            char *tab = strchr(L.lines[i], '\t');
            if (!tab) {
                fprintf(stderr, "mtbert encode: %s:%zu: --pairs needs SENTENCE<TAB>SENTENCE\n", input ? input : "<stdin>", i + 1);
                for (size_t k = 0; k < 2 * i; k++) free(two[k]);
                for (size_t k = i; k < L.n; k++) free(L.lines[k]);
                free(two);
                free(L.lines);
                tokenizer_free(tok);
                return 2;
            }
            *tab = 0;
            two[2 * i] = strdup(L.lines[i]);
            two[2 * i + 1] = strdup(tab + 1);
            free(L.lines[i]);
        }
        free(L.lines);
        L.lines = two;
        L.n *= 2;
        L.cap = L.n;
    }

    /* tokenize everything: [CLS] pieces [SEP], truncated */
    int **ids = calloc(L.n ? L.n : 1, sizeof(int *));
    int *lens = calloc(L.n ? L.n : 1, sizeof(int));
    size_t truncated = 0;
    for (size_t i = 0; i < L.n; i++) {
        IntVec v = {0};
        size_t bad;
        intvec_push(&v, tokenizer_cls_id(tok));
        if (tokenizer_encode(tok, L.lines[i], strlen(L.lines[i]), &v, &bad)) {
            fprintf(stderr, "mtbert encode: %s:%zu: invalid UTF-8 at byte %zu\n", input ? input : "<stdin>", i + 1, bad);
            rc = 2;
            intvec_free(&v);
            goto done;
        }
        if (v.len > (size_t)max_len - 1) { v.len = (size_t)max_len - 1; truncated++; }
        intvec_push(&v, tokenizer_sep_id(tok));
        ids[i] = v.data;
        lens[i] = (int)v.len;
    }
    if (truncated) fprintf(stderr, "mtbert encode: %zu of %zu sentences truncated to %d wordpieces\n", truncated, L.n, max_len);

    Model m;
    const Ops *ops = ops_cpu();
    if (threads > 0) ops->set_threads(threads);
    int maxT = 2;
    for (size_t i = 0; i < L.n; i++) if (lens[i] > maxT) maxT = lens[i];
    int B = batch < (int)L.n ? batch : (int)(L.n ? L.n : 1);
    if (model_create(&m, &d.mc, ops, B, maxT, 0, MODEL_INIT_NONE, err, sizeof err)) {
        fprintf(stderr, "mtbert encode: %s\n", err);
        rc = 1;
        goto done;
    }
    m.training = 0;
    char report[4096];
    if (model_dir_load(&m, &d, report, sizeof report, err, sizeof err)) {
        fprintf(stderr, "mtbert encode: %s\n", err);
        model_free(&m);
        rc = 2;
        goto done;
    }
    int D = model_embedding_dim(&m);
    float *emb = malloc(sizeof(float) * (L.n ? L.n : 1) * D);
    float *out = malloc(sizeof(float) * B * D);
    int *bid = malloc(sizeof(int) * B * maxT), *bmask = malloc(sizeof(int) * B * maxT);
    /* longest first: batches of similar length waste little on padding */
    int *order = malloc(sizeof(int) * (L.n ? L.n : 1));
    for (size_t i = 0; i < L.n; i++) order[i] = (int)i;
    qsort_r(order, L.n, sizeof(int), by_length_desc, lens);
    for (size_t s = 0; s < L.n; s += B) {
        int nb = (int)(L.n - s < (size_t)B ? L.n - s : (size_t)B);
        int T = lens[order[s]];
        for (int r = 0; r < nb; r++) {
            int k = order[s + r];
            for (int j = 0; j < T; j++) {
                bid[r * T + j] = j < lens[k] ? ids[k][j] : 0;
                bmask[r * T + j] = j < lens[k];
            }
        }
        Batch b = {.B = nb, .T = T, .input_ids = bid, .mask = bmask};
        model_forward(&m, &b);
        model_get_embeddings(&m, out);
        for (int r = 0; r < nb; r++) memcpy(emb + (size_t)order[s + r] * D, out + (size_t)r * D, sizeof(float) * D);
    }
    size_t olen = output ? strlen(output) : 0;
    if (!pairs && olen > 3 && !strcmp(output + olen - 3, ".h5")) {
        if (write_h5(output, emb, L.n, D)) {
            fprintf(stderr, "mtbert encode: %s: cannot write the HDF5 file\n", output);
            rc = 1;
        }
        output = NULL;
        goto written;
    }
    FILE *of = stdout;
    if (output) {
        of = fopen(output, "wb");
        if (!of) { fprintf(stderr, "mtbert encode: %s: %s\n", output, strerror(errno)); rc = 2; }
    }
    if (of) {
        size_t ol = output ? strlen(output) : 0;
        if (pairs)
            for (size_t i = 0; i + 1 < L.n; i += 2) {
                const float *a = emb + i * D, *c = emb + (i + 1) * D;
                double dot = 0, na = 0, nc = 0;
                for (int k = 0; k < D; k++) { dot += a[k] * c[k]; na += a[k] * a[k]; nc += c[k] * c[k]; }
                fprintf(of, "%.6f\n", dot / fmax(sqrt(na * nc), 1e-8));
            }
        else if (ol > 4 && !strcmp(output + ol - 4, ".npy")) rc = write_npy(of, emb, L.n, D) ? 1 : 0;
        else
            for (size_t i = 0; i < L.n; i++)
                for (int k = 0; k < D; k++) fprintf(of, "%.7g%c", emb[i * D + k], k + 1 < D ? ' ' : '\n');
        if (fflush(of) || ferror(of)) { fprintf(stderr, "mtbert encode: write failed: %s\n", strerror(errno)); rc = 1; }
        if (output) fclose(of);
    }
written:
    free(order); free(bid); free(bmask); free(out); free(emb);
    model_free(&m);
done:
    for (size_t i = 0; i < L.n; i++) { free(L.lines[i]); free(ids[i]); }
    free(L.lines); free(ids); free(lens);
    tokenizer_free(tok);
    return rc;
}
