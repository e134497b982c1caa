/* cuda_embedding.cu — word + position + token-type embeddings.
 *
 * Backward is deterministic without float atomics: the token indices are
 * stably sorted by id (CUB radix sort of (id, n) pairs), equal ids form
 * runs (run-length encoding), and each run's rows of dout are summed in a
 * fixed order (fixed split over 8 row groups, then a fixed-order combine).
 * The token-type table goes through the same path; positions are a
 * per-column sum over the batch. */
#include <cub/cub.cuh>

#include "cuda_common.cuh"

// ids, type_ids (B,T) -> out (B,T,C)
__global__ void embedding_forward_kernel(float *out, const int *ids, const int *type_ids,
                                         const float *wte, const float *wpe,
                                         const float *wtt, int T, int C) {
    int n = blockIdx.x;
    int t = n % T;
    const float *a = wte + (size_t)ids[n] * C;
    const float *p = wpe + (size_t)t * C;
    const float *y = wtt + (size_t)(type_ids ? type_ids[n] : 0) * C;
    float *o = out + (size_t)n * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = a[c] + p[c] + y[c];
}

void cuda_embedding_forward(float *out, const int *ids, const int *type_ids, const float *wte,
                            const float *wpe, const float *wtt, int B, int T, int C) {
    int N = B * T;
    if (N <= 0 || C <= 0) return;
    int threads = C >= 256 ? 256 : ((C + 31) / 32) * 32;
    embedding_forward_kernel<<<N, threads, 0, cuda_stream()>>>(out, ids, type_ids, wte, wpe,
                                                               wtt, T, C);
    CUDA_LAUNCH_CHECK();
}

#define EMB_RG 8 /* row groups per column tile */

/* One block per run (blockIdx.x) and 32 columns (blockIdx.y): thread (x,y)
 * sums rows y, y+8, ... of the run, then the 8 partials are combined in
 * order. Blocks past the number of runs exit. */
__global__ void embedding_run_sum_kernel(float *dtable, const float *dout, const int *run_keys,
                                         const int *run_counts, const int *run_starts,
                                         const int *nruns, const int *order, int C) {
    __shared__ float part[EMB_RG][33];
    int r = blockIdx.x;
    if (r >= *nruns) return;
    int c = blockIdx.y * 32 + threadIdx.x;
    int start = run_starts[r], cnt = run_counts[r];
    float s = 0.0f;
    if (c < C)
        for (int k = threadIdx.y; k < cnt; k += EMB_RG) s += dout[(size_t)order[start + k] * C + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tot = part[0][threadIdx.x];
        for (int y = 1; y < EMB_RG; y++) tot += part[y][threadIdx.x];
        dtable[(size_t)run_keys[r] * C + c] += tot;
    }
}

/* dwpe[t] += sum_b dout[b,t]: one block per position and 32 columns */
__global__ void embedding_pos_kernel(float *dwpe, const float *dout, int B, int T, int C) {
    __shared__ float part[EMB_RG][33];
    int t = blockIdx.x;
    int c = blockIdx.y * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < C)
        for (int b = threadIdx.y; b < B; b += EMB_RG) s += dout[((size_t)b * T + t) * C + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float tot = part[0][threadIdx.x];
        for (int y = 1; y < EMB_RG; y++) tot += part[y][threadIdx.x];
        dwpe[(size_t)t * C + c] += tot;
    }
}

__global__ void iota_kernel(int *x, int n) {
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) x[i] = i;
}

/* Scratch layout for one table: sorted keys, order, run keys, counts,
 * starts (N ints each), nruns, then CUB's temporary storage. */
static size_t align256(size_t x) { return (x + 255) / 256 * 256; }

static void table_backward(float *dtable, const float *dout, const int *keys, int N, int C,
                           char *scratch, size_t cub_bytes, const int *iota_vals) {
    cudaStream_t s = cuda_stream();
    size_t nb = align256((size_t)N * sizeof(int));
    int *sorted = (int *)scratch;
    int *order = (int *)(scratch + nb);
    int *rkeys = (int *)(scratch + 2 * nb);
    int *rcnt = (int *)(scratch + 3 * nb);
    int *rstart = (int *)(scratch + 4 * nb);
    int *nruns = (int *)(scratch + 5 * nb);
    void *tmp = scratch + 5 * nb + 256;
    size_t tb = cub_bytes;
    /* stable: equal ids keep ascending token order, so each run is summed
     * in token order on every run */
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(tmp, tb, keys, sorted, iota_vals, order, N, 0,
                                               (int)(sizeof(int) * 8), s));
    tb = cub_bytes;
    CUDA_CHECK(cub::DeviceRunLengthEncode::Encode(tmp, tb, sorted, rkeys, rcnt, nruns, N, s));
    tb = cub_bytes;
    CUDA_CHECK(cub::DeviceScan::ExclusiveSum(tmp, tb, rcnt, rstart, N, s));
    CUDA_DEBUG_SYNC(); /* the three CUB calls above */
    /* runs on x (up to N of them, beyond gridDim.y's limit), columns on y */
    dim3 grid(N, (C + 31) / 32), block(32, EMB_RG);
    embedding_run_sum_kernel<<<grid, block, 0, s>>>(dtable, dout, rkeys, rcnt, rstart, nruns,
                                                    order, C);
    CUDA_LAUNCH_CHECK();
}

// dout (B,T,C) -> dwte (Vocab,C), dwpe (MaxPos,C), dwtt (Types,C), each += or NULL
void cuda_embedding_backward(float *dwte, float *dwpe, float *dwtt, const float *dout,
                             const int *ids, const int *type_ids, int B, int T, int C) {
    int N = B * T;
    if (N <= 0 || C <= 0 || (!dwte && !dwpe && !dwtt)) return;
    cudaStream_t s = cuda_stream();
    if (dwpe) {
        dim3 grid(T, (C + 31) / 32), block(32, EMB_RG);
        embedding_pos_kernel<<<grid, block, 0, s>>>(dwpe, dout, B, T, C);
        CUDA_LAUNCH_CHECK();
    }
    if (!dwte && !dwtt) return;
    /* size CUB's temporary storage: the largest of the three calls */
    size_t t1 = 0, t2 = 0, t3 = 0;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs((void *)NULL, t1, (const int *)NULL, (int *)NULL,
                                               (const int *)NULL, (int *)NULL, N, 0, 32, s));
    CUDA_CHECK(cub::DeviceRunLengthEncode::Encode((void *)NULL, t2, (const int *)NULL,
                                                  (int *)NULL, (int *)NULL, (int *)NULL, N, s));
    CUDA_CHECK(cub::DeviceScan::ExclusiveSum((void *)NULL, t3, (const int *)NULL, (int *)NULL,
                                             N, s));
    size_t cub_bytes = t1 > t2 ? t1 : t2;
    if (t3 > cub_bytes) cub_bytes = t3;
    cub_bytes = align256(cub_bytes);
    size_t nb = align256((size_t)N * sizeof(int));
    size_t table_bytes = 5 * nb + 256 + cub_bytes;
    /* + iota values + zero type ids (when type_ids is NULL) */
    char *base = (char *)cuda_scratch(table_bytes + 2 * nb);
    int *iota = (int *)(base + table_bytes);
    int *zeros = (int *)(base + table_bytes + nb);
    iota_kernel<<<cuda_blocks((size_t)N, 256), 256, 0, s>>>(iota, N);
    CUDA_LAUNCH_CHECK();
    if (dwte) table_backward(dwte, dout, ids, N, C, base, cub_bytes, iota);
    if (dwtt) {
        const int *keys = type_ids;
        if (!keys) {
            CUDA_CHECK(cudaMemsetAsync(zeros, 0, (size_t)N * sizeof(int), s));
            keys = zeros;
        }
        table_backward(dwtt, dout, keys, N, C, base, cub_bytes, iota);
    }
}
