// backend: the seam between the model and the hardware.
//
// A Backend is an opaque handle plus a table of operations on device memory.
// The CPU backend (backend_cpu.c) implements every operation and is the
// readable reference; the CUDA backend (backend_cuda.c, built as a shared
// library and loaded at run time) implements the same table with cuDNN,
// cuBLAS and kernels/ and must give the same numbers.
//
// Conventions for every operation:
//  - all float pointers are device pointers returned by ops->alloc;
//  - images are NHWC float32, channels-last as in Keras;
//  - conv kernels are Keras-layout (kh,kw,cin,cout), dense kernels (in,out),
//    so a weights file maps to device memory with one copy and no transpose;
//  - backward operations OVERWRITE their gradient outputs (one backward per
//    step; both twins run as one batch of 2N, so nothing is accumulated);
//  - a NULL input-gradient pointer means "not needed" (the first layer);
//  - parameters, gradients, optimizer state and activations are float32
//    whatever the precision (backend_set_precision) of the conv3x3 and dense
//    products.
//
// Failures. Operations return nothing: the model queues dozens of them a
// step, and a GPU reports most faults later, at a synchronising call. So a
// failed operation records why in its Backend, as CUDA's own sticky errors
// do: the first failure is kept with its message, and every later
// operation (all but free, host_free and destroy) does nothing until
// backend_recover. Callers look at their sync points (backend_check):
// model_embed, model_head, siamese_forward and siamese_readback return -1
// with the message; the trainer checks after each step and saves what the
// failure left intact.
#ifndef SIAMESE_BACKEND_H
#define SIAMESE_BACKEND_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#ifdef __cplusplus
extern "C" {  // kernels/check.cu reports through backend_op_fail
#endif

typedef struct Backend Backend;
struct Profile;

// The arithmetic of the conv3x3 and dense operations (forward and backward),
// the user's --precision. The three are PyTorch's three usual settings:
//  FP32  float32 operands and products (a backend opens in it; the CPU's only
//        arithmetic, and the GPU's in the parity tests);
//  TF32  convolutions may round their operands to TF32 (10 bits of mantissa)
//        on tensor cores, with float32 accumulation; dense products stay
//        FP32. PyTorch's default on a GPU (cudnn.allow_tf32 = True,
//        matmul.allow_tf32 = False), and ours. A permission, not a demand: a
//        backend without TF32 (the CPU) computes those products in FP32;
//  BF16  mixed precision as PyTorch's autocast: each call rounds its operands
//        (input, kernel, output gradient) to bfloat16 copies and multiplies
//        them with float32 accumulation; its outputs and gradients are
//        float32 again, so nothing else in the model changes. Backends
//        without bfloat16 (the CPU) refuse it.
typedef enum BackendPrecision { BACKEND_FP32, BACKEND_TF32, BACKEND_BF16 } BackendPrecision;

// What the backbone's activations (the tensors between its layers) and
// their gradients are stored as. F32 by default and on every backend; BF16
// where a backend under BF16 precision keeps them in bfloat16 end to end, as
// PyTorch's autocast does (the CUDA backend, unless SIAMESE_CUDA_ACTS=f32):
// each element-wise pass then moves half the bytes, and no convolution
// converts its operands and results. set_precision sets b->act. Under BF16
// activations these arguments are bfloat16 (uint16_t values through the
// same pointers; a buffer sized in floats is large enough):
//   conv3x3_forward  in, out          maxpool2_forward       in, out
//   conv3x3_backward din, dout, y, in maxpool2_backward      din, dout, in, out
//                                     maxpool2_relu_backward din, dout, out
// and the model converts at the backbone's two ends (its input image, its
// features and their gradients) with act_from_float and act_to_float.
// Weights, biases, their gradients and every other operation stay float32.
typedef enum BackendActType { BACKEND_ACT_F32, BACKEND_ACT_BF16 } BackendActType;

#define BACKEND_FENCES 4

// Where a model's conv kernels lie in its parameter-shaped buffers (the
// parameters, their gradients, the optimizer's slots): kernel i is
// (3,3,C,K) floats from offset off. See alloc_params.
#define BACKEND_KERNEL_VIEWS_MAX 32
typedef struct BackendKernelView {
    size_t off;
    int C, K;
} BackendKernelView;
typedef struct BackendParamLayout {
    size_t floats;  // the buffer's size
    int n_views;
    BackendKernelView views[BACKEND_KERNEL_VIEWS_MAX];
} BackendParamLayout;

typedef struct BackendOps {
    // ---- memory ----------------------------------------------------------
    // Zero-filled; NULL when the memory is not there (not a failure of the
    // backend: the caller says what it was for) or after a failure.
    void *(*alloc)(Backend *b, size_t bytes);
    // A parameter-shaped buffer of layout->floats floats (zero-filled; NULL
    // as alloc), freed by free. The backend may keep the conv kernels at
    // the layout's views in a layout of its own (the GPU: cuDNN's
    // (K,3,3,C)): uploads and downloads convert them, so to the caller the
    // buffer is in Keras layout, as long as a transfer covers a kernel whole
    // or not at all; element-wise operations (the optimizers) are
    // indifferent to it; and conv3x3_forward and _backward given w or dw at
    // one of these kernels use it as it is. Nothing else reads or writes
    // such a buffer's kernels.
    void *(*alloc_params)(Backend *b, const BackendParamLayout *layout);
    void (*free)(Backend *b, void *p);
    void (*zero)(Backend *b, void *p, size_t bytes);
    // Uploads return once host_src may be reused; the copy itself may still
    // be queued. From host_alloc memory to an idle device the bytes cross
    // without a staging copy (the call waits for that copy); with work
    // queued they are staged, as from any memory, so the host goes on.
    void (*upload)(Backend *b, void *dst, const void *host_src, size_t bytes);
    // A batch of 8-bit pixels (a quarter of the bytes of floats) made into
    // network input on the device: dst[i] = src[i] / 255.0f, then 1 - that
    // when invert (image_to_input's arithmetic). n values. From host_alloc
    // memory the bytes cross without a staging copy, beside the work queued.
    void (*upload_u8)(Backend *b, float *dst, const uint8_t *host_src, size_t n, int invert);
    void (*download)(Backend *b, void *host_dst, const void *src, size_t bytes);
    void (*synchronize)(Backend *b);
    void (*destroy)(Backend *b);
    // Host memory the device reads and writes directly (page-locked on a
    // GPU; plain memory on the CPU): loader batches, read-backs. NULL on
    // failure.
    void *(*host_alloc)(Backend *b, size_t bytes);
    void (*host_free)(Backend *b, void *p);
    // Queues a copy of device bytes into host_alloc memory and returns at
    // once: the bytes are there after fence_wait on a fence recorded after
    // this call. So a trainer reads a step's loss while the next step runs.
    void (*download_async)(Backend *b, void *host_dst, const void *src, size_t bytes);
    // fence_record marks the work queued so far; fence_wait(i) returns once
    // that work is done. i < BACKEND_FENCES; recording again moves the mark.
    void (*fence_record)(Backend *b, int i);
    void (*fence_wait)(Backend *b, int i);
    // Timestamps for profiling (profile.h), not operations (they never fail
    // the backend): timer_mark records one where the work queued so far
    // ends (a CUDA event; the clock on the CPU) and returns its number, or
    // -1; timer_ms gives the milliseconds between two marks once the work
    // is done (after synchronize); timer_reset forgets every mark.
    int (*timer_mark)(Backend *b);
    double (*timer_ms)(Backend *b, int from, int to);
    void (*timer_reset)(Backend *b);

    // ---- layers ----------------------------------------------------------
    // 3x3 convolution, stride 1, 'same' zero padding, + bias, + optional ReLU.
    // out is (N,H,W,K), in is (N,H,W,C), w is (3,3,C,K), bias is (K)
    void (*conv3x3_forward)(Backend *b, float *out, const float *in, const float *w,
                            const float *bias, int N, int H, int W, int C, int K, int relu);
    // dout is (N,H,W,K), the gradient of the layer's output. With y (the
    // layer's ReLU output, (N,H,W,K)) it is first masked by the ReLU in
    // place, dout = 0 where y <= 0, as relu_backward would (one pass that
    // also sums the bias gradient); with y NULL it is taken as it is.
    // din is (N,H,W,C) or NULL, dw is (3,3,C,K), dbias is (K) or NULL (the
    // bias gradient is made already: maxpool2_relu_backward)
    void (*conv3x3_backward)(Backend *b, float *din, float *dw, float *dbias, float *dout,
                             const float *y, const float *in, const float *w, int N, int H, int W,
                             int C, int K);
    // dx = dy where y > 0, else 0 (y is the ReLU output); dx may alias dy. n elements.
    void (*relu_backward)(Backend *b, float *dx, const float *dy, const float *y, size_t n);
    // 2x2 max-pool, stride 2, 'valid': out is (N,H/2,W/2,C), in is (N,H,W,C).
    // argmax, (N,H/2,W/2,C) bytes or NULL, is for the backward pass of the
    // same pooling: the backend may keep there which element of each window
    // is its first maximum, or leave it unwritten (it then finds them again).
    void (*maxpool2_forward)(Backend *b, float *out, uint8_t *argmax, const float *in, int N,
                             int H, int W, int C);
    // din is (N,H,W,C), fully written: each window's gradient goes to its
    // first maximum in row-major order (as PyTorch), the rest (and the odd
    // last row/column that 'valid' pooling drops) get 0. in, out and argmax
    // are those of the forward pass (argmax may be NULL).
    void (*maxpool2_backward)(Backend *b, float *din, const float *dout, const float *in,
                              const float *out, const uint8_t *argmax, int N, int H, int W,
                              int C);
    // Optional (NULL: the model runs maxpool2_backward, and the conv layer
    // masks and sums): the max-pool's backward pass fused with the ReLU mask
    // and the bias gradient of the conv layer whose ReLU output it pooled.
    // din (N,H,W,C) is what maxpool2_backward writes, masked by that ReLU;
    // dbias (C) is din's column sums, that conv's bias gradient. Every
    // window routes its gradient to its first maximum, whose value is the
    // window's output, so the mask is out > 0 and the sums run over the
    // windows: the full-size ReLU output is never read, and the conv's
    // backward pass then takes din with y and dbias NULL. dout
    // (N,H/2,W/2,C) is masked in place (0 where out <= 0); argmax, kept by
    // the forward pass, is required.
    void (*maxpool2_relu_backward)(Backend *b, float *din, float *dbias, float *dout,
                                   const float *out, const uint8_t *argmax, int N, int H, int W,
                                   int C);
    // out = in @ w + bias, optional ReLU. out is (N,Out), in is (N,In), w is (In,Out)
    void (*dense_forward)(Backend *b, float *out, const float *in, const float *w,
                          const float *bias, int N, int In, int Out, int relu);
    // dout (N,Out) already masked by ReLU. din (N,In) or NULL, dw (In,Out), dbias (Out)
    void (*dense_backward)(Backend *b, float *din, float *dw, float *dbias, const float *dout,
                           const float *in, const float *w, int N, int In, int Out);
    // out = |x1 - x2|; x1 and x2 are the twins' features, n elements each
    void (*absdiff_forward)(Backend *b, float *out, const float *x1, const float *x2, size_t n);
    // dx1 = dout * sign(x1 - x2), dx2 = -dx1 (sign(0) = 0, as PyTorch)
    void (*absdiff_backward)(Backend *b, float *dx1, float *dx2, const float *dout,
                             const float *x1, const float *x2, size_t n);
    // prob = sigmoid(logit); loss (one float) = mean binary cross-entropy,
    // computed from the logit in the stable form max(z,0) - z*y + log1p(exp(-|z|)).
    // y may be NULL (inference): then loss is not written.
    void (*sigmoid_bce_forward)(Backend *b, float *prob, float *loss, const float *logit,
                                const float *y, int N);
    // dlogit = (prob - y) / mean_over: the gradient of the mean loss over
    // mean_over pairs, of which these are N (mean_over = N but in
    // data-parallel training, where each process has a part of the batch).
    void (*sigmoid_bce_backward)(Backend *b, float *dlogit, const float *prob, const float *y, int N,
                                 int mean_over);

    // ---- optimizers (PyTorch semantics, L2 weight decay added to the gradient) ----
    // g += wd*p; buf = momentum*buf + g; p -= lr * (g + momentum*buf)
    void (*sgd_nesterov_step)(Backend *b, float *p, const float *g, float *buf, size_t n,
                              float lr, float momentum, float wd);
    // g += wd*p; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    // p -= lr/(1-b1^t) * m / (sqrt(v/(1-b2^t)) + eps); t counts from 1
    void (*adam_step)(Backend *b, float *p, const float *g, float *m, float *v, size_t n, float lr,
                      float beta1, float beta2, float eps, float wd, long t);

    // ---- optional --------------------------------------------------------
    // The precision of the conv3x3 and dense calls that follow (FP32 when a
    // backend opens). NULL where the backend computes in FP32 only (the CPU);
    // call it through backend_set_precision, which checks that.
    void (*set_precision)(Backend *b, BackendPrecision p);
    // Activations in b->act's storage from float32 (rounded to nearest
    // even) and back, n values; dst and src do not overlap. NULL where the
    // activations are always float32.
    void (*act_from_float)(Backend *b, void *dst, const float *src, size_t n);
    void (*act_to_float)(Backend *b, float *dst, const void *src, size_t n);

    // Data-parallel training (dist.h): a communicator that sums gradients in
    // device memory between processes with a device each (NCCL). NULL where
    // the backend has none (the CPU: its memory is the host's, which MPI
    // sums). comm_id makes a new communicator's identity (id, len >=
    // BACKEND_COMM_ID_BYTES) on one process, which hands it to the others;
    // each then joins as rank of size. comm_sum queues the sum over the
    // ranks of p (n floats) in place, to start when the operations queued
    // before it are done and to run beside those queued after it (which must
    // not touch p: the backward pass goes on with the earlier layers);
    // comm_wait waits for every queued sum, and operations queued after it
    // see the sums (the same on every rank). Every wait ends after the
    // timeout_s given to comm_join with an error (a peer died or hangs);
    // comm_leave then aborts (abort = 1) what is in flight.
    int (*comm_id)(Backend *b, void *id, size_t len, Err *e);
    int (*comm_join)(Backend *b, const void *id, size_t len, int rank, int size, double timeout_s,
                     Err *e);
    int (*comm_sum)(Backend *b, float *p, size_t n, Err *e);
    int (*comm_wait)(Backend *b, Err *e);
    void (*comm_leave)(Backend *b, int abort);
} BackendOps;

#define BACKEND_COMM_ID_BYTES 128  // NCCL's ncclUniqueId

// What the first failed operation left (see Failures at the top).
typedef enum BackendFailure {
    BACKEND_OK,
    BACKEND_OUT_OF_MEMORY,  // an allocation failed: what the device holds is intact
    BACKEND_FAULT,          // anything else: the device's memory can no longer be trusted
} BackendFailure;

struct Backend {
    const BackendOps *ops;
    void *impl;          // the implementation's own state
    char desc[128];      // for the user: "cpu, 2 threads" / "cuda:0 NVIDIA H200"
    int is_cpu;          // device pointers are host pointers
    BackendPrecision precision;  // what the products compute in (backend_set_precision)
    const char *precision_note;  // why precision is not what was asked; "" when it is
    BackendActType act;          // what the backbone's activations are (set_precision)
    BackendFailure failure;      // of the first failed operation since backend_recover
    char failure_msg[768];       // what failed, where, and a hint
    struct Profile *profile;     // times the operations when set (profile.h)
    const char *label;           // what the operations are for now (backend_label)
};

// Names what the operations that follow are for (a layer's name, "input",
// "loss", "optimizer"), for profiles; label must live until the next call.
static inline void backend_label(Backend *b, const char *label) { b->label = label; }

// Opens a backend. device is "auto", "cpu", "cuda" or "cuda:N".
// "auto" takes a GPU when the CUDA backend library loads and finds one and
// otherwise the CPU, writing a one-line notice to *notice (may be NULL).
// threads <= 0 means all cores.
int backend_open(Backend **out, const char *device, int threads, char *notice, size_t notice_len,
                 Err *e);
void backend_close(Backend *b);

// Sets b's precision for the conv3x3 and dense operations (and b->act,
// the activations' storage that the backend keeps in it) to what it can
// compute of p (backend_precision_effective, with the environment's
// NVIDIA_TF32_OVERRIDE): b->precision says what it computes, and
// b->precision_note why that is not p ("" when it is). FP32 always works;
// TF32 computes in FP32 on a backend without it and under
// NVIDIA_TF32_OVERRIDE=0; BF16 fails, with a message naming --precision, on
// a backend without it.
int backend_set_precision(Backend *b, BackendPrecision p, Err *e);
// The precision a backend computes in when asked for asked, the decision
// of backend_set_precision. has_reduced: the backend has precisions below
// FP32 (a set_precision operation: the CUDA backend); tf32_override:
// NVIDIA_TF32_OVERRIDE's value, NULL when unset. TF32 is a permission to
// round: a backend without it (the CPU) computes FP32, and so does the GPU
// where NVIDIA_TF32_OVERRIDE=0, with which NVIDIA's libraries (cuDNN,
// cuBLAS) never use TF32 whatever they are told, so what the backend is
// told (and what an index records) is what it computes, the same as under
// --precision fp32. (Other values leave the libraries as they are told, as
// NVIDIA documents: only 0 forbids.) BF16 is no TF32 and stays; without
// reduced precisions it is -1 (an error). *why (may be NULL) gets why the
// result is not asked: "this device has no TF32", "NVIDIA_TF32_OVERRIDE=0",
// or "".
int backend_precision_effective(BackendPrecision asked, int has_reduced, const char *tf32_override,
                                const char **why);
// --precision's values, "fp32", "tf32" and "bf16", and --amp's (the older
// spelling): "off" is FP32, "bf16" BF16. Both return -1 for another name.
int backend_precision_parse(const char *name);
int backend_amp_parse(const char *name);
const char *backend_precision_name(BackendPrecision p);
// For the user: "tf32 (TF32 convolutions, fp32 dense)" and the like.
const char *backend_precision_describe(BackendPrecision p);
// The precision a user gets without --precision: TF32, as PyTorch on a GPU.
#define BACKEND_DEFAULT_PRECISION BACKEND_TF32

// -1 with the first failure's message in e (may be NULL) when an operation
// failed since the last backend_recover, else 0. A read: no synchronisation
// (on a GPU a fault in queued work shows at the next download or synchronize).
int backend_check(const Backend *b, Err *e);
// After an out-of-memory failure (or none), 0: the failure is cleared and
// operations run again, so the intact parameters can be read back (into a
// checkpoint). -1 after a fault, which stays.
int backend_recover(Backend *b);

// ---- for implementations: how an operation fails ---------------------------
// Every operation but free, host_free and destroy starts with BACKEND_OP(b), or
// BACKEND_OP(b, NULL) in one that returns a pointer: it returns at once when
// b has failed. Below it, backend_op_fail records the failure and returns
// from the function that holds BACKEND_OP, from any depth of the
// implementation's own calls (a longjmp: those calls hold no resource across
// a check that can fail, and never fail inside an OpenMP parallel region or
// a library's callback). The frame is this thread's; operations on one
// Backend come from one thread at a time.
typedef struct BackendOpFrame {
    Backend *b;
    const char *op;                // the operation's function, for profiles
    struct BackendOpFrame *outer;  // the operation this one runs inside, if any
    jmp_buf on_fail;
} BackendOpFrame;

#define BACKEND_OP(b, ...)                                                                    \
    BackendOpFrame backend_op_ __attribute__((cleanup(backend_op_end))) = {.b = (b),          \
                                                                           .op = __func__};   \
    if (backend_op_begin(&backend_op_)) return __VA_ARGS__;                                   \
    if (setjmp(backend_op_.on_fail)) return __VA_ARGS__;                                      \
    backend_op_injected()

// Records "fmt..." as the failure of the operation in progress on this
// thread and returns from it (see BACKEND_OP). Outside any operation (a bug)
// it prints the message and aborts.
void backend_op_fail(BackendFailure kind, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 2, 3)));
// BACKEND_OP's parts.
int backend_op_begin(BackendOpFrame *f);
void backend_op_end(BackendOpFrame *f);
// The test hook: with SIAMESE_INJECT_OOM=N in the environment, the Nth
// operation of the process (alloc, copies and layers alike, on any backend)
// fails as out of memory, as a full GPU would, so that CI exercises every
// caller's failure path without one.
void backend_op_injected(void);

// The CPU backend, always present.
int backend_cpu_open(Backend **out, int threads, Err *e);

// The GPUs the CUDA backend sees; 0 without it (or without a GPU).
int backend_cuda_devices(void);

// The entry points the CUDA backend library exports (see backend.c).
typedef int (*BackendCudaOpenFn)(Backend **out, int device_index, Err *e);
typedef int (*BackendCudaCountFn)(void);
#define BACKEND_CUDA_LIBRARY "libsiamese_cuda.so"
#define BACKEND_CUDA_SYMBOL "backend_cuda_open"
#define BACKEND_CUDA_COUNT_SYMBOL "backend_cuda_device_count"

#ifdef __cplusplus
}
#endif

#endif
