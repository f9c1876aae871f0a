// winograd: 3x3 'same' convolution by Winograd's minimal filtering F(2x2,3x3)
// (Lavin & Gray, 2015), for the CPU backend's large layers.
//
// Each 2x2 block of output pixels ("tile") comes from a 4x4 input patch. In
// the transformed domain a convolution becomes 16 independent products:
//   V = B^T d B   (input patch, 4x4 per channel)
//   U = G g G^T   (3x3 kernel, 4x4 per channel pair)
//   M_xi (tiles,K) = V_xi (tiles,C) @ U_xi (C,K)   for the 16 positions xi
//   Y = A^T M A   (2x2 output pixels per tile)
// 16 multiply-adds per 4 outputs instead of 36: 2.25x fewer. The transform
// matrices hold only 0, +-1 and +-1/2, so results match the direct
// convolution up to float rounding.
#ifndef SIAMESE_WINOGRAD_H
#define SIAMESE_WINOGRAD_H

#include <stddef.h>

// Whether F(2x2,3x3) pays for this layer (enough tiles and channels for its
// transforms to be cheap beside the products it saves). Decided by one
// image's maps, never by the batch: an image's features must not depend on
// the batch it is computed in (index and eval split their images between
// batches and ranks as it falls, and the two methods round differently).
int winograd_pays(int H, int W, int C, int K);

// Floats of a transformed kernel U (16 packed (C,K) matrices).
size_t winograd_kernel_floats(int C, int K);

// Scratch floats winograd_conv and winograd_transform_kernel need.
size_t winograd_work_floats(int C, int K, int threads);

// U = the kernel w transformed (G g G^T for every channel pair), what
// winograd_conv multiplies by. rotated = 0: w is (3,3,C,K) (forward).
// rotated = 1: w is a (3,3,K,C) kernel used rotated by 180 degrees with its
// channel axes swapped, which is the backward-data convolution of that
// kernel (din from dout). work holds winograd_work_floats(C, K, threads)
// floats. A function of w alone: a caller may keep U while w stays the same.
void winograd_transform_kernel(float *U, const float *w, int rotated, int C, int K, float *work,
                               int threads);

// out (N,H,W,K) = 3x3 'same' convolution of in (N,H,W,C) with the kernel
// that U is the transform of, + bias (K) unless NULL, then ReLU when relu.
// zeros holds C zeros (the padding); work holds winograd_work_floats(C, K,
// threads) floats.
void winograd_conv(float *out, const float *in, const float *U, const float *bias, int N, int H,
                   int W, int C, int K, int relu, const float *zeros, float *work, int threads);

// Scratch floats winograd_backward_filter needs.
size_t winograd_backward_filter_work_floats(int C, int K, int threads);

// dw (3,3,C,K) = the kernel gradient of that convolution: in (N,H,W,C) is
// its input, dout (N,H,W,K) the gradient of its output (after the ReLU
// mask); the adjoints of the transforms above. zeros holds max(C,K) zeros.
void winograd_backward_filter(float *dw, const float *in, const float *dout, int N, int H, int W,
                              int C, int K, const float *zeros, float *work, int threads);

#endif
