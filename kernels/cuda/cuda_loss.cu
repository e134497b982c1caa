/* cuda_loss.cu — softmax cross-entropy with ignore index -100 (any target
 * outside [0,V) counts as unlabelled: loss 0, no gradient, as on the CPU). */
#include "cuda_common.cuh"

/* one warp per row */
__global__ void crossentropy_forward_kernel(float *losses, float *probs, const float *logits,
                                            const int *targets, int N, int V) {
    int n = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x & 31;
    if (n >= N) return;
    const float *x = logits + (size_t)n * V;
    float *pr = probs + (size_t)n * V;
    float mx = -INFINITY;
    for (int k = lane; k < V; k += 32) mx = fmaxf(mx, x[k]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int k = lane; k < V; k += 32) {
        float e = expf(x[k] - mx);
        pr[k] = e;
        sum += e;
    }
    sum = warp_sum(sum);
    float inv = 1.0f / sum;
    for (int k = lane; k < V; k += 32) pr[k] *= inv;
    if (lane == 0) {
        int t = targets[n];
        losses[n] = (t >= 0 && t < V) ? logf(sum) + mx - x[t] : 0.0f;
    }
}

__global__ void crossentropy_backward_kernel(float *dlogits, const float *probs,
                                             const int *targets, int N, int V, float scale) {
    int n = blockIdx.y;
    int t = targets[n];
    if (t < 0 || t >= V) return;
    for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < V; k += gridDim.x * blockDim.x) {
        size_t i = (size_t)n * V + k;
        float d = dlogits[i] + scale * probs[i];
        if (k == t) d -= scale; /* two steps, as the CPU */
        dlogits[i] = d;
    }
}

void cuda_crossentropy_forward(float *losses, float *probs, const float *logits,
                               const int *targets, int N, int V) {
    if (N <= 0 || V <= 0) return;
    crossentropy_forward_kernel<<<(N + 7) / 8, 256, 0, cuda_stream()>>>(losses, probs, logits,
                                                                        targets, N, V);
    CUDA_LAUNCH_CHECK();
}

void cuda_crossentropy_backward(float *dlogits, const float *probs, const int *targets, int N,
                                int V, float scale) {
    if (!dlogits || N <= 0 || V <= 0) return;
    int bx = (V + 255) / 256;
    if (bx > 64) bx = 64;
    /* rows on y: N is at most 65535 per launch there, so launch in slices */
    for (int n0 = 0; n0 < N; n0 += 65535) {
        int rows = N - n0 < 65535 ? N - n0 : 65535;
        dim3 grid(bx, rows);
        crossentropy_backward_kernel<<<grid, 256, 0, cuda_stream()>>>(
            dlogits + (size_t)n0 * V, probs + (size_t)n0 * V, targets + n0, rows, V, scale);
        CUDA_LAUNCH_CHECK();
    }
}
