/* sampler.h — which task a step (or a row of a mixed batch) trains on.
 *
 * Every decision is a pure function of (seed, step[, row]) through Philox,
 * so all ranks agree without communicating and a resumed run draws exactly
 * what an uninterrupted one would. */
#ifndef MTBERT_SAMPLER_H
#define MTBERT_SAMPLER_H

#include <stdint.h>

#include "trainer/model/bert_config.h"

typedef enum {
    SAMPLE_PROPORTIONAL = 0, /* p_t ~ n_t x oversample_t */
    SAMPLE_TEMPERATURE,      /* p_t ~ (n_t x oversample_t)^(1/T) */
    SAMPLE_ANNEALED,         /* proportional at step 0 -> uniform at anneal_steps, linearly */
    SAMPLE_UNIFORM,          /* p_t = 1/K */
    SAMPLE_ROUND_ROBIN,      /* task = step mod K */
    SAMPLE_ALTERNATING       /* task = (step / every) mod K */
} SampleStrategy;

typedef struct {
    SampleStrategy strategy;
    int ntasks;
    double size[MAX_TASKS];        /* examples per task */
    double oversample[MAX_TASKS];  /* multiplies the size; 1 = none */
    double temperature;            /* > 0 */
    long anneal_steps;             /* > 0 */
    long alternate_every;          /* K >= 1 */
    uint64_t seed;
} Sampler;

/* Probability of each task at `step` (for the stochastic strategies; the
 * deterministic ones give the long-run share). */
void sampler_probs(const Sampler *s, long step, double *p);
/* Task of a single-task batch at `step`. */
int sampler_task(const Sampler *s, long step);
/* Task of row `row` of a mixed batch at `step`. */
int sampler_task_row(const Sampler *s, long step, int row);

#endif
