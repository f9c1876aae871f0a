// bf16_to_float: a bfloat16 convolution's result back to float32, where the
// rest of the model works. cuDNN's bfloat16 convolutions write bfloat16
// (x, w and y share one type), so the forward pass adds the layer's bias
// and applies its ReLU on the way, in float32, and the input gradient is
// converted alone.
#include <cuda_bf16.h>

#include "check.h"
#include "kernels.h"
#include "launch.cuh"

__global__ static void bf16_to_float(float *dst, const __nv_bfloat16 *src, const float *bias,
                                     size_t n, int cols, int relu) {
    GRID_STRIDE_LOOP(i, n) {
        float v = __bfloat162float(src[i]);
        if (bias) v += bias[i % cols];
        dst[i] = relu && v < 0.0f ? 0.0f : v;  // NaN stays NaN, as on the CPU
    }
}

extern "C" void kernel_bf16_to_float(cudaStream_t s, float *dst, const uint16_t *src,
                                     const float *bias, size_t rows, int cols, int relu) {
    KERNEL_REQUIRE(dst && src && rows > 0 && cols > 0, "bf16_to_float", "rows=%zu cols=%d", rows,
                   cols);
    size_t n = rows * cols;
    KERNEL_LAUNCH(kernel_grid(n), KERNEL_BLOCK, s, bf16_to_float)(
        dst, (const __nv_bfloat16 *)src, bias, n, cols, relu);
    KERNEL_LAUNCHED("bf16_to_float");
}
