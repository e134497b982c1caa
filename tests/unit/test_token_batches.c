/* test_token_batches.c — the token-budget batching of encode and predict:
 *   token_plan: every sentence once, longest first with ties in input
 *     order, each batch within the row cap and the budget (a sentence longer
 *     than the budget alone), padded length = the batch's first row, the
 *     cuts the cheapest (padded tokens + TOKEN_BATCH_OVERHEAD a batch, against
 *     every cut tried);
 *   model_create_tokens: allocates what model_alloc_bytes_tokens says, less
 *     than the full maxB x maxT model, refuses a batch over its tokens, and
 *     gives the same embeddings, bit for bit, as the full-size model for
 *     the same batch (only the buffers' sizes differ);
 *   rows batched under a budget equal the same rows run one at a time
 *     (tolerance 1e-6; the count of bit-identical rows is printed). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "trainer/model/token_batches.h"
#include "trainer/model/model.h"

/* Every cut of order[s..n) into batches within the limits, tried
 * (exponential: small n only): the least padded tokens + overhead. */
static double least_cost(const int *lens, const int *order, size_t s, size_t n, int rows, long budget) {
    if (s == n) return 0;
    int T = lens[order[s]];
    double best = -1;
    for (size_t r = 1; s + r <= n && (int)r <= rows; r++) {
        if (r > 1 && budget > 0 && (long)r * T > budget) break;
        double c = TOKEN_BATCH_OVERHEAD + (double)r * T + least_cost(lens, order, s + r, n, rows, budget);
        if (best < 0 || c < best) best = c;
    }
    return best;
}

static void check_plan(const int *lens, size_t n, int rows, long budget) {
    TokenPlan p;
    CHECK(token_plan(&p, lens, n, rows, budget) == 0);
    int *seen = calloc(n ? n : 1, sizeof(int));
    size_t pos = 0, padded = 0;
    for (size_t b = 0; b < p.nbatches; b++) {
        const TokenBatch *tb = &p.batches[b];
        CHECKF(tb->start == pos, "batch %zu starts at %zu, not %zu", b, tb->start, pos);
        CHECKF(tb->rows >= 1 && tb->rows <= rows, "batch %zu: %d rows, cap %d", b, tb->rows, rows);
        CHECKF(budget <= 0 || tb->rows == 1 || (long)tb->rows * tb->T <= budget, "batch %zu: %d x %d over %ld", b,
               tb->rows, tb->T, budget);
        CHECK(tb->T == lens[p.order[tb->start]]);
        padded += (size_t)tb->rows * tb->T;
        pos += (size_t)tb->rows;
    }
    CHECK(pos == n);
    CHECK(padded == p.padded_tokens);
    /* the cuts are the cheapest: padded tokens + TOKEN_BATCH_OVERHEAD a batch */
    double best = budget > 0 ? least_cost(lens, p.order, 0, n, rows, budget) : 0;
    if (budget <= 0) /* no budget: full batches of `rows` */
        for (size_t b = 0; b < p.nbatches; b++) {
            int want = n - p.batches[b].start < (size_t)rows ? (int)(n - p.batches[b].start) : rows;
            CHECK(p.batches[b].rows == want);
            best += TOKEN_BATCH_OVERHEAD + (double)p.batches[b].rows * p.batches[b].T;
        }
    double got = (double)padded + (double)TOKEN_BATCH_OVERHEAD * p.nbatches;
    CHECKF(got == best, "cap %d budget %ld: plan costs %g, the cheapest %g", rows, budget, got, best);
    for (size_t i = 0; i < n; i++) {
        int k = p.order[i];
        CHECK(k >= 0 && (size_t)k < n && !seen[k]);
        seen[k] = 1;
        if (i) {
            int j = p.order[i - 1];
            CHECKF(lens[j] > lens[k] || (lens[j] == lens[k] && j < k), "order %zu: %d (len %d) after %d (len %d)",
                   i, k, lens[k], j, lens[j]);
        }
    }
    free(seen);
    token_plan_free(&p);
}

static const Ops *real;
static size_t counted;
static void *count_alloc(size_t bytes) {
    counted += bytes;
    return real->alloc(bytes);
}

static ModelConfig tiny(void) {
    ModelConfig mc = test_tiny_model(POOL_MEAN, 0, 1);
    mc.bert.hidden_dropout_prob = mc.bert.attention_probs_dropout_prob = 0;
    test_task(&mc, "topic", TASK_SENTENCE_CLS, 3, 1, 0);
    test_task(&mc, "ner", TASK_TOKEN_CLS, 5, 1, 0);
    return mc;
}

static void random_batch(int B, int T, const int *lens, int *ids, int *mask, uint64_t *rs) {
    for (int r = 0; r < B; r++)
        for (int j = 0; j < T; j++) {
            ids[r * T + j] = j < lens[r] ? 1 + (int)(test_rand_u64(rs) % 39) : 0;
            mask[r * T + j] = j < lens[r];
        }
}

int main(void) {
    /* plans */
    int lens[] = {5, 1, 16, 3, 3, 16, 7, 2, 9, 1, 3, 12, 4, 16, 1};
    size_t n = sizeof lens / sizeof lens[0];
    long budgets[] = {0, 1, 8, 16, 17, 31, 48, 64, 1000};
    int caps[] = {1, 2, 4, 100};
    for (size_t b = 0; b < sizeof budgets / sizeof budgets[0]; b++)
        for (size_t c = 0; c < sizeof caps / sizeof caps[0]; c++) check_plan(lens, n, caps[c], budgets[b]);
    check_plan(lens, 0, 4, 16);
    {
        TokenPlan p;
        CHECK(token_plan(&p, lens, n, 100, 48) == 0);
        /* 16 16 16 | 12 9 7 5 (12 x 4 = 48) | 4 3 3 3 2 1 1 1 */
        CHECKF(p.nbatches == 3 && p.batches[0].rows == 3 && p.batches[1].rows == 4 && p.batches[2].rows == 8,
               "%zu batches: %d %d %d", p.nbatches, p.batches[0].rows, p.batches[1].rows, p.batches[2].rows);
        CHECK(p.order[0] == 2 && p.order[1] == 5 && p.order[2] == 13 && p.order[n - 1] == 14);
        CHECK(p.real_tokens == 99);
        token_plan_free(&p);
        /* many short rows behind one long one: the long one alone (greedy
         * filling would pad 100 rows of 2 to 300) */
        int skew[101];
        skew[0] = 300;
        for (int i = 1; i < 101; i++) skew[i] = 2;
        CHECK(token_plan(&p, skew, 101, 256, 100000) == 0);
        CHECKF(p.nbatches == 2 && p.batches[0].rows == 1 && p.padded_tokens == 500, "%zu batches, %zu padded",
               p.nbatches, p.padded_tokens);
        CHECK(p.real_tokens == 500);
        token_plan_free(&p);
    }

    /* allocation under a budget */
    real = ops_cpu();
    ModelConfig mc = tiny();
    int maxB = 8, maxT = 16;
    size_t budget = 40;
    Ops o = *real;
    o.alloc = count_alloc;
    Model full, small;
    char err[512];
    counted = 0;
    CHECKF(model_create_tokens(&small, &mc, &o, maxB, maxT, budget, 0, 7, err, sizeof err) == 0, "%s", err);
    size_t D = (size_t)mc.bert.hidden_size, host = 4 * (budget > maxB * D ? budget : maxB * D);
    size_t est = model_alloc_bytes_tokens(&mc, real, maxB, maxT, budget, 0);
    CHECKF(est == counted + host, "model_alloc_bytes_tokens %zu, allocated %zu + %zu", est, counted, host);
    CHECK(est < model_alloc_bytes(&mc, real, maxB, maxT, 0));
    CHECK(model_alloc_bytes_tokens(&mc, real, maxB, maxT, 0, 0) == model_alloc_bytes(&mc, real, maxB, maxT, 0));
    CHECK(model_alloc_bytes_tokens(&mc, real, maxB, maxT, 1000, 1) == model_alloc_bytes(&mc, real, maxB, maxT, 1));
    CHECK(small.maxN == budget);
    CHECKF(model_create(&full, &mc, real, maxB, maxT, 0, 7, err, sizeof err) == 0, "%s", err);
    CHECK(full.maxN == (size_t)maxB * maxT);
    small.training = full.training = 0;

    /* shapes within the budget: bit-identical to the full-size model */
    uint64_t rs = 99;
    int ids[8 * 16], mask[8 * 16];
    float ea[8 * 64], eb[8 * 64], *la = malloc(sizeof(float) * 8 * 16 * 5), *lb = malloc(sizeof(float) * 8 * 16 * 5);
    int shapes[][2] = {{1, 16}, {2, 16}, {5, 8}, {8, 5}, {3, 13}, {1, 1}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int B = shapes[s][0], T = shapes[s][1], l[8];
        for (int r = 0; r < B; r++) l[r] = r == 0 ? T : 1 + (int)(test_rand_u64(&rs) % T);
        random_batch(B, T, l, ids, mask, &rs);
        Batch bt = {.B = B, .T = T, .input_ids = ids, .mask = mask};
        model_forward(&full, &bt);
        model_forward(&small, &bt);
        model_get_embeddings(&full, ea);
        model_get_embeddings(&small, eb);
        CHECKF(!memcmp(ea, eb, sizeof(float) * B * D), "%d x %d: the budget model's embeddings differ", B, T);
        model_get_logits(&full, 1, la);
        model_get_logits(&small, 1, lb);
        CHECKF(!memcmp(la, lb, sizeof(float) * B * T * 5), "%d x %d: token logits differ", B, T);
    }
    /* over the budget: refused (NaN), not run past the buffers */
    {
        int l[8] = {6, 6, 6, 6, 6, 6, 6, 6};
        random_batch(7, 6, l, ids, mask, &rs); /* 42 > 40 */
        Batch bt = {.B = 7, .T = 6, .input_ids = ids, .mask = mask};
        CHECK(isnan(model_forward(&small, &bt)));
    }

    /* rows of different lengths batched by token_plan vs one at a time */
    int rl[] = {16, 2, 9, 1, 14, 5, 5, 3, 16, 7, 1, 11};
    int nr = (int)(sizeof rl / sizeof rl[0]);
    int *rid = malloc(sizeof(int) * nr * 16);
    for (int i = 0; i < nr * 16; i++) rid[i] = 1 + (int)(test_rand_u64(&rs) % 39);
    float *one = malloc(sizeof(float) * nr * D), *bat = malloc(sizeof(float) * nr * D);
    for (int i = 0; i < nr; i++) {
        for (int j = 0; j < rl[i]; j++) mask[j] = 1;
        Batch bt = {.B = 1, .T = rl[i], .input_ids = rid + i * 16, .mask = mask};
        model_forward(&small, &bt);
        model_get_embeddings(&small, one + (size_t)i * D);
    }
    TokenPlan p;
    CHECK(token_plan(&p, rl, (size_t)nr, maxB, (long)budget) == 0);
    CHECK(p.nbatches > 1 && p.max_tokens <= budget);
    for (size_t b = 0; b < p.nbatches; b++) {
        const TokenBatch *tb = &p.batches[b];
        for (int r = 0; r < tb->rows; r++) {
            int k = p.order[tb->start + r];
            for (int j = 0; j < tb->T; j++) {
                ids[r * tb->T + j] = j < rl[k] ? rid[k * 16 + j] : 0;
                mask[r * tb->T + j] = j < rl[k];
            }
        }
        Batch bt = {.B = tb->rows, .T = tb->T, .input_ids = ids, .mask = mask};
        model_forward(&small, &bt);
        model_get_embeddings(&small, ea);
        for (int r = 0; r < tb->rows; r++)
            memcpy(bat + (size_t)p.order[tb->start + r] * D, ea + (size_t)r * D, sizeof(float) * D);
    }
    int same = 0;
    for (int i = 0; i < nr; i++) same += !memcmp(one + (size_t)i * D, bat + (size_t)i * D, sizeof(float) * D);
    double e = test_max_abs_err(bat, one, (size_t)nr * D);
    CHECKF(e <= 1e-6, "batched vs one at a time: max |diff| %g", e);
    printf("batched vs one at a time: max |diff| %g, %d of %d rows bit-identical\n", e, same, nr);
    token_plan_free(&p);
    free(one); free(bat); free(rid); free(la); free(lb);
    model_free(&full);
    model_free(&small);
    return test_finish("test_token_batches");
}
