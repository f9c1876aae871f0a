// channels: copies of activations and conv kernels with another number of
// input channels, zeros where the copy has more (channels.h has the index
// arithmetic and why). Activations are copied as their bits, float32 or
// bfloat16 alike; a zero is all-zero bits in both.
#include "channels.h"
#include "check.h"
#include "kernels.h"
#include "launch.cuh"

template <typename T>
__global__ static void copy_channels(T *dst, int dst_c, const T *src, int src_c, size_t n) {
    GRID_STRIDE_LOOP(i, n) {
        const int j = channels_source((unsigned)i, dst_c, src_c);
        dst[i] = j < 0 ? (T)0 : src[j];
    }
}

__global__ static void kernel_channels(float *dst, int dst_c, int dst_krsc, const float *src,
                                       int src_c, int src_krsc, int k_out, size_t n) {
    GRID_STRIDE_LOOP(i, n) {
        const int j = kernel_channels_source((unsigned)i, dst_c, dst_krsc, src_c, src_krsc, k_out);
        dst[i] = j < 0 ? 0.0f : src[j];
    }
}

extern "C" void kernel_copy_channels(cudaStream_t s, void *dst, int dst_c, const void *src,
                                     int src_c, size_t rows, KernelType t) {
    const size_t n = rows * (size_t)dst_c;
    if (!n) return;
    KERNEL_REQUIRE(dst && src && dst != src && src_c > 0 && n < (1u << 31) &&
                       rows * (size_t)src_c < (1u << 31),
                   "copy_channels", "rows=%zu dst_c=%d src_c=%d", rows, dst_c, src_c);
    if (t == KERNEL_BF16)
        KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, copy_channels<uint16_t>)(
            (uint16_t *)dst, dst_c, (const uint16_t *)src, src_c, n);
    else
        KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, copy_channels<float>)(
            (float *)dst, dst_c, (const float *)src, src_c, n);
    KERNEL_LAUNCHED("copy_channels");
}

extern "C" void kernel_kernel_channels(cudaStream_t s, float *dst, int dst_c, int dst_krsc,
                                       const float *src, int src_c, int src_krsc, int k_out) {
    const size_t n = 9 * (size_t)dst_c * k_out;
    if (!n) return;
    KERNEL_REQUIRE(dst && src && dst != src && src_c > 0 && n < (1u << 31), "kernel_channels",
                   "dst_c=%d src_c=%d k_out=%d", dst_c, src_c, k_out);
    KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, kernel_channels)(dst, dst_c, dst_krsc, src,
                                                                    src_c, src_krsc, k_out, n);
    KERNEL_LAUNCHED("kernel_channels");
}
