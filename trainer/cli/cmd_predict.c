/* mtbert predict — one JSON object per input sentence: each sentence task's
 * label and probabilities (with --pairs, one per `a<TAB>b` line: each
 * cross-encoder task's label and probabilities, or score), each token
 * task's tag per word and the entity spans, read from the tags with the
 * task's recorded tag_scheme. Words are
 * the sentence split on whitespace; the words are tokenized as prepare
 * tokenizes a token task's words (prepare_encode_words: each on its own, for
 * a tokenizer.json after a space) and a word's tag is read from its first
 * piece, as in training. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/prepare.h"
#include "data/tokenizer_json.h"
#include "trainer/cli/cli.h"
#include "trainer/train/metrics.h"
#include "trainer/cli/args.h"
#include "trainer/cli/input.h"
#include "trainer/model/token_batches.h"
#include "trainer/model/task_kind.h"
#include "trainer/store/model_open.h"
#include "util/xalloc.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert predict --model DIR [options]\n"
            "\n"
            "Reads one sentence a line (stdin or --input) and writes one JSON object a line:\n"
            "  {\"text\": ..., \"TASK\": {\"label\": ..., \"probs\": {LABEL: p, ...}},\n"
            "   \"NERTASK\": {\"words\": [...], \"tags\": [...], \"probs\": [p of each tag, ...],\n"
            "   \"entities\": [{\"type\", \"start\", \"end\", \"text\"}]}}\n"
            "With --pairs each line is a sentence pair 'A<TAB>B' and only the cross-encoder\n"
            "tasks run, on the tokenizer's pair template ([CLS] A [SEP] B [SEP], cut longest\n"
            "first to --max-len, token type ids as prepare --join-pairs stores them):\n"
            "  {\"text\": A, \"text_b\": B, \"TASK\": {\"label\": ..., \"probs\": {...}},\n"
            "   \"REGTASK\": {\"score\": sigmoid(logit)}}\n"
            "Without --pairs the cross-encoder tasks are left out.\n"
            "DIR is an mtbert checkpoint or export (it must hold mtbert_tasks.json and\n"
            "mtbert_heads.safetensors). Words are whitespace-separated; entity start/end are\n"
            "word indices, end inclusive, read from the tags with the task's tag_scheme as\n"
            "recorded in mtbert_tasks.json (conlleval when absent). A word whose first\n"
            "wordpiece lies past --max-len gets tag null and is in no entity.\n"
            "\n"
            "  --model DIR     checkpoint, export, RUN/latest, RUN/best or a run directory\n"
            "  --input FILE    sentences (default stdin)\n"
            "  --pairs         lines are 'A<TAB>B' pairs for the cross-encoder tasks\n"
            "  --max-len N     tokens incl. [CLS]/[SEP] (default: the folder's)\n"
            "  --threads N     CPU threads (default: all cores)\n"
            "  --max-tokens N  tokens per forward pass: sentences (or pairs) are sorted by length and\n"
            "                  cut into batches of rows x longest <= N (default %d; 0: no\n"
            "                  budget); a longer sentence runs alone. Output stays in input order\n"
            "  --batch N       at most N sentences per forward pass (default %d); also --batch-size\n"
            "  --backend B     auto | cpu | cuda (default auto)\n"
            "  --precision P   fp32 | bf16 (bf16: tensor cores on a GPU; on the CPU the\n"
            "                  slower bf16 numerics reference, docs/precision.md)\n"
            "MTBERT_BATCH_STATS=1 prints the batches and the time spent to stderr.\n",
            TOKEN_BATCH_DEFAULT_TOKENS, TOKEN_BATCH_DEFAULT_ROWS);
}

/* One line: its whitespace words, each tokenized on its own; the framed
 * ids; where each word's first piece landed. Words whose first piece falls
 * past max_len - 2 pieces are truncated away: they get tag null and take
 * no part in the entity spans (docs/export.md, "predict"). */
typedef struct {
    IntVec ids;      /* the tokenizer's template around the pieces: [CLS] pieces [SEP] */
    int nwords;
    char **words;
    int *first;      /* (nwords) position of each word's first piece in ids, -1 if truncated away */
} Encoded;

static void encoded_free(Encoded *e) {
    intvec_free(&e->ids);
    free(e->words);
    free(e->first);
    memset(e, 0, sizeof *e);
}

static int encode_line(const Tok *tok, char *line, int max_len, Encoded *e, size_t *bad) {
    memset(e, 0, sizeof *e);
    int cap = 16;
    e->words = xmalloc(sizeof(char *) * cap);
    char *save = NULL;
    for (char *w = strtok_r(line, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save)) {
        if (e->nwords == cap) {
            cap *= 2;
            e->words = xrealloc(e->words, sizeof(char *) * cap);
        }
        e->words[e->nwords++] = w;
    }
    e->first = xmalloc(sizeof(int) * (size_t)(e->nwords + 1));
    TokEnc pieces = {0}, framed = {0};
    int bw;
    char err[512];
    /* empty NULL: a word without a piece gets none, and tag null */
    if (prepare_encode_words(tok, (const char *const *)e->words, e->nwords, &pieces, e->first, NULL, &bw, bad, err,
                             sizeof err)) {
        *bad += (size_t)(e->words[bw] - line); /* offset within the line */
        tok_enc_free(&pieces);
        encoded_free(e);
        return -1;
    }
    tok_post_process(tok, &pieces, NULL, max_len, &framed);
    int lead = 0, kept = 0;
    while ((size_t)lead < framed.len && framed.seq[lead] < 0) lead++;
    for (size_t i = 0; i < framed.len; i++) {
        kept += framed.seq[i] == 0;
        intvec_push(&e->ids, framed.ids[i]);
    }
    if (!e->ids.len) intvec_push(&e->ids, tok_unk_id(tok) >= 0 ? tok_unk_id(tok) : 0); /* never length 0 */
    for (int w = 0; w < e->nwords; w++) {
        int next = w + 1 < e->nwords ? e->first[w + 1] : (int)pieces.len;
        e->first[w] = next > e->first[w] && e->first[w] < kept ? lead + e->first[w] : -1;
    }
    tok_enc_free(&pieces);
    tok_enc_free(&framed);
    return 0;
}

static void softmax(const float *x, int n, double *p) {
    double mx = x[0], s = 0;
    for (int i = 1; i < n; i++) mx = fmax(mx, x[i]);
    for (int i = 0; i < n; i++) s += p[i] = exp(x[i] - mx);
    for (int i = 0; i < n; i++) p[i] /= s;
}

/* The label name of class k, or its number when the folder has no names. */
static json_t *label_json(const ModelDir *d, int t, int k) {
    return k < d->nlabels[t] ? json_string(d->labels[t][k]) : json_integer(k);
}

static json_t *predict_sentence_task(const ModelDir *d, int t, const float *logits, double *p) {
    int V = d->mc.tasks[t].num_labels;
    softmax(logits, V, p);
    int best = 0;
    json_t *r = json_object(), *probs = json_object();
    for (int k = 0; k < V; k++) {
        if (p[k] > p[best]) best = k;
        char idx[16];
        snprintf(idx, sizeof idx, "%d", k);
        json_object_set_new(probs, k < d->nlabels[t] ? d->labels[t][k] : idx, json_real(p[k]));
    }
    json_object_set_new(r, "label", label_json(d, t, best));
    json_object_set_new(r, "probs", probs);
    return r;
}

/* Tags per word (null past the truncation point) and entity spans over the
 * words that were tagged. */
static json_t *predict_token_task(const ModelDir *d, int t, const float *logits, const Encoded *e,
                                  const NerMetrics *ner, int *pred, NerChunk *chunks) {
    int V = d->mc.tasks[t].num_labels;
    json_t *r = json_object(), *words = json_array(), *tags = json_array(), *probs = json_array();
    int tagged = 0; /* words 0..tagged-1 have a tag: truncation cuts a suffix */
    double *p = xmalloc(sizeof(double) * (size_t)V);
    for (int w = 0; w < e->nwords; w++) {
        int pos = e->first[w];
        json_array_append_new(words, json_string(e->words[w]));
        if (pos < 0) {
            json_array_append_new(tags, json_null());
            json_array_append_new(probs, json_null());
            continue;
        }
        int k = 0;
        for (int c = 1; c < V; c++) if (logits[(size_t)pos * V + c] > logits[(size_t)pos * V + k]) k = c;
        softmax(logits + (size_t)pos * V, V, p);
        pred[tagged++] = k;
        json_array_append_new(tags, label_json(d, t, k));
        json_array_append_new(probs, json_real(p[k]));
    }
    free(p);
    json_object_set_new(r, "words", words);
    json_object_set_new(r, "tags", tags);
    json_object_set_new(r, "probs", probs);
    if (ner) {
        json_t *ents = json_array();
        int nc = ner_chunks(ner, pred, tagged, chunks);
        for (int c = 0; c < nc; c++) {
            size_t len = 1;
            for (int w = chunks[c].start; w <= chunks[c].end; w++) len += strlen(e->words[w]) + 1;
            char *span = xmalloc(len);
            span[0] = 0;
            for (int w = chunks[c].start; w <= chunks[c].end; w++) {
                if (w > chunks[c].start) strcat(span, " ");
                strcat(span, e->words[w]);
            }
            json_array_append_new(ents, json_pack("{s:s, s:i, s:i, s:s}", "type", ner->types[chunks[c].type], "start",
                                                  chunks[c].start, "end", chunks[c].end, "text", span));
            free(span);
        }
        json_object_set_new(r, "entities", ents);
    }
    return r;
}

/* One entity decoder per token task with label names, reading tags with
 * the scheme the folder records (mtbert_tasks.json tag_scheme, as training
 * evaluated it). A strict scheme with E-/S- labels is refused, as training's
 * set-up refuses it: -1 with the message printed. */
static int init_entity_decoders(const ModelDir *d, NerMetrics *ner, int *have_ner) {
    for (int t = 0; t < d->mc.ntasks; t++) {
        if (task_kind(d->mc.tasks[t].type)->head != HEAD_TOKEN || d->nlabels[t] == 0) continue;
        const char *const *names = (const char *const *)d->labels[t];
        NerScheme scheme = (NerScheme)d->tag_scheme[t];
        int bad = ner_scheme_check(names, d->nlabels[t], scheme);
        if (bad >= 0) {
            fprintf(stderr, "mtbert predict: %s/mtbert_tasks.json: task %s: tag_scheme %s takes O, B- and I- tags "
                    "only; label '%s' is not one\n", d->dir, d->mc.tasks[t].name,
                    ner_scheme_name(d->tag_scheme[t]), names[bad]);
            return -1;
        }
        if (ner_init_scheme(&ner[t], names, d->nlabels[t], scheme)) {
            fprintf(stderr, "mtbert predict: task %s: cannot set up the entity decoder\n", d->mc.tasks[t].name);
            return -1;
        }
        have_ner[t] = 1;
    }
    return 0;
}

/* A pair line "A<TAB>B" framed as prepare --join-pairs frames it: ids
 * and token type ids (T entries each). 0; -1 without a tab (*bad = -1) or
 * for invalid UTF-8 at byte *bad of the line. */
static int encode_pair_line(const Tok *tok, const char *line, int max_len, IntVec *ids, IntVec *types, size_t *bad) {
    const char *tab = strchr(line, '\t');
    if (!tab) {
        *bad = (size_t)-1;
        return -1;
    }
    TokEnc a = {0}, b = {0}, framed = {0};
    size_t na = (size_t)(tab - line), off = 0;
    int rc = -1;
    if (prepare_encode_text(tok, line, na, &a, bad)) goto out;
    off = na + 1;
    if (prepare_encode_text(tok, tab + 1, strlen(tab + 1), &b, bad)) {
        *bad += off;
        goto out;
    }
    tok_post_process(tok, &a, &b, max_len, &framed);
    ids->len = types->len = 0;
    for (size_t i = 0; i < framed.len; i++) {
        intvec_push(ids, framed.ids[i]);
        intvec_push(types, framed.type_ids[i]);
    }
    if (!ids->len) { /* never length 0 */
        intvec_push(ids, tok_unk_id(tok) >= 0 ? tok_unk_id(tok) : 0);
        intvec_push(types, 0);
    }
    rc = 0;
out:
    tok_enc_free(&a);
    tok_enc_free(&b);
    tok_enc_free(&framed);
    return rc;
}

/* ---- batched prediction: token_batches.h ----
 * Lines are read in windows of PREDICT_WINDOW; each window's sentences are
 * sorted by length and cut into batches by the token budget, and the JSON
 * lines are written in input order once the window is done. The output is
 * the one a sentence-at-a-time run writes: on an invalid line or scores
 * that are not finite, the lines before it are written, then the error. */
#define PREDICT_WINDOW 4096

typedef struct {
    const char *text; /* the line */
    char *words;   /* the line's copy that Encoded.words point into */
    Encoded e;     /* (--pairs: e.ids only, the framed pair) */
    IntVec types;  /* --pairs: the token type ids of e.ids */
    char *json;    /* the output line (NULL until made, or when it fails) */
    int bad_task;  /* >= 0: that task's scores are not finite */
} PredLine;

typedef struct {
    OpenModel *om;
    const char *in_name;
    int batch;
    long max_tokens;
    int stats;
    int pairs;      /* --pairs: lines are A<TAB>B, only the cross-encoder tasks run */
    NerMetrics *ner;
    const int *have_ner;
    float *logits;  /* (maxN x the largest num_labels) */
    double *p;
    int *bid, *bmask, *btype; /* (maxN) */
    double tok_s, fwd_s;
    TokenPlan total; /* the sums over windows, for the statistics line */
} PredictRun;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* One batch: forward, then each task's scores row by row into each line's
 * JSON object; a row whose scores are not finite gets bad_task. */
static void predict_batch(PredictRun *pr, PredLine *pl, const int *order, const TokenBatch *tb) {
    const ModelDir *d = &pr->om->dir;
    int nb = tb->rows, T = tb->T, nt = d->mc.ntasks;
    int pad = tok_pad_id(pr->om->tok) >= 0 ? tok_pad_id(pr->om->tok) : 0;
    for (int r = 0; r < nb; r++) {
        const IntVec *ids = &pl[order[r]].e.ids, *types = &pl[order[r]].types;
        for (int j = 0; j < T; j++) {
            pr->bid[r * T + j] = (size_t)j < ids->len ? ids->data[j] : pad;
            pr->bmask[r * T + j] = (size_t)j < ids->len;
            if (pr->pairs) pr->btype[r * T + j] = (size_t)j < types->len ? types->data[j] : 0;
        }
    }
    Batch b = {.B = nb, .T = T, .input_ids = pr->bid, .type_ids = pr->pairs ? pr->btype : NULL, .mask = pr->bmask};
    model_forward(&pr->om->model, &b);
    json_t **o = xmalloc(sizeof(json_t *) * (size_t)nb);
    for (int r = 0; r < nb; r++) {
        const char *text = pl[order[r]].text, *tab = pr->pairs ? strchr(text, '\t') : NULL;
        o[r] = json_object();
        json_object_set_new(o[r], "text", tab ? json_stringn(text, (size_t)(tab - text)) : json_string(text));
        if (tab) json_object_set_new(o[r], "text_b", json_string(tab + 1));
    }
    for (int t = 0; t < nt; t++) {
        const TaskConfig *tc = &d->mc.tasks[t];
        HeadKind h = task_kind(tc->type)->head;
        /* --pairs: the cross-encoder tasks only; else every other task with a head */
        if (pr->pairs ? !task_joined_pairs(tc->type) : h == HEAD_COSINE || task_joined_pairs(tc->type)) continue;
        int V = tc->num_labels;
        model_get_logits(&pr->om->model, t, pr->logits);
        for (int r = 0; r < nb; r++) {
            PredLine *l = &pl[order[r]];
            if (l->bad_task >= 0) continue;
            /* this row's scores: (len, V) of a token task's (T, V) row block, or (V) */
            const float *lg = pr->logits + (size_t)r * (h == HEAD_TOKEN ? (size_t)T * V : (size_t)V);
            size_t n = (h == HEAD_TOKEN ? l->e.ids.len : 1) * (size_t)V;
            for (size_t i = 0; i < n; i++)
                if (!isfinite(lg[i])) { l->bad_task = t; break; }
            if (l->bad_task >= 0) continue;
            if (pr->pairs) { /* a cross-encoder: label and probabilities, or the score (sigmoid of the logit) */
                json_object_set_new(o[r], tc->name,
                                    task_score_head(tc->type)
                                        ? json_pack("{s:f}", "score", 1.0 / (1.0 + exp(-(double)lg[0])))
                                        : predict_sentence_task(d, t, lg, pr->p));
                continue;
            }
            int nw = l->e.nwords ? l->e.nwords : 1;
            int *pred = xmalloc(sizeof(int) * nw);
            NerChunk *chunks = xmalloc(sizeof(NerChunk) * nw);
            json_object_set_new(o[r], d->mc.tasks[t].name,
                                h == HEAD_SENTENCE ? predict_sentence_task(d, t, lg, pr->p)
                                                   : predict_token_task(d, t, lg, &l->e,
                                                                        pr->have_ner[t] ? &pr->ner[t] : NULL, pred,
                                                                        chunks));
            free(pred);
            free(chunks);
        }
    }
    for (int r = 0; r < nb; r++) {
        PredLine *l = &pl[order[r]];
        if (l->bad_task < 0) l->json = json_dumps(o[r], JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        json_decref(o[r]);
    }
    free(o);
}

/* Lines [lo, hi) of L: encoded up to the first invalid one, run in token
 * batches, written in order. 0, 1 (scores not finite, JSON failure) or 2
 * (invalid UTF-8), with the message printed. */
static int predict_window(PredictRun *pr, const Lines *L, size_t lo, size_t hi) {
    size_t n = hi - lo, good = n, bad = 0;
    PredLine *pl = xmalloc(sizeof(PredLine) * (n ? n : 1));
    int *lens = xmalloc(sizeof(int) * (n ? n : 1));
    double t0 = now_s();
    for (size_t i = 0; i < n; i++) {
        pl[i].text = L->lines[lo + i];
        pl[i].words = pr->pairs ? NULL : xstrdup(L->lines[lo + i]); /* encode_line cuts it into words */
        pl[i].json = NULL;
        pl[i].bad_task = -1;
        memset(&pl[i].e, 0, sizeof pl[i].e);
        memset(&pl[i].types, 0, sizeof pl[i].types);
        if (pr->pairs ? encode_pair_line(pr->om->tok, pl[i].text, pr->om->max_len, &pl[i].e.ids, &pl[i].types, &bad)
                      : encode_line(pr->om->tok, pl[i].words, pr->om->max_len, &pl[i].e, &bad)) {
            encoded_free(&pl[i].e);
            intvec_free(&pl[i].types);
            free(pl[i].words);
            good = i;
            break;
        }
        lens[i] = (int)pl[i].e.ids.len;
    }
    TokenPlan plan;
    int rc = 0;
    if (token_plan(&plan, lens, good, pr->batch, pr->max_tokens)) {
        fprintf(stderr, "mtbert predict: out of memory\n");
        rc = 1;
        good = 0;
    }
    double t1 = now_s();
    for (size_t bi = 0; !rc && bi < plan.nbatches; bi++) {
        if (pr->stats) token_stats_batch("predict", pr->total.nbatches + bi, &plan.batches[bi]);
        predict_batch(pr, pl, plan.order + plan.batches[bi].start, &plan.batches[bi]);
    }
    pr->tok_s += t1 - t0;
    pr->fwd_s += now_s() - t1;
    if (!rc) {
        pr->total.n += plan.n;
        pr->total.nbatches += plan.nbatches;
        pr->total.real_tokens += plan.real_tokens;
        pr->total.padded_tokens += plan.padded_tokens;
        if (plan.max_rows > pr->total.max_rows) pr->total.max_rows = plan.max_rows;
        if (plan.max_tokens > pr->total.max_tokens) pr->total.max_tokens = plan.max_tokens;
        token_plan_free(&plan);
    }
    for (size_t i = 0; i < good; i++) {
        if (!rc && pl[i].bad_task >= 0) {
            fprintf(stderr, "mtbert predict: %s:%zu: task %s: the model's scores are not finite\n", pr->in_name,
                    lo + i + 1, pr->om->dir.mc.tasks[pl[i].bad_task].name);
            rc = 1;
        } else if (!rc && !pl[i].json) {
            fprintf(stderr, "mtbert predict: %s:%zu: cannot write the line as JSON\n", pr->in_name, lo + i + 1);
            rc = 1;
        } else if (!rc) {
            printf("%s\n", pl[i].json);
        }
        free(pl[i].json);
        free(pl[i].words);
        encoded_free(&pl[i].e);
        intvec_free(&pl[i].types);
    }
    if (!rc && good < n) {
        if (bad == (size_t)-1)
            fprintf(stderr, "mtbert predict: %s:%zu: expected two sentences separated by a tab (--pairs)\n",
                    pr->in_name, lo + good + 1);
        else
            fprintf(stderr, "mtbert predict: %s:%zu: invalid UTF-8 at byte %zu\n", pr->in_name, lo + good + 1, bad);
        rc = 2;
    }
    free(pl);
    free(lens);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    const char *model_path = NULL, *input = NULL, *backend = NULL, *precision = NULL;
    int max_len = 0, threads = 0, pairs = 0, batch = TOKEN_BATCH_DEFAULT_ROWS, max_tokens = TOKEN_BATCH_DEFAULT_TOKENS;
    const OptSpec opts[] = {
        {"model", OPT_STRING, &model_path, 0, 0, 0},
        {"input", OPT_STRING, &input, 0, 0, 0},
        {"pairs", OPT_FLAG, &pairs, 0, 0, 1},
        {"max-len", OPT_INT, &max_len, 2, 1 << 20, 0},
        {"threads", OPT_INT, &threads, 1, 4096, 0},
        {"batch", OPT_INT, &batch, 1, 4096, 0},
        {"batch-size", OPT_INT, &batch, 1, 4096, 0},
        {"max-tokens", OPT_INT, &max_tokens, 0, 1 << 24, 0},
        CLI_BACKEND_OPTS(backend, precision),
    };
    int npos, pr = cli_parse("predict", argc, argv, opts, sizeof opts / sizeof opts[0], NULL, 0, &npos, usage);
    if (pr) return cli_exit(pr);
    if (!model_path) { fprintf(stderr, "mtbert predict: --model DIR is required\n"); usage(stderr); return 2; }
    Lines L;
    if (lines_read("predict", input, &L)) return 2;
    const char *in_name = input_name(input);
    if (batch > (int)L.n) batch = L.n ? (int)L.n : 1;
    OpenOptions oo = {.backend = backend, .precision = precision, .threads = threads, .max_batch = batch,
                      .max_tokens = max_tokens, .max_len = max_len, .pooling = -1, .normalize = -1,
                      .need_heads = 1};
    OpenModel om;
    char err[8192];
    int status;
    if (model_open(&om, model_path, &oo, &status, err, sizeof err)) {
        fprintf(stderr, "mtbert predict: %s\n", err);
        lines_free(&L);
        return status;
    }
    const ModelDir *d = &om.dir;
    input_note_tokenizer("predict", d->vocab, d->vocab_txt_unused);
    int nt = d->mc.ntasks, maxV = 1, rc = 0;
    NerMetrics ner[MAX_TASKS];
    int have_ner[MAX_TASKS] = {0};
    for (int t = 0; t < nt; t++)
        if (d->mc.tasks[t].num_labels > maxV) maxV = d->mc.tasks[t].num_labels;
    if (init_entity_decoders(d, ner, have_ner)) {
        for (int t = 0; t < nt; t++) if (have_ner[t]) ner_free(&ner[t]);
        model_close(&om);
        lines_free(&L);
        return 2;
    }
    int n_cross = 0;
    for (int t = 0; t < nt; t++) n_cross += task_joined_pairs(d->mc.tasks[t].type);
    if (pairs && !n_cross) {
        fprintf(stderr, "mtbert predict: --pairs: %s has no cross-encoder task (cross_encoder, "
                "cross_encoder_regression)\n", d->dir);
        rc = 2;
    } else if (!pairs && n_cross)
        fprintf(stderr, "mtbert predict: note: %d cross-encoder task%s left out: give --pairs and 'A<TAB>B' lines\n",
                n_cross, n_cross == 1 ? "" : "s");
    size_t cap = om.model.maxN;
    PredictRun run = {.om = &om, .in_name = in_name, .batch = batch, .max_tokens = max_tokens,
                      .stats = token_stats_enabled(), .pairs = pairs, .ner = ner, .have_ner = have_ner,
                      .logits = xmalloc(sizeof(float) * cap * maxV), .p = xmalloc(sizeof(double) * maxV),
                      .bid = xmalloc(sizeof(int) * cap), .bmask = xmalloc(sizeof(int) * cap),
                      .btype = xmalloc(sizeof(int) * cap)};
    for (size_t lo = 0; lo < L.n && !rc; lo += PREDICT_WINDOW)
        rc = predict_window(&run, &L, lo, lo + PREDICT_WINDOW < L.n ? lo + PREDICT_WINDOW : L.n);
    if (run.stats) token_stats_summary("predict", &run.total, max_tokens, batch, run.tok_s, run.fwd_s);
    if (ferror(stdout) || fflush(stdout)) { fprintf(stderr, "mtbert predict: <stdout>: write failed\n"); rc = 1; }
    free(run.logits); free(run.p); free(run.bid); free(run.bmask); free(run.btype);
    for (int t = 0; t < nt; t++) if (have_ner[t]) ner_free(&ner[t]);
    model_close(&om);
    lines_free(&L);
    return rc;
}
