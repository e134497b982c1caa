/* test_plan_cache.c — the LRU bookkeeping behind the CUDA GEMM plan cache
 * (kernels/plan_cache.c), on the CPU.
 *
 * Checked: a small cache driven past its capacity evicts in least-recently-
 * used order (a hit refreshes an entry), finds what it holds and nothing
 * else, refuses a duplicate key, copies keys, and releases every value
 * exactly once (by eviction, clear or destroy). Then a long random run over
 * more keys than slots, against a separate naive LRU model written here
 * (a plain array kept in recency order), with a tiny bucket count's worth of
 * keys colliding. */
#include <stdlib.h>
#include <string.h>

#include "kernels/plan_cache.h"
#include "testutil.h"

/* a struct key with padding, as the GEMM plan key is */
typedef struct {
    int a;
    char flag;
    long long b;
} Key;

static Key mk(int a) {
    Key k;
    memset(&k, 0, sizeof k); /* padding compares too */
    k.a = a;
    k.flag = (char)(a & 1);
    k.b = (long long)a * 1000003LL;
    return k;
}

/* values: one record per inserted value, counting its releases */
typedef struct {
    int id;
    int released;
} Val;

static int release_log[64];
static int nrelease;
static int last_release = -1;

static void on_release(void *value, void *ctx) {
    Val *v = (Val *)value;
    int *calls = (int *)ctx;
    (*calls)++;
    v->released++;
    last_release = v->id;
    if (nrelease < (int)(sizeof release_log / sizeof *release_log)) release_log[nrelease++] = v->id;
}

static void test_small(void) {
    int calls = 0;
    nrelease = 0;
    PlanCache *c = plan_cache_create(4, sizeof(Key), on_release, &calls);
    CHECK(c != NULL);
    Val v[10];
    for (int i = 0; i < 10; i++) v[i] = (Val){i, 0};
    Key k;
    for (int i = 1; i <= 4; i++) {
        k = mk(i);
        CHECK(plan_cache_find(c, &k) == NULL); /* a miss first, as the GEMM path does */
        CHECKF(plan_cache_insert(c, &k, &v[i]) == 0, "insert %d into a cache with room", i);
    }
    /* recency now 4 3 2 1; a hit on 1 makes it 1 4 3 2 */
    k = mk(1);
    CHECK(plan_cache_find(c, &k) == &v[1]);
    void *order[8];
    int n = plan_cache_order(c, order, 8);
    CHECK(n == 4 && order[0] == &v[1] && order[1] == &v[4] && order[2] == &v[3] && order[3] == &v[2]);
    /* past capacity: 5 evicts 2 (the least recent), 6 evicts 3 */
    k = mk(5);
    CHECK(plan_cache_insert(c, &k, &v[5]) == 1);
    CHECKF(nrelease == 1 && release_log[0] == 2, "first eviction released %d (want 2)",
           nrelease ? release_log[0] : -1);
    k = mk(6);
    CHECK(plan_cache_insert(c, &k, &v[6]) == 1);
    CHECKF(nrelease == 2 && release_log[1] == 3, "second eviction released %d (want 3)",
           nrelease > 1 ? release_log[1] : -1);
    k = mk(2);
    CHECK(plan_cache_find(c, &k) == NULL);
    k = mk(3);
    CHECK(plan_cache_find(c, &k) == NULL);
    k = mk(4);
    CHECK(plan_cache_find(c, &k) == &v[4]); /* 4 6 5 1 */
    k = mk(7);
    CHECK(plan_cache_insert(c, &k, &v[7]) == 1); /* evicts 1 */
    CHECK(nrelease == 3 && release_log[2] == 1);
    /* a duplicate is refused and changes nothing */
    k = mk(7);
    CHECK(plan_cache_insert(c, &k, &v[8]) == -1);
    CHECK(v[8].released == 0);
    CHECK(plan_cache_find(c, &k) == &v[7]);
    /* the cache copied the key: scribbling on ours does not matter */
    Key scratch = mk(6);
    CHECK(plan_cache_find(c, &scratch) == &v[6]);
    scratch.a = 99;
    k = mk(6);
    CHECK(plan_cache_find(c, &k) == &v[6]);
    /* a key that differs only in one field is another key */
    k = mk(6);
    k.b++;
    CHECK(plan_cache_find(c, &k) == NULL);

    PlanCacheStats st;
    plan_cache_stats(c, &st);
    CHECKF(st.size == 4 && st.capacity == 4 && st.evictions == 3, "size %d evictions %llu", st.size,
           (unsigned long long)st.evictions);
    CHECKF(st.hits == 5 && st.misses == 7, "hits %llu misses %llu (want 5, 7)",
           (unsigned long long)st.hits, (unsigned long long)st.misses);
    plan_cache_destroy(c);
    /* every inserted value released exactly once, the refused one never */
    for (int i = 1; i <= 7; i++) CHECKF(v[i].released == 1, "value %d released %d times", i, v[i].released);
    CHECK(v[8].released == 0 && v[0].released == 0);
    CHECK(calls == 7);

    /* clear releases and empties; the cache is usable afterwards */
    calls = 0;
    c = plan_cache_create(2, sizeof(Key), on_release, &calls);
    Val w[3] = {{0, 0}, {1, 0}, {2, 0}};
    k = mk(10);
    plan_cache_insert(c, &k, &w[0]);
    k = mk(11);
    plan_cache_insert(c, &k, &w[1]);
    plan_cache_clear(c);
    CHECK(calls == 2 && w[0].released == 1 && w[1].released == 1);
    k = mk(10);
    CHECK(plan_cache_find(c, &k) == NULL);
    CHECK(plan_cache_insert(c, &k, &w[2]) == 0);
    plan_cache_destroy(c);
    CHECK(calls == 3 && w[2].released == 1);

    /* bad arguments */
    CHECK(plan_cache_create(0, 8, NULL, NULL) == NULL);
    CHECK(plan_cache_create(4, 0, NULL, NULL) == NULL);
    plan_cache_destroy(NULL);
}

/* ---- naive reference: ids in recency order, most recent first ---- */
typedef struct {
    int ids[512];
    int n, cap;
} Model;

static int model_find(Model *m, int id) {
    for (int i = 0; i < m->n; i++)
        if (m->ids[i] == id) {
            memmove(m->ids + 1, m->ids, sizeof(int) * (size_t)i);
            m->ids[0] = id;
            return 1;
        }
    return 0;
}

/* returns the evicted id or -1 */
static int model_insert(Model *m, int id) {
    int ev = -1;
    if (m->n == m->cap) ev = m->ids[--m->n];
    memmove(m->ids + 1, m->ids, sizeof(int) * (size_t)m->n);
    m->ids[0] = id;
    m->n++;
    return ev;
}

static void test_random(int cap, int nkeys, int steps, uint64_t seed) {
    int calls = 0;
    PlanCache *c = plan_cache_create(cap, sizeof(Key), on_release, &calls);
    CHECK(c != NULL);
    Model m = {{0}, 0, cap};
    Val *vals = (Val *)calloc((size_t)steps, sizeof(Val));
    int nvals = 0, mismatches = 0, wrong_evictions = 0;
    uint64_t rng = seed;
    for (int s = 0; s < steps; s++) {
        /* skewed: half the lookups from a hot set smaller than the cache */
        int id = (test_rand_u64(&rng) & 1) ? (int)(test_rand_u64(&rng) % (uint64_t)(cap / 2 + 1))
                                            : (int)(test_rand_u64(&rng) % (uint64_t)nkeys);
        Key k = mk(id);
        Val *got = (Val *)plan_cache_find(c, &k);
        int in_model = model_find(&m, id);
        if ((got != NULL) != in_model || (got && got->id != id)) mismatches++;
        if (!got) {
            vals[nvals] = (Val){id, 0};
            last_release = -1;
            int rc = plan_cache_insert(c, &k, &vals[nvals]);
            int ev = model_insert(&m, id);
            if (rc != (ev >= 0 ? 1 : 0) || last_release != ev) wrong_evictions++;
            nvals++;
        }
    }
    /* the cache's recency order is the model's */
    void **order = (void **)malloc(sizeof(void *) * (size_t)cap);
    int n = plan_cache_order(c, order, cap);
    int order_ok = n == m.n;
    for (int i = 0; order_ok && i < n; i++) order_ok = ((Val *)order[i])->id == m.ids[i];
    CHECKF(mismatches == 0, "cap %d keys %d: %d find results differ from the reference LRU", cap, nkeys,
           mismatches);
    CHECKF(wrong_evictions == 0, "cap %d keys %d: %d evictions differ from the reference LRU", cap,
           nkeys, wrong_evictions);
    CHECKF(order_ok, "cap %d keys %d: final recency order differs from the reference", cap, nkeys);
    PlanCacheStats st;
    plan_cache_stats(c, &st);
    CHECKF(st.size == cap && (int)st.evictions == nvals - cap, "size %d evictions %llu (inserted %d)",
           st.size, (unsigned long long)st.evictions, nvals);
    CHECKF(st.hits + st.misses == (uint64_t)steps, "hits+misses %llu != %d",
           (unsigned long long)(st.hits + st.misses), steps);
    plan_cache_destroy(c);
    int once = 1;
    for (int i = 0; i < nvals; i++) once &= vals[i].released == 1;
    CHECKF(once, "cap %d: some value was not released exactly once", cap);
    CHECKF(calls == nvals, "cap %d: %d releases for %d inserted values", cap, calls, nvals);
    printf("random cap=%d keys=%d steps=%d: %d inserts, %llu hits, %llu evictions\n", cap, nkeys, steps,
           nvals, (unsigned long long)st.hits, (unsigned long long)st.evictions);
    free(order);
    free(vals);
}

int main(void) {
    test_small();
    test_random(256, 300, 20000, 0x5eedull);  /* the GEMM cache's capacity, just past it */
    test_random(8, 1000, 20000, 0xfeedull);   /* far past it */
    test_random(1, 3, 2000, 0xbeefull);       /* one slot */
    return test_finish("test_plan_cache");
}
