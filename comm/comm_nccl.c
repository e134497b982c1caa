/* comm_nccl.c — the NCCL backend of comm/: gradient means on device buffers.
 *
 * comm_use_nccl() binds the process to GPU local_rank % device count, makes
 * one NCCL communicator over all ranks (rank 0's unique id travels over MPI;
 * a world of one needs no MPI) and a stream of its own. From then on
 * comm_allreduce_mean() takes *device* pointers: it waits for all queued
 * device work (the gradients are written on the CUDA backend's stream), runs
 * ncclAllReduce bucket by bucket on its stream, and returns once the stream
 * is drained, so the caller may use the result on any stream.
 *
 * The mean is ncclAvg (NCCL >= 2.10); with an older NCCL (or when built with
 * -DMTBERT_NCCL_NO_AVG) it is ncclSum followed by cublasSscal by 1/world.
 * Every other collective (doubles, ints, broadcast, barrier) stays on MPI
 * and host memory. Errors print file:line and NCCL's / CUDA's message and
 * return -1; an asynchronous NCCL error (a peer died, a network failure)
 * found while waiting aborts the communicator instead of hanging.
 *
 * Every wait on the NCCL stream has a wall-clock limit, MTBERT_NCCL_TIMEOUT_S
 * (default 300 s, 0 = none; comm_timeout_seconds()): NCCL between GPUs of one
 * node (P2P / shared memory) never reports a dead peer, so a survivor would
 * spin forever. Past the limit the communicator is aborted (ncclCommAbort)
 * and the job ends (comm_abort, exit status 1) with a message naming the
 * operation, the rank and the limit.
 *
 * Dependencies run one way: this file uses comm.h's public functions
 * (comm_allreduce_max_int, comm_broadcast, comm_abort, comm_wait) and
 * installs its reduction in c->dev; comm.c calls it only through c->dev.
 *
 * Compiled in every build; without MTBERT_HAVE_NCCL it holds only the stubs
 * of comm_use_nccl (refuses) and comm_bind_device (nothing to bind). */
#include "comm/comm.h"

#include <stdio.h>

#ifdef MTBERT_HAVE_NCCL

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cuda_runtime.h>
#include <nccl.h>

#if defined(NCCL_VERSION_CODE) && NCCL_VERSION_CODE >= NCCL_VERSION(2, 10, 0) && !defined(MTBERT_NCCL_NO_AVG)
#define COMM_NCCL_HAVE_AVG 1
#else
#define COMM_NCCL_HAVE_AVG 0
#include <cublas_v2.h>
#endif

#define NCCL_CHECK(call)                                                                 \
    do {                                                                                 \
        ncclResult_t r_ = (call);                                                        \
        if (r_ != ncclSuccess) {                                                         \
            fprintf(stderr, "%s:%d: NCCL error %d: %s (in %s)\n", __FILE__, __LINE__,    \
                    (int)r_, ncclGetErrorString(r_), #call);                             \
            return -1;                                                                   \
        }                                                                                \
    } while (0)

#define CUDART_CHECK(call)                                                               \
    do {                                                                                 \
        cudaError_t e_ = (call);                                                         \
        if (e_ != cudaSuccess) {                                                         \
            fprintf(stderr, "%s:%d: CUDA error %s: %s (in %s)\n", __FILE__, __LINE__,    \
                    cudaGetErrorName(e_), cudaGetErrorString(e_), #call);                \
            return -1;                                                                   \
        }                                                                                \
    } while (0)

typedef struct {
    ncclComm_t comm;
    cudaStream_t stream;
    int device;
#if !COMM_NCCL_HAVE_AVG
    cublasHandle_t blas;
#endif
} NcclState;

static int nccl_allreduce_mean(Comm *c, float *x, size_t n, size_t bucket);
static void nccl_finalize(Comm *c);

static const CommDeviceOps k_nccl_ops = {"nccl", nccl_allreduce_mean, nccl_finalize};

int comm_bind_device(Comm *c) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count <= 0) {
        cudaGetLastError(); /* no driver / no device: nothing to bind, not an error here */
        return 0;
    }
    int dev = (c->local_rank > 0 ? c->local_rank : 0) % count;
    CUDART_CHECK(cudaSetDevice(dev));
    return 0;
}

int comm_use_nccl(Comm *c) {
    if (c->kind == COMM_NCCL) return 0; /* already set up */
    NcclState *s = calloc(1, sizeof *s);
    if (!s) {
        fprintf(stderr, "mtbert: rank %d: out of memory\n", c->rank);
        return -1;
    }
    int rc = -1;
    ncclUniqueId id;
    memset(&id, 0, sizeof id);
    do {
        /* a failure before ncclCommInitRank on any rank must not leave the
         * others waiting in it: the ranks agree on a flag first (MPI), and
         * every rank takes part in the id broadcast */
        int bad = 0, count = 0;
        cudaError_t ce = cudaGetDeviceCount(&count);
        if (ce != cudaSuccess || count <= 0) {
            cudaGetLastError();
            fprintf(stderr, "mtbert: rank %d: NCCL needs a CUDA GPU, and none is visible (%s)\n", c->rank,
                    ce != cudaSuccess ? cudaGetErrorString(ce) : "0 devices");
            bad = 1;
        } else {
            s->device = (c->local_rank > 0 ? c->local_rank : 0) % count;
            ce = cudaSetDevice(s->device);
        }
        if (!bad && ce != cudaSuccess) {
            fprintf(stderr, "%s:%d: CUDA error %s: %s (cudaSetDevice(%d))\n", __FILE__, __LINE__,
                    cudaGetErrorName(ce), cudaGetErrorString(ce), s->device);
            bad = 1;
        }
        if (!bad && c->rank == 0) { /* the id is made by rank 0 only */
            ncclResult_t r = ncclGetUniqueId(&id);
            if (r != ncclSuccess) {
                fprintf(stderr, "%s:%d: NCCL error %d: %s (in ncclGetUniqueId)\n", __FILE__, __LINE__,
                        (int)r, ncclGetErrorString(r));
                bad = 1;
            }
        }
        if (c->world > 1) {
            if (comm_allreduce_max_int(c, &bad, 1)) break;
            if (bad) {
                fprintf(stderr, "mtbert: rank %d: NCCL setup failed on some rank\n", c->rank);
                break;
            }
            if (comm_broadcast(c, &id, sizeof id, 0)) break;
        } else if (bad) {
            break;
        }
        ncclResult_t r = ncclCommInitRank(&s->comm, c->world, id, c->rank);
        if (r != ncclSuccess) {
            fprintf(stderr, "%s:%d: NCCL error %d: %s (in ncclCommInitRank, rank %d of %d, device %d)\n",
                    __FILE__, __LINE__, (int)r, ncclGetErrorString(r), c->rank, c->world, s->device);
            s->comm = NULL;
            break;
        }
        ce = cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking);
        if (ce != cudaSuccess) {
            fprintf(stderr, "%s:%d: CUDA error %s: %s (cudaStreamCreateWithFlags)\n", __FILE__, __LINE__,
                    cudaGetErrorName(ce), cudaGetErrorString(ce));
            s->stream = NULL;
            break;
        }
#if !COMM_NCCL_HAVE_AVG
        if (cublasCreate(&s->blas) != CUBLAS_STATUS_SUCCESS ||
            cublasSetStream(s->blas, s->stream) != CUBLAS_STATUS_SUCCESS ||
            cublasSetPointerMode(s->blas, CUBLAS_POINTER_MODE_HOST) != CUBLAS_STATUS_SUCCESS) {
            fprintf(stderr, "%s:%d: cuBLAS handle for the NCCL mean could not be made\n", __FILE__, __LINE__);
            break;
        }
#endif
        rc = 0;
    } while (0);
    if (rc) {
#if !COMM_NCCL_HAVE_AVG
        if (s->blas) cublasDestroy(s->blas);
#endif
        if (s->stream) cudaStreamDestroy(s->stream);
        if (s->comm) ncclCommDestroy(s->comm);
        free(s);
        return -1;
    }
    c->impl = s;
    c->dev = &k_nccl_ops;
    c->kind = COMM_NCCL;
    return 0;
}

/* One look at the NCCL stream for comm_wait: 1 done, 0 still running, -1
 * failed (a CUDA error, or NCCL's asynchronous error state: then the
 * communicator is aborted, so nothing waits on it again). */
typedef struct {
    NcclState *s;
    int rank;
    const char *what;
} WaitArg;

static int poll_stream(void *arg) {
    WaitArg *w = (WaitArg *)arg;
    NcclState *s = w->s;
    cudaError_t e = cudaStreamQuery(s->stream);
    if (e == cudaSuccess) return 1;
    if (e != cudaErrorNotReady) {
        fprintf(stderr, "%s:%d: rank %d: CUDA error %s: %s (waiting for the NCCL %s)\n", __FILE__,
                __LINE__, w->rank, cudaGetErrorName(e), cudaGetErrorString(e), w->what);
        return -1;
    }
    ncclResult_t async = ncclSuccess;
    ncclResult_t r = ncclCommGetAsyncError(s->comm, &async);
    if (r != ncclSuccess) {
        fprintf(stderr, "%s:%d: rank %d: NCCL error %d: %s (in ncclCommGetAsyncError, during the %s)\n",
                __FILE__, __LINE__, w->rank, (int)r, ncclGetErrorString(r), w->what);
        return -1;
    }
    if (async != ncclSuccess) {
        fprintf(stderr, "%s:%d: rank %d: NCCL asynchronous error %d: %s during the %s; aborting the "
                        "communicator\n", __FILE__, __LINE__, w->rank, (int)async,
                ncclGetErrorString(async), w->what);
        ncclCommAbort(s->comm);
        s->comm = NULL;
        return -1;
    }
    return 0;
}

/* Wait for the NCCL stream, watching NCCL's asynchronous error state and
 * the wall clock: a failed peer would otherwise leave us spinning forever.
 * 0 done, -1 failed; past the limit the job ends here. */
static int wait_stream(Comm *c, NcclState *s, const char *what) {
    double limit = comm_timeout_seconds();
    WaitArg w = {s, c->rank, what};
    int rc = comm_wait(poll_stream, &w, limit);
    if (rc == 1) {
        fprintf(stderr, "mtbert: rank %d of %d: the NCCL %s did not finish within %g s "
                        "(MTBERT_NCCL_TIMEOUT_S): a peer has probably died or stopped; aborting the "
                        "NCCL communicator and ending the job\n", c->rank, c->world, what, limit);
        ncclCommAbort(s->comm);
        s->comm = NULL;
        comm_abort(c, 1);
    }
    return rc ? -1 : 0;
}

/* Test hook (tests/gpu/nccl_timeout.sh): MTBERT_NCCL_TEST_STALL_S=N makes the
 * NCCL stream wait N seconds on a host callback before the reduction, the
 * way a stalled peer would, so that one GPU can show the timeout. */
static void CUDART_CB stall_host(void *arg) {
    double sec = *(const double *)arg;
    struct timespec ts = {(time_t)sec, (long)((sec - (double)(time_t)sec) * 1e9)};
    nanosleep(&ts, NULL);
}

static int maybe_stall(NcclState *s) {
    static double sec = -1;
    if (sec < 0) {
        const char *e = getenv("MTBERT_NCCL_TEST_STALL_S");
        sec = 0;
        if (e && *e && comm_parse_seconds(e, &sec)) sec = 0;
        if (sec > 0) fprintf(stderr, "mtbert: MTBERT_NCCL_TEST_STALL_S=%g: stalling the NCCL stream (test hook)\n", sec);
    }
    if (sec > 0) CUDART_CHECK(cudaLaunchHostFunc(s->stream, stall_host, &sec));
    return 0;
}

static int nccl_allreduce_mean(Comm *c, float *x, size_t n, size_t bucket) {
    NcclState *s = (NcclState *)c->impl;
    if (n == 0) return 0;
    if (!s || !s->comm) {
        fprintf(stderr, "mtbert: rank %d: the NCCL communicator is not usable\n", c->rank);
        return -1;
    }
    /* a host pointer here would fault inside NCCL's kernels: say so instead */
    struct cudaPointerAttributes pa;
    CUDART_CHECK(cudaPointerGetAttributes(&pa, x));
    if (pa.type != cudaMemoryTypeDevice && pa.type != cudaMemoryTypeManaged) {
        fprintf(stderr, "mtbert: rank %d: NCCL all-reduce on a pointer that is not device memory\n", c->rank);
        return -1;
    }
    if (bucket == 0 || bucket > n) bucket = n;
    /* the gradients were written on another stream (the CUDA backend's):
     * wait for every queued kernel on the device before reducing */
    CUDART_CHECK(cudaDeviceSynchronize());
    if (maybe_stall(s)) return -1;
    for (size_t off = 0; off < n; off += bucket) {
        size_t len = n - off < bucket ? n - off : bucket;
#if COMM_NCCL_HAVE_AVG
        NCCL_CHECK(ncclAllReduce(x + off, x + off, len, ncclFloat, ncclAvg, s->comm, s->stream));
#else
        NCCL_CHECK(ncclAllReduce(x + off, x + off, len, ncclFloat, ncclSum, s->comm, s->stream));
        if (c->world > 1) {
            const float inv = 1.0f / (float)c->world;
            /* cublasSscal takes an int count */
            for (size_t o = 0; o < len; o += (size_t)1 << 30) {
                size_t m = len - o < ((size_t)1 << 30) ? len - o : ((size_t)1 << 30);
                if (cublasSscal(s->blas, (int)m, &inv, x + off + o, 1) != CUBLAS_STATUS_SUCCESS) {
                    fprintf(stderr, "%s:%d: cublasSscal failed\n", __FILE__, __LINE__);
                    return -1;
                }
            }
        }
#endif
    }
    return wait_stream(c, s, "all-reduce");
}

static void nccl_finalize(Comm *c) {
    NcclState *s = (NcclState *)c->impl;
    c->dev = NULL;
    if (!s) return;
    /* a communicator still alive may have work queued: wait, with the limit */
    if (s->stream && s->comm) wait_stream(c, s, "finalize (last queued reduction)");
    else if (s->stream) cudaStreamSynchronize(s->stream);
#if !COMM_NCCL_HAVE_AVG
    if (s->blas) cublasDestroy(s->blas);
#endif
    if (s->comm) {
        ncclResult_t r = ncclCommDestroy(s->comm);
        if (r != ncclSuccess)
            fprintf(stderr, "%s:%d: NCCL error %d: %s (in ncclCommDestroy)\n", __FILE__, __LINE__, (int)r,
                    ncclGetErrorString(r));
    }
    if (s->stream) cudaStreamDestroy(s->stream);
    free(s);
    c->impl = NULL;
    c->kind = c->world > 1 ? COMM_MPI : COMM_NONE;
}

#else /* no NCCL in this build */

int comm_use_nccl(Comm *c) {
    (void)c;
    fprintf(stderr, "mtbert: NCCL reductions are not available in this build\n");
    return -1;
}

int comm_bind_device(Comm *c) {
    (void)c;
    return 0;
}

#endif
