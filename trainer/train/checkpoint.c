#include "trainer/train/checkpoint.h"

#include <dirent.h>
#include <fcntl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/fsutil.h"
#include "trainer/model/family.h"
#include "trainer/model/task_kind.h"
#include "trainer/store/model_dir.h"
#include "trainer/store/safetensors.h"
#include "trainer/train/run_dir.h"

static void fault(const char *stage) {
    const char *f = getenv("MTBERT_FAULT_AT");
    if (f && !strcmp(f, stage)) {
        fprintf(stderr, "mtbert: MTBERT_FAULT_AT=%s: simulated crash\n", stage);
        _exit(3);
    }
}

static int save_optimizer(Trainer *t, const char *path, char *err, size_t errlen) {
    size_t n = t->model.table.total;
    float *m = malloc(sizeof(float) * n), *v = malloc(sizeof(float) * n);
    if (!m || !v) { free(m); free(v); snprintf(err, errlen, "%s: out of memory", path); return -1; }
    t->ops->to_host(m, t->opt.m, sizeof(float) * n);
    t->ops->to_host(v, t->opt.v, sizeof(float) * n);
    int32_t steps = t->opt.t;
    StWriteTensor w[4] = {{"adamw.m", ST_F32, 1, {(int64_t)n}, m},
                          {"adamw.v", ST_F32, 1, {(int64_t)n}, v},
                          {"adamw.t", ST_I32, 1, {1}, &steps},
                          {"adamw.tensor_steps", ST_I32, 1, {t->model.table.n}, t->opt.tsteps}};
    int rc = st_write(path, w, 4, NULL, err, errlen);
    free(m);
    free(v);
    return rc;
}

static int save_state(Trainer *t, const char *path, char *err, size_t errlen) {
    json_t *o = json_object();
    json_object_set_new(o, "format", json_string("mtbert-trainer-state-1"));
    json_object_set_new(o, "step", json_integer(t->st.step));
    json_object_set_new(o, "total_steps", json_integer(t->total_steps));
    json_object_set_new(o, "world", json_integer(t->comm->world));
    json_object_set_new(o, "seed", json_integer((json_int_t)t->cfg->train.seed));
    json_object_set_new(o, "best_metric", isnan(t->st.best_metric) ? json_null() : json_real(t->st.best_metric));
    json_object_set_new(o, "best_step", json_integer(t->st.best_step));
    json_object_set_new(o, "nonfinite_skipped", json_integer(t->st.nonfinite_skipped));
    json_object_set_new(o, "evals_since_best", json_integer(t->st.evals_since_best));
    json_t *tasks = json_array();
    for (int k = 0; k < t->cfg->model.ntasks; k++) json_array_append_new(tasks, json_string(t->cfg->model.tasks[k].name));
    json_object_set_new(o, "tasks", tasks);
    json_t *loaders = json_array();
    for (int s = 0; s < t->nsources; s++) {
        LoaderState ls = loader_get_state(t->src[s].loader);
        json_array_append_new(loaders, json_pack("{s:s, s:I, s:I}", "path", t->src[s].path, "epoch",
                                                 (json_int_t)ls.epoch, "batch", (json_int_t)ls.batch));
    }
    json_object_set_new(o, "loaders", loaders);
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
    json_decref(o);
    int rc = fs_write_atomic(path, s, strlen(s), err, errlen);
    free(s);
    return rc;
}

/* step-NNNNNNN folders of the run, ascending. */
static int list_steps(const char *run_dir, long *steps, int cap) {
    DIR *d = opendir(run_dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < cap) {
        long s;
        char tail;
        if (sscanf(e->d_name, "step-%ld%c", &s, &tail) == 1) steps[n++] = s;
    }
    closedir(d);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && steps[j - 1] > steps[j]; j--) {
            long x = steps[j];
            steps[j] = steps[j - 1];
            steps[j - 1] = x;
        }
    return n;
}

static void apply_retention(Trainer *t) {
    int keep = t->cfg->checkpoint.keep_last;
    if (keep <= 0) return;
    long steps[4096];
    int n = list_steps(t->cfg->train.run_dir, steps, 4096);
    for (int i = 0; i < n - keep; i++) {
        if (t->cfg->checkpoint.keep_best && steps[i] == t->st.best_step) continue;
        char p[1400];
        snprintf(p, sizeof p, "%s/step-%07ld", t->cfg->train.run_dir, steps[i]);
        run_dir_rm_rf(p);
    }
}

int checkpoint_save(Trainer *t, char *err, size_t errlen) {
    int rc = 0;
    if (t->comm->rank == 0) {
        const char *run = t->cfg->train.run_dir;
        char tmp[1400], final[1400], p[1500];
        snprintf(final, sizeof final, "%s/step-%07ld", run, t->st.step);
        snprintf(tmp, sizeof tmp, "%s/.step-%07ld.tmp", run, t->st.step);
        run_dir_rm_rf(tmp);
        LabelNames labels[MAX_TASKS];
        for (int k = 0; k < t->cfg->model.ntasks; k++) {
            labels[k].n = t->nlabel_names[k];
            labels[k].names = t->label_names[k];
            labels[k].tag_scheme = ner_scheme_name(t->cfg->task[k].tag_scheme);
        }
        rc = model_dir_save(&t->model, tmp, t->vocab, t->do_lower_case, t->cfg->data.max_len, labels, err, errlen);
        fault("model");
        if (!rc) {
            snprintf(p, sizeof p, "%s/optimizer.safetensors", tmp);
            rc = save_optimizer(t, p, err, errlen);
        }
        fault("optimizer");
        if (!rc) {
            snprintf(p, sizeof p, "%s/trainer_state.json", tmp);
            rc = save_state(t, p, err, errlen);
        }
        if (!rc) {
            snprintf(p, sizeof p, "%s/config.yaml", tmp);
            rc = config_write_resolved(t->cfg, p, err, errlen);
        }
        fault("state");
        struct stat fst;
        int replaced = 0;
        if (!rc && stat(final, &fst) == 0) {
            /* this step's folder exists already (a finished run resumed, a
             * resume from an earlier checkpoint, a crash after the rename):
             * the new one replaces it. Swapped in one step where the file
             * system can (no moment without the folder), else moved aside
             * first; the old one is removed after. */
            char old[1500];
            snprintf(old, sizeof old, "%s/.step-%07ld.old", run, t->st.step);
            run_dir_rm_rf(old);
            if (renameat2(AT_FDCWD, tmp, AT_FDCWD, final, RENAME_EXCHANGE) == 0) {
                run_dir_rm_rf(tmp); /* now the old folder */
            } else if (rename(final, old)) {
                snprintf(err, errlen, "%s: cannot move the existing %s aside: %s", tmp, final, strerror(errno));
                rc = -1;
            } else if (rename(tmp, final)) {
                snprintf(err, errlen, "%s: cannot rename to %s: %s", tmp, final, strerror(errno));
                rc = -1;
                if (rename(old, final) == 0) fs_fsync_dir(run); /* the old one back */
            } else {
                run_dir_rm_rf(old);
            }
            if (!rc) {
                fs_fsync_dir(run);
                replaced = 1;
            }
        } else if (!rc) {
            if (rename(tmp, final)) {
                snprintf(err, errlen, "%s: cannot rename to %s: %s", tmp, final, strerror(errno));
                rc = -1;
            } else {
                fs_fsync_dir(run);
            }
        }
        fault("rename");
        if (!rc) {
            /* the crash point "latest" lies inside the replacement of the
             * pointer: written in full under a temporary name, not yet renamed */
            char line[64];
            snprintf(line, sizeof line, "step-%07ld\n", t->st.step);
            snprintf(p, sizeof p, "%s/latest", run);
            FsAtomicFile af;
            rc = fs_atomic_begin(&af, p, err, errlen);
            if (!rc) rc = fs_atomic_write(&af, line, strlen(line), err, errlen);
            if (!rc) {
                fault("latest");
                rc = fs_atomic_commit(&af, err, errlen);
            }
        }
        if (rc) run_dir_rm_rf(tmp);
        else {
            if (t->st.best_step == t->st.step) {
                char line[64];
                snprintf(line, sizeof line, "step-%07ld\n", t->st.step);
                snprintf(p, sizeof p, "%s/best", run);
                fs_write_atomic(p, line, strlen(line), err, errlen);
            }
            apply_retention(t);
            if (!t->quiet)
                fprintf(stderr, "mtbert: checkpoint %s%s\n", final, replaced ? " (replaced the folder of that name)" : "");
        }
    }
    int bad = rc ? 1 : 0;
    comm_allreduce_max_int(t->comm, &bad, 1);
    return bad ? -1 : 0;
}

static int load_optimizer(Trainer *t, const char *path, char *err, size_t errlen) {
    StFile f;
    if (st_open(&f, path, err, errlen)) return -1;
    int rc = -1;
    size_t n = t->model.table.total;
    const char *names[2] = {"adamw.m", "adamw.v"};
    float *dst[2] = {t->opt.m, t->opt.v};
    float *host = malloc(sizeof(float) * n);
    for (int i = 0; i < 2; i++) {
        const StTensor *st = st_find(&f, names[i]);
        if (!st) { snprintf(err, errlen, "%s: tensor %s is missing", path, names[i]); goto out; }
        if ((size_t)st->numel != n) {
            snprintf(err, errlen, "%s: tensor %s has %lld values, the model has %zu parameters "
                     "(a different model shape or task set)", path, names[i], (long long)st->numel, n);
            goto out;
        }
        if (st_read_f32(&f, st, host, err, errlen)) goto out;
        t->ops->to_device(dst[i], host, sizeof(float) * n);
    }
    const StTensor *ts = st_find(&f, "adamw.t");
    int steps;
    if (!ts || ts->numel != 1 || st_read_i32(&f, ts, &steps, err, errlen) || steps < 0) {
        snprintf(err, errlen, "%s: tensor adamw.t missing or invalid", path);
        goto out;
    }
    t->opt.t = steps;
    const StTensor *tt = st_find(&f, "adamw.tensor_steps");
    if (!tt || tt->numel != t->model.table.n || st_read_i32(&f, tt, t->opt.tsteps, err, errlen)) {
        snprintf(err, errlen, "%s: tensor adamw.tensor_steps missing or not %d values (one per tensor)", path,
                 t->model.table.n);
        goto out;
    }
    for (int i = 0; i < t->model.table.n; i++)
        if (t->opt.tsteps[i] < 0 || t->opt.tsteps[i] > steps) {
            snprintf(err, errlen, "%s: tensor adamw.tensor_steps[%d] = %d is outside [0, %d]", path, i,
                     t->opt.tsteps[i], steps);
            goto out;
        }
    rc = 0;
out:
    free(host);
    st_close(&f);
    return rc;
}

int checkpoint_parse_state(const char *text, const char *path, const char *const *task_names, int ntasks,
                           int world, int nsources, TrainState *st, char *err, size_t errlen) {
    json_error_t je;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!o) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return -1;
    }
    int rc = -1;
    json_t *step = json_object_get(o, "step"), *tasks = json_object_get(o, "tasks");
    json_t *loaders = json_object_get(o, "loaders"), *w = json_object_get(o, "world");
    if (!json_is_object(o)) {
        snprintf(err, errlen, "%s: expected a JSON object", path);
        goto out;
    }
    if (!json_is_integer(step) || json_integer_value(step) < 0 || json_integer_value(step) > (1LL << 40)) {
        snprintf(err, errlen, "%s: field \"step\" missing or not a non-negative integer", path);
        goto out;
    }
    if (!json_is_array(tasks) || (int)json_array_size(tasks) != ntasks) {
        snprintf(err, errlen, "%s: field \"tasks\" lists %zu tasks, the config has %d (a different task set: "
                 "use --init-from to start a new task set from these weights)", path, json_array_size(tasks), ntasks);
        goto out;
    }
    for (int k = 0; k < ntasks; k++) {
        const char *name = json_string_value(json_array_get(tasks, k));
        if (!name || strcmp(name, task_names[k])) {
            snprintf(err, errlen, "%s: field \"tasks\"[%d] is '%.64s', the config's task %d is '%s'", path, k,
                     name ? name : "?", k, task_names[k]);
            goto out;
        }
    }
    if (!json_is_integer(w) || json_integer_value(w) != world) {
        snprintf(err, errlen, "%s: field \"world\": the checkpoint was written by %lld ranks, this run has %d "
                 "(loader positions are per rank)", path, (long long)json_integer_value(w), world);
        goto out;
    }
    if (!json_is_array(loaders) || (int)json_array_size(loaders) != nsources || nsources > MAX_TASKS) {
        snprintf(err, errlen, "%s: field \"loaders\" does not match the %d data sources of this config", path,
                 nsources);
        goto out;
    }
    for (int s = 0; s < nsources; s++) {
        json_t *l = json_array_get(loaders, s);
        json_t *e = json_object_get(l, "epoch"), *b = json_object_get(l, "batch");
        if (!json_is_integer(e) || !json_is_integer(b) || json_integer_value(e) < 0 || json_integer_value(b) < 0) {
            snprintf(err, errlen, "%s: field \"loaders\"[%d] needs non-negative integer epoch and batch", path, s);
            goto out;
        }
        st->loader[s] = (LoaderState){json_integer_value(e), json_integer_value(b)};
    }
    json_t *bm = json_object_get(o, "best_metric"), *bs = json_object_get(o, "best_step");
    json_t *nf = json_object_get(o, "nonfinite_skipped"), *es = json_object_get(o, "evals_since_best");
    if ((bm && !json_is_null(bm) && !json_is_number(bm)) || (bs && !json_is_integer(bs)) ||
        (nf && (!json_is_integer(nf) || json_integer_value(nf) < 0)) ||
        (es && (!json_is_integer(es) || json_integer_value(es) < 0))) {
        snprintf(err, errlen, "%s: fields \"best_metric\", \"best_step\", \"nonfinite_skipped\", "
                 "\"evals_since_best\" must be numbers", path);
        goto out;
    }
    st->step = (long)json_integer_value(step);
    st->best_metric = json_is_number(bm) ? json_number_value(bm) : NAN;
    st->best_step = bs ? (long)json_integer_value(bs) : -1;
    st->nonfinite_skipped = nf ? (long)json_integer_value(nf) : 0;
    st->evals_since_best = es ? (long)json_integer_value(es) : 0; /* absent: written before early stopping */
    rc = 0;
out:
    json_decref(o);
    return rc;
}

/* Warm-up and decay are fractions of the total steps: resuming to another
 * total changes the learning rate of every step that follows. */
static void warn_schedule_change(const Trainer *t, const char *text, const char *path) {
    json_t *o = json_loads(text, 0, NULL);
    json_t *ts = json_object_get(o, "total_steps");
    if (t->comm->rank == 0 && json_is_integer(ts) && json_integer_value(ts) != t->total_steps &&
        t->cfg->schedule.decay != DECAY_CONSTANT)
        fprintf(stderr, "mtbert: warning: resuming a run of %lld steps as one of %ld (train.steps / train.epochs "
                "changed): the learning-rate schedule (warm-up %ld, %s decay) follows the new total from here "
                "on, and the run equals no straight run of either length (schedule.decay: constant, or the "
                "same total, resumes exactly); %s\n",
                (long long)json_integer_value(ts), t->total_steps, t->warmup_steps,
                t->cfg->schedule.decay == DECAY_COSINE ? "cosine" : "linear", path);
    json_decref(o);
}

static int load_state(Trainer *t, const char *path, char *err, size_t errlen) {
    char *text = fs_read_file(path, NULL, err, errlen);
    if (!text) return -1;
    const char *names[MAX_TASKS];
    for (int k = 0; k < t->cfg->model.ntasks; k++) names[k] = t->cfg->model.tasks[k].name;
    TrainState st = t->st;
    int rc = checkpoint_parse_state(text, path, names, t->cfg->model.ntasks, t->comm->world, t->nsources, &st,
                                    err, errlen);
    if (!rc) warn_schedule_change(t, text, path);
    free(text);
    if (rc) return -1;
    for (int s = 0; s < t->nsources; s++)
        if (loader_set_state(t->src[s].loader, st.loader[s], err, errlen)) return -1;
    t->st = st;
    return 0;
}

static const char *pool_name(int p) {
    static const char *const n[] = {"mean", "cls", "max", "pooler"};
    return p >= 0 && p < 4 ? n[p] : "?";
}

/* The checkpoint's model choices against the config's (eval, resume): a
 * model trained one way and run another gives other numbers, so a change
 * is refused naming the key. Pooling, projection and normalisation count
 * when the folder records them (mtbert_tasks.json or the
 * sentence-transformers modules); the shape always. */
static int check_model_choices(const ModelDir *md, const ModelConfig *cfg, const char *dir, char *err, size_t errlen) {
    const BertConfig *a = &md->mc.bert, *b = &cfg->bert;
    struct { const char *key; int ckpt, conf; } ints[] = {
        {"model.hidden_size", a->hidden_size, b->hidden_size},
        {"model.num_layers", a->num_hidden_layers, b->num_hidden_layers},
        {"model.num_heads", a->num_attention_heads, b->num_attention_heads},
        {"model.intermediate_size", a->intermediate_size, b->intermediate_size},
        {"model.vocab_size", a->vocab_size, b->vocab_size},
        {"model.max_position_embeddings", a->max_position_embeddings, b->max_position_embeddings},
        {"model.type_vocab_size", a->type_vocab_size, b->type_vocab_size},
        {"model.hidden_act", a->hidden_act, b->hidden_act},
        {"model.embedding_dim", md->mc.embedding_dim, cfg->embedding_dim},
        {"model.normalize", md->mc.normalize, cfg->normalize},
    };
    if (family_check_same(a->family, b->family, dir, "the checkpoint", 0, err, errlen)) return -1;
    int recorded = md->is_sentence_transformer || md->heads[0];
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if (!recorded && i >= 8) break;
        if (ints[i].ckpt == ints[i].conf) continue;
        if (i == 7)
            snprintf(err, errlen, "%s: model.hidden_act: the checkpoint was trained with %s, the config says %s", dir,
                     ints[i].ckpt ? "gelu_new" : "gelu", ints[i].conf ? "gelu_new" : "gelu");
        else if (i == 9)
            snprintf(err, errlen, "%s: model.normalize: the checkpoint was trained with %s, the config says %s", dir,
                     ints[i].ckpt ? "true" : "false", ints[i].conf ? "true" : "false");
        else
            snprintf(err, errlen, "%s: %s: the checkpoint was trained with %d, the config says %d", dir, ints[i].key,
                     ints[i].ckpt, ints[i].conf);
        return -1;
    }
    if (recorded && md->mc.pooling != cfg->pooling) {
        snprintf(err, errlen, "%s: model.pooling: the checkpoint was trained with %s, the config says %s (set "
                 "model.pooling: %s to use this checkpoint)", dir, pool_name(md->mc.pooling), pool_name(cfg->pooling),
                 pool_name(md->mc.pooling));
        return -1;
    }
    for (int k = 0; k < cfg->ntasks; k++)
        for (int j = 0; j < md->mc.ntasks; j++) {
            const TaskConfig *c = &cfg->tasks[k], *m = &md->mc.tasks[j];
            if (strcmp(c->name, m->name)) continue;
            if (c->type != m->type) {
                snprintf(err, errlen, "%s: tasks.%s.type: the checkpoint's head is a %s task, the config's a %s task",
                         dir, c->name, task_kind(m->type)->name, task_kind(c->type)->name);
                return -1;
            }
            if (c->num_labels != m->num_labels) {
                snprintf(err, errlen, "%s: tasks.%s.num_labels: the checkpoint's head has %d labels, the config "
                         "(and its shards) %d", dir, c->name, m->num_labels, c->num_labels);
                return -1;
            }
        }
    return 0;
}

int checkpoint_load(Trainer *t, const char *dir, int with_optimizer, char *err, size_t errlen) {
    char p[1400];
    /* the trainer state first: its task list names a different task set
     * plainly, where the weights and moments would only differ in size */
    if (with_optimizer) {
        snprintf(p, sizeof p, "%s/trainer_state.json", dir);
        if (load_state(t, p, err, errlen)) return -1;
    }
    ModelDir md;
    if (model_dir_read(&md, dir, err, errlen)) return -1;
    /* every configured task needs its trained head: the heads file is read
     * with missing tensors allowed (they keep their random initialisation) */
    for (int k = 0; k < t->cfg->model.ntasks; k++) {
        const char *name = t->cfg->model.tasks[k].name;
        int found = 0;
        for (int j = 0; j < md.mc.ntasks; j++) found |= !strcmp(md.mc.tasks[j].name, name);
        if (!found) {
            snprintf(err, errlen, "%s: has no head for task '%s' (its tasks:", dir, name);
            for (int j = 0; j < md.mc.ntasks; j++) {
                size_t u = strlen(err);
                snprintf(err + u, errlen - u, " %s", md.mc.tasks[j].name);
            }
            size_t u = strlen(err);
            snprintf(err + u, errlen - u, "%s)", md.mc.ntasks ? "" : " none");
            model_dir_free(&md);
            return -1;
        }
    }
    if (check_model_choices(&md, &t->cfg->model, dir, err, errlen)) {
        model_dir_free(&md);
        return -1;
    }
    md.mc = t->cfg->model;
    char report[8192];
    int lrc = model_dir_load(&t->model, &md, report, sizeof report, err, errlen);
    model_dir_free(&md);
    if (lrc) return -1;
    if (!with_optimizer) return 0;
    snprintf(p, sizeof p, "%s/optimizer.safetensors", dir);
    return load_optimizer(t, p, err, errlen);
}

/* A folder a save completed: every file checkpoint_save writes, and a
 * trainer_state.json of that step. (A save writes under a temporary name
 * and renames, so a final name is complete unless something else wrote it.) */
static int checkpoint_complete(const char *dir, long step) {
    if (strlen(dir) > 1400) return 0;
    static const char *files[] = {"config.json", "model.safetensors", "optimizer.safetensors", "config.yaml",
                                  "trainer_state.json"};
    char p[1500];
    struct stat st;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (stat(p, &st) || !S_ISREG(st.st_mode) || st.st_size == 0) return 0;
    }
    char e[256];
    char *text = fs_read_file(p, NULL, e, sizeof e);
    if (!text) return 0;
    json_t *o = json_loads(text, 0, NULL);
    free(text);
    json_t *s = json_object_get(o, "step");
    int ok = json_is_integer(s) && json_integer_value(s) == step;
    json_decref(o);
    return ok;
}

int checkpoint_find_newest(const char *run_dir, char *name, size_t namelen, long *step) {
    long steps[4096];
    int n = list_steps(run_dir, steps, 4096);
    for (int i = n - 1; i >= 0; i--) {
        char dir[1500];
        snprintf(dir, sizeof dir, "%s/step-%07ld", run_dir, steps[i]);
        if (checkpoint_complete(dir, steps[i])) {
            snprintf(name, namelen, "step-%07ld", steps[i]);
            *step = steps[i];
            return 0;
        }
    }
    return 1;
}

/* The folder `latest` names, or "" (missing, unreadable, not a folder name). */
static void read_latest(const char *run_dir, char *line, size_t n) {
    char p[1400];
    snprintf(p, sizeof p, "%s/latest", run_dir);
    line[0] = 0;
    FILE *f = fopen(p, "r");
    if (!f) return;
    if (!fgets(line, (int)n, f)) line[0] = 0;
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    if (strchr(line, '/')) line[0] = 0;
}

int checkpoint_maybe_resume(Trainer *t, char *err, size_t errlen) {
    const char *r = t->cfg->checkpoint.resume;
    if (!r || !strcmp(r, "none")) return 0;
    char dir[1400];
    if (!strcmp(r, "auto")) {
        /* the newest complete step folder, whatever `latest` says: a crash
         * between a save's rename and its `latest` leaves `latest` one
         * checkpoint behind (or absent after the first save) */
        const char *run = t->cfg->train.run_dir;
        char name[256], latest[256];
        long step;
        read_latest(run, latest, sizeof latest);
        if (checkpoint_find_newest(run, name, sizeof name, &step)) {
            if (latest[0] && t->comm->rank == 0)
                fprintf(stderr, "mtbert: warning: %s/latest names %s, but %s has no complete checkpoint; "
                        "starting fresh\n", run, latest, run);
            return 0; /* nothing to resume: a fresh start */
        }
        if (strcmp(latest, name) && t->comm->rank == 0) {
            fprintf(stderr, "mtbert: %s/latest %s%s%s; resuming from the newest complete checkpoint, %s\n", run,
                    latest[0] ? "names " : "is missing", latest, latest[0] ? " (stale or incomplete)" : "", name);
            /* point it at what we resume from (the next save moves it on) */
            char p[1400], line[300], e[512];
            snprintf(p, sizeof p, "%s/latest", run);
            snprintf(line, sizeof line, "%s\n", name);
            if (fs_write_atomic(p, line, strlen(line), e, sizeof e))
                fprintf(stderr, "mtbert: warning: %s\n", e);
        }
        snprintf(dir, sizeof dir, "%s/%s", run, name);
    } else {
        snprintf(dir, sizeof dir, "%s", r);
    }
    if (checkpoint_load(t, dir, 1, err, errlen)) return -1;
    if (t->comm->rank == 0) fprintf(stderr, "mtbert: resumed from %s at step %ld\n", dir, t->st.step);
    if (t->comm->rank == 0 && strcmp(r, "auto")) {
        /* an explicit, older checkpoint: later folders of the run directory
         * belong to the timeline left behind */
        char name[256];
        long newest;
        if (!checkpoint_find_newest(t->cfg->train.run_dir, name, sizeof name, &newest) && newest > t->st.step)
            fprintf(stderr, "mtbert: warning: %s holds checkpoints past step %ld (the newest: %s) from before this "
                    "resume; each is replaced when this run saves its step, and checkpoint.resume: auto takes the "
                    "newest complete folder, which may be one of them: remove those you do not want\n",
                    t->cfg->train.run_dir, t->st.step, name);
    }
    return 0;
}
