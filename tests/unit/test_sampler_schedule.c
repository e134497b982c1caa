/* test_sampler_schedule.c — task sampling proportions and LR schedules. */
#include <math.h>
#include <string.h>

#include "testutil.h"
#include "trainer/train/sampler.h"
#include "trainer/train/schedule.h"

static void shares(const Sampler *s, long from, long steps, double *got) {
    memset(got, 0, sizeof(double) * MAX_TASKS);
    for (long k = from; k < from + steps; k++) got[sampler_task(s, k)] += 1.0 / steps;
}

int main(void) {
    Sampler s = {.strategy = SAMPLE_PROPORTIONAL, .ntasks = 3, .size = {1000, 3000, 6000},
                 .oversample = {1, 1, 1}, .temperature = 2, .anneal_steps = 1000,
                 .alternate_every = 5, .seed = 7};
    double got[MAX_TASKS], p[MAX_TASKS];
    const long N = 40000;
    /* proportional: 0.1 / 0.3 / 0.6 */
    shares(&s, 0, N, got);
    CHECKF(fabs(got[0] - 0.1) < 0.01 && fabs(got[1] - 0.3) < 0.01 && fabs(got[2] - 0.6) < 0.01,
           "proportional shares %.3f %.3f %.3f", got[0], got[1], got[2]);
    /* oversampling task 0 by 4: 4000/3000/6000 of 13000 */
    s.oversample[0] = 4;
    shares(&s, 0, N, got);
    CHECKF(fabs(got[0] - 4.0 / 13) < 0.01, "oversample share %.3f", got[0]);
    s.oversample[0] = 1;
    /* temperature 2: sqrt sizes */
    s.strategy = SAMPLE_TEMPERATURE;
    double z = sqrt(1000.0) + sqrt(3000.0) + sqrt(6000.0);
    shares(&s, 0, N, got);
    CHECKF(fabs(got[0] - sqrt(1000.0) / z) < 0.01 && fabs(got[2] - sqrt(6000.0) / z) < 0.01,
           "temperature shares %.3f %.3f", got[0], got[2]);
    /* uniform */
    s.strategy = SAMPLE_UNIFORM;
    shares(&s, 0, N, got);
    for (int t = 0; t < 3; t++) CHECKF(fabs(got[t] - 1.0 / 3) < 0.01, "uniform share %d %.3f", t, got[t]);
    /* annealed: proportional at 0, uniform from anneal_steps on */
    s.strategy = SAMPLE_ANNEALED;
    sampler_probs(&s, 0, p);
    CHECK(fabs(p[0] - 0.1) < 1e-12 && fabs(p[2] - 0.6) < 1e-12);
    sampler_probs(&s, 500, p);
    CHECK(fabs(p[0] - (0.5 * 0.1 + 0.5 / 3)) < 1e-12);
    sampler_probs(&s, 5000, p);
    CHECK(fabs(p[2] - 1.0 / 3) < 1e-12);
    /* round robin and alternating are exact */
    s.strategy = SAMPLE_ROUND_ROBIN;
    for (long k = 0; k < 30; k++) CHECK(sampler_task(&s, k) == k % 3);
    s.strategy = SAMPLE_ALTERNATING;
    for (long k = 0; k < 30; k++) CHECK(sampler_task(&s, k) == (k / 5) % 3);
    /* a pure function of (seed, step): same answers in any order */
    s.strategy = SAMPLE_PROPORTIONAL;
    int fwd[100];
    for (int k = 0; k < 100; k++) fwd[k] = sampler_task(&s, k);
    for (int k = 99; k >= 0; k--) CHECK(sampler_task(&s, k) == fwd[k]);
    /* mixed batches: row shares follow the probabilities too */
    double rows[3] = {0};
    for (long k = 0; k < 1000; k++)
        for (int r = 0; r < 32; r++) rows[sampler_task_row(&s, k, r)] += 1.0 / 32000;
    CHECKF(fabs(rows[0] - 0.1) < 0.01 && fabs(rows[2] - 0.6) < 0.01, "row shares %.3f %.3f", rows[0], rows[2]);

    /* schedules (Hugging Face's formulas) */
    CHECK(schedule_factor(DECAY_LINEAR, 0, 10, 110) == 0.0);
    CHECK(fabs(schedule_factor(DECAY_LINEAR, 5, 10, 110) - 0.5) < 1e-12);
    CHECK(fabs(schedule_factor(DECAY_LINEAR, 10, 10, 110) - 1.0) < 1e-12);
    CHECK(fabs(schedule_factor(DECAY_LINEAR, 60, 10, 110) - 0.5) < 1e-12);
    CHECK(schedule_factor(DECAY_LINEAR, 200, 10, 110) == 0.0);
    CHECK(fabs(schedule_factor(DECAY_COSINE, 60, 10, 110) - 0.5) < 1e-12);
    CHECK(fabs(schedule_factor(DECAY_COSINE, 35, 10, 110) - 0.5 * (1 + cos(M_PI * 0.25))) < 1e-12);
    CHECK(schedule_factor(DECAY_CONSTANT, 1000, 10, 110) == 1.0);
    CHECK(fabs(schedule_factor(DECAY_CONSTANT, 0, 0, 110) - 1.0) < 1e-12);
    return test_finish("test_sampler_schedule");
}
