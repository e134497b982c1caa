/* setup.c — a Trainer from a validated config: backend, data sources bound
 * to tasks, the model (random, --init-from or a checkpoint), freezing,
 * optimizer, run directory and resume. */
#include "trainer/train/train_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/tokenizer_json.h"
#include "data/tokenizer.h"
#include "trainer/model/contrastive.h"
#include "trainer/model/family.h"
#include "trainer/model/task_kind.h"
#include "trainer/store/model_dir.h"
#include "trainer/train/checkpoint.h"
#include "trainer/train/preflight.h"
#include "trainer/train/run_dir.h"
#include "trainer/train/stop_signal.h"
#include "trainer/train/metrics.h"
#include "util/fsutil.h"

/* A source that failed to open or bind is not counted (trainer_free would
 * not free it): its loader and path go here. Returns -1. */
static int source_drop(Source *s) {
    loader_close(s->loader);
    free(s->path);
    memset(s, 0, sizeof *s);
    return -1;
}

/* The shards at `path`, read in batches of `task`'s batch_size and max_len
 * (tasks sharing a path have the same: config.c checks). */
static int open_source(Trainer *t, Source *s, const char *path, int task, int for_eval, char *err, size_t errlen) {
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
    lc.batch_size = !for_eval && cfg->data.mixed_batches ? 1 : cfg->task[task].batch_size;
    lc.shuffle = for_eval ? 0 : cfg->data.shuffle;
    lc.drop_last = 0;
    lc.bucket_batches = !for_eval && cfg->data.length_bucketing ? 16 : 0;
    lc.check_vocab = 1;
    lc.vocab_hash = t->vocab_hash;
    lc.pad_id = t->vocab_pad_id;
    /* data.max_len applies: longer sequences are cut, the last kept position [SEP] */
    lc.max_len = cfg->task[task].max_len;
    lc.sep_id = t->vocab_sep_id;
    lc.vocab_size = cfg->model.bert.vocab_size;
    s->loader = loader_open(&lc, err, errlen);
    if (!s->loader) goto fail;
    const ShardData *info = loader_info(s->loader);
    const BertConfig *bc = &cfg->model.bert;
    int max_tokens = family_max_tokens(bc->family, bc->pad_token_id, bc->max_position_embeddings);
    if (loader_max_len(s->loader) > max_tokens) {
        snprintf(err, errlen, "%s: shards were prepared with max_len %d, beyond the model's %d positions%s; "
                 "re-run mtbert prepare with --max-len %d or set data.max_len", path, loader_max_len(s->loader),
                 max_tokens, max_tokens < bc->max_position_embeddings ? " (after the padding offset)" : "",
                 max_tokens);
        goto fail;
    }
    if (loader_truncated(s->loader) && t->comm->rank == 0)
        fprintf(stderr, "mtbert: %s: %s %d cuts %lld of %s%lld examples (the shards hold up to %d tokens); "
                "the last kept position becomes [SEP]\n", path,
                cfg->task[task].max_len == cfg->data.max_len ? "data.max_len" : "the task's max_len", lc.max_len,
                (long long)loader_truncated(s->loader), lc.world > 1 ? "rank 0's " : "",
                (long long)loader_rank_count(s->loader), info->info.max_len);
    s->examples = loader_total_examples(s->loader);
    s->batch_size = lc.batch_size;
    for (int k = 0; k < MAX_TASKS; k++) s->shard_task[k] = -1;
    return 0;
fail:
    return source_drop(s);
}

/* A contrastive task on a shard set: the hard negatives (num_negatives)
 * go into its model batches when its loss uses them (mnrl: extra
 * candidates; triplet: needs exactly one; with mini_batch each chunk
 * carries its pairs' negatives). Refusals name task and file. */
static int bind_negatives(Trainer *t, Source *s, int task, char *err, size_t errlen) {
    const TaskSetup *ts = &t->cfg->task[task];
    const char *name = t->cfg->model.tasks[task].name;
    int K = loader_num_negatives(s->loader);
    if (ts->ctr_loss == CTR_TRIPLET && K != 1) {
        if (K == 0)
            snprintf(err, errlen, "%s: task '%s' has loss triplet, which needs (anchor, positive, negative) rows; these "
                     "shards have no hard negatives (prepare with --format triplets, or --negative-columns / "
                     "--negatives-key)", s->path, name);
        else
            snprintf(err, errlen, "%s: task '%s' has loss triplet, which takes one negative per example; these shards "
                     "have %d (use loss mnrl, which takes them all as candidates)", s->path, name, K);
        return -1;
    }
    if (!K) return 0;
    if (ts->ctr_loss == CTR_COSENT || ts->ctr_loss == CTR_ANGLE) {
        snprintf(err, errlen, "%s: task '%s' has loss %s, which scores pairs and has no use for the shards' %d hard "
                 "negatives per example (use loss mnrl or triplet, or pair shards)", s->path, name,
                 ctr_loss_name((CtrLoss)ts->ctr_loss), K);
        return -1;
    }
    s->num_neg = K;
    return 0;
}

/* A regression cross-encoder trains BCE-with-logits: its scores must lie in
 * [0, 1]. Scans this rank's share as read (no batches built). */
static int check_unit_scores(Source *s, int shard_task, const char *task, char *err, size_t errlen) {
    const ShardData *d = loader_share(s->loader);
    const float *sc = d->tasks[shard_task].scores;
    double lo = INFINITY, hi = -INFINITY;
    int64_t bad = -1;
    for (int64_t i = 0; sc && i < d->n; i++) {
        double v = sc[i];
        if (!(v >= 0.0 && v <= 1.0) && bad < 0) bad = loader_global_index(s->loader, i);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
    }
    if (bad < 0) return 0;
    snprintf(err, errlen, "%s: task '%s': regression scores range over [%g, %g] (first outside at example %lld); "
             "a cross_encoder_regression task trains BCE-with-logits on scores in [0, 1]: rescale them with "
             "`mtbert prepare --score-scale` (e.g. 0.2 for 0-5 scores)", s->path, task, lo, hi, (long long)bad);
    return -1;
}

/* Joined pairs carry the template's type ids (BERT: 0 and 1): a model whose
 * token-type table is smaller cannot embed them (DistilBERT has none and
 * ignores them). Scans this rank's share as read (no batches built). */
static int check_type_ids(Trainer *t, Source *s, const char *task, char *err, size_t errlen) {
    const BertConfig *bc = &t->cfg->model.bert;
    if (!family_get(bc->family)->token_types) return 0;
    const ShardData *d = loader_share(s->loader);
    int hi = 0;
    for (int64_t i = 0; d->type_ids && i < d->n_tokens; i++)
        if (d->type_ids[i] > hi) hi = d->type_ids[i];
    if (hi < bc->type_vocab_size) return 0;
    snprintf(err, errlen, "%s: task '%s': the joined pairs hold token type id %d, but the model has "
             "type_vocab_size %d (prepare them with the model's own tokenizer, whose pair template fits it)",
             s->path, task, hi, bc->type_vocab_size);
    return -1;
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
        if (kind->joined_pairs && !info->has_type_ids) {
            snprintf(err, errlen, "%s: task '%s' is a %s task, but the shards hold no joined pairs (no dataset "
                     "'token_type_ids'); prepare them with `mtbert prepare --join-pairs`", s->path, tc->name,
                     kind->name);
            return -1;
        }
        if (!kind->joined_pairs && info->has_type_ids) {
            snprintf(err, errlen, "%s: the shards hold joined pairs (prepare --join-pairs) but task '%s' is a %s "
                     "task; joined pairs train cross_encoder or cross_encoder_regression tasks", s->path, tc->name,
                     kind->name);
            return -1;
        }
        if (kind->joined_pairs && check_type_ids(t, s, tc->name, err, errlen)) return -1;
        if (st->type != kind->labels) {
            snprintf(err, errlen, "%s: task '%s' has %s labels in the shards but is a %s task in the config",
                     s->path, tc->name, label_kind_name(st->type), kind->name);
            return -1;
        }
        if (kind->head == HEAD_SCORE) {
            if (check_unit_scores(s, found, tc->name, err, errlen)) return -1;
            tc->num_labels = 1;
        } else if (task_has_head(tc->type)) {
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
            if (task_external_loss(tc->type) && bind_negatives(t, s, task, err, errlen)) return -1;
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
        if (open_source(t, s, cfg->task[i].train, i, 0, err, errlen)) return -1;
        if (bind_tasks(t, s, members, nm, err, errlen)) return source_drop(s);
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
            if (open_source(t, s, cfg->task[i].eval, i, 1, err, errlen)) return -1;
            if (bind_tasks(t, s, members, nm, err, errlen)) return source_drop(s);
            t->neval++;
        }
    return 0;
}

/* Similarity targets outside [-1, 1] cannot be reached by a cosine: say so
 * once per source, with the range seen (rank 0's share of a training set). */
static void check_similarity_scores(Trainer *t, Source *s) {
    const char *task = NULL;
    for (int k = 0; k < t->cfg->model.ntasks && !task; k++)
        if (s->shard_task[k] >= 0 && task_kind(t->cfg->model.tasks[k].type)->head == HEAD_COSINE &&
            !task_external_loss(t->cfg->model.tasks[k].type)) /* contrastive losses take any score range */
            task = t->cfg->model.tasks[k].name;
    if (!task) return;
    double lo = INFINITY, hi = -INFINITY;
    int64_t nb = loader_batches_per_epoch(s->loader);
    for (int64_t b = 0; b < nb; b++) {
        const LoaderBatch *lb = loader_next_batch(s->loader);
        for (int k = 0; k < lb->n_tasks; k++)
            if (lb->tasks[k].type == LABELS_SCORE && lb->tasks[k].scores)
                for (int r = 0; r < lb->B; r++) {
                    double v = lb->tasks[k].scores[r];
                    if (v < lo) lo = v;
                    if (v > hi) hi = v;
                }
    }
    loader_set_state(s->loader, (LoaderState){0, 0}, NULL, 0);
    if (lo < -1.0 || hi > 1.0)
        fprintf(stderr, "mtbert: warning: %s: similarity scores range over [%g, %g], outside the [-1, 1] of the "
                "cosine task '%s' is trained against; rescale them with `mtbert prepare --score-scale` "
                "(e.g. 0.2 for 0-5 STS scores)\n", s->path, lo, hi, task);
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
        if (step == ua->step && step > 0 && t->comm->rank == 0) {
            /* the loop calls this once per step: the step the group first trains */
            fprintf(stderr, "mtbert: step %ld: unfreezing %s (freeze.unfreeze_at_step)\n", step + 1, g);
            LogRecord r;
            logrec_begin(&r, "unfreeze", step + 1);
            logrec_text(&r, "group", g);
            logbook_write(t->jsonl, &t->tb, &r);
        }
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

/* The config's sentence settings apply to a sentence-transformers folder
 * given as model.path (docs/config.md); say so where its modules differ,
 * since training then optimises another embedding than the folder's (e.g.
 * loss triplet's distances without its Normalize module). */
static void warn_st_modules(const ModelDir *md, const Config *cfg) {
    static const char *const pool[] = {"mean", "cls", "max", "pooler"};
    int a = md->mc.pooling, b = cfg->model.pooling;
    if (a != b && a >= 0 && a < 4 && b >= 0 && b < 4)
        fprintf(stderr, "mtbert: warning: %s: its sentence-transformers Pooling is %s, the config says model.pooling: "
                "%s; training with %s (set model.pooling: %s to keep the folder's)\n", cfg->model_path, pool[a], pool[b],
                pool[b], pool[a]);
    if (md->mc.normalize != cfg->model.normalize)
        fprintf(stderr, "mtbert: warning: %s: %s a Normalize module, the config says model.normalize: %s; training %s "
                "L2 normalisation (set model.normalize: %s to keep the folder's)\n", cfg->model_path,
                md->mc.normalize ? "it has" : "it has no", cfg->model.normalize ? "true" : "false",
                cfg->model.normalize ? "with" : "without", md->mc.normalize ? "true" : "false");
}

int trainer_setup(Trainer *t, Config *cfg, Comm *comm, int for_training) {
    char err[4096];
    memset(t, 0, sizeof *t);
    t->cfg = cfg;
    t->comm = comm;
    int rank0 = comm->rank == 0;
    /* before anything is loaded or written: the launcher, the ranks' configs,
     * the run directory (lock; a fresh run needs an empty one) */
    if (preflight_launcher(comm) || preflight_ranks_agree(cfg, comm)) return 2;
    if (for_training && run_dir_begin(cfg, comm)) return 2;

    for (int k = 0; cfg->data.mixed_batches && k < cfg->model.ntasks; k++)
        if (task_kind(cfg->model.tasks[k].type)->head == HEAD_COSINE) {
            fprintf(stderr, "mtbert: %s: data.mixed_batches cannot include the similarity task '%s' "
                    "(pairs need batches of their own); set data.mixed_batches: false\n", cfg->source,
                    cfg->model.tasks[k].name);
            return 2;
        }
        else if (task_score_head(cfg->model.tasks[k].type)) {
            fprintf(stderr, "mtbert: %s: data.mixed_batches cannot include the cross_encoder_regression task '%s' "
                    "(mixed batches carry class labels only); set data.mixed_batches: false\n", cfg->source,
                    cfg->model.tasks[k].name);
            return 2;
        }
    /* backend */
    /* GPU local_rank % devices, before ops_select makes the stream and handles */
    if (cfg->train.backend != CFG_BACKEND_CPU && comm->world > 1 && comm_bind_device(comm)) return 2;
    t->ops = ops_select((BackendChoice)cfg->train.backend, (PrecisionChoice)cfg->train.precision, err, sizeof err);
    if (!t->ops) {
        fprintf(stderr, "mtbert: %s: train.backend / train.precision: %s\n", cfg->source, err);
        return 2;
    }
    if (for_training && comm->world > 1 && !ops_on_host(t->ops)) {
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
    t->ops->set_threads(config_resolve_threads(cfg, comm->world, comm->rank == 0 ? stderr : NULL));

    /* model folder and vocabulary */
    /* t->md lives until the weights are loaded; trainer_free drops it on any early return */
    ModelDir *md = &t->md;
    int have_dir = cfg->model_path != NULL;
    if (have_dir) {
        if (model_dir_read(md, cfg->model_path, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s\n", err);
            return 2;
        }
        t->have_md = 1;
        if (cfg->model_type_given && family_check_same(md->mc.bert.family, cfg->model.bert.family, cfg->model_path,
                                                       "the model folder (model.path / --init-from)", 1, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s\n", err);
            return 2;
        }
        /* the folder's shape wins; the config's sentence settings stay */
        float hd = cfg->model.bert.hidden_dropout_prob, ad = cfg->model.bert.attention_probs_dropout_prob;
        cfg->model.bert = md->mc.bert;
        cfg->model.bert.hidden_dropout_prob = hd;
        cfg->model.bert.attention_probs_dropout_prob = ad;
        if (config_check_depth(cfg, cfg->model.bert.num_hidden_layers, cfg->model_path, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s: %s\n", cfg->source, err);
            return 2;
        }
        if (rank0 && for_training && md->is_sentence_transformer) warn_st_modules(md, cfg);
    }
    char dflt[1100]; /* config.c's default model.vocab, PATH/vocab.txt, gives way to PATH/tokenizer.json */
    snprintf(dflt, sizeof dflt, "%s/vocab.txt", cfg->model_path ? cfg->model_path : "");
    if (cfg->vocab && !(have_dir && md->tokenizer_json && !strcmp(cfg->vocab, dflt)))
        snprintf(t->vocab, sizeof t->vocab, "%s", cfg->vocab);
    else if (have_dir) snprintf(t->vocab, sizeof t->vocab, "%s", md->vocab);
    else {
        fprintf(stderr, "mtbert: %s: model.vocab is required when model.path is not given\n", cfg->source);
        return 2;
    }
    t->do_lower_case = have_dir && !cfg->vocab ? md->do_lower_case : cfg->do_lower_case;
    {
        Tok *tok = tok_open(t->vocab, t->do_lower_case, err, sizeof err); /* vocab.txt or tokenizer.json */
        if (!tok) { fprintf(stderr, "mtbert: %s\n", err); return 2; }
        int vs = tok_vocab_size(tok);
        t->vocab_hash = tok_vocab_hash(tok);
        t->vocab_pad_id = tok_pad_id(tok) >= 0 ? tok_pad_id(tok) : 0;
        t->vocab_sep_id = tok_sep_id(tok);
        tok_free(tok);
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
    /* a strict tag_scheme reads O, B- and I- only */
    for (int k = 0; k < cfg->model.ntasks; k++) {
        NerScheme scheme = (NerScheme)cfg->task[k].tag_scheme;
        int b = task_kind(cfg->model.tasks[k].type)->head == HEAD_TOKEN
                    ? ner_scheme_check((const char *const *)t->label_names[k], t->nlabel_names[k], scheme) : -1;
        if (b >= 0) {
            fprintf(stderr, "mtbert: %s: tasks.%s.tag_scheme: %s takes O, B- and I- tags only; label '%s' is not one "
                    "(use tag_scheme: conlleval for IOBES)\n", cfg->source, cfg->model.tasks[k].name,
                    ner_scheme_name(scheme), t->label_names[k][b]);
            return 2;
        }
    }
    if (rank0) {
        for (int s = 0; s < t->nsources; s++) check_similarity_scores(t, &t->src[s]);
        for (int s = 0; s < t->neval; s++) check_similarity_scores(t, &t->eval_src[s]);
    }

    /* every rank must agree on evaluating: rank 0 evaluates, all wait for it */
    t->has_eval = t->neval > 0;
    for (int k = 0; k < cfg->model.ntasks; k++)
        if (cfg->task[k].ir_queries) t->has_eval = 1;
    comm_allreduce_max_int(comm, &t->has_eval, 1);

    /* what training really uses is recorded (config.yaml, checkpoints'
     * max_seq_length): the longest sequence a training batch can hold */
    if (for_training && t->nsources > 0) {
        int used = 0;
        for (int s = 0; s < t->nsources; s++)
            if (loader_max_len(t->src[s].loader) > used) used = loader_max_len(t->src[s].loader);
        if (used < cfg->data.max_len) {
            if (rank0)
                fprintf(stderr, "mtbert: data.max_len %d: the training shards hold at most %d tokens a sequence; "
                        "max_len %d is recorded\n", cfg->data.max_len, used, used);
            cfg->data.max_len = used;
            /* and the tasks' lengths with it, so the recorded config loads (task max_len <= data.max_len) */
            for (int k = 0; k < cfg->model.ntasks; k++)
                if (cfg->task[k].max_len > used) cfg->task[k].max_len = used;
        }
    }
    /* model */
    /* the largest batch: a source's batch_size (x2 for similarity pairs);
     * mixed batches are data.batch_size rows */
    int maxB = 0, maxT = cfg->data.max_len;
    for (int pass = 0; pass < 2; pass++) {
        const Source *src = pass ? t->eval_src : t->src;
        for (int s = 0; s < (pass ? t->neval : t->nsources); s++) {
            int b = src[s].has_similarity ? 2 + src[s].num_neg : 1; /* [a; p; negatives] */
            int per = cfg->data.mixed_batches && !pass ? cfg->data.batch_size : src[s].batch_size;
            /* a contrastive task with mini_batch (its source's only task) runs chunks of that many pairs */
            for (int k = 0; k < cfg->model.ntasks; k++)
                if (src[s].shard_task[k] >= 0 && cfg->task[k].ctr_mini_batch > 0 && cfg->task[k].ctr_mini_batch < per)
                    per = cfg->task[k].ctr_mini_batch;
            if (b * per > maxB) maxB = b * per;
        }
    }
    if (maxB == 0) maxB = cfg->data.batch_size;
    for (int s = 0; s < t->nsources; s++) {
        int ml = loader_max_len(t->src[s].loader);
        if (ml > maxT) maxT = ml;
    }
    for (int s = 0; s < t->neval; s++) {
        int ml = loader_max_len(t->eval_src[s].loader);
        if (ml > maxT) maxT = ml;
    }
    int max_tokens = family_max_tokens(cfg->model.bert.family, cfg->model.bert.pad_token_id,
                                       cfg->model.bert.max_position_embeddings);
    if (maxT > max_tokens) maxT = max_tokens;
    cfg->model.uncertainty_weighting = cfg->loss_weighting == LOSS_WEIGHTING_UNCERTAINTY;
    if (preflight_stop_requested(comm, "opening the data")) return TRAIN_STOPPED;
    if (preflight_memory(cfg, &cfg->model, t->ops, comm, maxB, maxT, for_training, "")) return 2;
    if (model_create(&t->model, &cfg->model, t->ops, maxB, maxT, for_training, cfg->train.seed, err, sizeof err)) {
        fprintf(stderr, "mtbert: %s\n", err);
        return 1;
    }
    if (preflight_same_model(comm, t->model.table.n, t->model.table.total, maxB, maxT)) return 2;
    if (have_dir) {
        char report[8192];
        md->mc = cfg->model;
        if (model_dir_load(&t->model, md, report, sizeof report, err, sizeof err)) {
            fprintf(stderr, "mtbert: %s\n", err);
            return 2;
        }
        /* eval loads a checkpoint over these weights next: what this folder
         * lacks (the heads) is not what will be evaluated */
        if (rank0 && report[0] && for_training) fprintf(stderr, "mtbert: loading %s:\n%s", cfg->model_path, report);
        model_dir_free(md);
        t->have_md = 0;
    }
    int irc = eval_retrieval_open(t);
    if (irc) return irc;
    if (!for_training) return 0;

    trainer_apply_freezing(t, 0);
    if (!anything_trainable(&t->model, cfg->model.ntasks, cfg->model.bert.num_hidden_layers) &&
        cfg->freeze.nunfreeze == 0) {
        if (rank0) fprintf(stderr, "mtbert: every part of the model is frozen: nothing trains; evaluating only\n");
        t->total_steps = 0;
    }
    OptimConfig oc = {cfg->optimizer.lr, cfg->optimizer.weight_decay, cfg->optimizer.beta1, cfg->optimizer.beta2,
                      cfg->optimizer.eps, cfg->optimizer.max_grad_norm, cfg->optimizer.layer_decay,
                      cfg->optimizer.head_lr, cfg->optimizer.head_weight_decay, {0}};
    for (int k = 0; k < cfg->model.ntasks; k++) oc.head_lr_mult[k] = cfg->task[k].lr_multiplier;
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

    if (preflight_stop_requested(comm, "building the model")) return TRAIN_STOPPED;
    /* resume */
    int rc = checkpoint_maybe_resume(t, err, sizeof err);
    if (rc) {
        fprintf(stderr, "mtbert: rank %d: %s\n", comm->rank, err);
        return 2;
    }
    if (preflight_stop_requested(comm, "resuming")) return TRAIN_STOPPED;
    /* run directory (rank 0): an earlier run cleared (overwrite), the resolved
     * config, metrics.jsonl cut back to the resumed step and opened */
    if (run_dir_start(t)) return 1;
    return 0;
}

void trainer_free(Trainer *t) {
    eval_retrieval_free(t);
    if (t->have_md) model_dir_free(&t->md);
    t->have_md = 0;
    for (int s = 0; s < t->nsources; s++) { loader_close(t->src[s].loader); free(t->src[s].path); }
    for (int s = 0; s < t->neval; s++) { loader_close(t->eval_src[s].loader); free(t->eval_src[s].path); }
    for (int k = 0; k < MAX_TASKS; k++) {
        for (int i = 0; i < t->nlabel_names[k]; i++) free(t->label_names[k][i]);
        free(t->label_names[k]);
    }
    if (t->jsonl) fclose(t->jsonl);
    t->jsonl = NULL;
    tblog_close(&t->tb);
    run_dir_unlock(); /* a training run's lock (none for eval) */
    batchbuf_free(&t->buf);
    batchbuf_free(&t->mix);
    if (t->opt.m) optimizer_free(&t->opt, &t->model);
    model_free(&t->model);
}
