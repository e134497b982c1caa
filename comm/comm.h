/* comm.h — data-parallel communication: who am I, and averaging gradients.
 *
 * One interface, two backends: MPI on host buffers (CPU training) and NCCL
 * on device buffers (GPU training; its unique id travels over MPI). Without
 * a launcher (or a build without MPI) the world is one process and every
 * collective is a no-op. Rank, world size and local rank come from MPI;
 * Slurm (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID) and torchrun-style
 * (RANK, WORLD_SIZE, LOCAL_RANK) variables are understood too. */
#ifndef MTBERT_COMM_H
#define MTBERT_COMM_H

#include <stddef.h>

typedef enum { COMM_NONE = 0, COMM_MPI, COMM_NCCL } CommKind;

struct Comm;

/* A reduction backend on device buffers, installed by comm_use_nccl()
 * (comm/comm_nccl.c). comm.c calls only through this table and knows
 * nothing else of that file: comm_nccl.c depends on this header alone, and
 * the dependency runs one way. */
typedef struct CommDeviceOps {
    const char *name;
    int (*allreduce_mean)(struct Comm *c, float *x, size_t n, size_t bucket);
    void (*finalize)(struct Comm *c); /* also resets c->kind, c->dev, c->impl */
} CommDeviceOps;

typedef struct Comm {
    CommKind kind;
    int rank, world, local_rank;
    int mpi_initialized_here;
    const CommDeviceOps *dev; /* NULL unless a device backend is in use */
    void *impl;   /* that backend's state */
} Comm;

/* Detect the launcher and start MPI when present. 0 or -1 (message on stderr). */
int comm_init(Comm *c, int *argc, char ***argv);
/* GPU training: make GPU local_rank % (visible devices) current. Call it
 * before any other CUDA work (ops_cuda() creates its stream and handles on
 * the current device). 0 also when there is no GPU or no NCCL in the build
 * (nothing to bind); -1 when cudaSetDevice fails. */
int comm_bind_device(Comm *c);
/* Switch comm_allreduce_mean to NCCL on device buffers (GPU training):
 * binds the GPU as above, rank 0's ncclUniqueId is broadcast over MPI (a
 * world of one needs no MPI), one communicator and a stream of its own.
 * Collective: every rank calls it. 0, or -1 with a message on stderr
 * (always -1 in a build without NCCL). comm_finalize destroys it. */
int comm_use_nccl(Comm *c);
void comm_finalize(Comm *c);

/* x[i] = mean over ranks of x[i], in place, in buckets of `bucket` floats
 * (0 = one call). Host memory for MPI, device memory for NCCL (after
 * comm_use_nccl; it waits for all queued device work first and returns
 * with the result complete). */
int comm_allreduce_mean(Comm *c, float *x, size_t n, size_t bucket);
/* Sum of doubles over ranks (host), e.g. losses and metric counts. */
int comm_allreduce_sum_double(Comm *c, double *x, size_t n);
/* Max of ints over ranks (host): agreeing on an error or a stop. */
int comm_allreduce_max_int(Comm *c, int *x, size_t n);
/* All-gather of host buffers in rank order: rank r's `bytes` bytes of
 * `send` land at recv + (sum of the lower ranks' byte counts); ranks may
 * send different sizes. counts (world entries, may be NULL) receives every
 * rank's byte count; recv must hold cap bytes, and -1 (on every rank) when
 * the total does not fit. Host memory also in GPU training (the callers
 * gather small host arrays, e.g. contrastive embeddings, over MPI). A
 * world of one copies. 0 or -1. */
int comm_allgather(Comm *c, const void *send, size_t bytes, void *recv, size_t cap, size_t *counts);
int comm_broadcast(Comm *c, void *buf, size_t bytes, int root);
int comm_barrier(Comm *c);
/* End the whole job now with this exit code (no rank is left waiting). */
void comm_abort(Comm *c, int code);

/* Environment-only detection, for tests: fills rank/world/local_rank from
 * SLURM_* or RANK/WORLD_SIZE/LOCAL_RANK (defaults 0/1/0). */
void comm_detect_env(int *rank, int *world, int *local_rank);

/* ---- waiting with a wall-clock limit (used by comm_nccl.c; shared) ----
 * poll(arg) returns 1 when done, 0 when not yet, -1 on failure (it prints
 * why). comm_wait calls it until it returns non-zero, yielding the CPU in
 * between, or until timeout_s seconds have passed (timeout_s <= 0: no
 * limit). Returns 0 (done), -1 (poll failed) or 1 (timed out). */
int comm_wait(int (*poll)(void *arg), void *arg, double timeout_s);
/* A number of seconds >= 0 ("300", "0.5"); 0 or -1 (not a number, negative,
 * trailing text). */
int comm_parse_seconds(const char *text, double *out);
/* The limit for collective waits on device buffers: MTBERT_NCCL_TIMEOUT_S
 * (seconds, default 300; 0 = wait forever; an invalid value is reported
 * once on stderr and the default used). Read at every call. */
#define COMM_DEFAULT_TIMEOUT_S 300.0
double comm_timeout_seconds(void);

#endif
