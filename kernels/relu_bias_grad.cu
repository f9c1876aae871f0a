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
#include "launch.cuh"

#define COLS_PER_BLOCK 32
#define ROW_THREADS 8
#define ROWS_PER_PART_MIN 256  // below this a slice is not worth a block
#define BLOCKS_WANTED 1024     // enough blocks to fill a large GPU a few times

// The block's sums of acc over its rows of threads, one per column c, into
// row blockIdx.y of partial (a slice's partial sums).
__device__ static void store_partial(float *partial, float acc, int c, int cols) {
    __shared__ float part[ROW_THREADS][COLS_PER_BLOCK + 1];
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float total = 0.0f;
        for (int k = 0; k < ROW_THREADS; k++) total += part[k][threadIdx.x];
        partial[blockIdx.y * cols + c] = total;
    }
}

template <typename T>
__global__ static void masked_partial_sums(float *partial, T *dout, const T *y, int rows, int cols,
                                           int rows_per_part) {
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
    store_partial(partial, acc, c, cols);
}

// The max-pool's backward pass with the ReLU mask and the bias gradient of
// the conv layer before it (kernels.h): the rows are the windows, p =
// (n*OH + oy)*OW + ox, (N*OH*OW, C). A thread masks its window's gradient
// by the window's output (the maximum the gradient goes to), adds it to its
// column's sum, and writes the window's four inputs of din, and beside the
// last window of a row or column of an odd size the inputs no window
// covers. A warp's 32 channels make each of those writes one coalesced row.
template <typename T>
__global__ static void pool_masked_partial_sums(float *partial, T *din, T *dout, const T *out,
                                                const unsigned char *argmax, int windows, int OH,
                                                int OW, int H, int W, int C, int rows_per_part) {
    const int c = blockIdx.x * COLS_PER_BLOCK + threadIdx.x;
    const int r0 = blockIdx.y * rows_per_part;
    const int r1 = min(windows, r0 + rows_per_part);
    const int row = W * C;  // one input row
    const T zero = from_float<T>(0.0f);
    float acc = 0.0f;
    if (c < C)
        for (int p = r0 + threadIdx.y; p < r1; p += ROW_THREADS) {
            const int i = p * C + c;
            float g = to_float(dout[i]);
            if (!(to_float(out[i]) > 0.0f)) {  // the ReLU's 0 (a NaN maximum too)
                g = 0.0f;
                dout[i] = zero;
            }
            acc += g;
            const int ox = p % OW, noy = p / OW, oy = noy % OH, n = noy / OH;
            const int k = argmax[i];
            const T gv = from_float<T>(g);  // exact: g is a T or 0
            T *q = din + ((n * H + 2 * oy) * W + 2 * ox) * C + c;
            q[0] = k == 0 ? gv : zero;
            q[C] = k == 1 ? gv : zero;
            q[row] = k == 2 ? gv : zero;
            q[row + C] = k == 3 ? gv : zero;
            const int odd_col = (W & 1) && ox == OW - 1, odd_row = (H & 1) && oy == OH - 1;
            if (odd_col) q[2 * C] = q[row + 2 * C] = zero;
            if (odd_row) {
                q[2 * row] = q[2 * row + C] = zero;
                if (odd_col) q[2 * row + 2 * C] = zero;
            }
        }
    store_partial(partial, acc, c, C);
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

// The grid of rows (rows, cols) cut into kernel_relu_bias_grad_parts slices.
static dim3 grid_of(int rows, int cols, int *parts, int *rows_per_part) {
    *parts = kernel_relu_bias_grad_parts(rows, cols);
    *rows_per_part = (rows + *parts - 1) / *parts;
    return dim3((cols + COLS_PER_BLOCK - 1) / COLS_PER_BLOCK, *parts);
}

extern "C" void kernel_relu_bias_grad(cudaStream_t s, float *dbias, void *dout, const void *y,
                                      int rows, int cols, float *partial, KernelType t) {
    KERNEL_REQUIRE(dbias && dout && partial && rows > 0 && cols > 0 &&
                       (long long)rows * cols <= 0x7fffffffLL,
                   "relu_bias_grad", "rows=%d cols=%d", rows, cols);
    int parts, rows_per_part;
    const dim3 grid = grid_of(rows, cols, &parts, &rows_per_part);
    ELEMENT_LAUNCH(t, masked_partial_sums, grid, dim3(COLS_PER_BLOCK, ROW_THREADS), s, partial,
                   (T *)dout, (const T *)y, rows, cols, rows_per_part);
    KERNEL_LAUNCHED("relu_bias_grad (partial sums)");
    KERNEL_LAUNCH((cols + 255) / 256, 256, s, add_partials)(dbias, partial, parts, cols);
    KERNEL_LAUNCHED("relu_bias_grad (adding the partials)");
}

extern "C" void kernel_maxpool2_relu_bias_grad(cudaStream_t s, float *dbias, void *din,
                                               void *dout, const void *out,
                                               const unsigned char *argmax, int N, int H, int W,
                                               int C, float *partial, KernelType t) {
    KERNEL_REQUIRE(dbias && din && dout && out && argmax && partial && N > 0 && H >= 2 &&
                       W >= 2 && C > 0 && (long long)N * H * W * C <= 0x7fffffffLL,
                   "maxpool2_relu_bias_grad", "N=%d H=%d W=%d C=%d", N, H, W, C);
    const int OH = H / 2, OW = W / 2, windows = N * OH * OW;
    int parts, rows_per_part;
    const dim3 grid = grid_of(windows, C, &parts, &rows_per_part);
    ELEMENT_LAUNCH(t, pool_masked_partial_sums, grid, dim3(COLS_PER_BLOCK, ROW_THREADS), s,
                   partial, (T *)din, (T *)dout, (const T *)out, argmax, windows, OH, OW, H, W,
                   C, rows_per_part);
    KERNEL_LAUNCHED("maxpool2_relu_bias_grad (partial sums)");
    KERNEL_LAUNCH((C + 255) / 256, 256, s, add_partials)(dbias, partial, parts, C);
    KERNEL_LAUNCHED("maxpool2_relu_bias_grad (adding the partials)");
}
