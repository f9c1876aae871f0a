// gemm: the CPU backend's single-precision matrix products.
//
// A register-blocked micro-kernel serves every product of the network. The
// left operand is never unrolled into memory: its rows are given by
// POINTERS, one per (row, tap), so a 3x3 convolution reads its input image
// in place ("indirect convolution": the tap pointer of an output pixel is
// the input pixel it sees through that tap, or a row of zeros outside the
// image). A dense layer is the same with one tap and the rows of its input.
//
//   gemm_rows:     C (M,N) = sum_t A_t (M,Kc) @ B_t (Kc,N) [+ bias] [ReLU]
//                  (forward convolution, backward-data convolution, dense)
//   gemm_rows_tn:  G_t (Kc,N) = A_t^T (Kc,M) @ D (M,N) for every tap t
//                  (weight gradients: reduction over pixels)
//
// B is "packed" first (gemm_pack_b): panels of 16 columns, k-major, so the
// kernel reads 16 consecutive floats (64 bytes) per reduction step. The
// kernel is chosen at run time from the CPU's features: AVX-512 (14 rows x
// 32 columns, two panels side by side), AVX2+FMA (6x16) or plain C (6x16). The AVX-512 and AVX2 kernels give the same results bit for bit;
// plain C the same up to float rounding.
#ifndef SIAMESE_GEMM_H
#define SIAMESE_GEMM_H

#include <stddef.h>

#define GEMM_NR 16  // columns of a packed panel of B

#define GEMM_MAX_TAPS 9  // a 3x3 convolution

// Where rows m0 .. m0+count-1 of each A_t start: ptr[r][t] for row m0+r and
// tap t (each row holds Kc floats). Rows outside an image point at zeros.
// A range per call lets a convolution step through pixels without divisions.
typedef void (*GemmRowsFn)(const void *ctx, int m0, int count, const float *(*ptr)[GEMM_MAX_TAPS]);

// The rows of a plain row-major matrix: row m at base + m*ld (ctx is a
// GemmMatrix).
typedef struct GemmMatrix {
    const float *base;
    size_t ld;
} GemmMatrix;
void gemm_matrix_rows(const void *ctx, int m0, int count, const float *(*ptr)[GEMM_MAX_TAPS]);

// Rows per block when M rows are cut into blocks of at most max rows whose
// number is a multiple of threads, all of about the same size.
int gemm_block_rows(int M, int max, int threads);

// Floats of a packed B with Kd rows and N columns (N rounded up to 16).
size_t gemm_packed_b_floats(int Kd, int N);
// Writes rows [k0, k0+kn) of the packed form of a (Kd,N) matrix B into dst,
// whose layout is [N/16 panels][Kd][16], zero-padded past N. Element
// (k0+k, n) is read at src[k*rs + n*cs], so B or a transposed B both pack
// without a copy. Rows may be packed in any number of calls.
void gemm_pack_b(float *dst, int Kd, int N, int k0, int kn, const float *src, ptrdiff_t rs,
                 ptrdiff_t cs);

// C (M,N), row stride ldc = sum over taps t < ntaps of A_t (M,Kc) @ B_t
// where row t*Kc + k of B (ntaps*Kc, N) is row k of B_t; then + bias (N)
// unless bias is NULL, then ReLU when relu. Threads split M. B is packed
// (gemm_pack_b) when ldb is 0, else row-major with row stride ldb and N a
// multiple of 16: read in place, which saves packing when M is small (few
// rows reuse B too little for the packing to pay).
void gemm_rows(float *c, ptrdiff_t ldc, int M, int N, int ntaps, int Kc, GemmRowsFn rows,
               const void *ctx, const float *b, ptrdiff_t ldb, const float *bias, int relu,
               int threads);
// Whether gemm_rows should read a (Kd,N) B in place for M rows.
int gemm_b_in_place(int M, int N, int threads);

// A 3x3 'same' convolution over its input padded: each thread copies the
// image rows (N,H,W,C) its output rows read into rows of its own inside a
// border of zeros one pixel wide (work: gemm_conv_padded_work_floats).
// out (N*H*W,K) = the convolution with the packed (9C,K) kernel b [+ bias]
// [ReLU]; threads split the output rows. The same sums, in the same order,
// as gemm_rows with a row pointer per tap, so the same results bit for bit;
// but the output pixels of an image row read the padded row at a constant
// stride (C floats), so a tile needs no table of row pointers and, with 16
// output channels, takes 28 rows (14 row pointers do not fit the
// registers: the 16-column products ran at half the kernel's rate). For the
// channel counts gemm_conv_padded_ok accepts (3, 16, 32 on AVX-512).
int gemm_conv_padded_ok(int C);
#define GEMM_PADDED_SLACK(C) (32 * (size_t)(C))
size_t gemm_conv_padded_work_floats(int W, int C, int threads);
void gemm_conv_padded(float *out, const float *in, int N, int H, int W, int C, int K,
                      const float *b, const float *bias, int relu, float *work, int threads);

// Scratch floats gemm_rows_tn needs for (ntaps*Kc, N) results and threads.
size_t gemm_rows_tn_work_floats(int ntaps, int Kc, int N, int threads);
// G (ntaps*Kc, N) row-major = for each tap t, rows [t*Kc, (t+1)*Kc):
// A_t^T (Kc,M) @ D (M,N), where D is row-major with row stride ldd; added
// to G's values when accumulate. The reduction runs over the M rows, split
// between threads, each summing into its own copy of G (in work) that is
// added up at the end.
void gemm_rows_tn(float *g, int M, int N, int ntaps, int Kc, GemmRowsFn rows, const void *ctx,
                  const float *d, ptrdiff_t ldd, int accumulate, float *work, int threads);

// The kernels, best last. gemm_force_kernel (for tests and benchmarks)
// makes every product use kernel k, or the best the CPU runs again for
// GEMM_KERNEL_AUTO; it returns 0, and changes nothing, when the CPU cannot
// run k. Not thread-safe: call it between products.
typedef enum GemmKernel {
    GEMM_KERNEL_AUTO,
    GEMM_KERNEL_PORTABLE,
    GEMM_KERNEL_AVX2,
    GEMM_KERNEL_AVX512,
} GemmKernel;
int gemm_force_kernel(GemmKernel k);
// The kernel in use.
GemmKernel gemm_kernel(void);

#endif
