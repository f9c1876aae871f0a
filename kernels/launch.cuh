// launch: how our kernels are launched, and the grid of the element-wise
// kernels.
#ifndef SIAMESE_KERNELS_LAUNCH_CUH
#define SIAMESE_KERNELS_LAUNCH_CUH

#include <stddef.h>

// KERNEL_LAUNCH(grid, block, stream, kernel)(arguments...) is every launch
// in kernels/: kernel<<<grid, block, 0, stream>>>(arguments...) under nvcc,
// and compiled as host C++ for the CPU test of the kernels (make test:
// tests/test_kernels.cpp) a run through its emulator (tests/kernel_emu.h).
// The kernel comes last as it may be a template of several arguments
// (transpose<In, Out>).
#ifdef __CUDACC__
#define KERNEL_LAUNCH(grid, block, stream, ...) __VA_ARGS__<<<(grid), (block), 0, (stream)>>>
#else
#define KERNEL_LAUNCH(grid, block, stream, ...) emu_launch((grid), (block), (stream), __VA_ARGS__)
#endif

// The element-wise kernels loop with a grid stride, so their grid is capped
// (enough blocks to fill any GPU many times over) and any n, even above
// 2^31, is covered.

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
