// transpose: a row-major matrix transpose, used to move 3x3 convolution
// kernels between the Keras layout (3,3,C,K), a (9C,K) matrix, and cuDNN's
// NHWC filter layout (K,3,3,C), a (K,9C) matrix.
//
// The classic tiled transpose: a 32x32 tile is read with coalesced rows into
// shared memory (one padding column avoids bank conflicts) and written back
// with coalesced rows of the transposed matrix.
#include "check.h"
#include "kernels.h"

#define TILE 32
#define TILE_ROWS 8

__global__ static void transpose(float *out, const float *in, int rows, int cols) {
    __shared__ float tile[TILE][TILE + 1];
    const int c0 = blockIdx.x * TILE, r0 = blockIdx.y * TILE;
    for (int k = threadIdx.y; k < TILE; k += TILE_ROWS) {
        int r = r0 + k, c = c0 + threadIdx.x;
        if (r < rows && c < cols) tile[k][threadIdx.x] = in[(size_t)r * cols + c];
    }
    __syncthreads();
    for (int k = threadIdx.y; k < TILE; k += TILE_ROWS) {
        int c = c0 + k, r = r0 + threadIdx.x;  // out row c, column r
        if (r < rows && c < cols) out[(size_t)c * rows + r] = tile[threadIdx.x][k];
    }
}

extern "C" void kernel_transpose(cudaStream_t s, float *out, const float *in, int rows, int cols) {
    KERNEL_REQUIRE(out && in && out != in && rows > 0 && cols > 0 && rows / TILE < 65535,
                   "transpose", "rows=%d cols=%d", rows, cols);
    dim3 block(TILE, TILE_ROWS), grid((cols + TILE - 1) / TILE, (rows + TILE - 1) / TILE);
    transpose<<<grid, block, 0, s>>>(out, in, rows, cols);
    KERNEL_LAUNCHED("transpose");
}
