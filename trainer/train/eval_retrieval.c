/* eval_retrieval.c — a contrastive task's retrieval set during training
 * (tasks[].eval_retrieval: queries, corpus, qrels; the files and rules of
 * mtbert retrieve, trainer/cli/retrieval_files.h). Rank 0 reads and frames
 * the texts once at set-up (the training vocabulary, the task's max_len);
 * each evaluation embeds them with the current weights (eval mode), ranks
 * the whole corpus per query by cosine and adds ir_* metrics to the task's
 * eval record. */
#include "trainer/train/train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/tokenizer_json.h"
#include "trainer/model/embed_rows.h"
#include "trainer/cli/input.h"
#include "trainer/cli/retrieval_files.h"
#include "util/xalloc.h"

struct EvalRetrieval {
    IdTexts Q, C;
    Qrels R;
    int **ids[2], *lens[2]; /* framed texts: [0] queries, [1] corpus */
};

static void ir_free(struct EvalRetrieval *e) {
    if (!e) return;
    for (int w = 0; w < 2; w++) {
        size_t n = w ? e->C.n : e->Q.n;
        for (size_t i = 0; e->ids[w] && i < n; i++) free(e->ids[w][i]);
        free(e->ids[w]);
        free(e->lens[w]);
    }
    rf_free_texts(&e->Q);
    rf_free_texts(&e->C);
    rf_free_qrels(&e->R);
    free(e);
}

/* 0, or 2 after printing FILE:LINE of a text with invalid UTF-8 */
static int frame(const Tok *tok, const IdTexts *t, const char *path, int max_len, int ***ids, int **lens) {
    *ids = memset(xmalloc(sizeof(int *) * (t->n ? t->n : 1)), 0, sizeof(int *) * (t->n ? t->n : 1));
    *lens = xmalloc(sizeof(int) * (t->n ? t->n : 1));
    for (size_t i = 0; i < t->n; i++) {
        IntVec v = {0};
        size_t bad;
        int dropped;
        if (input_encode_sentence(tok, t->texts[i], strlen(t->texts[i]), max_len, &v, &dropped, &bad)) {
            fprintf(stderr, "mtbert: %s:%d: invalid UTF-8 at byte %zu of the text\n", path, t->lines[i], bad);
            intvec_free(&v);
            return 2;
        }
        (*ids)[i] = v.data;
        (*lens)[i] = (int)v.len;
    }
    return 0;
}

int eval_retrieval_open(Trainer *t) {
    const Config *cfg = t->cfg;
    int rc = 0;
    if (t->comm->rank == 0) {
        Tok *tok = NULL;
        for (int k = 0; k < cfg->model.ntasks && !rc; k++) {
            const TaskSetup *ts = &cfg->task[k];
            if (!ts->ir_queries) continue;
            char err[1024];
            if (!tok && !(tok = tok_open(t->vocab, t->do_lower_case, err, sizeof err))) {
                fprintf(stderr, "mtbert: tasks.%d.eval_retrieval: %s\n", k, err);
                rc = 2;
                break;
            }
            struct EvalRetrieval *e = memset(xmalloc(sizeof *e), 0, sizeof *e);
            t->ir[k] = e;
            int max_len = ts->max_len > 0 && ts->max_len < t->model.maxT ? ts->max_len : t->model.maxT;
            rc = rf_read_texts("train", ts->ir_queries, 0, &e->Q);
            if (!rc) rc = rf_read_texts("train", ts->ir_corpus, 1, &e->C);
            if (!rc) rc = rf_read_qrels("train", ts->ir_qrels, &e->Q, ts->ir_queries, &e->C, ts->ir_corpus, &e->R);
            if (!rc) rc = frame(tok, &e->Q, ts->ir_queries, max_len, &e->ids[0], &e->lens[0]);
            if (!rc) rc = frame(tok, &e->C, ts->ir_corpus, max_len, &e->ids[1], &e->lens[1]);
            if (!rc) {
                int relevant = 0;
                for (size_t i = 0; i < e->R.n; i++) relevant += e->R.grades[i] > 0;
                if (!relevant) {
                    fprintf(stderr, "mtbert: %s: no judgement with relevance > 0 (tasks.%d.eval_retrieval)\n",
                            ts->ir_qrels, k);
                    rc = 2;
                }
            }
        }
        if (tok) tok_free(tok);
    }
    comm_allreduce_max_int(t->comm, &rc, 1);
    return rc;
}

void eval_retrieval_run(Trainer *t, MetricSet *out) {
    Model *m = &t->model;
    int training = m->training;
    m->training = 0;
    int D = model_embedding_dim(m);
    for (int k = 0; k < t->cfg->model.ntasks; k++) {
        struct EvalRetrieval *e = t->ir[k];
        if (!e) continue;
        float *qe = xmalloc(sizeof(float) * e->Q.n * D), *ce = xmalloc(sizeof(float) * e->C.n * D);
        int pad = t->vocab_pad_id >= 0 ? t->vocab_pad_id : 0;
        EmbedRowsOptions eo = embed_rows_fill(m, pad);
        int ok = !embed_rows(m, e->ids[0], e->lens[0], e->Q.n, &eo, qe, NULL) &&
                 !embed_rows(m, e->ids[1], e->lens[1], e->C.n, &eo, ce, NULL);
        RetrMetrics rm;
        RetrSummary s;
        int inited = ok && !retr_init_default(&rm);
        ok = inited && !rf_evaluate(qe, e->Q.n, ce, e->C.n, D, 0, &e->R, &rm);
        if (ok) retr_compute(&rm, &s);
        if (inited) retr_free(&rm);
        const char *name = t->cfg->model.tasks[k].name;
        /* retr_init_default: cuts 1, 3, 5, 10, 100 */
        metricset_put(out, name, "ir_mrr_10", ok ? s.mrr : NAN);
        metricset_put(out, name, "ir_ndcg_10", ok ? s.ndcg : NAN);
        metricset_put(out, name, "ir_map_100", ok ? s.map : NAN);
        metricset_put(out, name, "ir_recall_1", ok ? s.recall[0] : NAN);
        metricset_put(out, name, "ir_recall_10", ok ? s.recall[3] : NAN);
        metricset_put(out, name, "ir_recall_100", ok ? s.recall[4] : NAN);
        free(qe);
        free(ce);
    }
    m->training = training;
}

void eval_retrieval_free(Trainer *t) {
    for (int k = 0; k < MAX_TASKS; k++) {
        ir_free(t->ir[k]);
        t->ir[k] = NULL;
    }
}
