/* cuda_adamw.cu — AdamW over spans of the flat buffers in one launch, and
 * the fp64 gradient sum of squares.
 *
 * The host span table is copied (stream-ordered) into a small device table
 * with each span's start in the concatenated element range; a thread finds
 * its span by binary search. */
#include "cuda_common.cuh"

typedef struct {
    size_t offset, count, start; /* start: first index in the concatenation */
    float decay, step; /* 1 - lr*wd and lr/(1-b1^t), formed on the host as the CPU does */
} DevSpan;

static DevSpan *g_spans_dev;
static int g_spans_cap;
static DevSpan *g_spans_host;

/* copies the table, returns the total element count */
static size_t upload_spans(const AdamSpan *spans, int nspans, double bc1) {
    if (nspans > g_spans_cap) {
        int cap = nspans < 64 ? 64 : nspans;
        if (g_spans_dev) {
            CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
            CUDA_CHECK(cudaFree(g_spans_dev));
        }
        CUDA_CHECK(cudaMalloc(&g_spans_dev, (size_t)cap * sizeof(DevSpan)));
        free(g_spans_host);
        g_spans_host = (DevSpan *)malloc((size_t)cap * sizeof(DevSpan));
        if (!g_spans_host) {
            fprintf(stderr, "mtbert cuda: out of host memory for the span table\n");
            abort();
        }
        g_spans_cap = cap;
    }
    size_t total = 0;
    for (int s = 0; s < nspans; s++) {
        g_spans_host[s].offset = spans[s].offset;
        g_spans_host[s].count = spans[s].count;
        g_spans_host[s].start = total;
        float lr = spans[s].lr;
        g_spans_host[s].decay = 1.0f - lr * spans[s].weight_decay;
        g_spans_host[s].step = (float)(lr / bc1);
        total += spans[s].count;
    }
    /* the host table is rewritten on the next call: wait for the copy */
    CUDA_CHECK(cudaMemcpyAsync(g_spans_dev, g_spans_host, (size_t)nspans * sizeof(DevSpan),
                               cudaMemcpyHostToDevice, cuda_stream()));
    CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
    return total;
}

__device__ __forceinline__ int find_span(const DevSpan *sp, int nspans, size_t i) {
    int lo = 0, hi = nspans - 1;
    while (lo < hi) { /* last span with start <= i */
        int mid = (lo + hi + 1) >> 1;
        if (sp[mid].start <= i)
            lo = mid;
        else
            hi = mid - 1;
    }
    return lo;
}

/* torch.optim.AdamW step order, as cpu_adamw.c */
__global__ void adamw_kernel(float *params, const float *grads, float *m, float *v,
                             const DevSpan *sp, int nspans, size_t total, float beta1,
                             float beta2, float eps, float bc2_sqrt) {
    float omb1 = 1.0f - beta1, omb2 = 1.0f - beta2;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int s = find_span(sp, nspans, i);
        size_t j = sp[s].offset + (i - sp[s].start);
        float decay = sp[s].decay, step = sp[s].step;
        float g = grads[j];
        float mi = m[j] + omb1 * (g - m[j]);
        float vi = beta2 * v[j] + omb2 * g * g;
        m[j] = mi;
        v[j] = vi;
        float denom = sqrtf(vi) / bc2_sqrt + eps;
        params[j] = params[j] * decay - step * mi / denom;
    }
}

void cuda_adamw_update(float *params, const float *grads, float *m, float *v,
                       const AdamSpan *spans, int nspans, float beta1, float beta2, float eps,
                       int t) {
    if (nspans <= 0) return;
    double bc1 = 1.0 - pow((double)beta1, (double)t);
    double bc2 = 1.0 - pow((double)beta2, (double)t);
    size_t total = upload_spans(spans, nspans, bc1);
    if (!total) return;
    float bc2_sqrt = (float)sqrt(bc2);
    adamw_kernel<<<cuda_blocks(total, 256), 256, 0, cuda_stream()>>>(
        params, grads, m, v, g_spans_dev, nspans, total, beta1, beta2, eps, bc2_sqrt);
    CUDA_LAUNCH_CHECK();
}

#define SUMSQ_THREADS 256
#define SUMSQ_BLOCKS 512

/* fixed grid, per-block fp64 partials, a fixed-order final pass: the same
 * bits on every run */
__global__ void sumsq_partial_kernel(double *partial, const float *x, const DevSpan *sp,
                                     int nspans, size_t total) {
    __shared__ double sh[SUMSQ_THREADS];
    double acc = 0.0;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x) {
        int s = find_span(sp, nspans, i);
        double g = (double)x[sp[s].offset + (i - sp[s].start)];
        acc += g * g;
    }
    sh[threadIdx.x] = acc;
    __syncthreads();
    for (int w = SUMSQ_THREADS / 2; w > 0; w >>= 1) {
        if (threadIdx.x < w) sh[threadIdx.x] += sh[threadIdx.x + w];
        __syncthreads();
    }
    if (threadIdx.x == 0) partial[blockIdx.x] = sh[0];
}

__global__ void sumsq_final_kernel(double *out, const double *partial, int n) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    double s = 0.0;
    for (int i = 0; i < n; i++) s += partial[i];
    *out = s;
}

double cuda_sumsq(const float *x, const AdamSpan *spans, int nspans) {
    if (nspans <= 0) return 0.0;
    size_t total = upload_spans(spans, nspans, 1.0);
    if (!total) return 0.0;
    double *partial = (double *)cuda_scratch((SUMSQ_BLOCKS + 1) * sizeof(double));
    sumsq_partial_kernel<<<SUMSQ_BLOCKS, SUMSQ_THREADS, 0, cuda_stream()>>>(
        partial + 1, x, g_spans_dev, nspans, total);
    CUDA_LAUNCH_CHECK();
    sumsq_final_kernel<<<1, 32, 0, cuda_stream()>>>(partial, partial + 1, SUMSQ_BLOCKS);
    CUDA_LAUNCH_CHECK();
    double r = 0.0;
    cuda_to_host(&r, partial, sizeof(double));
    return r;
}
