// backend_cuda: the BackendOps table on an NVIDIA GPU, with cuDNN for the
// convolutions (forward, backward-data, backward-filter, bias, ReLU) and the
// max-pool's forward pass, cuBLAS for the dense layers, and kernels/ for the
// rest. Built as libsiamese_cuda.so (see cuda.mk) and loaded by backend.c
// with dlopen, so the program itself never links a CUDA library.
//
// Design points:
//  - One compute stream. Every operation is queued on it and returns at
//    once; only download, synchronize and fence_wait wait. Uploads go
//    through two pinned staging buffers, so the host returns as soon as its
//    bytes are staged. A batch of bytes in page-locked memory (host_alloc:
//    the trainer's loader slots) skips the staging: it crosses on a second
//    stream, beside the previous step's work, into one of two device byte
//    buffers, and the conversion on the compute stream waits for it.
//    download_async and the fences let the trainer read a step's loss while
//    the next step runs.
//  - Tensors are NHWC, as the model's buffers; cuDNN runs NHWC natively.
//  - Kernel layout. Keras's conv kernels are (3,3,C,K), cuDNN's NHWC
//    filters (K,3,3,C): the same (9C,K) matrix, transposed. The model's
//    parameter-shaped buffers (alloc_params: parameters, gradients,
//    optimizer slots) keep their conv kernels in cuDNN's layout, the only
//    copy there is: uploads and downloads of those buffers transpose the
//    kernels on the way (a table of such buffers and their kernels,
//    looked up by address), the convolutions read w and write dw as they
//    are, and the optimizers are element-wise. So no copy can go stale, and
//    a step transposes nothing. A kernel in any other memory (the parity
//    tests' buffers) is transposed into scratch at each use.
//    SIAMESE_CUDA_KERNELS=keras keeps every buffer in Keras's layout (the
//    kernels transposed at each use), to time the difference.
//  - Convolution algorithms are chosen once per shape (N,H,W,C,K) by timing
//    the candidates (cudnnFind...Ex) on the real buffers within a bounded
//    workspace, SIAMESE_CUDA_WORKSPACE_MB (default 256); the forward pass of
//    one pair by timing the graph API's engine configurations instead
//    (ConvApi below, engine/cudnn_graph.c). A convolution of fewer input
//    channels than cuDNN's tensor-core kernels take (VGG16's RGB layer)
//    runs on copies padded with zero channels ("narrow inputs" below;
//    SIAMESE_CUDA_PAD=off convolves it as it is).
//  - Element-wise backward work, ours. A conv's ReLU mask and bias
//    gradient are one pass (kernels/relu_bias_grad.cu): cuDNN's bias
//    reduction over NHWC took 7.9 of a VGG16 step's 16.4 ms on an H200
//    (tests/gpu/check.sh, 2026-11-30), the fused pass 0.8 ms, and training
//    ran 1.96x as fast. A training max-pool keeps each window's maximum in
//    its forward pass and routes the gradient from it (kernels/maxpool.cu;
//    1.03x, and the same first-maximum rule as the CPU's, which the
//    backward pass then follows without looking at the values again).
//    A pool's backward pass also masks by the ReLU of the conv layer before
//    it and sums that layer's bias gradient, over the windows (backend.h:
//    maxpool2_relu_backward), so the five convs before a pool skip their
//    pass over the full-size output (in the profile of 2026-11-30: 0.34 ms
//    of bias grad and 0.42 ms of pool bwd in a 7.7 ms VGG16 step, of which
//    block1's alone 0.17 + 0.22 ms; the fused pass moves about 240 MB
//    there, some 0.05 ms at the H200's 4.8 TB/s). That fusion is the
//    default on reasoning, not on a measurement: it has not run on a GPU
//    yet (its kernel was checked on the host, index by index), and is the
//    default so that the next run's headline figures are the ones it would
//    be kept for, with the way before (SIAMESE_CUDA_POOL=argmax) timed
//    beside them.
//    SIAMESE_CUDA_POOL=argmax, SIAMESE_CUDA_BIAS_GRAD=cudnn (a ReLU pass,
//    kernels/relu_backward.cu, then cuDNN's reduction) and
//    SIAMESE_CUDA_POOL=cudnn (cuDNN's forward pass, and a backward pass
//    that finds each window's first maximum again, kernels/
//    maxpool_backward.cu) bring the old ways back, for tests/gpu/check.sh
//    to time; the description names the switches that are not the default.
//  - Precision (backend.h, set by --precision): FP32 is plain FMA
//    arithmetic in cuDNN and cuBLAS, the numbers the CPU reference gives (a
//    backend opens in it). TF32, PyTorch's default and the program's, lets
//    cuDNN's convolutions use TF32 tensor cores while cuBLAS's dense
//    products stay FP32. NVIDIA_TF32_OVERRIDE=0 forces FP32 in the libraries
//    whatever is asked, so backend_set_precision then sets FP32 here
//    (backend_precision_effective): what is recorded is what is computed.
//  - Mixed precision (set_precision BF16: `siamese train --precision bf16`), as
//    PyTorch's autocast does it. With float32 activations (SIAMESE_CUDA_ACTS=f32,
//    the only way until 2026-12-01), each convolution and dense call rounds its
//    operands to bfloat16 copies (kernels/float_to_bf16.cu; conv kernels on
//    their way into cuDNN's layout) and multiplies them with float32
//    accumulation: cuDNN's pseudo-bfloat16 configuration (x, w, y bfloat16,
//    compute type FLOAT, tensor-op math) for the three passes, and
//    cublasGemmEx with bfloat16 inputs, a float32 output and
//    CUBLAS_COMPUTE_32F. cuDNN's bfloat16 results come back to float32 with
//    the bias and ReLU on the way (kernels/bf16_to_float.cu); bias
//    gradients are summed from the float32 output gradients. So parameters,
//    gradients, optimizer state and every other operation stay float32.
//    The copies live in scratch buffers grown to the largest layer: once a
//    step has run, nothing is allocated. A shape and pass for which cuDNN
//    has no bfloat16 algorithm (the search says so, once) runs in FP32.
//  - bfloat16 activations (under BF16, unless SIAMESE_CUDA_ACTS=f32;
//    backend.h: BackendActType): the backbone's activations and their gradients stay
//    bfloat16 from layer to layer, as autocast keeps them. cuDNN's
//    bfloat16 passes read and write them where they are, the bias and ReLU
//    follow in place (kernels/bias_relu.cu), and the ReLU mask with the
//    bias gradient, the max-pool and its gradient run on them (kernels/
//    element.cuh: one kernel for both storages; our max-pool then in every
//    case, cuDNN's bias reduction never). So a layer converts only its
//    kernel (to bfloat16) and its filter gradient (back to float32). In
//    the profile of 2026-11-30 (H200, VGG16, batch 32) conversions took
//    2.56 of a bf16 step's 6.9 ms, and the element-wise passes 1.4 ms in
//    float32. The default on reasoning, as the fused pool above: it has not
//    run on a GPU yet (its model side is checked exactly on the CPU,
//    tests/test_act_bf16.c, and its parity harness against an emulation,
//    tests/act_emu.h); SIAMESE_CUDA_ACTS=f32 brings back the float32
//    activations of the mixed precision described above, which a run of
//    tests/gpu/check.sh did check and time, for the next one to compare.
//  - cuDNN's legacy (descriptor) API: deprecated in cuDNN 9 but complete, and
//    far shorter than the graph API for fixed 3x3 convolutions.
//  - Failures: opening returns -1 with an Err (so --device auto can fall back
//    to the CPU); in an operation (each starts with CUDA_OP) a failed call
//    ends the operation and is recorded in the Backend with file, line, the
//    call and a hint (kernels/check.h, backend.h "Failures"): out of memory
//    (cudaMalloc, cuDNN's or cuBLAS's own allocations, a tensor or workspace
//    too large) leaves the device usable, anything else is a fault.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/channels.h"
#include "../kernels/check.h"
#include "../kernels/kernels.h"
#include "backend.h"
#include "cudnn_graph.h"
#ifdef SIAMESE_NCCL
#include "comm_nccl.h"
#endif
#include "profile.h"
#include "text.h"

#define PLAN_MAX 64                 // conv shapes remembered (VGG16 has 13 per batch size)
#define PARAM_BUFFERS_MAX 64        // parameter-shaped buffers (alloc_params) at a time
#define STAGE_BYTES (16u << 20)     // each of the two pinned upload buffers
#define DEFAULT_WORKSPACE_MB 256

// cuDNN and cuBLAS failures, reported like the CUDA runtime's (check.h).
#define CUDNN_CHECK(call)                                                                     \
    do {                                                                                      \
        cudnnStatus_t s_ = (call);                                                            \
        if (s_ != CUDNN_STATUS_SUCCESS) cudnn_fail(__FILE__, __LINE__, #call, s_);            \
    } while (0)
#define CUBLAS_CHECK(call)                                                                    \
    do {                                                                                      \
        cublasStatus_t s_ = (call);                                                           \
        if (s_ != CUBLAS_STATUS_SUCCESS)                                                      \
            cuda_fail(__FILE__, __LINE__, s_ == CUBLAS_STATUS_ALLOC_FAILED, #call,            \
                      cublas_hint(s_), "%s", cublasGetStatusString(s_));                      \
    } while (0)

// The same three at open time: fill e and jump to the cleanup.
#define OPEN_CUDA(call)                                                                       \
    do {                                                                                      \
        cudaError_t s_ = (call);                                                              \
        if (s_ != cudaSuccess) {                                                              \
            open_error(e, __FILE__, __LINE__, #call, cudaGetErrorString(s_),                  \
                       cuda_error_hint(s_));                                                  \
            goto fail;                                                                        \
        }                                                                                     \
    } while (0)
#define OPEN_CUDNN(call)                                                                      \
    do {                                                                                      \
        cudnnStatus_t s_ = (call);                                                            \
        if (s_ != CUDNN_STATUS_SUCCESS) {                                                     \
            open_error(e, __FILE__, __LINE__, #call, cudnnGetErrorString(s_), cudnn_hint(s_)); \
            goto fail;                                                                        \
        }                                                                                     \
    } while (0)
#define OPEN_CUBLAS(call)                                                                     \
    do {                                                                                      \
        cublasStatus_t s_ = (call);                                                           \
        if (s_ != CUBLAS_STATUS_SUCCESS) {                                                    \
            open_error(e, __FILE__, __LINE__, #call, cublasGetStatusString(s_),               \
                       cublas_hint(s_));                                                      \
            goto fail;                                                                        \
        }                                                                                     \
    } while (0)

// The three passes of a convolution, each with its own algorithm.
typedef enum ConvPass { PASS_FORWARD, PASS_BACKWARD_DATA, PASS_BACKWARD_FILTER } ConvPass;

// Which cuDNN API runs a convolution pass (SIAMESE_CUDA_CONV): by default
// (auto) the graph API's autotuned plan for the float forward pass of at
// most GRAPH_FORWARD_MAX_N images, the legacy API for everything else. On
// an H200 (tests/gpu/check.sh, 2026-11-30) the graph API ran VGG16's
// forward pass for one pair (2 images) 2.2x as fast as the legacy API's
// fused convolution+bias+ReLU (2853 against 1279 pairs/s), and batches of
// 64 pairs at 0.83x (its plans are convolution only: the bias and ReLU take
// a pass of their own), training at 0.96x.
typedef enum ConvApi { CONV_AUTO, CONV_FIND, CONV_GRAPH } ConvApi;
#define GRAPH_FORWARD_MAX_N 2

// How the max-pool runs in training (SIAMESE_CUDA_POOL; see pooling below):
// ours keeping each window's maximum, with the backward pass fused with the
// ReLU mask and bias gradient of the conv layer before it (fused:
// maxpool2_relu_backward, the default), the same without that fusion
// (argmax), or cuDNN's forward pass (cudnn).
typedef enum PoolWay { POOL_FUSED, POOL_ARGMAX, POOL_CUDNN } PoolWay;

// One convolution shape and data type: its descriptors and the algorithms
// found for it (each pass searched on first use: inference never searches
// backward).
typedef struct ConvPlan {
    int N, H, W, C, K;
    cudnnDataType_t type;                // of x, w and y: FLOAT, or BFLOAT16 (computed in FLOAT)
    int tf32;                            // FLOAT: TF32 tensor cores allowed (a search of its own)
    cudnnTensorDescriptor_t x, y, bias;  // (N,H,W,C), (N,H,W,K), (1,K,1,1)
    cudnnFilterDescriptor_t w;           // (K,3,3,C)
    cudnnConvolutionDescriptor_t conv;
    int found[3];  // by ConvPass: 0 not searched yet, 1 found, -1 none (BFLOAT16 only: FP32 runs)
    int algo[3];             // the cudnnConvolution{Fwd,BwdData,BwdFilter}Algo_t chosen
    cudnnMathType_t math[3];
    int fused;  // cudnnConvolutionBiasActivationForward accepts the forward algorithm
    // graph_wanted (ConvApi): each pass's plan from the graph API, made at
    // its first aligned use; graph_none[pass]: the API had none (the legacy
    // API runs the pass).
    GraphConv *graph[3];
    int graph_none[3];
} ConvPlan;

// A buffer of alloc_params whose conv kernels are in cuDNN's layout.
typedef struct ParamBuffer {
    char *p;  // device; NULL: the slot is free
    BackendParamLayout layout;
} ParamBuffer;

// A device buffer grown to the largest size asked of it, then kept: the
// first training step sizes it, later ones allocate nothing.
typedef struct Scratch {
    void *p;
    size_t bytes;
} Scratch;

typedef struct CudaImpl {
    Backend *be;                 // the Backend this is the state of (for profile_piece)
    int device;
    BackendPrecision precision;  // of conv3x3 and dense (set_precision)
    cudaStream_t stream;
    cudnnHandle_t cudnn;
    cublasHandle_t cublas;
    cudnnActivationDescriptor_t relu;
    cudnnPoolingDescriptor_t pool;
    cudnnTensorDescriptor_t pool_in, pool_out;
    ConvPlan plans[PLAN_MAX];
    int n_plans;
    int plan_reuse;      // the slot a new shape takes once all are used
    ParamBuffer params[PARAM_BUFFERS_MAX];  // alloc_params' buffers (kernels in cuDNN's layout)
    BackendOps ops;      // cuda_ops, less the optional operations the switches leave out
    // Switches (the environment, read at open; see the top): 0 = the default way.
    int keras_kernels;    // SIAMESE_CUDA_KERNELS=keras: no buffer keeps cuDNN's layout
    int cudnn_bias_grad;  // SIAMESE_CUDA_BIAS_GRAD=cudnn
    PoolWay pool_way;     // SIAMESE_CUDA_POOL=fused|argmax|cudnn
    ConvApi conv_api;     // SIAMESE_CUDA_CONV=auto|find|graph
    int float_acts;       // SIAMESE_CUDA_ACTS=f32: float32 activations under BF16
    int pad_off;          // SIAMESE_CUDA_PAD=off: narrow inputs convolved as they are
    void *ws;            // cuDNN workspace of ws_bytes, allocated at the first search
    size_t ws_bytes;     // SIAMESE_CUDA_WORKSPACE_MB
    Scratch dw_krsc;     // a filter gradient in cuDNN's layout (float32 or bfloat16)
    Scratch w_krsc;      // a kernel made into cuDNN's layout for one use (kernel_krsc)
    Scratch partial;     // relu_bias_grad's partial sums
    Scratch xfer;        // a download of a parameter buffer, its kernels made Keras's
    // BF16 precision: the bfloat16 copies of one operation's input, output
    // or output gradient, input gradient, and dense kernel.
    Scratch bf16_x, bf16_y, bf16_dx, bf16_w;
    // bfloat16 activations: float32 copies of an input (or input gradient),
    // output and output gradient for a pass cuDNN has no bfloat16 algorithm for.
    Scratch f32_x, f32_y, f32_dy;
    // Narrow inputs (padded_channels): an input and an input gradient, a
    // kernel and a filter gradient with their channels padded.
    Scratch pad_x, pad_dx, pad_w, pad_dw;
    unsigned char *stage[2];      // pinned host staging buffers
    cudaEvent_t stage_free[2];    // recorded after the copy that reads stage[i]
    int stage_next;
    // upload_u8: two device buffers of STAGE_BYTES for the bytes of a chunk,
    // used in turn; u8_free[i] is recorded after the conversion that read
    // u8[i], u8_copied[i] after the copy (on `copy`) that wrote it.
    unsigned char *u8[2];
    cudaEvent_t u8_free[2], u8_copied[2];
    int u8_next;
    cudaStream_t copy;            // host-to-device copies of page-locked batches
    cudaEvent_t fence[BACKEND_FENCES];
    cudaEvent_t *marks;           // profiling timestamps (timer_mark), n_marks of cap_marks
    int n_marks, cap_marks;
#ifdef SIAMESE_NCCL
    NcclComm *comm;               // data-parallel training: the other ranks' GPUs
#endif
} CudaImpl;

static const float ONE = 1.0f, ZERO = 0.0f;

// ---- errors --------------------------------------------------------------------

static const char *cudnn_hint(cudnnStatus_t s) {
    switch (s) {
    case CUDNN_STATUS_NOT_INITIALIZED:
    case CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED:
        return "cuDNN 9 could not load or initialise: its sub-libraries (libcudnn_*.so.9) must "
               "sit beside libcudnn.so.9 or on LD_LIBRARY_PATH, and the driver must support "
               "this CUDA version";
    case CUDNN_STATUS_ALLOC_FAILED:
        return "the GPU is out of memory: use a smaller batch size";
    case CUDNN_STATUS_NOT_SUPPORTED:
        return "cuDNN has no algorithm for this shape on this GPU: this is a bug in siamese "
               "(please report the shape)";
    case CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH:
        return "mixed cuDNN versions are on the library path: keep one cuDNN 9 installation "
               "first on LD_LIBRARY_PATH";
    case CUDNN_STATUS_ARCH_MISMATCH:
        return "this cuDNN does not support this GPU";
    default:
        return "";
    }
}

static const char *cublas_hint(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
        return "cuBLAS could not initialise: check the driver and that libcublas.so.13 and "
               "libcublasLt.so.13 come from the same CUDA release";
    case CUBLAS_STATUS_ALLOC_FAILED:
        return "the GPU is out of memory: use a smaller batch size";
    case CUBLAS_STATUS_ARCH_MISMATCH:
        return "this cuBLAS does not support this GPU";
    default:
        return "";
    }
}

__attribute__((noreturn)) static void cudnn_fail(const char *file, int line, const char *call,
                                                 cudnnStatus_t s) {
    char detail[512] = "";
    cudnnGetLastErrorString(detail, sizeof detail);
    cuda_fail(file, line, s == CUDNN_STATUS_ALLOC_FAILED, call, cudnn_hint(s), "%s%s%s",
              cudnnGetErrorString(s),
              detail[0] ? ": " : "", detail);
}

static void open_error(Err *e, const char *file, int line, const char *call, const char *what,
                       const char *hint) {
    err_set(e, "cannot open the CUDA backend: %s failed (%s:%d): %s%s%s", call, file, line, what,
            hint && *hint ? "; " : "", hint ? hint : "");
}

// ---- plumbing ------------------------------------------------------------------

static CudaImpl *impl_of(Backend *b) {
    CudaImpl *c = (CudaImpl *)b->impl;
    // Operations may come from another host thread than the one that opened
    // the backend; the current device is per thread.
    CUDA_CHECK(cudaSetDevice(c->device));
    return c;
}

// The first line of every operation but alloc, free and destroy: nothing
// runs once the backend has failed, and a failed check below ends the
// operation (backend.h: BACKEND_OP). c is the backend's state.
#define CUDA_OP(b, c)                                                                         \
    BACKEND_OP(b);                                                                            \
    CudaImpl *c = impl_of(b)

// The operation in progress now does `name` (profile.h: "forward", "dgrad",
// "wgrad", "bias grad", "bias+relu", "convert"), for profiles.
#define PIECE(c, name) profile_piece((c)->be, name)

// cuDNN's descriptors take int sizes; the model's tensors stay far below.
static void require_int_sized(const char *op, size_t elements) {
    if (elements > INT_MAX)
        cuda_fail(__FILE__, __LINE__, 1, op, "use a smaller batch size",
                  "a tensor of %zu elements is too large for cuDNN (at most %d)", elements,
                  INT_MAX);
}

static void set_nhwc(cudnnTensorDescriptor_t d, cudnnDataType_t type, int N, int H, int W, int C) {
    CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NHWC, type, N, C, H, W));
}

// s's buffer with at least `bytes` (grown, its old contents dropped, when
// smaller: cudaFree waits for the work that used it).
static void *scratch(Scratch *s, size_t bytes) {
    if (bytes > s->bytes) {
        if (s->p) CUDA_CHECK(cudaFree(s->p));
        s->p = NULL;
        s->bytes = 0;
        CUDA_CHECK(cudaMalloc(&s->p, bytes));
        s->bytes = bytes;
    }
    return s->p;
}

// src (n floats) rounded to bfloat16 into s.
static const uint16_t *to_bf16(CudaImpl *c, Scratch *s, const float *src, size_t n) {
    uint16_t *dst = scratch(s, n * sizeof(uint16_t));
    kernel_float_to_bf16(c->stream, dst, src, n);
    return dst;
}

// src (n bfloat16 values) as float32 in s.
static float *to_f32(CudaImpl *c, Scratch *s, const void *src, size_t n) {
    float *dst = scratch(s, n * sizeof(float));
    kernel_bf16_to_float(c->stream, dst, src, NULL, n, 1, 0);
    return dst;
}

// The kernels' name for the activations' storage (backend.h: act).
static KernelType act_type(const Backend *b) {
    return b->act == BACKEND_ACT_BF16 ? KERNEL_BF16 : KERNEL_F32;
}

// Bytes of one activation element stored as t.
static size_t act_bytes(KernelType t) { return t == KERNEL_BF16 ? sizeof(uint16_t) : sizeof(float); }

// ---- memory --------------------------------------------------------------------

static void *cuda_alloc(Backend *b, size_t bytes) {
    BACKEND_OP(b, NULL);
    CudaImpl *c = impl_of(b);
    void *p = NULL;
    if (cudaMalloc(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();  // out of memory is reported by returning NULL
        return NULL;
    }
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, c->stream));
    return p;
}

// The kernels of the alloc_params buffers that the bytes [p, p+bytes) cover
// (a transfer must cover a kernel whole or not at all: cutting one is a
// bug): kernel i starts at *at[i], (K,3,3,C) on the device. Returns their
// number, at most n.
typedef struct CoveredKernel {
    char *at;
    int C, K;
} CoveredKernel;
static int covered_kernels(CudaImpl *c, const void *p, size_t bytes, CoveredKernel *out, int n) {
    const char *lo = (const char *)p, *hi = lo + bytes;
    int found = 0;
    for (int i = 0; i < PARAM_BUFFERS_MAX; i++) {
        const ParamBuffer *pb = &c->params[i];
        if (!pb->p || hi <= pb->p || lo >= pb->p + pb->layout.floats * sizeof(float)) continue;
        for (int v = 0; v < pb->layout.n_views; v++) {
            const BackendKernelView *kv = &pb->layout.views[v];
            char *k = pb->p + kv->off * sizeof(float);
            const char *kend = k + 9 * sizeof(float) * kv->C * kv->K;
            if (kend <= lo || k >= hi) continue;
            if (k < lo || kend > hi || found == n)
                cuda_fail(__FILE__, __LINE__, 0, "a parameter transfer",
                          "this is a bug in siamese",
                          "bytes %zu to %zu of a parameter buffer cut its (3,3,%d,%d) kernel",
                          (size_t)(lo - pb->p), (size_t)(hi - pb->p), kv->C, kv->K);
            out[found++] = (CoveredKernel){k, kv->C, kv->K};
        }
    }
    return found;
}

// A parameter-shaped buffer (backend.h) whose kernels this backend keeps in
// cuDNN's layout: registered, so that every later use finds its layout by
// address (kernel_home, covered_kernels).
static void *cuda_alloc_params(Backend *b, const BackendParamLayout *layout) {
    BACKEND_OP(b, NULL);
    CudaImpl *c = impl_of(b);
    ParamBuffer *slot = NULL;
    for (int i = 0; i < PARAM_BUFFERS_MAX && !slot && !c->keras_kernels; i++)
        if (!c->params[i].p) slot = &c->params[i];
    if (!c->keras_kernels && !slot)
        cuda_fail(__FILE__, __LINE__, 0, "alloc_params", "this is a bug in siamese",
                  "more than %d parameter buffers at a time", PARAM_BUFFERS_MAX);
    void *p = cuda_alloc(b, layout->floats * sizeof(float));
    if (p && slot) *slot = (ParamBuffer){p, *layout};
    return p;
}

// Runs after a failure too, and ignores errors, as destroy does: a fault
// is already recorded, and the next operation reports a new one.
static void cuda_free(Backend *b, void *p) {
    CudaImpl *c = (CudaImpl *)b->impl;
    if (!p) return;
    for (int i = 0; i < PARAM_BUFFERS_MAX; i++)
        if (c->params[i].p == p) c->params[i].p = NULL;
    if (cudaSetDevice(c->device) != cudaSuccess || cudaFree(p) != cudaSuccess)
        (void)cudaGetLastError();  // not left for a later launch check to find
}

static void cuda_zero(Backend *b, void *p, size_t bytes) {
    CUDA_OP(b, c);
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, c->stream));
}

// Host bytes -> pinned staging -> device, a chunk at a time, alternating the
// two staging buffers: a buffer is refilled only once the copy that read it
// has finished (its event), and the call returns once everything is staged.
static void stage_to_device(CudaImpl *c, void *dst, const void *src, size_t bytes) {
    const char *s = src;
    char *d = dst;
    while (bytes) {
        size_t n = bytes < STAGE_BYTES ? bytes : STAGE_BYTES;
        int k = c->stage_next;
        c->stage_next ^= 1;
        CUDA_CHECK(cudaEventSynchronize(c->stage_free[k]));
        memcpy(c->stage[k], s, n);
        CUDA_CHECK(cudaMemcpyAsync(d, c->stage[k], n, cudaMemcpyHostToDevice, c->stream));
        CUDA_CHECK(cudaEventRecord(c->stage_free[k], c->stream));
        s += n;
        d += n;
        bytes -= n;
    }
}

// Memory from cudaMallocHost (host_alloc), which a copy engine reads directly.
static int page_locked(const void *p) {
    struct cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        cudaGetLastError();  // plain memory on older runtimes: not an error
        return 0;
    }
    return a.type == cudaMemoryTypeHost;
}

#define KERNELS_MAX (BACKEND_KERNEL_VIEWS_MAX * 4)

// Whether the compute stream has nothing queued.
static int stream_idle(CudaImpl *c) {
    cudaError_t s = cudaStreamQuery(c->stream);
    if (s == cudaErrorNotReady) {
        (void)cudaGetLastError();  // not an error: work is queued
        return 0;
    }
    CUDA_CHECK(s);
    return 1;
}

// Into an alloc_params buffer the bytes arrive in Keras's layout; each
// kernel they cover is then transposed into cuDNN's, through scratch. From
// page-locked memory (host_alloc) on an idle device (inference: a batch
// starts once the last one's answers are read) the copy engine reads the
// bytes where they are, without the staging buffers' host copy, and the
// call waits for that copy alone. (A batch of 64 VGG16 pairs is 17 MB of
// floats; on the H200, 2026-11-30, such a batch took 4.6 ms, about 1 ms
// more than its compute: the staging copy's share is not measured yet.) With work queued (a
// training pipeline) waiting would stall the host behind the device: the
// bytes are staged as from any memory.
static void cuda_upload(Backend *b, void *dst, const void *host_src, size_t bytes) {
    CUDA_OP(b, c);
    if (bytes && page_locked(host_src) && stream_idle(c)) {
        CUDA_CHECK(cudaMemcpyAsync(dst, host_src, bytes, cudaMemcpyHostToDevice, c->stream));
        CUDA_CHECK(cudaStreamSynchronize(c->stream));
    } else {
        stage_to_device(c, dst, host_src, bytes);
    }
    CoveredKernel k[KERNELS_MAX];
    const int n = covered_kernels(c, dst, bytes, k, KERNELS_MAX);
    for (int i = 0; i < n; i++) {
        const size_t floats = 9 * (size_t)k[i].C * k[i].K;
        float *t = scratch(&c->w_krsc, floats * sizeof(float));
        kernel_transpose(c->stream, t, (const float *)k[i].at, 9 * k[i].C, k[i].K);
        CUDA_CHECK(cudaMemcpyAsync(k[i].at, t, floats * sizeof(float), cudaMemcpyDeviceToDevice,
                                   c->stream));
    }
}

// The device bytes [src, src+bytes) as the caller sees them: src itself, or
// when they cover kernels of an alloc_params buffer a copy in scratch with
// those kernels transposed back into Keras's layout.
static const void *keras_view(CudaImpl *c, const void *src, size_t bytes) {
    CoveredKernel k[KERNELS_MAX];
    const int n = covered_kernels(c, src, bytes, k, KERNELS_MAX);
    if (!n) return src;
    char *t = scratch(&c->xfer, bytes);
    CUDA_CHECK(cudaMemcpyAsync(t, src, bytes, cudaMemcpyDeviceToDevice, c->stream));
    for (int i = 0; i < n; i++)
        kernel_transpose(c->stream, (float *)(t + (k[i].at - (const char *)src)),
                         (const float *)k[i].at, k[i].K, 9 * k[i].C);  // (K,9C) -> (9C,K)
    return t;
}

// The batch as bytes: a quarter of the traffic of floats, converted on the
// GPU. From page-locked memory the copy runs on the copy stream, so it
// overlaps whatever the compute stream still has queued, and returns once
// the bytes have crossed (the caller may then reuse them).
static void cuda_upload_u8(Backend *b, float *dst, const uint8_t *host_src, size_t n, int invert) {
    CUDA_OP(b, c);
    const int direct = page_locked(host_src);
    int last = 0;
    for (size_t done = 0; done < n; done += STAGE_BYTES) {
        size_t chunk = n - done < STAGE_BYTES ? n - done : STAGE_BYTES;
        const int k = last = c->u8_next;
        c->u8_next ^= 1;
        if (direct) {
            // u8[k] is rewritten once the conversion that last read it is done.
            CUDA_CHECK(cudaStreamWaitEvent(c->copy, c->u8_free[k], 0));
            CUDA_CHECK(cudaMemcpyAsync(c->u8[k], host_src + done, chunk, cudaMemcpyHostToDevice,
                                       c->copy));
            CUDA_CHECK(cudaEventRecord(c->u8_copied[k], c->copy));
            CUDA_CHECK(cudaStreamWaitEvent(c->stream, c->u8_copied[k], 0));
        } else {
            // Staged on the compute stream, after the conversion that read u8[k].
            stage_to_device(c, c->u8[k], host_src + done, chunk);
        }
        kernel_u8_to_float(c->stream, dst + done, c->u8[k], chunk, invert);
        CUDA_CHECK(cudaEventRecord(c->u8_free[k], c->stream));
    }
    // The copies are in order on their stream: the last one done, all are.
    if (direct && n) CUDA_CHECK(cudaEventSynchronize(c->u8_copied[last]));
}

static void cuda_download(Backend *b, void *host_dst, const void *src, size_t bytes) {
    CUDA_OP(b, c);
    src = keras_view(c, src, bytes);
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void cuda_synchronize(Backend *b) {
    CUDA_OP(b, c);
    CUDA_CHECK(cudaStreamSynchronize(c->stream));
}

static void *cuda_host_alloc(Backend *b, size_t bytes) {
    BACKEND_OP(b, NULL);
    (void)impl_of(b);  // this thread's device
    void *p = NULL;
    if (cudaMallocHost(&p, bytes ? bytes : 1) != cudaSuccess) {
        cudaGetLastError();  // reported by returning NULL, as alloc
        return NULL;
    }
    return p;
}

// As cuda_free: after a failure too, errors ignored.
static void cuda_host_free(Backend *b, void *p) {
    CudaImpl *c = (CudaImpl *)b->impl;
    if (!p) return;
    if (cudaSetDevice(c->device) != cudaSuccess || cudaFreeHost(p) != cudaSuccess)
        (void)cudaGetLastError();
}

// host_dst must be page-locked (host_alloc): a copy into plain memory would
// wait for the stream.
static void cuda_download_async(Backend *b, void *host_dst, const void *src, size_t bytes) {
    CUDA_OP(b, c);
    src = keras_view(c, src, bytes);
    CUDA_CHECK(cudaMemcpyAsync(host_dst, src, bytes, cudaMemcpyDeviceToHost, c->stream));
}

static void cuda_fence_record(Backend *b, int i) {
    CUDA_OP(b, c);
    CUDA_CHECK(cudaEventRecord(c->fence[i], c->stream));
}

// A fault in the work before the fence shows here.
static void cuda_fence_wait(Backend *b, int i) {
    CUDA_OP(b, c);
    CUDA_CHECK(cudaEventSynchronize(c->fence[i]));
}

// ---- profiling timers (not operations: errors are ignored, the mark lost) ----------

// Events with timing, created as needed and kept: a profiled step records a
// few hundred.
static int cuda_timer_mark(Backend *b) {
    CudaImpl *c = (CudaImpl *)b->impl;
    if (cudaSetDevice(c->device) != cudaSuccess) goto lost;
    if (c->n_marks == c->cap_marks) {
        int cap = c->cap_marks ? 2 * c->cap_marks : 1024;
        cudaEvent_t *m = realloc(c->marks, cap * sizeof *m);
        if (!m) return -1;
        c->marks = m;
        for (int i = c->cap_marks; i < cap; i++) c->marks[i] = NULL;
        c->cap_marks = cap;
    }
    cudaEvent_t *ev = &c->marks[c->n_marks];
    if (!*ev && cudaEventCreate(ev) != cudaSuccess) goto lost;
    if (cudaEventRecord(*ev, c->stream) != cudaSuccess) goto lost;
    return c->n_marks++;
lost:
    (void)cudaGetLastError();
    return -1;
}

static double cuda_timer_ms(Backend *b, int from, int to) {
    CudaImpl *c = (CudaImpl *)b->impl;
    float ms = 0;
    if (cudaEventElapsedTime(&ms, c->marks[from], c->marks[to]) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return ms;
}

static void cuda_timer_reset(Backend *b) { ((CudaImpl *)b->impl)->n_marks = 0; }

// Teardown ignores errors: after a device fault every call fails, and the
// process is about to report that fault anyway.
static void cuda_destroy(Backend *b) {
    CudaImpl *c = (CudaImpl *)b->impl;
    if (c) {
        (void)cudaSetDevice(c->device);
#ifdef SIAMESE_NCCL
        // Still joined: a failure skipped leaving, and a sum may never end.
        nccl_comm_leave(c->comm, 1);
#endif
        if (c->stream) (void)cudaStreamSynchronize(c->stream);
        for (int i = 0; i < c->n_plans; i++) {
            ConvPlan *p = &c->plans[i];
            cudnnDestroyTensorDescriptor(p->x);
            cudnnDestroyTensorDescriptor(p->y);
            cudnnDestroyTensorDescriptor(p->bias);
            cudnnDestroyFilterDescriptor(p->w);
            cudnnDestroyConvolutionDescriptor(p->conv);
            for (int k = 0; k < 3; k++) graph_conv_free(p->graph[k]);
        }
        (void)cudaFree(c->ws);
        Scratch *scratches[] = {&c->dw_krsc, &c->w_krsc,  &c->partial, &c->xfer,
                                &c->bf16_x,  &c->bf16_y,  &c->bf16_dx, &c->bf16_w,
                                &c->f32_x,   &c->f32_y,   &c->f32_dy, &c->pad_x,
                                &c->pad_dx,  &c->pad_w,   &c->pad_dw};
        for (size_t i = 0; i < sizeof scratches / sizeof *scratches; i++)
            (void)cudaFree(scratches[i]->p);
        for (int i = 0; i < 2; i++) {
            (void)cudaFree(c->u8[i]);
            if (c->stage[i]) (void)cudaFreeHost(c->stage[i]);
            cudaEvent_t events[] = {c->stage_free[i], c->u8_free[i], c->u8_copied[i]};
            for (int k = 0; k < 3; k++)
                if (events[k]) (void)cudaEventDestroy(events[k]);
        }
        for (int i = 0; i < BACKEND_FENCES; i++)
            if (c->fence[i]) (void)cudaEventDestroy(c->fence[i]);
        for (int i = 0; i < c->cap_marks; i++)
            if (c->marks[i]) (void)cudaEventDestroy(c->marks[i]);
        free(c->marks);
        if (c->copy) (void)cudaStreamDestroy(c->copy);
        if (c->relu) cudnnDestroyActivationDescriptor(c->relu);
        if (c->pool) cudnnDestroyPoolingDescriptor(c->pool);
        if (c->pool_in) cudnnDestroyTensorDescriptor(c->pool_in);
        if (c->pool_out) cudnnDestroyTensorDescriptor(c->pool_out);
        if (c->cudnn) cudnnDestroy(c->cudnn);
        if (c->cublas) cublasDestroy(c->cublas);
        if (c->stream) (void)cudaStreamDestroy(c->stream);
        free(c);
    }
    free(b);
}

// ---- convolution -----------------------------------------------------------------

// The plan of a shape and data type, made on first use (FLOAT plans are
// per math too: TF32 allowed or not). When the table is full the slots are
// reused in turn (a long-running process changing batch sizes), so a plan
// pointer is used before the next conv_plan call.
static ConvPlan *conv_plan(CudaImpl *c, int N, int H, int W, int C, int K, cudnnDataType_t type) {
    // A FLOAT pass under BF16 (cuDNN without a bfloat16 algorithm for it)
    // may use TF32, as autocast's float convolutions do.
    const int tf32 = type == CUDNN_DATA_FLOAT && c->precision != BACKEND_FP32;
    for (int i = 0; i < c->n_plans; i++) {
        ConvPlan *p = &c->plans[i];
        if (p->N == N && p->H == H && p->W == W && p->C == C && p->K == K && p->type == type &&
            p->tf32 == tf32)
            return p;
    }
    ConvPlan *p;
    if (c->n_plans < PLAN_MAX) {
        p = &c->plans[c->n_plans++];
        CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
        CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
        CUDNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
        CUDNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
        CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    } else {
        p = &c->plans[c->plan_reuse];
        c->plan_reuse = (c->plan_reuse + 1) % PLAN_MAX;
    }
    p->N = N, p->H = H, p->W = W, p->C = C, p->K = K, p->type = type, p->tf32 = tf32;
    memset(p->found, 0, sizeof p->found);
    for (int i = 0; i < 3; i++) {  // (a reused slot's plans were another shape's)
        graph_conv_free(p->graph[i]);
        p->graph[i] = NULL;
        p->graph_none[i] = 0;
    }
    p->fused = type == CUDNN_DATA_FLOAT;
    set_nhwc(p->x, type, N, H, W, C);
    set_nhwc(p->y, type, N, H, W, K);
    set_nhwc(p->bias, type, 1, 1, 1, K);
    CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w, type, CUDNN_TENSOR_NHWC, K, C, 3, 3));
    // Keras's Conv2D is a cross-correlation; 'same' for 3x3 is a padding of 1.
    // Products are accumulated in FLOAT for both data types (bfloat16: cuDNN's
    // pseudo-bfloat16 configuration).
    CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, 1, 1, 1, 1, 1, 1, CUDNN_CROSS_CORRELATION,
                                                CUDNN_DATA_FLOAT));
    int on, ok, oh, ow;
    CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &on, &ok, &oh, &ow));
    if (on != N || ok != K || oh != H || ow != W)
        cuda_fail(__FILE__, __LINE__, 0, "conv3x3 plan", "this is a bug in siamese",
                  "cuDNN gives (%d,%d,%d,%d) for a 'same' convolution of (%d,%d,%d,%d) to %d",
                  on, oh, ow, ok, N, H, W, C, K);
    return p;
}

// The bounded workspace, allocated in full before the first search so the
// search can time every algorithm that fits.
static void workspace_ready(CudaImpl *c) {
    if (!c->ws && c->ws_bytes) CUDA_CHECK(cudaMalloc(&c->ws, c->ws_bytes));
}

// Math a search may consider, and the math a found algorithm then runs with:
// bfloat16 runs on tensor cores; float32 with TF32 off is FMA only,
// whatever cuDNN reports for the algorithm.
static cudnnMathType_t search_math(const ConvPlan *p) {
    if (p->type == CUDNN_DATA_BFLOAT16) return CUDNN_TENSOR_OP_MATH;
    return p->tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
}
static cudnnMathType_t run_math(const ConvPlan *p, cudnnMathType_t found) {
    return p->tf32 || p->type == CUDNN_DATA_BFLOAT16 ? found : CUDNN_FMA_MATH;
}
// A search result we take: it ran, fits the workspace, and never converts
// the data down to FP16.
static int usable(const CudaImpl *c, cudnnStatus_t status, size_t memory, cudnnMathType_t math) {
    return status == CUDNN_STATUS_SUCCESS && memory <= c->ws_bytes &&
           math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// One pass's result of a search, whatever the pass.
typedef struct AlgoPerf {
    int algo;
    cudnnStatus_t status;
    size_t memory;
    cudnnMathType_t math;
} AlgoPerf;

#define ALGO_MAX 16  // above every CUDNN_CONVOLUTION_*_ALGO_COUNT
#define COPY_PERF(out, r, n)                                                               \
    for (int i_ = 0; i_ < (n); i_++)                                                       \
    (out)[i_] = (AlgoPerf){(int)(r)[i_].algo, (r)[i_].status, (r)[i_].memory, (r)[i_].mathType}

static const char *const PASS_NAMES[3] = {"forward", "backward-data", "backward-filter"};

// Chooses the algorithm of one pass for plan p: cuDNN times every candidate
// on the real buffers (the ...Ex searches; their outputs are recomputed
// right after) within the bounded workspace, and the fastest usable one is
// taken. Should a search fail, cuDNN's heuristics rank the candidates
// instead. The buffers, in p's data type, are (x, w, y) forward, (w, dy, dx)
// backward-data and (x, dy, dw) backward-filter, w always in cuDNN's
// layout. No usable algorithm is fatal in FLOAT; in BFLOAT16 the pass is
// marked (found = -1) and runs in FLOAT from then on.
static void find_algorithm(CudaImpl *c, ConvPlan *p, ConvPass pass, const void *a, const void *b,
                           void *out) {
    AlgoPerf perf[ALGO_MAX];
    int n = 0;
    cudnnStatus_t s;
    workspace_ready(c);
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, search_math(p)));
    if (pass == PASS_FORWARD) {
        cudnnConvolutionFwdAlgoPerf_t r[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
        s = cudnnFindConvolutionForwardAlgorithmEx(c->cudnn, p->x, a, p->w, b, p->conv, p->y, out,
                                                   CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, r, c->ws,
                                                   c->ws_bytes);
        if (s != CUDNN_STATUS_SUCCESS)
            s = cudnnGetConvolutionForwardAlgorithm_v7(c->cudnn, p->x, p->w, p->conv, p->y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, r);
        COPY_PERF(perf, r, n);
    } else if (pass == PASS_BACKWARD_DATA) {
        cudnnConvolutionBwdDataAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
        s = cudnnFindConvolutionBackwardDataAlgorithmEx(
            c->cudnn, p->w, a, p->y, b, p->conv, p->x, out, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
            &n, r, c->ws, c->ws_bytes);
        if (s != CUDNN_STATUS_SUCCESS)
            s = cudnnGetConvolutionBackwardDataAlgorithm_v7(
                c->cudnn, p->w, p->y, p->conv, p->x, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, r);
        COPY_PERF(perf, r, n);
    } else {
        cudnnConvolutionBwdFilterAlgoPerf_t r[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
        s = cudnnFindConvolutionBackwardFilterAlgorithmEx(
            c->cudnn, p->x, a, p->y, b, p->conv, p->w, out, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT,
            &n, r, c->ws, c->ws_bytes);
        if (s != CUDNN_STATUS_SUCCESS)
            s = cudnnGetConvolutionBackwardFilterAlgorithm_v7(
                c->cudnn, p->x, p->y, p->conv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n,
                r);
        COPY_PERF(perf, r, n);
    }
    if (s != CUDNN_STATUS_SUCCESS) n = 0;  // neither the search nor the heuristics could rank
    for (int i = 0; i < n; i++)  // sorted fastest first
        if (usable(c, perf[i].status, perf[i].memory, perf[i].math)) {
            p->algo[pass] = perf[i].algo;
            p->math[pass] = run_math(p, perf[i].math);
            p->found[pass] = 1;
            return;
        }
    if (p->type == CUDNN_DATA_BFLOAT16) {
        // Said once per shape and pass (a plan searches once): the pass runs
        // in float32 between conversions from now on, which a profile's
        // "convert" cells then show.
        fprintf(stderr,
                "siamese: cuDNN has no bfloat16 %s algorithm for N=%d H=%d W=%d C=%d K=%d "
                "within a workspace of %zu MiB: that pass runs in float32\n",
                PASS_NAMES[pass], p->N, p->H, p->W, p->C, p->K, c->ws_bytes >> 20);
        p->found[pass] = -1;
        return;
    }
    cuda_fail(__FILE__, __LINE__, 1, "choosing a convolution algorithm",
              "raise SIAMESE_CUDA_WORKSPACE_MB (the workspace cuDNN may use) or lower the batch "
              "size",
              "no cuDNN %s algorithm for N=%d H=%d W=%d C=%d K=%d within a workspace of %zu "
              "MiB%s%s",
              PASS_NAMES[pass], p->N, p->H, p->W, p->C, p->K, c->ws_bytes >> 20,
              s == CUDNN_STATUS_SUCCESS ? "" : "; cuDNN: ",
              s == CUDNN_STATUS_SUCCESS ? "" : cudnnGetErrorString(s));
}

// Whether the graph API runs this pass of plan p (ConvApi).
static int graph_wanted(const CudaImpl *c, const ConvPlan *p, ConvPass pass) {
    if (c->conv_api != CONV_AUTO) return c->conv_api == CONV_GRAPH;
    return pass == PASS_FORWARD && p->type == CUDNN_DATA_FLOAT && p->N <= GRAPH_FORWARD_MAX_N;
}

// Runs one pass of plan p on buffers in its data type, ordered as for
// find_algorithm (which runs on the first call). Returns -1, having run
// nothing, when a BFLOAT16 plan has no algorithm for the pass.
// Where ConvApi wants it, the pass runs the graph API's plan (made,
// autotuned, at the first use whose buffers are aligned for it) where it
// has one, else as below.
static int graph_pass(CudaImpl *c, ConvPlan *p, ConvPass pass, const void *a, const void *b,
                      void *out) {
    const uintptr_t align = (uintptr_t)a | (uintptr_t)b | (uintptr_t)out;
    if (!graph_wanted(c, p, pass) || p->graph_none[pass] || align % GRAPH_ALIGNMENT) return -1;
    if (!p->graph[pass]) {
        char why[256];
        workspace_ready(c);
        p->graph[pass] = graph_conv_build(c->cudnn, c->stream, (int)pass, p->N, p->H, p->W, p->C,
                                          p->K, p->type, p->tf32, c->ws, c->ws_bytes, a, b, out,
                                          why, sizeof why);
        if (!p->graph[pass]) {
            // Said once per shape and pass where the graph API was asked
            // for (a GPU run compares the two APIs); by default the legacy
            // API runs the pass without a word.
            if (c->conv_api == CONV_GRAPH)
                fprintf(stderr,
                        "siamese: cuDNN graph API, %s N=%d H=%d W=%d C=%d K=%d%s: %s; the "
                        "legacy API runs it\n",
                        PASS_NAMES[pass], p->N, p->H, p->W, p->C, p->K,
                        p->type == CUDNN_DATA_BFLOAT16 ? " bf16" : "", why);
            p->graph_none[pass] = 1;
            return -1;
        }
    }
    CUDNN_CHECK(graph_conv_run(c->cudnn, p->graph[pass], a, b, out, c->ws));
    return 0;
}

static int conv_pass(CudaImpl *c, ConvPlan *p, ConvPass pass, const void *a, const void *b,
                     void *out) {
    if (!graph_pass(c, p, pass, a, b, out)) return 0;
    if (!p->found[pass]) find_algorithm(c, p, pass, a, b, out);
    if (p->found[pass] < 0) return -1;
    CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->math[pass]));
    if (pass == PASS_FORWARD)
        CUDNN_CHECK(cudnnConvolutionForward(c->cudnn, &ONE, p->x, a, p->w, b, p->conv,
                                            (cudnnConvolutionFwdAlgo_t)p->algo[pass], c->ws,
                                            c->ws_bytes, &ZERO, p->y, out));
    else if (pass == PASS_BACKWARD_DATA)
        CUDNN_CHECK(cudnnConvolutionBackwardData(c->cudnn, &ONE, p->w, a, p->y, b, p->conv,
                                                 (cudnnConvolutionBwdDataAlgo_t)p->algo[pass],
                                                 c->ws, c->ws_bytes, &ZERO, p->x, out));
    else
        CUDNN_CHECK(cudnnConvolutionBackwardFilter(c->cudnn, &ONE, p->x, a, p->y, b, p->conv,
                                                   (cudnnConvolutionBwdFilterAlgo_t)p->algo[pass],
                                                   c->ws, c->ws_bytes, &ZERO, p->w, out));
    return 0;
}

// The alloc_params buffer holding the conv kernel at w, of C inputs and K
// outputs, or NULL when w is in other memory (then in Keras's layout). An
// address inside such a buffer that is not one of its kernels is a bug.
static const ParamBuffer *kernel_home(CudaImpl *c, const float *w, int C, int K) {
    const char *a = (const char *)w;
    for (int i = 0; i < PARAM_BUFFERS_MAX; i++) {
        const ParamBuffer *pb = &c->params[i];
        if (!pb->p || a < pb->p || a >= pb->p + pb->layout.floats * sizeof(float)) continue;
        for (int v = 0; v < pb->layout.n_views; v++) {
            const BackendKernelView *kv = &pb->layout.views[v];
            if (a == pb->p + kv->off * sizeof(float) && kv->C == C && kv->K == K) return pb;
        }
        cuda_fail(__FILE__, __LINE__, 0, "a conv kernel", "this is a bug in siamese",
                  "a (3,3,%d,%d) kernel at float %zu of a parameter buffer is none of its kernels",
                  C, K, (size_t)(a - pb->p) / sizeof(float));
    }
    return NULL;
}

// The kernel w (3,3,C,K) in cuDNN's layout (K,3,3,C), float32 or (bf16)
// bfloat16: w itself when it is kept so (float32), else made in scratch
// now (transposed and/or rounded); valid until the next kernel_krsc.
static const void *kernel_krsc(CudaImpl *c, const float *w, int C, int K, int bf16) {
    const size_t n = 9 * (size_t)C * K;
    const int kept = kernel_home(c, w, C, K) != NULL;
    if (kept && !bf16) return w;
    void *k = scratch(&c->w_krsc, n * (bf16 ? sizeof(uint16_t) : sizeof(float)));
    if (kept) kernel_float_to_bf16(c->stream, k, w, n);
    else if (bf16) kernel_transpose_to_bf16(c->stream, k, w, 9 * C, K);  // (9C,K) -> (K,9C)
    else kernel_transpose(c->stream, k, w, 9 * C, K);
    return k;
}

// Where a filter gradient for dw (3,3,C,K) goes: dw itself when it is kept
// in cuDNN's layout (float32), else scratch that dw_from_krsc then puts
// into dw.
static void *dw_krsc(CudaImpl *c, float *dw, int C, int K, int bf16) {
    if (!bf16 && kernel_home(c, dw, C, K)) return dw;
    return scratch(&c->dw_krsc, 9 * (size_t)C * K * (bf16 ? sizeof(uint16_t) : sizeof(float)));
}
static void dw_from_krsc(CudaImpl *c, float *dw, const void *krsc, int C, int K, int bf16) {
    if (krsc == dw) return;
    if (kernel_home(c, dw, C, K))  // bfloat16, kept: converted in place of layout
        kernel_bf16_to_float(c->stream, dw, krsc, NULL, K, 9 * C, 0);
    else if (bf16) kernel_transpose_from_bf16(c->stream, dw, krsc, K, 9 * C);  // -> (9C,K)
    else kernel_transpose(c->stream, dw, krsc, K, 9 * C);
}

// The forward pass in float32: out = ReLU(conv(in) + bias), fused in one
// cuDNN call where the algorithm allows.
static void conv_forward_fp32(CudaImpl *c, float *out, const float *in, const float *w,
                              const float *bias, int N, int H, int W, int C, int K, int relu) {
    ConvPlan *p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_FLOAT);
    PIECE(c, "convert");
    const void *wk = kernel_krsc(c, w, C, K, 0);
    PIECE(c, "forward");
    // (the graph API's plans are convolution only)
    if (relu && p->fused && !graph_wanted(c, p, PASS_FORWARD)) {
        if (!p->found[PASS_FORWARD]) find_algorithm(c, p, PASS_FORWARD, in, wk, out);
        // One call; z (= out, scaled by 0) is not used.
        CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv, p->math[PASS_FORWARD]));
        cudnnStatus_t s = cudnnConvolutionBiasActivationForward(
            c->cudnn, &ONE, p->x, in, p->w, wk, p->conv,
            (cudnnConvolutionFwdAlgo_t)p->algo[PASS_FORWARD], c->ws, c->ws_bytes, &ZERO, p->y, out,
            p->bias, bias, c->relu, p->y, out);
        if (s == CUDNN_STATUS_SUCCESS) return;
        // Not every algorithm runs fused (cuDNN documents few limits): take
        // the two steps below from now on. A real fault would show again
        // in them, and be reported there.
        p->fused = 0;
    }
    conv_pass(c, p, PASS_FORWARD, in, wk, out);
    PIECE(c, "bias+relu");
    // out (N*H*W rows, K columns) += bias, then the ReLU: one pass.
    kernel_bias_relu(c->stream, out, bias, N * H * W, K, relu, KERNEL_F32);
}

// The forward pass in bfloat16: in and w rounded, cuDNN's (N,H,W,K)
// bfloat16 result back to float32 with the bias and ReLU. Returns -1,
// having written nothing, where cuDNN has no bfloat16 algorithm for it.
static int conv_forward_bf16(CudaImpl *c, float *out, const float *in, const float *w,
                             const float *bias, int N, int H, int W, int C, int K, int relu) {
    ConvPlan *p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_BFLOAT16);
    if (p->found[PASS_FORWARD] < 0) return -1;
    const size_t pixels = (size_t)N * H * W;
    PIECE(c, "convert");
    const uint16_t *x = to_bf16(c, &c->bf16_x, in, pixels * C);
    const void *wk = kernel_krsc(c, w, C, K, 1);
    uint16_t *y = scratch(&c->bf16_y, pixels * K * sizeof(uint16_t));
    PIECE(c, "forward");
    if (conv_pass(c, p, PASS_FORWARD, x, wk, y)) return -1;
    PIECE(c, "convert");  // with the bias and ReLU on the way
    kernel_bf16_to_float(c->stream, out, y, bias, pixels, K, relu);
    return 0;
}

// The forward pass on bfloat16 activations: cuDNN's bfloat16 convolution
// writes out, then the bias and ReLU in place (rounded to bfloat16 twice,
// after the products and after the bias, where autocast's cuDNN call
// rounds once: a difference within bfloat16's own). Without a bfloat16
// algorithm for the shape, the FP32 pass between float32 copies.
static void conv_forward_act_bf16(CudaImpl *c, void *out, const void *in, const float *w,
                                  const float *bias, int N, int H, int W, int C, int K, int relu) {
    const size_t pixels = (size_t)N * H * W;
    ConvPlan *p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_BFLOAT16);
    if (p->found[PASS_FORWARD] >= 0) {
        PIECE(c, "convert");
        const void *wk = kernel_krsc(c, w, C, K, 1);
        PIECE(c, "forward");
        if (!conv_pass(c, p, PASS_FORWARD, in, wk, out)) {
            PIECE(c, "bias+relu");
            kernel_bias_relu(c->stream, out, bias, (int)pixels, K, relu, KERNEL_BF16);
            return;
        }
    }
    PIECE(c, "convert");
    const float *x = to_f32(c, &c->f32_x, in, pixels * C);
    float *y = scratch(&c->f32_y, pixels * K * sizeof(float));
    conv_forward_fp32(c, y, x, w, bias, N, H, W, C, K, relu);
    PIECE(c, "convert");
    kernel_float_to_bf16(c->stream, out, y, pixels * K);
}

// ---- narrow inputs ---------------------------------------------------------------
// cuDNN's tensor-core kernels (TF32, bfloat16) take a multiple of 8 input
// channels; with fewer it runs slower kernels. VGG16's first layer has 3
// (RGB): in the profile of 2026-11-30 (H200, tf32, 64 images of 105x105)
// its forward pass took 0.27 ms for 2.4 GFLOP, 9 TFLOP/s, where the next
// layer's took 0.22 ms for 52, and its filter gradient 0.21 ms. So a
// convolution whose C is no multiple of CHANNELS_ALIGN (kernels/channels.h)
// runs on copies padded with zero channels: its input, its kernel (then in
// Keras's layout, taken into cuDNN's as any other kernel in other memory),
// and its input gradient, of which the real channels are copied back, as
// they are of the padded filter gradient. Every added product is 0 times a
// number, so the sums are the same numbers (cuDNN may add them in another
// order, as any other algorithm it picks). The copies are small: the input
// of 64 images, 22 MB at 8 channels, against the 180 MB the layer writes.
// Made on reasoning, not yet measured (tests/gpu/check.sh times it against
// SIAMESE_CUDA_PAD=off, which convolves narrow inputs as they are).

// The input channels a convolution of C runs with.
static int padded_channels(const CudaImpl *c, int C) {
    if (c->pad_off || C % CHANNELS_ALIGN == 0) return C;
    return (C + CHANNELS_ALIGN - 1) / CHANNELS_ALIGN * CHANNELS_ALIGN;
}

// The activation x (rows,C) with Cp channels, in scratch s; of type t.
static void *padded_activation(CudaImpl *c, Scratch *s, const void *x, size_t rows, int C, int Cp,
                               KernelType t) {
    require_int_sized("a padded activation", rows * Cp);
    void *xp = scratch(s, rows * Cp * act_bytes(t));
    kernel_copy_channels(c->stream, xp, Cp, x, C, rows, t);
    return xp;
}

static const ParamBuffer *kernel_home(CudaImpl *c, const float *w, int C, int K);

// The kernel w (3,3,C,K), kept in cuDNN's layout or in Keras's, with Cp
// input channels in Keras's layout, in scratch.
static const float *padded_kernel(CudaImpl *c, const float *w, int C, int Cp, int K) {
    float *wp = scratch(&c->pad_w, 9 * (size_t)Cp * K * sizeof(float));
    kernel_kernel_channels(c->stream, wp, Cp, 0, w, C, kernel_home(c, w, C, K) != NULL, K);
    return wp;
}

static void conv_forward(Backend *b, CudaImpl *c, float *out, const float *in, const float *w,
                         const float *bias, int N, int H, int W, int C, int K, int relu);
static void conv_backward(Backend *b, CudaImpl *c, float *din, float *dw, float *dbias,
                          float *dout, const float *y, const float *in, const float *w, int N,
                          int H, int W, int C, int K);

static void cuda_conv3x3_forward(Backend *b, float *out, const float *in, const float *w,
                                 const float *bias, int N, int H, int W, int C, int K, int relu) {
    CUDA_OP(b, c);
    require_int_sized("conv3x3_forward", (size_t)N * H * W * (C > K ? C : K));
    const int Cp = padded_channels(c, C);
    if (Cp == C) {
        conv_forward(b, c, out, in, w, bias, N, H, W, C, K, relu);
        return;
    }
    PIECE(c, "convert");
    conv_forward(b, c, out,
                 padded_activation(c, &c->pad_x, in, (size_t)N * H * W, C, Cp, act_type(b)),
                 padded_kernel(c, w, C, Cp, K), bias, N, H, W, Cp, K, relu);
}

static void cuda_conv3x3_backward(Backend *b, float *din, float *dw, float *dbias, float *dout,
                                  const float *y, const float *in, const float *w, int N, int H,
                                  int W, int C, int K) {
    CUDA_OP(b, c);
    const size_t pixels = (size_t)N * H * W;
    require_int_sized("conv3x3_backward", pixels * (C > K ? C : K));
    const int Cp = padded_channels(c, C);
    if (Cp == C) {
        conv_backward(b, c, din, dw, dbias, dout, y, in, w, N, H, W, C, K);
        return;
    }
    const KernelType t = act_type(b);
    PIECE(c, "convert");
    const void *xp = padded_activation(c, &c->pad_x, in, pixels, C, Cp, t);
    const float *wp = din ? padded_kernel(c, w, C, Cp, K) : NULL;
    float *dwp = scratch(&c->pad_dw, 9 * (size_t)Cp * K * sizeof(float));
    void *dinp = din ? scratch(&c->pad_dx, pixels * Cp * act_bytes(t)) : NULL;
    conv_backward(b, c, dinp, dwp, dbias, dout, y, xp, wp, N, H, W, Cp, K);
    PIECE(c, "convert");
    kernel_kernel_channels(c->stream, dw, C, kernel_home(c, dw, C, K) != NULL, dwp, Cp, 0, K);
    if (din) kernel_copy_channels(c->stream, din, C, dinp, Cp, pixels, t);
}

// The forward pass of conv3x3_forward (backend.h), C as it runs.
static void conv_forward(Backend *b, CudaImpl *c, float *out, const float *in, const float *w,
                         const float *bias, int N, int H, int W, int C, int K, int relu) {
    if (b->act == BACKEND_ACT_BF16) {
        conv_forward_act_bf16(c, out, in, w, bias, N, H, W, C, K, relu);
        return;
    }
    if (c->precision == BACKEND_BF16 && !conv_forward_bf16(c, out, in, w, bias, N, H, W, C, K, relu))
        return;
    conv_forward_fp32(c, out, in, w, bias, N, H, W, C, K, relu);
}

// The filter gradient from bfloat16 copies of in and of the output gradient
// (dy), into dw as float32. Returns -1, having written nothing, where cuDNN
// has no bfloat16 algorithm for it.
static int conv_filter_grad_bf16(CudaImpl *c, float *dw, const uint16_t *dy, const float *in,
                                 int N, int H, int W, int C, int K) {
    ConvPlan *p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_BFLOAT16);
    if (p->found[PASS_BACKWARD_FILTER] < 0) return -1;
    PIECE(c, "convert");
    const uint16_t *x = to_bf16(c, &c->bf16_x, in, (size_t)N * H * W * C);
    void *dwk = dw_krsc(c, dw, C, K, 1);
    PIECE(c, "wgrad");
    if (conv_pass(c, p, PASS_BACKWARD_FILTER, x, dy, dwk)) return -1;
    PIECE(c, "convert");
    dw_from_krsc(c, dw, dwk, C, K, 1);
    return 0;
}

// The input gradient din (N,H,W,C) from bfloat16 copies of w and of the
// output gradient (dy), converted back to float32. Returns -1, having
// written nothing, where cuDNN has no bfloat16 algorithm for it.
static int conv_input_grad_bf16(CudaImpl *c, float *din, const uint16_t *dy, const float *w,
                                int N, int H, int W, int C, int K) {
    ConvPlan *p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_BFLOAT16);
    if (p->found[PASS_BACKWARD_DATA] < 0) return -1;
    const size_t pixels = (size_t)N * H * W;
    PIECE(c, "convert");
    const void *wk = kernel_krsc(c, w, C, K, 1);
    uint16_t *dx = scratch(&c->bf16_dx, pixels * C * sizeof(uint16_t));
    PIECE(c, "dgrad");
    if (conv_pass(c, p, PASS_BACKWARD_DATA, wk, dy, dx)) return -1;
    PIECE(c, "convert");
    kernel_bf16_to_float(c->stream, din, dx, NULL, pixels, C, 0);
    return 0;
}

// dout masked by the ReLU (y) in place and summed into dbias: one pass of
// ours, or (cudnn_bias_grad, float32 activations; p their FLOAT plan) a
// ReLU pass and cuDNN's bias reduction. dout and y of type t. dbias NULL:
// the bias gradient is made already (maxpool2_relu_backward), and with y
// NULL too so is the mask.
static void relu_and_bias_grad(CudaImpl *c, float *dbias, void *dout, const void *y, int rows,
                               int K, ConvPlan *p, KernelType t) {
    if (!dbias && !y) return;
    if (!dbias || !c->cudnn_bias_grad || t != KERNEL_F32) {
        PIECE(c, "bias grad");  // with the ReLU mask
        const size_t parts = (size_t)kernel_relu_bias_grad_parts(rows, K) * K;
        float *partial = scratch(&c->partial, (parts + K) * sizeof(float));
        // (without dbias the sums go to the scratch's end, unread)
        kernel_relu_bias_grad(c->stream, dbias ? dbias : partial + parts, dout, y, rows, K,
                              partial, t);
        return;
    }
    if (y) {
        PIECE(c, "relu bwd");
        kernel_relu_backward(c->stream, dout, dout, y, (size_t)rows * K);
    }
    PIECE(c, "bias grad");
    CUDNN_CHECK(cudnnConvolutionBackwardBias(c->cudnn, &ONE, p->y, dout, &ZERO, p->bias, dbias));
}

// The backward pass on bfloat16 activations: dout masked in place and
// summed into dbias (in float32), then cuDNN's bfloat16 passes read dout
// and in where they are and write din directly; the filter gradient comes
// back to float32. A pass without a bfloat16 algorithm runs in FP32
// between float32 copies (dout's made once for both).
static void conv_backward_act_bf16(CudaImpl *c, void *din, float *dw, float *dbias, void *dout,
                                   const void *y, const void *in, const float *w, int N, int H,
                                   int W, int C, int K) {
    const size_t pixels = (size_t)N * H * W;
    relu_and_bias_grad(c, dbias, dout, y, (int)pixels, K, NULL, KERNEL_BF16);
    const float *dy = NULL;  // dout's float32 copy, when a pass needs one
    ConvPlan *p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_BFLOAT16);
    void *dwk = dw_krsc(c, dw, C, K, 1);
    PIECE(c, "wgrad");
    if (p->found[PASS_BACKWARD_FILTER] >= 0 &&
        !conv_pass(c, p, PASS_BACKWARD_FILTER, in, dout, dwk)) {
        PIECE(c, "convert");
        dw_from_krsc(c, dw, dwk, C, K, 1);
    } else {
        PIECE(c, "convert");
        const float *x = to_f32(c, &c->f32_x, in, pixels * C);
        dy = to_f32(c, &c->f32_dy, dout, pixels * K);
        dwk = dw_krsc(c, dw, C, K, 0);
        p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_FLOAT);
        PIECE(c, "wgrad");
        conv_pass(c, p, PASS_BACKWARD_FILTER, x, dy, dwk);
        PIECE(c, "convert");
        dw_from_krsc(c, dw, dwk, C, K, 0);
    }
    if (!din) return;
    p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_BFLOAT16);
    if (p->found[PASS_BACKWARD_DATA] >= 0) {
        PIECE(c, "convert");
        const void *wk = kernel_krsc(c, w, C, K, 1);
        PIECE(c, "dgrad");
        if (!conv_pass(c, p, PASS_BACKWARD_DATA, wk, dout, din)) return;
    }
    PIECE(c, "convert");
    if (!dy) dy = to_f32(c, &c->f32_dy, dout, pixels * K);
    const void *wk = kernel_krsc(c, w, C, K, 0);
    float *dx = scratch(&c->f32_x, pixels * C * sizeof(float));
    p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_FLOAT);
    PIECE(c, "dgrad");
    conv_pass(c, p, PASS_BACKWARD_DATA, wk, dy, dx);
    PIECE(c, "convert");
    kernel_float_to_bf16(c->stream, din, dx, pixels * C);
}

// The backward pass of conv3x3_backward (backend.h), C as it runs.
static void conv_backward(Backend *b, CudaImpl *c, float *din, float *dw, float *dbias,
                          float *dout, const float *y, const float *in, const float *w, int N,
                          int H, int W, int C, int K) {
    const size_t pixels = (size_t)N * H * W;
    if (b->act == BACKEND_ACT_BF16) {
        conv_backward_act_bf16(c, din, dw, dbias, dout, y, in, w, N, H, W, C, K);
        return;
    }
    // The bias gradient sums the float32 output gradient, in any precision.
    ConvPlan *p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_FLOAT);
    relu_and_bias_grad(c, dbias, dout, y, (int)pixels, K, p, KERNEL_F32);
    // In bfloat16 the output gradient is rounded once, for both passes.
    PIECE(c, "convert");
    const uint16_t *dy = c->precision == BACKEND_BF16 ? to_bf16(c, &c->bf16_y, dout, pixels * K)
                                                      : NULL;
    if (!dy || conv_filter_grad_bf16(c, dw, dy, in, N, H, W, C, K)) {
        void *dwk = dw_krsc(c, dw, C, K, 0);
        p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_FLOAT);
        PIECE(c, "wgrad");
        conv_pass(c, p, PASS_BACKWARD_FILTER, in, dout, dwk);
        PIECE(c, "convert");
        dw_from_krsc(c, dw, dwk, C, K, 0);
    }
    if (!din || (dy && !conv_input_grad_bf16(c, din, dy, w, N, H, W, C, K))) return;
    PIECE(c, "convert");
    const void *wk = kernel_krsc(c, w, C, K, 0);
    p = conv_plan(c, N, H, W, C, K, CUDNN_DATA_FLOAT);
    PIECE(c, "dgrad");
    conv_pass(c, p, PASS_BACKWARD_DATA, wk, dout, din);
}

static void cuda_relu_backward(Backend *b, float *dx, const float *dy, const float *y, size_t n) {
    CUDA_OP(b, c);
    kernel_relu_backward(c->stream, dx, dy, y, n);
}

// ---- pooling ---------------------------------------------------------------------
// Our forward pass keeping each window's first maximum in argmax and the
// backward pass routing by it (kernels/maxpool.cu), when the model keeps an
// argmax (training). Without one (inference), or with POOL_CUDNN, cuDNN's
// forward pass and our backward pass that finds each window's first maximum
// again (kernels/maxpool_backward.cu: cuDNN's backward pass does not
// document which tied element gets the gradient). Both passes decide alike
// from pool_way and the argmax pointer the model gives both. bfloat16
// activations always take ours (argmax kept when given).

static void cuda_maxpool2_forward(Backend *b, float *out, uint8_t *argmax, const float *in, int N,
                                  int H, int W, int C) {
    CUDA_OP(b, c);
    if (H < 2 || W < 2) return;  // no window fits: the output is empty
    require_int_sized("maxpool2_forward", (size_t)N * H * W * C);
    const KernelType t = act_type(b);
    if ((c->pool_way != POOL_CUDNN && argmax) || t != KERNEL_F32) {
        kernel_maxpool2_forward_argmax(c->stream, out, argmax, in, N, H, W, C, t);
        return;
    }
    // cuDNN's output side for a 2x2/2 'valid' window is (H-2)/2+1 = H/2 rounded down.
    set_nhwc(c->pool_in, CUDNN_DATA_FLOAT, N, H, W, C);
    set_nhwc(c->pool_out, CUDNN_DATA_FLOAT, N, H / 2, W / 2, C);
    CUDNN_CHECK(cudnnPoolingForward(c->cudnn, c->pool, &ONE, c->pool_in, in, &ZERO, c->pool_out,
                                    out));
}

static void cuda_maxpool2_backward(Backend *b, float *din, const float *dout, const float *in,
                                   const float *out, const uint8_t *argmax, int N, int H, int W,
                                   int C) {
    CUDA_OP(b, c);
    require_int_sized("maxpool2_backward", (size_t)N * H * W * C);
    const KernelType t = act_type(b);
    if ((c->pool_way != POOL_CUDNN || t != KERNEL_F32) && argmax && H >= 2 && W >= 2)
        kernel_maxpool2_backward_argmax(c->stream, din, dout, argmax, N, H, W, C, t);
    else
        kernel_maxpool2_backward(c->stream, din, dout, in, out, N, H, W, C, t);
}

// POOL_FUSED: the backward pass with the ReLU mask and bias gradient of the
// conv layer before it (backend.h), one pass over the windows
// (kernels/relu_bias_grad.cu) instead of the routing pass here and the
// mask and bias pass over the conv's full-size output in its backward pass.
static void cuda_maxpool2_relu_backward(Backend *b, float *din, float *dbias, float *dout,
                                        const float *out, const uint8_t *argmax, int N, int H,
                                        int W, int C) {
    CUDA_OP(b, c);
    const size_t nin = (size_t)N * H * W * C;
    require_int_sized("maxpool2_relu_backward", nin);
    if (!argmax)
        cuda_fail(__FILE__, __LINE__, 0, "maxpool2_relu_backward", "this is a bug in siamese",
                  "called without the forward pass's argmax");
    const KernelType t = act_type(b);
    if (H < 2 || W < 2) {  // no window: nothing routed, nothing summed
        CUDA_CHECK(cudaMemsetAsync(din, 0, nin * act_bytes(t), c->stream));
        CUDA_CHECK(cudaMemsetAsync(dbias, 0, C * sizeof(float), c->stream));
        return;
    }
    PIECE(c, "pool bwd");  // with the ReLU mask and the bias gradient
    const int windows = N * (H / 2) * (W / 2);
    float *partial = scratch(&c->partial, (size_t)kernel_relu_bias_grad_parts(windows, C) * C *
                                              sizeof(float));
    kernel_maxpool2_relu_bias_grad(c->stream, dbias, din, dout, out, argmax, N, H, W, C, partial,
                                   t);
}

// ---- dense -----------------------------------------------------------------------
// cuBLAS is column-major: a row-major (r,c) matrix is its (c,r) transpose
// there, so each row-major product below is computed as its transpose.

// C (m,n) = op(A) (m,k) @ op(B) (k,n), column-major. A and B are float32,
// or bfloat16 copies when bf16 (multiplied with float32 accumulation); C is
// float32 either way.
static void gemm(CudaImpl *c, int bf16, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                 int k, const void *A, int lda, const void *B, int ldb, float *C, int ldc) {
    if (bf16)
        CUBLAS_CHECK(cublasGemmEx(c->cublas, ta, tb, m, n, k, &ONE, A, CUDA_R_16BF, lda, B,
                                  CUDA_R_16BF, ldb, &ZERO, C, CUDA_R_32F, ldc, CUBLAS_COMPUTE_32F,
                                  CUBLAS_GEMM_DEFAULT));
    else
        CUBLAS_CHECK(cublasSgemm(c->cublas, ta, tb, m, n, k, &ONE, A, lda, B, ldb, &ZERO, C, ldc));
}

static void cuda_dense_forward(Backend *b, float *out, const float *in, const float *w,
                               const float *bias, int N, int In, int Out, int relu) {
    CUDA_OP(b, c);
    const int bf16 = c->precision == BACKEND_BF16;
    const void *x = in, *wt = w;
    if (bf16) {
        PIECE(c, "convert");
        x = to_bf16(c, &c->bf16_x, in, (size_t)N * In);
        wt = to_bf16(c, &c->bf16_w, w, (size_t)In * Out);
        PIECE(c, "forward");
    }
    // out^T (Out,N) = w^T (Out,In) @ in^T (In,N)
    gemm(c, bf16, CUBLAS_OP_N, CUBLAS_OP_N, Out, N, In, wt, Out, x, In, out, Out);
    PIECE(c, "bias+relu");
    kernel_bias_relu(c->stream, out, bias, N, Out, relu, KERNEL_F32);
}

static void cuda_dense_backward(Backend *b, float *din, float *dw, float *dbias, const float *dout,
                                const float *in, const float *w, int N, int In, int Out) {
    CUDA_OP(b, c);
    PIECE(c, "bias grad");
    kernel_column_sums(c->stream, dbias, dout, N, Out);  // float32 in any precision
    const int bf16 = c->precision == BACKEND_BF16;
    const void *x = in, *dy = dout, *wt = w;
    if (bf16) {
        PIECE(c, "convert");
        x = to_bf16(c, &c->bf16_x, in, (size_t)N * In);
        dy = to_bf16(c, &c->bf16_y, dout, (size_t)N * Out);
        if (din) wt = to_bf16(c, &c->bf16_w, w, (size_t)In * Out);
    }
    // dw^T (Out,In) = dout^T (Out,N) @ in (N,In)
    PIECE(c, "wgrad");
    gemm(c, bf16, CUBLAS_OP_N, CUBLAS_OP_T, Out, In, N, dy, Out, x, In, dw, Out);
    // din^T (In,N) = w (In,Out) @ dout^T (Out,N)
    PIECE(c, "dgrad");
    if (din) gemm(c, bf16, CUBLAS_OP_T, CUBLAS_OP_N, In, N, Out, wt, Out, dy, Out, din, In);
}

// ---- siamese head ------------------------------------------------------------------

static void cuda_absdiff_forward(Backend *b, float *out, const float *x1, const float *x2,
                                 size_t n) {
    CUDA_OP(b, c);
    kernel_absdiff_forward(c->stream, out, x1, x2, n);
}

static void cuda_absdiff_backward(Backend *b, float *dx1, float *dx2, const float *dout,
                                  const float *x1, const float *x2, size_t n) {
    CUDA_OP(b, c);
    kernel_absdiff_backward(c->stream, dx1, dx2, dout, x1, x2, n);
}

static void cuda_sigmoid_bce_forward(Backend *b, float *prob, float *loss, const float *logit,
                                     const float *y, int N) {
    CUDA_OP(b, c);
    kernel_sigmoid_bce_forward(c->stream, prob, loss, logit, y, N);
}

static void cuda_sigmoid_bce_backward(Backend *b, float *dlogit, const float *prob, const float *y,
                                      int N, int mean_over) {
    CUDA_OP(b, c);
    kernel_sigmoid_bce_backward(c->stream, dlogit, prob, y, N, mean_over);
}

// ---- precision -------------------------------------------------------------------

// Takes effect at the next conv3x3 or dense call (see the top of this file).
static void cuda_set_precision(Backend *b, BackendPrecision p) {
    CudaImpl *c = (CudaImpl *)b->impl;
    c->precision = p;
    b->act = p == BACKEND_BF16 && !c->float_acts ? BACKEND_ACT_BF16 : BACKEND_ACT_F32;
}

// The model's conversions at the backbone's ends (backend.h: act).
static void cuda_act_from_float(Backend *b, void *dst, const float *src, size_t n) {
    CUDA_OP(b, c);
    if (b->act == BACKEND_ACT_BF16)
        kernel_float_to_bf16(c->stream, dst, src, n);
    else
        CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice,
                                   c->stream));
}

static void cuda_act_to_float(Backend *b, float *dst, const void *src, size_t n) {
    CUDA_OP(b, c);
    if (b->act != BACKEND_ACT_BF16)
        CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice,
                                   c->stream));
    else if (n)
        kernel_bf16_to_float(c->stream, dst, src, NULL, n, 1, 0);
}

// ---- optimizers ----------------------------------------------------------------------

static void cuda_sgd_nesterov_step(Backend *b, float *p, const float *g, float *buf, size_t n,
                                   float lr, float momentum, float wd) {
    CUDA_OP(b, c);
    kernel_sgd_nesterov(c->stream, p, g, buf, n, lr, momentum, wd);
}

static void cuda_adam_step(Backend *b, float *p, const float *g, float *m, float *v, size_t n,
                           float lr, float beta1, float beta2, float eps, float wd, long t) {
    CUDA_OP(b, c);
    kernel_adam(c->stream, p, g, m, v, n, lr, beta1, beta2, eps, wd, t);
}

// ---- data-parallel training (comm_nccl.c) ---------------------------------------------

#ifdef SIAMESE_NCCL
// These return their failures (dist.c decides what follows), so they are
// no BACKEND_OP: a failed backend, or device, is an error here.
static CudaImpl *comm_impl(Backend *b, Err *e) {
    if (backend_check(b, e)) return NULL;
    CudaImpl *c = (CudaImpl *)b->impl;
    cudaError_t s = cudaSetDevice(c->device);
    if (s != cudaSuccess) {
        err_set(e, "cudaSetDevice(%d): %s", c->device, cudaGetErrorString(s));
        return NULL;
    }
    return c;
}

static int cuda_comm_id(Backend *b, void *id, size_t len, Err *e) {
    return comm_impl(b, e) ? nccl_comm_id(id, len, e) : -1;
}

static int cuda_comm_join(Backend *b, const void *id, size_t len, int rank, int size,
                          double timeout_s, Err *e) {
    CudaImpl *c = comm_impl(b, e);
    return c ? nccl_comm_join(&c->comm, id, len, rank, size, timeout_s, e) : -1;
}

static int cuda_comm_sum(Backend *b, float *p, size_t n, Err *e) {
    // (Element-wise: the sum does not mind the conv kernels' layout in a
    // parameter-shaped buffer, the same on every rank.)
    CudaImpl *c = comm_impl(b, e);
    return c ? nccl_comm_sum(c->comm, c->stream, p, n, e) : -1;
}

static int cuda_comm_wait(Backend *b, Err *e) {
    CudaImpl *c = comm_impl(b, e);
    return c ? nccl_comm_wait(c->comm, c->stream, e) : -1;
}

static void cuda_comm_leave(Backend *b, int abort) {
    CudaImpl *c = (CudaImpl *)b->impl;
    (void)cudaSetDevice(c->device);
    nccl_comm_leave(c->comm, abort);
    c->comm = NULL;
}
#endif

static const BackendOps cuda_ops = {
    .alloc = cuda_alloc,
    .alloc_params = cuda_alloc_params,
    .free = cuda_free,
    .zero = cuda_zero,
    .upload = cuda_upload,
    .upload_u8 = cuda_upload_u8,
    .download = cuda_download,
    .synchronize = cuda_synchronize,
    .destroy = cuda_destroy,
    .host_alloc = cuda_host_alloc,
    .host_free = cuda_host_free,
    .download_async = cuda_download_async,
    .fence_record = cuda_fence_record,
    .fence_wait = cuda_fence_wait,
    .timer_mark = cuda_timer_mark,
    .timer_ms = cuda_timer_ms,
    .timer_reset = cuda_timer_reset,
    .conv3x3_forward = cuda_conv3x3_forward,
    .conv3x3_backward = cuda_conv3x3_backward,
    .relu_backward = cuda_relu_backward,
    .maxpool2_forward = cuda_maxpool2_forward,
    .maxpool2_backward = cuda_maxpool2_backward,
    .maxpool2_relu_backward = cuda_maxpool2_relu_backward,
    .dense_forward = cuda_dense_forward,
    .dense_backward = cuda_dense_backward,
    .absdiff_forward = cuda_absdiff_forward,
    .absdiff_backward = cuda_absdiff_backward,
    .sigmoid_bce_forward = cuda_sigmoid_bce_forward,
    .sigmoid_bce_backward = cuda_sigmoid_bce_backward,
    .sgd_nesterov_step = cuda_sgd_nesterov_step,
    .adam_step = cuda_adam_step,
    .set_precision = cuda_set_precision,
    .act_from_float = cuda_act_from_float,
    .act_to_float = cuda_act_to_float,
#ifdef SIAMESE_NCCL
    .comm_id = cuda_comm_id,
    .comm_join = cuda_comm_join,
    .comm_sum = cuda_comm_sum,
    .comm_wait = cuda_comm_wait,
    .comm_leave = cuda_comm_leave,
#endif
};

// ---- opening ---------------------------------------------------------------------------

// The settings read from the environment (see the top of this file).
static int read_env(CudaImpl *c, Err *e) {
    const char *s = getenv("SIAMESE_CUDA_WORKSPACE_MB");
    long mb = DEFAULT_WORKSPACE_MB;
    if (s && *s) {
        char *end;
        mb = strtol(s, &end, 10);
        if (*end || mb < 0 || mb > 65536)
            return err_set(e, "SIAMESE_CUDA_WORKSPACE_MB=%s: expected a whole number of MiB, 0 "
                              "to 65536", s);
    }
    c->ws_bytes = (size_t)mb << 20;
    // The switches of the top's design points: the default way (0), or another.
    int pool = POOL_FUSED, conv = CONV_AUTO;
    const struct {
        const char *var, *ways[4];  // by the value set: the default first
        int *set;
    } SWITCHES[] = {
        {"SIAMESE_CUDA_KERNELS", {"krsc", "keras"}, &c->keras_kernels},
        {"SIAMESE_CUDA_BIAS_GRAD", {"fused", "cudnn"}, &c->cudnn_bias_grad},
        {"SIAMESE_CUDA_POOL", {"fused", "argmax", "cudnn"}, &pool},  // by PoolWay
        {"SIAMESE_CUDA_ACTS", {"bf16", "f32"}, &c->float_acts},
        {"SIAMESE_CUDA_PAD", {"channels", "off"}, &c->pad_off},
        {"SIAMESE_CUDA_CONV", {"auto", "find", "graph"}, &conv},  // by ConvApi
    };
    for (size_t i = 0; i < sizeof SWITCHES / sizeof *SWITCHES; i++) {
        s = getenv(SWITCHES[i].var);
        if (!s || !*s) continue;
        const char *const *ways = SWITCHES[i].ways;
        int k = 0;
        while (ways[k] && strcmp(s, ways[k])) k++;
        if (!ways[k]) {
            char expected[96] = "";
            for (k = 0; ways[k]; k++) {
                const size_t at = strlen(expected);
                snprintf(expected + at, sizeof expected - at, "%s%s%s",
                         !k ? "" : ways[k + 1] ? ", " : " or ", ways[k], k ? "" : " (the default)");
            }
            return err_set(e, "%s=%s: expected %s", SWITCHES[i].var, s, expected);
        }
        *SWITCHES[i].set = k;
    }
    c->pool_way = (PoolWay)pool;
    c->conv_api = (ConvApi)conv;
    return 0;
}

__attribute__((visibility("default"))) int backend_cuda_device_count(void) {
    int n = 0;
    return cudaGetDeviceCount(&n) == cudaSuccess ? n : 0;
}

__attribute__((visibility("default"))) int backend_cuda_open(Backend **out, int device_index,
                                                             Err *e) {
    Backend *b = calloc(1, sizeof *b);
    CudaImpl *c = calloc(1, sizeof *c);
    int count = 0;
    if (!b || !c) {
        free(b);
        free(c);
        return err_set(e, "out of memory opening the CUDA backend");
    }
    b->ops = &cuda_ops;
    b->impl = c;
    c->be = b;
    if (read_env(c, e)) goto fail;
    c->ops = cuda_ops;
    if (c->pool_way != POOL_FUSED) c->ops.maxpool2_relu_backward = NULL;
    b->ops = &c->ops;
    cudaError_t s = cudaGetDeviceCount(&count);
    if (s != cudaSuccess || count == 0) {
        // The usual case on a machine without a GPU: one clear sentence.
        if (s == cudaSuccess) s = cudaErrorNoDevice;
        const char *hint = cuda_error_hint(s);
        err_set(e, "no usable CUDA GPU: %s%s%s", cudaGetErrorString(s), *hint ? "; " : "", hint);
        goto fail;
    }
    if (device_index >= count) {
        err_set(e, "--device cuda:%d: this machine has %d GPU%s (cuda:0%s)", device_index, count,
                count == 1 ? "" : "s", count == 1 ? "" : " and up");
        goto fail;
    }
    if (cudnnGetVersion() / 10000 != CUDNN_MAJOR) {
        err_set(e, "the cuDNN library found is version %zu, but this build needs cuDNN %d: put a "
                   "cuDNN %d first on LD_LIBRARY_PATH",
                cudnnGetVersion(), CUDNN_MAJOR, CUDNN_MAJOR);
        goto fail;
    }
    c->device = device_index;
    OPEN_CUDA(cudaSetDevice(device_index));
    struct cudaDeviceProp prop;
    OPEN_CUDA(cudaGetDeviceProperties(&prop, device_index));
    OPEN_CUDA(cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking));
    OPEN_CUDA(cudaStreamCreateWithFlags(&c->copy, cudaStreamNonBlocking));
    OPEN_CUDNN(cudnnCreate(&c->cudnn));
    OPEN_CUDNN(cudnnSetStream(c->cudnn, c->stream));
    OPEN_CUBLAS(cublasCreate(&c->cublas));
    OPEN_CUBLAS(cublasSetStream(c->cublas, c->stream));
    // FP32 dense products in every precision but BF16 (which calls
    // cublasGemmEx with bfloat16 operands): PyTorch's matmul.allow_tf32 = False.
    OPEN_CUBLAS(cublasSetMathMode(c->cublas, CUBLAS_DEFAULT_MATH));
    OPEN_CUDNN(cudnnCreateActivationDescriptor(&c->relu));
    OPEN_CUDNN(cudnnSetActivationDescriptor(c->relu, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN,
                                            0.0));
    OPEN_CUDNN(cudnnCreatePoolingDescriptor(&c->pool));
    OPEN_CUDNN(cudnnSetPooling2dDescriptor(c->pool, CUDNN_POOLING_MAX, CUDNN_NOT_PROPAGATE_NAN, 2,
                                           2, 0, 0, 2, 2));
    OPEN_CUDNN(cudnnCreateTensorDescriptor(&c->pool_in));
    OPEN_CUDNN(cudnnCreateTensorDescriptor(&c->pool_out));
    for (int i = 0; i < 2; i++) {
        OPEN_CUDA(cudaMallocHost((void **)&c->stage[i], STAGE_BYTES));
        OPEN_CUDA(cudaEventCreateWithFlags(&c->stage_free[i], cudaEventDisableTiming));
        OPEN_CUDA(cudaEventCreateWithFlags(&c->u8_free[i], cudaEventDisableTiming));
        OPEN_CUDA(cudaEventCreateWithFlags(&c->u8_copied[i], cudaEventDisableTiming));
        OPEN_CUDA(cudaMalloc((void **)&c->u8[i], STAGE_BYTES));
    }
    for (int i = 0; i < BACKEND_FENCES; i++)
        OPEN_CUDA(cudaEventCreateWithFlags(&c->fence[i], cudaEventDisableTiming));
    size_t ver = cudnnGetVersion();
    // The switches set otherwise than by default, for logs and comparisons.
    char ws[48] = "";
    if (c->ws_bytes != (size_t)DEFAULT_WORKSPACE_MB << 20)
        snprintf(ws, sizeof ws, ", workspace %zu MiB", c->ws_bytes >> 20);
    text_fit(b->desc, sizeof b->desc, "cuda:%d %s, %.0f GiB, cuDNN %zu.%zu%s%s%s%s%s%s%s",
             device_index, prop.name, prop.totalGlobalMem / 1073741824.0, ver / 10000,
             ver / 100 % 100, ws,
             c->conv_api == CONV_GRAPH  ? ", conv graph"
             : c->conv_api == CONV_FIND ? ", conv find"
                                        : "",
             c->keras_kernels ? ", kernels keras" : "", c->cudnn_bias_grad ? ", bias grad cudnn" : "",
             c->pool_way == POOL_CUDNN   ? ", pool cudnn"
             : c->pool_way == POOL_ARGMAX ? ", pool argmax"
                                          : "",
             c->float_acts ? ", acts f32" : "", c->pad_off ? ", pad off" : "");
    *out = b;
    return 0;
fail:
    cuda_destroy(b);
    return -1;
}
