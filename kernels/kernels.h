// kernels: our own CUDA kernels, one file per operation, each behind a
// launcher that checks its arguments, launches on the given stream and
// checks the launch (see check.h). Only backend_cuda.c calls them; every
// pointer is device memory, every layout the one backend.h states, and each
// computes exactly what the CPU reference (backend_cpu.c) does, but for the
// bfloat16 conversions of --precision bf16 (the CPU has no bfloat16 mode).
// bfloat16 values travel as their 16 bits (uint16_t), a type C knows.
//
// make test runs every kernel on the CPU (tests/test_kernels.cpp): each .cu
// compiled as host C++ with an emulator of CUDA's launches
// (tests/kernel_emu.h; every launch goes through KERNEL_LAUNCH, launch.cuh)
// and compared element by element with backend_cpu.c. A new kernel, or a
// new shape a kernel must handle, gets a case there.
#ifndef SIAMESE_KERNELS_H
#define SIAMESE_KERNELS_H

#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// The storage of the activation tensors a kernel reads and writes (void
// pointers in its launcher): float32, or bfloat16 (backend.h:
// BackendActType). Its arithmetic is float32 either way (element.cuh).
typedef enum KernelType { KERNEL_F32, KERNEL_BF16 } KernelType;

// absdiff.cu: out = |x1 - x2|, n elements.
void kernel_absdiff_forward(cudaStream_t s, float *out, const float *x1, const float *x2, size_t n);
// dx1 = dout * sign(x1 - x2) with sign(0) = 0, dx2 = -dx1.
void kernel_absdiff_backward(cudaStream_t s, float *dx1, float *dx2, const float *dout,
                             const float *x1, const float *x2, size_t n);

// sigmoid_bce.cu: prob (N) = sigmoid(logit (N)); with y (N) given, loss (1)
// = mean binary cross-entropy from the logits, summed in double.
void kernel_sigmoid_bce_forward(cudaStream_t s, float *prob, float *loss, const float *logit,
                                const float *y, int N);
// dlogit (N) = (prob - y) / mean_over
void kernel_sigmoid_bce_backward(cudaStream_t s, float *dlogit, const float *prob, const float *y,
                                 int N, int mean_over);

// sgd_nesterov.cu: PyTorch's SGD with Nesterov momentum and L2 decay, n elements.
void kernel_sgd_nesterov(cudaStream_t s, float *p, const float *g, float *buf, size_t n, float lr,
                         float momentum, float wd);
// adam.cu: PyTorch's Adam with L2 decay; t counts steps from 1.
void kernel_adam(cudaStream_t s, float *p, const float *g, float *m, float *v, size_t n, float lr,
                 float beta1, float beta2, float eps, float wd, long t);

// u8_to_float.cu: dst (n) = src (n bytes) / 255, or 1 - that with invert.
void kernel_u8_to_float(cudaStream_t s, float *dst, const unsigned char *src, size_t n, int invert);

// reduce.cu: sums (cols) = the column sums of x (rows,cols) (a dense layer's bias gradient).
void kernel_column_sums(cudaStream_t s, float *sums, const float *x, int rows, int cols);

// bias_relu.cu: x (rows,cols) += bias (cols), then ReLU when relu (the dense
// layers, and a convolution's output where cuDNN does not fuse them); x of type t.
void kernel_bias_relu(cudaStream_t s, void *x, const float *bias, int rows, int cols, int relu,
                      KernelType t);

// relu_backward.cu: dx = dy where y > 0, else 0; dx may alias dy. n elements.
void kernel_relu_backward(cudaStream_t s, float *dx, const float *dy, const float *y, size_t n);

// maxpool_backward.cu: the 2x2/2 max-pool's input gradient. din (N,H,W,C) is
// fully written: each window's gradient goes to its first maximum in
// row-major order, everything else (and the dropped odd row/column) gets 0.
// dout and out are (N,H/2,W/2,C), in is (N,H,W,C); all four of type t.
void kernel_maxpool2_backward(cudaStream_t s, void *din, const void *dout, const void *in,
                              const void *out, int N, int H, int W, int C, KernelType t);

// maxpool.cu: the 2x2/2 max-pool keeping its window maxima: out and argmax
// (N,H/2,W/2,C), argmax the element of each window (0..3, row-major) that
// is its first maximum (or NULL: not kept); then din (N,H,W,C), fully
// written, from argmax. in, out, din and dout of type t.
void kernel_maxpool2_forward_argmax(cudaStream_t s, void *out, unsigned char *argmax,
                                    const void *in, int N, int H, int W, int C, KernelType t);
void kernel_maxpool2_backward_argmax(cudaStream_t s, void *din, const void *dout,
                                     const unsigned char *argmax, int N, int H, int W, int C,
                                     KernelType t);

// relu_bias_grad.cu: dout (rows,cols) masked in place by the ReLU (0 where
// y <= 0; y NULL: unmasked) and its column sums into dbias (cols, float32),
// in one pass; dout and y of type t. partial holds
// kernel_relu_bias_grad_parts(rows, cols) * cols floats.
int kernel_relu_bias_grad_parts(int rows, int cols);
void kernel_relu_bias_grad(cudaStream_t s, float *dbias, void *dout, const void *y, int rows,
                           int cols, float *partial, KernelType t);
// The max-pool's backward pass fused with the ReLU mask and the bias
// gradient of the conv layer before it (backend.h: maxpool2_relu_backward):
// dout (N,H/2,W/2,C) masked in place where out (the same shape) <= 0, din
// (N,H,W,C) fully written from argmax, dbias (C) the sums of the masked
// dout. H, W >= 2; din, dout and out of type t. partial holds
// kernel_relu_bias_grad_parts(N*(H/2)*(W/2), C) * C floats.
void kernel_maxpool2_relu_bias_grad(cudaStream_t s, float *dbias, void *din, void *dout,
                                    const void *out, const unsigned char *argmax, int N, int H,
                                    int W, int C, float *partial, KernelType t);

// transpose.cu: out (cols,rows) = in (rows,cols)^T, both row-major; must not alias.
void kernel_transpose(cudaStream_t s, float *out, const float *in, int rows, int cols);
// The same, rounding float32 to bfloat16 on the way.
void kernel_transpose_to_bf16(cudaStream_t s, uint16_t *out, const float *in, int rows, int cols);
// The same, from bfloat16 to float32.
void kernel_transpose_from_bf16(cudaStream_t s, float *out, const uint16_t *in, int rows,
                                int cols);

// float_to_bf16.cu: dst (n) = src (n) rounded to bfloat16 (to nearest even).
void kernel_float_to_bf16(cudaStream_t s, uint16_t *dst, const float *src, size_t n);
// bf16_to_float.cu: dst (rows,cols) = src (rows,cols) in float32, + bias
// (cols) unless bias is NULL, then ReLU when relu.
void kernel_bf16_to_float(cudaStream_t s, float *dst, const uint16_t *src, const float *bias,
                          size_t rows, int cols, int relu);

// channels.cu (index arithmetic in channels.h): dst (rows,dst_c) = src
// (rows,src_c) channel by channel, zeros in channels src has not; of type t.
void kernel_copy_channels(cudaStream_t s, void *dst, int dst_c, const void *src, int src_c,
                          size_t rows, KernelType t);
// A 3x3 conv kernel of dst_c input channels (and k_out outputs) from one of
// src_c, zeros in channels src has not; each in cuDNN's layout (K,3,3,C)
// when its *_krsc is set, else Keras's (3,3,C,K).
void kernel_kernel_channels(cudaStream_t s, float *dst, int dst_c, int dst_krsc, const float *src,
                            int src_c, int src_krsc, int k_out);

#ifdef __cplusplus
}
#endif

#endif
