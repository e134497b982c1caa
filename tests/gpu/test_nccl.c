/* test_nccl.c — the NCCL backend of comm/ on device buffers.
 *
 * One rank (run it plainly, no launcher): comm_use_nccl makes a
 * communicator of one, and comm_allreduce_mean must give back exactly its
 * input, for bucket sizes that do and do not divide n (bucket 1, 3, 4096,
 * 0 = one call, bucket > n, n = 1, a misaligned start), must leave the
 * floats around the range alone, must see work still queued on the CUDA
 * backend's stream (a scale by 2 issued just before), and must refuse a host
 * pointer. Skipped (exit 77) without a CUDA GPU or without NCCL in the build.
 *
 * `test_nccl timeout` is the other half of tests/gpu/nccl_timeout.sh: with
 * MTBERT_NCCL_TEST_STALL_S holding the NCCL stream longer than
 * MTBERT_NCCL_TIMEOUT_S, one all-reduce must end the process (exit 1, a
 * message naming the all-reduce and the limit); coming back is a failure
 * (exit 3).
 *
 * Several ranks need one GPU each (NCCL does not run two ranks of one
 * communicator on one GPU):
 *     mpirun -np 2 build/test_nccl          # on a host with >= 2 GPUs
 * Rank r then holds base[i] + r and the mean must be base[i] + (W-1)/2
 * (exact for these values), while the guard floats keep their own rank's
 * values. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "comm/comm.h"
#include "kernels/ops.h"
#include "tests/unit/testutil.h"

#define GUARD 64

static const Ops *G;
static Comm C;

#ifdef MTBERT_HAVE_NCCL
/* exactly representable values, distinct per index and rank */
static float base_value(size_t i, int rank) {
    return (float)((i * 37u) % 1001u) * 0.25f - 100.0f + (float)rank;
}

/* One all-reduce of n floats at device offset `skew` (floats) in buckets of
 * `bucket`; with `prescale` the input is scaled by 2 on the backend's stream
 * right before (asynchronously), which the reduction must see. */
static void run_case(size_t n, size_t bucket, size_t skew, int prescale) {
    size_t total = skew + n + GUARD;
    float *h = malloc(total * sizeof(float)), *back = malloc(total * sizeof(float));
    if (!h || !back) abort();
    for (size_t i = 0; i < total; i++) h[i] = base_value(i, C.rank);
    float *d = G->alloc(total * sizeof(float));
    CHECK(d != NULL);
    if (!d) {
        free(h);
        free(back);
        return;
    }
    G->to_device(d, h, total * sizeof(float));
    if (prescale) G->scale(d + skew, 2.0f, n); /* queued, not waited for */
    int rc = comm_allreduce_mean(&C, d + skew, n, bucket);
    CHECKF(rc == 0, "n=%zu bucket=%zu: comm_allreduce_mean returned %d", n, bucket, rc);
    G->to_host(back, d, total * sizeof(float));
    double shift = (C.world - 1) / 2.0;
    size_t bad_in = 0, bad_out = 0;
    double worst = 0;
    for (size_t i = 0; i < total; i++) {
        int inside = i >= skew && i < skew + n;
        if (inside) {
            double want = ((double)base_value(i, 0) + shift) * (prescale ? 2.0 : 1.0);
            double err = fabs((double)back[i] - want);
            if (C.world == 1 ? back[i] != (float)want : err > 1e-6 * fmax(1.0, fabs(want))) bad_in++;
            if (err > worst) worst = err;
        } else if (memcmp(&back[i], &h[i], sizeof(float))) {
            bad_out++;
        }
    }
    printf("  n=%-8zu bucket=%-8zu skew=%zu prescale=%d: max err %.3g, %zu wrong, %zu guard floats changed\n",
           n, bucket, skew, prescale, worst, bad_in, bad_out);
    CHECKF(bad_in == 0, "n=%zu bucket=%zu: %zu reduced floats wrong (max err %.3g)", n, bucket, bad_in, worst);
    CHECKF(bad_out == 0, "n=%zu bucket=%zu: %zu floats outside the range changed", n, bucket, bad_out);
    G->free(d);
    free(h);
    free(back);
}
#endif

int main(int argc, char **argv) {
    if (comm_init(&C, &argc, &argv)) return 1;
    /* one GPU per rank, chosen before the backend touches a device */
    if (comm_bind_device(&C)) return 1;
    G = ops_cuda();
    if (!G) {
        comm_finalize(&C);
        return test_skip("no CUDA GPU");
    }
#ifndef MTBERT_HAVE_NCCL
    comm_finalize(&C);
    return test_skip("this build has no NCCL");
#else
    printf("test_nccl: rank %d of %d (local rank %d)\n", C.rank, C.world, C.local_rank);
    int rc = comm_use_nccl(&C);
    CHECKF(rc == 0, "comm_use_nccl returned %d", rc);
    if (rc) {
        comm_finalize(&C);
        return test_finish("test_nccl");
    }
    CHECK(C.kind == COMM_NCCL);
    CHECK(comm_use_nccl(&C) == 0); /* a second call is a no-op */

    if (argc > 1 && strcmp(argv[1], "timeout") == 0) {
        size_t n = 1 << 20;
        float *d = G->alloc(n * sizeof(float));
        if (!d) return 1;
        fprintf(stderr, "test_nccl: one all-reduce on a stalled stream (MTBERT_NCCL_TIMEOUT_S=%s, "
                        "MTBERT_NCCL_TEST_STALL_S=%s)\n", getenv("MTBERT_NCCL_TIMEOUT_S") ? getenv("MTBERT_NCCL_TIMEOUT_S") : "(unset)",
                getenv("MTBERT_NCCL_TEST_STALL_S") ? getenv("MTBERT_NCCL_TEST_STALL_S") : "(unset)");
        int r = comm_allreduce_mean(&C, d, n, 0);
        fprintf(stderr, "test_nccl: the all-reduce came back (returned %d): the timeout did not end the process\n", r);
        return 3;
    }

    /* bucket edge cases */
    run_case(1000003, 4096, 0, 0);   /* n not a multiple of the bucket: last bucket 611 */
    run_case(8192, 4096, 0, 0);      /* an exact multiple */
    run_case(8191, 4096, 0, 0);      /* one short of it */
    run_case(8193, 4096, 0, 0);      /* one over: a last bucket of 1 */
    run_case(7, 1, 0, 0);            /* a bucket per float */
    run_case(10, 3, 0, 0);           /* 3+3+3+1 */
    run_case(1, 3, 0, 0);            /* bucket > n */
    run_case(100000, 0, 0, 0);       /* 0 = one call */
    run_case(4097, 4096, 5, 0);      /* a start not 16-byte aligned */
    run_case(1 << 22, 1 << 20, 0, 1); /* the trainer's shape, work still queued on the backend stream */

    /* n = 0: nothing to do, nothing touched */
    CHECK(comm_allreduce_mean(&C, NULL, 0, 4096) == 0);

    /* a host pointer is refused, not handed to NCCL */
    float host[16] = {0};
    fprintf(stderr, "(an error message about a non-device pointer is expected next)\n");
    CHECK(comm_allreduce_mean(&C, host, 16, 0) == -1);

    comm_finalize(&C); /* destroys the NCCL communicator */
    CHECK(C.impl == NULL);
    return test_finish("test_nccl");
#endif
}
