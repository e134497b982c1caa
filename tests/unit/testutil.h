/* testutil.h — a tiny test harness: CHECK macros that count failures and
 * print file:line, helpers for random tensors and relative comparisons.
 * A test program returns test_finish() (0 all passed, 1 some failed) or
 * test_skip(why) (exit code 77, which ctest reports as skipped). */
#ifndef MTBERT_TESTUTIL_H
#define MTBERT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "trainer/model/bert_config.h"

extern int test_failures;
extern int test_checks;

#define CHECK(cond) do { test_checks++; if (!(cond)) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECKF(cond, ...) do { test_checks++; if (!(cond)) { test_failures++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)

/* Deterministic test random numbers (splitmix64). */
uint64_t test_rand_u64(uint64_t *state);
float test_rand_uniform(uint64_t *state, float lo, float hi);
float test_rand_normal(uint64_t *state);
void test_fill_uniform(float *x, size_t n, uint64_t *state, float lo, float hi);
/* Host float arrays for op tests (abort when out of memory): zeros, values
 * uniform in [lo, hi), a copy. */
float *test_zeros(size_t n);
float *test_uniform(size_t n, uint64_t *state, float lo, float hi);
float *test_copy(const float *x, size_t n);

/* max over i of |a-b| / max(|b|, floor): the relative error used by the
 * parity tests (floor keeps near-zero references from dominating). */
double test_max_rel_err(const float *a, const float *b, size_t n, double floor);
double test_max_abs_err(const float *a, const float *b, size_t n);

/* The tiny model the gradient checks use: vocab 40, hidden 16, 2 layers,
 * 2 heads, FFN 24, 16 positions, 2 token types, LayerNorm eps 1e-5, a large
 * initializer range (0.3: gradients well above rounding), tanh GELU, dropout
 * 0.1; the given sentence settings and no tasks (add them with test_task). */
ModelConfig test_tiny_model(int pooling, int embedding_dim, int normalize);
/* Appends a task to mc (name, type, labels, loss weight, head dropout). */
void test_task(ModelConfig *mc, const char *name, TaskType type, int num_labels, float loss_weight, float dropout);

/* Path of a file under the source tree (MTBERT_SOURCE or "."). */
const char *test_source_path(const char *rel, char *buf, size_t len);

int test_finish(const char *name);
int test_skip(const char *why);

#endif
