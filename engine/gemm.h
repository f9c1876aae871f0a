// gemm: the CPU backend's single-precision matrix products.
//
// One register-blocked micro-kernel (6 rows x 16 columns: 12 AVX2
// accumulators, FMA) serves every product of the network. The left operand
// is never unrolled into memory: its rows are given by POINTERS, one per
// (row, tap), so a 3x3 convolution reads its input image in place
// ("indirect convolution": the tap pointer of an output pixel is the input
// pixel it sees through that tap, or a row of zeros outside the image).
// A dense layer is the same with one tap and the rows of its input.
//
//   gemm_rows:     C (M,N) = sum_t A_t (M,Kc) @ B_t (Kc,N) [+ bias] [ReLU]
//                  (forward convolution, backward-data convolution, dense)
//   gemm_rows_tn:  G_t (Kc,N) = A_t^T (Kc,M) @ D (M,N) for every tap t
//                  (weight gradients: reduction over pixels)
//
// B is "packed" first (gemm_pack_b): panels of 16 columns, k-major, so the
// kernel reads 16 consecutive floats per reduction step from one cache line
// pair. The kernel is AVX2+FMA where the CPU has it (checked at run time)
// and plain C otherwise; both give the same results up to float rounding.
#ifndef SIAMESE_GEMM_H
#define SIAMESE_GEMM_H

#include <stddef.h>

#define GEMM_MR 6   // rows of the micro-kernel's output tile
#define GEMM_NR 16  // columns: two 8-float AVX registers

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

// Floats of a packed B with Kd rows and N columns (N rounded up to 16).
size_t gemm_packed_b_floats(int Kd, int N);
// Writes rows [k0, k0+kn) of the packed form of a (Kd,N) matrix B into dst,
// whose layout is [N/16 panels][Kd][16], zero-padded past N. Element
// (k0+k, n) is read at src[k*rs + n*cs], so B or a transposed B both pack
// without a copy. Rows may be packed in any number of calls.
void gemm_pack_b(float *dst, int Kd, int N, int k0, int kn, const float *src, ptrdiff_t rs,
                 ptrdiff_t cs);

// C (M,N), row stride ldc = sum over taps t < ntaps of A_t (M,Kc) @ B_t
// where B (ntaps*Kc, N) is packed (row t*Kc + k of B is row k of B_t);
// then + bias (N) unless bias is NULL, then ReLU when relu. Threads split M.
void gemm_rows(float *c, ptrdiff_t ldc, int M, int N, int ntaps, int Kc, GemmRowsFn rows,
               const void *ctx, const float *bpacked, const float *bias, int relu, int threads);

// Scratch floats gemm_rows_tn needs for (ntaps*Kc, N) results and threads.
size_t gemm_rows_tn_work_floats(int ntaps, int Kc, int N, int threads);
// G (ntaps*Kc, N) row-major = for each tap t, rows [t*Kc, (t+1)*Kc):
// A_t^T (Kc,M) @ D (M,N), where D is row-major with row stride ldd; added
// to G's values when accumulate. The reduction runs over the M rows, split
// between threads, each summing into its own copy of G (in work) that is
// added up at the end.
void gemm_rows_tn(float *g, int M, int N, int ntaps, int Kc, GemmRowsFn rows, const void *ctx,
                  const float *d, ptrdiff_t ldd, int accumulate, float *work, int threads);

// For tests: 1 forces the portable kernel, 0 restores the automatic choice.
void gemm_force_portable(int on);

#endif
