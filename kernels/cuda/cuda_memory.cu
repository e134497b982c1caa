/* cuda_memory.cu — device memory, the backend's stream and library handles,
 * and the grow-only scratch buffer. */
#include <string.h>

#include "cuda_common.cuh"

/* The backend's state: created on first use, kept for the process. */
static cudaStream_t g_stream;
static cublasHandle_t g_cublas;
static cublasLtHandle_t g_cublaslt;
static void *g_lt_ws;
static size_t g_lt_ws_bytes;
static void *g_scratch;
static size_t g_scratch_bytes;
static int g_sms;
static int g_ready;

/* 32 MiB: what NVIDIA recommends for cuBLASLt on Hopper. */
#define LT_WORKSPACE_BYTES ((size_t)32 << 20)

int cuda_debug_sync(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("MTBERT_CUDA_SYNC");
        v = e && *e && strcmp(e, "0") != 0;
        if (v)
            fprintf(stderr, "mtbert cuda: MTBERT_CUDA_SYNC=1: the device is synchronised after "
                            "every kernel launch (slow; for locating faults)\n");
    }
    return v;
}

static void cuda_init(void) {
    if (g_ready) return;
    cuda_debug_sync(); /* read the switch (and say so) before the first launch */
    int dev = 0;
    CUDA_CHECK(cudaGetDevice(&dev));
    CUDA_CHECK(cudaDeviceGetAttribute(&g_sms, cudaDevAttrMultiProcessorCount, dev));
    /* a blocking stream: it stays ordered with work other modules put on
     * the legacy default stream (e.g. a plain cudaMemcpy) */
    CUDA_CHECK(cudaStreamCreate(&g_stream));
    CUBLAS_CHECK(cublasCreate(&g_cublas));
    CUBLAS_CHECK(cublasSetStream(g_cublas, g_stream));
    /* no TF32 behind our back in the fallback path */
    CUBLAS_CHECK(cublasSetMathMode(g_cublas, CUBLAS_DEFAULT_MATH));
    CUBLAS_CHECK(cublasLtCreate(&g_cublaslt));
    g_lt_ws_bytes = LT_WORKSPACE_BYTES;
    CUDA_CHECK(cudaMalloc(&g_lt_ws, g_lt_ws_bytes));
    /* a fixed workspace keeps cuBLAS results run-to-run identical */
    CUBLAS_CHECK(cublasSetWorkspace(g_cublas, g_lt_ws, g_lt_ws_bytes));
    g_ready = 1;
}

cudaStream_t cuda_stream(void) {
    cuda_init();
    return g_stream;
}
cublasHandle_t cuda_cublas(void) {
    cuda_init();
    return g_cublas;
}
cublasLtHandle_t cuda_cublaslt(void) {
    cuda_init();
    return g_cublaslt;
}
void *cuda_lt_workspace(size_t *bytes) {
    cuda_init();
    *bytes = g_lt_ws_bytes;
    return g_lt_ws;
}
int cuda_num_sms(void) {
    cuda_init();
    return g_sms > 0 ? g_sms : 1;
}

void *cuda_scratch(size_t bytes) {
    cuda_init();
    if (bytes <= g_scratch_bytes && g_scratch) return g_scratch;
    /* grow by at least 1.5x so that a slowly rising demand settles fast */
    size_t want = g_scratch_bytes + g_scratch_bytes / 2;
    if (want < bytes) want = bytes;
    want = (want + 255) / 256 * 256;
    if (g_scratch) {
        /* kernels still queued may be reading the old buffer */
        CUDA_CHECK(cudaStreamSynchronize(g_stream));
        CUDA_CHECK(cudaFree(g_scratch));
        g_scratch = NULL;
        g_scratch_bytes = 0;
    }
    cudaError_t e = cudaMalloc(&g_scratch, want);
    if (e != cudaSuccess) {
        size_t fr = 0, tot = 0;
        cudaGetLastError();
        cudaMemGetInfo(&fr, &tot);
        fprintf(stderr, "mtbert cuda: scratch of %zu bytes failed (%s); %zu of %zu bytes free\n",
                want, cudaGetErrorString(e), fr, tot);
        abort();
    }
    g_scratch_bytes = want;
    return g_scratch;
}

void *cuda_alloc(size_t bytes) {
    cuda_init();
    void *p = NULL;
    size_t n = bytes ? bytes : 256; /* a unique, freeable pointer even for 0 bytes */
    cudaError_t e = cudaMalloc(&p, n);
    if (e != cudaSuccess) {
        size_t fr = 0, tot = 0;
        cudaGetLastError(); /* clear the sticky-free error state */
        cudaMemGetInfo(&fr, &tot);
        fprintf(stderr,
                "mtbert cuda: cudaMalloc of %zu bytes failed (%s); the device has %zu of %zu "
                "bytes free\n",
                bytes, cudaGetErrorString(e), fr, tot);
        return NULL;
    }
    CUDA_CHECK(cudaMemsetAsync(p, 0, n, g_stream));
    CUDA_CHECK(cudaStreamSynchronize(g_stream));
    return p;
}

void cuda_free(void *p) {
    if (!p) return;
    CUDA_CHECK(cudaStreamSynchronize(cuda_stream()));
    CUDA_CHECK(cudaFree(p));
}

/* Transfers are stream-ordered after every queued kernel and synchronous
 * for the caller (the host buffer may be reused at once). */
void cuda_to_device(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    cudaStream_t s = cuda_stream();
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}

void cuda_to_host(void *dst, const void *src, size_t bytes) {
    if (!bytes) return;
    cudaStream_t s = cuda_stream();
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
    CUDA_CHECK(cudaStreamSynchronize(s));
}

void cuda_copy(void *dst, const void *src, size_t bytes) {
    if (!bytes || dst == src) return;
    CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cuda_stream()));
}

void cuda_zero(void *p, size_t bytes) {
    if (!bytes) return;
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, cuda_stream()));
}

void cuda_synchronize(void) { CUDA_CHECK(cudaStreamSynchronize(cuda_stream())); }

/* the GPU backend does no CPU-side parallel work */
void cuda_set_threads(int n) { (void)n; }
