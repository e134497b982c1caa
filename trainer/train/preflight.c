/* preflight.c — see preflight.h. */
#include "trainer/train/preflight.h"

#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trainer/model/model.h"
#include "trainer/model/task_kind.h"
#include "trainer/train/stop_signal.h"
#include "util/fsutil.h"

/* ------------------------------------------------------------ launcher */

static int env_int(const char *name, int *out) {
    const char *v = getenv(name);
    if (!v || !*v) return 0;
    char *end;
    long x = strtol(v, &end, 10);
    if (*end || x < 0 || x > INT_MAX) return 0;
    *out = (int)x;
    return 1;
}

int preflight_launcher(const Comm *comm) {
    int ws, r;
    if (env_int("WORLD_SIZE", &ws) && ws > 1 && ws != comm->world) {
        fprintf(stderr, "mtbert: rank %d: WORLD_SIZE=%d in the environment (a torchrun-style launch), but MPI "
                "reports %d process%s: without an MPI launcher every process would train alone and write the "
                "same run directory. Start the ranks with mpirun or srun (launch/mpirun.sh), or unset "
                "WORLD_SIZE and RANK for one process\n", comm->rank, ws, comm->world, comm->world == 1 ? "" : "es");
        return -1;
    }
    if (env_int("WORLD_SIZE", &ws) && ws == comm->world && ws > 1 && env_int("RANK", &r) && r != comm->rank) {
        fprintf(stderr, "mtbert: rank %d: RANK=%d in the environment, but MPI says this process is rank %d; "
                "unset RANK (MPI numbers the ranks)\n", comm->rank, r, comm->rank);
        return -1;
    }
    return 0;
}

/* --------------------------------------------------------- rank agreement */

typedef struct {
    char *key, *value;
    uint64_t hash;
} Item;

typedef struct {
    Item *v;
    int n, cap;
} Items;

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) { h ^= s[i]; h *= 1099511628211ull; }
    return h;
}

static void items_add(Items *it, const char *key, const char *value) {
    if (it->n == it->cap) {
        it->cap = it->cap ? 2 * it->cap : 256;
        it->v = realloc(it->v, sizeof(Item) * (size_t)it->cap);
    }
    Item *x = &it->v[it->n++];
    x->key = strdup(key);
    x->value = strdup(value);
    uint64_t h = fnv1a(1469598103934665603ull, key, strlen(key) + 1);
    x->hash = fnv1a(h, value, strlen(value));
}

static void items_free(Items *it) {
    for (int i = 0; i < it->n; i++) { free(it->v[i].key); free(it->v[i].value); }
    free(it->v);
}

/* The resolved dump, key by key: "model.hidden_size" -> "32"; list items
 * are numbered ("tasks.1.name"); comment lines are skipped (the first names
 * the config file, which ranks may spell differently). */
static void parse_dump(Items *it, char *text) {
    struct { int indent, next_index; char name[96]; } st[32];
    int depth = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        int ind = 0;
        while (line[ind] == ' ') ind++;
        char *s = line + ind;
        if (!*s || *s == '#') continue;
        if (s[0] == '-' && s[1] == ' ') {
            /* a list item: numbered under its parent key */
            while (depth > 0 && st[depth - 1].indent >= ind) depth--;
            int idx = depth > 0 ? st[depth - 1].next_index++ : 0;
            if (depth < 32) {
                st[depth].indent = ind;
                st[depth].next_index = 0;
                snprintf(st[depth].name, sizeof st[depth].name, "%d", idx);
                depth++;
            }
            ind += 2;
            s += 2;
        }
        char *colon = strstr(s, ":");
        char *value = "";
        if (colon && (colon[1] == ' ' || colon[1] == 0)) {
            *colon = 0;
            value = colon[1] ? colon + 2 : colon + 1;
        } else {
            colon = NULL; /* a bare value (a continuation): keep it under the current key */
        }
        while (depth > 0 && st[depth - 1].indent >= ind) depth--;
        char key[1024] = "";
        for (int d = 0; d < depth; d++) {
            size_t u = strlen(key);
            snprintf(key + u, sizeof key - u, "%s%s", d ? "." : "", st[d].name);
        }
        if (colon) {
            size_t u = strlen(key);
            snprintf(key + u, sizeof key - u, "%s%s", depth ? "." : "", s);
            if (depth < 32) {
                st[depth].indent = ind;
                st[depth].next_index = 0;
                snprintf(st[depth].name, sizeof st[depth].name, "%.95s", s);
                depth++;
            }
            items_add(it, key, value);
        } else {
            items_add(it, key, s);
        }
    }
}

/* The shard files behind each training path (names and sizes). */
static void add_shards(Items *it, const Config *cfg) {
    for (int i = 0; i < cfg->model.ntasks; i++) {
        const char *p = cfg->task[i].train;
        if (!p) continue;
        int dup = 0;
        for (int j = 0; j < i; j++) dup |= cfg->task[j].train && !strcmp(cfg->task[j].train, p);
        if (dup) continue;
        glob_t g;
        memset(&g, 0, sizeof g);
        int grc = glob(p, 0, NULL, &g);
        uint64_t h = 1469598103934665603ull;
        long long bytes = 0;
        size_t n = grc == 0 ? g.gl_pathc : 0;
        for (size_t k = 0; k < n; k++) {
            struct stat sb;
            long long sz = stat(g.gl_pathv[k], &sb) ? -1 : (long long)sb.st_size;
            h = fnv1a(h, g.gl_pathv[k], strlen(g.gl_pathv[k]) + 1);
            h = fnv1a(h, &sz, sizeof sz);
            bytes += sz > 0 ? sz : 0;
        }
        globfree(&g);
        char key[256], val[256];
        snprintf(key, sizeof key, "tasks.%d.data.train (the shard files %.120s matches)", i, p);
        snprintf(val, sizeof val, "%zu file%s, %lld bytes [%016llx]", n, n == 1 ? "" : "s", bytes,
                 (unsigned long long)h);
        items_add(it, key, val);
    }
}

static int resolved_items(const Config *cfg, Items *it) {
    char dir[] = "/tmp/mtbert-agree-XXXXXX";
    const char *tmpdir = getenv("TMPDIR");
    char tdir[1024];
    if (tmpdir && *tmpdir) snprintf(tdir, sizeof tdir, "%s/mtbert-agree-XXXXXX", tmpdir);
    else snprintf(tdir, sizeof tdir, "%s", dir);
    if (!mkdtemp(tdir)) {
        fprintf(stderr, "mtbert: cannot make a temporary folder for the configuration check (%s): %s\n", tdir,
                strerror(errno));
        return -1;
    }
    char path[1100], err[1024];
    snprintf(path, sizeof path, "%s/config.yaml", tdir);
    char *text = NULL;
    if (config_write_resolved(cfg, path, err, sizeof err) == 0) text = fs_read_file(path, NULL, err, sizeof err);
    unlink(path);
    rmdir(tdir);
    if (!text) {
        fprintf(stderr, "mtbert: configuration check: %s\n", err);
        return -1;
    }
    parse_dump(it, text);
    free(text);
    add_shards(it, cfg);
    return 0;
}

/* max over ranks of x[i] and of -x[i] (so min too); x holds 31-bit values */
static int reduce_minmax(Comm *comm, const int *x, int n, int *mx, int *mn) {
    int *buf = malloc(sizeof(int) * (size_t)(2 * n + 1));
    if (!buf) return -1;
    for (int i = 0; i < n; i++) { buf[i] = x[i]; buf[n + i] = -x[i]; }
    int rc = comm_allreduce_max_int(comm, buf, (size_t)2 * n);
    for (int i = 0; i < n; i++) { mx[i] = buf[i]; mn[i] = -buf[n + i]; }
    free(buf);
    return rc;
}

static void split_hash(uint64_t h, int *a, int *b) {
    *a = (int)(h & 0x7fffffff);
    *b = (int)(h >> 33 & 0x7fffffff);
}

int preflight_ranks_agree(const Config *cfg, Comm *comm) {
    if (comm->world <= 1) return 0;
    Items it = {0};
    int bad = resolved_items(cfg, &it) ? 1 : 0;
    comm_allreduce_max_int(comm, &bad, 1);
    if (bad) { items_free(&it); return -1; }
    /* 1. the whole list: count and one hash */
    uint64_t all = 1469598103934665603ull;
    for (int i = 0; i < it.n; i++) all = fnv1a(all, &it.v[i].hash, sizeof it.v[i].hash);
    int x[3], mx[3], mn[3];
    x[0] = it.n;
    split_hash(all, &x[1], &x[2]);
    if (reduce_minmax(comm, x, 3, mx, mn)) { items_free(&it); return -1; }
    if (mx[0] == mn[0] && mx[1] == mn[1] && mx[2] == mn[2]) { items_free(&it); return 0; }
    /* 2. item by item over the items every rank has: the first that differs */
    int L = mn[0];
    int *h = malloc(sizeof(int) * (size_t)(2 * L + 1)), *hx = malloc(sizeof(int) * (size_t)(2 * L + 1)),
        *hn = malloc(sizeof(int) * (size_t)(2 * L + 1));
    for (int i = 0; i < L; i++) split_hash(it.v[i].hash, &h[i], &h[L + i]);
    reduce_minmax(comm, h, 2 * L, hx, hn);
    int first = L;
    for (int i = 0; i < L && first == L; i++)
        if (hx[i] != hn[i] || hx[L + i] != hn[L + i]) first = i;
    free(h); free(hx); free(hn);
    /* 3. rank 0's item there (or none: its list ended), to every rank */
    char r0[1024];
    memset(r0, 0, sizeof r0);
    if (comm->rank == 0) {
        if (first < it.n) snprintf(r0, sizeof r0, "%s\036%s", it.v[first].key, it.v[first].value);
        else snprintf(r0, sizeof r0, "\037");
    }
    comm_broadcast(comm, r0, sizeof r0, 0);
    char mine[1024];
    if (first < it.n) snprintf(mine, sizeof mine, "%s\036%s", it.v[first].key, it.v[first].value);
    else snprintf(mine, sizeof mine, "\037");
    /* 4. which ranks differ from rank 0 */
    int *diff = calloc((size_t)comm->world, sizeof(int));
    diff[comm->rank] = strcmp(mine, r0) != 0;
    comm_allreduce_max_int(comm, diff, (size_t)comm->world);
    char ranks[512] = "";
    int ndiff = 0;
    for (int r = 0; r < comm->world; r++)
        if (diff[r]) {
            size_t u = strlen(ranks);
            if (ndiff < 16) snprintf(ranks + u, sizeof ranks - u, "%s%d", ndiff ? ", " : "", r);
            else if (ndiff == 16) snprintf(ranks + u, sizeof ranks - u, ", ...");
            ndiff++;
        }
    char *sep = strchr(r0, '\036');
    const char *key0 = r0[0] == '\037' ? NULL : r0, *val0 = sep ? sep + 1 : "";
    if (sep) *sep = 0;
    if (comm->rank == 0) {
        if (key0)
            fprintf(stderr, "mtbert: the ranks resolved different configurations: first difference at '%s' "
                    "(rank 0: %s; differing: rank%s %s); every rank stops. Give every rank the same config "
                    "file and --set options\n", key0, *val0 ? val0 : "(a section)", ndiff == 1 ? "" : "s", ranks);
        else
            fprintf(stderr, "mtbert: the ranks resolved different configurations: rank 0's ends where rank%s %s "
                    "%s more keys; every rank stops. Give every rank the same config file and --set options\n",
                    ndiff == 1 ? "" : "s", ranks, ndiff == 1 ? "has" : "have");
    } else if (diff[comm->rank]) {
        if (first < it.n && key0 && !strcmp(key0, it.v[first].key))
            fprintf(stderr, "mtbert: rank %d: '%s' is %s here, %s on rank 0\n", comm->rank, key0,
                    it.v[first].value, val0);
        else if (first < it.n)
            fprintf(stderr, "mtbert: rank %d: has '%s: %s' where rank 0 has %s%s%s\n", comm->rank,
                    it.v[first].key, it.v[first].value, key0 ? "'" : "nothing", key0 ? key0 : "", key0 ? "'" : "");
        else
            fprintf(stderr, "mtbert: rank %d: has no '%s' (rank 0: %s)\n", comm->rank, key0 ? key0 : "?", val0);
    }
    free(diff);
    items_free(&it);
    return -1;
}

int preflight_same_model(Comm *comm, int ntensors, size_t nparams, int maxB, int maxT) {
    if (comm->world <= 1) return 0;
    int v[5] = {ntensors, (int)(nparams & 0x7fffffff), (int)(nparams >> 31 & 0x7fffffff), maxB, maxT};
    int r0[5];
    memcpy(r0, v, sizeof v);
    comm_broadcast(comm, r0, sizeof r0, 0);
    int bad = memcmp(v, r0, sizeof v) != 0;
    if (bad)
        fprintf(stderr, "mtbert: rank %d: the model built here has %d tensors, %zu parameters, batches up to %d x %d; "
                "rank 0's has %d tensors, %zu parameters, %d x %d (a different model.path folder or shard set on "
                "this node?); every rank stops\n", comm->rank, ntensors, nparams, maxB, maxT, r0[0],
                (size_t)r0[1] | (size_t)r0[2] << 31, r0[3], r0[4]);
    comm_allreduce_max_int(comm, &bad, 1);
    if (bad && comm->rank == 0)
        fprintf(stderr, "mtbert: the ranks built different models (see the ranks' messages); every rank stops\n");
    return bad ? -1 : 0;
}

/* ----------------------------------------------------------------- memory */

static long long read_ll_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char buf[64] = "";
    long long v = -1;
    if (fgets(buf, sizeof buf, f) && strncmp(buf, "max", 3)) v = strtoll(buf, NULL, 10);
    fclose(f);
    return v;
}

size_t preflight_mem_available(void) {
    const char *fake = getenv("MTBERT_MEM_AVAILABLE_MIB"); /* tests */
    if (fake && *fake) return (size_t)strtoull(fake, NULL, 10) << 20;
    size_t avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) { avail = (size_t)kb * 1024; break; }
        fclose(f);
    }
    /* a container's limit (cgroup v2, then v1) */
    long long lim = read_ll_file("/sys/fs/cgroup/memory.max"), use = read_ll_file("/sys/fs/cgroup/memory.current");
    if (lim < 0) {
        lim = read_ll_file("/sys/fs/cgroup/memory/memory.limit_in_bytes");
        use = read_ll_file("/sys/fs/cgroup/memory/memory.usage_in_bytes");
    }
    if (lim > 0 && lim < (1LL << 60)) {
        size_t left = use >= 0 && use < lim ? (size_t)(lim - use) : 0;
        if (!avail || left < avail) avail = left;
    }
    return avail;
}

/* The model's allocations, plus AdamW's two moments (one float per
 * parameter each) when training. */
static double need_bytes(const ModelConfig *mc, const Ops *ops, long B, int T, int for_training) {
    double m = (double)model_alloc_bytes(mc, ops, (int)B, T, for_training);
    if (for_training) {
        size_t params = (model_alloc_bytes(mc, ops, 1, 1, 1) - model_alloc_bytes(mc, ops, 1, 1, 0)) / sizeof(float);
        m += 2.0 * (double)params * sizeof(float);
    }
    return m;
}

int preflight_memory(const Config *cfg, const ModelConfig *mc, const Ops *ops, Comm *comm, int maxB, int maxT,
                     int for_training, const char *what) {
    /* ranks that share this node's memory: at most max(local_rank) + 1 */
    int per_node = comm->local_rank + 1;
    comm_allreduce_max_int(comm, &per_node, 1);
    int bad = 0;
    if (ops_on_host(ops)) {
        double avail = (double)preflight_mem_available();
        double total = need_bytes(mc, ops, maxB, maxT, for_training) * per_node;
        if (avail > 0 && total > avail) {
            bad = 1;
            /* the largest batch that would fit, for the message */
            long lo = 0, hi = maxB;
            while (lo < hi) {
                long mid = (lo + hi + 1) / 2;
                if (need_bytes(mc, ops, mid, maxT, for_training) * per_node <= avail) lo = mid;
                else hi = mid - 1;
            }
            int pair = maxB > cfg->data.batch_size; /* similarity pairs: two rows per example */
            char ranks[64] = "";
            if (per_node > 1) snprintf(ranks, sizeof ranks, ", for each of %d ranks on this node", per_node);
            double ng = total / 1073741824.0, ag = avail / 1073741824.0;
            fprintf(stderr, "mtbert: rank %d: data.batch_size %d x %d tokens%s: the model needs %.*f GiB of memory "
                    "(parameters, %sactivations%s), %.*f GiB available (MemAvailable in /proc/meminfo, or the "
                    "cgroup limit); %s\n", comm->rank, cfg->data.batch_size, maxT, what, ng < 0.1 ? 3 : 1, ng,
                    for_training ? "gradients, optimizer state, " : "", ranks, ag < 0.1 ? 3 : 1, ag,
                    lo > 0 ? "lower data.batch_size (or data.max_len)" : "this model does not fit even at batch 1");
            if (lo > 0)
                fprintf(stderr, "mtbert: rank %d: at this length data.batch_size=%ld would just fit (leave room for the rest)\n", comm->rank,
                        pair ? lo / 2 : lo);
        }
    }
    comm_allreduce_max_int(comm, &bad, 1);
    return bad ? -1 : 0;
}

/* ------------------------------------------------------------------ stop */

int preflight_stop_requested(Comm *comm, const char *after) {
    int sig = stop_signal_pending();
    comm_allreduce_max_int(comm, &sig, 1);
    if (!sig) return 0;
    if (comm->rank == 0)
        fprintf(stderr, "mtbert: stopped on %s during set-up (after %s), before the first step: nothing new to "
                "save\n", sig == SIGUSR1 ? "SIGUSR1" : sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal",
                after);
    return 1;
}
