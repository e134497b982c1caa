/* plan_cache.c — see plan_cache.h. Written in the common subset of C and
 * C++ (explicit casts from void *), since the CUDA backend compiles it into
 * a .cu file as well. */
#include "kernels/plan_cache.h"

#include <stdlib.h>
#include <string.h>

static uint64_t pc_hash(const void *key, size_t n) {
    const unsigned char *p = (const unsigned char *)key;
    uint64_t h = 1469598103934665603ull; /* FNV-1a, 64 bit */
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 1099511628211ull;
    }
    return h;
}

static unsigned char *pc_key(const PlanCache *c, int i) {
    return c->keys + (size_t)i * c->key_bytes;
}

static int pc_bucket_of(const PlanCache *c, uint64_t h) {
    return (int)(h & (uint64_t)(c->nbuckets - 1));
}

/* recency list */
static void pc_unlink(PlanCache *c, int i) {
    if (c->prev[i] >= 0) c->next[c->prev[i]] = c->next[i];
    else c->head = c->next[i];
    if (c->next[i] >= 0) c->prev[c->next[i]] = c->prev[i];
    else c->tail = c->prev[i];
    c->prev[i] = c->next[i] = -1;
}

static void pc_push_front(PlanCache *c, int i) {
    c->prev[i] = -1;
    c->next[i] = c->head;
    if (c->head >= 0) c->prev[c->head] = i;
    c->head = i;
    if (c->tail < 0) c->tail = i;
}

/* hash chains */
static void pc_chain_remove(PlanCache *c, int i) {
    int b = pc_bucket_of(c, c->hash[i]);
    int *link = &c->bucket[b];
    while (*link >= 0 && *link != i) link = &c->chain[*link];
    if (*link == i) *link = c->chain[i];
    c->chain[i] = -1;
}

static int pc_lookup(const PlanCache *c, const void *key, uint64_t h) {
    for (int i = c->bucket[pc_bucket_of(c, h)]; i >= 0; i = c->chain[i])
        if (c->hash[i] == h && memcmp(pc_key(c, i), key, c->key_bytes) == 0) return i;
    return -1;
}

PLAN_CACHE_API PlanCache *plan_cache_create(int capacity, size_t key_bytes,
                                            PlanCacheRelease release, void *ctx) {
    if (capacity < 1 || key_bytes < 1 || capacity > (1 << 28)) return NULL;
    PlanCache *c = (PlanCache *)calloc(1, sizeof *c);
    if (!c) return NULL;
    c->capacity = capacity;
    c->key_bytes = key_bytes;
    c->release = release;
    c->ctx = ctx;
    c->nbuckets = 1;
    while (c->nbuckets < 2 * capacity) c->nbuckets <<= 1;
    size_t n = (size_t)capacity;
    c->keys = (unsigned char *)malloc(n * key_bytes);
    c->values = (void **)calloc(n, sizeof(void *));
    c->hash = (uint64_t *)calloc(n, sizeof(uint64_t));
    c->prev = (int *)malloc(n * sizeof(int));
    c->next = (int *)malloc(n * sizeof(int));
    c->chain = (int *)malloc(n * sizeof(int));
    c->bucket = (int *)malloc((size_t)c->nbuckets * sizeof(int));
    if (!c->keys || !c->values || !c->hash || !c->prev || !c->next || !c->chain || !c->bucket) {
        free(c->keys); free(c->values); free(c->hash); free(c->prev);
        free(c->next); free(c->chain); free(c->bucket); free(c);
        return NULL;
    }
    c->head = c->tail = -1;
    for (int i = 0; i < c->nbuckets; i++) c->bucket[i] = -1;
    return c;
}

PLAN_CACHE_API void plan_cache_clear(PlanCache *c) {
    if (!c) return;
    /* release from the least recent up, then forget everything */
    for (int i = c->tail; i >= 0; i = c->prev[i])
        if (c->release) c->release(c->values[i], c->ctx);
    c->size = 0;
    c->head = c->tail = -1;
    for (int i = 0; i < c->nbuckets; i++) c->bucket[i] = -1;
}

PLAN_CACHE_API void plan_cache_destroy(PlanCache *c) {
    if (!c) return;
    plan_cache_clear(c);
    free(c->keys); free(c->values); free(c->hash); free(c->prev);
    free(c->next); free(c->chain); free(c->bucket);
    free(c);
}

PLAN_CACHE_API void *plan_cache_find(PlanCache *c, const void *key) {
    int i = pc_lookup(c, key, pc_hash(key, c->key_bytes));
    if (i < 0) {
        c->misses++;
        return NULL;
    }
    c->hits++;
    if (c->head != i) {
        pc_unlink(c, i);
        pc_push_front(c, i);
    }
    return c->values[i];
}

PLAN_CACHE_API int plan_cache_insert(PlanCache *c, const void *key, void *value) {
    uint64_t h = pc_hash(key, c->key_bytes);
    if (pc_lookup(c, key, h) >= 0) return -1;
    int evicted = 0, i;
    if (c->size < c->capacity) {
        i = c->size++; /* slots fill in order; clear() starts over */
    } else {
        i = c->tail; /* the least recently used entry makes room */
        pc_unlink(c, i);
        pc_chain_remove(c, i);
        void *old = c->values[i];
        c->values[i] = NULL;
        c->evictions++;
        evicted = 1;
        if (c->release) c->release(old, c->ctx);
    }
    memcpy(pc_key(c, i), key, c->key_bytes);
    c->values[i] = value;
    c->hash[i] = h;
    int b = pc_bucket_of(c, h);
    c->chain[i] = c->bucket[b];
    c->bucket[b] = i;
    pc_push_front(c, i);
    return evicted;
}

PLAN_CACHE_API void plan_cache_stats(const PlanCache *c, PlanCacheStats *out) {
    out->hits = c->hits;
    out->misses = c->misses;
    out->evictions = c->evictions;
    out->size = c->size;
    out->capacity = c->capacity;
}

PLAN_CACHE_API int plan_cache_order(const PlanCache *c, void **values, int max) {
    int n = 0;
    for (int i = c->head; i >= 0 && n < max; i = c->next[i]) values[n++] = c->values[i];
    return n;
}
