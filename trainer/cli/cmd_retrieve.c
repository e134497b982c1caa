/* mtbert retrieve — retrieval evaluation of an embedding model on a
 * queries / corpus / qrels set (issue 18): every query against the whole
 * corpus, exact brute-force ranking, the metrics of retrieval.h. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/cli/args.h"
#include "trainer/cli/cli.h"
#include "trainer/cli/embed_texts.h"
#include "trainer/cli/input.h"
#include "trainer/cli/retrieval_files.h"
#include "trainer/store/model_open.h"
#include "trainer/train/retrieval.h"
#include "util/fsutil.h"
#include "util/xalloc.h"

#define PER_QUERY_TOP 10

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert retrieve --model DIR --queries FILE --corpus FILE --qrels FILE [options]\n"
            "       mtbert retrieve --query-embeddings Q.npy --corpus-embeddings C.npy --queries FILE ...\n"
            "\n"
            "Embeds every query and every document, ranks the whole corpus for each query\n"
            "(exact, brute force) and prints one JSON line of metrics: MRR@k, nDCG@k, MAP@k,\n"
            "recall@k, precision@k, accuracy@k (docs/embeddings.md has the definitions).\n"
            "\n"
            "  --model DIR        model folder, checkpoint, RUN/latest, RUN/best or run\n"
            "                     directory, as for mtbert encode (its pooling, normalisation)\n"
            "  --queries FILE     FILE.jsonl: {\"_id\", \"text\"} a line (BEIR queries.jsonl);\n"
            "                     else TSV: QUERY-ID<TAB>TEXT\n"
            "  --corpus FILE      FILE.jsonl: {\"_id\", \"title\" (optional), \"text\"} a line (BEIR\n"
            "                     corpus.jsonl; the text embedded is title + \" \" + text, stripped);\n"
            "                     else TSV: DOC-ID<TAB>TEXT\n"
            "  --qrels FILE       TSV QUERY-ID<TAB>DOC-ID<TAB>RELEVANCE (integer, > 0 relevant);\n"
            "                     a first line without an integer relevance is a header (BEIR)\n"
            "  --k LIST           cut-offs of recall, precision, accuracy (default 1,3,5,10,100;\n"
            "                     at most %d)\n"
            "  --mrr-k N          MRR cut-off (default 10)\n"
            "  --ndcg-k N         nDCG cut-off (default 10)\n"
            "  --map-k N          MAP cut-off (default 100)\n"
            "  --gain G           nDCG gain of a grade: linear (the grade; default) | exp (2^grade - 1)\n"
            "  --score S          cosine (default) | dot\n"
            "  --out FILE         also write the metrics JSON to FILE\n"
            "  --per-query FILE   one JSON line per query: its metrics and its top %d documents\n"
            "  --query-embeddings FILE, --corpus-embeddings FILE\n"
            "                     rank these float32 (N, D) .npy rows (e.g. mtbert encode --out\n"
            "                     X.npy; row i = entry i of the file) instead of a model's\n"
            "  --batch N          texts per forward pass (default 32)\n"
            "  --max-len N        tokens per text incl. special tokens (default: the folder's)\n"
            "  --threads N        CPU threads (default: all cores)\n"
            "  --backend B        auto | cpu | cuda (default auto)\n"
            "  --precision P      fp32 | bf16\n"
            "\n"
            "Ranking: score descending, equal scores by corpus file order (the earlier first);\n"
            "scores are computed in double and compared as float32. Queries without a\n"
            "relevant document are skipped and counted (\"skipped\"). Bad input (a malformed\n"
            "line, a duplicate id, an unknown id in the qrels, an empty file) is exit 2\n"
            "naming FILE:LINE.\n",
            RETR_MAX_CUTS, PER_QUERY_TOP);
}

static int parse_cuts(const char *s, int *cuts, int *ncuts) {
    *ncuts = 0;
    const char *p = s;
    while (*p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 1 || v > 1000000000 || (*end && *end != ',') || *ncuts == RETR_MAX_CUTS) return -1;
        for (int c = 0; c < *ncuts; c++)
            if (cuts[c] == v) return -1;
        cuts[(*ncuts)++] = (int)v;
        p = *end ? end + 1 : end;
        if (*end && !*p) return -1;
    }
    return *ncuts ? 0 : -1;
}

/* A float32 .npy (little-endian, C order, 2-D): rows x cols into *out.
 * 0, or 2 after printing why. */
static int read_npy(const char *path, size_t want_rows, float **out, int *cols_out) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "mtbert retrieve: %s: %s\n", path, strerror(errno));
        return 2;
    }
    unsigned char pre[12];
    char *hdr = NULL;
    int rc = 2;
    size_t hlen = 0, rows = 0, cols = 0;
    if (fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY", 6) || pre[6] < 1 || pre[6] > 3) {
        fprintf(stderr, "mtbert retrieve: %s: not a .npy file\n", path);
        goto done;
    }
    if (pre[6] == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
    } else {
        if (fread(pre + 10, 1, 2, f) != 2) goto short_file;
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
    }
    if (hlen > (1u << 20)) goto short_file;
    hdr = xmalloc(hlen + 1);
    if (fread(hdr, 1, hlen, f) != hlen) goto short_file;
    hdr[hlen] = 0;
    const char *shape = strstr(hdr, "'shape':");
    unsigned long long r = 0, c = 0;
    if (!strstr(hdr, "'descr': '<f4'") || !strstr(hdr, "'fortran_order': False") || !shape ||
        sscanf(shape, "'shape': (%llu, %llu)", &r, &c) != 2 || c < 1) {
        fprintf(stderr, "mtbert retrieve: %s: expected a float32 ('<f4'), C-order, 2-D array; header %s\n", path,
                hdr);
        goto done;
    }
    rows = (size_t)r;
    cols = (size_t)c;
    if (rows != want_rows) {
        fprintf(stderr, "mtbert retrieve: %s: %zu rows, but the text file has %zu entries\n", path, rows, want_rows);
        goto done;
    }
    *out = xmalloc(sizeof(float) * rows * cols);
    if (fread(*out, sizeof(float), rows * cols, f) != rows * cols) {
        free(*out);
        *out = NULL;
        goto short_file;
    }
    for (size_t i = 0; i < rows * cols; i++)
        if (!isfinite((*out)[i])) {
            fprintf(stderr, "mtbert retrieve: %s: row %zu is not finite\n", path, i / cols);
            free(*out);
            *out = NULL;
            goto done;
        }
    *cols_out = (int)cols;
    rc = 0;
    goto done;
short_file:
    fprintf(stderr, "mtbert retrieve: %s: the .npy file is cut short\n", path);
done:
    free(hdr);
    fclose(f);
    return rc;
}

/* Embeds one file's texts; 0, or the exit code after printing why. */
static int embed_file(OpenModel *om, const IdTexts *t, const char *path, int batch, float *emb) {
    EmbedInfo info;
    int r = embed_texts(om, t->texts, t->n, batch, emb, &info);
    if (info.truncated)
        fprintf(stderr, "mtbert retrieve: %s: %zu of %zu texts truncated to %d wordpieces\n", path, info.truncated,
                t->n, om->max_len);
    if (r == EMBED_BAD_UTF8) {
        fprintf(stderr, "mtbert retrieve: %s:%d: invalid UTF-8 at byte %zu of the text\n", path,
                t->lines[info.bad_item], info.bad_byte);
        return 2;
    }
    if (r == EMBED_NONFINITE) {
        fprintf(stderr, "mtbert retrieve: %s:%d: the embedding is not finite\n", path, t->lines[info.bad_item]);
        return 1;
    }
    if (r == EMBED_NOMEM) {
        fprintf(stderr, "mtbert retrieve: %s: out of memory\n", path);
        return 1;
    }
    return 0;
}

static void put_metrics(json_t *o, const RetrSummary *s) {
    char key[64];
    snprintf(key, sizeof key, "mrr@%d", s->mrr_k);
    json_object_set_new(o, key, json_real(s->mrr));
    snprintf(key, sizeof key, "ndcg@%d", s->ndcg_k);
    json_object_set_new(o, key, json_real(s->ndcg));
    snprintf(key, sizeof key, "map@%d", s->map_k);
    json_object_set_new(o, key, json_real(s->map));
    const char *names[3] = {"recall", "precision", "accuracy"};
    const double *vals[3] = {s->recall, s->precision, s->accuracy};
    for (int k = 0; k < 3; k++)
        for (int c = 0; c < s->ncuts; c++) {
            snprintf(key, sizeof key, "%s@%d", names[k], s->cuts[c]);
            json_object_set_new(o, key, json_real(vals[k][c]));
        }
}

static int write_line(FILE *f, json_t *o) {
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    int rc = !s || fprintf(f, "%s\n", s) < 0;
    free(s);
    return rc;
}

/* Ranks and scores every query; the per-query lines go to pq when not NULL.
 * 0, or the exit code after printing why. */
typedef struct {
    const float *qe, *ce;
    const double *qn, *cn; /* norms (cosine) or NULL (dot) */
    size_t nq, nd;
    int d;
} Scorer;

static int evaluate(const Scorer *S, const IdTexts *Q, const IdTexts *C, const Qrels *R, RetrMetrics *m,
                    FsAtomicFile *pq) {
    size_t blk = 64;
    float *sc = xmalloc(sizeof(float) * blk * (S->nd ? S->nd : 1));
    RetrMetrics one;
    int rc = 0;
    if (pq && retr_init(&one, m->cuts, m->ncuts, m->mrr_k, m->ndcg_k, m->map_k, m->gain)) return 1;
    int top[PER_QUERY_TOP];
    char err[4200];
    for (size_t q0 = 0; !rc && q0 < S->nq; q0 += blk) {
        size_t nb = S->nq - q0 < blk ? S->nq - q0 : blk;
        rf_scores(S->qe, S->qn, q0, nb, S->ce, S->cn, S->nd, S->d, sc);
        for (size_t i = 0; !rc && i < nb; i++) {
            size_t q = q0 + i;
            const float *row = sc + i * S->nd;
            int o = R->off[q], nr = R->off[q + 1] - R->off[q];
            if (retr_add_query(m, row, (int)S->nd, R->docs + o, R->grades + o, nr)) {
                fprintf(stderr, "mtbert retrieve: query '%s': a score is not finite\n", Q->ids[q]);
                rc = 1;
                break;
            }
            if (!pq) continue;
            retr_reset(&one);
            retr_add_query(&one, row, (int)S->nd, R->docs + o, R->grades + o, nr);
            RetrSummary s;
            retr_compute(&one, &s);
            json_t *line = json_object();
            json_object_set_new(line, "qid", json_string(Q->ids[q]));
            int nrel = 0;
            for (int k = 0; k < nr; k++) nrel += R->grades[o + k] > 0;
            json_object_set_new(line, "relevant", json_integer(nrel));
            if (s.n_queries) put_metrics(line, &s);
            else json_object_set_new(line, "skipped", json_true());
            int nt = retr_topk(row, (int)S->nd, PER_QUERY_TOP, top);
            json_t *tl = json_array();
            for (int r = 0; r < nt; r++) {
                json_t *e = json_array();
                json_array_append_new(e, json_string(C->ids[top[r]]));
                json_array_append_new(e, json_real(row[top[r]]));
                json_array_append_new(tl, e);
            }
            json_object_set_new(line, "top", tl);
            char *txt = json_dumps(line, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
            json_decref(line);
            if (!txt || fs_atomic_write(pq, txt, strlen(txt), err, sizeof err) || fs_atomic_write(pq, "\n", 1, err, sizeof err)) {
                fprintf(stderr, "mtbert retrieve: %s\n", txt ? err : "out of memory");
                rc = 1;
            }
            free(txt);
        }
    }
    if (pq) retr_free(&one);
    free(sc);
    return rc;
}

int cmd_retrieve(int argc, char **argv) {
    const char *model_path = NULL, *qpath = NULL, *cpath = NULL, *rpath = NULL, *kstr = NULL, *gain_s = NULL;
    const char *score_s = NULL, *out_path = NULL, *pq_path = NULL, *qemb_path = NULL, *cemb_path = NULL;
    const char *backend = NULL, *precision = NULL;
    int batch = 32, max_len = 0, threads = 0, mrr_k = 10, ndcg_k = 10, map_k = 100;
    const OptSpec opts[] = {
        {"model", OPT_STRING, &model_path, 0, 0, 0},
        {"queries", OPT_STRING, &qpath, 0, 0, 0},
        {"corpus", OPT_STRING, &cpath, 0, 0, 0},
        {"qrels", OPT_STRING, &rpath, 0, 0, 0},
        {"k", OPT_STRING, &kstr, 0, 0, 0},
        {"mrr-k", OPT_INT, &mrr_k, 1, 1000000000, 0},
        {"ndcg-k", OPT_INT, &ndcg_k, 1, 1000000000, 0},
        {"map-k", OPT_INT, &map_k, 1, 1000000000, 0},
        {"gain", OPT_STRING, &gain_s, 0, 0, 0},
        {"score", OPT_STRING, &score_s, 0, 0, 0},
        {"out", OPT_STRING, &out_path, 0, 0, 0},
        {"per-query", OPT_STRING, &pq_path, 0, 0, 0},
        {"query-embeddings", OPT_STRING, &qemb_path, 0, 0, 0},
        {"corpus-embeddings", OPT_STRING, &cemb_path, 0, 0, 0},
        {"batch", OPT_INT, &batch, 1, 4096, 0},
        {"max-len", OPT_INT, &max_len, 2, 1 << 20, 0},
        {"threads", OPT_INT, &threads, 1, 4096, 0},
        CLI_BACKEND_OPTS(backend, precision),
    };
    int npos, pr = cli_parse("retrieve", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, &npos, usage);
    if (pr) return cli_exit(pr);
    const char *missing = !qpath ? "--queries" : !cpath ? "--corpus" : !rpath ? "--qrels" : NULL;
    if (missing) {
        fprintf(stderr, "mtbert retrieve: %s FILE is required\n", missing);
        usage(stderr);
        return 2;
    }
    if (!!qemb_path != !!cemb_path || (!model_path) == !qemb_path) {
        fprintf(stderr, "mtbert retrieve: give --model DIR, or both --query-embeddings and --corpus-embeddings\n");
        return 2;
    }
    int cuts[RETR_MAX_CUTS] = {1, 3, 5, 10, 100}, ncuts = 5;
    if (kstr && parse_cuts(kstr, cuts, &ncuts)) {
        fprintf(stderr, "mtbert retrieve: --k: '%s' is not a list of 1 to %d different integers >= 1 (e.g. 1,3,5,10)\n",
                kstr, RETR_MAX_CUTS);
        return 2;
    }
    RetrGain gain = RETR_GAIN_LINEAR;
    if (gain_s && strcmp(gain_s, "linear")) {
        if (strcmp(gain_s, "exp")) { fprintf(stderr, "mtbert retrieve: --gain must be linear or exp\n"); return 2; }
        gain = RETR_GAIN_EXP;
    }
    int dot = 0;
    if (score_s && strcmp(score_s, "cosine")) {
        if (strcmp(score_s, "dot")) { fprintf(stderr, "mtbert retrieve: --score must be cosine or dot\n"); return 2; }
        dot = 1;
    }

    IdTexts Q = {0}, C = {0};
    Qrels R = {0};
    float *qe = NULL, *ce = NULL;
    double *qn = NULL, *cn = NULL;
    int rc = rf_read_texts("retrieve", qpath, 0, &Q);
    if (!rc) rc = rf_read_texts("retrieve", cpath, 1, &C);
    if (!rc) rc = rf_read_qrels("retrieve", rpath, &Q, qpath, &C, cpath, &R);
    if (rc) goto out;
    int d = 0;
    if (qemb_path) {
        int d2 = 0;
        rc = read_npy(qemb_path, Q.n, &qe, &d);
        if (!rc) rc = read_npy(cemb_path, C.n, &ce, &d2);
        if (!rc && d != d2) {
            fprintf(stderr, "mtbert retrieve: %s has %d columns, %s %d\n", qemb_path, d, cemb_path, d2);
            rc = 2;
        }
        if (rc) goto out;
    } else {
        size_t most = Q.n > C.n ? Q.n : C.n;
        OpenOptions oo = {.backend = backend, .precision = precision, .threads = threads,
                          .max_batch = batch < (int)most ? batch : (int)most, .max_len = max_len,
                          .pooling = -1, .normalize = -1};
        OpenModel om;
        char err[4096];
        if (model_open(&om, model_path, &oo, &rc, err, sizeof err)) {
            fprintf(stderr, "mtbert retrieve: %s\n", err);
            goto out;
        }
        input_note_tokenizer("retrieve", om.dir.vocab, om.dir.vocab_txt_unused);
        d = model_embedding_dim(&om.model);
        qe = xmalloc(sizeof(float) * Q.n * d);
        ce = xmalloc(sizeof(float) * C.n * d);
        rc = embed_file(&om, &Q, qpath, oo.max_batch, qe);
        if (!rc) rc = embed_file(&om, &C, cpath, oo.max_batch, ce);
        model_close(&om);
        if (rc) goto out;
    }
    if (!dot) {
        qn = rf_norms(qe, Q.n, d);
        cn = rf_norms(ce, C.n, d);
    }
    RetrMetrics m;
    if (retr_init(&m, cuts, ncuts, mrr_k, ndcg_k, map_k, gain)) {
        fprintf(stderr, "mtbert retrieve: bad cut-offs\n");
        rc = 2;
        goto out;
    }
    Scorer S = {qe, ce, qn, cn, Q.n, C.n, d};
    FsAtomicFile pqf;
    char err[4200];
    if (pq_path && fs_atomic_begin(&pqf, pq_path, err, sizeof err)) {
        fprintf(stderr, "mtbert retrieve: %s\n", err);
        rc = 1;
        retr_free(&m);
        goto out;
    }
    rc = evaluate(&S, &Q, &C, &R, &m, pq_path ? &pqf : NULL);
    if (pq_path) {
        if (rc) fs_atomic_abort(&pqf);
        else if (fs_atomic_commit(&pqf, err, sizeof err)) {
            fprintf(stderr, "mtbert retrieve: %s\n", err);
            rc = 1;
        }
    }
    RetrSummary s;
    retr_compute(&m, &s);
    retr_free(&m);
    if (rc) goto out;
    if (!s.n_queries) {
        fprintf(stderr, "mtbert retrieve: %s: no query of %s has a relevant document (relevance > 0)\n", rpath, qpath);
        rc = 2;
        goto out;
    }
    json_t *o = json_object();
    json_object_set_new(o, "queries", json_integer((json_int_t)Q.n));
    json_object_set_new(o, "evaluated", json_integer(s.n_queries));
    json_object_set_new(o, "skipped", json_integer(s.n_skipped));
    json_object_set_new(o, "corpus", json_integer((json_int_t)C.n));
    json_object_set_new(o, "judgements", json_integer((json_int_t)R.n));
    json_object_set_new(o, "score", json_string(dot ? "dot" : "cosine"));
    json_object_set_new(o, "gain", json_string(gain == RETR_GAIN_EXP ? "exp" : "linear"));
    put_metrics(o, &s);
    if (write_line(stdout, o) || fflush(stdout)) {
        fprintf(stderr, "mtbert retrieve: <stdout>: write failed: %s\n", strerror(errno));
        rc = 1;
    }
    if (!rc && out_path) {
        char *txt = json_dumps(o, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        FsAtomicFile af;
        if (!txt || fs_atomic_begin(&af, out_path, err, sizeof err) || fs_atomic_write(&af, txt, strlen(txt), err, sizeof err) ||
            fs_atomic_write(&af, "\n", 1, err, sizeof err) || fs_atomic_commit(&af, err, sizeof err)) {
            fprintf(stderr, "mtbert retrieve: %s\n", txt ? err : "out of memory");
            rc = 1;
        }
        free(txt);
    }
    json_decref(o);
out:
    free(qe); free(ce); free(qn); free(cn);
    rf_free_texts(&Q);
    rf_free_texts(&C);
    rf_free_qrels(&R);
    return rc;
}
