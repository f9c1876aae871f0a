// relu_bias_grad: a convolution's output gradient masked by its ReLU and
// summed into the bias gradient, in one pass over it (instead of a ReLU
// backward pass and cuDNN's bias reduction, two passes). dout is (rows,
// cols), NHWC flattened: rows = N*H*W pixels, cols = K channels.
//
// The rows are cut into `parts` fixed slices; a block owns 32 adjacent
// columns of one slice (a warp reads 32 consecutive floats of a row:
// coalesced), its 8 rows of threads stride down the slice, and it writes
// one partial sum per column; a second kernel adds each column's partials
// in slice order. Partial sums of fixed slices in a fixed order: the same
// result on every run. 32-bit indices: the backend keeps every tensor under
// 2^31 elements. dout and y are float32 or bfloat16 activations
// (element.cuh); the sums are float32 either way. A masked bfloat16 value
// is written back unchanged or as 0: no rounding.
#include "check.h"
#include "element.cuh"
#include "kernels.h"

#define COLS_PER_BLOCK 32
#define ROW_THREADS 8
#define ROWS_PER_PART_MIN 256  // below this a slice is not worth a block
#define BLOCKS_WANTED 1024     // enough blocks to fill a large GPU a few times

template <typename T>
__global__ static void masked_partial_sums(float *partial, T *dout, const T *y, int rows, int cols,
                                           int rows_per_part) {
    __shared__ float part[ROW_THREADS][COLS_PER_BLOCK + 1];
    const int c = blockIdx.x * COLS_PER_BLOCK + threadIdx.x;
    const int r0 = blockIdx.y * rows_per_part;
    const int r1 = min(rows, r0 + rows_per_part);
    float acc = 0.0f;
    if (c < cols)
        for (int r = r0 + threadIdx.y; r < r1; r += ROW_THREADS) {
            const int i = r * cols + c;
            float d = to_float(dout[i]);
            if (y) {
                d = to_float(y[i]) > 0.0f ? d : 0.0f;
                dout[i] = from_float<T>(d);
            }
            acc += d;
        }
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float total = 0.0f;
        for (int k = 0; k < ROW_THREADS; k++) total += part[k][threadIdx.x];
        partial[blockIdx.y * cols + c] = total;
    }
}

__global__ static void add_partials(float *sums, const float *partial, int parts, int cols) {
    const int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= cols) return;
    float total = 0.0f;
    for (int p = 0; p < parts; p++) total += partial[p * cols + c];
    sums[c] = total;
}

extern "C" int kernel_relu_bias_grad_parts(int rows, int cols) {
    const int col_blocks = (cols + COLS_PER_BLOCK - 1) / COLS_PER_BLOCK;
    int parts = (rows + ROWS_PER_PART_MIN - 1) / ROWS_PER_PART_MIN;
    const int cap = BLOCKS_WANTED / col_blocks > 1 ? BLOCKS_WANTED / col_blocks : 1;
    return parts < cap ? parts : cap;
}

extern "C" void kernel_relu_bias_grad(cudaStream_t s, float *dbias, void *dout, const void *y,
                                      int rows, int cols, float *partial, KernelType t) {
    KERNEL_REQUIRE(dbias && dout && partial && rows > 0 && cols > 0 &&
                       (long long)rows * cols <= 0x7fffffffLL,
                   "relu_bias_grad", "rows=%d cols=%d", rows, cols);
    const int parts = kernel_relu_bias_grad_parts(rows, cols);
    const int rows_per_part = (rows + parts - 1) / parts;
    dim3 grid((cols + COLS_PER_BLOCK - 1) / COLS_PER_BLOCK, parts), block(COLS_PER_BLOCK, ROW_THREADS);
    ELEMENT_LAUNCH(t, masked_partial_sums, grid, block, s, partial, (T *)dout, (const T *)y, rows,
                   cols, rows_per_part);
    KERNEL_LAUNCHED("relu_bias_grad (partial sums)");
    add_partials<<<(cols + 255) / 256, 256, 0, s>>>(dbias, partial, parts, cols);
    KERNEL_LAUNCHED("relu_bias_grad (adding the partials)");
}
