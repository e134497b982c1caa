/* cuda_matmul.cu — the linear layer on cuBLASLt (PyTorch weight layout).
 *
 * Row-major (N,C) @ (OC,C)^T is, read column-major, D(OC,N) = W^T-op *
 * X: transa = T on the (C,OC) column-major view of w, transb = N on the
 * (C,N) view of inp. Backward:
 *   dinp (C,N)cm += W(C,OC)cm  * dout(OC,N)cm      (N, N)
 *   dw   (C,OC)cm += inp(C,N)cm * dout(OC,N)cm^T   (N, T)
 *   dbias += column sums of dout (deterministic two-stage kernel)
 *
 * Precision: fp32 in, fp32 compute (CUBLAS_COMPUTE_32F: no TF32 unless
 * MTBERT_CUDA_TF32=1 is set in the environment). The bf16 variants convert
 * both operands to bf16 in scratch and run the tensor cores with fp32
 * accumulation and fp32 output.
 *
 * Plans (descriptors + the heuristic's algorithm) are cached per shape,
 * transpose, type and pointer alignment: the same algorithm on every step
 * keeps results bit-identical run to run. The cache holds LT_CACHE plans
 * and evicts the least recently used one when a new shape needs room
 * (kernels/plan_cache.c keeps the keys and the recency order; it is
 * compiled into this file as static functions, see plan_cache.h). An
 * evicted plan's descriptors are destroyed at once, without a stream
 * synchronise: they are host objects that cublasLtMatmul reads while it
 * enqueues the kernel, not afterwards (PyTorch, for one, creates and
 * destroys Lt descriptors around every call the same way). */
#include <cuda_bf16.h>
#include <string.h>

#include "cuda_common.cuh"

#define PLAN_CACHE_STATIC
#include "kernels/plan_cache.c"

typedef struct {
    int transa, transb, m, n, k, lda, ldb, ldd, bf16, bias, tf32;
    unsigned align_a, align_b, align_d;
} LtKey;

typedef struct {
    LtKey key;
    int ok; /* heuristic found an algorithm */
    cublasLtMatmulDesc_t desc;
    cublasLtMatrixLayout_t la, lb, ld;
    cublasLtMatmulAlgo_t algo;
} LtPlan;

/* ~15 plans per distinct B*T (forward and backward of every linear layer) */
#define LT_CACHE 256
static PlanCache *g_plans;

static unsigned ptr_align(const void *p) {
    uintptr_t a = (uintptr_t)p;
    unsigned al = 256;
    while (al > 4 && (a % al) != 0) al >>= 1;
    return al;
}

static int tf32_enabled(void) {
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("MTBERT_CUDA_TF32");
        v = e && *e && strcmp(e, "0") != 0;
    }
    return v;
}

static void plan_build(LtPlan *p) {
    cudaDataType_t ab = p->key.bf16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasComputeType_t ct =
        (!p->key.bf16 && p->key.tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p->desc, ct, CUDA_R_32F));
    cublasOperation_t ta = p->key.transa ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = p->key.transb ? CUBLAS_OP_T : CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    cublasLtEpilogue_t epi = p->key.bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
    if (p->key.bias) {
        cudaDataType_t bt = CUDA_R_32F;
        CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)));
    }
    /* stored shapes (column-major) of A and B before the op */
    int ar = p->key.transa ? p->key.k : p->key.m, ac = p->key.transa ? p->key.m : p->key.k;
    int br = p->key.transb ? p->key.n : p->key.k, bc = p->key.transb ? p->key.k : p->key.n;
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->la, ab, ar, ac, p->key.lda));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->lb, ab, br, bc, p->key.ldb));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p->ld, CUDA_R_32F, p->key.m, p->key.n, p->key.ldd));

    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws_bytes = 0;
    cuda_lt_workspace(&ws_bytes);
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &ws_bytes, sizeof(ws_bytes)));
    uint32_t a = p->key.align_a, b = p->key.align_b, d = p->key.align_d;
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &a, sizeof(a)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &b, sizeof(b)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &d, sizeof(d)));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &d, sizeof(d)));
    cublasLtMatmulHeuristicResult_t res;
    int nres = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(cuda_cublaslt(), p->desc, p->la, p->lb,
                                                       p->ld, p->ld, pref, 1, &res, &nres);
    CUBLAS_CHECK(cublasLtMatmulPreferenceDestroy(pref));
    p->ok = st == CUBLAS_STATUS_SUCCESS && nres > 0;
    if (p->ok) p->algo = res.algo;
}

static void plan_destroy(LtPlan *p) {
    cublasLtMatrixLayoutDestroy(p->la);
    cublasLtMatrixLayoutDestroy(p->lb);
    cublasLtMatrixLayoutDestroy(p->ld);
    cublasLtMatmulDescDestroy(p->desc);
}

static void plan_release(void *value, void *ctx) {
    (void)ctx;
    LtPlan *p = (LtPlan *)value;
    plan_destroy(p);
    free(p);
}

/* the cached plan for key, built on a miss (evicting the least recent) */
static LtPlan *plan_get(const LtKey *key) {
    if (!g_plans) {
        g_plans = plan_cache_create(LT_CACHE, sizeof(LtKey), plan_release, NULL);
        if (!g_plans) {
            fprintf(stderr, "mtbert cuda: out of host memory for the GEMM plan cache\n");
            abort();
        }
    }
    LtPlan *p = (LtPlan *)plan_cache_find(g_plans, key);
    if (p) return p;
    p = (LtPlan *)calloc(1, sizeof(LtPlan));
    if (!p) {
        fprintf(stderr, "mtbert cuda: out of host memory for a GEMM plan\n");
        abort();
    }
    p->key = *key;
    plan_build(p);
    if (plan_cache_insert(g_plans, key, p) < 0) { /* cannot happen: it was a miss */
        fprintf(stderr, "mtbert cuda: internal: GEMM plan inserted twice\n");
        abort();
    }
    return p;
}

/* out rows = bias (for the non-epilogue path): d(OC,N)cm column j = bias */
__global__ void bias_fill_kernel(float *out, const float *bias, size_t total, int OC) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < total;
         i += (size_t)gridDim.x * blockDim.x)
        out[i] = bias[i % OC];
}

/* D(m,n) = op(A) op(B) + beta*D (+ bias(m) when bias != NULL), column-major */
static void gemm(int transa, int transb, int m, int n, int k, const void *A, int lda,
                 const void *Bm, int ldb, float *D, int ldd, float beta, const float *bias,
                 int bf16) {
    cudaStream_t s = cuda_stream();
    if (bias && (ptr_align(bias) < 16 || beta != 0.0f)) {
        /* the epilogue wants an aligned vector: fill D with the bias, accumulate */
        size_t total = (size_t)m * n;
        if (ldd != m) {
            fprintf(stderr, "mtbert cuda: internal: bias fill needs a packed output\n");
            abort();
        }
        bias_fill_kernel<<<cuda_blocks(total, 256), 256, 0, s>>>(D, bias, total, m);
        CUDA_LAUNCH_CHECK();
        bias = NULL;
        beta = 1.0f;
    }
    LtKey key;
    memset(&key, 0, sizeof(key)); /* the cache compares keys byte for byte */
    key.transa = transa;
    key.transb = transb;
    key.m = m;
    key.n = n;
    key.k = k;
    key.lda = lda;
    key.ldb = ldb;
    key.ldd = ldd;
    key.bf16 = bf16;
    key.bias = bias != NULL;
    key.tf32 = tf32_enabled();
    key.align_a = ptr_align(A);
    key.align_b = ptr_align(Bm);
    key.align_d = ptr_align(D);
    LtPlan *p = plan_get(&key);
    float alpha = 1.0f;
    if (p->ok) {
        if (bias)
            CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                        &bias, sizeof(bias)));
        size_t ws_bytes = 0;
        void *ws = cuda_lt_workspace(&ws_bytes);
        CUBLAS_CHECK(cublasLtMatmul(cuda_cublaslt(), p->desc, &alpha, A, p->la, Bm, p->lb, &beta,
                                    D, p->ld, D, p->ld, &p->algo, ws, ws_bytes, s));
        CUDA_DEBUG_SYNC();
    } else {
        /* no Lt algorithm for this case: plain cuBLAS, bias added first */
        if (bias) {
            size_t total = (size_t)m * n;
            bias_fill_kernel<<<cuda_blocks(total, 256), 256, 0, s>>>(D, bias, total, m);
            CUDA_LAUNCH_CHECK();
            beta = 1.0f;
        }
        cudaDataType_t ab = bf16 ? CUDA_R_16BF : CUDA_R_32F;
        cublasComputeType_t ct =
            (!bf16 && key.tf32) ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
        CUBLAS_CHECK(cublasGemmEx(cuda_cublas(), transa ? CUBLAS_OP_T : CUBLAS_OP_N,
                                  transb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, A, ab, lda,
                                  Bm, ab, ldb, &beta, D, CUDA_R_32F, ldd, ct,
                                  CUBLAS_GEMM_DEFAULT));
        CUDA_DEBUG_SYNC();
    }
}

// inp (N,C), w (OC,C), bias (OC) or NULL -> out (N,OC)
void cuda_matmul_forward(float *out, const float *inp, const float *w, const float *bias, int N,
                         int C, int OC) {
    if (N <= 0 || OC <= 0) return;
    if (C <= 0) {
        if (bias) {
            size_t total = (size_t)N * OC;
            bias_fill_kernel<<<cuda_blocks(total, 256), 256, 0, cuda_stream()>>>(out, bias, total, OC);
            CUDA_LAUNCH_CHECK();
        } else {
            cuda_zero(out, sizeof(float) * (size_t)N * OC);
        }
        return;
    }
    gemm(1, 0, OC, N, C, w, C, inp, C, out, OC, 0.0f, bias, 0);
}

// dout (N,OC) -> dinp (N,C) +=, dw (OC,C) +=, dbias (OC) +=
void cuda_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                          const float *inp, const float *w, int N, int C, int OC) {
    if (N <= 0 || OC <= 0 || C <= 0) return;
    if (dinp) gemm(0, 0, C, N, OC, w, C, dout, OC, dinp, C, 1.0f, NULL, 0);
    if (dw) gemm(0, 1, C, OC, N, inp, C, dout, OC, dw, C, 1.0f, NULL, 0);
    if (dbias) cuda_colsum_add(dbias, dout, N, OC);
}

/* matmul then GELU (two launches on the stream: cuBLAS's GELU epilogue
 * would be the fused form; NEVER RUN, docs/cuda.md) */
void cuda_matmul_gelu_forward(float *pre, float *out, const float *inp, const float *w,
                              const float *bias, int N, int C, int OC, int kind) {
    if (N <= 0 || OC <= 0) return;
    cuda_matmul_forward(pre, inp, w, bias, N, C, OC);
    cuda_gelu_forward(out, pre, (size_t)N * OC, kind);
}

/* ---- bf16 tensor-core variants ---- */

__global__ void to_bf16_kernel(__nv_bfloat16 *dst, const float *src, size_t n) {
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

static void to_bf16(__nv_bfloat16 *dst, const float *src, size_t n) {
    to_bf16_kernel<<<cuda_blocks(n, 256), 256, 0, cuda_stream()>>>(dst, src, n);
    CUDA_LAUNCH_CHECK();
}

static size_t bf16_bytes(size_t n) { return (n * sizeof(__nv_bfloat16) + 255) / 256 * 256; }

void cuda_matmul_forward_bf16(float *out, const float *inp, const float *w, const float *bias,
                              int N, int C, int OC) {
    if (N <= 0 || OC <= 0 || C <= 0) {
        cuda_matmul_forward(out, inp, w, bias, N, C, OC);
        return;
    }
    size_t ni = (size_t)N * C, nw = (size_t)OC * C;
    char *sc = (char *)cuda_scratch(bf16_bytes(ni) + bf16_bytes(nw));
    __nv_bfloat16 *xi = (__nv_bfloat16 *)sc, *xw = (__nv_bfloat16 *)(sc + bf16_bytes(ni));
    to_bf16(xi, inp, ni);
    to_bf16(xw, w, nw);
    gemm(1, 0, OC, N, C, xw, C, xi, C, out, OC, 0.0f, bias, 1);
}

void cuda_matmul_backward_bf16(float *dinp, float *dw, float *dbias, const float *dout,
                               const float *inp, const float *w, int N, int C, int OC) {
    if (N <= 0 || OC <= 0 || C <= 0) return;
    /* the bias gradient stays fp32 (and uses scratch itself: do it first) */
    if (dbias) cuda_colsum_add(dbias, dout, N, OC);
    if (!dinp && !dw) return;
    size_t nd = (size_t)N * OC, ni = (size_t)N * C, nw = (size_t)OC * C;
    size_t bytes = bf16_bytes(nd) + (dinp ? bf16_bytes(nw) : 0) + (dw ? bf16_bytes(ni) : 0);
    char *sc = (char *)cuda_scratch(bytes);
    __nv_bfloat16 *xd = (__nv_bfloat16 *)sc;
    sc += bf16_bytes(nd);
    to_bf16(xd, dout, nd);
    if (dinp) {
        __nv_bfloat16 *xw = (__nv_bfloat16 *)sc;
        sc += bf16_bytes(nw);
        to_bf16(xw, w, nw);
        gemm(0, 0, C, N, OC, xw, C, xd, OC, dinp, C, 1.0f, NULL, 1);
    }
    if (dw) {
        __nv_bfloat16 *xi = (__nv_bfloat16 *)sc;
        to_bf16(xi, inp, ni);
        gemm(0, 1, C, OC, N, xi, C, xd, OC, dw, C, 1.0f, NULL, 1);
    }
}

void cuda_matmul_gelu_forward_bf16(float *pre, float *out, const float *inp, const float *w,
                                   const float *bias, int N, int C, int OC, int kind) {
    if (N <= 0 || OC <= 0) return;
    cuda_matmul_forward_bf16(pre, inp, w, bias, N, C, OC);
    cuda_gelu_forward(out, pre, (size_t)N * OC, kind);
}
