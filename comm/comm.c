#include "comm/comm.h"

#include <math.h>
#include <stdint.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef MTBERT_HAVE_MPI
#include <mpi.h>
#define MPI_CHECK(call)                                                                  \
    do {                                                                                 \
        int rc_ = (call);                                                                \
        if (rc_ != MPI_SUCCESS) {                                                        \
            char msg_[MPI_MAX_ERROR_STRING];                                             \
            int len_ = 0;                                                                \
            MPI_Error_string(rc_, msg_, &len_);                                          \
            fprintf(stderr, "%s:%d: MPI error: %s\n", __FILE__, __LINE__, msg_);         \
            return -1;                                                                   \
        }                                                                                \
    } while (0)
#endif

static int env_int(const char *name, int dflt) {
    const char *v = getenv(name);
    if (!v || !*v) return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return *end ? dflt : (int)x;
}

void comm_detect_env(int *rank, int *world, int *local_rank) {
    *rank = env_int("SLURM_PROCID", env_int("RANK", env_int("OMPI_COMM_WORLD_RANK", env_int("PMI_RANK", 0))));
    *world = env_int("SLURM_NTASKS", env_int("WORLD_SIZE", env_int("OMPI_COMM_WORLD_SIZE", env_int("PMI_SIZE", 1))));
    *local_rank = env_int("SLURM_LOCALID", env_int("LOCAL_RANK", env_int("OMPI_COMM_WORLD_LOCAL_RANK", 0)));
}

/* Launched by mpirun / srun / torchrun-style with more than one process? */
static int launched_in_parallel(void) {
    int r, w, l;
    comm_detect_env(&r, &w, &l);
    return w > 1 || getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

int comm_init(Comm *c, int *argc, char ***argv) {
    memset(c, 0, sizeof *c);
    comm_detect_env(&c->rank, &c->world, &c->local_rank);
    c->kind = COMM_NONE;
#ifdef MTBERT_HAVE_MPI
    if (launched_in_parallel()) {
        int inited = 0;
        MPI_Initialized(&inited);
        if (!inited) {
            MPI_CHECK(MPI_Init(argc, argv));
            c->mpi_initialized_here = 1;
        }
        /* errors come back as codes so that we can say which rank failed */
        MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
        MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &c->rank));
        MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &c->world));
        MPI_Comm local;
        MPI_CHECK(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, c->rank, MPI_INFO_NULL, &local));
        MPI_CHECK(MPI_Comm_rank(local, &c->local_rank));
        MPI_Comm_free(&local);
        c->kind = COMM_MPI;
        return 0;
    }
#else
    (void)argc;
    (void)argv;
    if (launched_in_parallel() && c->world > 1) {
        fprintf(stderr, "mtbert: launched as %d processes, but this build has no MPI\n", c->world);
        return -1;
    }
#endif
    c->rank = 0;
    c->world = 1;
    return 0;
}

/* comm_use_nccl and comm_bind_device live in comm_nccl.c (with stubs there
 * when the build has no NCCL); that file installs c->dev. */

void comm_finalize(Comm *c) {
    if (c->dev && c->dev->finalize) c->dev->finalize(c); /* before MPI goes away */
    c->dev = NULL;
#ifdef MTBERT_HAVE_MPI
    if (c->mpi_initialized_here) MPI_Finalize();
#endif
    c->mpi_initialized_here = 0;
}

int comm_allreduce_mean(Comm *c, float *x, size_t n, size_t bucket) {
    /* device buffer; runs with a world of one too (that is how it is tested) */
    if (c->dev) return c->dev->allreduce_mean(c, x, n, bucket);
    if (c->world <= 1 || n == 0) return 0;
#ifdef MTBERT_HAVE_MPI
    if (bucket == 0 || bucket > n) bucket = n;
    for (size_t off = 0; off < n; off += bucket) {
        size_t len = n - off < bucket ? n - off : bucket;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x + off, (int)len, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD));
    }
    float inv = 1.0f / (float)c->world;
    for (size_t i = 0; i < n; i++) x[i] *= inv;
    return 0;
#else
    (void)x; (void)bucket;
    return -1;
#endif
}

int comm_allreduce_sum_double(Comm *c, double *x, size_t n) {
    if (c->world <= 1 || n == 0) return 0;
#ifdef MTBERT_HAVE_MPI
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
    return 0;
#else
    (void)x;
    return -1;
#endif
}

int comm_allreduce_max_int(Comm *c, int *x, size_t n) {
    if (c->world <= 1 || n == 0) return 0;
#ifdef MTBERT_HAVE_MPI
    MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, x, (int)n, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    return 0;
#else
    (void)x;
    return -1;
#endif
}

int comm_allgather(Comm *c, const void *send, size_t bytes, void *recv, size_t cap, size_t *counts) {
    if (c->world <= 1) {
        if (bytes > cap) return -1;
        if (bytes) memmove(recv, send, bytes);
        if (counts) counts[0] = bytes;
        return 0;
    }
#ifdef MTBERT_HAVE_MPI
    if (bytes > (size_t)INT32_MAX) return -1;
    int mine = (int)bytes, W = c->world;
    int *cnt = malloc(sizeof(int) * 2 * (size_t)W);
    if (!cnt) return -1;
    int *displ = cnt + W;
    if (MPI_Allgather(&mine, 1, MPI_INT, cnt, 1, MPI_INT, MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(cnt);
        fprintf(stderr, "comm: MPI_Allgather of the sizes failed\n");
        return -1;
    }
    size_t total = 0;
    for (int r = 0; r < W; r++) {
        displ[r] = (int)total;
        total += (size_t)cnt[r];
        if (counts) counts[r] = (size_t)cnt[r];
    }
    if (total > cap || total > (size_t)INT32_MAX) { /* every rank sees the same total */
        free(cnt);
        return -1;
    }
    int rc = MPI_Allgatherv(send, mine, MPI_BYTE, recv, cnt, displ, MPI_BYTE, MPI_COMM_WORLD);
    free(cnt);
    if (rc != MPI_SUCCESS) {
        fprintf(stderr, "comm: MPI_Allgatherv failed\n");
        return -1;
    }
    return 0;
#else
    (void)send; (void)bytes; (void)recv; (void)cap; (void)counts;
    return -1;
#endif
}

int comm_broadcast(Comm *c, void *buf, size_t bytes, int root) {
    if (c->world <= 1) return 0;
#ifdef MTBERT_HAVE_MPI
    MPI_CHECK(MPI_Bcast(buf, (int)bytes, MPI_BYTE, root, MPI_COMM_WORLD));
    return 0;
#else
    (void)buf; (void)bytes; (void)root;
    return -1;
#endif
}

int comm_barrier(Comm *c) {
    if (c->world <= 1) return 0;
#ifdef MTBERT_HAVE_MPI
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    return 0;
#else
    return -1;
#endif
}

void comm_abort(Comm *c, int code) {
#ifdef MTBERT_HAVE_MPI
    /* with NCCL, MPI still carries the job when the world is larger than one */
    if (c->kind == COMM_MPI || (c->kind == COMM_NCCL && c->world > 1)) {
        fflush(stdout);
        fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
#endif
    (void)c;
    exit(code);
}

/* ---- waiting with a wall-clock limit ---- */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int comm_wait(int (*poll)(void *arg), void *arg, double timeout_s) {
    double deadline = timeout_s > 0 ? now_seconds() + timeout_s : 0;
    for (;;) {
        int r = poll(arg);
        if (r > 0) return 0;
        if (r < 0) return -1;
        if (timeout_s > 0 && now_seconds() >= deadline) return 1;
        sched_yield();
    }
}

int comm_parse_seconds(const char *text, double *out) {
    if (!text || !*text) return -1;
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !isfinite(v) || v < 0) return -1;
    *out = v;
    return 0;
}

double comm_timeout_seconds(void) {
    static int warned;
    const char *e = getenv("MTBERT_NCCL_TIMEOUT_S");
    double v = COMM_DEFAULT_TIMEOUT_S;
    if (e && *e && comm_parse_seconds(e, &v)) {
        if (!warned)
            fprintf(stderr, "mtbert: MTBERT_NCCL_TIMEOUT_S='%s' is not a number of seconds >= 0; "
                            "using %g s\n", e, COMM_DEFAULT_TIMEOUT_S);
        warned = 1;
        v = COMM_DEFAULT_TIMEOUT_S;
    }
    return v;
}
