/* plan_cache.h — a fixed-capacity least-recently-used map from fixed-size
 * byte keys to opaque values, with a release callback. Pure C, no CUDA: the
 * bookkeeping of the CUDA backend's GEMM plan cache (kernels/cuda/
 * cuda_matmul.cu) lives here so that a CPU unit test can drive it
 * (tests/unit/test_plan_cache.c).
 *
 * - Keys are compared byte for byte (memcmp over key_bytes): a caller whose
 *   key is a struct must zero it first (memset) so that padding compares.
 *   The cache keeps its own copy of each key.
 * - plan_cache_find() counts a hit or a miss; a hit becomes the most
 *   recently used entry.
 * - plan_cache_insert() adds a new entry as the most recently used; when the
 *   cache is full, the least recently used entry is evicted first and its
 *   value handed to release(value, ctx) — exactly once per inserted value,
 *   whether it leaves by eviction, plan_cache_clear() or
 *   plan_cache_destroy().
 * - Not thread-safe (the CUDA backend uses it from one host thread).
 *
 * Lookups hash the key (FNV-1a) into 2x-capacity buckets: O(key_bytes) per
 * find, independent of the capacity.
 *
 * Including plan_cache.c with PLAN_CACHE_STATIC defined compiles the whole
 * module as static functions into that translation unit (the CUDA backend
 * does this: its static library is linked after the core library, so it
 * cannot take these symbols from there). */
#ifndef MTBERT_PLAN_CACHE_H
#define MTBERT_PLAN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#ifdef PLAN_CACHE_STATIC
#define PLAN_CACHE_API static __attribute__((unused))
#else
#define PLAN_CACHE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*PlanCacheRelease)(void *value, void *ctx);

typedef struct {
    uint64_t hits, misses, evictions;
    int size, capacity;
} PlanCacheStats;

typedef struct PlanCache {
    int capacity, size;
    size_t key_bytes;
    PlanCacheRelease release;
    void *ctx;
    unsigned char *keys; /* capacity * key_bytes */
    void **values;
    uint64_t *hash;
    int *prev, *next; /* recency list: head = most recent, tail = least */
    int head, tail;
    int *bucket;  /* nbuckets heads of the hash chains (-1 = empty) */
    int *chain;   /* next entry in the same bucket */
    int nbuckets; /* power of two */
    uint64_t hits, misses, evictions;
} PlanCache;

/* capacity >= 1, key_bytes >= 1; release may be NULL. NULL on bad arguments
 * or out of memory. */
PLAN_CACHE_API PlanCache *plan_cache_create(int capacity, size_t key_bytes,
                                            PlanCacheRelease release, void *ctx);
/* Releases every value, then frees the cache. NULL is fine. */
PLAN_CACHE_API void plan_cache_destroy(PlanCache *c);
/* The value stored under key (now the most recent entry), or NULL. */
PLAN_CACHE_API void *plan_cache_find(PlanCache *c, const void *key);
/* Store value under key, which must not be present. Returns 1 when an entry
 * was evicted (and released) to make room, 0 when not, -1 when the key is
 * already present (nothing changes; value is not released). */
PLAN_CACHE_API int plan_cache_insert(PlanCache *c, const void *key, void *value);
/* Release and drop every entry (the counters stay). */
PLAN_CACHE_API void plan_cache_clear(PlanCache *c);
PLAN_CACHE_API void plan_cache_stats(const PlanCache *c, PlanCacheStats *out);
/* Up to max values from the most to the least recently used; returns how
 * many were written. For tests and diagnostics. */
PLAN_CACHE_API int plan_cache_order(const PlanCache *c, void **values, int max);

#ifdef __cplusplus
}
#endif

#endif
