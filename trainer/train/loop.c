/* loop.c — the step loop: sample, forward, backward, all-reduce, clip,
 * AdamW; progress lines and metrics.jsonl; periodic evaluation and
 * checkpoints; stop on a signal with a checkpoint. */
#include "trainer/train/train_internal.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "trainer/model/task_kind.h"
#include "trainer/train/checkpoint.h"
#include "trainer/train/sampler.h"
#include "trainer/train/schedule.h"
#include "trainer/train/stop_signal.h"
#include "util/fsutil.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}


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

/* MTBERT_BATCH_LOG=FILE (tests/reference/recipe_parity.py): one line per
 * loader batch, "STEP ACC SOURCE B T EX0 EX1 ...": the 1-based step, the
 * accumulation index, the training source (task data set, as configured),
 * the batch shape and each row's global example index in the source's
 * shard set (shards in glob order). Rank R > 0 writes FILE.R. Single-task
 * (non-mixed) batches only. */
/* Early stopping (eval.patience): said on stderr and in the logs. */
static void log_early_stop(Trainer *t) {
    const Config *cfg = t->cfg;
    if (t->comm->rank != 0) return;
    fprintf(stderr, "mtbert: early stopping at step %ld: eval.best_metric (%s) has not improved by more than %g "
            "in %ld evaluations; best %.6g at step %ld (%s/best)\n", t->st.step,
            cfg->eval.best_metric ? cfg->eval.best_metric : "mean", cfg->eval.min_delta, t->st.evals_since_best,
            t->st.best_metric, t->st.best_step, cfg->train.run_dir);
    LogRecord r;
    logrec_begin(&r, "early_stop", t->st.step);
    logrec_add(&r, "best_step", (double)t->st.best_step, LOG_INT);
    logrec_add(&r, "best_metric", t->st.best_metric, LOG_G);
    logrec_add(&r, "evals_since_best", (double)t->st.evals_since_best, LOG_INT);
    logbook_write(t->jsonl, &t->tb, &r);
}

static void batch_log(long step, int acc, int source, const LoaderBatch *lb, int rank) {
    static FILE *f;
    static int state; /* 0: not looked at, 1: logging, -1: off */
    if (state == 0) {
        const char *e = getenv("MTBERT_BATCH_LOG");
        state = -1;
        if (e && *e) {
            char path[4096];
            if (rank > 0) snprintf(path, sizeof path, "%s.%d", e, rank);
            else snprintf(path, sizeof path, "%s", e);
            f = fopen(path, "w");
            if (f) state = 1;
            else fprintf(stderr, "mtbert: MTBERT_BATCH_LOG: cannot write %s: %s\n", path, strerror(errno));
        }
    }
    if (state != 1) return;
    fprintf(f, "%ld %d %d %d %d", step, acc, source, lb->B, lb->T);
    for (int i = 0; i < lb->B; i++) fprintf(f, " %lld", (long long)lb->example[i]);
    fputc('\n', f);
    fflush(f);
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
    int uniform = 1; /* every task at data.batch_size */
    for (int k = 0; k < nt; k++) uniform &= cfg->task[k].batch_size == cfg->data.batch_size;
    if (rank0 && uniform) {
        fprintf(stderr, "mtbert: %s backend, %d rank%s, global batch %d = %d per rank x %d ranks x %d accumulation; "
                "%ld steps (warm-up %ld)\n", t->ops->name, comm->world, comm->world > 1 ? "s" : "",
                cfg->data.batch_size * comm->world * cfg->train.grad_accum, cfg->data.batch_size, comm->world,
                cfg->train.grad_accum, t->total_steps, t->warmup_steps);
    } else if (rank0) {
        fprintf(stderr, "mtbert: %s backend, %d rank%s, per-task batches per rank:", t->ops->name, comm->world,
                comm->world > 1 ? "s" : "");
        for (int k = 0; k < nt; k++) fprintf(stderr, " %s %d", cfg->model.tasks[k].name, cfg->task[k].batch_size);
        fprintf(stderr, " (a step: %d micro-batch%s per rank, each from the task the sampler draws) x %d ranks; "
                "%ld steps (warm-up %ld)\n", cfg->train.grad_accum, cfg->train.grad_accum > 1 ? "es" : "",
                comm->world, t->total_steps, t->warmup_steps);
    }
    if (rank0) {
        fprintf(stderr, "mtbert: run directory %s\n", cfg->train.run_dir);
    }
    double t_start = now_s(), t_last = t_start;
    double tokens_since = 0;
    long start_step = t->st.step;
    double loss_acc[MAX_TASKS] = {0}, loss_n[MAX_TASKS] = {0};
    /* uncertainty weighting: what is minimised, sum_t w_t exp(-s_t) L_t + s_t */
    int log_objective = cfg->loss_weighting == LOSS_WEIGHTING_UNCERTAINTY;
    double obj_acc = 0, obj_n = 0;
    int rc = 0, stop_sig = 0, early = 0; /* handlers: stop_signal_install() in cmd_train */
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
                batch_mixed(t, &smp, draw, &b, &real_tokens);
            } else {
                int si = sampler_task(&smp, draw);
                Source *src = &t->src[si];
                const LoaderBatch *lb = loader_next_batch(src->loader);
                batch_log(step + 1, a, si, lb, comm->rank);
                batch_convert(src, lb, &cfg->model, &t->buf, &b);
                real_tokens = lb->real_tokens;
            }
            m->dropout_key = philox_key(cfg->train.seed, (uint64_t)draw, (uint64_t)comm->rank + 1);
            /* a contrastive task with mini_batch: forward and backward in chunks (GradCache) */
            int cached = embed_cached_task(t, &b);
            float loss;
            err[0] = 0;
            if (cached >= 0) {
                loss = embed_cached_step(t, &b, cached, 1.0f / cfg->train.grad_accum, err, sizeof err);
            } else {
                loss = model_forward(m, &b);
                /* contrastive tasks: their loss on the (all-gathered) batch's embeddings */
                embed_losses(t, &b, 1, NULL, err, sizeof err);
            }
            if (err[0]) {
                fprintf(stderr, "mtbert: rank %d: %s at step %ld\n", comm->rank, err, step + 1);
                comm_abort(comm, 1);
            }
            for (int k = 0; k < nt; k++)
                if (task_external_loss(cfg->model.tasks[k].type) && m->task_count[k] && !isfinite(m->task_loss[k]))
                    loss = NAN;
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
            if (cached < 0) model_backward(m, &b, 1.0f / cfg->train.grad_accum);
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
        /* the log-variances this step's forward used (the update moves them) */
        float s_used[MAX_TASKS] = {0};
        if (log_objective) {
            const float *lv = model_param(m, "loss_weights.log_var");
            if (lv) t->ops->to_host(s_used, lv, sizeof(float) * (size_t)nt);
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
        if (log_objective) {
            double obj = 0;
            for (int k = 0; k < nt; k++)
                if (step_cnt[k] > 0) obj += m->task_weight[k] * step_loss[k] / step_cnt[k] + s_used[k];
            obj_acc += obj;
            obj_n += 1;
        }

        /* logging: losses averaged over ranks */
        if (cfg->logging.every > 0 && (t->st.step % cfg->logging.every == 0 || t->st.step == t->total_steps)) {
            double red[2 * MAX_TASKS + 3];
            for (int k = 0; k < nt; k++) { red[k] = loss_acc[k]; red[nt + k] = loss_n[k]; }
            red[2 * nt] = tokens_since;
            red[2 * nt + 1] = obj_acc;
            red[2 * nt + 2] = obj_n;
            comm_allreduce_sum_double(comm, red, (size_t)2 * nt + 3);
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
                if (t->jsonl || t->tb.w) {
                    /* metrics.jsonl and TensorBoard; a skipped step's loss is
                     * nan/inf: a string in jsonl (LOG_G), so every line stays JSON */
                    LogRecord r;
                    logrec_begin(&r, "train", t->st.step);
                    logrec_add(&r, "loss", total, LOG_G);
                    if (log_objective && red[2 * nt + 2] > 0)
                        logrec_add(&r, "objective", red[2 * nt + 1] / red[2 * nt + 2], LOG_G);
                    for (int k = 0; k < nt; k++)
                        if (red[nt + k] > 0) {
                            char key[MAX_NAME + 8];
                            snprintf(key, sizeof key, "loss.%s", cfg->model.tasks[k].name);
                            logrec_add(&r, key, red[k] / red[nt + k], LOG_G);
                        }
                    logrec_add(&r, "lr", lr, LOG_G);
                    logrec_add(&r, "grad_norm", norm, LOG_G);
                    logrec_add(&r, "tokens_per_s", tps, LOG_F1);
                    logrec_add(&r, "nonfinite_skipped", (double)t->st.nonfinite_skipped, LOG_INT);
                    logbook_write(t->jsonl, &t->tb, &r);
                }
            }
            memset(loss_acc, 0, sizeof loss_acc);
            memset(loss_n, 0, sizeof loss_n);
            obj_acc = obj_n = 0;
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
            trainer_log_eval(t, &ms, t->st.step);
            t_last += now_s() - e0; /* tokens/s counts training time only */
        }
        if (do_ckpt || do_eval) {
            int ok;
            double v = do_eval ? trainer_selection_metric(t, &ms, &ok) : NAN;
            int is_best = do_eval && ok && (isnan(t->st.best_metric) || v > t->st.best_metric);
            if (do_eval) /* early stopping counts evaluations that beat the best by more than min_delta */
                t->st.evals_since_best = ok && (isnan(t->st.best_metric) || v > t->st.best_metric + cfg->eval.min_delta)
                                             ? 0 : t->st.evals_since_best + 1;
            if (is_best) { t->st.best_metric = v; t->st.best_step = t->st.step; }
            early = do_eval && cfg->eval.patience > 0 && t->st.evals_since_best >= cfg->eval.patience;
            int keep_best = is_best && cfg->checkpoint.keep_best && (cfg->checkpoint.every > 0 || cfg->eval.patience > 0);
            if (do_ckpt || early || keep_best) {
                if (checkpoint_save(t, err, sizeof err)) {
                    fprintf(stderr, "mtbert: %s\n", err);
                    rc = 1;
                    break;
                }
            }
            if (early) {
                log_early_stop(t);
                break;
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
    if (rc == 0 && early) { /* evaluated and saved at this step: no final pass */
        if (rank0) {
            char took[32];
            fmt_duration(now_s() - t_start, took, sizeof took);
            fprintf(stderr, "mtbert: done: %ld steps in %s (stopped early)\n", t->st.step - start_step, took);
        }
        return dump_params(t) ? 1 : 0;
    }
    if (rc == 0) {
        MetricSet ms = {0};
        if (t->has_eval) {
            trainer_evaluate(t, &ms);
            trainer_log_eval(t, &ms, t->st.step);
            int ok;
            double v = trainer_selection_metric(t, &ms, &ok);
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
