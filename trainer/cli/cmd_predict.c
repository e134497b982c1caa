/* mtbert predict — one JSON object per input sentence: each sentence task's
 * label and probabilities, each token task's tag per word and the entity
 * spans. Words are the sentence split on whitespace; each word is tokenized
 * on its own and its tag is read from its first wordpiece, as in training. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/tokenizer.h"
#include "trainer/cli/cli.h"
#include "trainer/train/metrics.h"
#include "trainer/store/model_dir.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: mtbert predict --model DIR [--input FILE] [--max-len N] [--threads N]\n"
            "\n"
            "Reads one sentence a line (stdin or --input) and writes one JSON object a line:\n"
            "  {\"text\": ..., \"TASK\": {\"label\": ..., \"probs\": {LABEL: p, ...}},\n"
            "   \"NERTASK\": {\"words\": [...], \"tags\": [...], \"entities\": [{\"type\", \"start\",\n"
            "   \"end\", \"text\"}]}}\n"
            "DIR is an mtbert checkpoint or export (it must hold mtbert_tasks.json and\n"
            "mtbert_heads.safetensors). Words are whitespace-separated; entity start/end are\n"
            "word indices, end inclusive.\n");
}

typedef struct {
    int *ids;        /* [CLS] pieces [SEP] */
    int len;
    int nwords;
    char **words;
    int *first;      /* (nwords) position of each word's first piece, -1 if truncated away */
} Encoded;

static int encode_line(const Tokenizer *tok, char *line, int max_len, Encoded *e, size_t *bad) {
    memset(e, 0, sizeof *e);
    IntVec v = {0};
    intvec_push(&v, tokenizer_cls_id(tok));
    int cap = 16;
    e->words = malloc(sizeof(char *) * cap);
    e->first = malloc(sizeof(int) * cap);
    for (char *w = strtok(line, " \t\r\n"); w; w = strtok(NULL, " \t\r\n")) {
        if (e->nwords == cap) {
            cap *= 2;
            e->words = realloc(e->words, sizeof(char *) * cap);
            e->first = realloc(e->first, sizeof(int) * cap);
        }
        size_t before = v.len;
        if (tokenizer_encode(tok, w, strlen(w), &v, bad)) {
            *bad += (size_t)(w - line); /* offset within the line */
            intvec_free(&v);
            free(e->words);
            free(e->first);
            return -1;
        }
        e->words[e->nwords] = w;
        e->first[e->nwords] = v.len > before && before < (size_t)max_len - 1 ? (int)before : -1;
        e->nwords++;
    }
    if (v.len > (size_t)max_len - 1) v.len = (size_t)max_len - 1;
    intvec_push(&v, tokenizer_sep_id(tok));
    e->ids = v.data;
    e->len = (int)v.len;
    return 0;
}

static void softmax(const float *x, int n, double *p) {
    double mx = x[0], s = 0;
    for (int i = 1; i < n; i++) mx = fmax(mx, x[i]);
    for (int i = 0; i < n; i++) s += p[i] = exp(x[i] - mx);
    for (int i = 0; i < n; i++) p[i] /= s;
}

int cmd_predict(int argc, char **argv) {
    const char *dir = NULL, *input = NULL;
    int max_len = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int more = i + 1 < argc;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        else if (!strcmp(a, "--model") && more) dir = argv[++i];
        else if (!strcmp(a, "--input") && more) input = argv[++i];
        else if (!strcmp(a, "--max-len") && more) max_len = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && more) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "mtbert predict: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!dir) { usage(stderr); return 2; }
    char err[4096], report[8192];
    ModelDir d;
    if (model_dir_read(&d, dir, err, sizeof err)) { fprintf(stderr, "mtbert predict: %s\n", err); return 2; }
    if (d.mc.ntasks == 0) {
        fprintf(stderr, "mtbert predict: %s has no task heads (mtbert_tasks.json); use mtbert encode for embeddings\n", dir);
        model_dir_free(&d);
        return 2;
    }
    if (max_len <= 0) max_len = d.max_seq_length;
    if (max_len < 2 || max_len > d.mc.bert.max_position_embeddings) {
        fprintf(stderr, "mtbert predict: --max-len must be in [2, %d]\n", d.mc.bert.max_position_embeddings);
        model_dir_free(&d);
        return 2;
    }
    Tokenizer *tok = tokenizer_load(d.vocab, d.do_lower_case, err, sizeof err);
    if (!tok) { fprintf(stderr, "mtbert predict: %s\n", err); model_dir_free(&d); return 2; }
    const Ops *ops = ops_cpu();
    if (threads > 0) ops->set_threads(threads);
    Model m;
    if (model_create(&m, &d.mc, ops, 1, max_len, 0, 0, err, sizeof err) ||
        model_dir_load(&m, &d, report, sizeof report, err, sizeof err)) {
        fprintf(stderr, "mtbert predict: %s\n", err);
        tokenizer_free(tok);
        model_dir_free(&d);
        return 2;
    }
    if (strstr(report, "new tensor heads.")) {
        fprintf(stderr, "mtbert predict: %s: some task heads are missing from mtbert_heads.safetensors:\n%s", dir, report);
        model_free(&m);
        tokenizer_free(tok);
        model_dir_free(&d);
        return 2;
    }
    m.training = 0;
    NerMetrics ner[MAX_TASKS];
    int have_ner[MAX_TASKS] = {0};
    for (int t = 0; t < d.mc.ntasks; t++)
        if (d.mc.tasks[t].type == TASK_TOKEN_CLS && d.nlabels[t] > 0)
            have_ner[t] = ner_init(&ner[t], (const char *const *)d.labels[t], d.nlabels[t]) == 0;

    FILE *in = input ? fopen(input, "rb") : stdin;
    if (!in) { fprintf(stderr, "mtbert predict: %s: %s\n", input, strerror(errno)); return 2; }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long lineno = 0;
    int rc = 0, maxV = 1;
    for (int t = 0; t < d.mc.ntasks; t++) if (d.mc.tasks[t].num_labels > maxV) maxV = d.mc.tasks[t].num_labels;
    float *logits = malloc(sizeof(float) * max_len * maxV);
    double *p = malloc(sizeof(double) * maxV);
    int *mask = malloc(sizeof(int) * max_len), *pred = malloc(sizeof(int) * max_len);
    NerChunk *chunks = malloc(sizeof(NerChunk) * max_len);
    while ((n = getline(&line, &cap, in)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
        char *text = strdup(line);
        Encoded e;
        size_t bad;
        if (encode_line(tok, line, max_len, &e, &bad)) {
            fprintf(stderr, "mtbert predict: %s:%ld: invalid UTF-8 at byte %zu\n", input ? input : "<stdin>", lineno, bad);
            free(text);
            rc = 2;
            break;
        }
        for (int j = 0; j < e.len; j++) mask[j] = 1;
        Batch b = {.B = 1, .T = e.len, .input_ids = e.ids, .mask = mask};
        model_forward(&m, &b);
        json_t *o = json_object();
        json_object_set_new(o, "text", json_string(text));
        for (int t = 0; t < d.mc.ntasks; t++) {
            const TaskConfig *tc = &d.mc.tasks[t];
            int V = tc->num_labels;
            if (tc->type == TASK_SIMILARITY) continue;
            model_get_logits(&m, t, logits);
            json_t *r = json_object();
            if (tc->type == TASK_SENTENCE_CLS) {
                softmax(logits, V, p);
                int best = 0;
                json_t *probs = json_object();
                for (int k = 0; k < V; k++) {
                    if (p[k] > p[best]) best = k;
                    char idx[16];
                    snprintf(idx, sizeof idx, "%d", k);
                    json_object_set_new(probs, k < d.nlabels[t] ? d.labels[t][k] : idx, json_real(p[k]));
                }
                if (best < d.nlabels[t]) json_object_set_new(r, "label", json_string(d.labels[t][best]));
                else json_object_set_new(r, "label", json_integer(best));
                json_object_set_new(r, "probs", probs);
            } else {
                json_t *words = json_array(), *tags = json_array();
                for (int w = 0; w < e.nwords; w++) {
                    int pos = e.first[w];
                    int k = 0;
                    if (pos >= 0)
                        for (int c = 1; c < V; c++) if (logits[pos * V + c] > logits[pos * V + k]) k = c;
                    pred[w] = pos >= 0 ? k : -1;
                    json_array_append_new(words, json_string(e.words[w]));
                    if (pos < 0) json_array_append_new(tags, json_null()); /* truncated away */
                    else if (k < d.nlabels[t]) json_array_append_new(tags, json_string(d.labels[t][k]));
                    else json_array_append_new(tags, json_integer(k));
                }
                json_object_set_new(r, "words", words);
                json_object_set_new(r, "tags", tags);
                if (have_ner[t]) {
                    json_t *ents = json_array();
                    int nc = ner_chunks(&ner[t], pred, e.nwords, chunks);
                    for (int c = 0; c < nc; c++) {
                        char span[4096] = "";
                        for (int w = chunks[c].start; w <= chunks[c].end; w++) {
                            size_t u = strlen(span);
                            snprintf(span + u, sizeof span - u, "%s%s", w > chunks[c].start ? " " : "", e.words[w]);
                        }
                        json_array_append_new(ents, json_pack("{s:s, s:i, s:i, s:s}", "type", ner[t].types[chunks[c].type],
                                                              "start", chunks[c].start, "end", chunks[c].end, "text", span));
                    }
                    json_object_set_new(r, "entities", ents);
                }
            }
            json_object_set_new(o, tc->name, r);
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        printf("%s\n", s);
        free(s);
        json_decref(o);
        free(text);
        free(e.ids);
        free(e.words);
        free(e.first);
    }
    if (ferror(stdout) || fflush(stdout)) { fprintf(stderr, "mtbert predict: write failed\n"); rc = 1; }
    free(line);
    free(logits); free(p); free(mask); free(pred); free(chunks);
    if (input) fclose(in);
    for (int t = 0; t < d.mc.ntasks; t++) if (have_ner[t]) ner_free(&ner[t]);
    model_free(&m);
    tokenizer_free(tok);
    model_dir_free(&d);
    return rc;
}
