#include "trainer/train/train.h"
#include "trainer/model/task_kind.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "data/tokenizer.h"
#include "trainer/train/checkpoint.h"
#include "util/fsutil.h"
#include "trainer/train/metrics.h"
#include "trainer/store/model_dir.h"
#include "trainer/train/sampler.h"
#include "trainer/train/schedule.h"
#include "trainer/train/stop_signal.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double metricset_get(const MetricSet *m, const char *name, int *found) {
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->name[i], name)) {
            if (found) *found = 1;
            return m->value[i];
        }
    if (found) *found = 0;
    return NAN;
}

static void metricset_put(MetricSet *m, const char *task, const char *what, double v) {
    if (m->n >= MAX_METRICS) return;
    snprintf(m->name[m->n], sizeof m->name[m->n], "%s.%s", task, what);
    m->value[m->n++] = v;
}

/* ---- batches ---- */

static void buf_reserve(BatchBuf *b, int rows, int T) {
    if (rows <= b->cap_rows && T <= b->cap_T) return;
    if (rows < b->cap_rows) rows = b->cap_rows;
    if (T < b->cap_T) T = b->cap_T;
    size_t n = (size_t)rows * T;
    b->ids = realloc(b->ids, n * sizeof(int));
    b->types = realloc(b->types, n * sizeof(int));
    b->mask = realloc(b->mask, n * sizeof(int));
    for (int t = 0; t < MAX_TASKS; t++) b->labels[t] = realloc(b->labels[t], n * sizeof(int));
    b->cap_rows = rows;
    b->cap_T = T;
}

static void buf_free(BatchBuf *b) {
    free(b->ids);
    free(b->types);
    free(b->mask);
    for (int t = 0; t < MAX_TASKS; t++) free(b->labels[t]);
    memset(b, 0, sizeof *b);
}

/* Copy rows (B,Ts) into (rows, T) at row offset r0, padding with 0. */
static void copy_rows(int *dst, const int *src, int B, int Ts, int T, int r0, int pad) {
    for (int i = 0; i < B; i++)
        for (int j = 0; j < T; j++) dst[(size_t)(r0 + i) * T + j] = j < Ts ? src[(size_t)i * Ts + j] : pad;
}

void batch_convert(const Source *s, const LoaderBatch *lb, const ModelConfig *mc, BatchBuf *buf, Batch *out) {
    memset(out, 0, sizeof *out);
    int B = lb->B;
    if (!s->has_similarity) {
        out->B = B;
        out->T = lb->T;
        out->input_ids = lb->input_ids;
        out->type_ids = lb->type_ids;
        out->mask = lb->mask;
        for (int t = 0; t < mc->ntasks; t++)
            if (s->shard_task[t] >= 0) out->labels[t] = lb->tasks[s->shard_task[t]].labels;
        return;
    }
    /* pairs: rows [0,B) first sentences, [B,2B) second sentences */
    int T = lb->T > lb->T_b ? lb->T : lb->T_b;
    buf_reserve(buf, 2 * B, T);
    copy_rows(buf->ids, lb->input_ids, B, lb->T, T, 0, 0);
    copy_rows(buf->ids, lb->input_ids_b, B, lb->T_b, T, B, 0);
    copy_rows(buf->types, lb->type_ids, B, lb->T, T, 0, 0);
    copy_rows(buf->types, lb->type_ids_b, B, lb->T_b, T, B, 0);
    copy_rows(buf->mask, lb->mask, B, lb->T, T, 0, 0);
    copy_rows(buf->mask, lb->mask_b, B, lb->T_b, T, B, 0);
    out->B = 2 * B;
    out->T = T;
    out->input_ids = buf->ids;
    out->type_ids = buf->types;
    out->mask = buf->mask;
    for (int t = 0; t < mc->ntasks; t++) {
        int k = s->shard_task[t];
        if (k < 0) continue;
        const BatchTask *bt = &lb->tasks[k];
        if (mc->tasks[t].type == TASK_SIMILARITY) {
            out->sim_row0[t] = 0;
            out->sim_npairs[t] = B;
            out->sim_scores[t] = bt->scores;
            continue;
        }
        /* other tasks label the first sentences only */
        int *L = buf->labels[t];
        if (mc->tasks[t].type == TASK_TOKEN_CLS) {
            copy_rows(L, bt->labels, B, lb->T, T, 0, -100);
            for (size_t i = (size_t)B * T; i < (size_t)2 * B * T; i++) L[i] = -100;
        } else {
            for (int i = 0; i < B; i++) L[i] = bt->labels[i];
            for (int i = B; i < 2 * B; i++) L[i] = -100;
        }
        out->labels[t] = L;
    }
}

/* ---- set-up ---- */

static int open_source(Trainer *t, Source *s, const char *path, int for_eval, char *err, size_t errlen) {
    Config *cfg = t->cfg;
    memset(s, 0, sizeof *s);
    s->path = strdup(path);
    LoaderConfig lc;
    loader_config_default(&lc);
    const char *paths[1] = {path};
    lc.paths = paths;
    lc.n_paths = 1;
    lc.rank = for_eval ? 0 : t->comm->rank;
    lc.world = for_eval ? 1 : t->comm->world;
    lc.seed = cfg->train.seed;
    /* mixed batches assemble each batch row by row from several sources */
    lc.batch_size = !for_eval && cfg->data.mixed_batches ? 1 : cfg->data.batch_size;
    lc.shuffle = for_eval ? 0 : cfg->data.shuffle;
    lc.drop_last = 0;
    lc.bucket_batches = !for_eval && cfg->data.length_bucketing ? 16 : 0;
    lc.check_vocab = 1;
    Tokenizer *tok = tokenizer_load(t->vocab, t->do_lower_case, err, errlen);
    if (!tok) return -1;
    lc.vocab_hash = tokenizer_vocab_hash(tok);
    lc.pad_id = tokenizer_pad_id(tok) >= 0 ? tokenizer_pad_id(tok) : 0;
    tokenizer_free(tok);
    s->loader = loader_open(&lc, err, errlen);
    if (!s->loader) return -1;
    const ShardData *info = loader_info(s->loader);
    if (info->info.max_len > cfg->model.bert.max_position_embeddings) {
        snprintf(err, errlen, "%s: shards were prepared with max_len %d, beyond the model's %d positions", path,
                 info->info.max_len, cfg->model.bert.max_position_embeddings);
        return -1;
    }
    s->examples = loader_total_examples(s->loader);
    for (int k = 0; k < MAX_TASKS; k++) s->shard_task[k] = -1;
    return 0;
}

/* Match the configured tasks to the tasks a shard set labels; fill label
 * counts and names from the shards where the config left them open. */
static int bind_tasks(Trainer *t, Source *s, const int *tasks, int n, char *err, size_t errlen) {
    Config *cfg = t->cfg;
    const ShardData *info = loader_info(s->loader);
    for (int i = 0; i < n; i++) {
        int task = tasks[i];
        TaskConfig *tc = &cfg->model.tasks[task];
        int found = -1;
        for (int k = 0; k < info->n_tasks; k++)
            if (!strcmp(info->tasks[k].name, tc->name)) found = k;
        if (found < 0) {
            snprintf(err, errlen, "%s: the shards label no task named '%s' (they have:", s->path, tc->name);
            for (int k = 0; k < info->n_tasks; k++) {
                size_t u = strlen(err);
                snprintf(err + u, errlen - u, " %s", info->tasks[k].name);
            }
            size_t u = strlen(err);
            snprintf(err + u, errlen - u, ")");
            return -1;
        }
        const ShardTask *st = &info->tasks[found];
        const TaskKind *kind = task_kind(tc->type);
        if (st->type != kind->labels) {
            snprintf(err, errlen, "%s: task '%s' has %s labels in the shards but is a %s task in the config",
                     s->path, tc->name, label_kind_name(st->type), kind->name);
            return -1;
        }
        if (tc->type != TASK_SIMILARITY) {
            TaskSetup *ts = &cfg->task[task];
            if (ts->nlabels > 0) {
                int same = ts->nlabels == st->num_labels;
                for (int k = 0; same && k < st->num_labels; k++) same = !strcmp(ts->labels[k], st->label_names[k]);
                if (!same) {
                    snprintf(err, errlen, "%s: task '%s': the config's labels differ from the shards' labels "
                             "(same names in the same order are required)", s->path, tc->name);
                    return -1;
                }
            } else if (tc->num_labels > 0 && tc->num_labels != st->num_labels) {
                snprintf(err, errlen, "%s: task '%s' has %d labels in the shards, num_labels is %d", s->path,
                         tc->name, st->num_labels, tc->num_labels);
                return -1;
            }
            tc->num_labels = st->num_labels;
            if (!t->label_names[task]) {
                t->label_names[task] = calloc((size_t)st->num_labels, sizeof(char *));
                for (int k = 0; k < st->num_labels; k++) t->label_names[task][k] = strdup(st->label_names[k]);
                t->nlabel_names[task] = st->num_labels;
            }
        } else {
            tc->num_labels = 1;
            s->has_similarity = 1;
        }
        s->shard_task[task] = found;
    }
    return 0;
}

static int setup_data(Trainer *t, int for_training, char *err, size_t errlen) {
    Config *cfg = t->cfg;
    int nt = cfg->model.ntasks;
    for (int i = 0; i < nt; i++) t->task_source[i] = -1;
    /* training sources: tasks that share a path share a loader */
    for (int i = 0; for_training && i < nt; i++) {
        if (!cfg->task[i].train) {
            snprintf(err, errlen, "%s: task '%s' has no data.train", cfg->source, cfg->model.tasks[i].name);
            return -1;
        }
        if (t->task_source[i] >= 0) continue;
        int members[MAX_TASKS], nm = 0;
        for (int j = i; j < nt; j++)
            if (cfg->task[j].train && !strcmp(cfg->task[j].train, cfg->task[i].train)) members[nm++] = j;
        Source *s = &t->src[t->nsources];
        if (open_source(t, s, cfg->task[i].train, 0, err, errlen) || bind_tasks(t, s, members, nm, err, errlen))
            return -1;
        for (int k = 0; k < nm; k++) t->task_source[members[k]] = t->nsources;
        t->nsources++;
    }
    /* evaluation sources, read whole by rank 0 */
    if (t->comm->rank == 0)
        for (int i = 0; i < nt; i++) {
            if (!cfg->task[i].eval) continue;
            int dup = 0;
            for (int e = 0; e < t->neval; e++)
                if (!strcmp(t->eval_src[e].path, cfg->task[i].eval)) dup = 1;
            if (dup) continue;
            int members[MAX_TASKS], nm = 0;
            for (int j = i; j < nt; j++)
                if (cfg->task[j].eval && !strcmp(cfg->task[j].eval, cfg->task[i].eval)) members[nm++] = j;
            Source *s = &t->eval_src[t->neval];
            if (open_source(t, s, cfg->task[i].eval, 1, err, errlen) || bind_tasks(t, s, members, nm, err, errlen))
                return -1;
            t->neval++;
        }
    return 0;
}

void trainer_apply_freezing(Trainer *t, long step) {
    Config *cfg = t->cfg;
    Model *m = &t->model;
    int L = cfg->model.bert.num_hidden_layers, all = cfg->freeze.all, bb = all || cfg->freeze.backbone;
    m->train.embeddings = !(bb || cfg->freeze.embeddings);
    for (int l = 0; l < L; l++) m->train.layer[l] = !(bb || (cfg->freeze.layers >> l & 1ull));
    m->train.pooler = !bb;
    m->train.projection = !all;
    for (int k = 0; k < cfg->model.ntasks; k++) m->train.head[k] = !(all || (cfg->freeze.head_mask >> k & 1u));
    for (int u = 0; u < cfg->freeze.nunfreeze; u++) {
        const UnfreezeAt *ua = &cfg->freeze.unfreeze[u];
        if (step < ua->step) continue;
        const char *g = ua->group;
        if (!strcmp(g, "all")) {
            m->train.embeddings = m->train.pooler = m->train.projection = 1;
            for (int l = 0; l < L; l++) m->train.layer[l] = 1;
            for (int k = 0; k < cfg->model.ntasks; k++) m->train.head[k] = 1;
        } else if (!strcmp(g, "backbone")) {
            m->train.embeddings = m->train.pooler = 1;
            for (int l = 0; l < L; l++) m->train.layer[l] = 1;
        } else if (!strcmp(g, "embeddings")) {
            m->train.embeddings = 1;
        } else if (!strcmp(g, "layers")) {
            for (int l = 0; l < L; l++) m->train.layer[l] = 1;
        } else if (!strncmp(g, "layer_", 6)) {
            int l = atoi(g + 6);
            if (l >= 0 && l < L) m->train.layer[l] = 1;
        } else if (!strcmp(g, "heads")) {
            for (int k = 0; k < cfg->model.ntasks; k++) m->train.head[k] = 1;
        } else if (!strncmp(g, "head_", 5)) {
            int k = config_task_index(cfg, g + 5);
            if (k >= 0) m->train.head[k] = 1;
        }
    }
}

static int anything_trainable(const Model *m, int ntasks, int L) {
    int any = m->train.embeddings || m->train.pooler || m->train.projection;
    for (int l = 0; l < L; l++) any |= m->train.layer[l];
    for (int k = 0; k < ntasks; k++) any |= m->train.head[k];
    return any;
}

int trainer_setup(Trainer *t, Config *cfg, Comm *comm, int for_training) {
    char err[4096];
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->comm = comm;
    int rank0 = comm->rank == 0;

    for (int k = 0; cfg->data.mixed_batches && k < cfg->model.ntasks; k++)
        if (cfg->model.tasks[k].type == TASK_SIMILARITY) {
            fprintf(stderr, "mtbert: %s: data.mixed_batches cannot include the similarity task '%s' "
                    "(pairs need batches of their own); set data.mixed_batches: false\n", cfg->source,
                    cfg->model.tasks[k].name);
            return 2;
        }
    /* backend */
    t->ops = ops_cpu();
    if (cfg->train.backend != CFG_BACKEND_CPU) {
        /* GPU local_rank % devices, before ops_cuda() makes its stream and handles */
        if (comm->world > 1 && comm_bind_device(comm)) return 2;
        const Ops *cuda = ops_cuda();
        if (cuda) t->ops = cuda;
        else if (cfg->train.backend == CFG_BACKEND_CUDA) {
            fprintf(stderr, "mtbert: %s: train.backend is cuda, but no CUDA GPU is available\n", cfg->source);
            return 2;
        }
    }
    if (for_training && comm->world > 1 && t->ops != ops_cpu()) {
        /* gradients stay on the GPU: the MPI all-reduce (host memory) cannot
         * average them, NCCL must (comm_use_nccl is collective) */
        int nbad = comm_use_nccl(comm) ? 1 : 0;
        if (nbad)
            fprintf(stderr, "mtbert: rank %d: the %s backend with %d ranks needs NCCL for the gradient "
                    "all-reduce (device memory), and it could not be set up%s; or set train.backend: cpu\n",
                    comm->rank, t->ops->name, comm->world,
#ifdef MTBERT_HAVE_NCCL
                    " (see the NCCL messages above)"
#else
                    ": this build has no NCCL (rebuild with CUDA and NCCL)"
#endif
                    );
        comm_allreduce_max_int(comm, &nbad, 1);
        if (nbad) return 2;
    }
    int threads = cfg->train.threads > 0 ? cfg->train.threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (comm->world > 1 && cfg->train.threads <= 0) {
        threads /= comm->world;
        if (threads < 1) threads = 1;
    }
    t->ops->set_threads(threads);

    /* model folder and vocabulary */
    ModelDir md;
    int have_dir = cfg->model_path != NULL;
    if (have_dir) {
        if (model_dir_read(&md, cfg->model_path, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s\n", err);
            return 2;
        }
        /* the folder's shape wins; the config's sentence settings stay */
        float hd = cfg->model.bert.hidden_dropout_prob, ad = cfg->model.bert.attention_probs_dropout_prob;
        cfg->model.bert = md.mc.bert;
        cfg->model.bert.hidden_dropout_prob = hd;
        cfg->model.bert.attention_probs_dropout_prob = ad;
    }
    if (cfg->vocab) snprintf(t->vocab, sizeof t->vocab, "%s", cfg->vocab);
    else if (have_dir) snprintf(t->vocab, sizeof t->vocab, "%s", md.vocab);
    else {
        fprintf(stderr, "mtbert: %s: model.vocab is required when model.path is not given\n", cfg->source);
        return 2;
    }
    t->do_lower_case = have_dir && !cfg->vocab ? md.do_lower_case : cfg->do_lower_case;
    {
        Tokenizer *tok = tokenizer_load(t->vocab, t->do_lower_case, err, sizeof err);
        if (!tok) { fprintf(stderr, "mtbert: %s\n", err); return 2; }
        int vs = tokenizer_vocab_size(tok);
        tokenizer_free(tok);
        if (vs > cfg->model.bert.vocab_size) {
            fprintf(stderr, "mtbert: %s has %d entries but model vocab_size is %d\n", t->vocab, vs,
                    cfg->model.bert.vocab_size);
            return 2;
        }
    }

    /* data: every rank checks its own share; any failure ends all ranks */
    int bad = setup_data(t, for_training, err, sizeof err) ? 1 : 0;
    if (bad) fprintf(stderr, "mtbert: rank %d: %s\n", comm->rank, err);
    comm_allreduce_max_int(comm, &bad, 1);
    if (bad) return 2;

    /* every rank must agree on evaluating: rank 0 evaluates, all wait for it */
    t->has_eval = t->neval > 0;
    comm_allreduce_max_int(comm, &t->has_eval, 1);

    /* model */
    int maxB = cfg->data.batch_size, maxT = cfg->data.max_len;
    for (int s = 0; s < t->nsources; s++) if (t->src[s].has_similarity) maxB = 2 * cfg->data.batch_size;
    for (int s = 0; s < t->neval; s++) if (t->eval_src[s].has_similarity) maxB = 2 * cfg->data.batch_size;
    for (int s = 0; s < t->nsources; s++) {
        int ml = loader_info(t->src[s].loader)->info.max_len;
        if (ml > maxT) maxT = ml;
    }
    for (int s = 0; s < t->neval; s++) {
        int ml = loader_info(t->eval_src[s].loader)->info.max_len;
        if (ml > maxT) maxT = ml;
    }
    if (maxT > cfg->model.bert.max_position_embeddings) maxT = cfg->model.bert.max_position_embeddings;
    cfg->model.uncertainty_weighting = cfg->loss_weighting == LOSS_WEIGHTING_UNCERTAINTY;
    if (model_create(&t->model, &cfg->model, t->ops, maxB, maxT, for_training, cfg->train.seed, err, sizeof err)) {
        fprintf(stderr, "mtbert: %s\n", err);
        return 1;
    }
    if (have_dir) {
        char report[8192];
        md.mc = cfg->model;
        if (model_dir_load(&t->model, &md, report, sizeof report, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s\n", err);
            return 2;
        }
        if (rank0 && report[0]) fprintf(stderr, "mtbert: loading %s:\n%s", cfg->model_path, report);
        model_dir_free(&md);
    }
    if (!for_training) return 0;

    trainer_apply_freezing(t, 0);
    if (!anything_trainable(&t->model, cfg->model.ntasks, cfg->model.bert.num_hidden_layers) &&
        cfg->freeze.nunfreeze == 0) {
        if (rank0) fprintf(stderr, "mtbert: every part of the model is frozen: nothing trains; evaluating only\n");
        t->total_steps = 0;
    }
    OptimConfig oc = {cfg->optimizer.lr, cfg->optimizer.weight_decay, cfg->optimizer.beta1, cfg->optimizer.beta2,
                      cfg->optimizer.eps, cfg->optimizer.max_grad_norm, cfg->optimizer.layer_decay,
                      cfg->optimizer.head_lr, cfg->optimizer.head_weight_decay};
    if (optimizer_create(&t->opt, &t->model, &oc)) {
        fprintf(stderr, "mtbert: out of memory for the optimizer state\n");
        return 1;
    }

    /* length of training */
    int64_t per_epoch = 0;
    for (int s = 0; s < t->nsources; s++) per_epoch += loader_batches_per_epoch(t->src[s].loader);
    if (cfg->data.mixed_batches) per_epoch = (per_epoch + cfg->data.batch_size - 1) / cfg->data.batch_size;
    per_epoch = (per_epoch + cfg->train.grad_accum - 1) / cfg->train.grad_accum;
    if (per_epoch < 1) per_epoch = 1;
    t->total_steps = cfg->train.steps > 0 ? cfg->train.steps : (long)ceil(cfg->train.epochs * (double)per_epoch);
    if (!anything_trainable(&t->model, cfg->model.ntasks, cfg->model.bert.num_hidden_layers) &&
        cfg->freeze.nunfreeze == 0)
        t->total_steps = 0;
    t->warmup_steps = cfg->schedule.warmup_steps > 0 ? cfg->schedule.warmup_steps
                                                     : (long)(cfg->schedule.warmup_ratio * t->total_steps);
    t->st.best_metric = NAN;
    t->st.best_step = -1;

    /* run directory, resolved config, metrics log (rank 0) */
    if (rank0) {
        if (fs_mkdir_p(cfg->train.run_dir, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s\n", err);
            return 1;
        }
        char path[1200];
        snprintf(path, sizeof path, "%s/config.yaml", cfg->train.run_dir);
        if (config_write_resolved(cfg, path, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s\n", err);
            return 1;
        }
    }
    /* resume */
    int rc = checkpoint_maybe_resume(t, err, sizeof err);
    if (rc) {
        fprintf(stderr, "mtbert: rank %d: %s\n", comm->rank, err);
        return 2;
    }
    if (rank0 && cfg->logging.jsonl) {
        char path[1200];
        snprintf(path, sizeof path, "%s/metrics.jsonl", cfg->train.run_dir);
        t->jsonl = fopen(path, t->st.step > 0 ? "a" : "w");
        if (!t->jsonl) {
            fprintf(stderr, "mtbert: %s: %s\n", path, strerror(errno));
            return 1;
        }
    }
    return 0;
}

void trainer_free(Trainer *t) {
    for (int s = 0; s < t->nsources; s++) { loader_close(t->src[s].loader); free(t->src[s].path); }
    for (int s = 0; s < t->neval; s++) { loader_close(t->eval_src[s].loader); free(t->eval_src[s].path); }
    for (int k = 0; k < MAX_TASKS; k++) {
        for (int i = 0; i < t->nlabel_names[k]; i++) free(t->label_names[k][i]);
        free(t->label_names[k]);
    }
    if (t->jsonl) fclose(t->jsonl);
    buf_free(&t->buf);
    buf_free(&t->mix);
    if (t->opt.m) optimizer_free(&t->opt, &t->model);
    model_free(&t->model);
}

/* ---- evaluation ---- */

static int argmax(const float *x, int n) {
    int k = 0;
    for (int i = 1; i < n; i++) if (x[i] > x[k]) k = i;
    return k;
}

static const char *main_metric_of(TaskType type) {
    return type == TASK_TOKEN_CLS ? "entity_f1" : type == TASK_SIMILARITY ? "spearman" : "accuracy";
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
    for (int k = 0; k < nt; k++) {
        if (s->shard_task[k] < 0) continue;
        if (mc->tasks[k].type == TASK_SENTENCE_CLS) cls_init(&cls[k], mc->tasks[k].num_labels);
        if (mc->tasks[k].type == TASK_TOKEN_CLS)
            ner_init(&ner[k], (const char *const *)t->label_names[k], t->nlabel_names[k]);
    }
    loader_set_state(s->loader, (LoaderState){0, 0}, NULL, 0);
    int64_t nb = loader_batches_per_epoch(s->loader);
    int maxV = 1;
    for (int k = 0; k < nt; k++) if (mc->tasks[k].num_labels > maxV) maxV = mc->tasks[k].num_labels;
    float *logits = malloc(sizeof(float) * (size_t)m->maxB * m->maxT * maxV);
    float *emb = malloc(sizeof(float) * (size_t)m->maxB * model_embedding_dim(m));
    int *gold = malloc(sizeof(int) * m->maxT), *pred = malloc(sizeof(int) * m->maxT);
    int training = m->training;
    m->training = 0;
    for (int64_t i = 0; i < nb; i++) {
        const LoaderBatch *lb = loader_next_batch(s->loader);
        Batch b;
        batch_convert(s, lb, mc, &t->buf, &b);
        model_forward(m, &b);
        for (int k = 0; k < nt; k++) {
            if (s->shard_task[k] < 0 || !m->task_count[k]) continue;
            loss_sum[k] += (double)m->task_loss[k] * m->task_count[k];
            loss_cnt[k] += m->task_count[k];
            const TaskConfig *tc = &mc->tasks[k];
            int V = tc->num_labels;
            if (tc->type == TASK_SENTENCE_CLS) {
                model_get_logits(m, k, logits);
                for (int r = 0; r < b.B; r++)
                    if (b.labels[k][r] != -100) cls_add(&cls[k], b.labels[k][r], argmax(logits + (size_t)r * V, V));
            } else if (tc->type == TASK_TOKEN_CLS) {
                model_get_logits(m, k, logits);
                for (int r = 0; r < b.B; r++) {
                    int n = 0;
                    for (int j = 0; j < b.T; j++) {
                        int y = b.labels[k][(size_t)r * b.T + j];
                        if (y == -100) continue;
                        gold[n] = y;
                        pred[n++] = argmax(logits + ((size_t)r * b.T + j) * V, V);
                    }
                    if (n) ner_add_sentence(&ner[k], gold, pred, n);
                }
            } else {
                int P = b.sim_npairs[k], D = model_embedding_dim(m);
                model_get_embeddings(m, emb);
                if (sim_n[k] + P > sim_cap[k]) {
                    sim_cap[k] = 2 * (sim_n[k] + P);
                    sim_x[k] = realloc(sim_x[k], sim_cap[k] * sizeof(double));
                    sim_y[k] = realloc(sim_y[k], sim_cap[k] * sizeof(double));
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
        if (tc->type == TASK_SENTENCE_CLS) {
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
        } else if (tc->type == TASK_TOKEN_CLS) {
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
    if (t->comm->rank == 0)
        for (int e = 0; e < t->neval; e++) evaluate_source(t, &t->eval_src[e], out);
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
static double selection_metric(const Trainer *t, const MetricSet *ms, int *ok) {
    const char *best = t->cfg->eval.best_metric;
    *ok = 1;
    if (!best || !strcmp(best, "mean")) {
        double sum = 0;
        int n = 0;
        for (int k = 0; k < t->cfg->model.ntasks; k++) {
            char name[MAX_NAME + 32];
            int found;
            snprintf(name, sizeof name, "%s.%s", t->cfg->model.tasks[k].name,
                     t->cfg->task[k].metric[0] ? t->cfg->task[k].metric : main_metric_of(t->cfg->model.tasks[k].type));
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

/* ", \"key\": value" with a non-finite value quoted ("nan"): JSON has no NaN. */
static void jsonl_number(FILE *f, const char *key, double v) {
    if (isfinite(v)) fprintf(f, ", \"%s\": %.6g", key, v);
    else fprintf(f, ", \"%s\": \"%.6g\"", key, v);
}

static void log_eval(Trainer *t, const MetricSet *ms, long step) {
    if (t->comm->rank != 0 || !ms->n) return;
    fprintf(stderr, "eval @ step %ld:", step);
    for (int i = 0; i < ms->n; i++)
        if (!strstr(ms->name[i], ".f1.")) fprintf(stderr, " %s %.4f", ms->name[i], ms->value[i]);
    fprintf(stderr, "\n");
    if (t->jsonl) {
        fprintf(t->jsonl, "{\"event\": \"eval\", \"step\": %ld", step);
        for (int i = 0; i < ms->n; i++)
            fprintf(t->jsonl, ", \"%s\": %s%.6g%s", ms->name[i], isfinite(ms->value[i]) ? "" : "\"",
                    ms->value[i], isfinite(ms->value[i]) ? "" : "\"");
        fprintf(t->jsonl, "}\n");
        fflush(t->jsonl);
    }
}

/* ---- the loop ---- */

static void fmt_duration(double s, char *buf, size_t n) {
    long x = (long)(s + 0.5);
    if (x >= 3600) snprintf(buf, n, "%ldh%02ldm", x / 3600, x / 60 % 60);
    else snprintf(buf, n, "%ldm%02lds", x / 60, x % 60);
}

/* MTBERT_SIGNAL_AT=STEP[:RANK] (tests): the process raises SIGUSR1 on itself
 * as it begins step STEP (1-based) -- on rank RANK only when given -- so the
 * stop-on-signal path runs at a known step (tests/cli/train_signal.sh). */
static void signal_hook(long step, int rank) {
    static long at = -2;
    static int at_rank = -1;
    if (at == -2) {
        const char *e = getenv("MTBERT_SIGNAL_AT");
        at = -1;
        if (e && *e) {
            char *end;
            at = strtol(e, &end, 10);
            if (*end == ':') at_rank = (int)strtol(end + 1, NULL, 10);
        }
    }
    if (step == at && (at_rank < 0 || at_rank == rank)) raise(SIGUSR1);
}

/* MTBERT_DUMP_PARAMS=DIR: every rank writes its final parameters, raw
 * float32 in table order, to DIR/rank-R.bin (tests/cli/mpi_equivalence.sh
 * checks that data-parallel ranks stay bit-identical). */
static int dump_params(Trainer *t) {
    const char *dir = getenv("MTBERT_DUMP_PARAMS");
    if (!dir || !*dir) return 0;
    Model *m = &t->model;
    size_t n = m->table.total;
    float *h = malloc(n * sizeof(float));
    char path[4096];
    snprintf(path, sizeof path, "%s/rank-%d.bin", dir, t->comm->rank);
    FILE *f = h ? fopen(path, "wb") : NULL;
    int ok = f != NULL;
    if (ok) {
        t->ops->to_host(h, m->params, n * sizeof(float));
        ok = fwrite(h, sizeof(float), n, f) == n;
    }
    if (f && fclose(f)) ok = 0;
    free(h);
    if (!ok) fprintf(stderr, "mtbert: rank %d: cannot write %s: %s\n", t->comm->rank, path, strerror(errno));
    return ok ? 0 : -1;
}

/* A mixed batch: row r comes from the source sampler_task_row(step, r)
 * draws, one example at a time (those loaders yield single rows); tasks a
 * row's source does not label get -100 there. */
static void mixed_batch(Trainer *t, const Sampler *smp, long draw, Batch *b, int64_t *real_tokens) {
    const Config *cfg = t->cfg;
    int B = cfg->data.batch_size, W = t->model.maxT, nt = cfg->model.ntasks, T = 1;
    BatchBuf *st = &t->mix, *out = &t->buf;
    buf_reserve(st, B, W);
    *real_tokens = 0;
    for (int r = 0; r < B; r++) {
        const Source *src = &t->src[sampler_task_row(smp, draw, r)];
        const LoaderBatch *lb = loader_next_batch(src->loader);
        int L = lb->T < W ? lb->T : W;
        if (L > T) T = L;
        *real_tokens += lb->real_tokens;
        for (int j = 0; j < W; j++) {
            size_t at = (size_t)r * W + j;
            st->ids[at] = j < L ? lb->input_ids[j] : 0;
            st->types[at] = j < L && lb->type_ids ? lb->type_ids[j] : 0;
            st->mask[at] = j < L ? lb->mask[j] : 0;
        }
        for (int k = 0; k < nt; k++) {
            int sk = src->shard_task[k];
            const int *lab = sk >= 0 ? lb->tasks[sk].labels : NULL;
            if (cfg->model.tasks[k].type == TASK_TOKEN_CLS)
                for (int j = 0; j < W; j++) st->labels[k][(size_t)r * W + j] = lab && j < L ? lab[j] : -100;
            else
                st->labels[k][r] = lab ? lab[0] : -100;
        }
    }
    /* compact rows of width W to the batch's longest row T */
    buf_reserve(out, B, T);
    memset(b, 0, sizeof *b);
    for (int r = 0; r < B; r++) {
        memcpy(out->ids + (size_t)r * T, st->ids + (size_t)r * W, sizeof(int) * T);
        memcpy(out->types + (size_t)r * T, st->types + (size_t)r * W, sizeof(int) * T);
        memcpy(out->mask + (size_t)r * T, st->mask + (size_t)r * W, sizeof(int) * T);
    }
    for (int k = 0; k < nt; k++) {
        if (cfg->model.tasks[k].type == TASK_TOKEN_CLS)
            for (int r = 0; r < B; r++)
                memcpy(out->labels[k] + (size_t)r * T, st->labels[k] + (size_t)r * W, sizeof(int) * T);
        else
            memcpy(out->labels[k], st->labels[k], sizeof(int) * B);
        b->labels[k] = out->labels[k];
    }
    b->B = B;
    b->T = T;
    b->input_ids = out->ids;
    b->type_ids = out->types;
    b->mask = out->mask;
}

int trainer_run(Trainer *t) {
    Config *cfg = t->cfg;
    Model *m = &t->model;
    Comm *comm = t->comm;
    int rank0 = comm->rank == 0, nt = cfg->model.ntasks;
    char err[2048];
    Sampler smp = {.strategy = cfg->sampling.strategy, .ntasks = t->nsources, .temperature = cfg->sampling.temperature,
                   .anneal_steps = cfg->sampling.anneal_steps > 0 ? cfg->sampling.anneal_steps : t->total_steps,
                   .alternate_every = cfg->sampling.alternate_every, .seed = cfg->train.seed};
    for (int s = 0; s < t->nsources; s++) {
        smp.size[s] = (double)t->src[s].examples;
        double over = 0;
        int n = 0;
        for (int k = 0; k < nt; k++)
            if (t->task_source[k] == s) { over += cfg->task[k].oversample; n++; }
        smp.oversample[s] = n ? over / n : 1.0;
    }
    if (rank0) {
        fprintf(stderr, "mtbert: %s backend, %d rank%s, global batch %d = %d per rank x %d ranks x %d accumulation; "
                "%ld steps (warm-up %ld)\n", t->ops->name, comm->world, comm->world > 1 ? "s" : "",
                cfg->data.batch_size * comm->world * cfg->train.grad_accum, cfg->data.batch_size, comm->world,
                cfg->train.grad_accum, t->total_steps, t->warmup_steps);
        fprintf(stderr, "mtbert: run directory %s\n", cfg->train.run_dir);
    }
    double t_start = now_s(), t_last = t_start;
    double tokens_since = 0;
    long start_step = t->st.step;
    double loss_acc[MAX_TASKS] = {0}, loss_n[MAX_TASKS] = {0};
    int rc = 0, stop_sig = 0; /* handlers: stop_signal_install() in cmd_train */
    while (t->st.step < t->total_steps) {
        long step = t->st.step;
        signal_hook(step + 1, comm->rank);
        trainer_apply_freezing(t, step);
        model_zero_grad(m);
        int active[MAX_TASKS] = {0};
        double step_loss[MAX_TASKS] = {0}, step_cnt[MAX_TASKS] = {0};
        int nonfinite = 0, bad_task = -1;
        for (int a = 0; a < cfg->train.grad_accum; a++) {
            long draw = step * cfg->train.grad_accum + a;
            Batch b;
            int64_t real_tokens;
            if (cfg->data.mixed_batches) {
                mixed_batch(t, &smp, draw, &b, &real_tokens);
            } else {
                Source *src = &t->src[sampler_task(&smp, draw)];
                const LoaderBatch *lb = loader_next_batch(src->loader);
                batch_convert(src, lb, &cfg->model, &t->buf, &b);
                real_tokens = lb->real_tokens;
            }
            m->dropout_key = philox_key(cfg->train.seed, (uint64_t)draw, (uint64_t)comm->rank + 1);
            float loss = model_forward(m, &b);
            /* data parallel: each task's loss and gradient are the mean over
             * its labelled items in the global batch (ranks' counts differ for
             * token tasks): rank r weighs its mean by W * count_r / global */
            double glob[MAX_TASKS];
            for (int k = 0; k < nt; k++) glob[k] = m->task_count[k];
            if (comm->world > 1) {
                if (comm_allreduce_sum_double(comm, glob, (size_t)nt)) {
                    fprintf(stderr, "mtbert: rank %d: label-count all-reduce failed at step %ld\n", comm->rank, step + 1);
                    comm_abort(comm, 1);
                }
                for (int k = 0; k < nt; k++) m->task_norm[k] = (float)(glob[k] / comm->world);
            }
            for (int k = 0; k < nt; k++) {
                if (glob[k] <= 0) continue;
                if (m->task_count[k]) active[k] = 1;
                if (!isfinite(m->task_loss[k]) && bad_task < 0) bad_task = k;
                step_loss[k] += comm->world > 1 ? m->task_loss[k] * m->task_count[k] / m->task_norm[k] : m->task_loss[k];
                step_cnt[k] += 1;
            }
            if (!isfinite(loss)) { nonfinite = 1; continue; }
            model_backward(m, &b, 1.0f / cfg->train.grad_accum);
            tokens_since += real_tokens;
        }
        /* all ranks agree on which heads move, whether the step is good and
         * whether to stop after it (a signal may reach only some ranks) */
        int flags[MAX_TASKS + 2];
        for (int k = 0; k < nt; k++) flags[k] = active[k];
        flags[nt] = nonfinite;
        flags[nt + 1] = stop_signal_pending();
        comm_allreduce_max_int(comm, flags, (size_t)nt + 2);
        for (int k = 0; k < nt; k++) active[k] = flags[k];
        nonfinite = flags[nt];
        stop_sig = flags[nt + 1];
        if (comm->world > 1 && comm_allreduce_mean(comm, m->grads, m->table.total, 1 << 22)) {
            fprintf(stderr, "mtbert: rank %d: gradient all-reduce failed at step %ld\n", comm->rank, step + 1);
            comm_abort(comm, 1);
        }
        double lr = cfg->optimizer.lr * schedule_factor(cfg->schedule.decay, step, t->warmup_steps, t->total_steps);
        float norm = 0;
        if (!nonfinite) {
            /* the norm is checked before the update: a non-finite gradient never reaches the weights */
            AdamSpan all = {0, m->table.total, 0, 0};
            double sq = t->ops->sumsq(m->grads, &all, 1);
            if (!isfinite(sq)) nonfinite = 1;
        }
        if (nonfinite) {
            if (cfg->train.nonfinite == NONFINITE_STOP) {
                if (rank0)
                    fprintf(stderr, "mtbert: non-finite %s at step %ld%s%s; stopping (train.nonfinite: stop)\n",
                            bad_task >= 0 ? "loss" : "gradient", step + 1, bad_task >= 0 ? " in task " : "",
                            bad_task >= 0 ? cfg->model.tasks[bad_task].name : "");
                rc = 1;
                break;
            }
            t->st.nonfinite_skipped++;
            if (rank0)
                fprintf(stderr, "mtbert: non-finite %s at step %ld%s%s: step skipped (%ld so far)\n",
                        bad_task >= 0 ? "loss" : "gradient", step + 1, bad_task >= 0 ? " in task " : "",
                        bad_task >= 0 ? cfg->model.tasks[bad_task].name : "", t->st.nonfinite_skipped);
        } else {
            norm = optimizer_step(&t->opt, m, (float)lr, active);
        }
        t->st.step++;
        for (int k = 0; k < nt; k++)
            if (step_cnt[k] > 0) { loss_acc[k] += step_loss[k] / step_cnt[k]; loss_n[k] += 1; }

        /* logging: losses averaged over ranks */
        if (cfg->logging.every > 0 && (t->st.step % cfg->logging.every == 0 || t->st.step == t->total_steps)) {
            double red[2 * MAX_TASKS + 1];
            for (int k = 0; k < nt; k++) { red[k] = loss_acc[k]; red[nt + k] = loss_n[k]; }
            red[2 * nt] = tokens_since;
            comm_allreduce_sum_double(comm, red, (size_t)2 * nt + 1);
            double now = now_s(), tps = red[2 * nt] / fmax(now - t_last, 1e-9);
            double done = (double)(t->st.step - start_step), left = (double)(t->total_steps - t->st.step);
            char eta[32];
            fmt_duration((now - t_start) / fmax(done, 1) * left, eta, sizeof eta);
            if (rank0) {
                double total = 0;
                for (int k = 0; k < nt; k++)
                    if (red[nt + k] > 0) total += cfg->model.tasks[k].loss_weight * red[k] / red[nt + k];
                if (!t->quiet) {
                    fprintf(stderr, "step %ld/%ld  loss %.4f", t->st.step, t->total_steps, total);
                    for (int k = 0; k < nt; k++)
                        if (red[nt + k] > 0) fprintf(stderr, "  %s %.4f", cfg->model.tasks[k].name, red[k] / red[nt + k]);
                    fprintf(stderr, "  lr %.3g  |g| %.3g  %.0f tok/s  ETA %s\n", lr, norm, tps, eta);
                }
                if (t->jsonl) {
                    /* a skipped step's loss is nan/inf: written as a string, as
                     * log_eval does, so that every line stays valid JSON */
                    fprintf(t->jsonl, "{\"event\": \"train\", \"step\": %ld", t->st.step);
                    jsonl_number(t->jsonl, "loss", total);
                    for (int k = 0; k < nt; k++)
                        if (red[nt + k] > 0) {
                            char key[MAX_NAME + 8];
                            snprintf(key, sizeof key, "loss.%s", cfg->model.tasks[k].name);
                            jsonl_number(t->jsonl, key, red[k] / red[nt + k]);
                        }
                    jsonl_number(t->jsonl, "lr", lr);
                    jsonl_number(t->jsonl, "grad_norm", norm);
                    fprintf(t->jsonl, ", \"tokens_per_s\": %.1f, \"nonfinite_skipped\": %ld}\n", tps,
                            t->st.nonfinite_skipped);
                    fflush(t->jsonl);
                }
            }
            memset(loss_acc, 0, sizeof loss_acc);
            memset(loss_n, 0, sizeof loss_n);
            tokens_since = 0;
            t_last = now;
        }
        int last = t->st.step == t->total_steps;
        if (stop_sig && !last) break;
        int do_eval = t->has_eval && cfg->eval.every > 0 && t->st.step % cfg->eval.every == 0 && !last;
        int do_ckpt = cfg->checkpoint.every > 0 && t->st.step % cfg->checkpoint.every == 0 && !last;
        MetricSet ms = {0};
        if (do_eval) {
            double e0 = now_s();
            trainer_evaluate(t, &ms);
            log_eval(t, &ms, t->st.step);
            t_last += now_s() - e0; /* tokens/s counts training time only */
        }
        if (do_ckpt || do_eval) {
            int ok;
            double v = do_eval ? selection_metric(t, &ms, &ok) : NAN;
            int is_best = do_eval && ok && (isnan(t->st.best_metric) || v > t->st.best_metric);
            if (is_best) { t->st.best_metric = v; t->st.best_step = t->st.step; }
            if (do_ckpt || (is_best && cfg->checkpoint.keep_best && cfg->checkpoint.every > 0)) {
                if (checkpoint_save(t, err, sizeof err)) {
                    fprintf(stderr, "mtbert: %s\n", err);
                    rc = 1;
                    break;
                }
            }
        }
    }
    if (rc == 0 && stop_sig && t->st.step < t->total_steps) {
        /* stopped on a signal: save where we are (no evaluation) and report */
        if (checkpoint_save(t, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s\n", err);
            return 1;
        }
        if (rank0)
            fprintf(stderr, "mtbert: stopped on %s after step %ld of %ld; checkpoint %s/latest "
                    "(rerun with checkpoint.resume=auto to continue)\n",
                    stop_sig == SIGUSR1 ? "SIGUSR1" : stop_sig == SIGTERM ? "SIGTERM" : "SIGINT",
                    t->st.step, t->total_steps, cfg->train.run_dir);
        return TRAIN_STOPPED;
    }
    if (rc == 0) {
        MetricSet ms = {0};
        if (t->has_eval) {
            trainer_evaluate(t, &ms);
            log_eval(t, &ms, t->st.step);
            int ok;
            double v = selection_metric(t, &ms, &ok);
            if (ok && (isnan(t->st.best_metric) || v > t->st.best_metric)) {
                t->st.best_metric = v;
                t->st.best_step = t->st.step;
            }
        }
        if (t->total_steps > 0 && checkpoint_save(t, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s\n", err);
            rc = 1;
        }
        if (rank0) {
            char took[32];
            fmt_duration(now_s() - t_start, took, sizeof took);
            fprintf(stderr, "mtbert: done: %ld steps in %s", t->st.step - start_step, took);
            if (t->st.nonfinite_skipped) fprintf(stderr, ", %ld non-finite steps skipped", t->st.nonfinite_skipped);
            fprintf(stderr, "\n");
        }
        if (dump_params(t)) rc = 1;
    }
    return rc;
}
