// reduce: column sums of a row-major matrix (a dense layer's bias gradient
// is the column sum of its output gradient).
//
// A block owns 32 adjacent columns (one warp reads 32 consecutive floats of
// a row: coalesced) and its 8 rows of threads stride down the rows; the 8
// partial sums are then added in a fixed order, so the result is
// deterministic.
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

#define COLS_PER_BLOCK 32
#define ROW_THREADS 8

__global__ static void column_sums(float *sums, const float *x, int rows, int cols) {
    __shared__ float part[ROW_THREADS][COLS_PER_BLOCK + 1];
    const int c = blockIdx.x * COLS_PER_BLOCK + threadIdx.x;
    float acc = 0.0f;
    if (c < cols)
        for (int r = threadIdx.y; r < rows; r += ROW_THREADS) acc += x[(size_t)r * cols + c];
    part[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float total = 0.0f;
        for (int k = 0; k < ROW_THREADS; k++) total += part[k][threadIdx.x];
        sums[c] = total;
    }
}

extern "C" void kernel_column_sums(cudaStream_t s, float *sums, const float *x, int rows,
                                   int cols) {
    KERNEL_REQUIRE(sums && x && rows > 0 && cols > 0, "column_sums", "rows=%d cols=%d", rows, cols);
    const dim3 grid((cols + COLS_PER_BLOCK - 1) / COLS_PER_BLOCK);
    const dim3 block(COLS_PER_BLOCK, ROW_THREADS);
    KERNEL_LAUNCH(grid, block, s, column_sums)(sums, x, rows, cols);
    KERNEL_LAUNCHED("column_sums");
}
