// transpose: a row-major matrix transpose, used to move 3x3 convolution
// kernels between the Keras layout (3,3,C,K), a (9C,K) matrix, and cuDNN's
// NHWC filter layout (K,3,3,C), a (K,9C) matrix. Under --amp bf16 the same
// move also converts: a float32 kernel becomes a bfloat16 one in cuDNN's
// layout, and cuDNN's bfloat16 filter gradient a float32 one in Keras's.
//
// The classic tiled transpose: a 32x32 tile is read with coalesced rows into
// shared memory (one padding column avoids bank conflicts) and written back
// with coalesced rows of the transposed matrix. The tile holds float32
// whatever the types, so a conversion costs nothing extra.
#include <cuda_bf16.h>

#include "check.h"
#include "kernels.h"
#include "launch.cuh"

#define TILE 32
#define TILE_ROWS 8

__device__ static inline float load(const float *p) { return *p; }
__device__ static inline float load(const __nv_bfloat16 *p) { return __bfloat162float(*p); }
__device__ static inline void store(float *p, float v) { *p = v; }
__device__ static inline void store(__nv_bfloat16 *p, float v) { *p = __float2bfloat16_rn(v); }

template <typename In, typename Out>
__global__ static void transpose(Out *out, const In *in, int rows, int cols) {
    __shared__ float tile[TILE][TILE + 1];
    const int c0 = blockIdx.x * TILE, r0 = blockIdx.y * TILE;
    for (int k = threadIdx.y; k < TILE; k += TILE_ROWS) {
        int r = r0 + k, c = c0 + threadIdx.x;
        if (r < rows && c < cols) tile[k][threadIdx.x] = load(&in[(size_t)r * cols + c]);
    }
    __syncthreads();
    for (int k = threadIdx.y; k < TILE; k += TILE_ROWS) {
        int c = c0 + k, r = r0 + threadIdx.x;  // out row c, column r
        if (r < rows && c < cols) store(&out[(size_t)c * rows + r], tile[threadIdx.x][k]);
    }
}

template <typename In, typename Out>
static void launch(cudaStream_t s, Out *out, const In *in, int rows, int cols, const char *name) {
    KERNEL_REQUIRE(out && in && (const void *)out != (const void *)in && rows > 0 && cols > 0 &&
                       rows / TILE < 65535,
                   name, "rows=%d cols=%d", rows, cols);
    dim3 block(TILE, TILE_ROWS), grid((cols + TILE - 1) / TILE, (rows + TILE - 1) / TILE);
    KERNEL_LAUNCH(grid, block, s, transpose<In, Out>)(out, in, rows, cols);
    KERNEL_LAUNCHED("transpose");
}

extern "C" void kernel_transpose(cudaStream_t s, float *out, const float *in, int rows, int cols) {
    launch(s, out, in, rows, cols, "transpose");
}

extern "C" void kernel_transpose_to_bf16(cudaStream_t s, uint16_t *out, const float *in, int rows,
                                         int cols) {
    launch(s, (__nv_bfloat16 *)out, in, rows, cols, "transpose_to_bf16");
}

extern "C" void kernel_transpose_from_bf16(cudaStream_t s, float *out, const uint16_t *in,
                                           int rows, int cols) {
    launch(s, out, (const __nv_bfloat16 *)in, rows, cols, "transpose_from_bf16");
}
