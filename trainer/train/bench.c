#include "trainer/train/bench.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trainer/model/model.h"
#include "trainer/model/task_kind.h"
#include "trainer/train/op_timer.h"
#include "trainer/train/optimizer.h"

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

double bench_flops_per_token(const ModelConfig *mc, int seq, int frozen, long long *linear_params) {
    const BertConfig *b = &mc->bert;
    long long C = b->hidden_size, I = b->intermediate_size, L = b->num_hidden_layers;
    long long encoder = L * (4 * C * C + 2 * C * I);
    long long top = 0;
    /* sentence parts run once per sequence, not per token */
    long long per_seq = 0;
    if (mc->pooling == POOL_POOLER) per_seq += C * C;
    int D = mc->embedding_dim > 0 ? mc->embedding_dim : (int)C;
    if (mc->embedding_dim > 0) per_seq += C * D;
    for (int t = 0; t < mc->ntasks; t++) {
        HeadKind h = task_kind(mc->tasks[t].type)->head;
        if (h == HEAD_TOKEN) top += C * mc->tasks[t].num_labels;
        else if (h == HEAD_SENTENCE || h == HEAD_SCORE) per_seq += (long long)D * mc->tasks[t].num_labels;
    }
    if (linear_params) *linear_params = encoder + top + per_seq;
    double attn = 12.0 * L * seq * C; /* QK^T and AV: 2 x 2 x T x C forward, x3 with backward */
    double enc = frozen ? 2.0 * encoder + attn / 3.0 : 6.0 * encoder + attn;
    return enc + 6.0 * top + 6.0 * (double)per_seq / seq;
}

int bench_run(const ModelConfig *mc, const Ops *ops, const BenchOptions *o, BenchResult *r, FILE *log) {
    Model m;
    char err[512];
    memset(r, 0, sizeof *r);
    if (ops->set_threads && o->threads > 0) ops->set_threads(o->threads);
    if (model_create(&m, mc, ops, o->batch, o->seq, 1, o->seed, err, sizeof err)) {
        fprintf(stderr, "mtbert bench: %s\n", err);
        return -1;
    }
    if (o->frozen_backbone) {
        m.train.embeddings = 0;
        for (int l = 0; l < mc->bert.num_hidden_layers; l++) m.train.layer[l] = 0;
        m.train.pooler = 0;
    }
    OptimConfig oc;
    optim_defaults(&oc);
    Optimizer opt;
    if (optimizer_create(&opt, &m, &oc)) {
        fprintf(stderr, "mtbert bench: out of memory for the optimizer state\n");
        model_free(&m);
        return -1;
    }
    int B = o->batch, T = o->seq, V = mc->bert.vocab_size;
    int *ids = malloc(sizeof(int) * B * T), *mask = malloc(sizeof(int) * B * T);
    int *labels[MAX_TASKS] = {0};
    Batch b = {.B = B, .T = T, .input_ids = ids, .mask = mask};
    uint64_t key = philox_key(o->seed, 0xbe7c4, 0);
    for (int i = 0; i < B * T; i++) {
        ids[i] = 1 + (int)(philox_uniform(key, i) * (V - 1));
        mask[i] = 1;
    }
    for (int t = 0; t < mc->ntasks; t++) {
        const TaskConfig *tc = &mc->tasks[t];
        HeadKind h = task_kind(tc->type)->head;
        if (h == HEAD_COSINE) continue;
        int rows = h == HEAD_TOKEN ? B * T : B;
        labels[t] = malloc(sizeof(int) * rows);
        for (int i = 0; i < rows; i++)
            labels[t][i] = (int)(philox_uniform(key, (uint64_t)(t + 1) << 32 | (uint64_t)i) * tc->num_labels);
        b.labels[t] = labels[t];
        if (h == HEAD_SCORE) { /* targets in [0, 1] for the BCE head, in the labels' memory */
            float *sc = (float *)labels[t];
            for (int i = 0; i < rows; i++) sc[i] = philox_uniform(key, (uint64_t)(t + 1) << 32 | (uint64_t)i);
            b.row_scores[t] = sc;
            b.labels[t] = NULL;
        }
    }
    double tf = 0, tb = 0, to = 0;
    int total = o->warmup + o->steps;
    for (int s = 0; s < total; s++) {
        if (s == o->warmup) tf = tb = to = 0;
        m.dropout_key = philox_key(o->seed, (uint64_t)s, 0);
        double t0 = now_ms();
        float loss = model_forward(&m, &b);
        ops->synchronize();
        double t1 = now_ms();
        model_zero_grad(&m);
        model_backward(&m, &b, 1.0f);
        ops->synchronize();
        double t2 = now_ms();
        optimizer_step(&opt, &m, oc.lr, NULL);
        ops->synchronize();
        double t3 = now_ms();
        tf += t1 - t0; tb += t2 - t1; to += t3 - t2;
        if (log)
            fprintf(log, "%s step %d/%d: loss %.4f, %.1f ms (forward %.1f, backward %.1f, optimizer %.1f)\n",
                    s < o->warmup ? "warm-up" : "timed", s < o->warmup ? s + 1 : s - o->warmup + 1,
                    s < o->warmup ? o->warmup : o->steps, loss, t3 - t0, t1 - t0, t2 - t1, t3 - t2);
    }
    int n = o->steps > 0 ? o->steps : 1;
    /* per-op breakdown: a few more steps on a timing copy of the op table
     * (it synchronises after every op, so the timed steps above run without
     * it); one JSON line on stdout before the caller's summary line */
    int np = o->steps < 3 ? o->steps : 3;
    if (np > 0) {
        const Ops *real_ops = m.ops;
        m.ops = op_timer_wrap(real_ops);
        double pf = 0, pb = 0, po = 0;
        for (int s = 0; s < np; s++) {
            m.dropout_key = philox_key(o->seed, (uint64_t)(total + s), 0);
            double t0 = now_ms();
            model_forward(&m, &b);
            double t1 = now_ms();
            model_zero_grad(&m);
            model_backward(&m, &b, 1.0f);
            double t2 = now_ms();
            optimizer_step(&opt, &m, oc.lr, NULL);
            double t3 = now_ms();
            pf += t1 - t0; pb += t2 - t1; po += t3 - t2;
        }
        m.ops = real_ops;
        printf("{\"impl\": \"mtbert-ops\", \"steps\": %d, \"step_ms\": %.3f, \"forward_ms\": %.3f, "
               "\"backward_ms\": %.3f, \"optimizer_ms\": %.3f, ",
               np, (pf + pb + po) / np, pf / np, pb / np, po / np);
        double in_ops = op_timer_json(stdout, np);
        printf(", \"outside_ops_ms\": %.3f}\n", (pf + pb + po) / np - in_ops);
        fflush(stdout);
    }
    r->forward_ms = tf / n;
    r->backward_ms = tb / n;
    r->optimizer_ms = to / n;
    r->step_ms = (tf + tb + to) / n;
    r->tokens_per_s = (double)B * T / (r->step_ms / 1e3);
    r->flops_per_token = bench_flops_per_token(mc, T, o->frozen_backbone, &r->linear_params);
    r->gflops_per_s = r->flops_per_token * r->tokens_per_s / 1e9;
    for (int t = 0; t < mc->ntasks; t++) free(labels[t]);
    free(ids);
    free(mask);
    optimizer_free(&opt, &m);
    model_free(&m);
    return 0;
}
