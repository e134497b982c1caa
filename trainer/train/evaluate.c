/* evaluate.c — metrics of every task on its eval split (rank 0 computes,
 * every rank learns the numbers), the selection metric of the best
 * checkpoint, and eval records in the log. */
#include "trainer/train/train_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer/model/task_kind.h"
#include "trainer/train/metrics.h"

double metricset_get(const MetricSet *m, const char *name, int *found) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->name[i], name)) {
            if (found) *found = 1;
            return m->value[i];
        }
    if (found) *found = 0;
    return NAN;
}

void metricset_put(MetricSet *m, const char *task, const char *what, double v) {
    if (m->n >= MAX_METRICS) return;
    snprintf(m->name[m->n], sizeof m->name[m->n], "%s.%s", task, what);
    m->value[m->n++] = v;
}


static int argmax(const float *x, int n) {
    int k = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[k]) k = i;
    return k;
}

/* The task's selection metric: the config's, else its kind's first. */
static const char *task_main_metric(const Trainer *t, int k) {
    return t->cfg->task[k].metric[0] ? t->cfg->task[k].metric : task_kind(t->cfg->model.tasks[k].type)->metrics[0];
}

static void evaluate_source(Trainer *t, Source *s, MetricSet *out) {
    Model *m = &t->model;
    const ModelConfig *mc = &t->cfg->model;
    int nt = mc->ntasks;
    ClsMetrics cls[MAX_TASKS];
    NerMetrics ner[MAX_TASKS];
    double *sim_x[MAX_TASKS] = {0}, *sim_y[MAX_TASKS] = {0};
    size_t sim_n[MAX_TASKS] = {0}, sim_cap[MAX_TASKS] = {0};
    double loss_sum[MAX_TASKS] = {0}, loss_cnt[MAX_TASKS] = {0};
    double top1_sum[MAX_TASKS] = {0}, top1_n[MAX_TASKS] = {0}; /* contrastive: in-batch top-1 per batch */
    /* contrastive: every eval pair's embeddings and second-sentence text id, for retrieval */
    float *ret_a[MAX_TASKS] = {0}, *ret_p[MAX_TASKS] = {0};
    int64_t *ret_id[MAX_TASKS] = {0};
    size_t ret_cap[MAX_TASKS] = {0};
    for (int k = 0; k < nt; k++) {
        if (s->shard_task[k] < 0) continue;
        if (task_kind(mc->tasks[k].type)->head == HEAD_SENTENCE) cls_init(&cls[k], mc->tasks[k].num_labels);
        if (task_kind(mc->tasks[k].type)->head == HEAD_TOKEN)
            ner_init_scheme(&ner[k], (const char *const *)t->label_names[k], t->nlabel_names[k],
                            (NerScheme)t->cfg->task[k].tag_scheme);
    }
    loader_set_state(s->loader, (LoaderState){0, 0}, NULL, 0);
    int64_t nb = loader_batches_per_epoch(s->loader);
    int maxV = 1;
    for (int k = 0; k < nt; k++) if (mc->tasks[k].num_labels > maxV) maxV = mc->tasks[k].num_labels;
    float *logits = malloc(sizeof(float) * (size_t)m->maxB * m->maxT * maxV);
    /* (a mini_batch task's batches are embedded in chunks: 2 x batch rows may exceed maxB) */
    size_t emb_rows = (size_t)(m->maxB > 2 * s->batch_size ? m->maxB : 2 * s->batch_size);
    float *emb = malloc(sizeof(float) * emb_rows * model_embedding_dim(m));
    int *gold = malloc(sizeof(int) * m->maxT), *pred = malloc(sizeof(int) * m->maxT);
    int training = m->training;
    m->training = 0;
    for (int64_t i = 0; i < nb; i++) {
        const LoaderBatch *lb = loader_next_batch(s->loader);
        Batch b;
        batch_convert(s, lb, mc, &t->buf, &b);
        double top1[MAX_TASKS];
        char err[512];
        /* a mini_batch task: embedded in chunks, its rows' embeddings in emb */
        int cached = embed_cached_task(t, &b);
        if (cached >= 0) {
            if (embed_cached_eval(t, &b, cached, emb, top1)) fprintf(stderr, "mtbert: evaluation: out of memory\n");
        } else {
            model_forward(m, &b);
            if (embed_losses(t, &b, 0, top1, err, sizeof err)) fprintf(stderr, "mtbert: evaluation: %s\n", err);
        }
        for (int k = 0; k < nt; k++) {
            if (s->shard_task[k] < 0 || !m->task_count[k]) continue;
            if (task_external_loss(mc->tasks[k].type)) { top1_sum[k] += top1[k]; top1_n[k] += 1; }
            loss_sum[k] += (double)m->task_loss[k] * m->task_count[k];
            loss_cnt[k] += m->task_count[k];
            const TaskConfig *tc = &mc->tasks[k];
            int V = tc->num_labels;
            if (task_kind(tc->type)->head == HEAD_SENTENCE) {
                model_get_logits(m, k, logits);
                for (int r = 0; r < b.B; r++)
                    if (b.labels[k][r] != LABEL_IGNORE) cls_add(&cls[k], b.labels[k][r], argmax(logits + (size_t)r * V, V));
            } else if (task_kind(tc->type)->head == HEAD_TOKEN) {
                model_get_logits(m, k, logits);
                for (int r = 0; r < b.B; r++) {
                    int n = 0;
                    for (int j = 0; j < b.T; j++) {
                        int y = b.labels[k][(size_t)r * b.T + j];
                        if (y == LABEL_IGNORE) continue;
                        gold[n] = y;
                        pred[n++] = argmax(logits + ((size_t)r * b.T + j) * V, V);
                    }
                    if (n) ner_add_sentence(&ner[k], gold, pred, n);
                }
            } else if (task_score_head(tc->type)) { /* sigmoid(logit) vs the score */
                model_get_logits(m, k, logits);
                if (sim_n[k] + (size_t)b.B > sim_cap[k]) {
                    sim_cap[k] = 2 * (sim_n[k] + (size_t)b.B);
                    sim_x[k] = realloc(sim_x[k], sim_cap[k] * sizeof(double));
                    sim_y[k] = realloc(sim_y[k], sim_cap[k] * sizeof(double));
                }
                for (int r = 0; r < b.B; r++) {
                    if (!isfinite(b.row_scores[k][r])) continue;
                    sim_x[k][sim_n[k]] = 1.0 / (1.0 + exp(-(double)logits[r]));
                    sim_y[k][sim_n[k]++] = b.row_scores[k][r];
                }
            } else {
                int P = b.sim_npairs[k], D = model_embedding_dim(m);
                if (cached < 0) model_get_embeddings(m, emb); /* else embed_cached_eval filled it */
                if (sim_n[k] + P > sim_cap[k]) {
                    sim_cap[k] = 2 * (sim_n[k] + P);
                    sim_x[k] = realloc(sim_x[k], sim_cap[k] * sizeof(double));
                    sim_y[k] = realloc(sim_y[k], sim_cap[k] * sizeof(double));
                }
                if (task_external_loss(tc->type)) { /* grows with sim_cap: sim_n is the count */
                    if (ret_cap[k] < sim_cap[k]) {
                        ret_cap[k] = sim_cap[k];
                        ret_a[k] = realloc(ret_a[k], ret_cap[k] * D * sizeof(float));
                        ret_p[k] = realloc(ret_p[k], ret_cap[k] * D * sizeof(float));
                        ret_id[k] = realloc(ret_id[k], ret_cap[k] * sizeof(int64_t));
                    }
                    memcpy(ret_a[k] + sim_n[k] * D, emb, sizeof(float) * (size_t)P * D);
                    memcpy(ret_p[k] + sim_n[k] * D, emb + (size_t)P * D, sizeof(float) * (size_t)P * D);
                    for (int p = 0; p < P; p++) ret_id[k][sim_n[k] + p] = embed_row_text_id(&b, P + p);
                }
                for (int p = 0; p < P; p++) {
                    const float *a = emb + (size_t)p * D, *c = emb + (size_t)(P + p) * D;
                    double dot = 0, na = 0, nc = 0;
                    for (int q = 0; q < D; q++) { dot += a[q] * c[q]; na += a[q] * a[q]; nc += c[q] * c[q]; }
                    sim_x[k][sim_n[k]] = dot / fmax(sqrt(na * nc), 1e-8);
                    sim_y[k][sim_n[k]++] = b.sim_scores[k][p];
                }
            }
        }
    }
    m->training = training;
    for (int k = 0; k < nt; k++) {
        if (s->shard_task[k] < 0) continue;
        const TaskConfig *tc = &mc->tasks[k];
        metricset_put(out, tc->name, "loss", loss_cnt[k] > 0 ? loss_sum[k] / loss_cnt[k] : NAN);
        if (task_kind(tc->type)->head == HEAD_SENTENCE) {
            ClsSummary cs;
            cls_compute(&cls[k], &cs);
            metricset_put(out, tc->name, "accuracy", cs.accuracy);
            metricset_put(out, tc->name, "macro_f1", cs.macro_f1);
            for (int c = 0; c < tc->num_labels && c < t->nlabel_names[k]; c++) {
                double p, r, f;
                int64_t sup;
                cls_class(&cls[k], c, &p, &r, &f, &sup);
                char what[MAX_NAME + 16];
                snprintf(what, sizeof what, "f1.%s", t->label_names[k][c]);
                metricset_put(out, tc->name, what, f);
            }
            cls_free(&cls[k]);
        } else if (task_kind(tc->type)->head == HEAD_TOKEN) {
            NerSummary ns;
            ner_compute(&ner[k], &ns);
            metricset_put(out, tc->name, "entity_precision", ns.precision);
            metricset_put(out, tc->name, "entity_recall", ns.recall);
            metricset_put(out, tc->name, "entity_f1", ns.f1);
            metricset_put(out, tc->name, "token_accuracy", ns.token_accuracy);
            ner_free(&ner[k]);
        } else {
            metricset_put(out, tc->name, "pearson", metric_pearson(sim_x[k], sim_y[k], sim_n[k]));
            metricset_put(out, tc->name, "spearman", metric_spearman(sim_x[k], sim_y[k], sim_n[k]));
            if (task_external_loss(tc->type)) {
                metricset_put(out, tc->name, "top1", top1_n[k] > 0 ? top1_sum[k] / top1_n[k] : NAN);
                RetrSummary rs;
                int ok = sim_n[k] > 0 &&
                         !embed_retrieval(ret_a[k], ret_p[k], ret_id[k], (int)sim_n[k], model_embedding_dim(m), &rs);
                metricset_put(out, tc->name, "mrr_10", ok ? rs.mrr : NAN);
                metricset_put(out, tc->name, "ndcg_10", ok ? rs.ndcg : NAN);
                metricset_put(out, tc->name, "recall_1", ok ? rs.recall[0] : NAN);
                metricset_put(out, tc->name, "recall_10", ok ? rs.recall[3] : NAN);
                free(ret_a[k]);
                free(ret_p[k]);
                free(ret_id[k]);
            }
            free(sim_x[k]);
            free(sim_y[k]);
        }
    }
    free(logits);
    free(emb);
    free(gold);
    free(pred);
}

int trainer_evaluate(Trainer *t, MetricSet *out) {
    memset(out, 0, sizeof *out);
    if (t->comm->rank == 0) {
        for (int e = 0; e < t->neval; e++) evaluate_source(t, &t->eval_src[e], out);
        eval_retrieval_run(t, out);
    }
    /* everyone learns the numbers (they decide the best checkpoint) */
    double buf[MAX_METRICS + 1];
    buf[0] = out->n;
    for (int i = 0; i < out->n; i++) buf[i + 1] = out->value[i];
    if (t->comm->world > 1) {
        comm_broadcast(t->comm, buf, sizeof buf, 0);
        comm_broadcast(t->comm, out->name, sizeof out->name, 0);
        out->n = (int)buf[0];
        for (int i = 0; i < out->n; i++) out->value[i] = buf[i + 1];
    }
    return 0;
}

/* The number that decides the best checkpoint: higher is better. */
double trainer_selection_metric(const Trainer *t, const MetricSet *ms, int *ok) {
    const char *best = t->cfg->eval.best_metric;
    *ok = 1;
    if (!best || !strcmp(best, "mean")) {
        double sum = 0;
        int n = 0;
        for (int k = 0; k < t->cfg->model.ntasks; k++) {
            char name[MAX_NAME + 32];
            int found;
            snprintf(name, sizeof name, "%s.%s", t->cfg->model.tasks[k].name, task_main_metric(t, k));
            double v = metricset_get(ms, name, &found);
            if (found) { sum += v; n++; }
        }
        if (!n) *ok = 0;
        return n ? sum / n : NAN;
    }
    if (!strcmp(best, "loss")) {
        double sum = 0;
        int n = 0;
        for (int i = 0; i < ms->n; i++)
            if (strlen(ms->name[i]) > 5 && !strcmp(ms->name[i] + strlen(ms->name[i]) - 5, ".loss")) {
                sum += ms->value[i];
                n++;
            }
        if (!n) *ok = 0;
        return -sum;
    }
    int found;
    double v = metricset_get(ms, best, &found);
    *ok = found;
    return v;
}

_Static_assert(MAX_METRICS <= LOG_MAX_FIELDS, "an eval record holds every metric");
_Static_assert(sizeof(((MetricSet *)0)->name[0]) <= LOG_KEY_LEN, "a metric name fits a log key");

void trainer_log_eval(Trainer *t, const MetricSet *ms, long step) {
    if (t->comm->rank != 0 || !ms->n) return;
    fprintf(stderr, "eval @ step %ld:", step);
    for (int i = 0; i < ms->n; i++)
        if (!strstr(ms->name[i], ".f1.")) fprintf(stderr, " %s %.4f", ms->name[i], ms->value[i]);
    fprintf(stderr, "\n");
    if (t->jsonl || t->tb.w) {
        /* metrics.jsonl (non-finite values quoted) and TensorBoard "eval/NAME" */
        LogRecord r;
        logrec_begin(&r, "eval", step);
        for (int i = 0; i < ms->n; i++) logrec_add(&r, ms->name[i], ms->value[i], LOG_G);
        logbook_write(t->jsonl, &t->tb, &r);
    }
}
