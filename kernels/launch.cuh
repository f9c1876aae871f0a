// launch: the grid of the element-wise kernels. They loop with a grid
// stride, so the grid is capped (enough blocks to fill any GPU many times
// over) and any n, even above 2^31, is covered.
#ifndef SIAMESE_KERNELS_LAUNCH_CUH
#define SIAMESE_KERNELS_LAUNCH_CUH

#include <stddef.h>

#define KERNEL_BLOCK 256u

static inline unsigned kernel_grid(size_t n) {
    size_t blocks = (n + KERNEL_BLOCK - 1) / KERNEL_BLOCK;
    const size_t cap = 65536u;
    return (unsigned)(blocks < cap ? blocks : cap);
}

// for (size_t i = first index of this thread; i < n; i += all threads)
#define GRID_STRIDE_LOOP(i, n)                                                       \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);          \
         i += (size_t)blockDim.x * gridDim.x)

#endif
