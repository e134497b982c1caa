#include "trainer/train/sampler.h"

#include <math.h>

#include "kernels/philox.h"

void sampler_probs(const Sampler *s, long step, double *p) {
    int K = s->ntasks;
    double sum = 0;
    for (int t = 0; t < K; t++) {
        double n = s->size[t] * (s->oversample[t] > 0 ? s->oversample[t] : 1.0);
        switch (s->strategy) {
        case SAMPLE_TEMPERATURE: p[t] = pow(n, 1.0 / s->temperature); break;
        case SAMPLE_UNIFORM:
        case SAMPLE_ROUND_ROBIN:
        case SAMPLE_ALTERNATING: p[t] = 1.0; break;
        default: p[t] = n; break;
        }
        sum += p[t];
    }
    for (int t = 0; t < K; t++) p[t] = sum > 0 ? p[t] / sum : 1.0 / K;
    if (s->strategy == SAMPLE_ANNEALED) {
        double a = s->anneal_steps > 0 ? (double)step / s->anneal_steps : 1.0;
        if (a > 1) a = 1;
        for (int t = 0; t < K; t++) p[t] = (1 - a) * p[t] + a / K;
    }
}

static int draw(const Sampler *s, long step, uint64_t row) {
    double p[MAX_TASKS];
    sampler_probs(s, step, p);
    double u = philox_uniform(philox_key(s->seed, (uint64_t)step, 0x5a3b1e), row);
    double c = 0;
    for (int t = 0; t < s->ntasks; t++) {
        c += p[t];
        if (u < c) return t;
    }
    return s->ntasks - 1;
}

int sampler_task(const Sampler *s, long step) {
    if (s->ntasks <= 1) return 0;
    if (s->strategy == SAMPLE_ROUND_ROBIN) return (int)(step % s->ntasks);
    if (s->strategy == SAMPLE_ALTERNATING)
        return (int)((step / (s->alternate_every > 0 ? s->alternate_every : 1)) % s->ntasks);
    return draw(s, step, 0);
}

int sampler_task_row(const Sampler *s, long step, int row) {
    if (s->ntasks <= 1) return 0;
    if (s->strategy == SAMPLE_ROUND_ROBIN || s->strategy == SAMPLE_ALTERNATING)
        return (int)(((long)row + sampler_task(s, step)) % s->ntasks);
    return draw(s, step, (uint64_t)row + 1);
}
